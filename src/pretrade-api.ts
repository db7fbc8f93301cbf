// Pre-trade risk in decimal strings (SPEC §17): the public methods of `Engine` delegate here. The
// typed-array form is `engine.core.checkOrders/placeOrders/...` (integer units, no object per
// order). Nothing here adds semantics: it parses, calls the core, and formats.

import type { CoreEngine } from './core.js'
import { type Amount, describe, formatUnits, parseUnits } from './decimal.js'
import { DeleverageError, withContext } from './fallback/errors.js'
import type { LiquidationPriceReason } from './engine.js'
import { LIQUIDATION_PRICE_REASONS } from './generated/tables.js'
import { deprecatedAlias } from './fallback/napi-args.js'
import { VERDICTS } from './fallback/pretrade.js'

export type OrderSide = 'buy' | 'sell'

export type OrderVerdictCode =
  | 'ACCEPTED'
  | 'INSUFFICIENT_MARGIN'
  | 'RISK_LIMIT'
  | 'REDUCE_ONLY'
  | 'OPEN_INTEREST_CAP'
  | 'PRICE_BAND'
  | 'LIQUIDATING'

export const VERDICT_CODES = VERDICTS as readonly OrderVerdictCode[]

/** A market's pre-trade settings (SPEC §17.1); omitted fields take the defaults. */
export interface PreTradeOptions {
  /** Leverage of accounts that chose none (default: min(20, the market's maximum)). */
  defaultLeverage?: number
  /** Limit prices within mark × (1 ± band), e.g. "0.05"; "0" or omitted: no band. */
  priceBand?: Amount
  /** Open interest cap per side of the market (qty); omitted: none. */
  maxOpenInterest?: Amount
  /** Cap on one account's exposure per side (qty); omitted: none. */
  maxAccountPosition?: Amount
  /** Unrealised profit is not available for new orders (Bybit classic). Default false. */
  excludeProfit?: boolean
  /** Fee rate of the order cost, e.g. "0.0006": Bybit's fees to open and close (at its taker
   * rate) join the order cost. Not the market's takerFeeRate (SPEC §19). */
  orderCostFeeRate?: Amount
  /** @deprecated The old name of orderCostFeeRate (it collided with the market's takerFeeRate). */
  takerFeeRate?: Amount
}

export interface OrderInput {
  account: string
  symbol: string
  side: OrderSide
  /** Quantity (positive). */
  qty: Amount
  /** Limit price; omitted: a market order, priced at the mark. */
  price?: Amount
  reduceOnly?: boolean
}

export interface OrderVerdictReport {
  verdict: OrderVerdictCode
  /** The part of the order beyond what it reduces (qty). */
  openQty: string
  initialMargin: string
  openLoss: string
  fee: string
  /** initialMargin + openLoss + fee. */
  cost: string
  /** The account's available balance before this order. */
  available: string
  /** With `units: true` (EngineOptions): the same numbers as integers (qty in lots, money in
   * atoms). */
  units?: {
    openQty: bigint
    initialMargin: bigint
    openLoss: bigint
    fee: bigint
    cost: bigint
    available: bigint
  }
}

export interface OpenOrder {
  id: string
  symbol: string
  side: OrderSide
  qty: string
  price: string
  reduceOnly: boolean
  /** With `units: true`: qty in lots (positive), price in ticks. */
  units?: { qty: bigint; price: bigint }
}

export interface AccountMarginReport {
  equity: string
  initialMargin: string
  maintenanceMargin: string
  orderMargin: string
  available: string
  liquidating: boolean
  /** With `units: true`: the same amounts in atoms. */
  units?: MarginReportUnits
}

export interface MarginReportUnits {
  equity: bigint
  initialMargin: bigint
  maintenanceMargin: bigint
  orderMargin: bigint
  available: bigint
}

/** A what-if position's numbers as integers: qty in lots, cost in the market's cost units,
 * prices in ticks (null when there is none). */
export interface WhatIfPositionUnits {
  qty: bigint
  entryCost: bigint
  liquidationPrice: bigint | null
  liquidationPriceNearest: bigint | null
  bankruptcyPrice: bigint | null
  bankruptcyPriceNearest: bigint | null
}

