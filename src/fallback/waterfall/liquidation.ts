// Mirror of crates/core/src/waterfall/liquidation.rs: liquidation (SPEC §8.1–§8.3) — the scope (a
// cross account or one isolated position), the plan (the smallest closes at mark that restore the
// buffer, or a takeover), liquidation fills with their fee, and the takeover at the bankruptcy
// price; the host's entry points for both. The Rust `impl Engine` methods are functions of the
// Waterfall here.

import { DeleverageError, ErrorCode } from '../errors.js'
import { bankruptcyBase, bankruptcyPrice } from '../liq.js'
import type { Market } from '../market.js'
import { abs, add } from '../num.js'
import {
  LiquidationFee,
  LiquidationFill,
  NONE,
  Takeover,
  money,
  sign,
  type FillModel,
  type LiquidationPlan,
  type Waterfall,
} from './index.js'
import { cappedFee, fillPrice, meetsBuffer } from './math.js'
import { coverDeficit, liquidatorTake, moveFund } from './insurance-fund.js'
import { socialiseShortfall } from './socialised-loss.js'

/**
 * A liquidation scope must exist: the account, and for an isolated scope a market in which the
 * account holds an isolated position.
 */
export function checkScope(w: Waterfall, a: number, iso: number | null): void {
  const store = w.store
  store.account(a)
  if (iso !== null) {
    const mk = store.market(iso)
    const s = store.slotOf(a, iso)
    if (!(s >= 0 && store.col(iso).isolated[s] === 1)) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `account ${store.ids[a]} has no isolated position in market ${mk.symbol}`,
      )
    }
  }
}

/** Equity and MM of the liquidation scope: the cross account, or one isolated position. */
export function scopeState(w: Waterfall, a: number, iso: number | null): [bigint, bigint] {
  const store = w.store
  if (iso === null) return store.crossRow(a)
  const s = store.slotOf(a, iso)
  if (s < 0) throw w.noPosition(a, iso)
  const mk = store.markets[iso] as Market
  const col = store.col(iso)
  const q = BigInt(col.qty[s] as number)
  const c = col.cost[s] as bigint
  const u = mk.upnl(q, c)
  const eq = add(col.isolatedMargin[s] as bigint, u, 'isolated equity')
  return [eq, mk.maintenanceMargin(q, c)]
}

/**
 * Positions of a scope, largest maintenance margin first (then market index): the order in
 * which liquidation reduces them (SPEC §8.3). An isolated scope takes the position in that
 * market whatever its flag, as Rust does (the entry points admit only isolated ones).
 */
export function scopePositions(
  w: Waterfall,
  a: number,
  iso: number | null,
): Array<[number, bigint, bigint]> {
  const store = w.store
  const refs = store.refs(a)
  const v: Array<[number, bigint, bigint]> = []
  for (let i = 0; i < refs.length; i += 2) {
    const m = refs[i] as number
    const s = refs[i + 1] as number
    const col = store.col(m)
    const inScope = iso === null ? col.isolated[s] !== 1 : iso === m
    if (inScope) {
      const q = BigInt(col.qty[s] as number)
      v.push([m, q, (store.markets[m] as Market).maintenanceMargin(q, col.cost[s] as bigint)])
    }
  }
  v.sort((x, y) => (y[2] < x[2] ? -1 : y[2] > x[2] ? 1 : x[0] - y[0]))
  return v
}

export function hasCross(w: Waterfall, a: number): boolean {
  const refs = w.store.refs(a)
  for (let i = 0; i < refs.length; i += 2) {
    if (w.store.col(refs[i] as number).isolated[refs[i + 1] as number] !== 1) return true
  }
  return false
}

/**
 * Plan the liquidation of a liquidatable account (or isolated position): the smallest closes
 * at mark, fees included, that restore equity ≥ MM × (1 + buffer); a takeover when equity
 * ≤ 0 or when closing everything would leave it negative (SPEC §8.3).
 */
