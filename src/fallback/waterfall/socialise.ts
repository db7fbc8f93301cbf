// Mirror of crates/core/src/waterfall/socialise.rs: loss socialisation (SPEC §9.4, Drift G6), a bad
// debt shared over every open position of a market in proportion to size.

import { candidate, prorataAmount, type Candidate } from '../adl.js'
import { DeleverageError, ErrorCode } from '../errors.js'
import { abs } from '../num.js'
import { SocialisedLoss, money, type Waterfall } from './index.js'

/**
 * Socialise `amount` of `beneficiary`'s bad debt over every open position in `m`, both sides,
 * in proportion to size: exact shares, largest remainder first, paid from each position's
 * collateral to the beneficiary's balance.
 */
export function socialiseLoss(w: Waterfall, m: number, amount: bigint, beneficiary: number): void {
  const store = w.store
  const mk = store.market(m)
  store.account(beneficiary)
  if (amount <= 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidAmount,
      `loss to socialise must be positive, got ${amount}`,
    )
  }
  w.transaction(() => {
    const col = store.col(m)
    const cands: Candidate[] = []
    let total = 0n
    for (let s = 0; s < col.len; s++) {
      const q = BigInt(col.qty[s] as number)
      cands.push(candidate(col.account[s] as number, q, 0n, 1n))
      total += abs(q)
    }
    if (total === 0n) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `market ${mk.symbol} has no open positions to share a loss`,
      )
    }
    for (const [i, pay] of prorataAmount(cands, amount, total, store.ids)) {
      // Candidates were taken in slot order and paying moves no row: the slot is i.
      const acc = (cands[i] as Candidate).account
      const s = i
      if (col.isolated[s] === 1) {
        store.setIsolatedMargin(
          m,
          s,
          money((col.isolatedMargin[s] as bigint) - pay, 'isolated margin'),
        )
      } else {
        store.setBalance(acc, money(store.balance(acc) - pay, 'balance'))
      }
      w.emit(SocialisedLoss, acc, m, beneficiary, 0n, 0n, pay)
    }
    store.setBalance(beneficiary, money(store.balance(beneficiary) + amount, 'balance'))
  })
}
