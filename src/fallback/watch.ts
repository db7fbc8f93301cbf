// Mirror of crates/core/src/watch.rs: the liquidation watch (SPEC §14). Per account and market a
// band of mark ticks within which none of the account's scopes can change liquidatable status,
// proven by exact evaluation at the band's ends; per market two heaps of band ends, so a move
// visits only the accounts whose band it leaves, which are re-checked exactly. Writes mark the
// accounts they touch for the same re-check. The statuses are always exact, so what the watch
// reports equals a full sweep's answer; the bands only decide what is re-checked.

import { CROSS } from '../core.js'
import type { Columns } from './waterfall/index.js'
import { withContext } from './errors.js'
import { domain } from './liq.js'
import { Entry as EntryBasis, Linear, type Market } from './market.js'
import {
  I128_MAX,
  I128_MIN,
  I64_MAX,
  PRICE_MAX_TICKS,
  RATE_SCALE,
  add,
  divCeil,
  pow10,
  sub,
} from './num.js'

/** What the watch reads from the position store (implemented by JsEngine). */
export interface WatchStore {
  readonly markets: readonly Market[]
  readonly ids: readonly string[]
  accountsLen(): number
  alive(a: number): boolean
  refs(a: number): readonly number[]
  col(m: number): Columns
  balance(a: number): bigint
}

/** Rounding slack of uPnL − MM against its exact value (SPEC §14.2). */
const MARGIN = 3n

/** Min-heap of band ends (key, account, generation) on parallel typed arrays. */
class EntryHeap {
  key = new Float64Array(16)
  acc = new Uint32Array(16)
  gen = new Uint32Array(16)
  len = 0

  push(k: number, a: number, g: number): void {
    if (this.len === this.key.length) {
      // Grow by an eighth, as the Rust heaps reserve.
      const cap = this.len + Math.max(this.len >> 3, 16)
      const k2 = new Float64Array(cap)
      k2.set(this.key)
      const a2 = new Uint32Array(cap)
      a2.set(this.acc)
      const g2 = new Uint32Array(cap)
      g2.set(this.gen)
      this.key = k2
      this.acc = a2
      this.gen = g2
    }
    let i = this.len++
    while (i > 0) {
      const p = (i - 1) >> 1
      if ((this.key[p] as number) <= k) break
      this.key[i] = this.key[p] as number
      this.acc[i] = this.acc[p] as number
      this.gen[i] = this.gen[p] as number
      i = p
    }
    this.key[i] = k
    this.acc[i] = a
    this.gen[i] = g
  }

  /** Remove the smallest entry (the caller read it at index 0). */
  pop(): void {
    const n = --this.len
    if (n === 0) return
    const k = this.key[n] as number
    const a = this.acc[n] as number
    const g = this.gen[n] as number
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= n) break
      if (c + 1 < n && (this.key[c + 1] as number) < (this.key[c] as number)) c++
      if ((this.key[c] as number) >= k) break
      this.key[i] = this.key[c] as number
      this.acc[i] = this.acc[c] as number
      this.gen[i] = this.gen[c] as number
      i = c
    }
    this.key[i] = k
    this.acc[i] = a
    this.gen[i] = g
  }

  /** Keep the entries `keep` accepts, and restore the heap order. */
  retain(keep: (a: number, g: number) => boolean): void {
    const ks: number[] = []
    const as: number[] = []
    const gs: number[] = []
    for (let i = 0; i < this.len; i++) {
      if (keep(this.acc[i] as number, this.gen[i] as number)) {
        ks.push(this.key[i] as number)
        as.push(this.acc[i] as number)
        gs.push(this.gen[i] as number)
      }
    }
    this.len = 0
    for (let i = 0; i < ks.length; i++) this.push(ks[i] as number, as[i] as number, gs[i] as number)
  }
}

/** A popped live entry, kept to restore the heap if the update fails. */
interface Popped {
  m: number
  upper: boolean
  key: number
  a: number
  g: number
}

/** One account's exact re-check: bands (market, lo, hi), its liquidatable scopes, the scopes
 * whose equity or MM leaves i64, and the i64 room (market, lo, hi) of each position not pinned. */
interface Scan {
  bands: Array<[number, bigint, bigint]>
  liq: number[]
  over: number[]
  room: Array<[number, bigint, bigint]>
}

