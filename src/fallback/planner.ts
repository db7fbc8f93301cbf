// Mirror of crates/core/src/planner.rs: manual deleveraging (SPEC §11). For a cross account and a
// target — margin ratio, leverage, or distance of one position's liquidation price from mark —
// the smallest reductions at mark, fees included, that reach it, with the resulting equity,
// margin and liquidation prices.
//
// The plan's sums and differences are checked (OVERFLOW at the same places as Rust), and the
// margin-ratio and leverage targets compare exact products (Rust: 256-bit `cmp_products`).

import { cmpProducts } from './adl.js'
import { DeleverageError, ErrorCode } from './errors.js'
import { liquidationBase, liquidationPrice, type SolvedPrice } from './liq.js'
import { written, type Market } from './market.js'
import { RATE_DECIMALS, RATE_SCALE, RATIO_SCALE, abs, add, sub, toI64 } from './num.js'
import type { PositionStore } from './waterfall/index.js'

export const MarginRatio = 0
export const Leverage = 1
export const LiquidationDistance = 2

export interface DeleverageTarget {
  kind: number
  ppm: bigint
  /** LiquidationDistance only. */
  market: number
}

export interface DeleveragePlan {
  orders: Array<[number, bigint]>
  reached: boolean
  fees: bigint
  equity: bigint
  maintenanceMargin: bigint
  notional: bigint
  positions: Array<[number, bigint, SolvedPrice | null]>
}

/** One cross position as the plan changes it. */
interface Pos {
  m: number
  q: bigint
  cost: bigint
  upnl: bigint
  mm: bigint
  notional: bigint
}

/** (equity, MM, notional) of the cross positions with `spent` taken from the balance. */
function totals(balance: bigint, pos: readonly Pos[], spent: bigint): [bigint, bigint, bigint] {
  let e = sub(balance, spent, 'plan equity')
  let mm = 0n
  let n = 0n
  for (const p of pos) {
    e = add(e, p.upnl, 'plan equity')
    mm = add(mm, p.mm, 'plan maintenance margin')
    n = add(n, p.notional, 'plan notional')
  }
  return [e, mm, n]
}

/** fees + fee − realised, checked. */
function spend(fees: bigint, fee: bigint, realised: bigint): bigint {
  return sub(add(fees, fee, 'plan fees'), realised, 'plan fees')
}

export function planDeleveraging(
  store: PositionStore,
  a: number,
  target: DeleverageTarget,
  feeRate: bigint,
): DeleveragePlan {
  checkPlan(store, a, target, feeRate)
  const pos = crossPositions(store, a)
  const balance = store.balance(a)
  let fees = 0n
  // Reduction order: largest maintenance margin first, then market index (as liquidation).
  const order = Array.from({ length: pos.length }, (_, i) => i)
  order.sort((x, y) => {
    const px = pos[x] as Pos
    const py = pos[y] as Pos
    return py.mm < px.mm ? -1 : py.mm > px.mm ? 1 : px.m - py.m
  })
  const orders: Array<[number, bigint]> = []
  const met = (v: readonly Pos[], f: bigint): boolean => targetMet(store, balance, v, f, target)
  let reached = met(pos, fees)
  for (const i of order) {
    if (reached) break
    const p = pos[i] as Pos
    const apply = (d: bigint) => closeAtMark(store, p, d, feeRate)
    // Realised PnL moves into the balance; track it as part of `fees` (negated).
    const withD = (d: bigint): boolean => {
      const [np, realised, fee] = apply(d)
      const v = pos.slice()
      v[i] = np
      return met(v, spend(fees, fee, realised))
    }
    const sg = p.q > 0n ? 1n : -1n
    let d: bigint
    if (!withD(p.q)) {
      d = p.q
    } else {
      let lo = 0n
      let hi = abs(p.q)
      while (hi - lo > 1n) {
        const mid = lo + (hi - lo) / 2n
        if (withD(sg * mid)) hi = mid
        else lo = mid
      }
      reached = true
      d = sg * hi
    }
    const [np, realised, fee] = apply(d)
    pos[i] = np
    fees = spend(fees, fee, realised)
    orders.push([p.m, d])
  }
  return planOf(store, balance, pos, fees, orders, reached, feeRate)
}

/** SPEC §11's arguments: a live account, a fee rate within [0, 1), a positive target (a
 * distance within [0, 1) of a known market). */
function checkPlan(
  store: PositionStore,
  a: number,
  target: DeleverageTarget,
  feeRate: bigint,
): void {
  store.account(a)
  if (!(feeRate >= 0n && feeRate < RATE_SCALE)) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `fee rate must be within 0 and 1, got ${written(feeRate, RATE_DECIMALS)}`,
    )
  }
  if ((target.kind === MarginRatio || target.kind === Leverage) && target.ppm <= 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `target must be positive, got ${target.ppm} ppm`,
    )
  }
  if (target.kind === LiquidationDistance) {
    store.market(target.market)
    if (!(target.ppm >= 0n && target.ppm < RATIO_SCALE)) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `distance must be within 0 and 1, got ${target.ppm} ppm`,
      )
    }
  }
}

