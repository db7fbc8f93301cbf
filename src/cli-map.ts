// `deleverage map <scenario.json> --symbol S [--from P] [--to P] [--buckets N] [--json]
// [--impl native|js]`: the liquidation map of one market (SPEC §18) — per price bucket, the long
// and short quantity and notional whose liquidation price lies in it. Exit codes as cli.ts.

import {
  type Command,
  commandHelp,
  IMPL_OPTION,
  implArg,
  type Options,
  type Parsed,
  requireOptions,
  resolveExample,
  str,
  UsageError,
} from './cli-args.js'
import { formatUnits, parseUnits } from './decimal.js'
import type { LiquidationMapReport, LiquidationMapSums } from './engine.js'
import { loadScenarioFile } from './scenario.js'
import { displayDecimal, Output, table } from './text.js'

export const MAP_OPTIONS: Options = {
  symbol: { type: 'string', value: 'S', help: 'the market' },
  from: {
    type: 'string',
    value: 'P',
    help: "lowest price of the range (default: half the scenario's mark)",
  },
  to: {
    type: 'string',
    value: 'P',
    help: 'end of the range, not included (default: 1.5 × the mark)',
  },
  buckets: { type: 'string', value: 'N', help: 'number of equal buckets, 1–100000 (default 50)' },
  json: { type: 'boolean', help: 'the report as JSON (decimal strings)' },
  impl: IMPL_OPTION,
  'full-precision': {
    type: 'boolean',
    help: 'every decimal of the amounts (tables round money to 2, coin to 8)',
  },
}

export const MAP_HELP = commandHelp({
  name: 'map',
  positionals: ['scenario.json'],
  required: ['symbol'],
  about: `Liquidation map of one market: for each price bucket, the long and short quantity and notional
(valued at each position's liquidation price) that would be liquidated there — cross positions
with the other markets' marks fixed, isolated positions on their own margin. Exact (SPEC §18).`,
  options: MAP_OPTIONS,
  examples: [
    'deleverage map examples/small-book.json --symbol BTCUSDT --from 20000 --to 40000 --buckets 20',
  ],
})

/** The `map` entry of the CLI's COMMANDS table. */
export const MAP_COMMAND: Command = {
  name: 'map',
  summary: `Liquidation map of one market: long and short notional that would be liquidated per
price bucket (the other marks fixed), exact.`,
  options: MAP_OPTIONS,
  positionals: ['scenario.json'],
  help: MAP_HELP,
  run: (p) => mapCommand(p),
}

/** The mark × num/den, at the market's decimals (rounded down; at least one tick). */
function scaled(mark: string, decimals: number, num: bigint, den: bigint): string {
  const x = (parseUnits(mark, decimals, 'mark') * num) / den
  return formatUnits(x > 0n ? x : 1n, decimals)
}

/** `deleverage map …`, parsed by the COMMANDS table (src/cli.ts); resolves to the exit code.
 * Usage and engine errors go to the table's handler (exit 2, 3). */
export async function mapCommand(p: Parsed): Promise<number> {
  const v = p.values
  requireOptions('map', v, ['symbol'])
  const symbol = str(v, 'symbol')!
  const impl = implArg(v)
  const buckets = str(v, 'buckets')
  if (buckets !== undefined && !/^[1-9]\d*$/.test(buckets))
    throw new UsageError(`--buckets takes a positive integer, got ${buckets}`)
  const { scenario, engine } = loadScenarioFile(resolveExample(p.positionals[0]!), {
    ...(impl ? { implementation: impl } : {}),
  })
  const mk = scenario.markets.find((m) => m.symbol === symbol)
  const P = mk?.priceDecimals ?? 0
  const mark = String(mk?.mark ?? '1')
  const map = engine.liquidationMap(symbol, {
    from: str(v, 'from') ?? scaled(mark, P, 1n, 2n),
    to: str(v, 'to') ?? scaled(mark, P, 3n, 2n),
    ...(buckets ? { buckets: Number(buckets) } : {}),
  })
  const out = new Output(process.stdout)
  if (v.json) out.line(JSON.stringify(map, null, 2))
  else {
    // Money at 2 decimals (8 for a coin-settled market), as `check` prints it.
    const places = v['full-precision'] ? undefined : mk?.type === 'inverse' ? 8 : 2
    writeMapTable(out, map, mark, engine.implementation, places)
  }
  await out.flush()
  return 0
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
