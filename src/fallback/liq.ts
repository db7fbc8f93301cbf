// Mirror of crates/core/src/liq.rs: liquidation and bankruptcy prices (SPEC §6), the mark of one
// market at which the account's predicate flips, other marks fixed, solved per tier segment on
// the market's price grid (multiples of its tick size, SPEC §2.5). The trigger price uses the
// engine's rounded predicate; the nearest price the exact (unrounded) crossing (SPEC §6.3).
//
// `base` folds in everything that does not move with this market's mark:
//   liquidation: base = collateral + Σ_{others}(uPnL − MM), liquidatable ⇔ base + uPnL(x) − MM(x) ≤ 0
//   bankruptcy:  base = collateral + Σ_{others} uPnL,          solvent      ⇔ base + uPnL(x) ≥ 0
// where collateral is the wallet balance (cross) or the isolated margin.
//
// Two renderings of the same algorithm: the *Ref functions are the literal BigInt port; the
// exported liquidationPrice / bankruptcyPrice run the identical search with grid-0 prices as
// doubles (exact: the domain is checked to lie below 2^53) and number fast paths for the
// predicate, falling back to the BigInt predicate whenever a fast path is not exact.

import { Linear, Mark, SAFE, type Market } from './market.js'
import { P10F, ceilDivF, fastPathsEnabled, marginValueF, mmF, tierIndexF, upnlF } from './fast.js'
import {
  Ceil,
  Floor,
  I64_MAX,
  PRICE_MAX_TICKS,
  RATE_DECIMALS,
  RATE_SCALE,
  abs,
  add,
  divCeil,
  divFloor,
  mul,
  pow10,
  ratio,
  sub,
} from './num.js'

export interface SolvedPrice {
  /** The tick where the predicate holds while one tick better it does not (trigger price). */
  conservative: bigint
  /** The grid point nearest to the exact crossing (as venues display it); a crossing exactly
   * half-way goes to the grid point where the exact predicate holds. */
  nearest: bigint
}

/** The slice of the grid-k price axis on which the position's value fits i64 atoms (SPEC §2.3). */
export function domain(m: Market, qty: bigint, k: number): [bigint, bigint] {
  const pmax = PRICE_MAX_TICKS * pow10(k)
  const aq = qty < 0n ? -qty : qty
  const lim = I64_MAX
  let lo: bigint, hi: bigint
  if (m.kind === Linear) {
    // |q|·x·10^(s−k) ≤ i64::MAX  ⇔  x ≤ i64::MAX·10^(k−s) / |q|
    const s = m.quoteExp()
    lo = 1n
    const r = ratio(lim, k - s, aq, Floor, 'price domain')
    hi = r < pmax ? r : pmax
  } else {
    const a = mul(aq, m.contractSize, 'price domain')
    const r = ratio(a, m.inverseExp() + k, lim, Ceil, 'price domain')
    // clamp(1, pmax + 1): an empty domain (lo > hi) when no price fits
    lo = r < 1n ? 1n : r > pmax + 1n ? pmax + 1n : r
    hi = pmax
  }
  return [lo, hi]
}

export function liquidatableRef(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
  x: bigint,
  k: number,
): boolean {
  const g = sub(
    add(base, m.upnlAt(qty, cost, x, k), 'liquidation predicate'),
    m.maintenanceMarginAt(qty, cost, x, k),
    'liquidation predicate',
  )
  return g <= 0n
}

export function solventRef(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
  x: bigint,
  k: number,
): boolean {
  return add(base, m.upnlAt(qty, cost, x, k), 'bankruptcy predicate') >= 0n
}

// ---------------------------------------------------------------------------------------------
// The exact predicate (SPEC §6.3).

/**
 * The sign of the exact (unrounded) slack at price x on grid k: `base + uPnL(x) − MM(x)` (withMm)
 * or `base + uPnL(x)`, uPnL and MM as §3.2/§4.3 before their rounding, in the tier the engine uses
 * at x (§4.1), multiplied by a positive integer so that every term is an integer (liq.rs
 * exact_sign, which needs 256 bits for what BigInt does here).
 */
