// Mirror of crates/core/src/liq_map.rs: the liquidation map (SPEC §18). Per price bucket of one
// market, the long and short quantity and notional whose conservative liquidation price (SPEC §6)
// lies in it — cross positions with the other marks fixed, isolated ones on their own margin.
// The prices are liquidationPrice's (liq.ts), so exactly those positionRisks reports.

import type { LiquidationMapColumns } from '../core.js'
import { DeleverageError, ErrorCode, withContext } from './errors.js'
import { bankruptcyBase, gridDomain, liquidationBase, liquidationPrice } from './liq.js'
import { checkPrice, decimal, Linear, Mark, type Market } from './market.js'
import { add, divCeil, divFloor, pow10, sub, toI64 } from './num.js'

/** Most buckets a map may ask for. */
export const MAP_BUCKETS_MAX = 100_000

/** What the map reads of the engine's book. */
export interface MapStore {
  markets: readonly Market[]
  positions: readonly MapRows[]
  /** The account's (market, slot) references, flat, in market order. */
  refs(a: number): readonly number[]
  balance(a: number): bigint
  id(a: number): string
}

export interface MapRows {
  len: number
  account: Uint32Array
  qty: Float64Array
  cost: BigInt64Array
  isolated: Uint8Array
  isolatedMargin: BigInt64Array
}

/** The bucket of price x: 0 below from, n + 1 at or above to, else 1 + floor((x − from)·n / (to − from)). */
export function bucketOf(x: bigint, from: bigint, to: bigint, n: number): number {
  if (x < from) return 0
  if (x >= to) return n + 1
  return 1 + Number(((x - from) * BigInt(n)) / (to - from))
}

function checkMapArgs(mk: Market, from: bigint, to: bigint, buckets: number): void {
  checkPrice(from, mk.priceDecimals, 'from')
  checkPrice(to, mk.priceDecimals, 'to')
  const px = (x: bigint) => decimal(x, mk.priceDecimals)
  if (from >= to) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `from must be below to, got ${px(from)} and ${px(to)} (${from} and ${to} ticks)`,
    )
  }
  if (buckets === 0 || buckets > MAP_BUCKETS_MAX || BigInt(buckets) > to - from) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `buckets must be within 1..=${MAP_BUCKETS_MAX} and at most the ${to - from} ticks of ${px(1n)} between from and to, got ${buckets}`,
    )
  }
}

/** base of SPEC §6 for account a's cross position in market m (liq_map.rs `cross_base`). */
function crossBase(st: MapStore, a: number, m: number): bigint {
  const refs = st.refs(a)
  let upnl = 0n
  let mm = 0n
  let ownU = 0n
  let ownMm = 0n
  for (let i = 0; i < refs.length; i += 2) {
    const pm = refs[i] as number
    const s = refs[i + 1] as number
    const col = st.positions[pm] as MapRows
    if (col.isolated[s] === 1) continue
    const mk = st.markets[pm] as Market
    const q = BigInt(col.qty[s] as number)
    const c = col.cost[s] as bigint
    const u = mk.upnl(q, c)
    const mmi = mk.maintenanceMargin(q, c)
    upnl = add(upnl, u, 'account uPnL')
    mm = add(mm, mmi, 'account maintenance margin')
    if (pm === m) {
      ownU = u
      ownMm = mmi
    }
  }
  const othersU = sub(upnl, ownU, 'uPnL of the other positions')
  const othersMm = sub(mm, ownMm, 'maintenance margin of the other positions')
  return liquidationBase(bankruptcyBase(st.balance(a), othersU), othersMm)
}

/** The slack bounds of one run (liq_map.rs `Slack`): (A·j + B)/D bounds the predicate's slack
 * from above, within 2 atoms, so A·j + B ≤ 0 proves liquidatable and A·j + B ≥ 2D proves not. */
interface Slack {
  a: bigint
  b: bigint
  twoD: bigint
}

const R8 = pow10(8)

/** liq_map.rs `Slack::of_run` (no i128 limit here: where Rust's products overflow it takes the
 * predicate's search, which finds the same price). */
function slackOf(m: Market, q: bigint, c: bigint, base: bigint, j: bigint): Slack {
  const aq = q < 0n ? -q : q
  const t = m.tierIndex(aq * m.tickSize * j, 0)
  const e = m.linAtomsExp - 8
  const [d, f] = e < 0 ? [pow10(-e), 1n] : [1n, pow10(e)]
  // A = q·F·g·(10^8 ∓ mmr): q·10^8 − |q|·mmr per lot (liq_map.rs `SlackTerms`)
  const perLot = R8 + (q > 0n ? -1n : 1n) * (m.mmr[t] as bigint)
  const c0 = (m.maintAmount[t] as bigint) - c * R8
  return { a: q * (f * m.tickSize * perLot), b: base * d + f * c0, twoD: 2n * d }
}

function decides(s: Slack, j: bigint): boolean | null {
  const v = s.a * j + s.b
  return v <= 0n ? true : v >= s.twoD ? false : null
}

/** liq_map.rs `Slack::edge`: the settled run's liquidation edge, or null. One division: the
 * last (long) or first (short) j with A·j + B ≤ 0, kept when the bounds settle its neighbour on
 * the safe side as not liquidatable. */
