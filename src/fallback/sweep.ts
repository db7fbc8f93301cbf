// The full sweep and the account rows on exact doubles, with their BigInt references (SPEC §5,
// §5.5): the glue between the engine's columns and the number kernels of fast.ts. Each path sums
// in doubles while every value is provably exact (|x| < 2^53) and falls back to the checked BigInt
// formulas of market.ts from the first value that is not, so rows and errors are the core's.
// Rust's twin is crates/core/src/sweep.rs (an exact i64 kernel over the blocked layout); the
// MarginRow helpers mirror engine.rs (`MarginRow`, `margin_row`, `margin_row_or_overflow`).

import { CROSS, type MarginColumns } from '../core.js'
import { cmpBytes } from './adl.js'
import { withContext } from './errors.js'
import { ceilDivF, fastPathsEnabled, mmF, upnlF } from './fast.js'
import { SAFE, type Market } from './market.js'
import { I64_MAX, RATIO_SCALE, add, cmpBig, divCeil, toI64 } from './num.js'
import type { MarketPositions } from './engine.js'

/** The engine's store as the sweep reads it; taken per call (the account arrays grow by copy). */
export interface StoreView {
  readonly markets: readonly Market[]
  readonly positions: readonly MarketPositions[]
  readonly ids: readonly string[]
  /** Per account (market, slot) pairs flattened, sorted by market. */
  readonly refs: ReadonlyArray<number[] | undefined>
  readonly balance: BigInt64Array
  /** Number(balance): exact below 2^53. */
  readonly balanceF: Float64Array
  readonly alive: Uint8Array
  readonly accountsLen: number
}

/** 2^63: |x| below it fits i64. */
const I64_BOUND_F = 2 ** 63
/** RATIO_SCALE as a double, for the ratios of the float fast paths. */
const RATIO_SCALE_F = Number(RATIO_SCALE)

/** Margin state of an account's cross positions (or of one isolated position). */
export interface MarginRow {
  account: number
  /** CROSS for a cross account; the market of an isolated position. */
  market: number
  equity: bigint
  maintenanceMargin: bigint
  /** MM / equity in ppm rounded up; -1n when equity ≤ 0 (unbounded). */
  marginRatioPpm: bigint
  liquidatable: boolean
  /** equity and MM as exact doubles, or NaN when beyond 2^53 (for the sort comparator). */
  equityF: number
  maintenanceMarginF: number
  /** Equity or MM leaves i64: status OVERFLOW (SPEC §5.5), equity and MM 0, ratio -1. */
  overflow: boolean
}

/** Receives each isolated row: exact `r`, or null with exact number equity/MM known not to fail. */
type IsolatedSink = (
  account: number,
  market: number,
  r: MarginRow | null,
  eq: number,
  mm: number,
) => void

/** Cross totals of every account (Σ uPnL, Σ MM over cross positions). */
interface Totals {
  /** Exact sums while `big[a]` is 0 (|sum| < 2^53). */
  upnl: Float64Array
  mm: Float64Array
  /** 1: the account's sums live in bigUpnl / bigMm instead. */
  big: Uint8Array
  bigUpnl: Map<number, bigint>
  bigMm: Map<number, bigint>
}

const SAFE_BIG = BigInt(SAFE)

function exactF(x: bigint): number {
  return x < SAFE_BIG && x > -SAFE_BIG ? Number(x) : NaN
}

export function marginRow(
  account: number,
  market: number,
  equity: bigint,
  mm: bigint,
  hasPositions: boolean,
): MarginRow {
  const eq = toI64(equity, 'equity (does not fit i64)')
  const maintenanceMargin = toI64(mm, 'maintenance margin (does not fit i64)')
  // Saturates at i64::MAX ppm, as the core does.
  const ratio = eq > 0n ? divCeil(mm * RATIO_SCALE, eq) : -1n
  const marginRatioPpm = ratio > I64_MAX ? I64_MAX : ratio
  return {
    account,
    market,
    equity: eq,
    maintenanceMargin,
    marginRatioPpm,
    liquidatable: hasPositions && eq <= maintenanceMargin,
    equityF: exactF(eq),
    maintenanceMarginF: exactF(maintenanceMargin),
    overflow: false,
  }
}

/** MarginRow::overflowed: the row of a scope whose equity or MM leaves i64. */
export function overflowRow(account: number, market: number): MarginRow {
  return {
    account,
    market,
    equity: 0n,
    maintenanceMargin: 0n,
    marginRatioPpm: -1n,
    liquidatable: false,
    equityF: 0,
    maintenanceMarginF: 0,
    overflow: true,
  }
}

