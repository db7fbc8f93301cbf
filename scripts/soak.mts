// Soak: a large book under a stream of random mark updates and fills for minutes, watching that
// resident memory stays flat and that nothing throws (docs/SOAK.md). A script, not a CI test.
//
//   node --expose-gc --import tsx scripts/soak.mts [--minutes 5] [--engine native|js]
//        [--positions 1000000] [--sample-seconds 10] [--warmup-seconds 60] [--tolerance-mib 64]
//        [--seed 1] [--waterfall-seconds 5] [--fill-rows 1000] [--no-yield]
//
// The loop: move the marks of a few markets (a mean-reverting random walk within ±8 % of the
// opening marks) and sweep; every step also fills a batch of random positions (set_positions:
// size changes at the current mark, some closes, re-opens of closed ones); every few seconds the
// whole waterfall runs at mark (its cash total is checked unchanged). Every --sample-seconds,
// after a full GC: RSS, V8 heap, external and array-buffer memory. Fails (exit 1) on any error,
// on a cash total that moved, or when RSS after the warm-up exceeds the warm-up's peak by more than
// the tolerance.
//
// The loop returns to the event loop after every step, as a server does between requests: the
// native binding's typed arrays are freed by finalizers that Node runs there, so a loop that never
// yields accumulates every result it was handed (--no-yield shows it; docs/SOAK.md).

import os from 'node:os'
import { Engine } from '../src/engine.js'
import { lcg, load, makeSyntheticMarket } from '../src/synthetic.js'

const args = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt
}
const minutes = Number(opt('--minutes', '5'))
const implementation = opt('--engine', 'native') as 'native' | 'js'
const positions = Number(opt('--positions', '1000000'))
const sampleSeconds = Number(opt('--sample-seconds', '10'))
const warmupSeconds = Number(opt('--warmup-seconds', String(Math.min(60, minutes * 12))))
const toleranceMiB = Number(opt('--tolerance-mib', '64'))
const seed = Number(opt('--seed', '1'))
const waterfallSeconds = Number(opt('--waterfall-seconds', '5')) // 0: never
const FILL_ROWS = Number(opt('--fill-rows', '1000'))
const yieldEachStep = !args.includes('--no-yield')
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) {
  console.error('run with node --expose-gc (the samples are taken after a full GC)')
  process.exit(2)
}

// Park–Miller, as the synthetic book.
const rand = lcg(seed)
const MiB = (b: number) => Math.round((b / 2 ** 20) * 10) / 10

const accounts = positions / 4
const marketsN = 64
console.log(
  `machine: ${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version} (shared with other work)`,
)
console.log(
  `soak: ${implementation} engine, ${positions.toLocaleString('en')} positions, ${accounts.toLocaleString('en')} accounts, ${marketsN} markets, ${minutes} min${yieldEachStep ? '' : ', never yielding to the event loop'}`,
)

const t0 = performance.now()
const book = makeSyntheticMarket(positions, accounts, marketsN)
const engine = new Engine({ quoteDecimals: book.quoteDecimals, implementation })
load(engine, book)
const core = engine.core
core.depositFund(10n ** 15n, 0n) // ten million quote units in the insurance fund
console.log(
  `loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${core.positionCount().toLocaleString('en')} positions on the ${engine.implementation} engine`,
)

const opening = book.markets.map((m) => m.mark)
const marks = opening.slice()
// Where each book row's position is now (0 after a close or a liquidation's close).
const qtyNow = book.qty.slice()

interface Sample {
  t: number
  rss: number
  heapUsed: number
  heapTotal: number
  external: number
  arrayBuffers: number
}
const samples: Sample[] = []
function sample(): Sample {
  gc!()
  const m = process.memoryUsage()
  const s = {
    t: (performance.now() - t0) / 1000,
    rss: m.rss,
    heapUsed: m.heapUsed,
    heapTotal: m.heapTotal,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
  }
  samples.push(s)
  return s
}

const MARKETS_PER_STEP = 8
let steps = 0
let sweeps = 0
let sweepMs = 0
let sweepMaxMs = 0
let liquidatableSeen = 0
let fillRows = 0
let waterfalls = 0
let waterfallMs = 0
let events = 0n
let now = 1n

function moveMarks() {
  const ms = new Uint32Array(MARKETS_PER_STEP)
  const ps = new BigInt64Array(MARKETS_PER_STEP)
  const chosen = new Set<number>()
  while (chosen.size < MARKETS_PER_STEP) chosen.add(rand(marketsN))
  let i = 0
  for (const m of chosen) {
    const open = opening[m]!
    // ±0.5 % a step, pulled back towards the opening mark, kept within ±8 %.
    let p = (marks[m]! * BigInt(99_500 + rand(1_001))) / 100_000n
    p -= (p - open) / 20n
    const lo = (open * 92n) / 100n
    const hi = (open * 108n) / 100n
    p = p < lo ? lo : p > hi ? hi : p
    marks[m] = p
    ms[i] = m
    ps[i] = p
    i++
  }
  core.setMarks(ms, ps)
}

function fills() {
  const rows = new Set<number>()
  while (rows.size < Math.min(FILL_ROWS, positions)) rows.add(rand(positions))
  if (rows.size === 0) return
  const n = rows.size
  const account = new Uint32Array(n)
  const market = new Uint32Array(n)
  const qty = new BigInt64Array(n)
  const price = new BigInt64Array(n)
  const isolatedMargin = new BigInt64Array(n)
  const flags = new Uint8Array(n)
  let i = 0
  for (const r of rows) {
    account[i] = book.account[r]!
    market[i] = book.market[r]!
    const orig = book.qty[r]!
    const cur = qtyNow[r]!
    let q: bigint
    const k = rand(10)
    if (cur === 0n)
      q = orig // re-open a closed position at its original size
    else if (k === 0)
      q = 0n // close
    else q = (orig * BigInt(50 + rand(101))) / 100n || orig // resize: 50 %–150 % of the original
    qty[i] = q
    price[i] = marks[book.market[r]!]!
    if (q !== 0n && book.flags[r] === 1) {
      flags[i] = 1
      isolatedMargin[i] = book.isolatedMargin[r]!
    }
    qtyNow[r] = q
    i++
  }
  core.setPositions(account, market, qty, price, isolatedMargin, flags)
  fillRows += n
}

