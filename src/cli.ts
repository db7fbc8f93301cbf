// The `deleverage` command line. Exit codes: 0 ok, 2 usage error, 3 invalid input (scenario, path
// or engine rejection, with the field named), 1 anything unexpected (docs/CLI.md).

import { ORDER_COMMAND, writePreTradeTable } from './cli-order.js'
import {
  type DeleverageTarget,
  type Engine,
  type FillModel,
  type Implementation,
  type WaterfallEvent,
  type AccountStatus,
  type PositionReport,
  type SweepReport,
} from './engine.js'
import { DeleverageError } from './fallback/errors.js'
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import {
  type Command,
  type Options,
  type Parsed,
  parseCommand,
  positiveInt,
  resolveExample,
  str,
  UsageError,
  type Values,
} from './cli-args.js'
import { formatRatio, formatUnits, parseUnits } from './decimal.js'
import { findPackageRoot } from './native.js'
import { demo } from './demo.js'
import { takerFeeLine } from './cli-fees.js'
import { MAP_COMMAND } from './cli-map.js'
import { SHARD_COMMAND } from './cli-shard.js'
import { parseShock, readPathCsv, shockPath } from './pricepath.js'
import { renderReport, reportData, startLiquidationMap } from './report.js'
import {
  engineFromScenario,
  loadScenarioFile,
  readScenarioFile,
  type Scenario,
} from './scenario.js'
import {
  DEFAULT_FEEDBACK,
  LOSS_RULES,
  MarketValues,
  simulate,
  type LossRule,
  type SimEvent,
  type SimMarket,
  type SimResult,
} from './simulate.js'
import { columnWidths, displayDecimal, Output, table, tableRow } from './text.js'

/** Table rows printed by default: a book of millions of positions is for --json/--ndjson or --all. */
const DEFAULT_LIMIT = 1000

/** `deleverage --help`: the usage line (its help's first line) and summary of every command of
 * `COMMANDS`, so a command added there is listed here too. */
function overview(): string {
  const usage = COMMANDS.map((c) => `  ${c.help.split('\n', 1)[0]}`).join('\n')
  const summaries = COMMANDS.map(
    (c) => `  ${c.name.padEnd(10)} ${c.summary.replaceAll('\n', `\n${' '.repeat(13)}`)}`,
  ).join('\n')
  return `deleverage — exact margin-risk engine for perpetual futures

Usage:
${usage}
  deleverage <command> --help     (options and examples of one command)
  deleverage --version

Commands:
${summaries}

Examples (examples/ is shipped with the package; the CLI finds examples/… there when the current
directory has no such file):
  deleverage check examples/small-book.json
  deleverage liquidate examples/crash.json --fill impact:20:50000
  deleverage simulate examples/crash.json --shock -20% --steps 10 --loss-rule all --report report.html
  deleverage demo

Exit codes: 0 ok; 2 usage error; 3 invalid input (scenario, path or engine rejection; the message
names the field, line or column); 1 unexpected error. Set DELEVERAGE_FORCE_JS=1 to force the
TypeScript engine.`
}

const COMMON = `  --impl native|js  choose the engine (default: native when it loads)
  -h, --help        this text`

const FULL_HELP = `  --full-precision  money with every decimal of the scenario (default: 2 decimals, 8 when a
                    market is inverse; JSON always has every decimal)`

const HELP: Record<string, string> = {
  check: `deleverage check <scenario.json> [--json|--ndjson] [--limit N|--all] [--impl native|js] [--warning RATIO]

Per margin scope — an account's cross positions against its balance, and each isolated position
against its isolated margin — equity, maintenance margin, margin ratio (MM / equity), liquidatable
or margin call: exactly the scopes the engine's sweep flags. Per position: uPnL, maintenance
margin, liquidation and bankruptcy prices (nearest tick; --json also has the conservative trigger
tick). The scenario format is docs/SCENARIO.md. Output is written as it is produced.

Options:
  --json            the same results as one JSON document, every amount a decimal string
                    ({implementation, accounts: [...], summary}, one account a line)
  --ndjson          one JSON account a line, then a {"summary": ...} line
  --limit N         rows per table (default ${DEFAULT_LIMIT}; the summary counts the whole book)
  --all             every row of the tables
  --warning RATIO   margin-call level, e.g. 0.8 (default: the scenario's warningRatio)
${FULL_HELP}
${COMMON}

Examples:
  deleverage check examples/small-book.json
  deleverage check book.json --json > risk.json
  deleverage check book.json --ndjson | grep '"liquidatable":true'
  deleverage check book.json --warning 0.9 --impl js`,
  liquidate: `deleverage liquidate <scenario.json> [--json] [--limit N|--all] [--fill mark|impact:PPM_PER_LOT:CAP_PPM]

The whole waterfall once, at the scenario's marks: partial liquidations or takeovers, fees and
deficits through the insurance fund, ADL. Prints every event, the final state and the ledger.

Options:
  --fill MODEL      mark (default: the scenario's fill, else mark) or impact:PPM_PER_LOT:CAP_PPM
                    (each order slips min(CAP, PPM × lots) ppm against it)
  --json            events, ledger, accounts and summary as JSON (as check --json)
  --limit N, --all  rows per table, as for check
  --warning RATIO   margin-call level of the state after, as for check
${FULL_HELP}
${COMMON}

Examples:
  deleverage liquidate examples/crash.json
  deleverage liquidate book.json --fill impact:20:50000 --json > after.json`,
  plan: `deleverage plan <scenario.json> --account ID --target T [--fee RATE] [--json]

The smallest reductions of an account's cross positions (at mark, with a taker fee) that reach
a target, and the positions and liquidation prices after.

Options:
  --account ID      the account to deleverage
  --target T        ratio=0.5 (MM / equity), leverage=3 (notional / equity), or
                    distance=0.1@SYMBOL (liquidation price at least 10 % from mark)
  --fee RATE        taker fee of the reducing orders (default 0)
  --json            the plan as JSON
${FULL_HELP}
${COMMON}

Examples:
  deleverage plan examples/small-book.json --account whale --target ratio=0.5 --fee 0.0005
  deleverage plan examples/small-book.json --account whale --target distance=0.1@BTCUSDT`,
  simulate: `deleverage simulate <scenario.json> (--path prices.csv | --shock PCT [--steps N]) [options]

Cascade simulation (docs/SIMULATE.md). Each step sets the marks from the path, runs the
waterfall (fills with price impact, takeovers, insurance fund, ADL or loss socialisation), and
the liquidation flow moves the mark further; up to --rounds waterfall rounds per step. Money is
exact and checked: cash is conserved at every step. Deterministic: the same inputs give the same
events and report.

Path:
  --path FILE       CSV: header "step,SYMBOL,..." then one row of mark prices per step
                    (markets without a column keep their mark)
  --shock PCT       every mark moves linearly to mark × (1 + PCT): -20% (a percentage) or -0.2
                    (a fraction); the output says how it was read
  --steps N         steps of the shock (default 10)

Loss rule and model:
  --loss-rule R     who bears what the insurance fund cannot pay: ADL ranked bitmex | binance |
                    hyperliquid, ADL prorata, socialised (the socialise fund policy) | all
                    (--policy R: the old name of this option)
                    (default: the scenario's waterfall.ranking, else bitmex; all compares the five)
  --fill MODEL      impact:PPM_PER_LOT:CAP_PPM (default: the scenario's fill, else impact:1:30000)
                    or mark
  --depth PCT       book depth per 1 % mark move, in % of the market's long open interest (default 2)
  --rounds N        waterfall rounds per step, each after the mark moved (default ${DEFAULT_FEEDBACK.maxRounds})
  --fund AMOUNT     opening insurance fund (default: the scenario's insuranceFund, else 0)

Output:
  --report FILE     write the HTML report (charts, loss-rule table, largest events)
  --events FILE     write every event of the (first) loss rule: FILE.csv or FILE.json
  --json            print the results (steps, totals, largest events, events) as JSON
  --csv             print the events of the (first) loss rule as CSV
  A progress bar goes to stderr when it is a terminal.
${FULL_HELP}
${COMMON}

Examples:
  deleverage simulate examples/crash.json --shock -30% --steps 6
  deleverage simulate examples/crash.json --path examples/prices.csv --loss-rule all --report report.html
  deleverage simulate book.json --shock -15% --events events.csv --json > summary.json`,
  demo: `deleverage demo [--impl native|js] [--positions N] [--accounts N] [--report FILE]

The main job with no input: a synthetic market (1,000,000 positions, 250,000 accounts, eight
perpetuals with Binance-shaped brackets) goes through a 30-minute crash with rebounds; the same
book and path are replayed under each policy (BitMEX, Binance, Hyperliquid ranking, pro-rata,
socialised loss) on up to two worker threads. Prints the cascade and the comparison, and writes
report.html in the current directory.

Options:
  --positions N     positions (default 1000000)
  --accounts N      accounts (default positions / 4; 1–8 positions each)
  --report FILE     where the report goes (default ./report.html)
  --threads N       worker threads for the policy runs (default 2)
${COMMON}

Examples:
  deleverage demo
  deleverage demo --positions 200000 --report /tmp/report.html`,
}