export function planLiquidation(w: Waterfall, a: number, iso: number | null): LiquidationPlan {
  const store = w.store
  checkScope(w, a, iso)
  let [eq, mm] = scopeState(w, a, iso)
  const plan: LiquidationPlan = { account: a, isolatedMarket: iso, takeover: false, orders: [] }
  if (mm === 0n || eq > mm) return plan // nothing to liquidate
  if (eq <= 0n) {
    plan.takeover = true
    return plan
  }
  const c = w.config
  const target = (e: bigint, m: bigint): boolean => meetsBuffer(e, m, c.bufferRate)
  for (const [m, q, mmI] of scopePositions(w, a, iso)) {
    const mk = store.markets[m] as Market
    const s = store.slotOf(a, m)
    const cost = store.col(m).cost[s] as bigint
    // State after closing |d| lots at mark: equity − fee, MM with the rest of the position.
    const after = (d: bigint): [bigint, bigint] => {
      const fee = mk.rateOfValue(d, mk.mark, c.feeRate)
      let mmRest = 0n
      if (d !== q) {
        const [closed] = mk.closeAt(q, cost, d, mk.mark)
        mmRest = mk.maintenanceMargin(q - d, cost - closed)
      }
      return [eq - fee, mm - mmI + mmRest]
    }
    const [eAll, mAll] = after(q)
    if (!target(eAll, mAll)) {
      plan.orders.push([m, q])
      eq = eAll
      mm = mAll
      continue
    }
    // Smallest |d| in 1..=|q| meeting the target: bisection with target(lo) false.
    const sg = sign(q)
    let lo = 0n
    let hi = abs(q)
    while (hi - lo > 1n) {
      const mid = lo + (hi - lo) / 2n
      const [e1, m1] = after(sg * mid)
      if (target(e1, m1)) hi = mid
      else lo = mid
    }
    plan.orders.push([m, sg * hi])
    return plan
  }
  if (eq < 0n) {
    plan.takeover = true
    plan.orders = []
  }
  return plan
}

/**
 * What the scope has left after a close: [equity, true] while it still holds positions (the
 * cross account's equity, or the isolated position's), or [leftover, false] once it holds none:
 * the cross balance, or what the closed isolated position returned to the balance.
 */
export function scopeLeft(
  w: Waterfall,
  a: number,
  iso: number | null,
  returned: bigint | null,
): [bigint, boolean] {
  if (iso !== null) {
    if (w.store.slotOf(a, iso) >= 0) return [scopeState(w, a, iso)[0], true]
    return [returned ?? 0n, false]
  }
  const [eq] = w.store.crossRow(a)
  return [eq, hasCross(w, a)]
}

/** Take `amount` (≥ 0) from the scope's collateral into the fund, as the liquidation fee. */
export function chargeFee(w: Waterfall, a: number, iso: number | null, amount: bigint): void {
  if (amount <= 0n) return
  const store = w.store
  const s = iso === null ? -1 : store.slotOf(a, iso)
  if (s >= 0) {
    const m = iso as number
    store.setIsolatedMargin(
      m,
      s,
      money((store.col(m).isolatedMargin[s] as bigint) - amount, 'isolated margin'),
    )
  } else {
    store.setBalance(a, money(store.balance(a) - amount, 'balance'))
  }
  moveFund(w, amount)
  w.emit(LiquidationFee, a, iso ?? NONE, NONE, 0n, 0n, money(amount, 'liquidation fee'))
}

/**
 * After a close: the fee, capped by what the scope has left, and a deficit (once the scope
 * holds nothing) to the fund or bad debt (SPEC §8.2, §8.4).
 */
export function settleScope(
  w: Waterfall,
  a: number,
  iso: number | null,
  returned: bigint | null,
  feeFull: bigint,
  m: number,
): void {
  const [left] = scopeLeft(w, a, iso, returned)
  chargeFee(w, a, iso, cappedFee(feeFull, left))
  const r2 = returned === null ? null : returned - cappedFee(feeFull, returned)
  const [left2, holds] = scopeLeft(w, a, iso, r2)
  if (left2 < 0n && !holds) {
    socialiseShortfall(w, w.store, m, -left2)
    coverDeficit(w, a, -left2)
  }
}

