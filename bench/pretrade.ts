// Pre-trade checks on the big book (issue 15, SPEC §17): the per-order cost of checkOrders, a
// single call (p50/p99, the boundary included) and batches of 1,000 and 100,000 orders, native
// against the TypeScript engine, with their ratio measured in the same run.
import os from 'node:os'
import type { Engine } from '../src/engine.js'
import { type SyntheticMarket, lcg } from '../src/synthetic.js'

interface Orders {
  account: Uint32Array
  market: Uint32Array
  qty: BigInt64Array
  price: BigInt64Array
  reduceOnly: Uint8Array
}

/** n orders of accounts that hold positions: ±1–50 lots, limit prices within 2 % of the mark
 * (one in eight a market order), one in ten reduce-only. */
function makeOrders(book: SyntheticMarket, n: number, seed: number): Orders {
  const r = lcg(seed)
  const o: Orders = {
    account: new Uint32Array(n),
    market: new Uint32Array(n),
    qty: new BigInt64Array(n),
    price: new BigInt64Array(n),
    reduceOnly: new Uint8Array(n),
  }
  const N = book.qty.length
  for (let i = 0; i < n; i++) {
    const p = r(N)
    const m = book.market[p]!
    const mark = book.markets[m]!.mark
    o.account[i] = book.account[p]!
    o.market[i] = m
    o.qty[i] = BigInt((1 + r(50)) * (r(2) ? 1 : -1))
    o.price[i] = r(8) === 0 ? 0n : mark - mark / 50n + (mark * BigInt(r(4001))) / 100_000n
    o.reduceOnly[i] = r(10) === 0 ? 1 : 0
  }
  return o
}

function slice(o: Orders, from: number, n: number): Orders {
  return {
    account: o.account.subarray(from, from + n),
    market: o.market.subarray(from, from + n),
    qty: o.qty.subarray(from, from + n),
    price: o.price.subarray(from, from + n),
    reduceOnly: o.reduceOnly.subarray(from, from + n),
  }
}

const check = (e: Engine, o: Orders, sequential = false) =>
  e.core.checkOrders(o.account, o.market, o.qty, o.price, o.reduceOnly, sequential)

/** Per-call latencies of single-order calls, in µs: p50, p99. `columns`: a one-row checkOrders
 * (five typed arrays in, seven out); else checkOrder (scalars in, one typed array out). */
function single(e: Engine, o: Orders, calls: number, columns = false) {
  const t = new Float64Array(calls)
  for (let c = 0; c < calls; c++) {
    const i = c % o.account.length
    const one = slice(o, i, 1)
    const [a, m, q, p, ro] = [o.account[i]!, o.market[i]!, o.qty[i]!, o.price[i]!, o.reduceOnly[i]]
    const s = process.hrtime.bigint()
    if (columns) check(e, one)
    else e.core.checkOrder(a, m, q, p, ro === 1)
    t[c] = Number(process.hrtime.bigint() - s) / 1e3
  }
  t.sort()
  return { calls, p50Us: t[Math.floor(calls * 0.5)]!, p99Us: t[Math.floor(calls * 0.99)]! }
}

/** ns per order of batches of k orders (calls of them, round-robin over the pool). */
function batch(e: Engine, o: Orders, k: number, calls: number, sequential = false) {
  const s = process.hrtime.bigint()
  for (let c = 0; c < calls; c++)
    check(e, slice(o, (c * k) % (o.account.length - k + 1), k), sequential)
  return { ordersPerCall: k, calls, nsPerOrder: Number(process.hrtime.bigint() - s) / (calls * k) }
}

export function benchPreTrade(nat: Engine, ts: Engine, book: SyntheticMarket) {
  const o = makeOrders(book, 100_000, 60_013)
  // The two engines must agree before their speeds are compared.
  const a = check(nat, slice(o, 0, 1_000), true)
  const b = check(ts, slice(o, 0, 1_000), true)
  const same = a.verdict.every(
    (v, i) => v === b.verdict[i] && a.initialMargin[i] === b.initialMargin[i],
  )
  if (!same) throw new Error('checkOrders: native and TypeScript verdicts differ')
  const accepted = a.verdict.filter((v) => v === 0).length
  const r = {
    orders: o.account.length,
    acceptedOf1000: accepted,
    native: {
      single: single(nat, o, 20_000),
      singleColumns: single(nat, o, 20_000, true),
      batch1k: batch(nat, o, 1_000, 100),
      batch100k: batch(nat, o, 100_000, 3),
      batch1kSequential: batch(nat, o, 1_000, 100, true),
    },
    typescript: {
      single: single(ts, o, 2_000),
      singleColumns: single(ts, o, 2_000, true),
      batch1k: batch(ts, o, 1_000, 5),
      batch100k: batch(ts, o, 100_000, 1),
      batch1kSequential: batch(ts, o, 1_000, 5, true),
    },
  }
  const ratio1k = r.typescript.batch1k.nsPerOrder / r.native.batch1k.nsPerOrder
  const ratio100k = r.typescript.batch100k.nsPerOrder / r.native.batch100k.nsPerOrder
  console.log(
    `checkOrders on the ${book.qty.length.toLocaleString('en')}-position book (${accepted} of 1,000 accepted):`,
  )
  for (const [impl, x] of Object.entries({ native: r.native, typescript: r.typescript })) {
    console.log(
      `  ${impl}: single call (checkOrder) p50 ${x.single.p50Us.toFixed(2)} µs, p99 ${x.single.p99Us.toFixed(2)} µs ` +
        `(one-row checkOrders p50 ${x.singleColumns.p50Us.toFixed(2)}, p99 ${x.singleColumns.p99Us.toFixed(2)}); ` +
        `batch 1,000 ${x.batch1k.nsPerOrder.toFixed(0)} ns/order (sequential ${x.batch1kSequential.nsPerOrder.toFixed(0)}), ` +
        `batch 100,000 ${x.batch100k.nsPerOrder.toFixed(0)} ns/order`,
    )
  }
  console.log(
    `  native over TypeScript per order: ${ratio1k.toFixed(1)}× (1,000), ${ratio100k.toFixed(1)}× (100,000); targets: batch ≤ 1,000 ns/order, single p99 ≤ 5 µs, ≥ 10×; load ${os.loadavg()[0]!.toFixed(2)}\n`,
  )
  return { ...r, ratio1k, ratio100k }
}
