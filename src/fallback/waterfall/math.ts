// Mirror of crates/core/src/waterfall/math.rs: the waterfall's pure formulas (SPEC §8–§10) —
// numbers (and a market's terms) in, numbers out: no waterfall state, no writes, no events. The
// stage files read the state, call these, then write and emit. Same functions, same names.

import {
  Floor,
  I128_MAX,
  I128_MIN,
  PRICE_MAX_TICKS,
  RATE_SCALE,
  RATIO_SCALE,
  divCeil,
  divFloor,
  pow10,
} from '../num.js'
import { Linear, type Market } from '../market.js'
import type { FillModel } from './index.js'

/**
 * FillModel::price: fill price of closing `delta` (a long closes by selling: lower; a short by
 * buying: higher). Impact moves it by min(cap, ppmPerLot·|delta|) ppm of mark (no overflow: the
 * product is at most i64·u64 in i128, and mark·(10^6 ± slip) ≤ 2·10^21).
 */
export function fillPrice(model: FillModel, mark: bigint, delta: bigint): bigint {
  if (!model.impact) return mark
  const ad = delta < 0n ? -delta : delta
  let slip = model.ppmPerLot * ad
  if (slip > model.capPpm) slip = model.capPpm
  const p =
    delta > 0n
      ? divFloor(mark * (RATIO_SCALE - slip), RATIO_SCALE)
      : divCeil(mark * (RATIO_SCALE + slip), RATIO_SCALE)
  return p < 1n ? 1n : p > PRICE_MAX_TICKS ? PRICE_MAX_TICKS : p
}

/**
 * meets_buffer: the target of a partial liquidation (SPEC §8.3), equity ≥ MM × (1 + buffer),
 * cross-multiplied. Unchecked i128 in Rust; no overflow: the planner calls it with 0 < eq ≤ mm,
 * and a position whose equity is at most its MM has MM ≤ ~10^27 atoms (value·(1 − mmr) ≤ its
 * cost), so mm·1.1·10^9 < 2^127.
 */
export function meetsBuffer(equity: bigint, mm: bigint, bufferRate: bigint): boolean {
  return equity * RATE_SCALE >= mm * (RATE_SCALE + bufferRate)
}

/**
 * capped_fee: the liquidation fee actually charged (SPEC §8.2), the full fee capped by what the
 * scope has left (nothing when that is negative).
 */
export function cappedFee(feeFull: bigint, left: bigint): bigint {
  const l = left > 0n ? left : 0n
  return feeFull < l ? feeFull : l
}

/**
 * drawdown_reached: whether the fund's drawdown from `peak` has reached `ppm` (SPEC §8.4),
 * (peak − fund)·10^6 ≥ ppm·peak, cross-multiplied; never with no peak.
 */
export function drawdownReached(peak: bigint, fund: bigint, ppm: bigint): boolean {
  return peak > 0n && (peak - fund) * RATIO_SCALE >= ppm * peak
}

/**
 * adl_entry_price: the liquidator's average entry, rounded to the tick in its own disfavour
 * (SPEC §9.2): a long sells at ≤ entry (floor), a short buys at ≥ entry (ceil). null when there is
 * no entry price: a cost basis of 0 (an inverse position worth less than an atom at entry) or
 * inverse products beyond i128 (both checked, as Rust's checked_mul).
 */
export function adlEntryPrice(mk: Market, q: bigint, cost: bigint): bigint | null {
  if (cost === 0n) return null
  let n: bigint
  let d: bigint
  if (mk.kind === Linear) {
    // entry = cost / q ticks
    n = cost
    d = q
  } else {
    // entry = q·size·10^t / cost
    const t = mk.inverseExp()
    n = q * mk.contractSize * pow10(t > 0 ? t : 0)
    d = cost * pow10(t < 0 ? -t : 0)
    if (n > I128_MAX || n < I128_MIN || d > I128_MAX || d < I128_MIN) return null
  }
  // Divide with both operands made positive so the rounding direction is the intended one.
  if (d < 0n) {
    n = -n
    d = -d
  }
  const p = q > 0n ? divFloor(n, d) : divCeil(n, d)
  return p < 1n ? 1n : p > PRICE_MAX_TICKS ? PRICE_MAX_TICKS : p
}

/**
 * funding_flow: one position's funding at the mark (SPEC §10), < 0 paid, > 0 received. Longs pay
 * when the rate is > 0; payers round up, receivers down.
 */
export function fundingFlow(mk: Market, q: bigint, rate: bigint): bigint {
  const ar = rate < 0n ? -rate : rate
  if (q > 0n === rate > 0n) return -mk.rateOfValue(q, mk.mark, ar)
  return mk.rateOfValueRounded(q, mk.mark, ar, Floor)
}
