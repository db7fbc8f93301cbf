// Mirror of crates/core/src/adl.rs: auto-deleveraging — who on the opposite side gives up a
// position when the insurance fund cannot take the bankrupt one (SPEC §9). Exact integer scores
// compared by cross-multiplication (BigInt is exact where Rust needs 256-bit products), a total
// order, and the shortest prefix of the queue that covers the needed quantity.

import { DeleverageError, ErrorCode, withContext } from './errors.js'
import { Linear, type Market } from './market.js'
import { abs, add, cmpBig, mul } from './num.js'
import type { PositionStore } from './waterfall/index.js'
import { AdlRankingCode } from '../generated/tables.js'

// AdlRanking codes (generated from the Rust enum, whose variants say what each ranks by).
export const { Bitmex, Binance, Hyperliquid, ProRata } = AdlRankingCode

/** AdlRanking::from_code */
export function rankingFromCode(c: number): number {
  if (c === Bitmex || c === Binance || c === Hyperliquid || c === ProRata) return c
  throw new DeleverageError(
    ErrorCode.InvalidArgument,
    `ADL ranking must be 0 (bitmex), 1 (binance), 2 (hyperliquid) or 3 (prorata), got ${c}`,
  )
}

/** An opposite-side position and its score num/den (den > 0). */
export interface Candidate {
  account: number
  qty: bigint
  num: bigint
  den: bigint
  /** num/den as a double (relative error < 2^-51), to order most pairs without BigInt products. */
  score: number
  /** |qty| (≤ 10^15, exact). */
  size: number
}

export function candidate(account: number, qty: bigint, num: bigint, den: bigint): Candidate {
  return { account, qty, num, den, score: Number(num) / Number(den), size: Math.abs(Number(qty)) }
}

/** Bytewise comparison of the UTF-8 encodings (Rust `str::cmp`): the order of code points, which
 * UTF-16 units keep except that a surrogate (U+10000 and above) sorts after U+E000–U+FFFF. */
export function cmpBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i)
    let y = b.charCodeAt(i)
    if (x === y) continue
    // Lift surrogates above the rest of the BMP, as their code points are.
    if (x >= 0xd800 && x <= 0xdfff) x += 0x10000
    if (y >= 0xd800 && y <= 0xdfff) y += 0x10000
    return x < y ? -1 : 1
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0
}

/**
 * Compare a·b with c·d exactly (any signs). Rust compares the signs of the products, then the
 * magnitudes in 256 bits (reversed for negatives): exactly the order of the BigInt products.
 */
export function cmpProducts(a: bigint, b: bigint, c: bigint, d: bigint): number {
  return cmpBig(a * b, c * d)
}

/** Compare a/b with c/d (b, d > 0) exactly: a·d vs c·b. */
export function cmpFraction(a: bigint, b: bigint, c: bigint, d: bigint): number {
  return cmpProducts(a, d, c, b)
}

/**
 * Queue order: higher score first, then larger size, then account id (bytewise). The scores are
 * compared as doubles when those differ by more than their rounding (Number(bigint) and the
 * division each err by ≤ 2^-53 relative, so a gap above 2^-50 of the larger magnitude cannot
 * come from rounding), else exactly by cross-multiplication.
 */
export function queueOrder(x: Candidate, y: Candidate, ids: readonly string[]): number {
  const fx = x.score
  const fy = y.score
  const gap = fy - fx
  let c: number
  if (Math.abs(gap) > (Math.abs(fx) + Math.abs(fy)) * 1e-15) c = gap < 0 ? -1 : 1
  else if (x.num === y.num && x.den === y.den) c = 0
  else c = cmpFraction(y.num, y.den, x.num, x.den)
  return (
    c ||
    (y.size < x.size ? -1 : y.size > x.size ? 1 : 0) ||
    cmpBytes(ids[x.account] as string, ids[y.account] as string)
  )
}

/**
 * Engine::adl_candidates: every position in `market` whose side is `side` (+1 long, −1 short),
 * scored (SPEC §9.1), in slot order. (The core's `exclude` is always None.)
 */
