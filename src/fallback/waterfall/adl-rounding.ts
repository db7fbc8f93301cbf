// Mirror of crates/core/src/waterfall/adl_rounding.rs: the liquidator's rounding loss at ADL
// (SPEC §22). ADL closes the liquidator's position at its average entry rounded to
// the tick in its own disfavour, and every close rounds against the closer (§8.1), so its PnL at
// ADL is a small loss by construction; what the (often empty) fund cannot pay of it goes to the
// residue sink instead of taking the fund below zero.

import { EventKindCode, NONE } from '../../generated/tables.js'
import { toI64 } from '../num.js'
import type { Waterfall } from './index.js'
import { moveFund } from './insurance-fund.js'

/**
 * After the ADL fills of market `m`, which started with the fund at `fundBefore`: when the
 * liquidator's closes took the fund below `min(fundBefore, 0)`, the difference moves to the
 * residue sink (a `residue` event with a negative amount). Not under ADL at the mark.
 */
export function absorbAdlRounding(wf: Waterfall, m: number, fundBefore: bigint): void {
  const floor = fundBefore < 0n ? fundBefore : 0n
  if (wf.config.adlAtMark || wf.fund >= floor) return
  const excess = floor - wf.fund
  wf.residue = toI64(wf.residue - excess, 'residue')
  moveFund(wf, excess)
  wf.emit(EventKindCode.Residue, NONE, m, NONE, 0n, 0n, toI64(-excess, 'residue'))
}