interface Args {
  command: string
  file: string
  json: boolean
  ndjson: boolean
  csv: boolean
  /** Table rows per table; null with --all. */
  limit: number | null
  impl: Implementation | 'auto'
  /** Money in tables with every decimal of the scenario (default: a display precision). */
  fullPrecision: boolean
  warning: string | undefined
  positions: number | undefined
  accounts: number | undefined
  threads: number | undefined
  fill: FillModel | undefined
  account: string | undefined
  target: DeleverageTarget | undefined
  fee: string | undefined
  path: string | undefined
  shock: string | undefined
  steps: number | undefined
  lossRule: LossRule | 'all' | undefined
  depth: string | undefined
  rounds: number | undefined
  fund: string | undefined
  report: string | undefined
  events: string | undefined
}

const IMPL: Options = { impl: { type: 'string', value: 'native|js' } }
const FULL: Options = { 'full-precision': { type: 'boolean' } }
const ROWS: Options = { limit: { type: 'string', value: 'N' }, all: { type: 'boolean' } }
const FILL: Options = { fill: { type: 'string', value: 'mark|impact:PPM_PER_LOT:CAP_PPM' } }
const WARNING: Options = { warning: { type: 'string', value: 'RATIO' } }
const JSON_OUT: Options = { json: { type: 'boolean' } }

/** One option's value, checked and typed (the per-command rules are in `commandArgs`). */
function optionArgs(v: Values): Partial<Args> {
  const a: Partial<Args> = {}
  if (v.all && v.limit !== undefined) throw new UsageError('give --limit N or --all, not both')
  if (v.all) a.limit = null
  else if (v.limit !== undefined) a.limit = positiveInt(v, 'limit')!
  const impl = str(v, 'impl')
  if (impl !== undefined) {
    if (impl !== 'native' && impl !== 'js')
      throw new UsageError(`--impl takes native or js, got ${impl}`)
    a.impl = impl
  }
  const fill = str(v, 'fill')
  if (fill !== undefined) a.fill = fillArg(fill)
  const target = str(v, 'target')
  if (target !== undefined) a.target = targetArg(target)
  const shock = str(v, 'shock')
  if (shock !== undefined) a.shock = shockArg(shock)
  // --policy is the old name of --loss-rule (the word now means only the fund policy)
  if (v['loss-rule'] !== undefined && v.policy !== undefined)
    throw new UsageError('give --loss-rule or its old name --policy, not both')
  const flag = v.policy !== undefined ? 'policy' : 'loss-rule'
  const rule = str(v, flag)
  if (rule !== undefined) {
    if (rule !== 'all' && !LOSS_RULES.includes(rule as LossRule))
      throw new UsageError(`--${flag} takes ${LOSS_RULES.join(', ')} or all, got ${rule}`)
    a.lossRule = rule as LossRule | 'all'
  }
  const depth = str(v, 'depth')
  if (depth !== undefined && (!/^\d+(\.\d+)?$/.test(depth) || Number(depth) <= 0))
    throw new UsageError(`--depth takes a positive percentage such as 2, got ${depth}`)
  const events = str(v, 'events')
  if (events !== undefined && !/\.(csv|json)$/i.test(events))
    throw new UsageError(`--events takes a file name ending in .csv or .json, got ${events}`)
  return a
}

function fillArg(v: string): FillModel {
  const m = /^impact:(\d+):(\d+)$/.exec(v)
  if (v === 'mark') return 'mark'
  if (m) return { ppmPerLot: Number(m[1]), capPpm: Number(m[2]) }
  throw new UsageError(`--fill takes mark or impact:PPM_PER_LOT:CAP_PPM, got ${v || 'nothing'}`)
}

