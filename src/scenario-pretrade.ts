// Scenario files' `preTrade` section (docs/SCENARIO.md, SPEC §17): per-market pre-trade
// settings, leverage choices and open orders, applied after the accounts are loaded.
//
//   "preTrade": {
//     "markets": { "BTCUSDT": { "defaultLeverage": 20, "priceBand": "0.05" } },
//     "leverage": [{ "account": "alice", "symbol": "BTCUSDT", "leverage": 10 }],
//     "orders": [{ "account": "alice", "symbol": "BTCUSDT", "side": "buy", "qty": "0.5", "price": "49000" }]
//   }

import type { Engine } from './engine.js'
import { describe } from './decimal.js'
import { DeleverageError } from './fallback/errors.js'
import type { OrderInput, PreTradeOptions } from './pretrade-api.js'

export interface PreTradeScenario {
  markets?: Record<string, PreTradeOptions>
  leverage?: Array<{ account: string; symbol: string; leverage: number }>
  orders?: OrderInput[]
}

function fail(path: string, problem: string): never {
  throw new DeleverageError('INVALID_SCENARIO', `${path}: ${problem}`)
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function only(o: Record<string, unknown>, path: string, keys: string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k))
      fail(`${path}.${k}`, `unknown field (expected one of ${keys.join(', ')})`)
}

/** Check the section's shape (values are checked by the engine when applied). */
export function parsePreTrade(v: unknown): PreTradeScenario {
  const p = '$.preTrade'
  if (!isObj(v)) fail(p, `expected an object, got ${describe(v)}`)
  only(v, p, ['markets', 'leverage', 'orders'])
  if (v.markets !== undefined && !isObj(v.markets))
    fail(`${p}.markets`, `expected an object, got ${describe(v.markets)}`)
  for (const [sym, o] of Object.entries((v.markets ?? {}) as Record<string, unknown>)) {
    if (!isObj(o)) fail(`${p}.markets.${sym}`, `expected an object, got ${describe(o)}`)
    const keys = ['defaultLeverage', 'priceBand', 'maxOpenInterest', 'maxAccountPosition']
    // takerFeeRate: the deprecated name of orderCostFeeRate, still read.
    const fee = ['orderCostFeeRate', 'takerFeeRate']
    only(o, `${p}.markets.${sym}`, [...keys, 'excludeProfit', ...fee])
  }
  for (const k of ['leverage', 'orders'] as const) {
    const list = v[k]
    if (list === undefined) continue
    if (!Array.isArray(list)) fail(`${p}.${k}`, `expected an array, got ${describe(list)}`)
    list.forEach((x, i) => {
      if (!isObj(x)) fail(`${p}.${k}[${i}]`, `expected an object, got ${describe(x)}`)
      const keys =
        k === 'leverage'
          ? ['account', 'symbol', 'leverage']
          : ['account', 'symbol', 'side', 'qty', 'price', 'reduceOnly']
      only(x, `${p}.${k}[${i}]`, keys)
    })
  }
  return v as PreTradeScenario
}

/** Apply the section: settings, then leverage, then orders (placed in order; a rejected one is
 * an error, since a scenario describes a state). */
export function applyPreTrade(engine: Engine, s: PreTradeScenario): void {
  const at = (path: string, f: () => void) => {
    try {
      f()
    } catch (e) {
      if (e instanceof DeleverageError) throw new DeleverageError(e.code, `${path}: ${e.message}`)
      throw e
    }
  }
  for (const [sym, o] of Object.entries(s.markets ?? {}))
    at(`preTrade.markets.${sym}`, () => engine.configurePreTrade(sym, o))
  for (const [i, l] of (s.leverage ?? []).entries()) {
    at(`preTrade.leverage[${i}]`, () => {
      const v = engine.setLeverage(l.account, l.symbol, l.leverage)
      if (v !== 'ACCEPTED') throw new DeleverageError('INVALID_SCENARIO', `leverage refused: ${v}`)
    })
  }
  for (const [i, o] of (s.orders ?? []).entries()) {
    const path = `preTrade.orders[${i}]`
    try {
      const [r] = engine.placeOrders([o])
      if (r?.verdict !== 'ACCEPTED')
        throw new DeleverageError('INVALID_SCENARIO', `order refused: ${r?.verdict}`)
    } catch (e) {
      if (!(e instanceof DeleverageError)) throw e
      // placeOrders names a field within its one-order list ("orders[0].qty: …"): continue the
      // scenario's path instead ("preTrade.orders[3].qty: …").
      const field = e.message.startsWith('orders[0].') ? e.message.slice('orders[0]'.length) : null
      throw new DeleverageError(e.code, field ? `${path}${field}` : `${path}: ${e.message}`)
    }
  }
}