const fitsI64 = (x: bigint): boolean => x <= I64_MAX && x >= -I64_MAX - 1n

/** margin_row_or_overflow: one scope's numbers never stop the others' rows (SPEC §5.5). */
function marginRowOrOverflow(
  account: number,
  market: number,
  equity: bigint,
  mm: bigint,
  hasPositions: boolean,
): MarginRow {
  return fitsI64(equity) && fitsI64(mm)
    ? marginRow(account, market, equity, mm, hasPositions)
    : overflowRow(account, market)
}

/** marginRow for exact number equity and MM that passed rowSafeF (so it cannot fail). */
function marginRowF(
  account: number,
  market: number,
  eq: number,
  mm: number,
  hasPositions: boolean,
): MarginRow {
  let ratio = -1n
  if (eq > 0) {
    const p = mm * RATIO_SCALE_F
    ratio =
      Math.abs(p) < SAFE ? BigInt(ceilDivF(p, eq)) : divCeil(BigInt(mm) * RATIO_SCALE, BigInt(eq))
  }
  return {
    account,
    market,
    equity: BigInt(eq),
    maintenanceMargin: BigInt(mm),
    marginRatioPpm: ratio,
    liquidatable: hasPositions && eq <= mm,
    equityF: eq,
    maintenanceMarginF: mm,
    overflow: false,
  }
}

/**
 * Fast check of a margin row with exact number equity and MM: true when margin_row cannot fail
 * (|MM·10^6| < 2^63 bounds the ratio when equity ≥ 1; both values are far inside i64).
 */
function rowSafeF(eq: number, mm: number): boolean {
  return Math.abs(eq) < SAFE && (eq <= 0 || Math.abs(mm * RATIO_SCALE_F) < I64_BOUND_F)
}

/** Zeroed margin columns of n rows. */
export function newMarginColumns(n: number): MarginColumns {
  return {
    account: new Uint32Array(n),
    market: new Uint32Array(n),
    equity: new BigInt64Array(n),
    maintenanceMargin: new BigInt64Array(n),
    marginRatioPpm: new BigInt64Array(n),
    liquidatable: new Uint8Array(n),
    status: new Uint8Array(n),
  }
}

export function marginColumns(rows: MarginRow[]): MarginColumns {
  const n = rows.length
  const out = newMarginColumns(n)
  for (let i = 0; i < n; i++) {
    const r = rows[i] as MarginRow
    out.status[i] = r.overflow ? 1 : 0
    out.account[i] = r.account
    out.market[i] = r.market
    out.equity[i] = r.equity
    out.maintenanceMargin[i] = r.maintenanceMargin
    out.marginRatioPpm[i] = r.marginRatioPpm
    out.liquidatable[i] = r.liquidatable ? 1 : 0
  }
  return out
}

/**
 * uPnL and MM of slot s of market mi at the current mark, exact. `fu`/`fm` are the fast-path
 * results (NaN when not exact); the reference computes the rest, uPnL first as in Rust.
 */
export function exactUpnlMm(
  v: StoreView,
  mi: number,
  s: number,
  fu: number,
  fm: number,
  ctx: (e: unknown) => unknown,
): [bigint, bigint] {
  const mk = v.markets[mi] as Market
  const col = v.positions[mi] as MarketPositions
  const q = BigInt(col.qty[s] as number)
  const c = col.cost[s] as bigint
  try {
    const u = fu === fu ? BigInt(fu) : mk.upnl(q, c)
    const m = fm === fm ? BigInt(fm) : mk.maintenanceMargin(q, c)
    return [u, m]
  } catch (e) {
    throw ctx(e)
  }
}

/**
 * Cross totals of every account at the current marks: (Σ uPnL, Σ MM) over cross positions,
 * plus the isolated rows (checked like Rust even when `onIsolated` is null). One pass over the
 * columns, market by market, slot by slot.
 */
function crossTotals(v: StoreView, onIsolated: IsolatedSink | null): Totals {
  const n = v.accountsLen
  const tot: Totals = {
    upnl: new Float64Array(n),
    mm: new Float64Array(n),
    big: new Uint8Array(n),
    bigUpnl: new Map(),
    bigMm: new Map(),
  }
  const { upnl, mm, big } = tot
  const fast = fastPathsEnabled()
  for (let mi = 0; mi < v.markets.length; mi++) {
    const mk = v.markets[mi] as Market
    const col = v.positions[mi] as MarketPositions
    const x = mk.markF
    const accs = col.account
    const qty = col.qty
    const costF = col.costF
    const isolated = col.isolated
    const len = col.len
    for (let s = 0; s < len; s++) {
      const a = accs[s] as number
      let fu = NaN
      let fm = NaN
      if (fast) {
        fu = upnlF(mk, qty[s] as number, costF[s] as number, x)
        fm = mmF(mk, qty[s] as number, costF[s] as number, x)
      }
      if (isolated[s] === 1) {
        isolatedRow(v, mi, s, fu, fm, onIsolated)
        continue
      }
      if (fu === fu && fm === fm && big[a] === 0) {
        const nu = (upnl[a] as number) + fu
        const nmm = (mm[a] as number) + fm
        if (Math.abs(nu) < SAFE && Math.abs(nmm) < SAFE) {
          upnl[a] = nu
          mm[a] = nmm
          continue
        }
      }
      addCrossBig(v, tot, mi, s, fu, fm)
    }
  }
  return tot
}