function targetArg(v: string): DeleverageTarget {
  const m = /^(ratio|leverage|distance)=([0-9.]+)(?:@(.+))?$/.exec(v)
  if (!m || (m[1] === 'distance') !== (m[3] !== undefined))
    throw new UsageError(
      `--target takes ratio=R, leverage=L or distance=D@SYMBOL, got ${v || 'nothing'}`,
    )
  return m[1] === 'ratio'
    ? { marginRatio: m[2]! }
    : m[1] === 'leverage'
      ? { leverage: m[2]! }
      : { liquidationDistance: m[2]!, symbol: m[3]! }
}

/** `-20%` is a percentage, `-0.2` a fraction; a bare number of 1 or more would be ≥ 100 %: refused
 * with both readings rather than guessed. */
function shockArg(v: string): string {
  if (!/^[+-]?\d+(\.\d+)?%?$/.test(v))
    throw new UsageError(`--shock takes a change such as -20% or -0.2, got ${v}`)
  if (!v.endsWith('%') && Math.abs(Number(v)) >= 1)
    throw new UsageError(
      `--shock ${v} is a fraction (${v} = ${Number(v) * 100} %); write ${v}% for ${v} %, or a fraction such as -0.2`,
    )
  return v
}

/** How `--shock` was read, for the output: "−20 % (-0.2 read as a fraction)". */
function shockReading(v: string): string {
  if (v.endsWith('%')) return `${v.slice(0, -1)} %`
  return `${formatRatio(parseUnits(v, 6, '--shock'), 10_000n, 2).replace(/\.?0+$/, '')} % (${v} read as a fraction)`
}

/** The Args of `command` from its parsed options; positionals are the scenario file, if any. */
function commandArgs(command: string, p: Parsed): Args {
  const v = p.values
  const path = str(v, 'path')
  const a: Args = {
    command,
    file: p.positionals[0] === undefined ? '' : resolveExample(p.positionals[0]),
    json: v.json === true,
    ndjson: v.ndjson === true,
    csv: v.csv === true,
    limit: DEFAULT_LIMIT,
    impl: 'auto',
    fullPrecision: v['full-precision'] === true,
    warning: str(v, 'warning'),
    positions: positiveInt(v, 'positions'),
    accounts: positiveInt(v, 'accounts'),
    threads: positiveInt(v, 'threads'),
    fill: undefined,
    account: str(v, 'account'),
    target: undefined,
    fee: str(v, 'fee'),
    path: path === undefined ? undefined : resolveExample(path),
    shock: undefined,
    steps: positiveInt(v, 'steps'),
    lossRule: undefined,
    depth: str(v, 'depth'),
    rounds: positiveInt(v, 'rounds'),
    fund: str(v, 'fund'),
    report: str(v, 'report'),
    events: str(v, 'events'),
    ...optionArgs(v),
  }
  if (a.ndjson && a.json) throw new UsageError('give --json or --ndjson, not both')
  return a
}

/** Display of money, prices and counts in tables (JSON output always has every decimal). */
interface Display {
  /** Money of an account or event; `symbol` (a market it holds) tells coin-settled money apart. */
  money(s: string, symbol?: string | null): string
  price(s: string): string
  count(n: number): string
}

/** The asset the report's money is in: the markets' one settlement asset when they name it (a
 * linear market without settleAsset is 'quote', which the report replaces by the symbols' common
 * suffix), else 'quote' (markets of several assets: their atoms add up, SPEC §5.4). */
function reportAsset(scenario: Scenario): string {
  const assets = new Set(
    scenario.markets.map((m) => m.settleAsset ?? (m.type === 'inverse' ? m.symbol : 'quote')),
  )
  return assets.size === 1 ? [...assets][0]! : 'quote'
}

/** Money at 2 decimals (8 for an inverse market's coin), or every decimal with --full-precision;
 * thousands separators everywhere. */
function display(a: Args, scenario: Scenario): Display {
  const q = scenario.quoteDecimals ?? 8
  const coin = new Set(scenario.markets.filter((m) => m.type === 'inverse').map((m) => m.symbol))
  return {
    money: (s, symbol) =>
      displayDecimal(
        s,
        a.fullPrecision ? undefined : Math.min(q, symbol && coin.has(symbol) ? 8 : 2),
      ),
    price: (s) => displayDecimal(s),
    count: (n) => displayDecimal(String(n)),
  }
}

/** The commands: one entry each (name, options, positionals, help, handler). */
export const COMMANDS: Command[] = [
  {
    name: 'check',
    summary: `Per margin scope (an account's cross positions, each isolated position): equity,
maintenance margin, margin ratio, liquidatable or margin call. Per position: uPnL,
maintenance margin, liquidation and bankruptcy price.`,
    options: {
      ...JSON_OUT,
      ndjson: { type: 'boolean' },
      ...ROWS,
      ...WARNING,
      ...IMPL,
      ...FULL,
    },
    positionals: ['scenario.json'],
    help: HELP.check!,
    run: (p) => runBook(commandArgs('check', p)),
  },
  {
    name: 'liquidate',
    summary: `Run the whole waterfall at the scenario's marks: liquidations, insurance fund,
ADL. Prints every event and the final state.`,
    options: { ...JSON_OUT, ...ROWS, ...FILL, ...WARNING, ...IMPL, ...FULL },
    positionals: ['scenario.json'],
    help: HELP.liquidate!,
    run: (p) => runBook(commandArgs('liquidate', p)),
  },
  {
    name: 'plan',
    summary: `Manual deleveraging: the smallest reductions of an account's cross positions that
reach a margin ratio, a leverage, or a distance to liquidation.`,
    options: {
      account: { type: 'string', value: 'ID' },
      target: { type: 'string', value: 'ratio=R|leverage=L|distance=D@SYMBOL' },
      fee: { type: 'string', value: 'RATE' },
      ...JSON_OUT,
      ...IMPL,
      ...FULL,
    },
    positionals: ['scenario.json'],
    help: HELP.plan!,
    run: (p) => {
      const a = commandArgs('plan', p)
      if (!a.account || !a.target) throw new UsageError('plan needs --account ID and --target T')
      return runBook(a)
    },
  },
  {
    name: 'simulate',
    summary: `Drive the scenario along a price path: every step moves the marks, runs the
waterfall with price impact (the fills move the mark further), pays from the
insurance fund, deleverages or socialises; records every event; compares policies.`,
    options: {
      path: { type: 'string', value: 'FILE' },
      shock: { type: 'string', value: 'PCT' },
      steps: { type: 'string', value: 'N' },
      'loss-rule': { type: 'string', value: 'R' },
      policy: { type: 'string', value: 'R' },
      ...FILL,
      depth: { type: 'string', value: 'PCT' },
      rounds: { type: 'string', value: 'N' },
      fund: { type: 'string', value: 'AMOUNT' },
      report: { type: 'string', value: 'FILE' },
      events: { type: 'string', value: 'FILE' },
      ...JSON_OUT,
      csv: { type: 'boolean' },
      ...IMPL,
      ...FULL,
    },
    positionals: ['scenario.json'],
    help: HELP.simulate!,
    run: (p) => {
      const a = commandArgs('simulate', p)
      if ((a.path === undefined) === (a.shock === undefined))
        throw new UsageError('simulate needs --path prices.csv or --shock PCT (not both)')
      if (a.steps !== undefined && a.shock === undefined)
        throw new UsageError('--steps goes with --shock')
      if (a.json && a.csv) throw new UsageError('give --json or --csv, not both')
      return runBook(a)
    },
  },
  {
    name: 'demo',
    summary: `The whole cascade on a built-in synthetic market of 1,000,000 positions: five
policies compared, a summary here and report.html with charts.`,
    options: {
      ...IMPL,
      positions: { type: 'string', value: 'N' },
      accounts: { type: 'string', value: 'N' },
      report: { type: 'string', value: 'FILE' },
      threads: { type: 'string', value: 'N' },
    },
    positionals: [],
    help: HELP.demo!,
    run: (p) => runDemo(commandArgs('demo', p)),
  },
  // Each in its own file, options declared there.
  ORDER_COMMAND,
  MAP_COMMAND,
  SHARD_COMMAND,
]