const fitsI64 = (x: bigint): boolean => x <= I64_MAX && x >= -I64_MAX - 1n

/**
 * watch.rs i64_room: the mark range inside which a position's |uPnL| + MM stays within `share`
 * atoms (so its scope's equity and MM cannot leave i64 there, SPEC §5.5); null when it is already
 * past its share (pinned). Linear |uPnL| + MM ≤ 2·V·10^s + 2, V = |q|·x + |cost|; inverse
 * ≤ 2·|cost| + 2·value + 2, value ≤ |q|·size·10^t / x + 1.
 */
function i64Room(mk: Market, q: bigint, c: bigint, share: bigint): [bigint, bigint] | null {
  const x0 = mk.mark
  let aq = q < 0n ? -q : q
  if (aq < 1n) aq = 1n
  const ac = c < 0n ? -c : c
  const room = share - 2n
  if (room < 0n) return null
  if (mk.kind === Linear) {
    const s = mk.quoteExp()
    const vmax = s >= 0 ? room / (2n * pow10(s)) : (room * pow10(-s)) / 2n
    const x = (vmax - ac) / aq
    if (vmax < ac || x < x0) return null
    return [0n, x > I64_MAX ? I64_MAX : x]
  }
  const w = (room - 2n * ac) / 2n
  if (w <= 1n) return null
  const t = mk.inverseExp()
  const n0 = aq * mk.contractSize
  const n = t >= 0 ? n0 * pow10(t) : divCeil(n0, pow10(-t))
  const x = divCeil(n, w - 1n)
  return x <= x0 ? [x, I64_MAX] : null
}

function budget(g: bigint): bigint {
  return g > 0n ? g - 1n : -g
}

function fitsI128(x: bigint): boolean {
  return x <= I128_MAX && x >= I128_MIN
}

/** watch.rs guess_ticks: a first guess of the ticks within which uPnL − MM moves by b atoms. */
function guessTicks(mk: Market, q: bigint, x0: bigint, b: bigint, mmr: bigint): bigint {
  const aq = q < 0n ? -q : q
  const rate = RATE_SCALE + mmr
  // Rust's checked i128 products: a product outside i128 means "no guess" (take the cap).
  const checked = (x: bigint | null, y: bigint): bigint | null => {
    if (x === null) return null
    const r = x * y
    return fitsI128(r) ? r : null
  }
  const scaled = (
    num: bigint | null,
    den: bigint | null,
    e: number,
    div: bigint,
  ): bigint | null => {
    if (num === null || den === null) return null
    if (e >= 0) {
      const d = checked(den, pow10(e))
      return d === null ? null : num / d / div
    }
    const n = checked(num, pow10(-e))
    return n === null ? null : n / den / div
  }
  let d: bigint | null
  let cap: bigint
  if (mk.kind === Linear) {
    d = scaled(checked(b, RATE_SCALE), checked(aq, rate), mk.quoteExp(), 1n)
    cap = x0
  } else {
    const num = checked(checked(b, x0 * x0), RATE_SCALE)
    const den = checked(checked(aq, mk.contractSize), rate)
    d = scaled(num, den, mk.inverseExp(), 4n)
    cap = x0 / 2n
  }
  return d === null || d > cap ? cap : d
}