/** crossTotals for an isolated position: its row to `onIsolated` (checked even when null). */
function isolatedRow(
  v: StoreView,
  mi: number,
  s: number,
  fu: number,
  fm: number,
  onIsolated: IsolatedSink | null,
): void {
  const mk = v.markets[mi] as Market
  const col = v.positions[mi] as MarketPositions
  const a = col.account[s] as number
  if (fu === fu && fm === fm) {
    const imF = col.isolatedMarginF[s] as number
    const eq = imF + fu
    if (Math.abs(imF) < SAFE && rowSafeF(eq, fm)) {
      // No error possible: the row is only needed when it is reported.
      if (onIsolated !== null) onIsolated(a, mi, null, eq, fm)
      return
    }
  }
  const ctx = (e: unknown): unknown => withContext(e, `account ${v.ids[a]}, market ${mk.symbol}`)
  const [u, m] = exactUpnlMm(v, mi, s, fu, fm, ctx)
  let row: MarginRow
  try {
    const eq = add(col.isolatedMargin[s] as bigint, u, 'isolated equity')
    row = marginRowOrOverflow(a, mi, eq, m, true)
  } catch (e) {
    throw ctx(e)
  }
  if (onIsolated !== null) onIsolated(a, mi, row, NaN, NaN)
}

/** crossTotals for a cross position whose sums leave the exact doubles: the account's totals
 * move to BigInt (with Rust's checks) from here on. */
function addCrossBig(
  v: StoreView,
  tot: Totals,
  mi: number,
  s: number,
  fu: number,
  fm: number,
): void {
  const mk = v.markets[mi] as Market
  const a = (v.positions[mi] as MarketPositions).account[s] as number
  const { upnl, mm, big, bigUpnl, bigMm } = tot
  let u: bigint
  let m: bigint
  if (fu === fu && fm === fm) {
    u = BigInt(fu)
    m = BigInt(fm)
  } else {
    const ctx = (e: unknown): unknown => withContext(e, `account ${v.ids[a]}, market ${mk.symbol}`)
    ;[u, m] = exactUpnlMm(v, mi, s, fu, fm, ctx)
  }
  if (big[a] === 0) {
    big[a] = 1
    bigUpnl.set(a, BigInt(upnl[a] as number))
    bigMm.set(a, BigInt(mm[a] as number))
  }
  try {
    bigUpnl.set(a, add(bigUpnl.get(a) as bigint, u, 'account uPnL'))
    bigMm.set(a, add(bigMm.get(a) as bigint, m, 'account maintenance margin'))
  } catch (e) {
    throw withContext(e, `account ${v.ids[a]}, market ${mk.symbol}`)
  }
}

/** The cross row of account a from the totals, exactly as Rust builds it (with its errors). */
function crossRowExact(v: StoreView, tot: Totals, a: number, hasPositions: boolean): MarginRow {
  const u = tot.big[a] === 1 ? (tot.bigUpnl.get(a) as bigint) : BigInt(tot.upnl[a] as number)
  const m = tot.big[a] === 1 ? (tot.bigMm.get(a) as bigint) : BigInt(tot.mm[a] as number)
  try {
    const eq = add(v.balance[a] as bigint, u, 'equity')
    return marginRowOrOverflow(a, CROSS, eq, m, hasPositions)
  } catch (e) {
    throw withContext(e, `account ${v.ids[a]}`)
  }
}

/**
 * Row j of `out` (equity, MM, ratio, liquidatable, status): account_rows for account a, with its
 * errors; equity or MM outside i64 is an OVERFLOW row when `orOverflow`, else cross_row's error.
 */