function runDemo(a: Args): Promise<number> {
  if (
    a.positions !== undefined &&
    a.accounts !== undefined &&
    (a.positions < a.accounts || a.positions > a.accounts * 8)
  )
    throw new UsageError('--positions must be 1 to 8 times --accounts')
  if (a.positions !== undefined && a.accounts === undefined && a.positions < 4)
    throw new UsageError('--positions takes at least 4')
  const bar = progressBar('simulating 5 policies')
  return demo({
    ...(a.positions ? { positions: a.positions } : {}),
    ...(a.accounts ? { accounts: a.accounts } : {}),
    ...(a.threads ? { threads: a.threads } : {}),
    ...(a.report ? { report: a.report } : {}),
    ...(a.impl !== 'auto' ? { implementation: a.impl } : {}),
    ...(bar ? { progress: bar } : {}),
  }).then(() => 0)
}

/** The package's version, from its package.json (src/, dist/cjs/ or an installed package). */
function version(): string {
  const root = findPackageRoot()
  if (!root) return 'unknown'
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string })
    .version
}

// ---- check: every margin scope of the book, written as it is produced ----------------------

/** The state of an isolated position's own margin scope (SPEC §5.1: isolated margin + uPnL). */
interface ScopeState {
  equity: string
  marginRatio: string | null
  shortfall: string
  liquidatable: boolean
  warning: boolean
}

/** A position; an isolated one also carries its scope's state (its maintenance margin is the scope's). */
type CheckPosition = PositionReport & Partial<ScopeState>

/** An account: its cross scope (balance + cross uPnL against cross MM) and all its positions. */
interface CheckAccount extends AccountStatus {
  warning: boolean
  positions: CheckPosition[]
}

interface CheckCounts {
  accounts: number
  positions: number
  /** Margin scopes: accounts with a cross position and isolated positions (what the sweep examines). */
  scopes: number
  crossScopes: number
  isolatedScopes: number
  liquidatable: number
  marginCall: number
}

const newCounts = (): CheckCounts => ({
  accounts: 0,
  positions: 0,
  scopes: 0,
  crossScopes: 0,
  isolatedScopes: 0,
  liquidatable: 0,
  marginCall: 0,
})

/** Accounts per engine call: bounds what is held as objects at a time. */
const CHECK_CHUNK = 2048
const RATIO_PPM = 1_000_000n
const I64_MAX = (1n << 63n) - 1n

const scopeKey = (account: string, symbol: string | null) => `${account}\u0000${symbol ?? ''}`

/** The sweep's verdict per scope: true liquidatable, false margin call, absent ok. */
function sweepFlags(sweep: SweepReport): Map<string, boolean> {
  const flags = new Map<string, boolean>()
  for (const r of sweep.liquidatable) flags.set(scopeKey(r.account, r.symbol), true)
  for (const r of sweep.warnings) flags.set(scopeKey(r.account, r.symbol), false)
  return flags
}

/** An isolated position's scope state; the ratio as the engine rounds it (SPEC §5.3: up, capped at i64). */
function isolatedScope(p: PositionReport, q: number, flag: boolean | undefined): ScopeState {
  const eq =
    parseUnits(p.isolatedMargin!, q, 'isolatedMargin') +
    parseUnits(p.unrealizedPnl, q, 'unrealizedPnl')
  const mm = parseUnits(p.maintenanceMargin, q, 'maintenanceMargin')
  let ratio: string | null = null
  if (eq > 0n) {
    const ppm = (mm * RATIO_PPM + eq - 1n) / eq
    ratio = formatUnits(ppm > I64_MAX ? I64_MAX : ppm, 6)
  }
  return {
    equity: formatUnits(eq, q),
    marginRatio: ratio,
    shortfall: formatUnits(mm - eq, q),
    liquidatable: flag === true,
    warning: flag === false,
  }
}

/**
 * Every live account with its positions, CHECK_CHUNK accounts per engine call, so a book of
 * millions of positions never exists as objects at once. Which scopes are liquidatable or at a
 * margin call is the sweep's word (SPEC §5), for cross accounts and isolated positions alike, so
 * `check` shows exactly the scopes `engine.sweep()` reports. `counts` is updated as rows go by.
 */
