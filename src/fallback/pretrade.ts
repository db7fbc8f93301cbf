// Mirror of crates/core/src/pretrade.rs and order_check.rs (SPEC §17): pre-trade settings,
// leverage, open orders, order checks, maxOrderQty, what-if. Same arithmetic, same errors.

import { DeleverageError, ErrorCode, withContext } from './errors.js'
import {
  bankruptcyBase,
  bankruptcyPrice,
  liquidationBase,
  liquidationPrice,
  liquidationPriceReason,
  type SolvedPrice,
} from './liq.js'
import { LiquidationFill, OrderCancelled, Takeover, type Waterfall } from './waterfall/index.js'
import { Inverse, Linear, type Market, checkOnGrid, checkPrice, checkQty } from './market.js'
import {
  Ceil,
  I64_MAX,
  I64_MIN,
  QTY_MAX_LOTS,
  RATE_SCALE,
  add,
  mul,
  ratio,
  sub,
  toI64,
} from './num.js'

export const DEFAULT_LEVERAGE = 20n
export const BAND_SCALE = 1_000_000n

/** Verdict codes (pretrade.rs Verdict), in code order. */
export const VERDICTS = [
  'ACCEPTED',
  'INSUFFICIENT_MARGIN',
  'RISK_LIMIT',
  'REDUCE_ONLY',
  'OPEN_INTEREST_CAP',
  'PRICE_BAND',
  'LIQUIDATING',
] as const
const ACCEPTED = 0
const INSUFFICIENT_MARGIN = 1
const RISK_LIMIT = 2
const REDUCE_ONLY = 3
const OPEN_INTEREST_CAP = 4
const PRICE_BAND = 5
const LIQUIDATING = 6

export interface PreTradeConfig {
  defaultLeverage: bigint
  priceBandPpm: bigint
  maxOpenInterest: bigint
  maxAccountPosition: bigint
  excludeProfit: boolean
  orderCostFeeRate: bigint
}

export function defaultConfig(): PreTradeConfig {
  return {
    defaultLeverage: 0n,
    priceBandPpm: 0n,
    maxOpenInterest: 0n,
    maxAccountPosition: 0n,
    excludeProfit: false,
    orderCostFeeRate: 0n,
  }
}

export interface Order {
  id: bigint
  account: number
  market: number
  qty: bigint
  price: bigint
  reduceOnly: boolean
}

export interface OrderVerdict {
  verdict: number
  openQty: bigint
  initialMargin: bigint
  openLoss: bigint
  fee: bigint
  available: bigint
}

export interface AccountMargin {
  equity: bigint
  countedEquity: bigint
  initialMargin: bigint
  maintenanceMargin: bigint
  orderMargin: bigint
  available: bigint
  liquidating: boolean
}

/** (qty, cost, isolated, isolated margin) */
export type Pos = [bigint, bigint, boolean, bigint]

/** What the engine lends the pre-trade code: read access to its book, and the fill path. */
export interface PreTradeHost {
  market(m: number): Market
  markets(): Market[]
  account(a: number): void
  accountIdOf(a: number): string
  balanceOf(a: number): bigint
  /** The account's positions, sorted by market. */
  positionsOf(a: number): Array<[number, Pos]>
  /** Σ |qty| of the market's positions on one side. */
  sideLots(m: number, buy: boolean): bigint
  applyFills(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
  ): void
}

export interface WhatIfPosition {
  market: number
  qty: bigint
  cost: bigint
  isolated: boolean
  liquidation: SolvedPrice | null
  /** Code of LIQUIDATION_PRICE_REASONS (SPEC §6.4). */
  liquidationReason: number
  bankruptcy: SolvedPrice | null
}

export interface WhatIf {
  before: AccountMargin
  after: AccountMargin
  marginRatioPpm: bigint | null
  positions: WhatIfPosition[]
}

type Extra = Map<number, Order[]>

export function maxLeverage(mk: Market): bigint {
  return RATE_SCALE / (mk.imr[0] as bigint)
}