/** A liquidation fill on the account (reported by the host or made by the fill model). */
export function liquidationFill(
  w: Waterfall,
  a: number,
  iso: number | null,
  m: number,
  delta: bigint,
  price: bigint,
): void {
  w.checkClose(a, m, delta, price)
  const feeFull = (w.store.markets[m] as Market).rateOfValue(delta, price, w.config.feeRate)
  const [realised, returned] = w.closePosition(a, m, delta, price)
  w.emit(LiquidationFill, a, m, NONE, delta, price, money(realised, 'realised PnL'))
  settleScope(w, a, iso, returned, feeFull, m)
}

/**
 * Move the scope's positions to the liquidator at their bankruptcy prices, largest
 * MM first, each solved with the others at mark (SPEC §8.3); then the fee, capped by what is
 * left, and a deficit to the fund or bad debt.
 */
export function takeover(w: Waterfall, a: number, iso: number | null): void {
  const store = w.store
  let feeFull = 0n
  let returned: bigint | null = null
  let last = NONE // the market a deficit is socialised in: the last taken over
  for (const [m, q] of scopePositions(w, a, iso)) {
    last = m
    const mk = store.markets[m] as Market
    const col = store.col(m)
    const s = store.slotOf(a, m)
    const cost = col.cost[s] as bigint
    // Bankruptcy base (SPEC §6): collateral + the other cross positions' uPnL at mark.
    let base: bigint
    if (iso !== null) {
      base = col.isolatedMargin[s] as bigint
    } else {
      let othersUpnl = 0n
      const refs = store.refs(a)
      for (let i = 0; i < refs.length; i += 2) {
        const m2 = refs[i] as number
        const s2 = refs[i + 1] as number
        const c2 = store.col(m2)
        if (m2 !== m && c2.isolated[s2] !== 1) {
          othersUpnl = add(
            othersUpnl,
            (store.markets[m2] as Market).upnl(BigInt(c2.qty[s2] as number), c2.cost[s2] as bigint),
            'bankruptcy base',
          )
        }
      }
      base = bankruptcyBase(store.balance(a), othersUpnl)
    }
    const price = bankruptcyPrice(mk, q, cost, base)?.conservative ?? mk.mark
    // Unchecked in Rust; each fee is at most a position's value (≤ ~10^34 atoms).
    feeFull += mk.rateOfValue(q, price, w.config.feeRate)
    const [realised, r] = w.closePosition(a, m, q, price)
    returned = r
    w.emit(Takeover, a, m, NONE, q, price, money(realised, 'realised PnL'))
    liquidatorTake(w, m, q, price)
  }
  settleScope(w, a, iso, returned, feeFull, last)
}

/**
 * Liquidate one account (or isolated position) now: plan, fill the orders with the model, take
 * over what partial closes cannot save, and unwind what the liquidator took over.
 */
export function liquidateScope(
  w: Waterfall,
  a: number,
  iso: number | null,
  model: FillModel,
): void {
  const store = w.store
  const plan = planLiquidation(w, a, iso)
  if (!plan.takeover) {
    for (const [m, delta] of plan.orders) {
      const price = fillPrice(model, (store.markets[m] as Market).mark, delta)
      liquidationFill(w, a, iso, m, delta, price)
    }
  }
  // Orders filled worse than planned can leave the scope bankrupt: take over the rest.
  const stillOpen = iso !== null ? store.slotOf(a, iso) >= 0 : hasCross(w, a)
  if (stillOpen) {
    const [eq] = scopeState(w, a, iso)
    if (plan.takeover || eq <= 0n) takeover(w, a, iso)
  }
}

export function settleLiquidationFill(
  w: Waterfall,
  a: number,
  iso: number | null,
  m: number,
  delta: bigint,
  price: bigint,
): void {
  const store = w.store
  checkScope(w, a, iso)
  const mk = store.market(m)
  if (iso !== null && iso !== m) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      'an isolated liquidation fills only its own market',
    )
  }
  if (iso === null) {
    const s = store.slotOf(a, m)
    if (s >= 0 && store.col(m).isolated[s] === 1) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `the position of account ${store.ids[a]} in market ${mk.symbol} is isolated: name its market as the scope`,
      )
    }
  }
  w.checkClose(a, m, delta, price)
  w.transaction(() => liquidationFill(w, a, iso, m, delta, price))
}

export function takeOver(w: Waterfall, a: number, iso: number | null): void {
  checkScope(w, a, iso)
  w.transaction(() => takeover(w, a, iso))
}