export function writeCrossRow(
  v: StoreView,
  a: number,
  out: MarginColumns,
  j: number,
  fast: boolean,
  orOverflow: boolean,
): void {
  out.status[j] = 0
  const refs = v.refs[a]
  const np = refs === undefined ? 0 : refs.length >> 1
  let hasCross = false
  // Exact number sums while `exact`; BigInt sums (with Rust's checks) from the first value
  // that is not exact or would leave the 2^53 range.
  let exact = true
  let fu = 0
  let fm = 0
  let bu = 0n
  let bm = 0n
  for (let i = 0; i < np; i++) {
    const m = (refs as number[])[2 * i] as number
    const s = (refs as number[])[2 * i + 1] as number
    const col = v.positions[m] as MarketPositions
    if (col.isolated[s] === 1) continue
    hasCross = true
    const mk = v.markets[m] as Market
    const q = col.qty[s] as number
    const c = col.costF[s] as number
    const pu = fast ? upnlF(mk, q, c, mk.markF) : NaN
    const pm = fast ? mmF(mk, q, c, mk.markF) : NaN
    if (exact && pu === pu && pm === pm) {
      const nu = fu + pu
      const nm = fm + pm
      if (Math.abs(nu) < SAFE && Math.abs(nm) < SAFE) {
        fu = nu
        fm = nm
        continue
      }
    }
    if (exact) {
      exact = false
      bu = BigInt(fu)
      bm = BigInt(fm)
    }
    try {
      // Rust order: uPnL, its sum, MM, its sum.
      bu = add(
        bu,
        pu === pu ? BigInt(pu) : mk.upnl(BigInt(q), col.cost[s] as bigint),
        'account uPnL',
      )
      bm = add(
        bm,
        pm === pm ? BigInt(pm) : mk.maintenanceMargin(BigInt(q), col.cost[s] as bigint),
        'account maintenance margin',
      )
    } catch (e) {
      throw withContext(e, `account ${v.ids[a]}`)
    }
  }
  if (exact) {
    if (writeRowF(out, j, v.balanceF[a] as number, fu, fm, hasCross)) return
    bu = BigInt(fu)
    bm = BigInt(fm)
  }
  writeRowBig(v, a, out, j, bu, bm, hasCross, orOverflow)
}

/** writeCrossRow's finish on BigInt sums: row j as cross_row builds it, with its errors, or
 * the OVERFLOW row (SPEC §5.5) when `orOverflow`. */
function writeRowBig(
  v: StoreView,
  a: number,
  out: MarginColumns,
  j: number,
  upnl: bigint,
  mm: bigint,
  hasCross: boolean,
  orOverflow: boolean,
): void {
  let r: MarginRow
  try {
    const eq = add(v.balance[a] as bigint, upnl, 'equity')
    r = orOverflow
      ? marginRowOrOverflow(a, CROSS, eq, mm, hasCross)
      : marginRow(a, CROSS, eq, mm, hasCross)
  } catch (e) {
    throw withContext(e, `account ${v.ids[a]}`)
  }
  out.status[j] = r.overflow ? 1 : 0
  out.equity[j] = r.equity
  out.maintenanceMargin[j] = r.maintenanceMargin
  out.marginRatioPpm[j] = r.marginRatioPpm
  out.liquidatable[j] = r.liquidatable ? 1 : 0
}

/** writeCrossRow's finish on exact doubles (balance, Σ uPnL, Σ MM): row j written and true, or
 * false when equity or MM·10^6 would leave the 2^53 range (the BigInt row then decides). */
function writeRowF(
  out: MarginColumns,
  j: number,
  bal: number,
  fu: number,
  fm: number,
  hasCross: boolean,
): boolean {
  const eq = bal + fu
  const p = fm * RATIO_SCALE_F
  if (!(Math.abs(bal) < SAFE && Math.abs(eq) < SAFE && Math.abs(p) < SAFE)) return false
  out.equity[j] = BigInt(eq)
  out.maintenanceMargin[j] = BigInt(fm)
  out.marginRatioPpm[j] = eq > 0 ? BigInt(ceilDivF(p, eq)) : -1n
  out.liquidatable[j] = hasCross && eq <= fm ? 1 : 0
  return true
}

/**
 * Engine::sweep after the binding's conversions (SPEC §5): every liquidatable cross account and
 * isolated position, worst first; with `w` (a checked positive ppm), also those at or past that
 * margin ratio that are not liquidatable; then the OVERFLOW rows (SPEC §5.5).
 */
