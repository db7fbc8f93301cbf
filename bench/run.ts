// `npm run bench [-- --json [file]] [--positions N]`: full exact sweep, native vs the TypeScript
// engine vs a plain object-graph JavaScript peer, measured in the same run on the same book.
// Ratios are computed here from the same run; the machine is printed beside the numbers.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import Benchmark from 'benchmark'
import { Engine } from '../src/engine.js'
import { loadNative } from '../src/native.js'
import { lcg, load, makeBook } from '../src/synthetic.js'
import { makePeer, peerSweep } from './peer.js'

const args = process.argv.slice(2)
const opt = (name: string) => {
  const i = args.indexOf(name)
  return i < 0 ? undefined : (args[i + 1] && !args[i + 1]!.startsWith('--') ? args[i + 1] : '')
}
const positions = Number(opt('--positions') ?? 1_000_000)
const accounts = positions / 4
const markets = 64
const jsonOut = opt('--json')

const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
}
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}`)
console.log(`book: ${positions.toLocaleString('en')} positions, ${accounts.toLocaleString('en')} accounts, ${markets} markets (3–5 tiers)`)

const book = makeBook(positions, accounts, markets)
const native = loadNative().binding
if (!native) throw new Error('the native module did not load; run npm install first')

function timed<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint()
  const r = f()
  return [r, Number(process.hrtime.bigint() - t0) / 1e6]
}

const nativeApi = new Engine({ implementation: 'native', quoteDecimals: book.quoteDecimals })
const [, nativeLoadMs] = timed(() => load(nativeApi, book))
const jsApi = new Engine({ implementation: 'js', quoteDecimals: book.quoteDecimals })
const [, jsLoadMs] = timed(() => load(jsApi, book))
// Time the integer-level engines themselves (the ergonomic layer adds nothing per position).
const nativeEngine = nativeApi.core
const jsEngine = jsApi.core
const peer = makePeer(book)

// The engines must agree before their speed means anything.
const a = nativeEngine.sweep(null)
const b = jsEngine.sweep(null)
if (a.account.length !== b.account.length || a.equity.some((x, i) => x !== b.equity[i])) throw new Error('native and TypeScript sweeps differ')
const p = peerSweep(peer)
const nativeCross = new Set<number>()
let nativeIsolated = 0
for (let i = 0; i < a.account.length; i++) {
  if (a.market[i] === 0xffffffff) nativeCross.add(a.account[i]!)
  else nativeIsolated++
}
const peerDisagreements = p.accounts.filter((x) => !nativeCross.has(x)).length + [...nativeCross].filter((x) => !p.accounts.includes(x)).length + Math.abs(p.isolated - nativeIsolated)
console.log(`sweep finds ${nativeCross.size} liquidatable accounts and ${nativeIsolated} isolated positions; float peer disagrees on ${peerDisagreements}`)

interface Result {
  name: string
  meanMs: number
  rmePct: number
  samples: number
  positionsPerSec: number
}
const results: Result[] = []
let sink = 0
const suite = new Benchmark.Suite('full sweep')
  .add('native (Rust, 1 thread)', () => {
    sink += nativeEngine.sweep(null).account.length
  })
  .add('TypeScript engine (BigInt, exact)', () => {
    sink += jsEngine.sweep(null).account.length
  }, { minSamples: 3, maxTime: 2 })
  .add('object-graph JS peer (floats)', () => {
    sink += peerSweep(peer).accounts.length
  })
  .on('cycle', (ev: Benchmark.Event) => {
    const t = ev.target as Benchmark.Target & { stats: Benchmark.Stats; name: string }
    const meanMs = t.stats.mean * 1000
    results.push({ name: t.name, meanMs, rmePct: t.stats.rme, samples: t.stats.sample.length, positionsPerSec: positions / t.stats.mean })
  })
suite.run({ async: false })

// Boundary: the fixed cost of one call across the FFI (a call that does no work).
const calls = 1_000_000
let t0 = process.hrtime.bigint()
for (let i = 0; i < calls; i++) sink += nativeEngine.accountCount()
const boundaryNs = Number(process.hrtime.bigint() - t0) / calls
t0 = process.hrtime.bigint()
for (let i = 0; i < calls; i++) sink += jsEngine.accountCount()
const jsCallNs = Number(process.hrtime.bigint() - t0) / calls

// Memory: resident bytes per position of a native engine loaded with the same book.
global.gc?.()
const rssBefore = process.memoryUsage().rss
const extra = new Engine({ implementation: 'native', quoteDecimals: book.quoteDecimals })
load(extra, book)
global.gc?.()
const bytesPerPosition = (process.memoryUsage().rss - rssBefore) / positions
sink += extra.core.positionCount()
// ... and what the liquidation watch's index adds once built (item 6): resident memory outside
// the V8 heap (the index is native), so that a JS collection in between does not count.
const nativeRss = () => {
  const u = process.memoryUsage()
  return u.rss - u.heapTotal
}
global.gc?.()
const rssBeforeIndex = nativeRss()
sink += extra.core.liquidatable().account.length
const indexResidentBytesPerPosition = (nativeRss() - rssBeforeIndex) / positions

// Parallel sweep: the same exact sweep on 1 and 2 threads over a 4x larger book (native only).
const bigPositions = Number(opt('--parallel-positions') ?? positions * 4)
const bigBook = makeBook(bigPositions, bigPositions / 4, markets, 7919)
const big = new Engine({ implementation: 'native', quoteDecimals: bigBook.quoteDecimals })
load(big, bigBook)
const threads = os.cpus().length
const par: Result[] = []
new Benchmark.Suite('parallel sweep')
  .add('native, 1 thread', () => {
    sink += big.core.sweepParallel(null, 1).account.length
  })
  .add(`native, ${threads} threads`, () => {
    sink += big.core.sweepParallel(null, threads).account.length
  })
  .on('cycle', (ev: Benchmark.Event) => {
    const t = ev.target as Benchmark.Target & { stats: Benchmark.Stats; name: string }
    par.push({ name: t.name, meanMs: t.stats.mean * 1000, rmePct: t.stats.rme, samples: t.stats.sample.length, positionsPerSec: bigPositions / t.stats.mean })
  })
  .run({ async: false })

// ---- 3. Incremental: the liquidation watch against the full native sweep (same book) ----------
interface NativeDiagnostics {
  watchIndexBytes(): number
  watchLastRechecked(): number
  adlSelectionTiming(market: number, side: number, ranking: number, need: bigint): BigInt64Array
}
// Engine.core is the journalling layer (src/journal.ts); the diagnostics live on the binding under it.
const diag = (e: Engine) => (e.core as unknown as { inner: unknown }).inner as NativeDiagnostics
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
const wmarks = book.markets.map((m) => m.mark)
const [firstChanges, watchBuildMs] = timed(() => nativeEngine.updateMarks(Uint32Array.of(0), BigInt64Array.of(wmarks[0]!)))
if (firstChanges.account.length !== a.account.length) throw new Error('the watch and the sweep disagree on the liquidatable set')
// A random walk: each step moves one random market by 1–3 ticks; every update timed on its own.
const walkSteps = Number(opt('--walk') ?? 10_000)
const wrand = lcg(7)
function walk(steps: number, stepOf: (mark: bigint) => bigint) {
  const us: number[] = []
  const rechecked: number[] = []
  let flips = 0
  for (let i = 0; i < steps; i++) {
    const m = wrand(markets)
    wmarks[m] = wmarks[m]! + stepOf(wmarks[m]!) * (wrand(2) ? 1n : -1n)
    if (wmarks[m]! < 1n) wmarks[m] = 1n
    const mi = Uint32Array.of(m)
    const px = BigInt64Array.of(wmarks[m]!)
    const t = process.hrtime.bigint()
    flips += nativeEngine.updateMarks(mi, px).account.length
    us.push(Number(process.hrtime.bigint() - t) / 1e3)
    rechecked.push(diag(nativeApi).watchLastRechecked())
  }
  const sorted = [...us].sort((x, y) => x - y)
  const mean = us.reduce((x, y) => x + y, 0) / us.length
  return {
    steps,
    meanUs: mean,
    p50Us: percentile(sorted, 50),
    p99Us: percentile(sorted, 99),
    maxUs: sorted[sorted.length - 1]!,
    recheckedMean: rechecked.reduce((x, y) => x + y, 0) / rechecked.length,
    recheckedMax: Math.max(...rechecked),
    recheckedMaxPctOfAccounts: (100 * Math.max(...rechecked)) / accounts,
    statusFlips: flips,
  }
}
// Typical ticks: one market moves by 1–3 ticks per update.
const ticks = walk(walkSteps, () => BigInt(1 + wrand(3)))
// A volatile tape: one market moves by up to 0.5 % of its mark per update (crossing many bands).
const volatile = walk(Math.ceil(walkSteps / 10), (p) => (p * BigInt(wrand(5001))) / 1_000_000n)
// The walk's end state must still be the sweep's.
const afterWalk = nativeEngine.sweep(null)
const watched = nativeEngine.liquidatable()
if (afterWalk.account.length !== watched.account.length || afterWalk.account.some((x, i) => x !== watched.account[i])) throw new Error('the watch and the sweep disagree after the walk')
const incremental = {
  indexBuildMs: watchBuildMs,
  fullSweepMs: results[0]!.meanMs,
  ticks,
  volatile,
  sweepOverTickUpdateMean: (results[0]!.meanMs * 1e3) / ticks.meanUs,
  sweepOverTickUpdateP99: (results[0]!.meanMs * 1e3) / ticks.p99Us,
}

// ---- 4. ADL: the needed top of 1M opposite positions, selected vs fully sorted ----------------
const adlN = Number(opt('--adl-positions') ?? 1_000_000)
const adlEngine = new Engine({ implementation: 'native', quoteDecimals: 8 })
adlEngine.addMarketUnits({ ...book.markets[0]!, symbol: 'ADL-PERP' })
const adlMark = book.markets[0]!.mark
adlEngine.core.addAccounts(Array.from({ length: adlN }, (_, i) => `adl-${i}`), BigInt64Array.from({ length: adlN }, () => BigInt(1_000 + wrand(100_000)) * 10n ** 8n))
const adlQty = BigInt64Array.from({ length: adlN }, () => -BigInt(1 + wrand(10_000)))
adlEngine.core.setPositions(
  Uint32Array.from({ length: adlN }, (_, i) => i),
  new Uint32Array(adlN),
  adlQty,
  BigInt64Array.from({ length: adlN }, () => (adlMark * BigInt(900 + wrand(200))) / 1000n),
  new BigInt64Array(adlN),
  new Uint8Array(adlN),
)
// A bankrupt long needing about 100 counterparties: 100 average short sizes.
const adlNeed = (adlQty.reduce((x, y) => x - y, 0n) * 100n) / BigInt(adlN)
const adlRuns: bigint[][] = []
for (let i = 0; i < 5; i++) adlRuns.push([...diag(adlEngine).adlSelectionTiming(0, -1, 0, adlNeed)])
const med = (k: number) => Number([...adlRuns].map((r) => r[k]!).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))[2]!) / 1e6
if (adlRuns.some((r) => r[5] !== 1n)) throw new Error('the ADL selection differs from the head of the full sort')
const adl = {
  oppositePositions: adlN,
  needLots: Number(adlNeed),
  selected: Number(adlRuns[0]![3]!),
  scoringMs: med(0),
  selectionMs: med(1),
  fullSortMs: med(2),
  sortOverSelection: med(2) / med(1),
}

// ---- 5. Batched fills: fixed cost per call and cost per fill (native and TypeScript) -----------
function fillBatch(n: number, seed: number) {
  const pick = lcg(seed)
  const idx = Array.from({ length: n }, () => pick(positions))
  return {
    account: Uint32Array.from(idx, (i) => book.account[i]!),
    market: Uint32Array.from(idx, (i) => book.market[i]!),
    // one lot more on the position's own side: an increase, never a close past zero
    qty: BigInt64Array.from(idx, (i) => (book.qty[i]! > 0n ? 1n : -1n)),
    price: BigInt64Array.from(idx, (i) => book.markets[book.market[i]!]!.mark),
  }
}
function fillCost(e: Engine, n: number, calls: number) {
  // A small pool of batches, reused: the timing is the call, not the allocation of its arrays.
  const pool = Array.from({ length: Math.min(calls, 16) }, (_, k) => fillBatch(n, 11 + k))
  const t = process.hrtime.bigint()
  for (let k = 0; k < calls; k++) {
    const f = pool[k % pool.length]!
    e.core.applyFills(f.account, f.market, f.qty, f.price)
  }
  const perCallNs = Number(process.hrtime.bigint() - t) / calls
  return { fillsPerCall: n, calls, perCallUs: perCallNs / 1e3, perFillNs: perCallNs / n }
}
const fills = {
  native: [fillCost(extra, 1, 20_000), fillCost(extra, 1_000, 200), fillCost(extra, 100_000, 5)],
  typescript: [fillCost(jsApi, 1, 5_000), fillCost(jsApi, 1_000, 50), fillCost(jsApi, 100_000, 2)],
}

// ---- 6. Memory: the store, and what the watch's index adds (measured right after the store) ----
const memory = {
  storeResidentBytesPerPosition: bytesPerPosition,
  indexResidentBytesPerPosition,
  indexHeldBytesPerPosition: diag(extra).watchIndexBytes() / positions,
}

const nat = results[0]!
const rows = results.map((r) => [r.name, r.meanMs.toFixed(1), `±${r.rmePct.toFixed(1)}%`, String(r.samples), (r.positionsPerSec / 1e6).toFixed(1), (r.meanMs / nat.meanMs).toFixed(1) + '×'])
const head = ['full sweep', 'ms/sweep', 'rme', 'samples', 'M pos/s', 'native is faster by']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
console.log(`bulk load of ${positions.toLocaleString('en')} positions: native ${nativeLoadMs.toFixed(0)} ms, TypeScript ${jsLoadMs.toFixed(0)} ms`)
console.log(`parallel sweep of ${bigPositions.toLocaleString('en')} positions: ${par.map((r) => `${r.name} ${r.meanMs.toFixed(1)} ms (±${r.rmePct.toFixed(1)}%)`).join(', ')}; speed-up ${(par[0]!.meanMs / par[1]!.meanMs).toFixed(2)}×`)
console.log(`one call across the boundary: native ${boundaryNs.toFixed(0)} ns, TypeScript engine ${jsCallNs.toFixed(0)} ns; native store ≈ ${bytesPerPosition.toFixed(0)} resident bytes per position`)
const walkLine = (name: string, w: ReturnType<typeof walk>) =>
  `${name}: ${w.steps} updates, mean ${w.meanUs.toFixed(1)} µs, p50 ${w.p50Us.toFixed(1)} µs, p99 ${w.p99Us.toFixed(1)} µs (max ${w.maxUs.toFixed(0)} µs); ` +
  `re-checked ${w.recheckedMean.toFixed(1)} accounts on average, at most ${w.recheckedMax} (${w.recheckedMaxPctOfAccounts.toFixed(3)} % of accounts); ${w.statusFlips} status flips`
console.log(`incremental (native): index built in ${incremental.indexBuildMs.toFixed(0)} ms (first updateMarks)`)
console.log('  ' + walkLine('one market by 1–3 ticks', ticks))
console.log('  ' + walkLine('one market by up to 0.5 %', volatile))
console.log(`  full sweep / tick update: ${incremental.sweepOverTickUpdateMean.toFixed(0)}× (mean), ${incremental.sweepOverTickUpdateP99.toFixed(0)}× (p99)`)
console.log(
  `ADL over ${adlN.toLocaleString('en')} opposite positions, ${adl.needLots} lots needed (${adl.selected} counterparties): scoring ${adl.scoringMs.toFixed(1)} ms, ` +
    `selection ${adl.selectionMs.toFixed(2)} ms, full sort ${adl.fullSortMs.toFixed(1)} ms: selection ${adl.sortOverSelection.toFixed(0)}× faster (median of 5)`,
)
for (const [impl, rows] of Object.entries(fills)) {
  console.log(`applyFills (${impl}): ` + rows.map((r) => `${r.fillsPerCall} per call ${r.perCallUs.toFixed(1)} µs (${r.perFillNs.toFixed(0)} ns/fill)`).join(', '))
}
console.log(
  `memory: store ≈ ${bytesPerPosition.toFixed(0)} B/position resident; the watch's index adds ≈ ${memory.indexResidentBytesPerPosition.toFixed(0)} B resident ` +
    `(${memory.indexHeldBytesPerPosition.toFixed(0)} B held by its heaps and per-account arrays)`,
)

if (jsonOut !== undefined) {
  const file = jsonOut || 'bench-results.json'
  const report = {
    date: new Date().toISOString(),
    machine,
    book: { positions, accounts, markets },
    results: Object.fromEntries(results.map((r) => [r.name, r])),
    ratios: {
      nativeVsTypeScript: results[1]!.meanMs / nat.meanMs,
      nativeVsObjectGraphPeer: results[2]!.meanMs / nat.meanMs,
    },
    bulkLoadMs: { native: nativeLoadMs, typescript: jsLoadMs },
    parallel: { positions: bigPositions, results: Object.fromEntries(par.map((r) => [r.name, r])), speedup: par[0]!.meanMs / par[1]!.meanMs },
    boundaryNsPerCall: { native: boundaryNs, typescript: jsCallNs },
    nativeResidentBytesPerPosition: bytesPerPosition,
    incremental,
    adl,
    fills,
    memory,
    peerDisagreements,
  }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  console.log(`wrote ${file}`)
}
if (sink < 0) console.log(sink)