export function adlCandidates(
  store: PositionStore,
  market: number,
  side: number,
  ranking: number,
): Candidate[] {
  const mk = store.market(market)
  const col = store.col(market)
  const out: Candidate[] = []
  const sideB = BigInt(side)
  for (let s = 0; s < col.len; s++) {
    const a = col.account[s] as number
    const q = BigInt(col.qty[s] as number)
    const c = col.cost[s] as bigint
    if ((q > 0n ? 1n : q < 0n ? -1n : 0n) !== sideB) continue
    const ctx = (e: unknown): unknown =>
      withContext(e, `ADL score of account ${store.ids[a]}, market ${mk.symbol}`)
    let upnl: bigint
    let equity: bigint
    let wallet: bigint
    let accUpnl: bigint
    let accMm: bigint
    try {
      upnl = mk.upnl(q, c)
    } catch (e) {
      throw ctx(e)
    }
    // Collateral behind the position: the isolated equity, or the account's cross state.
    if (col.isolated[s] === 1) {
      const im = col.isolatedMargin[s] as bigint
      try {
        equity = add(im, upnl, 'isolated equity')
        wallet = im
        accUpnl = upnl
        accMm = mk.maintenanceMargin(q, c)
      } catch (e) {
        throw ctx(e)
      }
    } else {
      // errors carry the account context, as account_rows does; an OVERFLOW account has no exact
      // score, so it is not a counterparty while it overflows (SPEC §5.5)
      const st = store.crossState(a)
      if (st === null) continue
      const [eq, mm] = st
      const bal = store.balance(a)
      equity = eq
      wallet = bal
      accUpnl = eq - bal
      accMm = mm
    }
    let notional: bigint
    let entryValue: bigint
    try {
      notional = mk.valueAtoms(q, mk.mark)
      if (notional < 1n) notional = 1n
      entryValue = mk.entryValueAtoms(c)
      if (entryValue < 1n) entryValue = 1n
    } catch (e) {
      throw ctx(e)
    }
    const parts = { upnl, notional, entryValue, equity, wallet, accUpnl, accMm }
    const [num, den] = adlScore(mk, ranking, parts)
    out.push(candidate(a, q, num, den))
  }
  return out
}

/** What one position's ADL score is made of (SPEC §9.1): its uPnL, notional and entry value
 * (each at least 1), the equity behind it, and its account's wallet, uPnL and MM. */
interface ScoreParts {
  upnl: bigint
  notional: bigint
  entryValue: bigint
  equity: bigint
  wallet: bigint
  accUpnl: bigint
  accMm: bigint
}

/** adl_score: the ADL score of a position under `ranking` as [num, den] (SPEC §9.1). */
function adlScore(mk: Market, ranking: number, p: ScoreParts): [bigint, bigint] {
  const { upnl, notional, entryValue, wallet, accUpnl } = p
  const eq = p.equity < 1n ? 1n : p.equity
  switch (ranking) {
    case Bitmex:
      // PnL% = uPnL/entryValue; leverage = notional/equity.
      if (upnl >= 0n) return [mul(upnl, notional, 'ADL score'), mul(entryValue, eq, 'ADL score')]
      return [mul(upnl, eq, 'ADL score'), mul(entryValue, notional, 'ADL score')]
    case Binance: {
      const num = mul(accUpnl > 0n ? accUpnl : 0n, p.accMm, 'ADL score')
      const wu = add(wallet, accUpnl, 'ADL score')
      return [num, mul(wallet > 1n ? wallet : 1n, wu > 1n ? wu : 1n, 'ADL score')]
    }
    case Hyperliquid: {
      // mark/entry from values: linear markValue/entryValue, inverse the reverse.
      const pn = mk.kind === Linear ? notional : entryValue
      const pd = mk.kind === Linear ? entryValue : notional
      return [mul(pn, notional, 'ADL score'), mul(pd, eq, 'ADL score')]
    }
    default:
      return [0n, 1n]
  }
}

/** Engine::adl_queue: the candidates in full rank order. */
export function adlQueue(
  store: PositionStore,
  market: number,
  side: number,
  ranking: number,
): Candidate[] {
  const c = adlCandidates(store, market, side, ranking)
  const ids = store.ids
  c.sort((x, y) => queueOrder(x, y, ids))
  return c
}

/**
 * Engine::adl_select: the shortest prefix of the queue whose sizes reach `need` lots (at least one
 * position), in rank order; the whole side when it never does. One pass keeps the best-ranked
 * positions seen so far that just reach `need` in a heap with the worst of them on top, so the
 * side is never sorted. The order is total (one position per account and market), so the prefix
 * is unique whatever the selection algorithm.
 */
export function adlSelect(cands: Candidate[], need: bigint, ids: readonly string[]): Candidate[] {
  const worse = (x: Candidate, y: Candidate): boolean => queueOrder(x, y, ids) > 0
  const heap: Candidate[] = []
  let total = 0n
  for (const c of cands) {
    if (total >= need && heap.length > 0 && worse(c, heap[0] as Candidate)) continue
    total += abs(c.qty)
    heap.push(c)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!worse(heap[i] as Candidate, heap[p] as Candidate)) break
      ;[heap[i], heap[p]] = [heap[p] as Candidate, heap[i] as Candidate]
      i = p
    }
    // Drop the worst while the rest still reaches `need`.
    while (heap.length > 1 && total - abs((heap[0] as Candidate).qty) >= need) {
      total -= abs((heap[0] as Candidate).qty)
      heap[0] = heap.pop() as Candidate
      const n = heap.length
      let j = 0
      for (;;) {
        const l = 2 * j + 1
        const r = l + 1
        let w = j
        if (l < n && worse(heap[l] as Candidate, heap[w] as Candidate)) w = l
        if (r < n && worse(heap[r] as Candidate, heap[w] as Candidate)) w = r
        if (w === j) break
        ;[heap[j], heap[w]] = [heap[w] as Candidate, heap[j] as Candidate]
        j = w
      }
    }
  }
  return heap.sort((x, y) => queueOrder(x, y, ids))
}