/** Engine::check_leverage_value */
export function checkLeverageValue(mk: Market, l: bigint): void {
  const top = maxLeverage(mk)
  if (!(l >= 1n && l <= top)) {
    throw new DeleverageError(
      ErrorCode.InvalidLeverage,
      `market ${mk.symbol}: leverage must be 1..=${top}, got ${l}`,
    )
  }
}

function atomsCeil(mk: Market, fine: bigint, den: bigint, at: string): bigint {
  return ratio(fine, mk.kind === Linear ? mk.quoteExp() : 0, den, Ceil, at)
}

/** order_check.rs position_im */
export function positionIm(mk: Market, v: bigint, l: bigint): bigint {
  const imr = mk.imr[mk.tierIndex(v, 0)] as bigint
  if (imr * l > RATE_SCALE) {
    return atomsCeil(mk, mul(v, imr, 'initial margin'), RATE_SCALE, 'initial margin')
  }
  return atomsCeil(mk, v, l, 'initial margin')
}

function assumingPrice(mk: Market, buy: boolean, p: bigint): bigint {
  if (buy) return p
  if (mk.kind === Linear) return p > mk.mark ? p : mk.mark
  return p < mk.mark ? p : mk.mark
}

function lotsValue(mk: Market, open: bigint, x: bigint): bigint {
  if (mk.kind === Linear) return open * x
  return ratio(mul(open, mk.contractSize, 'order value'), mk.inverseExp(), x, Ceil, 'order value')
}

/** order_check.rs order_cost: [value, initial margin, open loss, fee]. */
function orderCost(
  mk: Market,
  cfg: PreTradeConfig,
  buy: boolean,
  open: bigint,
  whole: bigint,
  p: bigint,
  l: bigint,
): [bigint, bigint, bigint, bigint] {
  const signed = buy ? whole : -whole
  const cost = mk.costBasis(signed, p)
  const u = -mk.upnlAt(signed, cost, mk.mark, 0)
  const loss = u > 0n ? u : 0n
  if (open === 0n) return [0n, 0n, loss, 0n]
  const v = lotsValue(mk, open, assumingPrice(mk, buy, p))
  const im = atomsCeil(mk, v, l, 'order initial margin')
  let fee = 0n
  if (cfg.orderCostFeeRate !== 0n) {
    const closeWorse = buy === (mk.kind === Inverse)
    const k = 2n * l + (closeWorse ? 1n : -1n)
    const fine = mul(mul(v, cfg.orderCostFeeRate, 'order fee'), k, 'order fee')
    fee = atomsCeil(mk, fine, RATE_SCALE * l, 'order fee')
  }
  return [v, im, loss, fee]
}

/** order_check.rs max_position_value */
export function maxPositionValue(mk: Market, l: bigint): bigint | null {
  for (let i = 0; i < mk.imr.length; i++) {
    if ((mk.imr[i] as bigint) * l > RATE_SCALE) return mk.floors[i] as bigint
  }
  return null
}

function saturate(x: bigint): bigint {
  return x > I64_MAX ? I64_MAX : x < I64_MIN ? I64_MIN : x
}

interface Side {
  reducible: bigint
  value: bigint
  lots: bigint
  margin: bigint
}

interface Prepared {
  mk: Market
  cfg: PreTradeConfig
  buy: boolean
  price: bigint
  leverage: bigint
  available: bigint
  reducible: bigint
  value: bigint
  lots: bigint
  orderLots: bigint
  liquidating: boolean
  bandOk: boolean
  capValue: bigint | null
  marketLots: bigint
}

function unknownOrder(id: bigint): DeleverageError {
  return new DeleverageError(ErrorCode.UnknownOrder, `no open order with id ${id}`)
}

function ctxRow(i: number, f: () => void): void {
  try {
    f()
  } catch (e) {
    throw withContext(e, `row ${i}`)
  }
}

/** pretrade.rs PreTrade plus the Engine methods of pretrade.rs and order_check.rs. */
export class PreTrade {
  config: PreTradeConfig[] = []
  /** Chosen leverage per `${account},${market}` (sorted by (account, market) when listed). */
  leverage = new Map<string, [number, number, bigint]>()
  byAccount = new Map<number, Order[]>()
  owner = new Map<bigint, number>()
  nextId = 0n