export function exactSign(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
  x: bigint,
  k: number,
  withMm: boolean,
): number {
  let mmr = 0n
  let cum = 0n
  if (withMm) {
    const t = m.tierIndex(m.marginValueAt(qty, cost, x, k), k)
    mmr = m.mmr[t] as bigint
    cum = m.maintAmount[t] as bigint
  }
  let g: bigint
  if (m.kind === Linear) {
    const e = m.quoteExp() - k - RATE_DECIMALS
    const [ea, eb, ec] = e <= 0 ? [-e, RATE_DECIMALS, 0] : [0, e + RATE_DECIMALS, e]
    const v = m.basis === Mark ? abs(qty) * x : abs(cost) * pow10(k)
    const pnl = qty * x - cost * pow10(k)
    const mm = v * mmr - cum * pow10(k)
    g = base * pow10(ea) + pnl * pow10(eb) - mm * pow10(ec)
  } else {
    const te = m.inverseExp() + k
    const X = x * pow10(Math.max(0, -te))
    const S = m.contractSize * pow10(Math.max(0, te))
    const fixed = (base + cost) * RATE_SCALE + cum - (m.basis === Mark ? 0n : abs(cost) * mmr)
    const moving = qty * RATE_SCALE + (m.basis === Mark ? abs(qty) * mmr : 0n)
    g = fixed * X - S * moving
  }
  return g > 0n ? 1 : g < 0n ? -1 : 0
}

// ---------------------------------------------------------------------------------------------
// Literal BigInt port. Searches run on grid indices j (price j·tickSize).

/**
 * Largest x in (lo, hi] with p(x) = `want`, given p(lo) = want and p(hi) ≠ want, found by
 * bisection: the answer always has p(x) = want and p(x+1) ≠ want, monotone or not.
 */
function lastWhereRef(lo: bigint, hi: bigint, want: boolean, p: (x: bigint) => boolean): bigint {
  while (hi - lo > 1n) {
    const mid = lo + (hi - lo) / 2n
    if (p(mid) === want) lo = mid
    else hi = mid
  }
  return lo
}

/** The position's domain (SPEC §2.3) as grid indices; null when empty. */
export function gridDomain(m: Market, qty: bigint): [bigint, bigint] | null {
  const [lo, hi] = domain(m, qty, 0)
  const g = m.tickSize
  const jlo = divCeil(lo, g)
  const jhi = divFloor(hi, g)
  return lo > hi || jlo > jhi ? null : [jlo, jhi]
}

/** Maximal runs of grid indices on which the maintenance tier does not change. */
function tierSegmentsRef(
  m: Market,
  qty: bigint,
  cost: bigint,
  lo: bigint,
  hi: bigint,
): Array<[bigint, bigint]> {
  if (m.basis !== Mark || m.floors.length === 1) return [[lo, hi]]
  const tierOf = (j: bigint): number =>
    m.tierIndex(m.marginValueAt(qty, cost, j * m.tickSize, 0), 0)
  const segs: Array<[bigint, bigint]> = []
  let a = lo
  for (;;) {
    const t = tierOf(a)
    const b = tierOf(hi) === t ? hi : lastWhereRef(a, hi, true, (x) => tierOf(x) === t)
    segs.push([a, b])
    if (b === hi) return segs
    a = b + 1n
  }
}

/** The liquidation search of SPEC §6.1 over the runs, for predicate `pred` on grid indices. */
function lastLiquidatable(
  segs: Array<[bigint, bigint]>,
  long: boolean,
  pred: (j: bigint) => boolean,
): bigint | null {
  if (long) {
    // A long's predicate falls as the mark rises within a tier: take the highest run where it
    // holds, and in it the last point where it holds.
    for (let i = segs.length - 1; i >= 0; i--) {
      const [a, b] = segs[i] as [bigint, bigint]
      if (pred(a)) return pred(b) ? b : lastWhereRef(a, b, true, pred)
    }
  } else {
    for (const [a, b] of segs) {
      if (pred(b)) return pred(a) ? a : lastWhereRef(a, b, false, pred) + 1n
    }
  }
  return null
}

