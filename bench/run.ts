// `npm run bench [-- --json [file]] [--positions N]`: full exact sweep, native vs the TypeScript
// engine vs a plain object-graph JavaScript peer, measured in the same run on the same book.
// Ratios are computed here from the same run; the machine is printed beside the numbers.
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import Benchmark from 'benchmark'
import { Engine } from '../src/engine.js'
import { loadNative } from '../src/native.js'
import { load, makeBook } from '../src/synthetic.js'
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

const nat = results[0]!
const rows = results.map((r) => [r.name, r.meanMs.toFixed(1), `±${r.rmePct.toFixed(1)}%`, String(r.samples), (r.positionsPerSec / 1e6).toFixed(1), (r.meanMs / nat.meanMs).toFixed(1) + '×'])
const head = ['full sweep', 'ms/sweep', 'rme', 'samples', 'M pos/s', 'native is faster by']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
console.log(`bulk load of ${positions.toLocaleString('en')} positions: native ${nativeLoadMs.toFixed(0)} ms, TypeScript ${jsLoadMs.toFixed(0)} ms`)
console.log(`parallel sweep of ${bigPositions.toLocaleString('en')} positions: ${par.map((r) => `${r.name} ${r.meanMs.toFixed(1)} ms (±${r.rmePct.toFixed(1)}%)`).join(', ')}; speed-up ${(par[0]!.meanMs / par[1]!.meanMs).toFixed(2)}×`)
console.log(`one call across the boundary: native ${boundaryNs.toFixed(0)} ns, TypeScript engine ${jsCallNs.toFixed(0)} ns; native store ≈ ${bytesPerPosition.toFixed(0)} resident bytes per position`)

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
    peerDisagreements,
  }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n')
  console.log(`wrote ${file}`)
}
if (sink < 0) console.log(sink)