/** watch.rs band: [lo, hi] ∋ x0 within which uPnL − MM moves by at most `bud` the wrong way. */
function band(
  mk: Market,
  q: bigint,
  c: bigint,
  x0: bigint,
  f0: bigint,
  bud: bigint,
  liq: boolean,
): [bigint, bigint] {
  if (bud < 2n * MARGIN) return [x0, x0]
  let dlo: bigint
  let dhi: bigint
  try {
    ;[dlo, dhi] = domain(mk, q, 0)
  } catch {
    return [x0, x0]
  }
  if (x0 < dlo || x0 > dhi) return [x0, x0]
  const tier = (x: bigint): number => mk.tierIndex(mk.marginValueAt(q, c, x, 0), 0)
  let t0: number
  try {
    t0 = tier(x0)
  } catch {
    return [x0, x0]
  }
  // With continuous MM, uPnL − MM is monotone over the domain: the favourable end is open.
  const monotone = mk.continuousMm
  const tiered = !monotone && mk.basis !== EntryBasis && mk.floors.length > 1
  const freeUp = q > 0n !== liq
  const guess = guessTicks(mk, q, x0, bud - 2n * MARGIN, mk.mmr[t0] as bigint)
  const holds = (x1: bigint): boolean => {
    try {
      if (tiered && tier(x1) !== t0) return false
      const f1 = sub(mk.upnlAt(q, c, x1, 0), mk.maintenanceMarginAt(q, c, x1, 0), 'watch band')
      const change = liq ? sub(f1, f0, 'watch band') : sub(f0, f1, 'watch band')
      return (change > 0n ? change : 0n) + MARGIN <= bud
    } catch {
      return false
    }
  }
  const end = (up: boolean): bigint => {
    let d = guess
    for (;;) {
      if (d <= 0n) return x0
      let x1 = up ? x0 + d : x0 - d
      if (up && x1 > dhi) x1 = dhi
      if (!up && x1 < dlo) x1 = dlo
      if (x1 === x0) return x0
      if (holds(x1)) return x1
      d = (x1 > x0 ? x1 - x0 : x0 - x1) / 2n
    }
  }
  if (monotone) return freeUp ? [end(false), PRICE_MAX_TICKS] : [1n, end(true)]
  return [end(false), end(true)]
}

/** watch.rs band_of: the band at the mark; [x0, x0] if uPnL − MM leaves i128. */
function bandOf(
  mk: Market,
  q: bigint,
  c: bigint,
  u: bigint,
  mm: bigint,
  bud: bigint,
  liq: boolean,
): [bigint, bigint] {
  const f0 = u - mm
  return fitsI128(f0) ? band(mk, q, c, mk.mark, f0, bud, liq) : [mk.mark, mk.mark]
}

/** Per-account set of markets (CROSS for the cross account). */
class ScopeSet {
  readonly by = new Map<number, Set<number>>()
  has(a: number, m: number): boolean {
    return this.by.get(a)?.has(m) ?? false
  }
  add(a: number, m: number): void {
    let s = this.by.get(a)
    if (s === undefined) {
      s = new Set()
      this.by.set(a, s)
    }
    s.add(m)
  }
  delete(a: number, m: number): void {
    const s = this.by.get(a)
    if (s === undefined) return
    s.delete(m)
    if (s.size === 0) this.by.delete(a)
  }
  markets(a: number): number[] {
    return [...(this.by.get(a) ?? [])]
  }
  /** (account, market) pairs in order. */
  sorted(): Array<[number, number]> {
    const out: Array<[number, number]> = []
    for (const a of [...this.by.keys()].sort((x, y) => x - y)) {
      for (const m of [...(this.by.get(a) as Set<number>)].sort((x, y) => x - y)) out.push([a, m])
    }
    return out
  }
}

export interface WatchChange {
  account: number
  market: number
  liquidatable: boolean
}

export class Watch {
  private built = false
  private gen = new Uint32Array(16)
  private dirty = new Uint8Array(16)
  private dirtyList: number[] = []
  /** Per market: upper band ends (min-heap), lower band ends (min-heap of negated keys). */
  private hi: EntryHeap[] = []
  private lo: EntryHeap[] = []
  readonly liq = new ScopeSet()
  /** Scopes whose equity or MM leaves i64 (status OVERFLOW): derived, like the index. */
  readonly over = new ScopeSet()
  /** Per market: the mark range in which no position there can leave i64 (watch.rs Index.room). */
  private room: Array<[bigint, bigint]> = []
  private readonly reported = new ScopeSet()
  private readonly touched = new ScopeSet()
  /** Accounts the last `update` re-checked (every account when it built the index); watch.rs's
   * `last_rechecked`, for the benchmark and the parity test of re-check counts. */
  lastRechecked = 0

  constructor(private readonly store: WatchStore) {}

  isBuilt(): boolean {
    return this.built
  }

  /** The scopes last reported liquidatable, ascending (part of the state: the next report diffs against it). */
  reportedScopes(): Array<[number, number]> {
    return this.reported.sorted()
  }

  /**
   * A restored engine's watch: the report as it was, the index to be built on first use. The
   * build then touches what differs from this report, so the next update reports exactly what it
   * would have without the snapshot.
   */
  restoreReport(reported: ReadonlyArray<readonly [number, number]>): void {
    for (const [a, m] of reported) {
      this.reported.add(a, m)
      this.liq.add(a, m)
    }
  }