/**
 * lastLiquidatable on the exact predicate `ex`, found from the trigger t (liq.rs
 * exact_liquidation_edge): the exact predicate holds nowhere in the runs above t's, and in t's run
 * (one tier: the exact slack is monotone) on a prefix (long) or suffix (short) ending at or before
 * t; when it holds at the run's far end, a gallop from t finds the same point.
 */
function exactLiquidationEdge(
  segs: Array<[bigint, bigint]>,
  long: boolean,
  t: bigint,
  ex: (j: bigint) => boolean,
): bigint | null {
  const run = segs.find((r) => r[0] <= t && t <= r[1]) as [bigint, bigint]
  const far = long ? run[0] : run[1]
  if (!ex(far)) return lastLiquidatable(segs, long, ex)
  return gallop(t, far, long ? -1n : 1n, true, ex)
}

/** From `from` (where the monotone predicate may fail) towards `to` (where it holds), by `step`:
 * the point nearest `from` where it equals `want`, doubling the stride, then bisecting. */
function gallop(
  from: bigint,
  to: bigint,
  step: bigint,
  want: boolean,
  p: (x: bigint) => boolean,
): bigint {
  if (p(from) === want) return from
  let miss = from
  let d = 1n
  for (;;) {
    let x = from + step * d
    if (step < 0n ? x < to : x > to) x = to
    if (p(x) === want)
      return step < 0n ? lastWhereRef(x, miss, want, p) : lastWhereRef(miss, x, !want, p) + 1n
    miss = x
    d *= 2n
  }
}

/** solvencyEdge on the exact predicate, found from the trigger t by a gallop (liq.rs
 * exact_solvency_edge); null when it holds at the domain's insolvent end. */
function exactSolvencyEdge(
  lo: bigint,
  hi: bigint,
  long: boolean,
  t: bigint,
  ok: (j: bigint) => boolean,
): bigint | null {
  const end = long ? lo : hi
  if (ok(end)) return null
  const step = long ? -1n : 1n
  return gallop(t, end, step, false, ok) - step
}

/**
 * Nearest grid point (SPEC §6.3): the same search on the exact predicate gives the point e next
 * to the exact crossing on its liquidatable side; the crossing lies past the half-way point
 * towards safety exactly when the exact slack there is < 0 (= 0: half-way, stays at e).
 * Returns the price; `t` (the trigger's grid index) when the exact predicate holds nowhere.
 */
function nearestLiq(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
  segs: Array<[bigint, bigint]>,
  lo: bigint,
  hi: bigint,
  t: bigint,
  full: boolean,
): bigint {
  const g = m.tickSize
  const long = qty > 0n
  const ex = (j: bigint): boolean => exactSign(m, qty, cost, base, j * g, 0, true) <= 0
  // The literal port runs the full search; the fast path gallops from the trigger (liq.rs).
  const e = full ? lastLiquidatable(segs, long, ex) : exactLiquidationEdge(segs, long, t, ex)
  if (e === null) return t * g
  const step = long ? 1n : -1n
  const inside = long ? e < hi : e > lo
  const n =
    inside && exactSign(m, qty, cost, base, (10n * e + 5n * step) * g, 1, true) < 0 ? e + step : e
  return n * g
}

/**
 * Liquidation price of a position whose account has `base` (see module doc). null when the
 * predicate holds nowhere on the domain (a long that cannot fall far enough, say).
 */
export function liquidationPriceRef(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
): SolvedPrice | null {
  if (qty === 0n) return null
  const d = gridDomain(m, qty)
  if (d === null) return null
  const [lo, hi] = d
  const g = m.tickSize
  const segs = tierSegmentsRef(m, qty, cost, lo, hi)
  const t = lastLiquidatable(segs, qty > 0n, (j) => liquidatableRef(m, qty, cost, base, j * g, 0))
  if (t === null) return null
  return { conservative: t * g, nearest: nearestLiq(m, qty, cost, base, segs, lo, hi, t, true) }
}

/** SPEC §6.2 on grid indices: a long's lowest solvent point when the low end is not solvent and
 * the high end is (a short mirrored); null otherwise. */
function solvencyEdge(
  lo: bigint,
  hi: bigint,
  long: boolean,
  ok: (j: bigint) => boolean,
): bigint | null {
  if (long) {
    if (ok(lo) || !ok(hi)) return null
    return lastWhereRef(lo, hi, false, ok) + 1n
  }
  if (!ok(lo) || ok(hi)) return null
  return lastWhereRef(lo, hi, true, ok)
}

