// Mirror of crates/core/src/watch.rs: the liquidation watch (SPEC §14). Per account and market a
// band of mark ticks within which none of the account's scopes can change liquidatable status,
// proven by exact evaluation at the band's ends; per market two heaps of band ends, so a move
// visits only the accounts whose band it leaves, which are re-checked exactly. Writes mark the
// accounts they touch for the same re-check. The statuses are always exact, so what the watch
// reports equals a full sweep's answer; the bands only decide what is re-checked.

import { CROSS } from '../core.js'
import type { Columns } from './waterfall.js'
import { withContext } from './errors.js'
import { domain } from './liq.js'
import { fastPathsEnabled, marginValueF, mmF, tierIndexF, upnlF } from './fast.js'
import { Entry as EntryBasis, Linear, SAFE, type Market } from './market.js'
import { I128_MAX, I128_MIN, PRICE_MAX_TICKS, RATE_SCALE, add, pow10, sub, toI64 } from './num.js'

/** What the watch reads from the position store (implemented by JsEngine). */
export interface WatchStore {
  readonly markets: readonly Market[]
  readonly ids: readonly string[]
  accountsLen(): number
  alive(a: number): boolean
  refs(a: number): readonly number[]
  /** The columns with the number mirrors the fast paths read (costF, isolatedMarginF). */
  col(m: number): Columns & { readonly costF: Float64Array; readonly isolatedMarginF: Float64Array }
  balance(a: number): bigint
}

/** scanFast's per-position scratch: uPnL and MM as exact doubles. */
let U = new Float64Array(16)
let MM = new Float64Array(16)

/** Rounding slack of uPnL − MM against its exact value (SPEC §14.2). */
const MARGIN = 3n
const PMAX = Number(PRICE_MAX_TICKS)

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

