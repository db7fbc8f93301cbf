// The `deleverage` command line. Exit codes: 0 ok, 2 usage error, 3 invalid input (scenario, path
// or engine rejection, with the field named), 1 anything unexpected (docs/CLI.md).

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
import { createWriteStream, writeFileSync } from 'node:fs'
import { basename } from 'node:path'
import { formatUnits, parseUnits } from './decimal.js'
import { demo } from './demo.js'
import { mapCommand } from './cli-map.js'
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
  Money,
  POLICIES,
  simulate,
  type Policy,
  type SimEvent,
  type SimMarket,
  type SimResult,
} from './simulate.js'
import { columnWidths, Output, table, tableRow } from './text.js'

/** Table rows printed by default: a book of millions of positions is for --json/--ndjson or --all. */
const DEFAULT_LIMIT = 1000

const USAGE = `deleverage — exact margin-risk engine for perpetual futures

Usage:
  deleverage check <scenario.json> [--json|--ndjson] [--limit N|--all] [--impl native|js] [--warning RATIO]
  deleverage liquidate <scenario.json> [--json] [--limit N|--all] [--impl native|js] [--fill mark|impact:PPM_PER_LOT:CAP_PPM]
  deleverage plan <scenario.json> --account ID --target ratio=R|leverage=L|distance=D@SYMBOL [--fee RATE] [--json]
  deleverage simulate <scenario.json> (--path prices.csv | --shock PCT [--steps N]) [--policy P|all] [--report out.html] [--events out.csv|out.json] [--json|--csv]
  deleverage demo [--impl native|js] [--positions N] [--accounts N] [--report out.html]
  deleverage <command> --help     (options and examples of one command)

Commands:
  check      Per margin scope (an account's cross positions, each isolated position): equity,
             maintenance margin, margin ratio, liquidatable or margin call. Per position: uPnL,
             maintenance margin, liquidation and bankruptcy price.
  liquidate  Run the whole waterfall at the scenario's marks: liquidations, insurance fund,
             ADL. Prints every event and the final state.
  plan       Manual deleveraging: the smallest reductions of an account's cross positions that
             reach a margin ratio, a leverage, or a distance to liquidation.
  simulate   Drive the scenario along a price path: every step moves the marks, runs the
             waterfall with price impact (the fills move the mark further), pays from the
             insurance fund, deleverages or socialises; records every event; compares policies.
  demo       The whole cascade on a built-in synthetic market of 1,000,000 positions: five
             policies compared, a summary here and report.html with charts.

Examples:
  deleverage check test/fixtures/golden/g1-binance.json
  deleverage liquidate book.json --fill impact:20:50000
  deleverage simulate book.json --shock -20% --steps 10 --policy all --report report.html
  deleverage demo

Exit codes: 0 ok; 2 usage error; 3 invalid input (scenario, path or engine rejection; the message
names the field, line or column); 1 unexpected error. Set DELEVERAGE_FORCE_JS=1 to force the
TypeScript engine.`

const COMMON = `  --impl native|js  choose the engine (default: native when it loads)
  -h, --help        this text`

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
${COMMON}

Examples:
  deleverage check test/fixtures/golden/g1-binance.json
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
${COMMON}

Examples:
  deleverage liquidate test/fixtures/scenarios/crash.json
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
${COMMON}

Examples:
  deleverage plan book.json --account whale --target ratio=0.5 --fee 0.0005
  deleverage plan book.json --account whale --target distance=0.1@BTCUSDT`,
  simulate: `deleverage simulate <scenario.json> (--path prices.csv | --shock PCT [--steps N]) [options]

Cascade simulation (docs/SIMULATE.md). Each step sets the marks from the path, runs the
waterfall (fills with price impact, takeovers, insurance fund, ADL or loss socialisation), and
the liquidation flow moves the mark further; up to --rounds waterfall rounds per step. Money is
exact and checked: cash is conserved at every step. Deterministic: the same inputs give the same
events and report.