function* checkAccounts(
  engine: Engine,
  flags: Map<string, boolean>,
  counts: CheckCounts,
): Generator<CheckAccount> {
  const q = engine.quoteDecimals
  const cross = engine.core.accountRows(null)
  const balances = engine.core.balances(cross.account)
  const tally = (flag: boolean | undefined) => {
    counts.scopes++
    if (flag === true) counts.liquidatable++
    else if (flag === false) counts.marginCall++
  }
  for (let at = 0; at < cross.account.length; at += CHECK_CHUNK) {
    const idx = cross.account.subarray(at, at + CHECK_CHUNK)
    const ids = Array.from(idx, (a) => engine.core.accountId(a))
    const positions = engine.positions(ids)
    let k = 0
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j]!
      const list: CheckPosition[] = []
      let hasCross = false
      for (; k < positions.length && positions[k]!.account === id; k++) {
        const { account: _a, ...p } = positions[k]!
        if (p.isolated) {
          const flag = flags.get(scopeKey(id, p.symbol))
          list.push({ ...p, ...isolatedScope(p, q, flag) })
          counts.isolatedScopes++
          tally(flag)
        } else {
          list.push(p)
          hasCross = true
        }
      }
      const i = at + j
      const eq = cross.equity[i]!
      const mm = cross.maintenanceMargin[i]!
      const ppm = cross.marginRatioPpm[i]!
      const flag = hasCross ? flags.get(scopeKey(id, null)) : undefined
      if (hasCross) {
        counts.crossScopes++
        tally(flag)
      }
      counts.accounts++
      counts.positions += list.length
      yield {
        account: id,
        symbol: null,
        equity: formatUnits(eq, q),
        maintenanceMargin: formatUnits(mm, q),
        marginRatio: ppm < 0n ? null : formatUnits(ppm, 6),
        shortfall: formatUnits(mm - eq, q),
        liquidatable: flag === true,
        status: cross.status[i] === 1 ? 'OVERFLOW' : 'ok',
        balance: formatUnits(balances[i]!, q),
        warning: flag === false,
        positions: list,
      }
    }
  }
}

function pct(ratio: string | null, maintenanceMargin: string): string {
  if (/^0\.?0*$/.test(maintenanceMargin)) return '—'
  if (ratio === null) return '∞'
  const [i, f = ''] = ratio.split('.')
  const ppm = BigInt(i! + f.padEnd(6, '0'))
  return `${displayDecimal(String(ppm / 10000n))}.${(ppm % 10000n).toString().padStart(4, '0').slice(0, 2)}%`
}

const status = (s: { liquidatable?: boolean; warning?: boolean }) =>
  s.liquidatable ? 'LIQUIDATABLE' : s.warning ? 'margin call' : 'ok'

const SCOPE_HEAD = [
  'account',
  'scope',
  'collateral',
  'equity',
  'maint. margin',
  'margin ratio',
  'status',
]
const POSITION_HEAD = [
  'account',
  'symbol',
  'qty',
  'entry',
  'uPnL',
  'maint. margin',
  'liq. price',
  'bankruptcy',
  'mode',
]

/** The account's scope rows: its cross scope ('wallet' when it has no cross position, so no margin
 * scope: only the balance), then each isolated position as a scope of its own. */
function scopeRows(a: CheckAccount, show: Display): string[][] {
  const crossScope = a.positions.some((p) => !p.isolated)
  const sym = a.positions[0]?.symbol // an account's markets share one settlement asset (SPEC §5.4)
  const rows = [
    [
      a.account,
      crossScope ? 'cross' : 'wallet',
      show.money(a.balance, sym),
      show.money(a.equity, sym),
      show.money(a.maintenanceMargin, sym),
      pct(a.marginRatio, a.maintenanceMargin),
      crossScope ? status(a) : '—',
    ],
  ]
  for (const p of a.positions) {
    if (p.isolated)
      rows.push([
        a.account,
        `${p.symbol} isolated`,
        show.money(p.isolatedMargin!, p.symbol),
        show.money(p.equity!, p.symbol),
        show.money(p.maintenanceMargin, p.symbol),
        pct(p.marginRatio!, p.maintenanceMargin),
        status(p),
      ])
  }
  return rows
}

function positionRows(a: CheckAccount, show: Display): string[][] {
  const price = (s: string | null) => (s === null ? '—' : show.price(s))
  return a.positions.map((p) => [
    a.account,
    p.symbol,
    show.price(p.qty),
    show.price(p.entryPrice),
    show.money(p.unrealizedPnl, p.symbol),
    show.money(p.maintenanceMargin, p.symbol),
    // No price: say why (SPEC §6.4), 'never' or 'always'.
    p.liquidationPriceReason ?? price(p.liquidationPriceNearest),
    price(p.bankruptcyPriceNearest),
    p.isolated ? 'isolated' : 'cross',
  ])
}

/**
 * The scope and position tables. With a limit, the first `limit` rows of each (one pass, the rest
 * only counted); with --all, every row: one pass for the column widths, then one per table writing
 * rows as they come. Returns the counts of the whole book.
 */
async function writeCheckTables(
  out: Output,
  walk: (c: CheckCounts) => Iterable<CheckAccount>,
  limit: number | null,
  show: Display,
): Promise<CheckCounts> {
  const counts = newCounts()
  const kept = { scopes: [] as string[][], positions: [] as string[][] }
  const widths = { scopes: columnWidths([SCOPE_HEAD]), positions: columnWidths([POSITION_HEAD]) }
  let scopeRowCount = 0
  for (const a of walk(counts)) {
    const s = scopeRows(a, show)
    const p = positionRows(a, show)
    scopeRowCount += s.length
    if (limit === null) {
      columnWidths(s, widths.scopes)
      columnWidths(p, widths.positions)
    } else {
      for (const r of s) if (kept.scopes.length < limit) kept.scopes.push(r)
      for (const r of p) if (kept.positions.length < limit) kept.positions.push(r)
    }
  }
  const section = async (head: string[], w: number[], rows: Iterable<string[]>, total: number) => {
    if (total === 0) return
    out.line(tableRow(head, w))
    let n = 0
    for (const r of rows) {
      if (out.closed) return
      n++
      if (out.line(tableRow(r, w))) await out.flush()
    }
    if (n < total)
      out.line(
        `… ${displayDecimal(String(total - n))} more rows (--all prints every row; --json or --ndjson gives everything)`,
      )
    out.line()
    await out.flush()
  }
  if (limit === null) {
    await section(
      SCOPE_HEAD,
      widths.scopes,
      flatRows(walk(newCounts()), (a) => scopeRows(a, show)),
      scopeRowCount,
    )
    await section(
      POSITION_HEAD,
      widths.positions,
      flatRows(walk(newCounts()), (a) => positionRows(a, show)),
      counts.positions,
    )
  } else {
    await section(SCOPE_HEAD, columnWidths(kept.scopes, widths.scopes), kept.scopes, scopeRowCount)
    await section(
      POSITION_HEAD,
      columnWidths(kept.positions, widths.positions),
      kept.positions,
      counts.positions,
    )
  }
  return counts
}

