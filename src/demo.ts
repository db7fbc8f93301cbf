// `deleverage demo`: the main job on a fresh clone, with no input. A synthetic market of
// 1,000,000 positions over 250,000 accounts in eight perpetuals with Binance-shaped brackets
// (src/market-sim.ts) goes through a 30-minute crash with rebounds; every minute the marks move,
// the whole waterfall runs with price impact, and the liquidation flow moves the marks further.
// The same seeded book and path are replayed once per policy — ranked ADL (BitMEX, Binance,
// Hyperliquid), pro-rata ADL and socialised loss — on up to two worker threads; the terminal gets
// a summary and report.html the charts.

import { existsSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join, relative } from 'node:path'
import { Worker } from 'node:worker_threads'
import { formatUnits } from './decimal.js'
import { Engine, type Implementation } from './engine.js'
import { takerFeeLine } from './cli-fees.js'
import { crashPath, makeSimMarket, SIM_MARKETS } from './market-sim.js'
import { moduleDir } from './native-require.cjs'
import {
  type EventTables,
  eventTables,
  renderReport,
  reportData,
  startLiquidationMap,
} from './report.js'
import type { LiquidationMapReport } from './engine.js'
import { LOSS_RULES, simulate, type LossRule, type SimMarket, type SimResult } from './simulate.js'
import { load, type SyntheticMarket } from './synthetic.js'
import { table } from './text.js'

export interface DemoOptions {
  positions?: number
  accounts?: number
  implementation?: Implementation
  /** Where report.html goes (default: ./report.html). */
  report?: string
  /** Worker threads for the policy runs (default: min(2, cores)); 1 runs them in this thread. */
  threads?: number
  progress?: (done: number, total: number) => void
  log?: (line: string) => void
}

/** The demo's settings, in one place (docs/SIMULATE.md explains each). */
export const DEMO = {
  steps: 30,
  /** BTC's fall at the low, %; the other markets by their beta. */
  depthPct: 20,
  pathSeed: 7,
  bookSeed: 20240805,
  /** Opening insurance fund, USDT. */
  insuranceFund: 150_000_000n,
  fill: { ppmPerLot: 1n, capPpm: 30_000n },
  /** Order-book depth per 1 % mark move, as a share of the market's long open interest at the start: 1/50 = 2 %. */
  depthDivisor: 50n,
  feedback: { maxRounds: 1, resiliencePpm: 500_000, capPpm: 30_000 },
  waterfall: { liquidationFee: '0.005', buffer: '0.02' },
}

/** Depth per market: long open interest (atoms at the start price) / divisor. */
export function depthFromMarket(book: SyntheticMarket, divisor: bigint): bigint[] {
  const oi = book.markets.map(() => 0n)
  for (let i = 0; i < book.qty.length; i++)
    if (book.qty[i]! > 0n) oi[book.market[i]!]! += book.qty[i]!
  return book.markets.map((m, j) => {
    const s = book.quoteDecimals - m.priceDecimals - m.qtyDecimals
    const atoms =
      s >= 0 ? oi[j]! * m.mark * 10n ** BigInt(s) : (oi[j]! * m.mark) / 10n ** BigInt(-s)
    const d = atoms / divisor
    return d > 0n ? d : 1n
  })
}

/** Run one loss rule on a freshly built book (what each worker does). */
export function runDemoPolicy(
  lossRule: LossRule,
  positions: number,
  accounts: number,
  implementation: Implementation | undefined,
  onProgress?: (d: number, t: number) => void,
): DemoRun {
  const t0 = performance.now()
  const book = makeSimMarket(positions, accounts, DEMO.bookSeed)
  const engine = new Engine({
    quoteDecimals: book.quoteDecimals,
    ...(implementation ? { implementation } : {}),
  })
  load(engine, book)
  // The report's liquidation map: the primary run's book at the start marks, as simulate does.
  const first = book.markets[0]!
  const liquidationMap =
    lossRule === LOSS_RULES[0]
      ? startLiquidationMap(engine, first.symbol, first.mark, first.priceDecimals)
      : undefined
  const depth = depthFromMarket(book, DEMO.depthDivisor)
  const markets: SimMarket[] = book.markets.map((m, j) => ({
    index: j,
    symbol: m.symbol,
    priceDecimals: m.priceDecimals,
    qtyDecimals: m.qtyDecimals,
    inverse: false,
    contractSize: 1n,
    depth: depth[j]!,
  }))
  const result = simulate(
    { engine, markets },
    {
      path: crashPath(SIM_MARKETS, DEMO.steps, DEMO.depthPct, DEMO.pathSeed),
      lossRule,
      waterfall: DEMO.waterfall,
      insuranceFund: DEMO.insuranceFund * 10n ** BigInt(book.quoteDecimals),
      fill: DEMO.fill,
      feedback: DEMO.feedback,
      // The report's per-market and who-paid tables come from the primary run's events: kept,
      // summed here, and dropped (a 1M-position crash has too many to send between threads).
      keepEvents: lossRule === LOSS_RULES[0],
      ...(onProgress ? { onProgress } : {}),
    },
  )
  const tables = result.events ? eventTables(result) : undefined
  delete result.events
  return {
    result,
    ms: performance.now() - t0,
    ...(tables ? { tables } : {}),
    ...(liquidationMap ? { liquidationMap } : {}),
  }
}

