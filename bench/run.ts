// `npm run bench [-- --sizes 100k,1M,4M,10M] [--sizes-only] [--json [file]] [--walk N] [--no-rust]`
//
// Benchmarks that cannot flatter: every peer is measured in the same run on the same book, the
// exact engines are checked to agree (and the float peers to agree roughly) before anything is
// timed, every number carries its rme and the load average it was taken under, and a number
// whose rme exceeds 10 % is dropped, not printed. Ratios are computed from this run only.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import Benchmark from 'benchmark'
import type { MarginColumns } from '../src/core.js'
import { Engine } from '../src/engine.js'
import type { Watch } from '../src/fallback/watch.js'
import { loadNative } from '../src/native.js'
import { lcg, load, makeRaggedMarket, type SyntheticMarket } from '../src/synthetic.js'
import { floatSweep, floatSweepScatter, makeFloatBook } from './float-peer.js'
import { benchLiquidationMap } from './liq-map.js'
import { makePeer, peerSweep } from './peer.js'
import { benchPreTrade } from './pretrade.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const opt = (name: string) => {
  const i = args.indexOf(name)
  return i < 0 ? undefined : args[i + 1] && !args[i + 1]!.startsWith('--') ? args[i + 1] : ''
}
const parseSize = (s: string) =>
  Math.round(Number(s.replace(/[kKmM]$/, '')) * (/[kK]$/.test(s) ? 1e3 : /[mM]$/.test(s) ? 1e6 : 1))
const sizes = (opt('--sizes') || '100k,1M').split(',').map(parseSize)
// the size of the 3 % book: its sweeps, the public API, incremental and fills sections
const MAIN = parseSize(opt('--book3') || '1M')
const walkSteps = Number(opt('--walk') || 2_000)
const adlPositions = Number(opt('--adl-positions') || 1_000_000)
const rust = !args.includes('--no-rust')
// --sizes-only: the per-size sections alone (for 4M/10M runs); skips the 3 % book, incremental, fills, ADL
const sizesOnly = args.includes('--sizes-only')
const jsonOut = opt('--json')
const RME_LIMIT = 10
if (!global.gc) throw new Error('run with node --expose-gc (npm run bench does)')
const native = loadNative().binding
if (!native) throw new Error('the native module did not load; run npm run build:native first')

const fmtN = (n: number) => n.toLocaleString('en')
const load1 = () => os.loadavg()[0]!
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${process.platform}-${process.arch}`,
  loadAtStart: os.loadavg(),
}
console.log(
  `machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}`,
)
console.log(
  `load average at start: ${machine.loadAtStart.map((x) => x.toFixed(2)).join(' ')} (1, 5, 15 min); every number below carries the 1-min load it was taken under`,
)
console.log(
  `sizes: ${sizes.map(fmtN).join(', ')} positions; measurements with rme > ${RME_LIMIT} % are dropped\n`,
)

// ---- measuring ---------------------------------------------------------------------------------

interface Measure {
  name: string
  meanMs: number
  rmePct: number
  samples: number
  /** 1-min load average, mean of the values before and after. */
  load: number
  dropped: boolean
  positionsPerSec?: number
}
let sink = 0
function measure(name: string, fn: () => number, positions?: number, maxTime = 1.5): Measure {
  const l0 = load1()
  const b = new Benchmark(
    name,
    () => {
      sink += fn()
    },
    { maxTime, minSamples: 5, initCount: 1 },
  )
  b.run()
  const meanMs = b.stats.mean * 1e3
  const m: Measure = {
    name,
    meanMs,
    rmePct: b.stats.rme,
    samples: b.stats.sample.length,
    load: (l0 + load1()) / 2,
    dropped: b.stats.rme > RME_LIMIT,
  }
  if (positions) m.positionsPerSec = positions / b.stats.mean
  return m
}
const msText = (m: Measure) =>
  m.dropped
    ? `dropped: rme ${m.rmePct.toFixed(1)} %`
    : `${m.meanMs.toFixed(m.meanMs < 10 ? 2 : 1)} ms ±${m.rmePct.toFixed(1)} %`
/** b's time over a's, or null when either was dropped. */
const ratio = (a: Measure, b: Measure) => (a.dropped || b.dropped ? null : b.meanMs / a.meanMs)
const ratioText = (r: number | null) => (r === null ? '—' : `${r.toFixed(r < 10 ? 2 : 1)}×`)

function table(head: string[], rows: string[][]): void {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  for (const r of [head, ...rows])
    console.log(`  ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ')}`)
}
function timed<T>(f: () => T): [T, number] {
  const t0 = process.hrtime.bigint()
  const r = f()
  return [r, Number(process.hrtime.bigint() - t0) / 1e6]
}
/** Live JS bytes (V8 heap + array buffers) after a forced collection. */
function liveJsBytes(): number {
  global.gc!()
  global.gc!()
  const u = process.memoryUsage()
  return u.heapUsed + u.arrayBuffers
}