Path:
  --path FILE       CSV: header "step,SYMBOL,..." then one row of mark prices per step
                    (markets without a column keep their mark)
  --shock PCT       every mark moves linearly to mark × (1 + PCT), e.g. -20% or -0.2
  --steps N         steps of the shock (default 10)

Policy and model:
  --policy P        bitmex | binance | hyperliquid | prorata | socialised | all
                    (default: the scenario's waterfall.ranking, else bitmex; all compares the five)
  --fill MODEL      impact:PPM_PER_LOT:CAP_PPM (default: the scenario's fill, else impact:1:30000)
                    or mark
  --depth PCT       book depth per 1 % mark move, in % of the market's long open interest (default 2)
  --rounds N        waterfall rounds per step, each after the mark moved (default ${DEFAULT_FEEDBACK.maxRounds})
  --fund AMOUNT     opening insurance fund (default: the scenario's insuranceFund, else 0)

Output:
  --report FILE     write the HTML report (charts, policy table, largest events)
  --events FILE     write every event of the (first) policy: FILE.csv or FILE.json
  --json            print the results (steps, totals, largest events, events) as JSON
  --csv             print the events of the (first) policy as CSV
  A progress bar goes to stderr when it is a terminal.
${COMMON}

Examples:
  deleverage simulate test/fixtures/scenarios/crash.json --shock -30% --steps 6
  deleverage simulate book.json --path prices.csv --policy all --report report.html
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

class UsageError extends Error {}

interface Args {
  command: string
  file: string
  json: boolean
  ndjson: boolean
  csv: boolean
  /** Table rows per table; null with --all. */
  limit: number | null
  impl: Implementation | 'auto'
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
  policy: Policy | 'all' | undefined
  depth: string | undefined
  rounds: number | undefined
  fund: string | undefined
  report: string | undefined
  events: string | undefined
}

const COMMANDS = ['check', 'liquidate', 'plan', 'simulate', 'demo']

function positiveInt(v: string | undefined, flag: string, what = 'a positive integer'): number {
  const n = Number(v)
  if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${flag} takes ${what}, got ${v ?? 'nothing'}`)
  return n
}

function parseArgs(argv: string[]): Args | { help: string } {
  const rest: string[] = []
  const a: Args = {
    command: '',
    file: '',
    json: false,
    ndjson: false,
    csv: false,
    limit: DEFAULT_LIMIT,
    impl: 'auto',
    warning: undefined,
    positions: undefined,
    accounts: undefined,
    threads: undefined,
    fill: undefined,
    account: undefined,
    target: undefined,
    fee: undefined,
    path: undefined,
    shock: undefined,
    steps: undefined,
    policy: undefined,
    depth: undefined,
    rounds: undefined,
    fund: undefined,
    report: undefined,
    events: undefined,
  }
  let help = false
  let limitGiven = false
  const value = (i: number, flag: string, what: string): string => {
    const v = argv[i]
    if (v === undefined || (v.startsWith('--') && v.length > 2))
      throw new UsageError(`${flag} takes ${what}`)
    return v
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '-h' || arg === '--help') help = true
    else if (arg === '--json') a.json = true
    else if (arg === '--ndjson') a.ndjson = true
    else if (arg === '--csv') a.csv = true
    else if (arg === '--all') {
      if (limitGiven) throw new UsageError('give --limit N or --all, not both')
      a.limit = null
      limitGiven = true
    } else if (arg === '--limit') {
      if (limitGiven) throw new UsageError('give --limit N or --all, not both')
      a.limit = positiveInt(argv[++i], arg)
      limitGiven = true
    } else if (arg === '--impl') {
      const v = argv[++i]
      if (v !== 'native' && v !== 'js')
        throw new UsageError(`--impl takes native or js, got ${v ?? 'nothing'}`)
      a.impl = v
    } else if (arg === '--warning') a.warning = value(++i, arg, 'a ratio such as 0.8')
    else if (arg === '--fill') {
      const v = argv[++i] ?? ''
      const m = /^impact:(\d+):(\d+)$/.exec(v)
      if (v === 'mark') a.fill = 'mark'
      else if (m) a.fill = { ppmPerLot: Number(m[1]), capPpm: Number(m[2]) }
      else
        throw new UsageError(
          `--fill takes mark or impact:PPM_PER_LOT:CAP_PPM, got ${v || 'nothing'}`,
        )
    } else if (arg === '--account') a.account = value(++i, arg, 'an account id')
    else if (arg === '--fee') a.fee = value(++i, arg, 'a rate such as 0.0005')
    else if (arg === '--target') {
      const v = argv[++i] ?? ''
      const m = /^(ratio|leverage|distance)=([0-9.]+)(?:@(.+))?$/.exec(v)
      if (!m || (m[1] === 'distance') !== (m[3] !== undefined))
        throw new UsageError(
          `--target takes ratio=R, leverage=L or distance=D@SYMBOL, got ${v || 'nothing'}`,
        )
      a.target =
        m[1] === 'ratio'
          ? { marginRatio: m[2]! }
          : m[1] === 'leverage'
            ? { leverage: m[2]! }
            : { liquidationDistance: m[2]!, symbol: m[3]! }
    } else if (arg === '--positions') a.positions = positiveInt(argv[++i], arg)
    else if (arg === '--accounts') a.accounts = positiveInt(argv[++i], arg)
    else if (arg === '--threads') a.threads = positiveInt(argv[++i], arg)
    else if (arg === '--path') a.path = value(++i, arg, 'a CSV file')
    else if (arg === '--shock') {
      const v = argv[++i]
      if (v === undefined || !/^[+-]?\d+(\.\d+)?%?$/.test(v))
        throw new UsageError(`--shock takes a change such as -20% or -0.2, got ${v ?? 'nothing'}`)
      a.shock = v
    } else if (arg === '--steps') a.steps = positiveInt(argv[++i], arg)
    else if (arg === '--rounds') a.rounds = positiveInt(argv[++i], arg)
    else if (arg === '--policy') {
      const v = argv[++i]
      if (v !== 'all' && !POLICIES.includes(v as Policy))
        throw new UsageError(`--policy takes ${POLICIES.join(', ')} or all, got ${v ?? 'nothing'}`)
      a.policy = v as Policy | 'all'
    } else if (arg === '--depth') {
      a.depth = value(++i, arg, 'a percentage such as 2')
      if (!/^\d+(\.\d+)?$/.test(a.depth) || Number(a.depth) <= 0)
        throw new UsageError(`--depth takes a positive percentage such as 2, got ${a.depth}`)
    } else if (arg === '--fund') a.fund = value(++i, arg, 'an amount such as 1000000')
    else if (arg === '--report') a.report = value(++i, arg, 'a file name such as report.html')
    else if (arg === '--events') {
      a.events = value(++i, arg, 'a file name ending in .csv or .json')
      if (!/\.(csv|json)$/i.test(a.events))
        throw new UsageError(`--events takes a file name ending in .csv or .json, got ${a.events}`)
    } else if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`)
    else rest.push(arg)
  }
  const [command, file] = rest
  if (!command) return { help: USAGE }
  if (!COMMANDS.includes(command)) throw new UsageError(`unknown command ${command}`)
  if (help) return { help: HELP[command]! }
  a.command = command
  if (command === 'demo') {
    if (rest.length > 1) throw new UsageError('demo takes no file')
    if (
      a.positions !== undefined &&
      a.accounts !== undefined &&
      (a.positions < a.accounts || a.positions > a.accounts * 8)
    )
      throw new UsageError('--positions must be 1 to 8 times --accounts')
    if (a.positions !== undefined && a.accounts === undefined && a.positions < 4)
      throw new UsageError('--positions takes at least 4')
    return a
  }
  if (command === 'plan' && (!a.account || !a.target))
    throw new UsageError('plan needs --account ID and --target ...')
  if (a.ndjson && command !== 'check')
    throw new UsageError('--ndjson goes with check (liquidate and simulate stream --json)')
  if (a.ndjson && a.json) throw new UsageError('give --json or --ndjson, not both')
  if (!file || rest.length > 2)
    throw new UsageError(
      `usage: deleverage ${command} <scenario.json> (deleverage ${command} --help)`,
    )
  if (command === 'simulate') {
    if ((a.path === undefined) === (a.shock === undefined))
      throw new UsageError('simulate needs --path prices.csv or --shock PCT (not both)')
    if (a.steps !== undefined && a.shock === undefined)
      throw new UsageError('--steps goes with --shock')
    if (a.json && a.csv) throw new UsageError('give --json or --csv, not both')
  }
  a.file = file
  return a
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
  return `${ppm / 10000n}.${(ppm % 10000n).toString().padStart(4, '0').slice(0, 2)}%`
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
function scopeRows(a: CheckAccount): string[][] {
  const crossScope = a.positions.some((p) => !p.isolated)
  const rows = [
    [
      a.account,
      crossScope ? 'cross' : 'wallet',
      a.balance,
      a.equity,
      a.maintenanceMargin,
      pct(a.marginRatio, a.maintenanceMargin),
      crossScope ? status(a) : '—',
    ],
  ]
  for (const p of a.positions) {
    if (p.isolated)
      rows.push([
        a.account,
        `${p.symbol} isolated`,
        p.isolatedMargin!,
        p.equity!,
        p.maintenanceMargin,
        pct(p.marginRatio!, p.maintenanceMargin),
        status(p),
      ])
  }
  return rows
}

function positionRows(a: CheckAccount): string[][] {
  return a.positions.map((p) => [
    a.account,
    p.symbol,
    p.qty,
    p.entryPrice,
    p.unrealizedPnl,
    p.maintenanceMargin,
    p.liquidationPriceNearest ?? '—',
    p.bankruptcyPriceNearest ?? '—',
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
): Promise<CheckCounts> {
  const counts = newCounts()
  const kept = { scopes: [] as string[][], positions: [] as string[][] }
  const widths = { scopes: columnWidths([SCOPE_HEAD]), positions: columnWidths([POSITION_HEAD]) }
  let scopeRowCount = 0
  for (const a of walk(counts)) {
    const s = scopeRows(a)
    const p = positionRows(a)
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
        `… ${total - n} more rows (--all prints every row; --json or --ndjson gives everything)`,
      )
    out.line()
    await out.flush()
  }
  if (limit === null) {
    await section(SCOPE_HEAD, widths.scopes, flatRows(walk(newCounts()), scopeRows), scopeRowCount)
    await section(
      POSITION_HEAD,
      widths.positions,
      flatRows(walk(newCounts()), positionRows),
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

function summaryLine(c: CheckCounts, implementation: Implementation): string {
  return (
    `${c.accounts} accounts, ${c.positions} positions; ${c.scopes} margin scopes (${c.crossScopes} cross, ${c.isolatedScopes} isolated): ` +
    `${c.liquidatable} liquidatable, ${c.marginCall} margin call (engine: ${implementation}; prices are the nearest tick, --json has the conservative trigger tick too)`
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
}

/** `check`'s output, streamed. JSON: {implementation, accounts: [...], summary}, one account a line. */
async function writeCheck(out: Output, engine: Engine, o: CheckOutput): Promise<void> {
  const flags = sweepFlags(engine.sweep(o.warning === undefined ? {} : { warningRatio: o.warning }))
  const walk = (c: CheckCounts) => checkAccounts(engine, flags, c)
  if (o.format === 'table') {
    const counts = await writeCheckTables(out, walk, o.limit)
    out.line(summaryLine(counts, engine.implementation))
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
    const rows = shown.map((e) => [
      String(e.seq),
      e.kind,
      e.account ?? '',
      e.symbol ?? '',
      e.qty ?? '',
      e.price ?? '',
      e.amount,
      e.counterparty ?? '',
    ])
    const w = columnWidths(rows, columnWidths([EVENT_HEAD]))
    out.line(tableRow(EVENT_HEAD, w))
    for (const r of rows) if (out.line(tableRow(r, w))) await out.flush()
    if (shown.length < events.length)
      out.line(
        `… ${events.length - shown.length} more events (--all prints every row; --json gives everything)`,
      )
    out.line()
  }
  await writeCheck(out, engine, o)
  const l = engine.ledger()
  out.line(
    `insurance fund ${l.insuranceFund}${l.adlMode ? ' (ADL mode)' : ''}; settlement ${l.settlement}; residue ${l.residue}; cash total ${l.cashTotal}`,
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

export function main(argv: string[]): number | Promise<number> {
  if (argv[0] === 'map') return mapCommand(argv.slice(1))
  let args: Args | { help: string }
  try {
    args = parseArgs(argv)
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`deleverage: ${e.message}\nRun 'deleverage --help' for usage.`)
      return 2
    }
    throw e
  }
  if ('help' in args) {
    console.log(args.help)
    return 0
  }
  const fail = (e: unknown): number => {
    if (e instanceof DeleverageError) {
      console.error(`deleverage: ${e.code}: ${e.message}`)
      return 3
    }
    console.error(e)
    return 1
  }
  if (args.command === 'demo') {
    const a = args
    const bar = progressBar('simulating 5 policies')
    return demo({
      ...(a.positions ? { positions: a.positions } : {}),
      ...(a.accounts ? { accounts: a.accounts } : {}),
      ...(a.threads ? { threads: a.threads } : {}),
      ...(a.report ? { report: a.report } : {}),
      ...(a.impl !== 'auto' ? { implementation: a.impl } : {}),
      ...(bar ? { progress: bar } : {}),
    }).then(() => 0, fail)
  }
  const out = new Output(process.stdout)
  const run = async (a: Args): Promise<number> => {
    if (a.command === 'simulate') {
      await runSimulate(a, out)
      await out.flush()
      return 0
    }
    const { engine, warningRatio, fill } = loadEngine(a)
    const o: CheckOutput = {
      format: a.ndjson ? 'ndjson' : a.json ? 'json' : 'table',
      limit: a.limit,
      warning: a.warning ?? warningRatio,
    }
    if (a.command === 'plan') writePlan(out, engine, a)
    else if (a.command === 'liquidate')
      await writeLiquidate(out, engine.runWaterfall({ fill: a.fill ?? fill ?? 'mark' }), engine, o)
    else await writeCheck(out, engine, o)
    await out.flush()
    return 0
  }
  // A reader that went away (EPIPE) is not an error: the output just ends.
  return run(args).catch((e) => (out.closed ? 0 : fail(e)))
}

/** The engine and the few scenario fields the commands read; the parsed scenario (as big as the
 * book) is let go before any output. */
function loadEngine(a: Args): {
  engine: Engine
  warningRatio: string | undefined
  fill: FillModel | undefined
} {
  const { scenario, engine } = loadScenarioFile(a.file, { implementation: a.impl })
  return { engine, warningRatio: scenario.warningRatio, fill: scenario.fill }
}

function writePlan(out: Output, engine: Engine, a: Args): void {
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
  else out.line(table([['reduce', 'qty'], ...plan.orders.map((o) => [o.symbol, o.qty])]))
  out.line(
    `\n${plan.reached ? 'target reached' : 'TARGET NOT REACHABLE even closing everything'}; fees ${plan.fees}; after: equity ${plan.equity}, maintenance margin ${plan.maintenanceMargin}, notional ${plan.notional}`,
  )
  if (plan.positions.length)
    out.line(
      '\n' +
        table([
          ['position', 'qty', 'liq. price'],
          ...plan.positions.map((p) => [p.symbol, p.qty, p.liquidationPrice ?? '—']),
        ]),
    )
}

// ---- simulate ------------------------------------------------------------------------------

const CSV_HEAD = [
  'policy',
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
async function writeEventsCsv(out: Output, policy: string, events: SimEvent[]): Promise<void> {
  out.line(CSV_HEAD.join(','))
  for (const e of events) {
    if (out.closed) return
    if (
      out.line(
        [
          policy,
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
async function writeEventsFile(file: string, policy: string, events: SimEvent[]): Promise<void> {
  const stream = createWriteStream(file)
  const out = new Output(stream)
  if (/\.json$/i.test(file)) {
    out.write('[\n')
    await writeJsonRows(out, events, ',\n')
    out.line('\n]')
    await out.flush()
  } else {
    await writeEventsCsv(out, policy, events)
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
    const money = new Money(
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
  const policies: Policy[] =
    a.policy === 'all' ? [...POLICIES] : [a.policy ?? scenario.waterfall?.ranking ?? 'bitmex']
  const { ranking: _r, ...waterfall } = scenario.waterfall ?? {}
  void _r
  const wantEvents = a.events !== undefined || a.csv || a.json
  const bar = progressBar(
    `simulating ${policies.length > 1 ? policies.length + ' policies' : policies[0]}`,
  )
  const results: SimResult[] = []
  policies.forEach((policy, k) => {
    const engine = k === 0 ? probe : build()
    results.push(
      simulate(
        { engine, markets },
        {
          path,
          policy,
          waterfall,
          insuranceFund: fund,
          fill,
          feedback: { ...(a.rounds ? { maxRounds: a.rounds } : {}) },
          keepEvents: (wantEvents || a.report !== undefined) && k === 0,
          ...(bar
            ? { onProgress: (d: number) => bar(k * path.length + d, policies.length * path.length) }
            : {}),
        },
      ),
    )
  })
  const main = results[0]!
  if (a.events !== undefined) {
    await writeEventsFile(a.events, main.policy, main.events!)
  }
  if (a.report !== undefined) {
    const data = reportData(
      {
        title: `Deleveraging cascade: ${basename(a.file)}`,
        settings: [
          `${a.path !== undefined ? `path ${basename(a.path)}` : `shock ${a.shock} over ${path.length} steps`}; fund ${formatUnits(fund, q)}; fills ${fillModel === 'mark' ? 'at mark' : `slip ${fill.ppmPerLot} ppm per lot up to ${fill.capPpm} ppm`}; depth ${a.depth ?? '2'} % of open interest per 1 %; ${main.implementation} engine`,
        ],
        results,
        quote: 'quote',
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
    await writeEventsCsv(out, main.policy, main.events!)
  } else {
    const rows = [
      [
        'policy',
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
    for (const r of results) {
      const t = r.totals
      rows.push([
        r.policy,
        String(t.steps),
        String(t.rounds),
        String(t.partialFills),
        String(t.takeovers),
        String(t.adlFills),
        String(t.socialised),
        String(t.accountsTouched),
        t.taken,
        t.required,
        t.overshoot,
        t.insuranceFundEnd,
      ])
    }
    out.line(table(rows))
    out.line(
      `\ncash ${results.every((r) => r.totals.cashConserved) ? 'conserved exactly at every step' : 'NOT CONSERVED'}; ${results.reduce((x, r) => x + r.totals.events, 0)} events (engine: ${main.implementation})`,
    )
    if (a.report !== undefined) out.line(`report: ${a.report}`)
    if (a.events !== undefined) out.line(`events: ${a.events}`)
  }
}
