// Number fast paths for the hot per-position formulas (uPnL and maintenance margin at grid 0).
// Each kernel returns the exact result of its BigInt reference in market.ts as a double, or NaN
// when it cannot guarantee exactness; callers then use the reference. Why the results are exact:
//  - every input is an integer of magnitude < 2^53 (checked), so it is represented exactly;
//  - an IEEE sum/difference/product of exact integers is rounded monotonically, so if the rounded
//    result has magnitude < 2^53 the exact result does too, is representable, and equals it;
//  - `n % d` is always exact, so (n − n % d) / d is the exact truncated quotient, corrected to
//    floor/ceil from the remainder's sign exactly as num.rs does.
// A kernel that succeeds also implies the Rust core raised no overflow (all its intermediates are
// then far inside i128), so skipping the checked reference changes no error either.
// test/fallback-unit.test.ts proves identity against the reference on random and edge inputs.

import { Entry, Linear, SAFE, type Market } from './market.js'

let enabled = true

/** Test hook: with false, every computation takes the BigInt reference path. */
export function setFastPaths(on: boolean): void {
  enabled = on
}

export function fastPathsEnabled(): boolean {
  return enabled
}

/** 10^e as exact doubles, e ≤ 22. */
export const P10F = new Float64Array(23)
for (let e = 0, p = 1; e <= 22; e++, p *= 10) P10F[e] = p

// Exact floor/ceil division of integers |n| < 2^53 by d ≠ 0. When |n| + 2|d| < 2^53 the double
// quotient is within 1 of the true one (relative error 2^-53 on a quotient below 2^53), the product
// q·d is exact (|q·d| ≤ |n| + 2|d|), so the remainder is exact and corrects q. Otherwise `%`, which
// is exact but slower (fmod), gives the truncated quotient, corrected as num.rs does.

/** floor(n / d) for exact integers |n| < 2^53, d > 0 (num.rs divFloor). */
export function floorDivF(n: number, d: number): number {
  if (d > 0 && Math.abs(n) + 2 * d < SAFE) {
    let q = Math.floor(n / d)
    const r = n - q * d
    if (r < 0) q -= 1
    else if (r >= d) q += 1
    return q
  }
  const r = n % d
  const q = (n - r) / d
  return r < 0 ? q - 1 : q
}

/** ceil(n / d) for exact integers |n| < 2^53, d > 0 (num.rs divCeil). */
export function ceilDivF(n: number, d: number): number {
  if (d > 0 && Math.abs(n) + 2 * d < SAFE) {
    let q = Math.ceil(n / d)
    const r = n - q * d
    if (r > 0) q += 1
    else if (r <= -d) q -= 1
    return q + 0 // Math.ceil(-0.5) is -0
  }
  const r = n % d
  const q = (n - r) / d
  return r > 0 ? q + 1 : q
}

/** Market.inverseValue at grid 0: ceil(q·size·10^t / x). */
export function inverseValueF(m: Market, q: number, x: number): number {
  const n0 = q * m.sizeF
  if (!(Math.abs(n0) < SAFE)) return NaN
  const t = m.invValueExp
  if (t >= 0) {
    const n = n0 * (P10F[t] as number)
    if (!(Math.abs(n) < SAFE) || x === 0) return NaN
    return ceilDivF(n, x)
  }
  const d = x * (P10F[-t] as number)
  if (!(Math.abs(d) < SAFE) || d === 0) return NaN
  return ceilDivF(n0, d)
}

/** Market.upnlAt(qty, cost, x, 0); q, c, x are the position's qty, cost basis and the price. */
export function upnlF(m: Market, q: number, c: number, x: number): number {
  if (!(Math.abs(c) < SAFE)) return NaN
  if (m.kind === Linear) {
    const v = q * x
    if (!(Math.abs(v) < SAFE)) return NaN
    const diff = v - c
    if (!(Math.abs(diff) < SAFE)) return NaN
    const s = m.linAtomsExp
    if (s >= 0) {
      const r = diff * (P10F[s] as number)
      return Math.abs(r) < SAFE ? r : NaN
    }
    return floorDivF(diff, P10F[-s] as number)
  }
  const value = inverseValueF(m, q, x)
  if (value !== value) return NaN
  const u = c - value
  return Math.abs(u) < SAFE ? u : NaN
}

