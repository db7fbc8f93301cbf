// `deleverage order <scenario> --account A --symbol S --side buy|sell --qty Q [--price P]
// [--reduce-only] [--json] [--implementation native|js]`: the pre-trade verdict of one order
// (SPEC §17.5), the largest quantity accepted, and the what-if of its fill (§17.7). Also the
// pre-trade table `deleverage check` prints (available balance and order margin).

import { parseArgs } from 'node:util'
import type { Engine, Implementation } from './engine.js'
import { DeleverageError } from './fallback/errors.js'
import type { OrderSide } from './pretrade-api.js'
import { loadScenarioFile } from './scenario.js'
import { displayDecimal, type Output, table } from './text.js'

export const ORDER_HELP = `usage: deleverage order <scenario.json> --account A --symbol S --side buy|sell --qty Q
                        [--price P] [--reduce-only] [--json] [--impl native|js] [--full-precision]

Checks one order against the account's margin (leverage, initial margin, open orders, reduce-only,
open-interest caps, price band, liquidating accounts) and prints the verdict, its cost, the
largest quantity that would be accepted, and the account after the order fills (equity, margins,
available balance, and the liquidation and bankruptcy prices of the position it changes).`

class Usage extends Error {}

export function runOrder(argv: string[]): number {
  let v: ReturnType<typeof parse>
  try {
    v = parse(argv)
  } catch (e) {
    if (!(e instanceof Usage) && !(e instanceof TypeError)) throw e
    console.error(`deleverage: ${(e as Error).message}\nRun 'deleverage order --help' for usage.`)
    return 2
  }
  if (v === null) {
    console.log(ORDER_HELP)
    return 0
  }
  try {
    const impl = v.implementation
    const { scenario, engine } = loadScenarioFile(v.file, impl ? { implementation: impl } : {})
    // Tables show money at 2 decimals (8 for a coin-settled market), as `check` does.
    const coin = scenario.markets.some((m) => m.symbol === v.symbol && m.type === 'inverse')
    const money = (s: string) => displayDecimal(s, v.fullPrecision ? undefined : coin ? 8 : 2)
    const num = (s: string) => displayDecimal(s)
    const order = {
      account: v.account,
      symbol: v.symbol,
      side: v.side,
      qty: v.qty,
      ...(v.price !== undefined ? { price: v.price } : {}),
      reduceOnly: v.reduceOnly,
    }
    const [verdict] = engine.checkOrders([order])
    const opts = { ...(v.price !== undefined ? { price: v.price } : {}), reduceOnly: v.reduceOnly }
    const maxQty = engine.maxOrderQty(v.account, v.symbol, v.side, opts)
    const whatIf = engine.whatIf(v.account, [order])
    if (v.json) {
      console.log(JSON.stringify({ order, ...verdict, maxQty, whatIf }, null, 2))
      return 0
    }
    const w = whatIf
    console.log(`${v.side} ${v.qty} ${v.symbol} for ${v.account}: ${verdict?.verdict}`)
    console.log(
      table([
        ['', 'initial margin', 'open loss', 'fee', 'cost', 'available', 'max qty'],
        [
          'order',
          money(verdict!.initialMargin),
          money(verdict!.openLoss),
          money(verdict!.fee),
          money(verdict!.cost),
          money(verdict!.available),
          num(maxQty),
        ],
      ]),
    )
    console.log('\nif it fills:')
    console.log(
      table([
        ['', 'equity', 'initial margin', 'maintenance', 'order margin', 'available'],
        ...(['before', 'after'] as const).map((k) => [
          k,
          money(w[k].equity),
          money(w[k].initialMargin),
          money(w[k].maintenanceMargin),
          money(w[k].orderMargin),
          money(w[k].available),
        ]),
      ]),
    )
    console.log(`margin ratio after: ${w.marginRatio ?? 'unbounded'}`)
    console.log(
      table([
        ['symbol', 'qty', 'liquidation', 'liquidation (nearest)', 'bankruptcy'],
        ...w.positions.map((p) => [
          p.symbol,
          num(p.qty),
          p.liquidationPrice ? num(p.liquidationPrice) : '-',
          p.liquidationPriceNearest ? num(p.liquidationPriceNearest) : '-',
          p.bankruptcyPrice ? num(p.bankruptcyPrice) : '-',
        ]),
      ]),
    )
    return 0
  } catch (e) {
    if (e instanceof DeleverageError) {
      console.error(`deleverage: ${e.code}: ${e.message}`)
      return 3
    }
    throw e
  }
}

function parse(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      account: { type: 'string' },
      symbol: { type: 'string' },
      side: { type: 'string' },
      qty: { type: 'string' },
      price: { type: 'string' },
      'reduce-only': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      impl: { type: 'string' },
      'full-precision': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) return null
  if (positionals.length !== 1) throw new Usage('order takes one scenario file')
  for (const k of ['account', 'symbol', 'side', 'qty'] as const)
    if (values[k] === undefined) throw new Usage(`order needs --${k}`)
  if (values.side !== 'buy' && values.side !== 'sell')
    throw new Usage(`--side must be buy or sell, got ${values.side}`)
  const impl = values.impl
  if (impl !== undefined && impl !== 'native' && impl !== 'js')
    throw new Usage(`--impl must be native or js, got ${impl}`)
  return {
    file: positionals[0] as string,
    account: values.account as string,
    symbol: values.symbol as string,
    side: values.side as OrderSide,
    qty: values.qty as string,
    price: values.price,
    reduceOnly: values['reduce-only'] === true,
    json: values.json === true,
    implementation: impl as Implementation | undefined,
    fullPrecision: values['full-precision'] === true,
  }
}

/** For `deleverage check` (table output, books up to 10,000 accounts): available balance and
 * order margin of every account that has open orders. */
export function preTradeTable(engine: Engine): string {
  const all = engine.accounts()
  if (all.length > 10_000) return ''
  const rows = all
    .filter((a) => engine.openOrders(a.account).length > 0)
    .map((a) => {
      const m = engine.accountMargin(a.account)
      return [
        a.account,
        `${engine.openOrders(a.account).length}`,
        displayDecimal(m.orderMargin, 2),
        displayDecimal(m.initialMargin, 2),
        displayDecimal(m.available, 2),
      ]
    })
  if (rows.length === 0) return ''
  const head = ['account', 'open orders', 'order margin', 'initial margin', 'available']
  return `\npre-trade:\n${table([head, ...rows])}\n`
}

export async function writePreTradeTable(out: Output, engine: Engine): Promise<void> {
  const t = preTradeTable(engine)
  if (t !== '') out.write(t)
}
