// Mirror of crates/core/src/liq_map.rs: the liquidation map (SPEC §18). Per price bucket of one
// market, the long and short quantity and notional whose conservative liquidation price (SPEC §6)
// lies in it — cross positions with the other marks fixed, isolated ones on their own margin.
// The prices are liquidationPrice's (liq.ts), so exactly those positionRisks reports.

import type { LiquidationMapColumns } from '../core.js'
import { DeleverageError, ErrorCode, withContext } from './errors.js'
import { liquidationPrice } from './liq.js'
import { checkPrice, type Market } from './market.js'
import { add, divCeil, sub, toI64 } from './num.js'

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

function checkMapArgs(from: bigint, to: bigint, buckets: number): void {
  checkPrice(from, 'from')
  checkPrice(to, 'to')
  if (from >= to) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `from must be below to, got ${from} and ${to} ticks`,
    )
  }
  if (buckets === 0 || buckets > MAP_BUCKETS_MAX || BigInt(buckets) > to - from) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `buckets must be within 1..=${MAP_BUCKETS_MAX} (and at most to − from = ${to - from} ticks), got ${buckets}`,
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
  const b = add(st.balance(a), othersU, 'bankruptcy base')
  return sub(b, othersMm, 'liquidation base')
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
  checkMapArgs(from, to, buckets)
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
      const p = liquidationPrice(mk, q, c, base)
      if (p === null) continue
      const x = p.conservative
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