/** Nearest bankruptcy grid point: from the exact edge e (solvent), one point worse when the exact
 * equity at the half-way point is > 0 (= 0: stays at e). */
function nearestBk(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
  lo: bigint,
  hi: bigint,
  t: bigint,
  full: boolean,
): bigint {
  const g = m.tickSize
  const ok = (j: bigint): boolean => exactSign(m, qty, cost, base, j * g, 0, false) >= 0
  const e = full ? solvencyEdge(lo, hi, qty > 0n, ok) : exactSolvencyEdge(lo, hi, qty > 0n, t, ok)
  if (e === null) return t * g
  const step = qty > 0n ? -1n : 1n
  return (exactSign(m, qty, cost, base, (10n * e + 5n * step) * g, 1, false) > 0 ? e + step : e) * g
}

/**
 * Bankruptcy price: the grid point where equity is still ≥ 0 while one point worse it is < 0.
 * null when equity keeps its sign over the whole domain.
 */
export function bankruptcyPriceRef(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
): SolvedPrice | null {
  if (qty === 0n) return null
  const d = gridDomain(m, qty)
  if (d === null) return null
  const [lo, hi] = d
  const g = m.tickSize
  const t = solvencyEdge(lo, hi, qty > 0n, (j) => solventRef(m, qty, cost, base, j * g, 0))
  if (t === null) return null
  return { conservative: t * g, nearest: nearestBk(m, qty, cost, base, lo, hi, t, true) }
}

// ---------------------------------------------------------------------------------------------
// The same search with grid-0 prices as doubles (used when the whole domain lies below 2^53,
// i.e. always except for degenerate inverse domains whose lower end exceeds PRICE_MAX_TICKS).
// One reusable evaluator instead of closures: this runs ~100–300 predicate evaluations per
// position.

const LIQ = 0
const SOLVENT = 1
const TIER = 2

class Search {
  m!: Market
  qty = 0n
  cost = 0n
  base = 0n
  qn = 0
  cn = 0
  baseF = 0
  baseOk = false
  /** The tier a TIER search tests for. */
  tier = 0
  /** The tick size: the search runs on grid indices j, at prices j·g (< 2^53: j·g ≤ 10^15). */
  g = 1

  init(m: Market, qty: bigint, cost: bigint, base: bigint): void {
    this.m = m
    this.qty = qty
    this.cost = cost
    this.base = base
    this.qn = Number(qty)
    this.cn = Number(cost)
    this.baseF = Number(base)
    this.baseOk = Math.abs(this.baseF) < SAFE
    this.g = Number(m.tickSize)
  }

  /** liquidatable(m, qty, cost, base, j·g, 0) */
  liq(j: number): boolean {
    const x = j * this.g
    if (this.baseOk) {
      const u = upnlF(this.m, this.qn, this.cn, x)
      if (u === u) {
        const mm = mmF(this.m, this.qn, this.cn, x)
        if (mm === mm) {
          const s = this.baseF + u
          if (Math.abs(s) < SAFE) return s <= mm
        }
      }
    }
    return liquidatableRef(this.m, this.qty, this.cost, this.base, BigInt(x), 0)
  }

  /** solvent(m, qty, cost, base, j·g, 0) */
  solvent(j: number): boolean {
    const x = j * this.g
    if (this.baseOk) {
      const u = upnlF(this.m, this.qn, this.cn, x)
      if (u === u) {
        const s = this.baseF + u
        if (Math.abs(s) < SAFE) return s >= 0
      }
    }
    return solventRef(this.m, this.qty, this.cost, this.base, BigInt(x), 0)
  }

  /** m.tierIndex(m.marginValueAt(qty, cost, j·g, 0), 0) */
  tierOf(j: number): number {
    const x = j * this.g
    const v = marginValueF(this.m, this.qn, this.cn, x)
    return v === v
      ? tierIndexF(this.m, v)
      : this.m.tierIndex(this.m.marginValueAt(this.qty, this.cost, BigInt(x), 0), 0)
  }

