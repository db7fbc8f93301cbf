// Orders over the log (docs/SCALE-OUT.md §2, SPEC §17): the pre-trade operations of one account,
// applied by the shard that owns it. Orders are named by the host's `ref`: the engine's ids are
// per engine (each shard counts its own), so the shard keeps ref ↔ id in its state (snapshotted)
// and every output names the ref — the same outputs whatever the partitioning.

import { parseUnits } from '../decimal.js'
import type { Engine, WaterfallEvent } from '../engine.js'
import { DeleverageError } from '../fallback/errors.js'
import type {
  CancelOrdersMessage,
  FillOrdersMessage,
  OutputBody,
  PlaceOrdersMessage,
  SetLeverageMessage,
} from './protocol.js'

/** ref ↔ engine id of the open orders: `refs` by "account ref", `byId` by id. */
export interface OrderRefs {
  refs: Record<string, string>
  byId: Record<string, string>
}

const key = (account: string, ref: string) => `${account} ${ref}`

/** One keyed pre-trade message of the input topic; returns its outputs. */
export function handle(
  e: Engine,
  o: OrderRefs,
  m: SetLeverageMessage | PlaceOrdersMessage | CancelOrdersMessage | FillOrdersMessage,
): OutputBody[] {
  switch (m.type) {
    case 'setLeverage': {
      const verdict = e.setLeverage(m.account, m.symbol, m.leverage)
      const { account, symbol, leverage } = m
      return [{ type: 'leverage', account, symbol, leverage, verdict }]
    }
    case 'placeOrders':
      return placeOrders(e, o, m)
    case 'cancelOrders':
      return cancelOrders(e, o, m)
    case 'fillOrders':
      fillOrders(e, o, m)
      return []
  }
}

function bad(message: string): DeleverageError {
  return new DeleverageError('INVALID_ARGUMENT', message)
}

/** Sequential checks (SPEC §17.5); the accepted orders stay open under their refs. */
export function placeOrders(e: Engine, o: OrderRefs, m: PlaceOrdersMessage): OutputBody[] {
  if (!Array.isArray(m.orders)) throw bad('orders: expected an array')
  const seen = new Set<string>()
  for (const [i, x] of m.orders.entries()) {
    if (typeof x?.ref !== 'string' || !/^[^\s]{1,64}$/.test(x.ref))
      throw bad(`orders[${i}].ref: expected 1–64 characters without spaces`)
    if (o.refs[key(m.account, x.ref)] !== undefined || seen.has(x.ref))
      throw bad(`orders[${i}].ref: ${x.ref} is already an open order of ${m.account}`)
    seen.add(x.ref)
  }
  const placed = e.placeOrders(
    m.orders.map((x) => ({
      account: m.account,
      symbol: x.symbol,
      side: x.side,
      qty: x.qty,
      price: x.price,
      reduceOnly: x.reduceOnly,
    })),
  )
  return placed.map((v, i) => {
    const x = m.orders[i]!
    if (v.id !== null) {
      o.refs[key(m.account, x.ref)] = v.id
      o.byId[v.id] = x.ref
    }
    return {
      type: 'orderVerdict',
      account: m.account,
      ref: x.ref,
      symbol: x.symbol,
      verdict: v.verdict,
      cost: v.cost,
      available: v.available,
    }
  })
}

function idOf(o: OrderRefs, account: string, ref: string, at: string): string {
  const id = typeof ref === 'string' ? o.refs[key(account, ref)] : undefined
  if (id === undefined)
    throw new DeleverageError('UNKNOWN_ORDER', `${at}: no open order ${ref} of ${account}`)
  return id
}

/** All or nothing, as the engine's cancelOrders. */
export function cancelOrders(e: Engine, o: OrderRefs, m: CancelOrdersMessage): OutputBody[] {
  if (!Array.isArray(m.refs)) throw bad('refs: expected an array')
  const ids = m.refs.map((r, i) => idOf(o, m.account, r, `refs[${i}]`))
  const open = new Map(e.openOrders(m.account).map((x) => [x.id, x]))
  e.cancelOrders(ids)
  return ids.map((id) => {
    const { symbol, side, qty, price } = open.get(id)!
    const ref = forget(o, m.account, id)
    return {
      type: 'orderCancelled',
      account: m.account,
      ref,
      symbol,
      side,
      qty,
      price,
      reason: 'request',
    }
  })
}

/** Fills of open orders; an order filled in full is gone (no output: the host sent the fill). */
export function fillOrders(e: Engine, o: OrderRefs, m: FillOrdersMessage): void {
  if (!Array.isArray(m.fills)) throw bad('fills: expected an array')
  const ids = m.fills.map((f, i) => idOf(o, m.account, f?.ref, `fills[${i}]`))
  e.fillOrders(
    m.fills.map((f, i) => ({ account: m.account, id: ids[i]!, qty: f.qty, price: f.price })),
  )
  const open = new Set(e.openOrders(m.account).map((x) => x.id))
  for (const id of ids) if (!open.has(id)) forget(o, m.account, id)
}

/** Drop an order that is gone; returns its ref. */
function forget(o: OrderRefs, account: string, id: string): string {
  const ref = o.byId[id] ?? ''
  delete o.refs[key(account, ref)]
  delete o.byId[id]
  return ref
}

/** The engine's `orderCancelled` event (SPEC §17.9: a liquidation cancelled it) as an output;
 * the event carries the order id in `amount`, formatted in atoms of the quote asset. */
export function cancelledByLiquidation(
  o: OrderRefs,
  v: Pick<WaterfallEvent, 'account' | 'symbol' | 'qty' | 'price' | 'amount'>,
  quoteDecimals: number,
): OutputBody {
  const id = parseUnits(v.amount, quoteDecimals, 'order id').toString()
  const ref = forget(o, v.account!, id)
  const q = v.qty!
  return {
    type: 'orderCancelled',
    account: v.account!,
    ref,
    symbol: v.symbol!,
    side: q.startsWith('-') ? 'sell' : 'buy',
    qty: q.startsWith('-') ? q.slice(1) : q,
    price: v.price!,
    reason: 'liquidation',
  }
}