/** The account's cross positions at the current marks (the planner leaves isolated ones). */
function crossPositions(store: PositionStore, a: number): Pos[] {
  const pos: Pos[] = []
  const refs = store.refs(a)
  for (let i = 0; i < refs.length; i += 2) {
    const m = refs[i] as number
    const s = refs[i + 1] as number
    const col = store.col(m)
    if (col.isolated[s] === 1) continue
    const mk = store.markets[m] as Market
    const q = BigInt(col.qty[s] as number)
    const cost = col.cost[s] as bigint
    const upnl = mk.upnl(q, cost)
    const mm = mk.maintenanceMargin(q, cost)
    pos.push({ m, q, cost, upnl, mm, notional: mk.valueAtoms(q, mk.mark) })
  }
  return pos
}

/** Position p after closing `d` lots at mark: the position, its realised PnL and the fee. */
function closeAtMark(
  store: PositionStore,
  p: Pos,
  d: bigint,
  feeRate: bigint,
): [Pos, bigint, bigint] {
  const mk = store.markets[p.m] as Market
  const fee = mk.rateOfValue(d, mk.mark, feeRate)
  const [closed, realised] = mk.closeAt(p.q, p.cost, d, mk.mark)
  const q2 = p.q - d
  const c2 = p.cost - closed
  const np: Pos =
    q2 === 0n
      ? { m: p.m, q: 0n, cost: 0n, upnl: 0n, mm: 0n, notional: 0n }
      : {
          m: p.m,
          q: q2,
          cost: c2,
          upnl: mk.upnl(q2, c2),
          mm: mk.maintenanceMargin(q2, c2),
          notional: mk.valueAtoms(q2, mk.mark),
        }
  return [np, realised, fee]
}

/** The plan from the positions as its `orders` leave them; `fees` is the fees less the
 * realised PnL taken into the balance. */
function planOf(
  store: PositionStore,
  balance: bigint,
  pos: readonly Pos[],
  fees: bigint,
  orders: Array<[number, bigint]>,
  reached: boolean,
  feeRate: bigint,
): DeleveragePlan {
  // `fees` folded realised PnL in; report the fees alone. (An unchecked i128 sum in Rust; each
  // fee is below its order's value, so it cannot wrap.)
  let feeTotal = 0n
  for (const [m, d] of orders) {
    const mk = store.markets[m] as Market
    feeTotal += mk.rateOfValue(d, mk.mark, feeRate)
  }
  const [equity, mm, notional] = totals(balance, pos, fees)
  const after: Array<[number, bigint, SolvedPrice | null]> = []
  for (const p of pos) {
    if (p.q !== 0n) after.push([p.m, p.q, liqAfter(store, balance, pos, fees, p.m)])
  }
  return {
    orders,
    reached,
    fees: toI64(feeTotal, 'fees'),
    equity: toI64(equity, 'equity'),
    maintenanceMargin: toI64(mm, 'maintenance margin'),
    notional: toI64(notional, 'notional'),
    positions: after,
  }
}

function targetMet(
  store: PositionStore,
  balance: bigint,
  pos: readonly Pos[],
  fees: bigint,
  target: DeleverageTarget,
): boolean {
  const [e, mm, n] = totals(balance, pos, fees)
  switch (target.kind) {
    case MarginRatio:
      return mm === 0n || (e > 0n && cmpProducts(mm, RATIO_SCALE, target.ppm, e) <= 0)
    case Leverage:
      return n === 0n || (e > 0n && cmpProducts(n, RATIO_SCALE, target.ppm, e) <= 0)
    default: {
      const lp = liqAfter(store, balance, pos, fees, target.market)
      if (lp === null) return true
      const mark = (store.markets[target.market] as Market).mark
      return abs(mark - lp.conservative) * RATIO_SCALE >= target.ppm * mark
    }
  }
}

/** Liquidation price of the position in `market` with the plan's positions and cash. */
function liqAfter(
  store: PositionStore,
  balance: bigint,
  pos: readonly Pos[],
  fees: bigint,
  market: number,
): SolvedPrice | null {
  const p = pos.find((x) => x.m === market && x.q !== 0n)
  if (p === undefined) return null
  const [e, mm] = totals(balance, pos, fees)
  // e − own uPnL is the bankruptcy base (collateral + the others' uPnL).
  const base = liquidationBase(
    sub(e, p.upnl, 'liquidation base'),
    sub(mm, p.mm, 'liquidation base'),
  )
  return liquidationPrice(store.markets[market] as Market, p.q, p.cost, base)
}