export function sweepRows(v: StoreView, w: bigint | null): MarginColumns {
  const wF = w === null ? NaN : Number(w)
  const wExact = w !== null && wF < SAFE
  const liquidatable: MarginRow[] = []
  const warnings: MarginRow[] = []
  const overflow: MarginRow[] = []
  // ratio ≥ w ⇔ MM·10^6 ≥ w·equity (cross-multiplied); equity ≤ 0 is unbounded.
  const warn = (r: MarginRow): boolean =>
    w !== null &&
    !r.liquidatable &&
    r.maintenanceMargin > 0n &&
    (r.equity <= 0n || r.maintenanceMargin * RATIO_SCALE >= w * r.equity)
  /** The same test on exact numbers of a row known not to fail (see rowSafeF). */
  const warnF = (eq: number, mm: number): boolean => {
    if (w === null || eq <= mm || mm <= 0) return false
    if (eq <= 0) return true
    const l = mm * RATIO_SCALE_F
    const r = wF * eq
    if (wExact && l < SAFE && r < SAFE) return l >= r
    return BigInt(mm) * RATIO_SCALE >= w * BigInt(eq)
  }
  const place = (r: MarginRow): void => {
    if (r.overflow) overflow.push(r)
    else if (r.liquidatable) liquidatable.push(r)
    else if (warn(r)) warnings.push(r)
  }
  // Isolated rows as the pass meets them (Rust collects them all first; placing cannot fail,
  // so the order of placement is immaterial — both lists are sorted by a total order).
  const tot = crossTotals(v, (a, mi, r, eq, mm) => {
    if (r !== null) place(r)
    else if (eq <= mm || warnF(eq, mm)) place(marginRowF(a, mi, eq, mm, true))
  })
  const fast = fastPathsEnabled()
  for (let a = 0; a < v.accountsLen; a++) {
    const refs = v.refs[a]
    if (v.alive[a] !== 1 || refs === undefined || refs.length === 0) continue
    // Skip the row build for the common healthy account quickly.
    if (tot.big[a] === 0 ? tot.mm[a] === 0 : tot.bigMm.get(a) === 0n) continue // only isolated positions
    if (fast && tot.big[a] === 0) {
      const bal = v.balanceF[a] as number
      const eq = bal + (tot.upnl[a] as number)
      const mm = tot.mm[a] as number
      if (Math.abs(bal) < SAFE && rowSafeF(eq, mm)) {
        if (eq <= mm || warnF(eq, mm)) place(marginRowF(a, CROSS, eq, mm, true))
        continue
      }
    }
    place(crossRowExact(v, tot, a, true))
  }
  const cmp = (x: MarginRow, y: MarginRow): number => worseFirst(v, x, y)
  liquidatable.sort(cmp)
  warnings.sort(cmp)
  overflow.sort(cmp)
  return marginColumns(liquidatable.concat(warnings, overflow))
}

/**
 * Worst first: higher margin ratio (equity ≤ 0 counts as unbounded, lower equity worse), then
 * larger shortfall, then account id, then market symbol. Ratios compare by cross-multiplication,
 * never by division.
 */
export function worseFirst(v: StoreView, a: MarginRow, b: MarginRow): number {
  let c: number
  const ae = a.equityF
  const be = b.equityF
  const am = a.maintenanceMarginF
  const bm = b.maintenanceMarginF
  // Exact doubles where every product/difference stays below 2^53, else BigInt.
  const numeric = ae === ae && be === be && am === am && bm === bm
  const ap = ae === ae ? ae > 0 : a.equity > 0n
  const bp = be === be ? be > 0 : b.equity > 0n
  if (!ap && !bp)
    c = ae === ae && be === be ? (ae < be ? -1 : ae > be ? 1 : 0) : cmpBig(a.equity, b.equity)
  else if (!ap) c = -1
  else if (!bp) c = 1
  else {
    // a worse ⇔ mm_a/eq_a > mm_b/eq_b ⇔ mm_a·eq_b > mm_b·eq_a
    const l = am * be
    const r = bm * ae
    if (numeric && Math.abs(l) < SAFE && Math.abs(r) < SAFE) c = r < l ? -1 : r > l ? 1 : 0
    else c = cmpBig(b.maintenanceMargin * a.equity, a.maintenanceMargin * b.equity)
  }
  if (c !== 0) return c
  // larger shortfall (MM − equity) first
  const sa = am - ae
  const sb = bm - be
  if (numeric && Math.abs(sa) < SAFE && Math.abs(sb) < SAFE) c = sb < sa ? -1 : sb > sa ? 1 : 0
  else c = cmpBig(b.maintenanceMargin - b.equity, a.maintenanceMargin - a.equity)
  if (c !== 0) return c
  c = cmpBytes(v.ids[a.account] as string, v.ids[b.account] as string)
  if (c !== 0) return c
  const sym = (r: MarginRow): string =>
    r.market === CROSS ? '' : (v.markets[r.market] as Market).symbol
  return cmpBytes(sym(a), sym(b))
}