export interface WhatIfReport {
  before: AccountMarginReport
  after: AccountMarginReport
  /** MM / equity after, e.g. "0.25"; null when equity ≤ 0. */
  marginRatio: string | null
  positions: Array<{
    symbol: string
    qty: string
    /** The position's exact cost basis after the fills, as `PositionReport.cost` (linear: quote,
     * inverse: margin asset). */
    entryCost: string
    isolated: boolean
    /** Null when there is none: liquidationPriceReason says why (SPEC §6.4). */
    liquidationPrice: string | null
    liquidationPriceNearest: string | null
    liquidationPriceReason: LiquidationPriceReason | null
    bankruptcyPrice: string | null
    bankruptcyPriceNearest: string | null
    /** With `units: true`: the same numbers as integers. */
    units?: WhatIfPositionUnits
  }>
  /** With `units: true`: the margin ratio in ppm (null as marginRatio). */
  units?: { marginRatioPpm: bigint | null }
}

interface Meta {
  index: number
  symbol: string
  priceDecimals: number
  qtyDecimals: number
  /** Decimals of the market's cost basis (`PositionReport.cost`). */
  tierDecimals: number
}

/** What the Engine lends: its core and its name lookups. */
export interface PreTradeCtx {
  core: CoreEngine
  quoteDecimals: number
  /** Reports carry integer `units` beside the decimal strings (EngineOptions.units). */
  withUnits: boolean
  market(symbol: string): Meta
  marketAt(index: number): Meta
  accountIndex(id: string): number
}

function bad(msg: string): DeleverageError {
  return new DeleverageError('INVALID_ARGUMENT', msg)
}

function leverageArg(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff)
    throw new DeleverageError(
      'INVALID_LEVERAGE',
      `${name} must be a positive integer, got ${describe(v)}`,
    )
  return v
}

export function configurePreTrade(c: PreTradeCtx, symbol: string, o: PreTradeOptions): void {
  if (typeof o !== 'object' || o === null)
    throw bad(`options: expected an object, got ${describe(o)}`)
  const m = c.market(symbol)
  const units = (v: Amount | undefined, d: number, f: string) =>
    v === undefined ? 0n : parseUnits(v, d, f)
  c.core.configurePreTrade(m.index, {
    defaultLeverage:
      o.defaultLeverage === undefined ? 0 : leverageArg('defaultLeverage', o.defaultLeverage),
    priceBandPpm: units(o.priceBand, 6, 'priceBand'),
    maxOpenInterest: units(o.maxOpenInterest, m.qtyDecimals, 'maxOpenInterest'),
    maxAccountPosition: units(o.maxAccountPosition, m.qtyDecimals, 'maxAccountPosition'),
    excludeProfit: o.excludeProfit === true,
    orderCostFeeRate: units(
      deprecatedAlias(
        o as Record<string, unknown>,
        'orderCostFeeRate',
        'takerFeeRate',
        'options',
      ) as Amount | undefined,
      8,
      o.takerFeeRate === undefined ? 'orderCostFeeRate' : 'takerFeeRate',
    ),
  })
}

export function setLeverage(
  c: PreTradeCtx,
  account: string,
  symbol: string,
  leverage: number,
): OrderVerdictCode {
  const a = c.accountIndex(account)
  const m = c.market(symbol).index
  const v = c.core.setLeverage(a, m, leverageArg('leverage', leverage))
  return VERDICT_CODES[v] as OrderVerdictCode
}

/** f(), its error (an unknown account or market) prefixed with the field that named it. */
function named<T>(field: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw withContext(e, field)
  }
}

/** Orders as typed columns (the core's form). */
export function orderColumns(c: PreTradeCtx, orders: OrderInput[]) {
  if (!Array.isArray(orders)) throw bad(`orders: expected an array, got ${describe(orders)}`)
  const n = orders.length
  const cols = {
    account: new Uint32Array(n),
    market: new Uint32Array(n),
    qty: new BigInt64Array(n),
    price: new BigInt64Array(n),
    reduceOnly: new Uint8Array(n),
  }
  orders.forEach((o, i) => {
    const at = `orders[${i}]`
    if (typeof o !== 'object' || o === null)
      throw bad(`${at}: expected an object, got ${describe(o)}`)
    if (o.side !== 'buy' && o.side !== 'sell')
      throw bad(`${at}.side: expected 'buy' or 'sell', got ${describe(o.side)}`)
    cols.account[i] = named(`${at}.account`, () => c.accountIndex(o.account))
    const m = named(`${at}.symbol`, () => c.market(o.symbol))
    cols.market[i] = m.index
    const q = parseUnits(o.qty, m.qtyDecimals, `${at}.qty`, { positive: 'INVALID_QUANTITY' })
    cols.qty[i] = o.side === 'buy' ? q : -q
    cols.price[i] =
      o.price === undefined
        ? 0n
        : parseUnits(o.price, m.priceDecimals, `${at}.price`, { positive: 'INVALID_PRICE' })
    cols.reduceOnly[i] = o.reduceOnly === true ? 1 : 0
  })
  return cols
}