// ---- the native tool (counting allocator; crates/core/examples/bench_native.rs) ----------------

const tmp = mkdtempSync(path.join(os.tmpdir(), 'deleverage-bench-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
let tool: string | null = null
if (rust) {
  process.stdout.write(
    'building the native measuring tool (cargo build --release --example bench_native)… ',
  )
  const [r, ms] = timed(() =>
    spawnSync(
      'cargo',
      ['build', '--release', '-q', '-p', 'deleverage-core', '--example', 'bench_native'],
      { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] },
    ),
  )
  const exe = path.join(ROOT, 'target', 'release', 'examples', 'bench_native')
  tool = r.status === 0 && existsSync(exe) ? exe : null
  console.log(
    tool ? `${(ms / 1e3).toFixed(0)} s\n` : 'failed: native live bytes and ADL are skipped\n',
  )
}
function runTool(...a: string[]): Record<string, number | boolean> | null {
  if (!tool) return null
  const r = spawnSync(tool, a, { encoding: 'utf8', maxBuffer: 1 << 20 })
  if (r.status !== 0) {
    console.log(`  bench_native ${a[0]} failed: ${r.stderr.trim().split('\n').pop()}`)
    return null
  }
  return JSON.parse(r.stdout)
}
/** The book in the tool's format (little-endian, see read_book in bench_native.rs). */
function writeBookFile(book: SyntheticMarket, file: string): void {
  const parts: Uint8Array[] = [new TextEncoder().encode('DLVBOOK1')]
  const u32 = (...xs: number[]) => parts.push(new Uint8Array(Uint32Array.from(xs).buffer))
  const i64 = (xs: bigint[] | BigInt64Array) =>
    parts.push(new Uint8Array(BigInt64Array.from(xs).buffer))
  u32(book.quoteDecimals, book.markets.length)
  for (const m of book.markets) {
    if (m.maintAmount) throw new Error('the tool derives maintenance amounts')
    u32(m.kind, m.priceDecimals, m.qtyDecimals, m.basis, m.form, m.floors.length)
    i64([m.contractSize, m.mark])
    i64(m.floors)
    i64(m.mmr)
    i64(m.imr)
  }
  i64([BigInt(book.balances.length)])
  parts.push(new Uint8Array(book.balances.buffer))
  i64([BigInt(book.qty.length)])
  for (const c of [
    book.account,
    book.market,
    book.qty,
    book.entry,
    book.isolatedMargin,
    book.flags,
  ])
    parts.push(new Uint8Array(c.buffer, c.byteOffset, c.byteLength))
  writeFileSync(file, Buffer.concat(parts))
}

// ---- one book: agreement, then every peer --------------------------------------------------------

interface Counts {
  cross: number
  isolated: number
}
function exactCounts(c: MarginColumns): Counts {
  let cross = 0
  for (let i = 0; i < c.account.length; i++)
    if (c.market[i] === 0xffffffff && c.liquidatable[i] === 1) cross++
  let liq = 0
  for (let i = 0; i < c.liquidatable.length; i++) liq += c.liquidatable[i]!
  return { cross, isolated: liq - cross }
}
function sameColumns(a: MarginColumns, b: MarginColumns): boolean {
  const keys = [
    'account',
    'market',
    'equity',
    'maintenanceMargin',
    'marginRatioPpm',
    'liquidatable',
  ] as const
  return keys.every(
    (k) =>
      a[k].length === b[k].length && a[k].every((x: number | bigint, i: number) => x === b[k][i]),
  )
}

interface BookRun {
  positions: number
  accounts: number
  liquidatablePct: number
  counts: { exact: Counts; floatGrouped: Counts; floatScatter: Counts; objectGraph: Counts }
  loadMs: { native: number; typescript: number }
  sweeps: Record<string, Measure>
  ratios: Record<string, number | null>
}

/** Loads the book into both engines, checks agreement, times the six sweeps. Returns the engines. */
/**
 * The same sweeps, each timed once per round in turn and the fastest round kept: on a shared
 * machine the minimum is the run least disturbed, and interleaving exposes every sweep to the
 * same load. Printed beside (never instead of) the mean ± rme table.
 */
function interleavedMinimum(
  fb: ReturnType<typeof makeFloatBook>,
  peer: ReturnType<typeof makePeer>,
  ts: Engine,
  nat: Engine,
  n: number,
) {
  const rounds = n >= 4_000_000 ? 5 : 15
  const tsRounds = n >= 4_000_000 ? 2 : 4
  const best = {
    floatGrouped: Infinity,
    objectGraph: Infinity,
    typescript: Infinity,
    native1: Infinity,
    native2: Infinity,
  }
  // CPU time of the process (user + system) over the call: what a one-thread sweep costs
  // however often the scheduler takes the core away (10+ runnable jobs on 2 cores are common).
  const cpu = {
    floatGrouped: Infinity,
    objectGraph: Infinity,
    typescript: Infinity,
    native1: Infinity,
  }
  const both = (k: keyof typeof cpu, f: () => unknown) => {
    const c0 = process.cpuUsage()
    const ms = timed(f)[1]
    const c = process.cpuUsage(c0)
    best[k] = Math.min(best[k], ms)
    cpu[k] = Math.min(cpu[k], (c.user + c.system) / 1e3)
  }
  const loadBefore = load1()
  for (let r = 0; r < rounds; r++) {
    both('floatGrouped', () => floatSweep(fb))
    both('objectGraph', () => peerSweep(peer))
    if (r < tsRounds) both('typescript', () => ts.core.sweep(null))
    both('native1', () => nat.core.sweep(null))
    best.native2 = Math.min(best.native2, timed(() => nat.core.sweepParallel(null, 2))[1])
  }
  const out = {
    rounds,
    load: [loadBefore, load1()],
    ms: best,
    nativeMPositionsPerSec: n / best.native1 / 1e3,
    nativeOverFloatLoop: best.floatGrouped / best.native1,
    nativeOverObjectGraph: best.objectGraph / best.native1,
    nativeOverTypeScript: best.typescript / best.native1,
    twoThreadsOverOne: best.native1 / best.native2,
    cpuMs: cpu,
    cpuNativeMPositionsPerSec: n / cpu.native1 / 1e3,
    cpuNativeOverFloatLoop: cpu.floatGrouped / cpu.native1,
    cpuNativeOverTypeScript: cpu.typescript / cpu.native1,
  }
  console.log(
    `  fastest of ${rounds} interleaved rounds (load ${out.load.map((l) => l.toFixed(2)).join(' → ')}): native 1 thread ${best.native1.toFixed(2)} ms ` +
      `(${out.nativeMPositionsPerSec.toFixed(1)} M pos/s), 2 threads ${best.native2.toFixed(2)} ms; float loop ${best.floatGrouped.toFixed(2)} ms, ` +
      `object graph ${best.objectGraph.toFixed(2)} ms, TypeScript ${best.typescript.toFixed(1)} ms → native 1 thread ${out.nativeOverFloatLoop.toFixed(2)}× the float loop, ` +
      `${out.nativeOverObjectGraph.toFixed(2)}× the object graph, ${out.nativeOverTypeScript.toFixed(1)}× TypeScript; 2 threads over 1 ${out.twoThreadsOverOne.toFixed(2)}×`,
  )
  console.log(
    `  least CPU time per sweep (process user + system, same rounds): native 1 thread ${cpu.native1.toFixed(2)} ms (${out.cpuNativeMPositionsPerSec.toFixed(1)} M pos/s), ` +
      `float loop ${cpu.floatGrouped.toFixed(2)} ms, object graph ${cpu.objectGraph.toFixed(2)} ms, TypeScript ${cpu.typescript.toFixed(1)} ms → ` +
      `native ${out.cpuNativeOverFloatLoop.toFixed(2)}× the float loop, ${out.cpuNativeOverTypeScript.toFixed(1)}× TypeScript`,
  )
  return out
}

function sweepBook(
  book: SyntheticMarket,
  liquidatablePct: number,
  label: string,
): { run: BookRun; nat: Engine; ts: Engine; tsStoreBytes: number } {
  const n = book.qty.length
  console.log(
    `${label}: ${fmtN(n)} positions, ${fmtN(book.balances.length)} accounts (1–7 positions each), ${book.markets.length} linear markets with 3–5 tiers, ${liquidatablePct} % liquidatable`,
  )
  const nat = new Engine({ implementation: 'native', quoteDecimals: book.quoteDecimals })
  const [, natLoad] = timed(() => load(nat, book))
  const before = liveJsBytes()
  const ts = new Engine({ implementation: 'js', quoteDecimals: book.quoteDecimals })
  const [, tsLoad] = timed(() => load(ts, book))
  const tsStoreBytes = liveJsBytes() - before
  const fb = makeFloatBook(book)
  const peer = makePeer(book)
  const a = nat.core.sweep(null)
  if (!sameColumns(a, ts.core.sweep(null)))
    throw new Error('the native and TypeScript sweeps differ')
  if (!sameColumns(a, nat.core.sweepParallel(null, 2)))
    throw new Error('the sweep on 2 threads differs')
  const exact = exactCounts(a)
  const [gc, gi] = floatSweep(fb)
  const [sc, si] = floatSweepScatter(fb)
  const p = peerSweep(peer)
  const counts = {
    exact,
    floatGrouped: { cross: gc, isolated: gi },
    floatScatter: { cross: sc, isolated: si },
    objectGraph: { cross: p.accounts.length, isolated: p.isolated },
  }
  console.log(
    `  liquidatable (cross accounts / isolated positions): exact engines ${exact.cross} / ${exact.isolated} (native = TypeScript, row for row); ` +
      `float loop ${gc} / ${gi}; object-graph peer ${p.accounts.length} / ${p.isolated}`,
  )
  console.log(`  bulk load: native ${natLoad.toFixed(0)} ms, TypeScript ${tsLoad.toFixed(0)} ms`)
  const slow = n >= 4_000_000 ? 4 : 1.5
  const sweeps = {
    floatGrouped: measure(
      'typed-array float loop (grouped by account)',
      () => floatSweep(fb)[0],
      n,
    ),
    floatScatter: measure(
      'typed-array float loop (scattered accumulators)',
      () => floatSweepScatter(fb)[0],
      n,
    ),
    objectGraph: measure('object-graph JS peer (floats)', () => peerSweep(peer).accounts.length, n),
    typescript: measure(
      'TypeScript engine (exact)',
      () => ts.core.sweep(null).account.length,
      n,
      slow,
    ),
    native1: measure('native, 1 thread (exact)', () => nat.core.sweep(null).account.length, n),
    native2: measure(
      'native, 2 threads (exact)',
      () => nat.core.sweepParallel(null, 2).account.length,
      n,
    ),
  }
  const floatBest =
    [sweeps.floatGrouped, sweeps.floatScatter]
      .filter((m) => !m.dropped)
      .sort((x, y) => x.meanMs - y.meanMs)[0] ?? sweeps.floatGrouped
  const n1 = sweeps.native1
  table(
    ['sweep', 'time', 'M pos/s', 'load', 'native 1 thread is faster by'],
    Object.values(sweeps).map((m) => [
      m.name,
      msText(m),
      m.dropped ? '—' : (m.positionsPerSec! / 1e6).toFixed(1),
      m.load.toFixed(2),
      m === n1 ? '' : ratioText(ratio(n1, m)),
    ]),
  )
  const ratios = {
    nativeOverFloatLoop: ratio(n1, floatBest),
    nativeOverObjectGraph: ratio(n1, sweeps.objectGraph),
    nativeOverTypeScript: ratio(n1, sweeps.typescript),
    twoThreadsOverOne: ratio(sweeps.native2, n1),
  }
  console.log(
    `  2 threads over 1: ${ratioText(ratios.twoThreadsOverOne)}; the float peer to beat is the faster of the two float loops`,
  )
  const minOf = interleavedMinimum(fb, peer, ts, nat, n)
  const run = {
    positions: n,
    accounts: book.balances.length,
    liquidatablePct,
    counts,
    loadMs: { native: natLoad, typescript: tsLoad },
    sweeps,
    ratios,
    minOf,
  }
  return { run, nat, ts, tsStoreBytes }
}

// ---- memory: live bytes per position -----------------------------------------------------------

interface MemoryRun {
  typescriptStoreBytesPerPosition: number
  typescriptWithIndexBytesPerPosition: number
  typescriptIndexBuildMs: number
  nativeIndexBuildMs: number
  native: Record<string, number | boolean> | null
}
/** `tsStore`: the live JS bytes the TypeScript engine added when it was loaded (sweepBook). */
function memoryOf(book: SyntheticMarket, nat: Engine, ts: Engine, tsStore: number): MemoryRun {
  const n = book.qty.length
  // TypeScript: the live heap the engine holds, then with its watch index built (first liquidatable()).
  const store = tsStore
  const before = liveJsBytes()
  const [, tsIndexMs] = timed(() => ts.core.liquidatable())
  const withIndex = store + liveJsBytes() - before
  const [, natIndexMs] = timed(() => nat.core.liquidatable())
  // Native: the counting allocator in a process of its own, on the same book.
  let nativeMem: MemoryRun['native'] = null
  if (tool) {
    const file = path.join(tmp, 'book.bin')
    writeBookFile(book, file)
    nativeMem = runTool('memory', file)
    rmSync(file, { force: true })
  }
  const r = {
    typescriptStoreBytesPerPosition: store / n,
    typescriptWithIndexBytesPerPosition: withIndex / n,
    typescriptIndexBuildMs: tsIndexMs,
    nativeIndexBuildMs: natIndexMs,
    native: nativeMem,
  }
  const nb = (k: string) => (nativeMem ? `${(nativeMem[k] as number).toFixed(1)} B` : 'skipped')
  console.log(
    `  live bytes per position: native store ${nb('storeBytesPerPosition')}, with the sweep's blocked layout ${nb('withLayoutBytesPerPosition')}, with the watch index too ${nb('withIndexBytesPerPosition')} (counting allocator); ` +
      `TypeScript store ${r.typescriptStoreBytesPerPosition.toFixed(1)} B, with the index ${r.typescriptWithIndexBytesPerPosition.toFixed(1)} B (V8 heap + array buffers after GC)`,
  )
  console.log(
    `  watch index build (first liquidatable()): native ${natIndexMs.toFixed(0)} ms, TypeScript ${tsIndexMs.toFixed(0)} ms`,
  )
  return r
}

// ---- the sections ------------------------------------------------------------------------------

const report: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine,
  sizes: {} as Record<string, unknown>,
}
const bySize = report.sizes as Record<string, unknown>
for (const n of sizes) {
  const book = makeRaggedMarket(n, { liquidatablePct: 0.1 })
  const { run, nat, ts, tsStoreBytes } = sweepBook(book, 0.1, `[${fmtN(n)}] book`)
  const memory = memoryOf(book, nat, ts, tsStoreBytes)
  bySize[String(n)] = { ...run, memory }
  console.log()
}