/**
 * Largest-remainder shares of `amount` over candidate sizes (total = Σ|qty| > 0): floor shares,
 * then one unit each by remainder descending, ties to the larger size, then the account id.
 * Returns [candidate index, share > 0] in candidate order. `amount` ≤ total (lots) or any i64
 * (atoms); every product fits u128 in Rust (≤ 2^63 · 10^15).
 */
function largestRemainder(
  cands: readonly Candidate[],
  amount: bigint,
  total: bigint,
  ids: readonly string[],
): Array<[number, bigint]> {
  const n = cands.length
  const share: bigint[] = new Array<bigint>(n)
  const rem: bigint[] = new Array<bigint>(n)
  let given = 0n
  for (let i = 0; i < n; i++) {
    const x = amount * abs((cands[i] as Candidate).qty)
    share[i] = x / total
    rem[i] = x % total
    given += share[i] as bigint
  }
  let left = amount - given
  const order = Array.from({ length: n }, (_, i) => i)
  order.sort((x, y) => {
    const a = cands[x] as Candidate
    const b = cands[y] as Candidate
    return (
      cmpBig(rem[y] as bigint, rem[x] as bigint) ||
      cmpBig(abs(b.qty), abs(a.qty)) ||
      cmpBytes(ids[a.account] as string, ids[b.account] as string)
    )
  })
  for (const i of order) {
    if (left === 0n) break
    share[i] = (share[i] as bigint) + 1n
    left -= 1n
  }
  const out: Array<[number, bigint]> = []
  for (let i = 0; i < n; i++) if ((share[i] as bigint) > 0n) out.push([i, share[i] as bigint])
  // Executed in a fixed order — larger size first, then account id — so rounding of partial
  // closes never depends on the order positions were stored in.
  out.sort(([x], [y]) => {
    const a = cands[x] as Candidate
    const b = cands[y] as Candidate
    const sa = abs(a.qty)
    const sb = abs(b.qty)
    if (sa !== sb) return sa > sb ? -1 : 1
    const ia = ids[a.account] as string
    const ib = ids[b.account] as string
    return ia < ib ? -1 : ia > ib ? 1 : 0
  })
  return out
}

/** prorata_shares: shares of `need` lots (capped at the total) by size (SPEC §9.3). */
export function prorataShares(
  cands: readonly Candidate[],
  need: bigint,
  ids: readonly string[],
): Array<[number, bigint]> {
  let total = 0n
  for (const c of cands) total += abs(c.qty)
  if (total === 0n) return []
  return largestRemainder(cands, need < total ? need : total, total, ids)
}

/** waterfall.rs prorata_amount: shares of `amount` atoms by size (SPEC §9.4). */
export function prorataAmount(
  cands: readonly Candidate[],
  amount: bigint,
  total: bigint,
  ids: readonly string[],
): Array<[number, bigint]> {
  return largestRemainder(cands, amount, total, ids)
}

/**
 * ADL indicator lights (1–5) for a ranked queue. BitMEX rule: the cumulative quantity share in
 * rank order, rounded up to the next 20 %, mapped so the front of the queue shows 5 lights.
 * Count rule: the rank's position among the candidates, in fifths.
 */
export function indicator(queue: readonly Candidate[], byQuantity: boolean): Uint8Array {
  const n = BigInt(queue.length)
  let total = 0n
  for (const c of queue) total += abs(c.qty)
  const out = new Uint8Array(queue.length)
  let cum = 0n
  for (let i = 0; i < queue.length; i++) {
    let part: bigint
    let whole: bigint
    if (byQuantity) {
      cum += abs((queue[i] as Candidate).qty)
      part = cum
      whole = total > 1n ? total : 1n
    } else {
      part = BigInt(i + 1)
      whole = n
    }
    // bucket = ceil(5·part/whole) ∈ 1..=5; the first fifth of the queue shows 5 lights.
    const p = 5n * part
    const bucket = Number(p / whole + (p % whole !== 0n ? 1n : 0n))
    out[i] = 6 - Math.min(5, Math.max(1, bucket))
  }
  return out
}
