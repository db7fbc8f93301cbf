// Mirror of crates/core/src/waterfall/adl_fill.rs: one merged ADL fill executed where the
// counterparty lives (SPEC §16). The close is exactly the one `deleverage` makes — fee-free, at
// the given price, an `adlFill` event — with the counter-entry left in settlement; the engine that
// holds the taken-over position closes its side with `settleLiquidatorFill`. A free function over the
// Waterfall, as the other stages are (waterfall/*.ts).

import { toI64 } from '../num.js'
import { AdlFill, NONE, type Waterfall } from './index.js'

/** Waterfall::settle_adl_fill: close `delta` lots of account `a` in market `m` at `price`. */
export function settleAdlFill(
  w: Waterfall,
  a: number,
  m: number,
  delta: bigint,
  price: bigint,
): void {
  w.store.account(a)
  w.checkClose(a, m, delta, price)
  w.transaction(() => {
    const [realised] = w.closePosition(a, m, delta, price)
    w.emit(AdlFill, a, m, NONE, delta, price, toI64(realised, 'realised PnL'))
  })
}