if (sizesOnly) finish()
// The 3 % book: many rows to build, the public API's cost per row, the watch re-checking.
const book3 = makeRaggedMarket(MAIN, { liquidatablePct: 3, seed: 4099 })
const { run: run3, nat, ts } = sweepBook(book3, 3, `[${fmtN(MAIN)}] book, 3 % liquidatable`)
report.book3pct = run3

// Public API: what JavaScript adds to the native sweep when it returns decimal rows or columns.
{
  const fresh = new Engine({ implementation: 'native', quoteDecimals: book3.quoteDecimals })
  load(fresh, book3)
  const [, coreOnce] = timed(() => fresh.core.sweep(null))
  const [first, firstMs] = timed(() => fresh.sweep())
  const rows = first.liquidatable.length + first.warnings.length
  const core = measure(
    'engine.core.sweep (typed arrays, indices)',
    () => nat.core.sweep(null).account.length,
  )
  const decimal = measure('engine.sweep() (decimal rows)', () => nat.sweep().liquidatable.length)
  const columns = measure('engine.sweepColumns()', () => nat.sweepColumns().liquidatableCount)
  const columnsIds = measure('engine.sweepColumns() + every accountId(i)', () => {
    const c = nat.sweepColumns()
    let s = 0
    for (let i = 0; i < c.account.length; i++) s += c.accountId(i).length
    return s
  })
  console.log(`  public API on the native engine, ${fmtN(rows)} rows:`)
  table(
    ['call', 'time', 'load', 'JS on top of the core sweep'],
    [core, decimal, columns, columnsIds].map((m) => [
      m.name,
      msText(m),
      m.load.toFixed(2),
      m === core || m.dropped || core.dropped ? '' : `${(m.meanMs - core.meanMs).toFixed(2)} ms`,
    ]),
  )
  console.log(
    `  first engine.sweep() on a fresh engine (ids not cached yet): ${firstMs.toFixed(1)} ms against ${coreOnce.toFixed(1)} ms for one core sweep`,
  )
  // The JS layer alone, robust to load: the core's sweep replaced by the same columns, min of 40.
  const cols = nat.core.sweep(null)
  const core0 = nat.core as unknown as { sweep: unknown }
  const sweepOf = core0.sweep
  core0.sweep = () => cols
  const min = (f: () => unknown) => {
    let m = Infinity
    for (let k = 0; k < 40; k++) m = Math.min(m, timed(f)[1])
    return m
  }
  const jsLayer = {
    decimalRowsMs: min(() => nat.sweep()),
    columnsMs: min(() => nat.sweepColumns()),
    columnsWithIdsMs: min(() => {
      const c = nat.sweepColumns()
      let s = 0
      for (let i = 0; i < c.account.length; i++) s += c.accountId(i).length
      return s
    }),
  }
  core0.sweep = sweepOf
  console.log(
    `  the JS layer alone (core sweep replaced by its columns, min of 40): sweep() ${jsLayer.decimalRowsMs.toFixed(2)} ms, ` +
      `sweepColumns() ${jsLayer.columnsMs.toFixed(3)} ms, sweepColumns() + every accountId(i) ${jsLayer.columnsWithIdsMs.toFixed(2)} ms (load ${load1().toFixed(2)})`,
  )
  report.publicApi = {
    rows,
    core,
    decimal,
    columns,
    columnsIds,
    firstDecimalMs: firstMs,
    firstCoreMs: coreOnce,
    jsLayer,
  }
}

