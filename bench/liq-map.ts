// The liquidation map (SPEC §18) on the bench's book, against one full sweep of the same book
// measured beside it (both single-threaded): the largest market's map (100 buckets, mark ± 20 %),
// issue 17's target, and every market's in turn (the average per market: a secondary line).
// Wired into bench/run.ts; alone: `node --expose-gc --import tsx bench/liq-map.ts [positions]`.
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { Engine } from '../src/engine.js'
import { load, makeRaggedMarket, type SyntheticMarket } from '../src/synthetic.js'

type Measure = { name: string; meanMs: number; rmePct: number; dropped: boolean; load: number }
type MeasureFn = (name: string, fn: () => number, positions?: number) => Measure

/** Median of `runs` timings, in ms (a stand-in for benchmark.js when run alone). */
function median(name: string, fn: () => number, runs = 15): Measure {
  const t: number[] = []
  const l0 = os.loadavg()[0]!
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint()
    fn()
    t.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  t.sort((a, b) => a - b)
  const meanMs = t[runs >> 1]!
  const rmePct = ((t[runs - 2]! - t[1]!) / 2 / meanMs) * 100
  return { name, meanMs, rmePct, dropped: false, load: (l0 + os.loadavg()[0]!) / 2 }
}

export function benchLiquidationMap(
  nat: Engine,
  ts: Engine | null,
  book: SyntheticMarket,
  measure: MeasureFn = median,
): Record<string, unknown> {
  const markets = book.markets.length
  const range = (m: number): [bigint, bigint] => {
    const mark = book.markets[m]!.mark
    return [(mark * 8n) / 10n, (mark * 12n) / 10n]
  }
  const counts = new Array<number>(markets).fill(0)
  for (const m of book.market) counts[m] = (counts[m] as number) + 1
  const largest = counts.indexOf(Math.max(...counts))
  const sweep = measure('native sweep, 1 thread (the whole book)', () => {
    return nat.core.sweep(null).account.length
  })
  const one = measure(`native map, largest market (${counts[largest]} positions)`, () => {
    const [f, t] = range(largest)
    return nat.core.liquidationMap(largest, f, t, 100).longCount.length
  })
  const all = measure(`native map, each of the ${markets} markets in turn`, () => {
    let s = 0
    for (let m = 0; m < markets; m++) {
      const [f, t] = range(m)
      s += nat.core.liquidationMap(m, f, t, 100).longCount.length
    }
    return s
  })
  let tsOneMs: number | null = null
  if (ts) {
    const t0 = process.hrtime.bigint()
    const [f, t] = range(largest)
    ts.core.liquidationMap(largest, f, t, 100)
    tsOneMs = Number(process.hrtime.bigint() - t0) / 1e6
  }
  console.log(`  liquidation map on the ${book.qty.length.toLocaleString('en')}-position book:`)
  for (const m of [sweep, one, all]) {
    const text = m.dropped
      ? `dropped: rme ${m.rmePct.toFixed(1)} %`
      : `${m.meanMs.toFixed(2)} ms ±${m.rmePct.toFixed(1)} %`
    console.log(`    ${m.name.padEnd(58)} ${text.padStart(20)}  load ${m.load.toFixed(2)}`)
  }
  if (tsOneMs !== null)
    console.log(`    TypeScript map, largest market, once: ${tsOneMs.toFixed(0)} ms`)
  const r = (x: Measure) => (x.dropped || sweep.dropped ? null : x.meanMs / sweep.meanMs)
  // The target: the largest market's map under one sweep of the whole book, same run.
  const perMarket = r(all) === null ? null : (r(all) as number) / markets
  console.log(`    largest market's map / full sweep: ${r(one)?.toFixed(2) ?? '—'} (target < 1)`)
  console.log(
    `    secondary: average per market ${(all.meanMs / markets).toFixed(2)} ms = ${perMarket?.toFixed(3) ?? '—'} sweeps; all markets' maps / full sweep: ${r(all)?.toFixed(2) ?? '—'}\n`,
  )
  return {
    sweep,
    largestMarket: one,
    largestMarketSweeps: r(one),
    allMarkets: all,
    perMarketMs: all.meanMs / markets,
    perMarketSweeps: perMarket,
    tsLargestMarketMs: tsOneMs,
    largestMarketPositions: counts[largest],
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 1_000_000)
  const book = makeRaggedMarket(n, { liquidatablePct: 3, seed: 4099 })
  const nat = new Engine({ implementation: 'native', quoteDecimals: book.quoteDecimals })
  load(nat, book)
  benchLiquidationMap(nat, null, book)
}