function* flatRows(
  accounts: Iterable<CheckAccount>,
  rows: (a: CheckAccount) => string[][],
): Generator<string[]> {
  for (const a of accounts) yield* rows(a)
}

function summaryLine(c: CheckCounts, implementation: Implementation, show: Display): string {
  const n = show.count
  return (
    `${n(c.accounts)} accounts, ${n(c.positions)} positions; ${n(c.scopes)} margin scopes (${n(c.crossScopes)} cross, ${n(c.isolatedScopes)} isolated): ` +
    `${n(c.liquidatable)} liquidatable, ${n(c.marginCall)} margin call (engine: ${implementation}; prices are the nearest tick, --json has the conservative trigger tick too)`
  )
}

/** JSON values one after another: array elements (`sep` ',\n') or NDJSON lines (`sep` '\n'). */
async function writeJsonRows(out: Output, rows: Iterable<unknown>, sep: string): Promise<void> {
  let first = true
  for (const r of rows) {
    if (out.closed) return
    if (out.write((first ? '' : sep) + JSON.stringify(r))) await out.flush()
    first = false
  }
}

interface CheckOutput {
  format: 'table' | 'json' | 'ndjson'
  limit: number | null
  warning: string | undefined
  show: Display
}

/** `check`'s output, streamed. JSON: {implementation, accounts: [...], summary}, one account a line. */
async function writeCheck(out: Output, engine: Engine, o: CheckOutput): Promise<void> {
  const flags = sweepFlags(engine.sweep(o.warning === undefined ? {} : { warningRatio: o.warning }))
  const walk = (c: CheckCounts) => checkAccounts(engine, flags, c)
  if (o.format === 'table') {
    const counts = await writeCheckTables(out, walk, o.limit, o.show)
    out.line(summaryLine(counts, engine.implementation, o.show))
    return out.flush()
  }
  const counts = newCounts()
  if (o.format === 'ndjson') {
    await writeJsonRows(out, walk(counts), '\n')
    if (counts.accounts) out.line()
    out.line(JSON.stringify({ summary: counts }))
    return out.flush()
  }
  out.write(`{"implementation":${JSON.stringify(engine.implementation)},"accounts":[\n`)
  await writeJsonRows(out, walk(counts), ',\n')
  out.line(`\n],\n"summary":${JSON.stringify(counts)}}`)
  return out.flush()
}

const EVENT_HEAD = ['#', 'event', 'account', 'symbol', 'qty', 'price', 'amount', 'counterparty']

async function writeLiquidate(
  out: Output,
  events: WaterfallEvent[],
  engine: Engine,
  o: CheckOutput,
): Promise<void> {
  if (o.format === 'json') {
    out.write(`{"implementation":${JSON.stringify(engine.implementation)},"events":[\n`)
    await writeJsonRows(out, events, ',\n')
    out.write(`\n],\n"ledger":${JSON.stringify(engine.ledger())},"accounts":[\n`)
    const flags = sweepFlags(
      engine.sweep(o.warning === undefined ? {} : { warningRatio: o.warning }),
    )
    const counts = newCounts()
    await writeJsonRows(out, checkAccounts(engine, flags, counts), ',\n')
    out.line(`\n],\n"summary":${JSON.stringify(counts)}}`)
    return out.flush()
  }
  if (events.length === 0) {
    out.line('No account is liquidatable at these marks.\n')
  } else {
    const shown = o.limit === null ? events : events.slice(0, o.limit)
    const show = o.show
    const rows = shown.map((e) => [
      String(e.seq),
      e.kind,
      e.account ?? '',
      e.symbol ?? '',
      e.qty === null ? '' : show.price(e.qty),
      e.price === null ? '' : show.price(e.price),
      show.money(e.amount, e.symbol),
      e.counterparty ?? '',
    ])
    const w = columnWidths(rows, columnWidths([EVENT_HEAD]))
    out.line(tableRow(EVENT_HEAD, w))
    for (const r of rows) if (out.line(tableRow(r, w))) await out.flush()
    if (shown.length < events.length)
      out.line(
        `… ${displayDecimal(String(events.length - shown.length))} more events (--all prints every row; --json gives everything)`,
      )
    out.line()
  }
  await writeCheck(out, engine, o)
  const l = engine.ledger()
  out.line(
    `insurance fund ${o.show.money(l.insuranceFund)}${l.adlMode ? ' (ADL mode)' : ''}; settlement ${o.show.money(l.settlement)}; residue ${o.show.money(l.residue)}; cash total ${o.show.money(l.cashTotal)}`,
  )
  return out.flush()
}

/** A progress bar on stderr, only when it is a terminal (never in pipes, files or CI logs). */
function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined
  let last = -1
  return (done, total) => {
    const pct = Math.floor((done * 100) / total)
    if (pct === last) return
    last = pct
    const width = 30
    const fill = Math.round((done * width) / total)
    process.stderr.write(
      `\r${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${total}`,
    )
    if (done >= total) process.stderr.write('\r' + ' '.repeat(label.length + width + 20) + '\r')
  }
}

/** Without a listener, a reader that goes away (EPIPE: `deleverage … | head`) makes stdout emit an
 * unhandled 'error' and Node prints a stack trace: the output just ends, as Unix tools do. */
function quietEpipe(): void {
  if (process.stdout.listenerCount('error') > 0) return
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e
  })
}

function print(text: string): void {
  process.stdout.write(text + '\n')
}

/** The exit code of an error: 2 usage, 3 invalid input (a DeleverageError), 1 anything else. */
function fail(e: unknown, command?: string): number {
  if (e instanceof UsageError) {
    console.error(
      `deleverage: ${e.message}\nRun 'deleverage ${command ? command + ' ' : ''}--help' for usage.`,
    )
    return 2
  }
  if (e instanceof DeleverageError) {
    console.error(`deleverage: ${e.code}: ${e.message}`)
    return 3
  }
  console.error(e)
  return 1
}

