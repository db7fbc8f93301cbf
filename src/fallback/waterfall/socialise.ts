// Mirror of crates/core/src/waterfall/socialise.rs: loss socialisation (SPEC §9.4, Drift G6), a bad
// debt shared over every open position of a market in proportion to size.

import { DeleverageError, ErrorCode } from '../errors.js'
import { money, type Waterfall } from './index.js'
import { chargeLossShares } from './socialised-loss.js'

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
    if (!chargeLossShares(w, store, m, amount, beneficiary)) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `market ${mk.symbol} has no open positions to share a loss`,
      )
    }
    store.setBalance(beneficiary, money(store.balance(beneficiary) + amount, 'balance'))
  })
}