  test(mode: number, x: number): boolean {
    return mode === LIQ
      ? this.liq(x)
      : mode === SOLVENT
        ? this.solvent(x)
        : this.tierOf(x) === this.tier
  }

  /** lastWhereRef on doubles (hi − lo > 1 keeps every midpoint an exact integer below 2^53). */
  lastWhere(lo: number, hi: number, want: boolean, mode: number): number {
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2)
      if (this.test(mode, mid) === want) lo = mid
      else hi = mid
    }
    return lo
  }

  /**
   * lastWhere(a, hi, true, TIER) given tierOf(a) = t ≠ tierOf(hi). The tier is monotone in the
   * price (linear: value |q|·x rises; inverse: ceil(N/x) falls) and its evaluation cannot fail,
   * so the bisection's answer is the unique b with tierOf(b) = t ≠ tierOf(b + 1). That b is solved
   * from the next floor, verified, and the bisection runs only when it could not be.
   */
  tierEnd(a: number, hi: number, t: number): number {
    const m = this.m
    const aq = Math.abs(this.qn)
    let b = NaN
    if (m.kind === Linear) {
      // last x with |q|·x < floor[t+1]
      const F = m.floorsF[t + 1]
      if (F !== undefined && F < SAFE) b = ceilDivF(F, aq) - 1
    } else {
      // last x with ceil(N / x) ≥ floor[t] ⇔ x < N / (floor[t] − 1), floor[t] ≥ 2 here
      const F = m.floorsF[t]
      const T = m.invValueExp
      const n0 = aq * m.sizeF
      if (F !== undefined && F >= 2 && F < SAFE && n0 < SAFE) {
        if (T >= 0) {
          const N = n0 * (P10F[T] as number)
          if (N < SAFE) b = ceilDivF(N, F - 1) - 1
        } else {
          const den = (F - 1) * (P10F[-T] as number)
          if (den < SAFE) b = ceilDivF(n0, den) - 1
        }
      }
    }
    // b is a price; the grid index of the last grid point at or below it (verified below)
    if (b === b) b = Math.floor(b / this.g)
    if (b === b && b >= a && b < hi && this.tierOf(b) === t && this.tierOf(b + 1) !== t) return b
    return this.lastWhere(a, hi, true, TIER)
  }

  /** tierSegmentsRef, as a flat [a0, b0, a1, b1, ...] list. */
  tierSegments(lo: number, hi: number): number[] {
    const m = this.m
    if (m.basis !== Mark || m.floors.length === 1) return [lo, hi]
    const segs: number[] = []
    let a = lo
    for (;;) {
      const t = this.tierOf(a)
      this.tier = t
      const b = this.tierOf(hi) === t ? hi : this.tierEnd(a, hi, t)
      segs.push(a, b)
      if (b === hi) return segs
      a = b + 1
    }
  }
}

const search = new Search()
const SAFE_BIG = BigInt(SAFE)

const REFERENCE = 'reference'

/** A solver of one position's price: (market, qty, cost basis, base) → the price, or null. */
type PriceSolver = (m: Market, qty: bigint, cost: bigint, base: bigint) => SolvedPrice | null
/** A position's grid domain as tick indices, numbers and bigints, with `search` set up on it. */
type FastDomain = { lo: number; hi: number; loB: bigint; hiB: bigint }

/** The solver that runs `fast` on the position's fastDomain, or `reference` where it cannot. */
function withFastSearch(
  reference: PriceSolver,
  fast: (...args: [...Parameters<PriceSolver>, FastDomain]) => SolvedPrice | null,
): PriceSolver {
  return (m, qty, cost, base) => {
    const d = fastDomain(m, qty, cost, base)
    if (d === null) return null
    return d === REFERENCE ? reference(m, qty, cost, base) : fast(m, qty, cost, base, d)
  }
}

/** The setup both solvers share: the position's grid domain (SPEC §2.3), null when there is none
 * (flat, or empty); REFERENCE when the fast search cannot run on it (fast paths off, or indices
 * beyond 2^53) and the reference solver must; else the domain, with `search` set up on it. */
