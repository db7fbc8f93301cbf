// `deleverage order <scenario> --account A --symbol S --side buy|sell --qty Q [--price P]
// [--reduce-only] [--json] [--impl native|js]`: the pre-trade verdict of one order (SPEC §17.5),
// the largest quantity accepted, and the what-if of its fill (§17.7). Registered in the CLI's
// COMMANDS table (src/cli.ts) with the options below. Also the pre-trade table `deleverage check`
// prints (available balance and order margin).

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
import type { Engine } from './engine.js'
import type { OrderSide } from './pretrade-api.js'
import { loadScenarioFile } from './scenario.js'
import { displayDecimal, type Output, table } from './text.js'

export const ORDER_OPTIONS: Options = {
  account: { type: 'string', value: 'A', help: 'the account placing the order' },
  symbol: { type: 'string', value: 'S', help: 'the market' },
  side: { type: 'string', value: 'buy|sell', help: 'the side' },
  qty: { type: 'string', value: 'Q', help: "the quantity, in the market's lots" },
  price: { type: 'string', value: 'P', help: 'limit price (default: a market order at the mark)' },
  'reduce-only': { type: 'boolean', help: 'the order may only reduce the position' },
  json: { type: 'boolean', help: 'verdict, largest quantity and what-if as JSON' },
  impl: IMPL_OPTION,
  'full-precision': {
    type: 'boolean',
    help: 'money with every decimal of the scenario (default: 2 decimals, 8 for a coin)',
  },
}

const REQUIRED = ['account', 'symbol', 'side', 'qty']

export const ORDER_HELP = commandHelp({
  name: 'order',
  positionals: ['scenario.json'],
  required: REQUIRED,
  about: `Checks one order against the account's margin (leverage, initial margin, open orders, reduce-only,
open-interest caps, price band, liquidating accounts) and prints the verdict, its cost, the
largest quantity that would be accepted, and the account after the order fills (equity, margins,
available balance, and the liquidation and bankruptcy prices of the position it changes).`,
  options: ORDER_OPTIONS,
  examples: [
    'deleverage order examples/small-book.json --account hodler --symbol BTCUSDT --side buy --qty 2',
    'deleverage order book.json --account a1 --symbol ETHUSDT --side sell --qty 2 --price 3100 --json',
  ],
})

/** The `order` entry of the CLI's COMMANDS table. */
export const ORDER_COMMAND: Command = {
  name: 'order',
  summary: `Pre-trade check of one order: the verdict, its cost, the largest quantity accepted,
and the account and liquidation prices after it fills.`,
  options: ORDER_OPTIONS,
  positionals: ['scenario.json'],
  help: ORDER_HELP,
  run: (p) => runOrder(p),
}

/** The order `deleverage order` was given, checked (usage errors exit 2). */
function orderArgs(p: Parsed) {
  const v = p.values
  requireOptions('order', v, REQUIRED)
  const side = str(v, 'side')
  if (side !== 'buy' && side !== 'sell')
    throw new UsageError(`--side takes buy or sell, got ${side}`)
  const impl = implArg(v)
  const price = str(v, 'price')
  return {
    order: {
      account: str(v, 'account')!,
      symbol: str(v, 'symbol')!,
      side: side as OrderSide,
      qty: str(v, 'qty')!,
      ...(price !== undefined ? { price } : {}),
      reduceOnly: v['reduce-only'] === true,
    },
    implementation: impl,
  }
}