  private size(n: number): void {
    if (n <= this.gen.length) return
    let cap = this.gen.length
    while (cap < n) cap *= 2
    const g = new Uint32Array(cap)
    g.set(this.gen)
    this.gen = g
    const d = new Uint8Array(cap)
    d.set(this.dirty)
    this.dirty = d
  }

  private heaps(m: number): void {
    while (this.hi.length <= m) {
      this.hi.push(new EntryHeap())
      this.lo.push(new EntryHeap())
    }
    while (this.room.length <= m) this.room.push([0n, I64_MAX])
  }

  private narrow(m: number, lo: bigint, hi: bigint): void {
    this.heaps(m)
    const r = this.room[m] as [bigint, bigint]
    if (lo > r[0]) r[0] = lo
    if (hi < r[1]) r[1] = hi
  }

  /** watch_room_moved: a move past a market's room makes its accounts dirty; returns the undo. */
  private roomMoved(moves: Array<[number, bigint, bigint]>): Array<[number, [bigint, bigint]]> {
    const undo: Array<[number, [bigint, bigint]]> = []
    for (const [m, , nw] of moves) {
      this.heaps(m)
      const r = this.room[m] as [bigint, bigint]
      if (nw < r[0] || nw > r[1]) {
        undo.push([m, [r[0], r[1]]])
        this.room[m] = [0n, I64_MAX]
        const col = this.store.col(m)
        for (let s = 0; s < col.len; s++) this.markDirty(col.account[s] as number)
      }
    }
    return undo
  }

  private markDirty(a: number): void {
    this.size(a + 1)
    if (this.dirty[a] === 0) {
      this.dirty[a] = 1
      this.dirtyList.push(a)
    }
  }

  /** A write changed account a: re-check it before the watch is next read. */
  touch(a: number): void {
    if (this.built) this.markDirty(a)
  }

  private live(a: number, g: number): boolean {
    return a < this.gen.length && this.gen[a] === g
  }

  /** Index.pop_crossed: pop live entries whose band the move leaves; their accounts get dirty. */
  private popCrossed(m: number, old: bigint, nw: bigint, popped: Popped[]): void {
    if (m >= this.hi.length) return
    const x = Number(nw)
    if (nw > old) {
      const h = this.hi[m] as EntryHeap
      while (h.len > 0 && (h.key[0] as number) < x) {
        const a = h.acc[0] as number
        const g = h.gen[0] as number
        const k = h.key[0] as number
        h.pop()
        if (this.live(a, g)) {
          popped.push({ m, upper: true, key: k, a, g })
          this.markDirty(a)
        }
      }
    } else if (nw < old) {
      const h = this.lo[m] as EntryHeap
      while (h.len > 0 && -(h.key[0] as number) > x) {
        const a = h.acc[0] as number
        const g = h.gen[0] as number
        const k = h.key[0] as number
        h.pop()
        if (this.live(a, g)) {
          popped.push({ m, upper: false, key: k, a, g })
          this.markDirty(a)
        }
      }
    }
  }

  private push(m: number, lo: bigint, hi: bigint, a: number, positions: number): void {
    this.heaps(m)
    const g = this.gen[a] as number
    const h = this.hi[m] as EntryHeap
    const l = this.lo[m] as EntryHeap
    if (hi < PRICE_MAX_TICKS) h.push(Number(hi), a, g)
    if (lo > 1n) l.push(-Number(lo), a, g)
    const limit = 2 * positions + 1024
    if (h.len > limit || l.len > limit) {
      const keep = (x: number, y: number): boolean => this.live(x, y)
      h.retain(keep)
      l.retain(keep)
    }
  }

