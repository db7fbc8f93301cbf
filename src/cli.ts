// The `deleverage` command line. Exit codes: 0 ok, 2 usage error, 3 invalid input (scenario or
// engine rejection, with the field named), 1 anything unexpected.

import { type DeleverageTarget, type Engine, type FillModel, type Implementation, type WaterfallEvent, type AccountStatus, type PositionReport } from './engine.js'
import { DeleverageError } from './fallback/errors.js'
import { demo } from './demo.js'
import { loadScenarioFile } from './scenario.js'

const USAGE = `deleverage — exact margin-risk engine for perpetual futures

Usage:
  deleverage check <scenario.json> [--json] [--impl native|js] [--warning RATIO]
  deleverage liquidate <scenario.json> [--json] [--impl native|js] [--fill mark|impact:PPM_PER_LOT:CAP_PPM]
  deleverage plan <scenario.json> --account ID --target ratio=R|leverage=L|distance=D@SYMBOL [--fee RATE] [--json]
  deleverage demo [--impl native|js] [--positions N]

Commands:
  check   Per account: equity, maintenance margin, margin ratio, liquidatable.
          Per position: uPnL, maintenance margin, liquidation and bankruptcy price.
  liquidate  Run the whole waterfall at the scenario's marks: liquidations, insurance fund,
          ADL. Prints every event and the final state.
  plan    Manual deleveraging: the smallest reductions of an account's cross positions (at
          mark, with the taker fee) that reach a margin ratio, a leverage, or a distance of one
          position's liquidation price from mark.
  demo    Load a synthetic book of 1,000,000 positions and sweep it under price shocks.

Options:
  --json            print the same results as JSON, every amount a decimal string
  --impl native|js  choose the engine (default: native when it loads)
  --warning RATIO   margin-call level, e.g. 0.8 (default: the scenario's warningRatio)
  --account ID      plan: the account to deleverage
  --target T        plan: ratio=0.5 (MM/equity), leverage=3 (notional/equity), distance=0.1@SYMBOL
  --fee RATE        plan: taker fee rate of the reducing orders (default 0)
  --fill MODEL      liquidate: mark (default) or impact:PPM_PER_LOT:CAP_PPM
  --positions N     demo book size (default 1000000, a multiple of 4)
  -h, --help        this text

Examples:
  deleverage check test/fixtures/golden/g1-binance.json
  deleverage check book.json --json > risk.json
  deleverage liquidate book.json --fill impact:20:50000
  deleverage plan book.json --account whale --target ratio=0.5 --fee 0.0005
  deleverage plan book.json --account whale --target distance=0.1@BTCUSDT
  deleverage demo --positions 100000

Exit codes: 0 ok; 2 usage error; 3 invalid scenario or input (the message names the field);
1 unexpected error. Set DELEVERAGE_FORCE_JS=1 to force the TypeScript engine.`

class UsageError extends Error {}

interface Args {
  command: string
  file: string
  json: boolean
  impl: Implementation | 'auto'
  warning: string | undefined
  positions: number | undefined
  fill: FillModel | undefined
  account: string | undefined
  target: DeleverageTarget | undefined
  fee: string | undefined
}