/** One policy's run: its result (without events), time, and the event tables of the primary one. */
export interface DemoRun {
  result: SimResult
  ms: number
  tables?: EventTables
  /** The primary run's liquidation map at the start marks (the report's chart). */
  liquidationMap?: LiquidationMapReport
}

/** USDT with thousands separators and no decimals, for the terminal (the JSON/report keep all). */
function usd(s: string): string {
  const neg = s.startsWith('-')
  const int = (neg ? s.slice(1) : s).split('.')[0]!
  return (neg ? '−' : '') + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

async function runAll(
  o: DemoOptions,
  positions: number,
  accounts: number,
): Promise<Map<LossRule, DemoRun>> {
  const out = new Map<LossRule, DemoRun>()
  const total = LOSS_RULES.length * DEMO.steps
  const done = new Map<LossRule, number>()
  const tick = (p: LossRule, d: number) => {
    done.set(p, d)
    o.progress?.(
      [...done.values()].reduce((a, b) => a + b, 0),
      total,
    )
  }
  const workerFile = join(moduleDir, 'demo-worker.js')
  const threads = Math.max(
    1,
    Math.min(o.threads ?? Math.min(2, availableParallelism()), LOSS_RULES.length),
  )
  if (threads === 1 || !existsSync(workerFile)) {
    for (const p of LOSS_RULES)
      out.set(
        p,
        runDemoPolicy(p, positions, accounts, o.implementation, (d) => tick(p, d)),
      )
    return out
  }
  const queue = [...LOSS_RULES]
  const worker = async () => {
    for (let p = queue.shift(); p; p = queue.shift()) {
      const policy = p
      const r = await new Promise<DemoRun>((resolve, reject) => {
        const w = new Worker(workerFile, {
          workerData: { policy, positions, accounts, implementation: o.implementation },
        })
        w.on('message', (m: { progress: number } | DemoRun) => {
          if ('progress' in m) tick(policy, m.progress)
          else resolve(m)
        })
        w.on('error', reject)
        w.on(
          'exit',
          (code) =>
            code !== 0 && reject(new Error(`demo worker for ${policy} exited with ${code}`)),
        )
      })
      out.set(policy, r)
    }
  }
  await Promise.all(Array.from({ length: threads }, worker))
  return out
}

/** The steps of the crash that had liquidations, as a table (USDT). */
function crashTable(main: SimResult): string[][] {
  const rows: string[][] = [
    [
      'step',
      'BTC path',
      'BTC mark',
      'partial fills',
      'takeovers',
      'ADL fills',
      'liquidation volume',
      'insurance fund',
    ],
  ]
  for (const s of main.steps) {
    if (s.partialFills + s.takeovers + s.adlFills === 0) continue
    rows.push([
      String(s.step),
      s.path[0]!,
      s.mark[0]!,
      s.partialFills.toLocaleString('en'),
      s.takeovers.toLocaleString('en'),
      s.adlFills.toLocaleString('en'),
      usd(s.liquidationVolume),
      usd(s.insuranceFund),
    ])
  }
  return rows
}

/** One row per loss rule, compared on the same book and path (USDT). */
function policyTable(results: SimResult[], runs: Map<LossRule, { ms: number }>): string[][] {
  const cmp: string[][] = [
    [
      'loss rule',
      'ADL fills',
      'loss shares',
      'accounts touched',
      'taken',
      'required',
      'overshoot',
      'fund at end',
      'liq. volume',
      'run s',
    ],
  ]
  for (const r of results) {
    const t = r.totals
    cmp.push([
      r.lossRule,
      t.adlFills.toLocaleString('en'),
      t.socialised.toLocaleString('en'),
      t.accountsTouched.toLocaleString('en'),
      usd(t.taken),
      usd(t.required),
      usd(t.overshoot),
      usd(t.insuranceFundEnd),
      usd(t.liquidationVolume),
      (runs.get(r.lossRule)!.ms / 1000).toFixed(1),
    ])
  }
  return cmp
}

export async function demo(
  o: DemoOptions = {},
): Promise<{ results: SimResult[]; reportPath: string; ms: number }> {
  const log = o.log ?? ((l: string) => console.log(l))
  const positions = o.positions ?? 1_000_000
  const accounts = o.accounts ?? Math.max(1, Math.floor(positions / 4))
  const t0 = performance.now()
  const impl = o.implementation ?? new Engine().implementation
  log(`deleverage demo — ${impl} engine`)
  log(
    `market: ${positions.toLocaleString('en')} positions, ${accounts.toLocaleString('en')} accounts, ${SIM_MARKETS.length} perpetuals (${SIM_MARKETS.map((m) => m.symbol).join(', ')}) with Binance-shaped brackets`,
  )
  log(
    `path: ${DEMO.steps} one-minute steps, BTC −${DEMO.depthPct} % at the low with two rebounds (alts by beta); fund ${usd(DEMO.insuranceFund.toString())} USDT; fills slip 1 ppm per lot up to 3 %; liquidation flow moves the mark (depth 2 % of open interest per 1 %)\n`,
  )
  const runs = await runAll({ ...o, implementation: impl }, positions, accounts)
  const results = LOSS_RULES.map((p) => runs.get(p)!.result)
  const main = results[0]!
  const rows = crashTable(main)
  log(`the crash under ${main.lossRule} ranking (steps with liquidations; USDT):`)
  log(table(rows))
  log('')
  const cmp = policyTable(results, runs)
  log(
    "policies compared on the same book and path (USDT; taken = winners' profit given up against mark, or loss shares;",
  )
  log('required = bankrupt losses at mark the fund could not cover; overshoot = taken − required):')
  log(table(cmp))
  const conserved = results.every((r) => r.totals.cashConserved)
  const events = results.reduce((a, r) => a + r.totals.events, 0)
  const reportPath = o.report ?? join(process.cwd(), 'report.html')
  const start = SIM_MARKETS.map((m) => formatUnits(m.price, m.priceDecimals))
  const data = reportData(
    {
      title: `Deleveraging cascade: ${positions.toLocaleString('en')} positions through a ${DEMO.steps}-minute crash`,
      settings: [
        `${positions.toLocaleString('en')} positions, ${accounts.toLocaleString('en')} accounts, ${SIM_MARKETS.length} USDT perpetuals with Binance-shaped brackets (seed ${DEMO.bookSeed})`,
        `Path: ${DEMO.steps} one-minute steps, BTC −${DEMO.depthPct} % at the low, two rebounds (seed ${DEMO.pathSeed}); liquidation flow moves the mark (depth 2 % of open interest per 1 %, half recovered per minute)`,
        `Waterfall: fee 0.5 %, buffer 2 %, fills slip 1 ppm per lot up to 3 %, ADL at the bankruptcy price; insurance fund ${usd(DEMO.insuranceFund.toString())} USDT; ${impl} engine`,
        takerFeeLine([]),
      ],
      results,
      quote: 'USDT',
      ...(runs.get(LOSS_RULES[0]!)!.tables
        ? { eventTables: runs.get(LOSS_RULES[0]!)!.tables! }
        : {}),
      ...(runs.get(LOSS_RULES[0]!)!.liquidationMap
        ? { liquidationMap: runs.get(LOSS_RULES[0]!)!.liquidationMap! }
        : {}),
    },
    start,
  )
  writeFileSync(reportPath, renderReport(data))
  const ms = performance.now() - t0
  log(
    `\n${events.toLocaleString('en')} events over ${LOSS_RULES.length} runs of ${DEMO.steps} steps (${results.reduce((a, r) => a + r.totals.rounds, 0)} waterfall rounds); cash ${conserved ? 'conserved exactly at every step in every run' : 'NOT CONSERVED'}.`,
  )
  log(
    `report: ${relative(process.cwd(), reportPath) || reportPath}  (total ${(ms / 1000).toFixed(1)} s)`,
  )
  return { results, reportPath, ms }
}