  /** watch.rs scan_account: the exact re-check of one account at the current marks. */
  private scanAccount(a: number, out: Scan): void {
    out.bands = []
    out.liq = []
    out.over = []
    out.room = []
    const st = this.store
    if (!st.alive(a)) return
    const refs = st.refs(a)
    const id = st.ids[a] as string
    let upnl = 0n
    let mm = 0n
    const cross: Array<[number, number, bigint, bigint]> = []
    for (let i = 0; i < refs.length; i += 2) {
      const m = refs[i] as number
      const s = refs[i + 1] as number
      const mk = st.markets[m] as Market
      const col = st.col(m)
      const q = BigInt(col.qty[s] as number)
      const c = col.cost[s] as bigint
      try {
        const u = mk.upnl(q, c)
        const mmi = mk.maintenanceMargin(q, c)
        if (col.isolated[s] === 1) {
          const eq = add(col.isolatedMargin[s] as bigint, u, 'isolated equity')
          if (!fitsI64(eq) || !fitsI64(mmi)) {
            // OVERFLOW: no exact band, any move of this mark re-checks it.
            out.over.push(m)
            out.bands.push([m, mk.mark, mk.mark])
            continue
          }
          if (eq <= mmi) out.liq.push(m)
          const g = eq - mmi
          const im = col.isolatedMargin[s] as bigint
          const r = i64Room(mk, q, c, I64_MAX - (im < 0n ? -im : im))
          if (r === null) {
            out.bands.push([m, mk.mark, mk.mark])
          } else {
            out.room.push([m, r[0], r[1]])
            const [lo, hi] = bandOf(mk, q, c, u, mmi, budget(g), g <= 0n)
            out.bands.push([m, lo, hi])
          }
        } else {
          upnl = add(upnl, u, 'account uPnL')
          mm = add(mm, mmi, 'account maintenance margin')
          cross.push([m, s, u, mmi])
        }
      } catch (e) {
        throw withContext(e, `account ${id}, market ${mk.symbol}`)
      }
    }
    if (cross.length > 0) this.scanCross(a, upnl, mm, cross, out)
    out.bands.sort((x, y) => x[0] - y[0])
  }

  /** scanAccount's cross scope, from the sums of its cross positions: whether it is
   * liquidatable or OVERFLOW, and each position's band and i64 room (watch.rs scan_cross). */
  private scanCross(
    a: number,
    upnl: bigint,
    mm: bigint,
    cross: Array<[number, number, bigint, bigint]>,
    out: Scan,
  ): void {
    const st = this.store
    const id = st.ids[a] as string
    let eq: bigint
    try {
      eq = add(st.balance(a), upnl, 'equity')
    } catch (e) {
      throw withContext(e, `account ${id}`)
    }
    if (!fitsI64(eq) || !fitsI64(mm)) {
      out.over.push(CROSS)
      for (const [m] of cross) {
        const x = (st.markets[m] as Market).mark
        out.bands.push([m, x, x])
      }
      return
    }
    if (eq <= mm) out.liq.push(CROSS)
    const g = eq - mm
    const b = budget(g)
    let w = 0n
    for (const p of cross) w += p[3] > 1n ? p[3] : 1n
    const byWeight = fitsI128(b * w)
    // The sums stay in i64 while every position stays within its share; one past it pins all.
    const bal = st.balance(a)
    const roomShare = (I64_MAX - (bal < 0n ? -bal : bal)) / BigInt(cross.length)
    const rooms: Array<[number, bigint, bigint]> = []
    let pinned = false
    for (const [m, s] of cross) {
      const col = st.col(m)
      const r = i64Room(
        st.markets[m] as Market,
        BigInt(col.qty[s] as number),
        col.cost[s] as bigint,
        roomShare,
      )
      if (r === null) pinned = true
      else rooms.push([m, r[0], r[1]])
    }
    if (!pinned) out.room.push(...rooms)
    for (const [m, s, u, mmi] of cross) {
      const mk = st.markets[m] as Market
      const col = st.col(m)
      const share = byWeight ? (b * (mmi > 1n ? mmi : 1n)) / w : b / BigInt(cross.length)
      const [lo, hi] = pinned
        ? [mk.mark, mk.mark]
        : bandOf(mk, BigInt(col.qty[s] as number), col.cost[s] as bigint, u, mmi, share, g <= 0n)
      out.bands.push([m, lo, hi])
    }
  }