function parseArgs(argv: string[]): Args | 'help' {
  const rest: string[] = []
  let json = false
  let impl: Implementation | 'auto' = 'auto'
  let warning: string | undefined
  let positions: number | undefined
  let fill: FillModel | undefined
  let account: string | undefined
  let target: DeleverageTarget | undefined
  let fee: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '-h' || a === '--help') return 'help'
    else if (a === '--json') json = true
    else if (a === '--impl') {
      const v = argv[++i]
      if (v !== 'native' && v !== 'js') throw new UsageError(`--impl takes native or js, got ${v ?? 'nothing'}`)
      impl = v
    } else if (a === '--warning') {
      warning = argv[++i]
      if (warning === undefined) throw new UsageError('--warning takes a ratio such as 0.8')
    } else if (a === '--fill') {
      const v = argv[++i] ?? ''
      const m = /^impact:(\d+):(\d+)$/.exec(v)
      if (v === 'mark') fill = 'mark'
      else if (m) fill = { ppmPerLot: Number(m[1]), capPpm: Number(m[2]) }
      else throw new UsageError(`--fill takes mark or impact:PPM_PER_LOT:CAP_PPM, got ${v || 'nothing'}`)
    } else if (a === '--account') {
      account = argv[++i]
      if (!account) throw new UsageError('--account takes an account id')
    } else if (a === '--fee') {
      fee = argv[++i]
      if (!fee) throw new UsageError('--fee takes a rate such as 0.0005')
    } else if (a === '--target') {
      const v = argv[++i] ?? ''
      const m = /^(ratio|leverage|distance)=([0-9.]+)(?:@(.+))?$/.exec(v)
      if (!m || (m[1] === 'distance') !== (m[3] !== undefined)) throw new UsageError(`--target takes ratio=R, leverage=L or distance=D@SYMBOL, got ${v || 'nothing'}`)
      target = m[1] === 'ratio' ? { marginRatio: m[2]! } : m[1] === 'leverage' ? { leverage: m[2]! } : { liquidationDistance: m[2]!, symbol: m[3]! }
    } else if (a === '--positions') {
      positions = Number(argv[++i])
      if (!Number.isInteger(positions) || positions < 4 || positions % 4 !== 0) throw new UsageError('--positions takes a multiple of 4')
    } else if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`)
    else rest.push(a)
  }
  const [command, file] = rest
  if (!command) return 'help'
  if (command === 'demo') return { command, file: '', json, impl, warning, positions, fill, account, target, fee }
  if (command !== 'check' && command !== 'liquidate' && command !== 'plan') throw new UsageError(`unknown command ${command}`)
  if (command === 'plan' && (!account || !target)) throw new UsageError('plan needs --account ID and --target ...')
  if (!file || rest.length > 2) throw new UsageError(`usage: deleverage ${command} <scenario.json>`)
  return { command, file, json, impl, warning, positions, fill, account, target, fee }
}

interface CheckAccount extends AccountStatus {
  warning: boolean
  positions: PositionReport[]
}

function check(engine: Engine, warning: string | undefined): CheckAccount[] {
  const sweep = engine.sweep(warning === undefined ? {} : { warningRatio: warning })
  const warned = new Set(sweep.warnings.filter((w) => w.symbol === null).map((w) => w.account))
  const byAccount = new Map<string, PositionReport[]>()
  for (const p of engine.positions()) {
    const { account, ...rest } = p
    let list = byAccount.get(account)
    if (!list) byAccount.set(account, (list = []))
    list.push(rest)
  }
  return engine.accounts().map((a) => ({
    ...a,
    warning: warned.has(a.account),
    positions: byAccount.get(a.account) ?? [],
  }))
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  return rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n')
}

function pct(ratio: string | null, maintenanceMargin: string): string {
  if (/^0\.?0*$/.test(maintenanceMargin)) return '—'
  if (ratio === null) return '∞'
  const [i, f = ''] = ratio.split('.')
  const ppm = BigInt(i! + f.padEnd(6, '0'))
  return `${ppm / 10000n}.${(ppm % 10000n).toString().padStart(4, '0').slice(0, 2)}%`
}

function printCheck(accounts: CheckAccount[], implementation: Implementation): void {
  const head = ['account', 'balance', 'equity', 'maint. margin', 'margin ratio', 'status']
  const rows = accounts.map((a) => [
    a.account,
    a.balance,
    a.equity,
    a.maintenanceMargin,
    pct(a.marginRatio, a.maintenanceMargin),
    a.liquidatable ? 'LIQUIDATABLE' : a.warning ? 'margin call' : 'ok',
  ])
  console.log(table([head, ...rows]))
  console.log()
  const phead = ['account', 'symbol', 'qty', 'entry', 'uPnL', 'maint. margin', 'liq. price', 'bankruptcy', 'mode / status']
  const prows: string[][] = []
  for (const a of accounts) {
    for (const p of a.positions) {
      const status = p.isolated ? `isolated ${p.isolatedMargin}` : 'cross'
      prows.push([a.account, p.symbol, p.qty, p.entryPrice, p.unrealizedPnl, p.maintenanceMargin, p.liquidationPriceNearest ?? '—', p.bankruptcyPriceNearest ?? '—', status])
    }
  }
  if (prows.length) console.log(table([phead, ...prows]))
  const liq = accounts.filter((a) => a.liquidatable).length
  console.log(`\n${accounts.length} accounts, ${prows.length} positions, ${liq} liquidatable (engine: ${implementation}; prices are the nearest tick, --json has the conservative trigger tick too)`)
}

function printLiquidate(events: WaterfallEvent[], engine: Engine, accounts: CheckAccount[]): void {
  if (events.length === 0) {
    console.log('No account is liquidatable at these marks.\n')
  } else {
    const head = ['#', 'event', 'account', 'symbol', 'qty', 'price', 'amount', 'counterparty']
    const rows = events.map((e) => [String(e.seq), e.kind, e.account ?? '', e.symbol ?? '', e.qty ?? '', e.price ?? '', e.amount, e.counterparty ?? ''])
    console.log(table([head, ...rows]))
    console.log()
  }
  printCheck(accounts, engine.implementation)
  const l = engine.ledger()
  console.log(`insurance fund ${l.insuranceFund}${l.adlMode ? ' (ADL mode)' : ''}; settlement ${l.settlement}; residue ${l.residue}; cash total ${l.cashTotal}`)
}

export function main(argv: string[]): number {
  let args: Args | 'help'
  try {
    args = parseArgs(argv)
  } catch (e) {
    if (e instanceof UsageError) {
      console.error(`deleverage: ${e.message}\nRun 'deleverage --help' for usage.`)
      return 2
    }
    throw e
  }
  if (args === 'help') {
    console.log(USAGE)
    return 0
  }
  try {
    if (args.command === 'demo') {
      demo({ ...(args.positions ? { positions: args.positions } : {}), ...(args.impl !== 'auto' ? { implementation: args.impl } : {}) })
      return 0
    }
    const { scenario, engine } = loadScenarioFile(args.file, { implementation: args.impl })
    if (args.command === 'plan') {
      const plan = engine.planDeleveraging(args.account!, args.target!, args.fee === undefined ? {} : { fee: args.fee })
      if (args.json) {
        console.log(JSON.stringify({ implementation: engine.implementation, account: args.account, target: args.target, plan }, null, 2))
      } else {
        if (plan.orders.length === 0) console.log(`${args.account} already meets the target.`)
        else console.log(table([['reduce', 'qty'], ...plan.orders.map((o) => [o.symbol, o.qty])]))
        console.log(`\n${plan.reached ? 'target reached' : 'TARGET NOT REACHABLE even closing everything'}; fees ${plan.fees}; after: equity ${plan.equity}, maintenance margin ${plan.maintenanceMargin}, notional ${plan.notional}`)
        if (plan.positions.length) console.log('\n' + table([['position', 'qty', 'liq. price'], ...plan.positions.map((p) => [p.symbol, p.qty, p.liquidationPrice ?? '—'])]))
      }
      return 0
    }
    if (args.command === 'liquidate') {
      const events = engine.runWaterfall({ fill: args.fill ?? scenario.fill ?? 'mark' })
      const accounts = check(engine, args.warning ?? scenario.warningRatio)
      if (args.json) console.log(JSON.stringify({ implementation: engine.implementation, events, ledger: engine.ledger(), accounts }, null, 2))
      else printLiquidate(events, engine, accounts)
      return 0
    }
    const accounts = check(engine, args.warning ?? scenario.warningRatio)
    if (args.json) console.log(JSON.stringify({ implementation: engine.implementation, accounts }, null, 2))
    else printCheck(accounts, engine.implementation)
    return 0
  } catch (e) {
    if (e instanceof DeleverageError) {
      console.error(`deleverage: ${e.code}: ${e.message}`)
      return 3
    }
    console.error(e)
    return 1
  }
}