  constructor(private readonly h: PreTradeHost) {}

  configOf(m: number): PreTradeConfig {
    return this.config[m] ?? defaultConfig()
  }
  ordersOf(a: number): Order[] {
    return this.byAccount.get(a) ?? []
  }
  allOrders(): Order[] {
    const v: Order[] = []
    for (const l of this.byAccount.values()) v.push(...l)
    return v.sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
  }
  insert(o: Order): void {
    this.owner.set(o.id, o.account)
    const l = this.byAccount.get(o.account)
    if (l === undefined) this.byAccount.set(o.account, [o])
    else l.push(o)
  }
  remove(id: bigint): Order | undefined {
    const a = this.owner.get(id)
    if (a === undefined) return undefined
    this.owner.delete(id)
    const l = this.byAccount.get(a) as Order[]
    const at = l.findIndex((o) => o.id === id)
    const [o] = l.splice(at, 1)
    if (l.length === 0) this.byAccount.delete(a)
    return o
  }

  configure(m: number, c: PreTradeConfig): void {
    const mk = this.h.market(m)
    const bad = (what: string, v: bigint, range: string): never => {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `market ${mk.symbol}: ${what} must be ${range}, got ${v}`,
      )
    }
    const top = maxLeverage(mk)
    if (c.defaultLeverage !== 0n && !(c.defaultLeverage >= 1n && c.defaultLeverage <= top))
      bad('defaultLeverage', c.defaultLeverage, `0 or 1..=${top}`)
    if (!(c.priceBandPpm >= 0n && c.priceBandPpm < BAND_SCALE))
      bad('priceBand', c.priceBandPpm, '0 (none) or below 100 %')
    for (const [what, v] of [
      ['maxOpenInterest', c.maxOpenInterest],
      ['maxAccountPosition', c.maxAccountPosition],
    ] as const) {
      if (!(v >= 0n && v <= QTY_MAX_LOTS)) bad(what, v, `0 (none) or 1..=${QTY_MAX_LOTS} lots`)
    }
    if (!(c.orderCostFeeRate >= 0n && c.orderCostFeeRate < RATE_SCALE))
      bad('orderCostFeeRate', c.orderCostFeeRate, '0 or below 1')
    while (this.config.length <= m) this.config.push(defaultConfig())
    this.config[m] = { ...c }
  }

  leverageOf(a: number, m: number, mk: Market): bigint {
    const l = this.leverage.get(`${a},${m}`)
    if (l !== undefined) return l[2]
    const d = this.configOf(m).defaultLeverage
    if (d !== 0n) return d
    const top = maxLeverage(mk)
    return DEFAULT_LEVERAGE < top ? DEFAULT_LEVERAGE : top
  }

  getLeverage(a: number, m: number): bigint {
    this.h.account(a)
    return this.leverageOf(a, m, this.h.market(m))
  }

  checkRequest(o: Order): void {
    this.h.account(o.account)
    const mk = this.h.market(o.market)
    if (o.qty === 0n)
      throw new DeleverageError(ErrorCode.InvalidQuantity, 'an order must have a non-zero qty')
    checkQty(o.qty, 'order qty')
    if (o.price !== 0n) {
      checkPrice(o.price, mk.priceDecimals, 'order price')
      checkOnGrid(o.price, mk.tickSize, mk.priceDecimals, 'order price')
    }
  }

  place(orders: Order[]): Array<[OrderVerdict, bigint]> {
    const verdicts = this.check(orders, true)
    return orders.map((o, i) => {
      const v = verdicts[i] as OrderVerdict
      let id = 0n
      if (v.verdict === ACCEPTED) {
        this.nextId += 1n
        id = this.nextId
        const price = o.price === 0n ? this.h.market(o.market).mark : o.price
        this.insert({ ...o, id, price })
      }
      return [v, id]
    })
  }

  cancel(ids: bigint[]): void {
    const seen = new Set<bigint>()
    ids.forEach((id, i) => {
      if (!this.owner.has(id) || seen.has(id)) throw withContext(unknownOrder(id), `row ${i}`)
      seen.add(id)
    })
    for (const id of ids) this.remove(id)
  }

  fill(ids: bigint[], qty: BigInt64Array, price: BigInt64Array): void {
    const left = new Map<bigint, bigint>()
    const acc: number[] = []
    const mkt: number[] = []
    const dq: bigint[] = []
    ids.forEach((id, i) => {
      const a = this.owner.get(id)
      if (a === undefined) throw withContext(unknownOrder(id), `row ${i}`)
      const o = this.ordersOf(a).find((x) => x.id === id) as Order
      const rest = left.get(id) ?? (o.qty < 0n ? -o.qty : o.qty)
      const q = qty[i] as bigint
      if (q <= 0n || q > rest) {
        throw withContext(
          new DeleverageError(
            ErrorCode.InvalidQuantity,
            `fill of order ${id} must be 1..=${rest} lots, got ${q}`,
          ),
          `row ${i}`,
        )
      }
      left.set(id, rest - q)
      acc.push(a)
      mkt.push(o.market)
      dq.push(o.qty < 0n ? -q : q)
    })
    this.h.applyFills(
      Uint32Array.from(acc),
      Uint32Array.from(mkt),
      BigInt64Array.from(dq),
      BigInt64Array.from(price),
    )
    for (const [id, rest] of left) {
      if (rest === 0n) {
        this.remove(id)
      } else {
        const o = this.ordersOf(this.owner.get(id) as number).find((x) => x.id === id) as Order
        o.qty = o.qty < 0n ? -rest : rest
      }
    }
  }

  private ordersIn(a: number, extra: Extra): Order[] {
    const e = extra.get(a)
    return e === undefined ? this.ordersOf(a) : [...this.ordersOf(a), ...e]
  }

  private side(a: number, m: number, buy: boolean, q: bigint, c: bigint, extra: Extra): Side {
    const mk = this.h.market(m)
    const onSide = q !== 0n && q > 0n === buy
    const s: Side = {
      reducible: onSide ? 0n : q < 0n ? -q : q,
      value: onSide ? mk.marginValueAt(q, c, mk.mark, 0) : 0n,
      lots: onSide ? (q < 0n ? -q : q) : 0n,
      margin: 0n,
    }
    const l = this.leverageOf(a, m, mk)
    const cfg = this.configOf(m)
    for (const o of this.ordersIn(a, extra)) {
      if (o.market !== m || o.qty > 0n !== buy) continue
      const w = o.qty < 0n ? -o.qty : o.qty
      const r = w < s.reducible ? w : s.reducible
      s.reducible -= r
      const open = w - r
      if (!o.reduceOnly) {
        const [v, im, loss, fee] = orderCost(mk, cfg, buy, open, w, o.price, l)
        s.value = add(s.value, v, 'exposure value')
        s.lots += open
        s.margin = add(s.margin, im + loss + fee, 'order margin')
      }
    }
    return s
  }

  private marginWith(a: number, extra: Extra): AccountMargin {
    return this.marginFrom(a, this.h.balanceOf(a), this.h.positionsOf(a), extra)
  }

  private marginFrom(a: number, balance: bigint, list: Array<[number, Pos]>, extra: Extra) {
    const ctx = (f: () => bigint): bigint => {
      try {
        return f()
      } catch (e) {
        throw withContext(e, `account ${this.h.accountIdOf(a)}`)
      }
    }
    const r: AccountMargin = {
      equity: balance,
      countedEquity: balance,
      initialMargin: 0n,
      maintenanceMargin: 0n,
      orderMargin: 0n,
      available: 0n,
      liquidating: false,
    }
    let hasCross = false
    for (const [m, [q, c, iso]] of list) {
      const mk = this.h.market(m)
      if (iso || q === 0n) continue
      hasCross = true
      const u = ctx(() => mk.upnl(q, c))
      r.equity = ctx(() => add(r.equity, u, 'equity'))
      const counted = this.configOf(m).excludeProfit && u > 0n ? 0n : u
      r.countedEquity = ctx(() => add(r.countedEquity, counted, 'equity'))
      const mm = ctx(() => mk.maintenanceMargin(q, c))
      r.maintenanceMargin = ctx(() => add(r.maintenanceMargin, mm, 'MM'))
      const v = ctx(() => mk.marginValueAt(q, c, mk.mark, 0))
      const im = ctx(() => positionIm(mk, v, this.leverageOf(a, m, mk)))
      r.initialMargin = ctx(() => add(r.initialMargin, im, 'initial margin'))
    }
    const markets = [...new Set(this.ordersIn(a, extra).map((o) => o.market))].sort((x, y) => x - y)
    for (const m of markets) {
      const p = list.find((x) => x[0] === m)
      const [q, c] = p === undefined ? [0n, 0n] : [p[1][0], p[1][1]]
      for (const buy of [true, false]) {
        const sd = ctx(() => this.side(a, m, buy, q, c, extra).margin)
        r.orderMargin = ctx(() => add(r.orderMargin, sd, 'order margin'))
      }
    }
    r.liquidating = hasCross && r.equity <= r.maintenanceMargin
    r.available = ctx(() => sub(r.countedEquity, r.initialMargin, 'available'))
    r.available = ctx(() => sub(r.available, r.orderMargin, 'available'))
    return r
  }

  accountMargin(a: number): AccountMargin {
    this.h.account(a)
    return this.marginWith(a, new Map())
  }

  private positionOf(a: number, m: number): Pos {
    const p = this.h.positionsOf(a).find((x) => x[0] === m)
    return p === undefined ? [0n, 0n, false, 0n] : p[1]
  }

  private prepare(a: number, m: number, buy: boolean, price: bigint, extra: Extra): Prepared {
    const mk = this.h.market(m)
    const cfg = this.configOf(m)
    const p = price === 0n ? mk.mark : price
    const margin = this.marginWith(a, extra)
    const [q, c, iso, isoMargin] = this.positionOf(a, m)
    const sd = this.side(a, m, buy, q, c, extra)
    let liquidating = margin.liquidating
    if (iso) {
      const eq = add(isoMargin, mk.upnl(q, c), 'isolated equity')
      liquidating = liquidating || eq <= mk.maintenanceMargin(q, c)
    }
    const band = cfg.priceBandPpm
    const pm = p * BAND_SCALE
    const bandOk =
      band === 0n ||
      (buy ? pm <= mk.mark * (BAND_SCALE + band) : pm >= mk.mark * (BAND_SCALE - band))
    // Kept by every position write: no scan of the market per order.
    const marketLots = cfg.maxOpenInterest > 0n ? this.h.sideLots(m, buy) : 0n
    const leverage = this.leverageOf(a, m, mk)
    const posLots = q !== 0n && q > 0n === buy ? (q < 0n ? -q : q) : 0n
    return {
      mk,
      cfg,
      buy,
      price: p,
      leverage,
      available: margin.available,
      reducible: sd.reducible,
      value: sd.value,
      lots: sd.lots,
      orderLots: sd.lots - posLots,
      liquidating,
      bandOk,
      capValue: maxPositionValue(mk, leverage),
      marketLots,
    }
  }

  private static judge(p: Prepared, q: bigint, reduceOnly: boolean): OrderVerdict {
    const v: OrderVerdict = {
      verdict: ACCEPTED,
      openQty: 0n,
      initialMargin: 0n,
      openLoss: 0n,
      fee: 0n,
      available: saturate(p.available),
    }
    const reject = (why: number): OrderVerdict => {
      v.verdict = why
      return v
    }
    if (!p.bandOk) return reject(PRICE_BAND)
    const open = q - (q < p.reducible ? q : p.reducible)
    v.openQty = open
    if (reduceOnly) return open === 0n ? v : reject(REDUCE_ONLY)
    if (open > 0n && p.liquidating) return reject(LIQUIDATING)
    if (p.lots + open > QTY_MAX_LOTS) return reject(RISK_LIMIT)
    let parts: [bigint, bigint, bigint, bigint]
    try {
      parts = orderCost(p.mk, p.cfg, p.buy, open, q, p.price, p.leverage)
    } catch (e) {
      if (!(e instanceof DeleverageError)) throw e
      v.initialMargin = I64_MAX
      return reject(INSUFFICIENT_MARGIN)
    }
    const [val, im, loss, fee] = parts
    v.initialMargin = saturate(im)
    v.openLoss = saturate(loss)
    v.fee = saturate(fee)
    if (p.capValue !== null && p.value + val > p.capValue) return reject(RISK_LIMIT)
    const acct = p.cfg.maxAccountPosition
    if (acct > 0n && p.lots + open > acct) return reject(OPEN_INTEREST_CAP)
    const cap = p.cfg.maxOpenInterest
    if (cap > 0n && p.marketLots + p.orderLots + open > cap) return reject(OPEN_INTEREST_CAP)
    const cost = im + loss + fee
    if (cost > 0n && p.available < cost) return reject(INSUFFICIENT_MARGIN)
    return v
  }

  check(orders: Order[], sequential: boolean): OrderVerdict[] {
    for (const [i, o] of orders.entries()) ctxRow(i, () => this.checkRequest(o))
    const extra: Extra = new Map()
    let next = this.nextId
    return orders.map((o, i) => {
      let p: Prepared | undefined
      ctxRow(i, () => {
        p = this.prepare(o.account, o.market, o.qty > 0n, o.price, extra)
      })
      const pr = p as Prepared
      const v = PreTrade.judge(pr, o.qty < 0n ? -o.qty : o.qty, o.reduceOnly)
      if (sequential && v.verdict === ACCEPTED) {
        next += 1n
        const placed = { ...o, id: next, price: pr.price }
        const l = extra.get(o.account)
        if (l === undefined) extra.set(o.account, [placed])
        else l.push(placed)
      }
      return v
    })
  }

  maxOrderQty(a: number, m: number, buy: boolean, price: bigint, reduceOnly: boolean): bigint {
    this.checkRequest({ id: 0n, account: a, market: m, qty: 1n, price, reduceOnly })
    const p = this.prepare(a, m, buy, price, new Map())
    let lo = 0n
    let hi = QTY_MAX_LOTS + 1n
    while (hi - lo > 1n) {
      const mid = lo + (hi - lo) / 2n
      if (PreTrade.judge(p, mid, reduceOnly).verdict === ACCEPTED) lo = mid
      else hi = mid
    }
    return lo
  }

  setLeverage(a: number, m: number, l: bigint): number {
    this.h.account(a)
    const mk = this.h.market(m)
    checkLeverageValue(mk, l)
    const before = this.marginWith(a, new Map())
    const key = `${a},${m}`
    const old = this.leverage.get(key)
    this.leverage.set(key, [a, m, l])
    let verdict = ACCEPTED
    let ok = false
    try {
      verdict = this.leverageVerdict(a, m, l, before.available)
      ok = verdict === ACCEPTED
    } finally {
      if (!ok) {
        if (old === undefined) this.leverage.delete(key)
        else this.leverage.set(key, old)
      }
    }
    return verdict
  }

  private leverageVerdict(a: number, m: number, l: bigint, before: bigint): number {
    const mk = this.h.market(m)
    const [q, c] = this.positionOf(a, m)
    const cap = maxPositionValue(mk, l)
    if (cap !== null) {
      for (const buy of [true, false]) {
        if (this.side(a, m, buy, q, c, new Map()).value > cap) return RISK_LIMIT
      }
    }
    const after = this.marginWith(a, new Map()).available
    return after < 0n && after < before ? INSUFFICIENT_MARGIN : ACCEPTED
  }

  /** Engine::cancel_liquidated_orders (SPEC §17.9). */
  cancelLiquidated(wf: Waterfall, from: number): void {
    if (this.owner.size === 0) return
    const ev = wf.events
    const hit: number[] = []
    for (let i = from; i < ev.len; i++) {
      const k = ev.kind[i] as number
      const a = ev.account[i] as number
      if ((k === LiquidationFill || k === Takeover) && !hit.includes(a)) hit.push(a)
    }
    for (const a of hit) this.cancelOrdersOf(wf, a, false)
  }

  /** Engine::cancel_orders_of: account a's open orders (reduce-only too when `all`) go, in
   * placement order, one OrderCancelled event each. */
  cancelOrdersOf(wf: Waterfall, a: number, all: boolean): void {
    for (const o of this.ordersOf(a).filter((x) => all || !x.reduceOnly)) {
      this.remove(o.id)
      wf.emit(OrderCancelled, a, o.market, 0xffffffff, o.qty, o.price, BigInt.asIntN(64, o.id))
    }
  }

  whatIf(a: number, orders: Order[]): WhatIf {
    this.h.account(a)
    const before = this.accountMargin(a)
    const list: Array<[number, Pos]> = this.h.positionsOf(a).map(([m, p]) => [m, [...p] as Pos])
    const bal = { v: this.h.balanceOf(a) }
    const changed: number[] = []
    for (const [i, o] of orders.entries()) {
      ctxRow(i, () => {
        this.checkRequest(o)
        if (o.account !== a) {
          throw new DeleverageError(
            ErrorCode.InvalidArgument,
            `a what-if takes orders of one account (${this.h.accountIdOf(a)}), got account index ${o.account}`,
          )
        }
        const mk = this.h.market(o.market)
        const p = o.price === 0n ? mk.mark : o.price
        let at = list.find((x) => x[0] === o.market)
        if (at === undefined) {
          at = [o.market, [0n, 0n, false, 0n]]
          list.push(at)
        }
        fillOn(mk, at[1], bal, o.qty, p)
        if (!changed.includes(o.market)) changed.push(o.market)
      })
    }
    const after = this.marginFrom(a, bal.v, list, new Map())
    const marginRatioPpm =
      after.equity <= 0n
        ? null
        : toI64(
            ratio(after.maintenanceMargin, 6, after.equity, Ceil, 'margin ratio'),
            'margin ratio',
          )
    const positions = changed.map((m) => {
      const pos = (list.find((x) => x[0] === m) as [number, Pos])[1]
      return this.whatIfPosition(m, pos, bal.v, list)
    })
    return { before, after, marginRatioPpm, positions }
  }

  private whatIfPosition(m: number, pos: Pos, balance: bigint, list: Array<[number, Pos]>) {
    const [q, c, iso, im] = pos
    const mk = this.h.market(m)
    let othersU = 0n
    let othersMm = 0n
    for (const [o, [oq, oc, oiso]] of list) {
      if (iso || o === m || oiso || oq === 0n) continue
      const om = this.h.market(o)
      othersU = add(othersU, om.upnl(oq, oc), 'uPnL of the other positions')
      const mm = om.maintenanceMargin(oq, oc)
      othersMm = add(othersMm, mm, 'maintenance margin of the other positions')
    }
    const bk = bankruptcyBase(iso ? im : balance, othersU)
    const lq = liquidationBase(bk, othersMm)
    const liquidation = liquidationPrice(mk, q, c, lq)
    return {
      market: m,
      qty: q,
      cost: c,
      isolated: iso,
      liquidation,
      liquidationReason: liquidationPriceReason(mk, q, liquidation),
      bankruptcy: bankruptcyPrice(mk, q, c, bk),
    }
  }
}

/** order_check.rs fill_on: one fill on a what-if position (SPEC §15). */
function fillOn(mk: Market, pos: Pos, balance: { v: bigint }, dq: bigint, p: bigint): void {
  let [q, c, iso, im] = pos
  let rest = dq
  const sign = (x: bigint): number => (x > 0n ? 1 : x < 0n ? -1 : 0)
  if (q !== 0n && sign(dq) !== sign(q)) {
    const aq = q < 0n ? -q : q
    const adq = dq < 0n ? -dq : dq
    const close = adq >= aq ? q : -dq
    const [closed, realised] = mk.closeAt(q, c, close, p)
    if (iso) {
      im = add(im, realised, 'isolated margin')
      if (close === q) {
        balance.v = add(balance.v, im, 'balance')
        im = 0n
        iso = false
      }
    } else {
      balance.v = add(balance.v, realised, 'balance')
    }
    q -= close
    c -= closed
    rest = dq + close
  }
  if (rest !== 0n) {
    checkQty(q + rest, 'position qty after the order')
    c = toI64(add(c, mk.costBasis(rest, p), 'cost basis'), 'cost basis')
    q += rest
  }
  pos[0] = q
  pos[1] = c
  pos[2] = iso
  pos[3] = im
}