report.liquidationMap = benchLiquidationMap(nat, ts, book3, measure)

// Incremental: a walk on the marks where accounts really are re-checked, index build beside it.
interface WalkResult {
  steps: number
  indexBuildMs: number
  meanUs: number
  p50Us: number
  p99Us: number
  recheckedMean: number
  recheckedMax: number
  flips: number
  fullSweepMs: number
  /** null when the full sweep's measurement was dropped */
  fullSweepOverMeanUpdate: number | null
}
function walk(
  e: Engine,
  steps: number,
  rechecked: () => number,
  bp: number,
  fullSweep: Measure,
): WalkResult {
  const marks = book3.markets.map((m) => m.mark)
  const [, buildMs] = timed(() =>
    e.core.updateMarks(Uint32Array.of(0), BigInt64Array.of(marks[0]!)),
  )
  const rand = lcg(7)
  const us: number[] = []
  const checked: number[] = []
  let flips = 0
  for (let i = 0; i < steps; i++) {
    const m = rand(marks.length)
    // one market moves by 1..bp basis points, either way
    const d = (marks[m]! * BigInt(1 + rand(bp))) / 10_000n
    marks[m] = marks[m]! + (rand(2) ? d : -d)
    const t = process.hrtime.bigint()
    flips += e.core.updateMarks(Uint32Array.of(m), BigInt64Array.of(marks[m]!)).account.length
    us.push(Number(process.hrtime.bigint() - t) / 1e3)
    checked.push(rechecked())
  }
  if (!sameColumns(e.core.sweep(null), e.core.liquidatable()))
    throw new Error('the watch and the sweep disagree after the walk')
  const sorted = [...us].sort((x, y) => x - y)
  const pct = (p: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
  const meanUs = us.reduce((x, y) => x + y, 0) / steps
  const fullSweepMs = fullSweep.meanMs
  return {
    steps,
    indexBuildMs: buildMs,
    meanUs,
    p50Us: pct(50),
    p99Us: pct(99),
    recheckedMean: checked.reduce((x, y) => x + y, 0) / steps,
    recheckedMax: Math.max(...checked),
    flips,
    fullSweepMs,
    fullSweepOverMeanUpdate: fullSweep.dropped ? null : (fullSweepMs * 1e3) / meanUs,
  }
}
{
  type Diag = { watchLastRechecked(): number }
  const natDiag = (nat.core as unknown as { inner: Diag }).inner
  const tsWatch = (ts.core as unknown as { inner: { watch: Watch } }).inner.watch
  const l0 = load1()
  const nw = walk(nat, walkSteps, () => natDiag.watchLastRechecked(), 20, run3.sweeps.native1!)
  const tw = walk(
    ts,
    Math.ceil(walkSteps / 10),
    () => tsWatch.lastRechecked,
    20,
    run3.sweeps.typescript!,
  )
  const line = (name: string, w: WalkResult) =>
    `  ${name}: index built in ${w.indexBuildMs.toFixed(0)} ms; ${w.steps} updates (one market moves 1–20 bp): mean ${w.meanUs.toFixed(1)} µs, p50 ${w.p50Us.toFixed(1)} µs, ` +
    `p99 ${w.p99Us.toFixed(1)} µs; ${w.recheckedMean.toFixed(1)} accounts re-checked per update (at most ${w.recheckedMax}), ${w.flips} status flips; ` +
    (w.fullSweepOverMeanUpdate === null
      ? 'the full sweep was dropped (rme), no ratio'
      : `a full sweep of the same engine (${w.fullSweepMs.toFixed(1)} ms) costs ${w.fullSweepOverMeanUpdate.toFixed(0)} mean updates`)
  console.log(
    `  incremental (load ${((l0 + load1()) / 2).toFixed(2)}); each walk ends with watch == sweep checked:`,
  )
  console.log(line('native', nw))
  console.log(line('TypeScript', tw))
  report.incremental = { native: nw, typescript: tw }
}

// Fills and the boundary (cheap; on the 3 % book).
{
  const N = book3.qty.length
  function fillCost(e: Engine, k: number, calls: number) {
    const pool = Array.from({ length: Math.min(calls, 16) }, (_, j) => {
      const pick = lcg(11 + j)
      const idx = Array.from({ length: k }, () => pick(N))
      return {
        account: Uint32Array.from(idx, (i) => book3.account[i]!),
        market: Uint32Array.from(idx, (i) => book3.market[i]!),
        qty: BigInt64Array.from(idx, (i) => (book3.qty[i]! > 0n ? 1n : -1n)),
        price: BigInt64Array.from(idx, (i) => book3.markets[book3.market[i]!]!.mark),
      }
    })
    const t = process.hrtime.bigint()
    for (let c = 0; c < calls; c++) {
      const f = pool[c % pool.length]!
      e.core.applyFills(f.account, f.market, f.qty, f.price)
    }
    const ns = Number(process.hrtime.bigint() - t) / calls
    return { fillsPerCall: k, perCallUs: ns / 1e3, perFillNs: ns / k }
  }
  const fills = {
    native: [fillCost(nat, 1, 20_000), fillCost(nat, 1_000, 200)],
    typescript: [fillCost(ts, 1, 5_000), fillCost(ts, 1_000, 50)],
  }
  const boundary = measure('one native call doing no work', () => nat.core.accountCount())
  for (const [impl, rs] of Object.entries(fills))
    console.log(
      `  applyFills (${impl}): ` +
        rs
          .map(
            (r) =>
              `${r.fillsPerCall} per call ${r.perCallUs.toFixed(1)} µs (${r.perFillNs.toFixed(0)} ns/fill)`,
          )
          .join(', '),
    )
  console.log(
    `  one call across the boundary doing no work: ${(boundary.meanMs * 1e6).toFixed(0)} ns ±${boundary.rmePct.toFixed(1)} %\n`,
  )
  report.fills = fills
  report.boundaryNs = boundary.meanMs * 1e6
}

// Fresh engines: the walk and the fills above moved marks and positions differently on the two
// (the TypeScript walk is a tenth as long), and the verdicts must be compared on one state.
{
  const fresh = (implementation: 'native' | 'js') => {
    const e = new Engine({ implementation, quoteDecimals: book3.quoteDecimals })
    load(e, book3)
    return e
  }
  report.pretrade = benchPreTrade(fresh('native'), fresh('js'), book3)
}

// ADL: selection against the keyed sort, natural and adversarial order (native tool).
{
  const r = runTool('adl', String(adlPositions))
  report.adl = r
  if (r) {
    console.log(
      `ADL over ${fmtN(adlPositions)} short positions (a quarter in groups of 64 exactly tied scores), ${r.selected} counterparties needed; median of 5:`,
    )
    table(
      ['method', 'store order', 'adversarial order (worst first)'],
      [
        [
          'selection (heap, f64 filter, exact compare)',
          `${(r.selectionMs as number).toFixed(2)} ms`,
          `${(r.selectionAdversarialMs as number).toFixed(2)} ms`,
        ],
        [
          'keyed sort (f64 key, exact tie-break on near ties)',
          `${(r.keyedSortMs as number).toFixed(2)} ms`,
          `${(r.keyedSortAdversarialMs as number).toFixed(2)} ms`,
        ],
        [
          'exact full sort (256-bit compares), once',
          `${(r.exactFullSortMs as number).toFixed(1)} ms`,
          '',
        ],
      ],
    )
    console.log(
      `  selection over the keyed sort: ${ratioText((r.keyedSortMs as number) / (r.selectionMs as number))} (store order), ${ratioText((r.keyedSortAdversarialMs as number) / (r.selectionAdversarialMs as number))} (adversarial); all four prefixes equal the full sort's head: ${r.agree}\n`,
    )
  }
}

finish()

function finish(): never {
  report.loadAtEnd = os.loadavg()
  console.log(
    `load average at end: ${os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  )
  if (jsonOut !== undefined) {
    const file = jsonOut || 'bench-results.json'
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
    console.log(`wrote ${file}`)
  }
  if (sink === -1) console.log(sink)
  process.exit(0)
}