/** One account's exact re-check: bands (market, lo, hi) and its liquidatable scopes. */
interface Scan {
  /** (market, lo, hi) triples in market order. */
  bands: number[]
  liq: number[]
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
  const scaled = (num: bigint | null, den: bigint | null, e: number, div: bigint): bigint | null => {
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

/** i64::MAX as a double (2^63, one above it: every bound below keeps a margin far wider). */
const I64_MAX_F = 2 ** 63

/**
 * floor(r) for a double r that approximates a positive rational R within 10^-15 relative: exact
 * when r < 2^40 and r is not within 0.01 of an integer (the error is then below 0.001); NaN when
 * it cannot tell.
 */
function floorSure(r: number): number {
  if (!(r >= 0 && r < 2 ** 40)) return NaN
  const f = Math.floor(r)
  return r - f < 0.01 || f + 1 - r < 0.01 ? NaN : f
}

/** liq.domain's upper end for a linear market on doubles (its lower end is 1); NaN when unsure. */
function linearDomainHiF(mk: Market, aq: number): number {
  const s = mk.quoteExp()
  if (-s > 18) return NaN // the reference's i64::MAX · 10^−s may leave i128 (an error there)
  const r = (I64_MAX_F * 10 ** -s) / aq
  if (r > PMAX * (1 + 1e-9)) return PMAX
  const f = floorSure(r)
  return f === f && f < PMAX ? f : NaN
}

/** guessTicks for a linear market on doubles, when provably the same integer; NaN when unsure. */
function guessTicksF(mk: Market, aq: number, x0: number, b: bigint, mmr: bigint): number {
  const s = mk.quoteExp()
  const bn = Number(b)
  const den = aq * (1e8 + Number(mmr))
  // the reference's checked products: b·10^8 and |q|·rate fit i128; den·10^s (s ≥ 0) or
  // b·10^8·10^−s (s < 0) may not, and then the guess is the cap x0
  const wide = s >= 0 ? den * 10 ** s : bn * 1e8 * 10 ** -s
  if (wide > 1.6e38) return wide > 1.8e38 ? x0 : NaN
  const r = s >= 0 ? (bn * 1e8) / (den * 10 ** s) : (bn * 1e8 * 10 ** -s) / den
  if (r * (1 - 1e-12) > x0 + 1) return x0
  const f = floorSure(r)
  return f === f ? (f > x0 ? x0 : f) : NaN
}

/** The band `band` found last: [bandLo, bandHi] (module scratch, so no pair is allocated per band). */
let bandLo = 0
let bandHi = 0
const SAFE_BIG = BigInt(SAFE)

/**
 * watch.rs band: [lo, hi] ∋ x0 within which uPnL − MM moves by at most `bud` the wrong way; the
 * result is left in bandLo/bandHi. Prices are ≤ 10^15 ticks, exact as doubles. f0 = uPnL − MM at
 * x0: `f0n` is it as an exact double (NaN when it is not) and `f0` as a bigint (null when f0n is
 * exact). Each trial price is evaluated with the number fast paths (fast.ts) when they are exact,
 * else with the BigInt reference, so the band is the Rust one either way.
 */
function band(mk: Market, q: bigint, c: bigint, qn: number, cn: number, x0: number, f0n: number, f0: bigint | null, bud: bigint, liq: boolean): void {
  bandLo = bandHi = x0
  if (bud < 2n * MARGIN) return
  const fast = fastPathsEnabled()
  const linear = fast && mk.kind === Linear
  let dlo = 1
  let dhi = linear ? linearDomainHiF(mk, Math.abs(qn)) : NaN
  if (dhi !== dhi) {
    try {
      const d = domain(mk, q, 0)
      dlo = Number(d[0])
      dhi = Number(d[1])
    } catch {
      return
    }
  }
  if (x0 < dlo || x0 > dhi) return
  const tier = (x: number): number => {
    const v = fast ? marginValueF(mk, qn, cn, x) : NaN
    return v === v ? tierIndexF(mk, v) : mk.tierIndex(mk.marginValueAt(q, c, BigInt(x), 0), 0)
  }
  let t0: number
  try {
    t0 = tier(x0)
  } catch {
    return
  }
  // With continuous MM, uPnL − MM is monotone over the domain: the favourable end is open.
  const monotone = mk.continuousMm
  const tiered = !monotone && mk.basis !== EntryBasis && mk.floors.length > 1
  const freeUp = qn > 0 !== liq
  const gf = linear ? guessTicksF(mk, Math.abs(qn), x0, bud - 2n * MARGIN, mk.mmr[t0] as bigint) : NaN
  const guess = gf === gf ? gf : Number(guessTicks(mk, q, x0 === mk.markF ? mk.mark : BigInt(x0), bud - 2n * MARGIN, mk.mmr[t0] as bigint))
  // change + MARGIN ≤ bud, for an exact change below 2^53: change ≤ bud − MARGIN
  const room = bud - MARGIN
  const roomN = room < SAFE_BIG ? Number(room) : Infinity
  const holds = (x1: number): boolean => {
    if (fast && f0n === f0n) {
      const v = tiered ? marginValueF(mk, qn, cn, x1) : 0
      if (v === v) {
        if (tiered && tierIndexF(mk, v) !== t0) return false
        const u1 = upnlF(mk, qn, cn, x1)
        const m1 = mmF(mk, qn, cn, x1)
        const f1 = u1 - m1
        if (Math.abs(f1) < SAFE) {
          const change = liq ? f1 - f0n : f0n - f1
          if (Math.abs(change) < SAFE) return (change > 0 ? change : 0) <= roomN
        }
      }
    }
    try {
      const X = BigInt(x1)
      if (tiered && mk.tierIndex(mk.marginValueAt(q, c, X, 0), 0) !== t0) return false
      const F0 = f0 ?? BigInt(f0n)
      const f1 = sub(mk.upnlAt(q, c, X, 0), mk.maintenanceMarginAt(q, c, X, 0), 'watch band')
      const change = liq ? sub(f1, F0, 'watch band') : sub(F0, f1, 'watch band')
      return (change > 0n ? change : 0n) + MARGIN <= bud
    } catch {
      return false
    }
  }
  const end = (up: boolean): number => {
    let d = guess
    for (;;) {
      if (d <= 0) return x0
      let x1 = up ? x0 + d : x0 - d
      if (up && x1 > dhi) x1 = dhi
      if (!up && x1 < dlo) x1 = dlo
      if (x1 === x0) return x0
      if (holds(x1)) return x1
      d = Math.floor((x1 > x0 ? x1 - x0 : x0 - x1) / 2)
    }
  }
  if (monotone) {
    if (freeUp) (bandLo = end(false)), (bandHi = PMAX)
    else (bandLo = 1), (bandHi = end(true))
    return
  }
  bandLo = end(false)
  bandHi = end(true)
}

/** watch.rs band_of: the band at the mark; [x0, x0] if uPnL − MM leaves i128. */
function bandOf(mk: Market, q: bigint, c: bigint, qn: number, cn: number, u: bigint, mm: bigint, bud: bigint, liq: boolean): void {
  const f0 = u - mm
  if (fitsI128(f0)) band(mk, q, c, qn, cn, mk.markF, f0 > -SAFE_BIG && f0 < SAFE_BIG ? Number(f0) : NaN, f0, bud, liq)
  else bandLo = bandHi = mk.markF
}

/** Per-account set of markets (CROSS for the cross account). */
class ScopeSet {
  readonly by = new Map<number, Set<number>>()
  has(a: number, m: number): boolean {
    return this.by.get(a)?.has(m) ?? false
  }
  add(a: number, m: number): void {
    let s = this.by.get(a)
    if (s === undefined) this.by.set(a, (s = new Set()))
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
  /** Accounts the last update re-checked exactly (the bench's diagnostic, as watch.rs keeps). */
  lastRechecked = 0
  private built = false
  private gen = new Uint32Array(16)
  private dirty = new Uint8Array(16)
  private dirtyList: number[] = []
  /** Per market: upper band ends (min-heap), lower band ends (min-heap of negated keys). */
  private hi: EntryHeap[] = []
  private lo: EntryHeap[] = []
  readonly liq = new ScopeSet()
  private readonly reported = new ScopeSet()
  private readonly touched = new ScopeSet()

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

  private push(m: number, lo: number, hi: number, a: number, positions: number): void {
    this.heaps(m)
    const g = this.gen[a] as number
    const h = this.hi[m] as EntryHeap
    const l = this.lo[m] as EntryHeap
    if (hi < PMAX) h.push(hi, a, g)
    if (lo > 1) l.push(-lo, a, g)
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
    const st = this.store
    if (!st.alive(a)) return
    if (!(fastPathsEnabled() && this.scanFast(a, st.refs(a), out))) this.scanExact(a, st.refs(a), out)
  }

  /**
   * scanAccount on exact doubles, for an account whose every uPnL, MM and sum is an exact double
   * below 2^53 (fast.ts); false (and nothing written) when one is not. Same bands and statuses as
   * scanExact: the values are the same integers, and no check that could fail there can fail here.
   */
  private scanFast(a: number, refs: readonly number[], out: Scan): boolean {
    const st = this.store
    const n = refs.length >> 1
    if (U.length < n) (U = new Float64Array(2 * n)), (MM = new Float64Array(2 * n))
    let upnl = 0
    let mm = 0
    let cross = 0
    for (let i = 0; i < n; i++) {
      const m = refs[2 * i] as number
      const s = refs[2 * i + 1] as number
      const mk = st.markets[m] as Market
      const col = st.col(m)
      const u = upnlF(mk, col.qty[s] as number, col.costF[s] as number, mk.markF)
      const pm = mmF(mk, col.qty[s] as number, col.costF[s] as number, mk.markF)
      if (u !== u || pm !== pm) return false
      U[i] = u
      MM[i] = pm
      if (col.isolated[s] === 1) {
        const im = col.isolatedMarginF[s] as number
        const eq = im + u
        if (!(Math.abs(im) < SAFE && Math.abs(eq) < SAFE && Math.abs(eq - pm) < SAFE)) return false
      } else {
        upnl += u
        mm += pm
        cross++
      }
    }
    const bal = cross > 0 ? st.balance(a) : 0n
    if (bal >= SAFE_BIG || bal <= -SAFE_BIG) return false
    const eq = Number(bal) + upnl
    if (!(Math.abs(upnl) < SAFE && Math.abs(mm) < SAFE && Math.abs(eq) < SAFE && Math.abs(eq - mm) < SAFE)) return false
    // Cross budgets are shared by weight in BigInt (the products pass 2^53); isolated ones are own.
    const g = eq - mm
    const b = BigInt(g > 0 ? g - 1 : -g)
    let wB = 0n
    for (let i = 0; i < n; i++) if (st.col(refs[2 * i] as number).isolated[refs[2 * i + 1] as number] !== 1) wB += BigInt((MM[i] as number) > 1 ? (MM[i] as number) : 1)
    const byWeight = fitsI128(b * wB)
    for (let i = 0; i < n; i++) {
      const m = refs[2 * i] as number
      const s = refs[2 * i + 1] as number
      const mk = st.markets[m] as Market
      const col = st.col(m)
      const qn = col.qty[s] as number
      const u = U[i] as number
      const pm = MM[i] as number
      if (col.isolated[s] === 1) {
        const ge = (col.isolatedMarginF[s] as number) + u - pm
        if (ge <= 0) out.liq.push(m)
        const f0 = u - pm
        band(mk, BigInt(qn), col.cost[s] as bigint, qn, col.costF[s] as number, mk.markF, Math.abs(f0) < SAFE ? f0 : NaN, Math.abs(f0) < SAFE ? null : BigInt(u) - BigInt(pm), BigInt(ge > 0 ? ge - 1 : -ge), ge <= 0)
      } else {
        const share = byWeight ? (b * BigInt(pm > 1 ? pm : 1)) / wB : b / BigInt(cross)
        const f0 = u - pm
        band(mk, BigInt(qn), col.cost[s] as bigint, qn, col.costF[s] as number, mk.markF, Math.abs(f0) < SAFE ? f0 : NaN, Math.abs(f0) < SAFE ? null : BigInt(u) - BigInt(pm), share, g <= 0)
      }
      out.bands.push(m, bandLo, bandHi)
    }
    // refs are in market order; the cross scope is reported after the isolated markets (scanExact)
    if (cross > 0 && eq <= mm) out.liq.push(CROSS)
    return true
  }

  /** scanAccount in BigInt, with Rust's checks (and errors) at every step. */
  private scanExact(a: number, refs: readonly number[], out: Scan): void {
    const st = this.store
    const id = st.ids[a] as string
    let upnl = 0n
    let mm = 0n
    const bands: Array<[number, number, number]> = []
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
          // margin_row's checks
          toI64(eq, 'equity (does not fit i64)')
          toI64(mmi, 'maintenance margin (does not fit i64)')
          if (eq <= mmi) out.liq.push(m)
          const g = eq - mmi
          bandOf(mk, q, c, col.qty[s] as number, col.costF[s] as number, u, mmi, budget(g), g <= 0n)
          bands.push([m, bandLo, bandHi])
        } else {
          upnl = add(upnl, u, 'account uPnL')
          mm = add(mm, mmi, 'account maintenance margin')
          cross.push([m, s, u, mmi])
        }
      } catch (e) {
        throw withContext(e, `account ${id}, market ${mk.symbol}`)
      }
    }
    if (cross.length > 0) {
      let eq: bigint
      try {
        eq = add(st.balance(a), upnl, 'equity')
        toI64(eq, 'equity (does not fit i64)')
        toI64(mm, 'maintenance margin (does not fit i64)')
      } catch (e) {
        throw withContext(e, `account ${id}`)
      }
      if (eq <= mm) out.liq.push(CROSS)
      const g = eq - mm
      const b = budget(g)
      let w = 0n
      for (const p of cross) w += p[3] > 1n ? p[3] : 1n
      const byWeight = fitsI128(b * w)
      for (const [m, s, u, mmi] of cross) {
        const mk = st.markets[m] as Market
        const col = st.col(m)
        const share = byWeight ? (b * (mmi > 1n ? mmi : 1n)) / w : b / BigInt(cross.length)
        bandOf(mk, BigInt(col.qty[s] as number), col.cost[s] as bigint, col.qty[s] as number, col.costF[s] as number, u, mmi, share, g <= 0n)
        bands.push([m, bandLo, bandHi])
      }
    }
    bands.sort((x, y) => x[0] - y[0])
    for (const [m, lo, hi] of bands) out.bands.push(m, lo, hi)
  }

