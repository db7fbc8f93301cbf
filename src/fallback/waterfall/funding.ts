// Mirror of crates/core/src/waterfall/funding.rs: funding (SPEC §10), a rate settled on every
// position of a market by its value at mark, payers rounded up, receivers down.

import { DeleverageError, ErrorCode } from '../errors.js'
import type { Market } from '../market.js'
import { RATE_SCALE, abs, add } from '../num.js'
import { Funding, NONE, Residue, money, rateText, type Waterfall } from './index.js'
import { fundingFlow } from './math.js'

/**
 * Settle a funding rate (10^-8 units, > 0: longs pay shorts) on every position of `m` by its
 * value at mark. Payers pay rounded up, receivers get rounded down; the difference goes to the
 * residue sink (balanced open interest) or to settlement (SPEC §10).
 */
export function settleFunding(w: Waterfall, m: number, rate: bigint): void {
  const store = w.store
  store.market(m)
  if (abs(rate) >= RATE_SCALE) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `funding rate must be within ±1, got ${rateText(rate)}`,
    )
  }
  w.transaction(() => {
    const mk = store.markets[m] as Market
    const col = store.col(m)
    const n = col.len
    // Unchecked i128 sums in Rust; every flow that is applied fits i64, so they cannot wrap.
    let paid = 0n
    let received = 0n
    let netQty = 0n
    for (let s = 0; s < n; s++) {
      const acc = col.account[s] as number
      const q = BigInt(col.qty[s] as number)
      const flow = fundingFlow(mk, q, rate)
      if (flow < 0n) paid -= flow
      else received += flow
      netQty += q
      if (flow === 0n) continue
      if (col.isolated[s] === 1) {
        store.setIsolatedMargin(
          m,
          s,
          money((col.isolatedMargin[s] as bigint) + flow, 'isolated margin'),
        )
      } else {
        store.setBalance(acc, money(store.balance(acc) + flow, 'balance'))
      }
      w.emit(Funding, acc, m, NONE, q, mk.mark, money(flow, 'funding'))
    }
    const diff = paid - received
    if (diff !== 0n) {
      if (netQty === 0n) {
        w.residue = money(w.residue + diff, 'residue')
        w.emit(Residue, NONE, m, NONE, 0n, 0n, money(diff, 'residue'))
      } else {
        w.settlement = add(w.settlement, diff, 'settlement')
      }
    }
  })
}