  /** Build the index at the current marks; on error nothing changes. */
  build(): void {
    const st = this.store
    const n = st.accountsLen()
    const scans: Array<[number, Scan]> = []
    const scan: Scan = { bands: [], liq: [], over: [], room: [] }
    for (let a = 0; a < n; a++) {
      this.scanAccount(a, scan)
      if (scan.bands.length > 0 || scan.liq.length > 0 || scan.over.length > 0)
        scans.push([a, { bands: scan.bands, liq: scan.liq, over: scan.over, room: scan.room }])
    }
    this.gen = new Uint32Array(Math.max(16, n))
    this.dirty = new Uint8Array(Math.max(16, n))
    this.dirtyList = []
    this.hi = []
    this.lo = []
    this.room = []
    this.heaps(st.markets.length - 1)
    const old = this.liq.sorted()
    for (const [a, m] of old) this.liq.delete(a, m)
    this.over.by.clear()
    for (const [a, s] of scans) {
      for (const [m, lo, hi] of s.bands) {
        if (hi < PRICE_MAX_TICKS) (this.hi[m] as EntryHeap).push(Number(hi), a, 0)
        if (lo > 1n) (this.lo[m] as EntryHeap).push(-Number(lo), a, 0)
      }
      for (const m of s.liq) this.liq.add(a, m)
      for (const m of s.over) this.over.add(a, m)
      for (const [m, lo, hi] of s.room) this.narrow(m, lo, hi)
    }
    // The symmetric difference of the old and new sets is what may have changed.
    for (const [a, m] of old) if (!this.liq.has(a, m)) this.touched.add(a, m)
    for (const [a, m] of this.liq.sorted()) this.touched.add(a, m)
    this.lastRechecked = n
    this.built = true
  }

  /** Re-check every dirty account; all or nothing (on error they stay dirty). */
  refresh(): void {
    if (!this.built || this.dirtyList.length === 0) return
    const list = this.dirtyList.slice().sort((x, y) => x - y)
    const scans: Scan[] = []
    for (const a of list) {
      const s: Scan = { bands: [], liq: [], over: [], room: [] }
      this.scanAccount(a, s)
      scans.push(s)
    }
    this.size(this.store.accountsLen())
    for (const a of list) {
      this.dirty[a] = 0
      this.gen[a] = ((this.gen[a] as number) + 1) >>> 0
    }
    this.dirtyList = []
    this.lastRechecked = list.length
    for (let i = 0; i < list.length; i++) {
      const a = list[i] as number
      for (const [m, lo, hi] of (scans[i] as Scan).bands)
        this.push(m, lo, hi, a, this.store.col(m).len)
    }
    for (const sc of scans) for (const [m, lo, hi] of sc.room) this.narrow(m, lo, hi)
    for (const a of list) {
      for (const m of this.liq.markets(a)) {
        this.liq.delete(a, m)
        this.touched.add(a, m)
      }
      for (const m of this.over.markets(a)) this.over.delete(a, m)
    }
    for (let i = 0; i < list.length; i++)
      for (const m of (scans[i] as Scan).over) this.over.add(list[i] as number, m)
    for (let i = 0; i < list.length; i++) {
      const a = list[i] as number
      for (const m of (scans[i] as Scan).liq) {
        this.liq.add(a, m)
        this.touched.add(a, m)
      }
    }
  }

  /** set_marks with the index built: accounts whose band a move left become dirty. */
  moved(moves: Array<[number, bigint, bigint]>): void {
    if (!this.built) return
    const popped: Popped[] = []
    for (const [m, old, nw] of moves) this.popCrossed(m, old, nw, popped)
    this.roomMoved(moves)
  }

  /** The part of update_marks after the marks moved; on error the caller restores the marks. */
  update(moves: Array<[number, bigint, bigint]>): void {
    this.lastRechecked = 0
    if (!this.built) {
      this.build()
      return
    }
    const before = this.dirtyList.length
    const popped: Popped[] = []
    for (const [m, old, nw] of moves) this.popCrossed(m, old, nw, popped)
    const rooms = this.roomMoved(moves)
    try {
      this.refresh()
    } catch (e) {
      for (const [m, r] of rooms) this.room[m] = r
      for (const p of popped)
        (p.upper ? (this.hi[p.m] as EntryHeap) : (this.lo[p.m] as EntryHeap)).push(p.key, p.a, p.g)
      for (const a of this.dirtyList.splice(before)) this.dirty[a] = 0
      throw e
    }
  }

  /** Changes since the last report, by (account, market); the report is then current. */
  report(): WatchChange[] {
    const out: WatchChange[] = []
    for (const [a, m] of this.touched.sorted()) {
      const now = this.liq.has(a, m)
      if (now !== this.reported.has(a, m)) {
        if (now) this.reported.add(a, m)
        else this.reported.delete(a, m)
        out.push({ account: a, market: m, liquidatable: now })
      }
    }
    this.touched.by.clear()
    return out
  }
}
