// Mirror of crates/core/src/waterfall/insurance_fund.rs: the insurance fund (SPEC §8.4) — deposits,
// the drawdown history and ADL mode, deficits paid or left as bad debt, and the liquidator's own
// position (taken over, netted, unwound in the book with its PnL to the fund).

import { DeleverageError, ErrorCode } from '../errors.js'
import { checkPrice, type Market } from '../market.js'
import { I64_MAX, I64_MIN, abs, sub } from '../num.js'
import {
  AdlModeOff,
  AdlModeOn,
  BadDebt,
  Drawdown,
  EngineFill,
  EngineNetting,
  FundDeposit,
  FundPayment,
  NONE,
  money,
  sign,
  type FillModel,
  type Waterfall,
} from './index.js'
import { drawdownReached, fillPrice } from './math.js'
import { deleverage } from './adl.js'
import { socialiseShortfall } from './socialised-loss.js'

export function depositFund(w: Waterfall, amount: bigint, now: bigint): void {
  const f = w.fund + amount
  // A withdrawal must not take the fund below zero; a deposit may refill a negative fund.
  if (f > I64_MAX || f < I64_MIN || (f < 0n && amount < 0n)) {
    throw new DeleverageError(
      ErrorCode.InvalidAmount,
      `insurance fund of ${w.fund} cannot take a deposit of ${amount}`,
    )
  }
  // A deposit brings money in from outside: the settlement account is its source. (Unchecked
  // i128 in Rust; it would take ~2^64 deposits of i64::MAX to wrap.)
  w.settlement -= amount
  w.fund = f
  if (now > w.now) w.now = now
  recordFund(w)
  w.emit(FundDeposit, NONE, NONE, NONE, 0n, 0n, amount)
  // A deposit can end ADL mode (drawdown back under the stop ratio).
  updateAdlMode(w)
}

/**
 * Keep (time, fund) samples for the drawdown window; only the drawdown policy needs them.
 * Samples are taken at non-decreasing times, so now − t ≥ 0 (Rust: no u64 wrap).
 */
export function recordFund(w: Waterfall): void {
  const c = w.config
  if (c.policy !== Drawdown) return
  w.histT.push(w.now)
  w.histF.push(w.fund)
  while (
    w.histHead < w.histT.length &&
    w.now - (w.histT[w.histHead] as bigint) > c.window &&
    w.histT.length - w.histHead > 1
  ) {
    w.histHead++
  }
  w.compactHistory()
}

/** Update ADL mode from the drawdown (no-op under the exhausted policy). */
export function updateAdlMode(w: Waterfall): void {
  const c = w.config
  if (c.policy !== Drawdown) return
  const now = w.now
  const fund = w.fund
  let peak: bigint | null = null
  for (let i = w.histHead; i < w.histT.length; i++) {
    if (now - (w.histT[i] as bigint) <= c.window) {
      const f = w.histF[i] as bigint
      if (peak === null || f > peak) peak = f
    }
  }
  if (peak === null || peak < fund) peak = fund
  const p = peak
  const dd = (ppm: bigint): boolean => drawdownReached(p, fund, ppm)
  if (!w.adlMode && dd(c.triggerPpm)) {
    w.adlMode = true
    w.emit(AdlModeOn, NONE, NONE, NONE, 0n, 0n, w.fund)
  } else if (w.adlMode && !dd(c.stopPpm + 1n)) {
    w.adlMode = false
    w.emit(AdlModeOff, NONE, NONE, NONE, 0n, 0n, w.fund)
  }
}

/** Whether the fund may take a loss of `loss` atoms now (SPEC §8.4). */
export function fundCanAbsorb(w: Waterfall, loss: bigint): boolean {
  return !w.adlMode && w.fund >= loss
}

export function moveFund(w: Waterfall, delta: bigint): void {
  w.fund = money(w.fund + delta, 'insurance fund')
  recordFund(w)
}

/**
 * The fund pays an account's deficit if policy lets it; what it cannot pay stays as bad debt
 * (the balance remains negative by that much).
 */