export function main(argv: string[]): number | Promise<number> {
  quietEpipe()
  const [name, ...rest] = argv
  if (name === undefined || name === '-h' || name === '--help') {
    print(overview())
    return 0
  }
  if (name === '--version') {
    print(`deleverage ${version()}`)
    return 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command)
    return fail(
      new UsageError(
        name.startsWith('-')
          ? `give the command first (deleverage <command> ${name}); commands: ${COMMANDS.map((c) => c.name).join(', ')}`
          : `unknown command ${name}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`,
      ),
    )
  try {
    const parsed = parseCommand(command, rest)
    if (!parsed) {
      print(command.help)
      return 0
    }
    const r = command.run(parsed)
    return typeof r === 'number' ? r : r.catch((e: unknown) => fail(e, command.name))
  } catch (e) {
    return fail(e, command.name)
  }
}

/** check, liquidate, plan and simulate: a scenario file in, tables or JSON out. */
async function runBook(a: Args): Promise<number> {
  const out = new Output(process.stdout)
  try {
    if (a.command === 'simulate') {
      await runSimulate(a, out)
      await out.flush()
      return 0
    }
    const { engine, warningRatio, fill, show, fees } = loadEngine(a)
    const o: CheckOutput = {
      format: a.ndjson ? 'ndjson' : a.json ? 'json' : 'table',
      limit: a.limit,
      warning: a.warning ?? warningRatio,
      show,
    }
    if (a.command === 'plan') writePlan(out, engine, a, o.show)
    else if (a.command === 'liquidate')
      await writeLiquidate(out, engine.runWaterfall({ fill: a.fill ?? fill ?? 'mark' }), engine, o)
    else await writeCheck(out, engine, o)
    if (a.command === 'check' && o.format === 'table') {
      out.line(fees)
      await writePreTradeTable(out, engine, o.show.money)
    }
    await out.flush()
    return 0
  } catch (e) {
    // A reader that went away (EPIPE) is not an error: the output just ends.
    if (out.closed) return 0
    throw e
  }
}

/** The engine and the few scenario fields the commands read; the parsed scenario (as big as the
 * book) is let go before any output. */
function loadEngine(a: Args): {
  engine: Engine
  warningRatio: string | undefined
  fill: FillModel | undefined
  show: Display
  fees: string
} {
  const { scenario, engine } = loadScenarioFile(a.file, { implementation: a.impl })
  return {
    engine,
    warningRatio: scenario.warningRatio,
    fill: scenario.fill,
    show: display(a, scenario),
    fees: takerFeeLine(scenario.markets),
  }
}

function writePlan(out: Output, engine: Engine, a: Args, show: Display): void {
  const plan = engine.planDeleveraging(
    a.account!,
    a.target!,
    a.fee === undefined ? {} : { fee: a.fee },
  )
  if (a.json) {
    out.line(
      JSON.stringify(
        { implementation: engine.implementation, account: a.account, target: a.target, plan },
        null,
        2,
      ),
    )
    return
  }
  if (plan.orders.length === 0) out.line(`${a.account} already meets the target.`)
  else
    out.line(table([['reduce', 'qty'], ...plan.orders.map((o) => [o.symbol, show.price(o.qty)])]))
  out.line(
    `\n${plan.reached ? 'target reached' : 'TARGET NOT REACHABLE even closing everything'}; fees ${show.money(plan.fees)}; after: equity ${show.money(plan.equity)}, maintenance margin ${show.money(plan.maintenanceMargin)}, notional ${show.money(plan.notional)}`,
  )
  if (plan.positions.length)
    out.line(
      '\n' +
        table([
          ['position', 'qty', 'liq. price'],
          ...plan.positions.map((p) => [
            p.symbol,
            show.price(p.qty),
            p.liquidationPrice === null ? '—' : show.price(p.liquidationPrice),
          ]),
        ]),
    )
}

// ---- simulate ------------------------------------------------------------------------------

const CSV_HEAD = [
  'lossRule',
  'step',
  'round',
  'seq',
  'kind',
  'account',
  'symbol',
  'counterparty',
  'qty',
  'price',
  'amount',
  'size',
]