function verdicts(
  c: PreTradeCtx,
  cols: ReturnType<typeof orderColumns>,
  r: ReturnType<CoreEngine['checkOrders']>,
): OrderVerdictReport[] {
  const q = c.quoteDecimals
  return Array.from(r.verdict, (v, i) => {
    const m = c.marketAt(cols.market[i] as number)
    const im = r.initialMargin[i] as bigint
    const loss = r.openLoss[i] as bigint
    const fee = r.fee[i] as bigint
    const open = r.openQty[i] as bigint
    const available = r.available[i] as bigint
    const report: OrderVerdictReport = {
      verdict: VERDICT_CODES[v] as OrderVerdictCode,
      openQty: formatUnits(open, m.qtyDecimals),
      initialMargin: formatUnits(im, q),
      openLoss: formatUnits(loss, q),
      fee: formatUnits(fee, q),
      cost: formatUnits(im + loss + fee, q),
      available: formatUnits(available, q),
    }
    if (c.withUnits)
      report.units = {
        openQty: open,
        initialMargin: im,
        openLoss: loss,
        fee,
        cost: im + loss + fee,
        available,
      }
    return report
  })
}

export function checkOrders(
  c: PreTradeCtx,
  orders: OrderInput[],
  sequential: boolean,
): OrderVerdictReport[] {
  const k = orderColumns(c, orders)
  const r = c.core.checkOrders(k.account, k.market, k.qty, k.price, k.reduceOnly, sequential)
  return verdicts(c, k, r)
}

export function placeOrders(
  c: PreTradeCtx,
  orders: OrderInput[],
): Array<OrderVerdictReport & { id: string | null }> {
  const k = orderColumns(c, orders)
  const r = c.core.placeOrders(k.account, k.market, k.qty, k.price, k.reduceOnly)
  return verdicts(c, k, r).map((v, i) => {
    const id = r.id[i] as bigint
    return { ...v, id: id === 0n ? null : `${id}` }
  })
}

function idsArg(ids: Array<string | bigint>): BigInt64Array {
  if (!Array.isArray(ids)) throw bad(`ids: expected an array, got ${describe(ids)}`)
  return BigInt64Array.from(ids, (x, i) => {
    const v =
      typeof x === 'bigint' ? x : typeof x === 'string' && /^[0-9]{1,20}$/.test(x) ? BigInt(x) : -1n
    if (v < 0n || v >= 1n << 64n)
      throw bad(`ids[${i}]: expected an order id (a decimal string or bigint), got ${describe(x)}`)
    return BigInt.asIntN(64, v)
  })
}

export function cancelOrders(c: PreTradeCtx, ids: Array<string | bigint>): void {
  c.core.cancelOrders(idsArg(ids))
}

/** Fills of open orders, named by the owning account and id (its market gives the units). */
export function fillOrders(
  c: PreTradeCtx,
  fills: Array<{ account: string; id: string | bigint; qty: Amount; price: Amount }>,
): void {
  if (!Array.isArray(fills)) throw bad(`fills: expected an array, got ${describe(fills)}`)
  const ids = idsArg(fills.map((f) => f?.id))
  const qty = new BigInt64Array(fills.length)
  const price = new BigInt64Array(fills.length)
  fills.forEach((f, i) => {
    const id = ids[i] as bigint
    const rows = c.core.openOrders(c.accountIndex(f.account))
    let m: Meta | null = null
    for (let r = 0; r < rows.length; r += 5) {
      if (rows[r] === id) m = c.marketAt(Number(rows[r + 1]))
    }
    if (m === null)
      throw new DeleverageError(
        'UNKNOWN_ORDER',
        `row ${i}: no open order with id ${BigInt.asUintN(64, id)}`,
      )
    qty[i] = parseUnits(f.qty, m.qtyDecimals, `fills[${i}].qty`)
    price[i] = parseUnits(f.price, m.priceDecimals, `fills[${i}].price`)
  })
  c.core.fillOrders(ids, qty, price)
}