/** Market.marginValueAt(qty, cost, x, 0) when exact and non-negative, else NaN. */
export function marginValueF(m: Market, q: number, c: number, x: number): number {
  let v: number
  if (m.basis === Entry) v = Math.abs(c)
  else if (m.kind === Linear) v = Math.abs(q) * x
  else v = inverseValueF(m, Math.abs(q), x)
  return v >= 0 && v < SAFE ? v : NaN
}

/** Market.tierIndex(v, 0) for an exact integer 0 ≤ v < 2^53 (floors ≥ 1 round monotonically). */
export function tierIndexF(m: Market, v: number): number {
  const fl = m.floorsF
  let t = 0
  for (let i = 1; i < fl.length; i++) {
    if ((fl[i] as number) <= v) t = i
    else break
  }
  return t
}

/**
 * Market.maintenanceMarginAt(qty, cost, x, 0) = ceil((v·mmr − cum) · 10^E). For E < 0 with
 * D = 10^−E, v = vh·D + vl and cum = ch·D + cl (precomputed), so
 * ceil((v·mmr − cum)/D) = (vh·mmr − ch) + ceil((vl·mmr − cl)/D) with every term exact.
 */
export function mmF(m: Market, q: number, c: number, x: number): number {
  const v = marginValueF(m, q, c, x)
  if (v !== v) return NaN
  const t = tierIndexF(m, v)
  const mmr = m.mmrF[t] as number
  const E = m.mmExp
  if (E >= 0) {
    const cum = m.cumF[t] as number
    const prod = v * mmr
    if (cum !== cum || !(prod < SAFE)) return NaN
    const r = (prod - cum) * (P10F[E] as number)
    return Math.abs(r) < SAFE ? r : NaN
  }
  const ch = m.cumHiF[t] as number
  const cl = m.cumLoF[t] as number
  if (ch !== ch) return NaN
  const D = P10F[-E] as number
  const vh = floorDivF(v, D)
  const vl = v - vh * D
  const lo = vl * mmr
  const hi = vh * mmr
  if (!(lo < SAFE) || !(hi < SAFE)) return NaN
  const r = hi - ch + ceilDivF(lo - cl, D)
  return Math.abs(r) < SAFE ? r : NaN
}

/**
 * Sufficient test that an entry price lies inside liq.domain(m, qty, 0), i.e. that the position's
 * value at the entry fits i64 atoms: the value bound below is < 2^53 < i64::MAX. (Linear: the
 * domain is p·|q|·10^s ≤ i64::MAX; inverse: |q|·size·10^t ≤ i64::MAX·p; prices are ≥ 1 and
 * ≤ PRICE_MAX_TICKS, checked before.) When false, the caller evaluates the domain exactly.
 */
export function entryInDomainF(m: Market, q: number, p: number): boolean {
  const aq = Math.abs(q)
  if (m.kind === Linear) {
    const s = m.linAtomsExp
    return aq * p * (P10F[s > 0 ? s : 0] as number) < SAFE
  }
  const t = m.invValueExp
  return aq * m.sizeF * (P10F[t > 0 ? t : 0] as number) < SAFE
}

/** Insert-only set of (u32, u32) pairs (open addressing), for duplicate detection in a batch. */
export class PairSet {
  private readonly ka: Uint32Array
  private readonly kb: Uint32Array
  private readonly mask: number

  constructor(n: number) {
    let size = 16
    while (size < 2 * n) size *= 2
    this.ka = new Uint32Array(size)
    this.kb = new Uint32Array(size)
    this.mask = size - 1
  }

  /** Adds (a, b); false when it was already present. a must be < 2^32 − 1. */
  add(a: number, b: number): boolean {
    let h = Math.imul(a ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)
    h ^= h >>> 15
    let i = h & this.mask
    const a1 = (a + 1) >>> 0
    for (;;) {
      const k = this.ka[i] as number
      if (k === 0) {
        this.ka[i] = a1
        this.kb[i] = b
        return true
      }
      if (k === a1 && this.kb[i] === b) return false
      i = (i + 1) & this.mask
    }
  }
}
