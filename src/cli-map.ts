// `deleverage map <scenario.json> --symbol S [--from P] [--to P] [--buckets N] [--json]
// [--impl native|js]`: the liquidation map of one market (SPEC §18) — per price bucket, the long
// and short quantity and notional whose liquidation price lies in it. Exit codes as cli.ts.

import { parseArgs } from 'node:util'
import { formatUnits, parseUnits } from './decimal.js'
import type { LiquidationMapReport, LiquidationMapSums } from './engine.js'
import { DeleverageError } from './fallback/errors.js'
import { loadScenarioFile } from './scenario.js'
import { displayDecimal, Output, table } from './text.js'

export const MAP_HELP = `deleverage map <scenario.json> --symbol S [--from P] [--to P] [--buckets N] [--json] [--impl native|js]

Liquidation map of one market: for each price bucket, the long and short quantity and notional
(valued at each position's liquidation price) that would be liquidated there — cross positions
with the other markets' marks fixed, isolated positions on their own margin. Exact (SPEC §18).

Options:
  --symbol S     the market (required)
  --from P       lowest price of the range (default: half the scenario's mark)
  --to P         end of the range, not included (default: 1.5 × the mark)
  --buckets N    number of equal buckets, 1–100000 (default 50)
  --json         the report as JSON (decimal strings)
  --impl I       native or js (default: native when it loads)
  --full-precision  every decimal of the amounts (tables round money to 2, coin to 8)

Example:
  deleverage map examples/small-book.json --symbol BTCUSDT --from 20000 --to 40000 --buckets 20`

const OPTIONS = {
  symbol: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  buckets: { type: 'string' },
  json: { type: 'boolean' },
  impl: { type: 'string' },
  'full-precision': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** The mark × num/den, at the market's decimals (rounded down; at least one tick). */
function scaled(mark: string, decimals: number, num: bigint, den: bigint): string {
  const x = (parseUnits(mark, decimals, 'mark') * num) / den
  return formatUnits(x > 0n ? x : 1n, decimals)
}

/** `deleverage map …` (argv after the command name); resolves to the exit code. */
export async function mapCommand(argv: string[]): Promise<number> {
  let v: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
  try {
    v = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (e) {
    return usage((e as Error).message)
  }
  const o = v.values
  if (o.help) {
    console.log(MAP_HELP)
    return 0
  }
  if (v.positionals.length !== 1) return usage('map takes one scenario file')
  if (o.symbol === undefined) return usage('map needs --symbol S')
  if (o.impl !== undefined && o.impl !== 'native' && o.impl !== 'js')
    return usage(`--impl takes native or js, got ${o.impl}`)
  if (o.buckets !== undefined && !/^[1-9]\d*$/.test(o.buckets))
    return usage(`--buckets takes a positive integer, got ${o.buckets}`)
  const out = new Output(process.stdout)
  try {
    const { scenario, engine } = loadScenarioFile(v.positionals[0]!, {
      ...(o.impl ? { implementation: o.impl as 'native' | 'js' } : {}),
    })
    const mk = scenario.markets.find((m) => m.symbol === o.symbol)
    const P = mk?.priceDecimals ?? 0
    const mark = String(mk?.mark ?? '1')
    const map = engine.liquidationMap(o.symbol, {
      from: o.from ?? scaled(mark, P, 1n, 2n),
      to: o.to ?? scaled(mark, P, 3n, 2n),
      ...(o.buckets ? { buckets: Number(o.buckets) } : {}),
    })
    if (o.json) out.line(JSON.stringify(map, null, 2))
    else {
      // Money at 2 decimals (8 for a coin-settled market), as `check` prints it.
      const places = o['full-precision'] ? undefined : mk?.type === 'inverse' ? 8 : 2
      writeMapTable(out, map, mark, engine.implementation, places)
    }
    await out.flush()
    return 0
  } catch (e) {
    if (out.closed) return 0
    if (e instanceof DeleverageError) {
      console.error(`deleverage: ${e.code}: ${e.message}`)
      return 3
    }
    console.error(e)
    return 1
  }
}

function usage(msg: string): number {
  console.error(`deleverage: ${msg}\nRun 'deleverage map --help' for usage.`)
  return 2
}

function writeMapTable(
  out: Output,
  map: LiquidationMapReport,
  mark: string,
  impl: string,
  places: number | undefined,
): void {
  const n = (s: string) => displayDecimal(s)
  const row = (label: string, s: LiquidationMapSums) => [
    label,
    n(String(s.longCount)),
    n(s.longQty),
    displayDecimal(s.longNotional, places),
    n(String(s.shortCount)),
    n(s.shortQty),
    displayDecimal(s.shortNotional, places),
  ]
  const first = map.buckets[0]!.from
  const last = map.buckets[map.buckets.length - 1]!.to
  const rows = [
    ['price bucket', 'longs', 'long qty', 'long notional', 'shorts', 'short qty', 'short notional'],
    row(`below ${n(first)}`, map.below),
    ...map.buckets.map((b) => row(`${n(b.from)} – ${n(b.to)}`, b)),
    row(`${n(last)} and above`, map.above),
  ]
  out.line(`liquidation map of ${map.symbol} (mark ${n(mark)}); notional at the liquidation price`)
  out.line(table(rows))
  out.line(`\n(engine: ${impl}; positions without a liquidation price are not counted)`)
}