function waterfall() {
  const before = core.ledger().cashTotal
  const w0 = performance.now()
  const first = core.runWaterfall(0, 0n, 0n, now)
  waterfallMs += performance.now() - w0
  waterfalls++
  const after = core.ledger()
  if (after.cashTotal !== before)
    throw new Error(`waterfall moved the cash total: ${before} -> ${after.cashTotal}`)
  // Positions it closed stay closed until a fill writes them again (set_positions is an upsert).
  events += after.nextSeq - first
}

function fmtSample(s: Sample) {
  return `t=${s.t.toFixed(0)}s rss=${MiB(s.rss)} MiB heapUsed=${MiB(s.heapUsed)} MiB heapTotal=${MiB(s.heapTotal)} MiB external=${MiB(s.external)} MiB arrayBuffers=${MiB(s.arrayBuffers)} MiB`
}

const start = sample()
console.log(`start: ${fmtSample(start)}`)
const loopStart = performance.now()
const end = loopStart + minutes * 60_000
let nextSample = loopStart + sampleSeconds * 1000
let nextWaterfall = waterfallSeconds > 0 ? loopStart + waterfallSeconds * 1000 : Infinity
let failure: string | null = null
try {
  while (performance.now() < end) {
    moveMarks()
    const s0 = performance.now()
    const sw = core.sweep(null)
    const ms = performance.now() - s0
    sweeps++
    sweepMs += ms
    sweepMaxMs = Math.max(sweepMaxMs, ms)
    liquidatableSeen += sw.account.length
    fills()
    steps++
    now++
    if (yieldEachStep) await new Promise((resolve) => setImmediate(resolve))
    const t = performance.now()
    if (t >= nextWaterfall) {
      waterfall()
      nextWaterfall = t + waterfallSeconds * 1000
    }
    if (t >= nextSample) {
      const s = sample()
      const el = (t - loopStart) / 1000
      console.log(
        `${fmtSample(s)} | steps ${steps} (${(steps / el).toFixed(1)}/s) sweep avg ${(sweepMs / sweeps).toFixed(1)} ms waterfalls ${waterfalls} events ${events}`,
      )
      nextSample = t + sampleSeconds * 1000
    }
  }
} catch (e) {
  failure = `error after ${steps} steps: ${(e as Error)?.stack ?? String(e)}`
}

const last = sample()
const elapsed = (performance.now() - loopStart) / 1000
const warm = samples.filter((s) => s.t - start.t <= warmupSeconds)
const after = samples.filter((s) => s.t - start.t > warmupSeconds)
const warmPeak = Math.max(...warm.map((s) => s.rss))
const maxRss = Math.max(...samples.map((s) => s.rss))
const afterMax = after.length ? Math.max(...after.map((s) => s.rss)) : NaN
// Least-squares slope of RSS over the post-warm-up samples, MiB per minute.
let slope = NaN
if (after.length >= 2) {
  const mt = after.reduce((a, s) => a + s.t, 0) / after.length
  const mr = after.reduce((a, s) => a + s.rss, 0) / after.length
  const num = after.reduce((a, s) => a + (s.t - mt) * (s.rss - mr), 0)
  const den = after.reduce((a, s) => a + (s.t - mt) ** 2, 0)
  slope = ((num / den) * 60) / 2 ** 20
}

console.log('==> soak summary')
console.log(
  `engine ${implementation}, ${positions.toLocaleString('en')} positions, ${elapsed.toFixed(0)} s of load`,
)
console.log(
  `steps ${steps} (${(steps / elapsed).toFixed(2)}/s): each = marks of ${MARKETS_PER_STEP} markets + full sweep + ${FILL_ROWS} position writes`,
)
console.log(
  `sweeps ${sweeps}, avg ${(sweepMs / Math.max(1, sweeps)).toFixed(1)} ms, max ${sweepMaxMs.toFixed(1)} ms; liquidatable rows seen ${liquidatableSeen}`,
)
console.log(
  `position writes ${fillRows} (${Math.round(fillRows / elapsed)}/s); waterfalls ${waterfalls}, avg ${(waterfallMs / Math.max(1, waterfalls)).toFixed(0)} ms, events ${events}`,
)
console.log(
  `RSS start ${MiB(start.rss)} MiB, end ${MiB(last.rss)} MiB, max ${MiB(maxRss)} MiB; warm-up (${warmupSeconds} s) peak ${MiB(warmPeak)} MiB, after warm-up max ${MiB(afterMax)} MiB, slope ${slope.toFixed(2)} MiB/min`,
)
console.log(
  `heap used start ${MiB(start.heapUsed)} MiB, end ${MiB(last.heapUsed)} MiB; external end ${MiB(last.external)} MiB`,
)
if (!failure && after.length && afterMax > warmPeak + toleranceMiB * 2 ** 20) {
  failure = `RSS grew after the warm-up: ${MiB(afterMax)} MiB > peak ${MiB(warmPeak)} MiB + ${toleranceMiB} MiB tolerance`
}
if (failure) {
  console.error(`SOAK FAILED: ${failure}`)
  process.exit(1)
}
console.log(`SOAK OK: no error, RSS within ${toleranceMiB} MiB of the warm-up peak`)