  /** Build the index at the current marks; on error nothing changes. */
  build(): void {
    const st = this.store
    const n = st.accountsLen()
    // Scan straight into fresh heaps and sets; they replace the old ones only when all succeeded.
    const hi: EntryHeap[] = []
    const lo: EntryHeap[] = []
    for (let m = 0; m < st.markets.length; m++) hi.push(new EntryHeap()), lo.push(new EntryHeap())
    const liq: number[] = []
    const scan: Scan = { bands: [], liq: [] }
    for (let a = 0; a < n; a++) {
      this.scanAccount(a, scan)
      const b = scan.bands
      for (let k = 0; k < b.length; k += 3) {
        const m = b[k] as number
        if ((b[k + 2] as number) < PMAX) (hi[m] as EntryHeap).push(b[k + 2] as number, a, 0)
        if ((b[k + 1] as number) > 1) (lo[m] as EntryHeap).push(-(b[k + 1] as number), a, 0)
      }
      for (const m of scan.liq) liq.push(a, m)
    }
    this.gen = new Uint32Array(Math.max(16, n))
    this.dirty = new Uint8Array(Math.max(16, n))
    this.dirtyList = []
    this.hi = hi
    this.lo = lo
    const old = this.liq.sorted()
    for (const [a, m] of old) this.liq.delete(a, m)
    for (let k = 0; k < liq.length; k += 2) this.liq.add(liq[k] as number, liq[k + 1] as number)
    // The symmetric difference of the old and new sets is what may have changed.
    for (const [a, m] of old) if (!this.liq.has(a, m)) this.touched.add(a, m)
    for (const [a, m] of this.liq.sorted()) this.touched.add(a, m)
    this.built = true
    this.lastRechecked = n
  }