function edgeOf(s: Slack, long: boolean): bigint | null {
  let e: bigint
  let next: bigint
  if (long && s.a > 0n) {
    e = divFloor(-s.b, s.a)
    next = e + 1n
  } else if (!long && s.a < 0n) {
    e = divCeil(s.b, -s.a)
    next = e - 1n
  } else return null
  return decides(s, next) === false ? e : null
}

/** liq_map.rs `runs`: the tier runs of a linear mark-basis position in closed form, verified;
 * null where the closed form does not hold (the predicate's search then runs). */
function runsOf(m: Market, q: bigint, lo: bigint, hi: bigint): Array<[bigint, bigint]> | null {
  if (m.floors.length === 1) return [[lo, hi]]
  const g = m.tickSize
  const aq = q < 0n ? -q : q
  const tierOf = (j: bigint) => m.tierIndex(aq * j * g, 0)
  const segs: Array<[bigint, bigint]> = []
  let a = lo
  for (;;) {
    const t = tierOf(a)
    const next = m.floors[t + 1]
    let b = next === undefined ? hi : divCeil(next, aq * g) - 1n
    if (b > hi) b = hi
    if (b < a || tierOf(b) !== t || (b < hi && tierOf(b + 1n) === t)) return null
    segs.push([a, b])
    if (b === hi) return segs
    a = b + 1n
  }
}

/** liq_map.rs `settled_search`: undefined when a probe lies between the bounds. */
function settledSearch(
  m: Market,
  q: bigint,
  c: bigint,
  base: bigint,
  segs: Array<[bigint, bigint]>,
): bigint | null | undefined {
  const long = q > 0n
  for (let i = 0; i < segs.length; i++) {
    const [a, b] = segs[long ? segs.length - 1 - i : i] as [bigint, bigint]
    const s = slackOf(m, q, c, base, a)
    const [near, far] = long ? [a, b] : [b, a]
    const hit = decides(s, near)
    if (hit === null) return undefined
    if (!hit) continue
    const all = decides(s, far)
    if (all === null) return undefined
    return all ? far : (edgeOf(s, long) ?? undefined)
  }
  return null
}

/** liq_map.rs `liquidation_trigger`: the conservative liquidation price, in ticks, or null. */
function liquidationTrigger(m: Market, q: bigint, c: bigint, base: bigint): bigint | null {
  if (m.kind === Linear && m.basis === Mark && q !== 0n) {
    const d = gridDomain(m, q)
    if (d === null) return null
    const segs = runsOf(m, q, d[0], d[1])
    const t = segs === null ? undefined : settledSearch(m, q, c, base, segs)
    if (t !== undefined) return t === null ? null : t * m.tickSize
  }
  const p = liquidationPrice(m, q, c, base)
  return p === null ? null : p.conservative
}

/** The liquidation map of market m over [from, to) ticks in `buckets` buckets (SPEC §18). */
export function liquidationMapOf(
  st: MapStore,
  m: number,
  from: bigint,
  to: bigint,
  buckets: number,
): LiquidationMapColumns {
  const mk = st.markets[m]
  if (mk === undefined) {
    throw new DeleverageError(ErrorCode.UnknownMarket, `no market with index ${m}`)
  }
  checkMapArgs(mk, from, to, buckets)
  const n = buckets + 2
  const sums = [0, 1, 2, 3].map(() => new Array<bigint>(n).fill(0n))
  const [lq, ln, sq, sn] = sums as [bigint[], bigint[], bigint[], bigint[]]
  const longCount = new Uint32Array(n)
  const shortCount = new Uint32Array(n)
  const col = st.positions[m] as MapRows
  for (let s = 0; s < col.len; s++) {
    const a = col.account[s] as number
    const q = BigInt(col.qty[s] as number)
    const c = col.cost[s] as bigint
    try {
      const base = col.isolated[s] === 1 ? (col.isolatedMargin[s] as bigint) : crossBase(st, a, m)
      const x = liquidationTrigger(mk, q, c, base)
      if (x === null) continue
      const v = mk.valueAtoms(q, x)
      const b = bucketOf(x, from, to, buckets)
      if (q > 0n) {
        lq[b] = (lq[b] as bigint) + q
        ln[b] = (ln[b] as bigint) + v
        longCount[b] = (longCount[b] as number) + 1
      } else {
        sq[b] = (sq[b] as bigint) - q
        sn[b] = (sn[b] as bigint) + v
        shortCount[b] = (shortCount[b] as number) + 1
      }
    } catch (e) {
      throw withContext(e, `account ${st.id(a)}, market ${mk.symbol}`)
    }
  }
  const fit = (v: bigint[], what: string) => BigInt64Array.from(v, (x) => toI64(x, what))
  const w = to - from
  const nb = BigInt(buckets)
  const edges = new BigInt64Array(buckets + 1)
  for (let i = 0; i <= buckets; i++) edges[i] = from + divCeil(BigInt(i) * w, nb)
  return {
    edges,
    longQty: fit(lq, 'liquidation map long quantity (does not fit i64)'),
    longNotional: fit(ln, 'liquidation map long notional (does not fit i64)'),
    longCount,
    shortQty: fit(sq, 'liquidation map short quantity (does not fit i64)'),
    shortNotional: fit(sn, 'liquidation map short notional (does not fit i64)'),
    shortCount,
  }
}