function fastDomain(
  m: Market,
  qty: bigint,
  cost: bigint,
  base: bigint,
): FastDomain | null | typeof REFERENCE {
  if (qty === 0n) return null
  const d = gridDomain(m, qty)
  if (d === null) return null
  const [loB, hiB] = d
  if (!fastPathsEnabled() || loB >= SAFE_BIG || hiB >= SAFE_BIG || loB < 0n || hiB < 0n)
    return REFERENCE
  search.init(m, qty, cost, base)
  return { lo: Number(loB), hi: Number(hiB), loB, hiB }
}

/** liquidationPriceRef's answer (SPEC §6), by the number search where the domain allows. */
export const liquidationPrice: PriceSolver = withFastSearch(
  liquidationPriceRef,
  (m, qty, cost, base, d) => {
    const { lo, hi, loB, hiB } = d
    const S = search
    const segs = S.tierSegments(lo, hi)
    let found = -1
    if (qty > 0n) {
      // A long's predicate falls as the mark rises within a tier: take the highest run where it
      // holds, and in it the last tick where it holds.
      for (let i = segs.length - 2; i >= 0; i -= 2) {
        const a = segs[i] as number
        const b = segs[i + 1] as number
        if (S.liq(a)) {
          found = S.liq(b) ? b : S.lastWhere(a, b, true, LIQ)
          break
        }
      }
    } else {
      for (let i = 0; i < segs.length; i += 2) {
        const a = segs[i] as number
        const b = segs[i + 1] as number
        if (S.liq(b)) {
          found = S.liq(a) ? a : S.lastWhere(a, b, false, LIQ) + 1
          break
        }
      }
    }
    if (found < 0) return null
    const t = BigInt(found)
    const segsB: Array<[bigint, bigint]> = []
    for (let i = 0; i < segs.length; i += 2)
      segsB.push([BigInt(segs[i] as number), BigInt(segs[i + 1] as number)])
    return {
      conservative: t * m.tickSize,
      nearest: nearestLiq(m, qty, cost, base, segsB, loB, hiB, t, false),
    }
  },
)

/** bankruptcyPriceRef's answer (SPEC §6), by the number search where the domain allows. */
export const bankruptcyPrice: PriceSolver = withFastSearch(
  bankruptcyPriceRef,
  (m, qty, cost, base, d) => {
    const { lo, hi, loB, hiB } = d
    const S = search
    let t: bigint
    if (qty > 0n) {
      if (S.solvent(lo) || !S.solvent(hi)) return null
      t = BigInt(S.lastWhere(lo, hi, false, SOLVENT) + 1)
    } else {
      if (!S.solvent(lo) || S.solvent(hi)) return null
      t = BigInt(S.lastWhere(lo, hi, true, SOLVENT))
    }
    return {
      conservative: t * m.tickSize,
      nearest: nearestBk(m, qty, cost, base, loB, hiB, t, false),
    }
  },
)

/**
 * bankruptcy_base: SPEC §6's base of one position for its bankruptcy price, collateral + Σ uPnL
 * of the account's other cross positions (an isolated position's base is its isolated margin
 * alone). The one place engine (position risks), planner and waterfall (takeover) form it.
 */
export function bankruptcyBase(collateral: bigint, othersUpnl: bigint): bigint {
  return add(collateral, othersUpnl, 'bankruptcy base')
}

/** liquidation_base: the bankruptcy base − Σ MM of the other cross positions (SPEC §6). */
export function liquidationBase(bankruptcyBase: bigint, othersMm: bigint): bigint {
  return sub(bankruptcyBase, othersMm, 'liquidation base')
}

/**
 * Why a position's liquidation price is not shown (SPEC §6.4), as a code of
 * LIQUIDATION_PRICE_REASONS: 0 = it has one; 1 = never (the predicate holds nowhere on the
 * domain); 2 = always (it holds at the domain's safe end: a long's highest price, a short's
 * lowest). `p` is liquidationPrice's answer for the same position. Rust: liq.rs.
 */
export function liquidationPriceReason(m: Market, qty: bigint, p: SolvedPrice | null): number {
  if (p === null) return 1
  const d = gridDomain(m, qty)
  if (d === null) return 1
  const edge = qty > 0n ? d[1] : d[0]
  return p.conservative === edge * m.tickSize ? 2 : 0
}