/** One CSV field: quoted when it holds a comma, quote or newline (account ids may). */
function csvField(v: string | number | null): string {
  const s = v === null ? '' : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/** The events as CSV, a line at a time. */
async function writeEventsCsv(out: Output, lossRule: string, events: SimEvent[]): Promise<void> {
  out.line(CSV_HEAD.join(','))
  for (const e of events) {
    if (out.closed) return
    if (
      out.line(
        [
          lossRule,
          e.step,
          e.round,
          e.seq,
          e.kind,
          e.account,
          e.symbol,
          e.counterparty,
          e.qty,
          e.price,
          e.amount,
          e.size,
        ]
          .map(csvField)
          .join(','),
      )
    )
      await out.flush()
  }
  await out.flush()
}

/** The events to FILE.csv or FILE.json, streamed (millions of events are more than one string holds). */
async function writeEventsFile(file: string, lossRule: string, events: SimEvent[]): Promise<void> {
  const stream = createWriteStream(file)
  const out = new Output(stream)
  if (/\.json$/i.test(file)) {
    out.write('[\n')
    await writeJsonRows(out, events, ',\n')
    out.line('\n]')
    await out.flush()
  } else {
    await writeEventsCsv(out, lossRule, events)
  }
  await new Promise<void>((resolve, reject) =>
    stream.end((e?: Error | null) => (e ? reject(e) : resolve())),
  )
}

/** {implementation, results: [...]}: each result's summary as one JSON text, its events a line each. */
async function writeSimJson(
  out: Output,
  implementation: string,
  results: SimResult[],
): Promise<void> {
  out.write(`{"implementation":${JSON.stringify(implementation)},"results":[\n`)
  for (const [k, r] of results.entries()) {
    const { events, ...rest } = r
    const head = JSON.stringify(rest, null, 1)
    out.write((k ? ',\n' : '') + (events ? head.slice(0, -2) + ',\n"events":[\n' : head))
    if (events) {
      await writeJsonRows(out, events, ',\n')
      out.write('\n]}')
    }
    await out.flush()
  }
  out.line('\n]}')
  await out.flush()
}

async function runSimulate(a: Args, out: Output): Promise<void> {
  const scenario = readScenarioFile(a.file)
  const q = scenario.quoteDecimals ?? 8
  const build = () =>
    engineFromScenario({ ...scenario, insuranceFund: undefined } as Scenario, {
      implementation: a.impl,
    })
  const probe = build()
  const metas = scenario.markets.map((m) => probe.marketInit(m))
  const pathMarkets = metas.map((m) => ({
    symbol: m.symbol,
    priceDecimals: m.priceDecimals,
    mark: m.mark,
  }))
  const path =
    a.path !== undefined
      ? readPathCsv(a.path, pathMarkets)
      : shockPath(pathMarkets, parseShock(a.shock!), a.steps ?? 10)
  // Depth: a share of each market's long open interest at the start marks (at least one atom).
  const depthPct = parseUnits(a.depth ?? '2', 4, '--depth', { positive: 'INVALID_ARGUMENT' }) // 10^-4 %
  // Long open interest in lots per market, from the engine's columns (not a million report objects).
  const risks = probe.core.positionRisks(null)
  const oi = new Array<bigint>(metas.length).fill(0n)
  for (let i = 0; i < risks.qty.length; i++) {
    const j = risks.market[i]!
    if (risks.qty[i]! > 0n) oi[j] = oi[j]! + risks.qty[i]!
  }
  const markets: SimMarket[] = metas.map((m, j) => {
    const lots = oi[probe.marketIndex(m.symbol)]!
    const money = new MarketValues(
      {
        index: j,
        symbol: m.symbol,
        priceDecimals: m.priceDecimals,
        qtyDecimals: m.qtyDecimals,
        inverse: m.kind === 1,
        contractSize: m.contractSize,
        depth: 1n,
      },
      q,
    )
    const atoms = money.notional(lots, m.mark)
    const depth = (atoms * depthPct) / 1_000_000n // depthPct is in 10^-4 %: ·10^-6
    return {
      index: j,
      symbol: m.symbol,
      priceDecimals: m.priceDecimals,
      qtyDecimals: m.qtyDecimals,
      inverse: m.kind === 1,
      contractSize: m.contractSize,
      depth: depth > 0n ? depth : 1n,
    }
  })
  const fillModel = a.fill ?? scenario.fill ?? { ppmPerLot: 1, capPpm: 30_000 }
  const fill =
    fillModel === 'mark'
      ? { ppmPerLot: 0n, capPpm: 0n }
      : { ppmPerLot: BigInt(fillModel.ppmPerLot), capPpm: BigInt(fillModel.capPpm) }
  const fund = parseUnits(
    a.fund ?? scenario.insuranceFund ?? '0',
    q,
    a.fund !== undefined ? '--fund' : 'insuranceFund',
    { nonNegative: 'INVALID_AMOUNT' },
  )
  const liqMap =
    a.report &&
    startLiquidationMap(probe, metas[0]!.symbol, metas[0]!.mark, metas[0]!.priceDecimals)
  const rules: LossRule[] =
    a.lossRule === 'all' ? [...LOSS_RULES] : [a.lossRule ?? scenario.waterfall?.ranking ?? 'bitmex']
  const { ranking: _r, ...waterfall } = scenario.waterfall ?? {}
  void _r
  const wantEvents = a.events !== undefined || a.csv || a.json
  const bar = progressBar(
    `simulating ${rules.length > 1 ? rules.length + ' loss rules' : rules[0]}`,
  )
  const results: SimResult[] = []
  rules.forEach((lossRule, k) => {
    const engine = k === 0 ? probe : build()
    results.push(
      simulate(
        { engine, markets },
        {
          path,
          lossRule,
          waterfall,
          insuranceFund: fund,
          fill,
          feedback: { ...(a.rounds ? { maxRounds: a.rounds } : {}) },
          keepEvents: (wantEvents || a.report !== undefined) && k === 0,
          ...(bar
            ? { onProgress: (d: number) => bar(k * path.length + d, rules.length * path.length) }
            : {}),
        },
      ),
    )
  })
  const main = results[0]!
  if (a.events !== undefined) {
    await writeEventsFile(a.events, main.lossRule, main.events!)
  }
  if (a.report !== undefined) {
    const data = reportData(
      {
        title: `Deleveraging cascade: ${basename(a.file)}`,
        settings: [
          `${a.path !== undefined ? `path ${basename(a.path)}` : `shock ${shockReading(a.shock!)} over ${path.length} steps`}; fund ${display(a, scenario).money(formatUnits(fund, q))}; fills ${fillModel === 'mark' ? 'at mark' : `slip ${fill.ppmPerLot} ppm per lot up to ${fill.capPpm} ppm`}; depth ${a.depth ?? '2'} % of open interest per 1 %; ${main.implementation} engine`,
          takerFeeLine(scenario.markets),
        ],
        results,
        quote: reportAsset(scenario),
        scenarioFile: a.file,
        ...(liqMap ? { liquidationMap: liqMap } : {}),
      },
      metas.map((m) => formatUnits(m.mark, m.priceDecimals)),
    )
    writeFileSync(a.report, renderReport(data))
  }
  if (a.json) {
    await writeSimJson(out, main.implementation, results)
  } else if (a.csv) {
    await writeEventsCsv(out, main.lossRule, main.events!)
  } else {
    const rows = [
      [
        'loss rule',
        'steps',
        'rounds',
        'partial fills',
        'takeovers',
        'ADL fills',
        'loss shares',
        'accounts touched',
        'taken',
        'required',
        'overshoot',
        'fund at end',
      ],
    ]
    const show = display(a, scenario)
    const n = show.count
    for (const r of results) {
      const t = r.totals
      rows.push([
        r.lossRule,
        n(t.steps),
        n(t.rounds),
        n(t.partialFills),
        n(t.takeovers),
        n(t.adlFills),
        n(t.socialised),
        n(t.accountsTouched),
        show.money(t.taken),
        show.money(t.required),
        show.money(t.overshoot),
        show.money(t.insuranceFundEnd),
      ])
    }
    if (a.shock !== undefined)
      out.line(`shock ${shockReading(a.shock)} over ${n(path.length)} steps\n`)
    out.line(table(rows))
    out.line(
      `\ncash ${results.every((r) => r.totals.cashConserved) ? 'conserved exactly at every step' : 'NOT CONSERVED'}; ${n(results.reduce((x, r) => x + r.totals.events, 0))} events (engine: ${main.implementation})`,
    )
    if (a.report !== undefined) out.line(`report: ${a.report}`)
    if (a.events !== undefined) out.line(`events: ${a.events}`)
  }
}
