// The peer to beat: the tight typed-array float loop a performance-minded team writes in plain
// JavaScript — Float64Array columns, positions grouped by account, tiers counted without
// branches, one pass that decides each account as its last position is read. Not exact (floats,
// Binance's formulas); the bench prints how far its counts are from the exact engines'.
import type { SyntheticMarket } from '../src/synthetic.js'

/** Thresholds per market (tiers 1–4, +Infinity past the last) and rates/amounts per tier (5). */
const T = 4
const R = 5

export interface FloatBook {
  accounts: number
  /** Positions of account a are start[a] .. start[a+1] (CSR). */
  start: Uint32Array
  market: Uint8Array
  qty: Float64Array
  cost: Float64Array
  isolated: Float64Array
  isolatedMargin: Float64Array
  balance: Float64Array
  mark: Float64Array
  floor: Float64Array
  mmr: Float64Array
  cum: Float64Array
  /** Output: liquidatable accounts (cross), and per-account accumulators (scatter variant). */
  out: Uint32Array
  equityAcc: Float64Array
  mmAcc: Float64Array
  hasCross: Uint8Array
  account: Uint32Array
}

export function makeFloatBook(book: SyntheticMarket): FloatBook {
  const n = book.qty.length
  const A = book.balances.length
  const M = book.markets.length
  const fb: FloatBook = {
    accounts: A,
    start: new Uint32Array(A + 1),
    market: new Uint8Array(n),
    qty: new Float64Array(n),
    cost: new Float64Array(n),
    isolated: new Float64Array(n),
    isolatedMargin: new Float64Array(n),
    balance: new Float64Array(A),
    mark: new Float64Array(M),
    floor: new Float64Array(M * T).fill(Infinity),
    mmr: new Float64Array(M * R),
    cum: new Float64Array(M * R),
    out: new Uint32Array(A),
    equityAcc: new Float64Array(A),
    mmAcc: new Float64Array(A),
    hasCross: new Uint8Array(A),
    account: new Uint32Array(n),
  }
  if (M > 256) throw new Error('the float peer keeps markets in a byte')
  book.markets.forEach((m, i) => {
    if (m.kind !== 0 || m.basis !== 0 || m.form !== 0 || m.floors.length > R)
      throw new Error('the float peer handles linear, mark-basis deduction tiers (≤ 5)')
    const vs = 10 ** (m.priceDecimals + m.qtyDecimals)
    fb.mark[i] = Number(m.mark) / 10 ** m.priceDecimals
    let cum = 0
    for (let t = 0; t < m.floors.length; t++) {
      const rate = Number(m.mmr[t]!) / 1e8
      if (t > 0) {
        const floor = Number(m.floors[t]!) / vs
        fb.floor[i * T + t - 1] = floor
        cum += floor * (rate - fb.mmr[i * R + t - 1]!)
      }
      fb.mmr[i * R + t] = rate
      fb.cum[i * R + t] = cum
    }
  })
  const atom = 10 ** book.quoteDecimals
  for (let a = 0; a < A; a++) fb.balance[a] = Number(book.balances[a]!) / atom
  for (let i = 0; i < n; i++) {
    const a = book.account[i]!
    if (i > 0 && a < book.account[i - 1]!)
      throw new Error('the float peer wants positions grouped by account')
    fb.start[a + 1] = i + 1
    const m = book.markets[book.market[i]!]!
    fb.account[i] = a
    fb.market[i] = book.market[i]!
    const q = Number(book.qty[i]!) / 10 ** m.qtyDecimals
    fb.qty[i] = q
    fb.cost[i] = (q * Number(book.entry[i]!)) / 10 ** m.priceDecimals
    fb.isolated[i] = book.flags[i]! & 1
    fb.isolatedMargin[i] = Number(book.isolatedMargin[i]!) / atom
  }
  for (let a = 1; a <= A; a++) if (fb.start[a]! < fb.start[a - 1]!) fb.start[a] = fb.start[a - 1]!
  return fb
}

/** One pass, account by account; returns [liquidatable cross accounts, liquidatable isolated]. */
export function floatSweep(b: FloatBook): [number, number] {
  const {
    start,
    market,
    qty,
    cost,
    isolated,
    isolatedMargin,
    balance,
    mark,
    floor,
    mmr,
    cum,
    out,
  } = b
  let n = 0
  let iso = 0
  for (let a = 0, A = b.accounts; a < A; a++) {
    let eq = balance[a]!
    let mm = 0
    let cross = 0
    for (let i = start[a]!, e = start[a + 1]!; i < e; i++) {
      const m = market[i]!
      const q = qty[i]!
      const x = mark[m]!
      const v = Math.abs(q) * x
      const o = m * T
      const t =
        m * R +
        +(v >= floor[o]!) +
        +(v >= floor[o + 1]!) +
        +(v >= floor[o + 2]!) +
        +(v >= floor[o + 3]!)
      const pm = v * mmr[t]! - cum[t]!
      const u = q * x - cost[i]!
      const s = isolated[i]!
      iso += s * +(isolatedMargin[i]! + u <= pm)
      eq += (1 - s) * u
      mm += (1 - s) * pm
      cross += 1 - s
    }
    out[n] = a
    n += +(cross > 0 && eq <= mm)
  }
  return [n, iso]
}

/** The same loop over positions in store order with per-account accumulators, then a pass over
 * the accounts (what a team writes when positions are not grouped). */
export function floatSweepScatter(b: FloatBook): [number, number] {
  const {
    account,
    market,
    qty,
    cost,
    isolated,
    isolatedMargin,
    balance,
    mark,
    floor,
    mmr,
    cum,
    out,
    equityAcc,
    mmAcc,
  } = b
  const { hasCross } = b
  equityAcc.set(balance)
  mmAcc.fill(0)
  hasCross.fill(0)
  let iso = 0
  for (let i = 0, N = qty.length; i < N; i++) {
    const m = market[i]!
    const q = qty[i]!
    const x = mark[m]!
    const v = Math.abs(q) * x
    const o = m * T
    const t =
      m * R +
      +(v >= floor[o]!) +
      +(v >= floor[o + 1]!) +
      +(v >= floor[o + 2]!) +
      +(v >= floor[o + 3]!)
    const pm = v * mmr[t]! - cum[t]!
    const u = q * x - cost[i]!
    const s = isolated[i]!
    const a = account[i]!
    iso += s * +(isolatedMargin[i]! + u <= pm)
    equityAcc[a]! += (1 - s) * u
    mmAcc[a]! += (1 - s) * pm
    hasCross[a]! |= 1 - s
  }
  let n = 0
  for (let a = 0, A = b.accounts; a < A; a++) {
    out[n] = a
    n += hasCross[a]! & +(equityAcc[a]! <= mmAcc[a]!)
  }
  return [n, iso]
}