export function openOrders(c: PreTradeCtx, account: string): OpenOrder[] {
  const rows = c.core.openOrders(c.accountIndex(account))
  const out: OpenOrder[] = []
  for (let i = 0; i < rows.length; i += 5) {
    const m = c.marketAt(Number(rows[i + 1]))
    const q = rows[i + 2] as bigint
    const qty = q < 0n ? -q : q
    const price = rows[i + 3] as bigint
    const order: OpenOrder = {
      id: `${rows[i]}`,
      symbol: m.symbol,
      side: q > 0n ? 'buy' : 'sell',
      qty: formatUnits(qty, m.qtyDecimals),
      price: formatUnits(price, m.priceDecimals),
      reduceOnly: rows[i + 4] === 1n,
    }
    if (c.withUnits) order.units = { qty, price }
    out.push(order)
  }
  return out
}

export function maxOrderQty(
  c: PreTradeCtx,
  account: string,
  symbol: string,
  side: OrderSide,
  price?: Amount,
  reduceOnly = false,
): string {
  const a = c.accountIndex(account)
  const m = c.market(symbol)
  if (side !== 'buy' && side !== 'sell')
    throw bad(`side: expected 'buy' or 'sell', got ${describe(side)}`)
  const p =
    price === undefined
      ? 0n
      : parseUnits(price, m.priceDecimals, 'price', { positive: 'INVALID_PRICE' })
  return formatUnits(c.core.maxOrderQty(a, m.index, side === 'buy', p, reduceOnly), m.qtyDecimals)
}

function marginReport(c: PreTradeCtx, v: BigInt64Array, at: number): AccountMarginReport {
  const n = (i: number) => v[at + i] as bigint
  const f = (i: number) => formatUnits(n(i), c.quoteDecimals)
  const report: AccountMarginReport = {
    equity: f(0),
    initialMargin: f(2),
    maintenanceMargin: f(3),
    orderMargin: f(4),
    available: f(5),
    liquidating: n(6) === 1n,
  }
  if (c.withUnits)
    report.units = {
      equity: n(0),
      initialMargin: n(2),
      maintenanceMargin: n(3),
      orderMargin: n(4),
      available: n(5),
    }
  return report
}

export function accountMargin(c: PreTradeCtx, account: string): AccountMarginReport {
  return marginReport(c, c.core.accountMargin(c.accountIndex(account)), 0)
}

export function whatIf(c: PreTradeCtx, account: string, orders: OrderInput[]): WhatIfReport {
  const k = orderColumns(
    c,
    orders.map((o) => ({ ...o, account })),
  )
  const a = c.accountIndex(account)
  const v = c.core.whatIf(a, k.market, k.qty, k.price)
  const ratio = v[14] as bigint
  const n = Number(v[15])
  const positions = []
  for (let i = 0; i < n; i++) positions.push(whatIfPosition(c, v, 16 + 9 * i))
  const report: WhatIfReport = {
    before: marginReport(c, v, 0),
    after: marginReport(c, v, 7),
    marginRatio: ratio < 0n ? null : formatUnits(ratio, 6),
    positions,
  }
  if (c.withUnits) report.units = { marginRatioPpm: ratio < 0n ? null : ratio }
  return report
}

/** One position row of the what-if vector (SPEC §17.7), starting at `r`. */
function whatIfPosition(c: PreTradeCtx, v: BigInt64Array, r: number): WhatIfReport['positions'][0] {
  const m = c.marketAt(Number(v[r]))
  const why = Number(v[r + 8])
  // A price of 0 is "none"; a liquidation price also when the reason says there is none.
  const tick = (x: bigint) => (x === 0n ? null : x)
  const liq = (x: bigint) => tick(why === 0 ? x : 0n)
  const u: WhatIfPositionUnits = {
    qty: v[r + 1] as bigint,
    entryCost: v[r + 2] as bigint,
    liquidationPrice: liq(v[r + 4] as bigint),
    liquidationPriceNearest: liq(v[r + 5] as bigint),
    bankruptcyPrice: tick(v[r + 6] as bigint),
    bankruptcyPriceNearest: tick(v[r + 7] as bigint),
  }
  const px = (x: bigint | null) => (x === null ? null : formatUnits(x, m.priceDecimals))
  return {
    symbol: m.symbol,
    qty: formatUnits(u.qty, m.qtyDecimals),
    entryCost: formatUnits(u.entryCost, m.tierDecimals),
    isolated: v[r + 3] === 1n,
    liquidationPrice: px(u.liquidationPrice),
    liquidationPriceNearest: px(u.liquidationPriceNearest),
    liquidationPriceReason:
      why === 0 ? null : (LIQUIDATION_PRICE_REASONS[why] as LiquidationPriceReason),
    bankruptcyPrice: px(u.bankruptcyPrice),
    bankruptcyPriceNearest: px(u.bankruptcyPriceNearest),
    ...(c.withUnits ? { units: u } : {}),
  }
}