export function coverDeficit(w: Waterfall, a: number, deficit: bigint): void {
  updateAdlMode(w)
  let pay = 0n
  if (!w.adlMode) {
    const f = w.fund > 0n ? w.fund : 0n
    pay = deficit < f ? deficit : f
  }
  if (pay > 0n) {
    moveFund(w, -pay)
    w.store.setBalance(a, money(w.store.balance(a) + pay, 'balance'))
    w.emit(FundPayment, a, NONE, NONE, 0n, 0n, money(pay, 'fund payment'))
  }
  if (deficit > pay) w.emit(BadDebt, a, NONE, NONE, 0n, 0n, money(deficit - pay, 'bad debt'))
}

/**
 * The liquidator takes `q` at `price` (SPEC §8.4). Against an opposite liquidator
 * position the two net inside the liquidator at `price` — one account holding both, as at a
 * venue — with the liquidator's PnL to the fund (an `engineNetting` event, no book trade). The
 * rest opens at `price`.
 */
export function liquidatorTake(w: Waterfall, m: number, q: bigint, price: bigint): void {
  while (w.liqQ.length <= m) {
    w.liqQ.push(0n)
    w.liqC.push(0n)
  }
  const held = w.liqQ[m] as bigint
  let open = q
  if (held !== 0n && held > 0n !== q > 0n) {
    const h = held < 0n ? -held : held
    const t = q < 0n ? -q : q
    const delta = (held < 0n ? -1n : 1n) * (h < t ? h : t)
    const [, loss] = (w.store.markets[m] as Market).closeAt(held, w.liqC[m] as bigint, delta, price)
    socialiseShortfall(w, w.store, m, -loss)
    const pnl = liquidatorClose(w, m, delta, price)
    w.emit(EngineNetting, NONE, m, NONE, delta, price, money(pnl, 'liquidator PnL'))
    open = q + delta
  }
  if (open !== 0n) {
    const cost = (w.store.markets[m] as Market).costBasis(open, price)
    w.liqQ[m] = money((w.liqQ[m] as bigint) + open, 'liquidator position')
    w.liqC[m] = money((w.liqC[m] as bigint) + cost, 'liquidator cost basis')
  }
}

/**
 * Close `delta` of the liquidator's position in `m` at `price`; its PnL goes to the
 * fund. Returns that PnL.
 */
export function liquidatorClose(w: Waterfall, m: number, delta: bigint, price: bigint): bigint {
  const [q, cost] = w.liquidatorPosition(m)
  const [closed, pnl] = (w.store.markets[m] as Market).closeAt(q, cost, delta, price)
  w.liqQ[m] = q - delta
  w.liqC[m] = cost - closed
  w.settlement = sub(w.settlement, pnl, 'settlement')
  moveFund(w, pnl)
  return pnl
}

/**
 * Unwind the liquidator's position in `m`: in the book at the model's price when the
 * fund can absorb the result, else by ADL against the opposite side (SPEC §8.4, §9).
 */
export function unwind(w: Waterfall, m: number, model: FillModel): void {
  const [q, cost] = w.liquidatorPosition(m)
  if (q === 0n) return
  const mk = w.store.markets[m] as Market
  const price = fillPrice(model, mk.mark, q)
  const [, pnl] = mk.closeAt(q, cost, q, price)
  updateAdlMode(w)
  socialiseShortfall(w, w.store, m, -pnl)
  if (pnl >= 0n || fundCanAbsorb(w, -pnl)) {
    const p = liquidatorClose(w, m, q, price)
    w.emit(EngineFill, NONE, m, NONE, q, price, money(p, 'liquidator PnL'))
    return
  }
  deleverage(w, m)
}

export function settleLiquidatorFill(w: Waterfall, m: number, delta: bigint, price: bigint): void {
  const mk = w.store.market(m)
  checkPrice(price, mk.priceDecimals, 'fill price')
  const [q] = w.liquidatorPosition(m)
  if (delta === 0n || sign(delta) !== sign(q) || abs(delta) > abs(q)) {
    throw new DeleverageError(
      ErrorCode.InvalidQuantity,
      `cannot close ${delta} lots of the liquidator's ${q} lots in market ${mk.symbol}`,
    )
  }
  w.transaction(() => {
    const pnl = liquidatorClose(w, m, delta, price)
    w.emit(EngineFill, NONE, m, NONE, delta, price, money(pnl, 'liquidator PnL'))
  })
}