  /** Re-check every dirty account; all or nothing (on error they stay dirty). */
  refresh(): void {
    if (!this.built || this.dirtyList.length === 0) return
    const list = this.dirtyList.slice().sort((x, y) => x - y)
    const scans: Scan[] = []
    for (const a of list) {
      const s: Scan = { bands: [], liq: [] }
      this.scanAccount(a, s)
      scans.push(s)
    }
    this.size(this.store.accountsLen())
    for (const a of list) {
      this.dirty[a] = 0
      this.gen[a] = ((this.gen[a] as number) + 1) >>> 0
    }
    this.dirtyList = []
    for (let i = 0; i < list.length; i++) {
      const a = list[i] as number
      const b = (scans[i] as Scan).bands
      for (let k = 0; k < b.length; k += 3) this.push(b[k] as number, b[k + 1] as number, b[k + 2] as number, a, this.store.col(b[k] as number).len)
    }
    this.lastRechecked = list.length
    for (const a of list) {
      for (const m of this.liq.markets(a)) {
        this.liq.delete(a, m)
        this.touched.add(a, m)
      }
    }
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
    try {
      this.refresh()
    } catch (e) {
      for (const p of popped) (p.upper ? (this.hi[p.m] as EntryHeap) : (this.lo[p.m] as EntryHeap)).push(p.key, p.a, p.g)
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