/** `deleverage order …`, parsed by the COMMANDS table; engine errors go to its handler (exit 3). */
export function runOrder(p: Parsed): number {
  const { order, implementation } = orderArgs(p)
  const { scenario, engine } = loadScenarioFile(
    resolveExample(p.positionals[0]!),
    implementation ? { implementation } : {},
  )
  const [verdict] = engine.checkOrders([order])
  const { account, symbol, side, price, reduceOnly } = order
  const maxQty = engine.maxOrderQty(account, symbol, side, {
    ...(price !== undefined ? { price } : {}),
    reduceOnly,
  })
  const whatIf = engine.whatIf(account, [order])
  if (p.values.json) {
    console.log(JSON.stringify({ order, ...verdict, maxQty, whatIf }, null, 2))
    return 0
  }
  // Tables show money at 2 decimals (8 for a coin-settled market), as `check` does.
  const coin = scenario.markets.some((m) => m.symbol === symbol && m.type === 'inverse')
  const places = p.values['full-precision'] ? undefined : coin ? 8 : 2
  console.log(`${side} ${order.qty} ${symbol} for ${account}: ${verdict?.verdict}`)
  console.log(orderTables(verdict!, maxQty, whatIf, (s) => displayDecimal(s, places)))
  return 0
}

type Verdict = ReturnType<Engine['checkOrders']>[number]
type WhatIf = ReturnType<Engine['whatIf']>

/** The verdict's costs, the account before and after the fill, and the positions it changes. */
function orderTables(
  verdict: Verdict,
  maxQty: string,
  w: WhatIf,
  money: (s: string) => string,
): string {
  const num = (s: string) => displayDecimal(s)
  const costs = ['initialMargin', 'openLoss', 'fee', 'cost', 'available'] as const
  const state = [
    'equity',
    'initialMargin',
    'maintenanceMargin',
    'orderMargin',
    'available',
  ] as const
  const price = (s: string | null | undefined) => (s ? num(s) : '-')
  return [
    table([
      ['', 'initial margin', 'open loss', 'fee', 'cost', 'available', 'max qty'],
      ['order', ...costs.map((k) => money(verdict[k])), num(maxQty)],
    ]),
    '\nif it fills:',
    table([
      ['', 'equity', 'initial margin', 'maintenance', 'order margin', 'available'],
      ...(['before', 'after'] as const).map((k) => [k, ...state.map((f) => money(w[k][f]))]),
    ]),
    `margin ratio after: ${w.marginRatio ?? 'unbounded'}`,
    table([
      ['symbol', 'qty', 'liquidation', 'liquidation (nearest)', 'bankruptcy'],
      ...w.positions.map((q) => [
        q.symbol,
        num(q.qty),
        // No price: the reason instead (SPEC §6.4).
        q.liquidationPriceReason ?? price(q.liquidationPrice),
        q.liquidationPriceReason ?? price(q.liquidationPriceNearest),
        price(q.bankruptcyPrice),
      ]),
    ]),
  ].join('\n')
}

/** Money as `check` shows it: `symbol` (a market the account trades) tells a coin apart. */
export type ShowMoney = (s: string, symbol?: string | null) => string

/** For `deleverage check` (table output, books up to 10,000 accounts): available balance and
 * order margin of every account that has open orders, money as the other tables show it. */
export function preTradeTable(
  engine: Engine,
  money: ShowMoney = (s) => displayDecimal(s, 2),
): string {
  const all = engine.accounts()
  if (all.length > 10_000) return ''
  const rows = all.flatMap((a) => {
    const orders = engine.openOrders(a.account)
    if (orders.length === 0) return []
    const m = engine.accountMargin(a.account)
    // An account settles in one asset (SPEC §5.4): any of its orders' markets names it.
    const at = orders[0]!.symbol
    return [
      [
        a.account,
        `${orders.length}`,
        money(m.orderMargin, at),
        money(m.initialMargin, at),
        money(m.available, at),
      ],
    ]
  })
  if (rows.length === 0) return ''
  const head = ['account', 'open orders', 'order margin', 'initial margin', 'available']
  return `\npre-trade:\n${table([head, ...rows])}\n`
}

export async function writePreTradeTable(
  out: Output,
  engine: Engine,
  money?: ShowMoney,
): Promise<void> {
  const t = preTradeTable(engine, money)
  if (t !== '') out.write(t)
}
