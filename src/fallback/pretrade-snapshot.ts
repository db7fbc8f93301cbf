// Mirror of crates/core/src/pretrade_snapshot.rs: the pre-trade section of the canonical state
// bytes (SPEC §17.8), present only when the pre-trade state is not the initial one.

import { DeleverageError, ErrorCode } from './errors.js'
import { type Market, checkOnGrid, checkPrice, checkQty } from './market.js'
import { checkLeverageValue, type Order, PreTrade, type PreTradeHost } from './pretrade.js'

const TAG = 0x50

function invalid(msg: string): DeleverageError {
  return new DeleverageError(ErrorCode.SnapshotInvalid, msg)
}

function refused(at: number, field: string, e: unknown): unknown {
  if (!(e instanceof DeleverageError)) return e
  return invalid(`offset ${at}: ${field}: ${e.code}: ${e.message}`)
}

export function pretradeIsInitial(p: PreTrade): boolean {
  return p.config.length === 0 && p.leverage.size === 0 && p.owner.size === 0 && p.nextId === 0n
}

/** The section's bytes (empty when the state is the initial one). */
export function encodePretrade(p: PreTrade): Uint8Array {
  if (pretradeIsInitial(p)) return new Uint8Array(0)
  const orders = p.allOrders()
  const lev = [...p.leverage.values()].sort((x, y) => x[0] - y[0] || x[1] - y[1])
  const n = 1 + 8 + 4 + p.config.length * 41 + 4 + lev.length * 16 + 8 + orders.length * 33
  const b = new Uint8Array(n)
  const d = new DataView(b.buffer)
  let at = 0
  const u8 = (v: number) => d.setUint8(at++, v)
  const u32 = (v: number) => {
    d.setUint32(at, v, true)
    at += 4
  }
  const i64 = (v: bigint) => {
    d.setBigInt64(at, v, true)
    at += 8
  }
  u8(TAG)
  d.setBigUint64(at, p.nextId, true)
  at += 8
  u32(p.config.length)
  for (const c of p.config) {
    i64(c.defaultLeverage)
    i64(c.priceBandPpm)
    i64(c.maxOpenInterest)
    i64(c.maxAccountPosition)
    u8(c.excludeProfit ? 1 : 0)
    i64(c.orderCostFeeRate)
  }
  u32(lev.length)
  for (const [a, m, l] of lev) {
    u32(a)
    u32(m)
    i64(l)
  }
  d.setBigUint64(at, BigInt(orders.length), true)
  at += 8
  for (const o of orders) {
    d.setBigUint64(at, o.id, true)
    at += 8
    u32(o.account)
    u32(o.market)
    i64(o.qty)
    i64(o.price)
    u8(o.reduceOnly ? 1 : 0)
  }
  return b
}

export interface PretradeSection {
  config: PreTrade['config']
  leverage: Array<[number, number, bigint]>
  orders: Order[]
  nextId: bigint
}

/** decode_pretrade: the section at `base` of `b` (up to `end`); returns it and its length. */
export function decodePretrade(
  b: Uint8Array,
  base: number,
  end: number,
  markets: readonly Market[],
  na: number,
): [PretradeSection, number] {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let pos = base + 1
  const take = (n: number, f: string): number => {
    if (end - pos < n) throw invalid(`offset ${pos}: ${f}: the body ends at offset ${end}`)
    const at = pos
    pos += n
    return at
  }
  const u32 = (f: string) => d.getUint32(take(4, f), true)
  const u64 = (f: string) => d.getBigUint64(take(8, f), true)
  const i64 = (f: string) => d.getBigInt64(take(8, f), true)
  const flag = (f: string): boolean => {
    const at = pos
    const v = d.getUint8(take(1, f))
    if (v > 1) throw invalid(`offset ${at}: ${f}: must be 0 or 1, got ${v}`)
    return v === 1
  }
  const tag = b[base] as number
  if (tag !== TAG) throw invalid(`offset ${base}: pre-trade tag: must be ${TAG}, got ${tag}`)
  const nextId = u64('next order id')
  const nm = markets.length
  const host = { market: (m: number) => markets[m] as Market } as unknown as PreTradeHost
  const pt = new PreTrade(host)
  let at = pos
  const nc = u32('pre-trade config count')
  if (nc > nm)
    throw invalid(`offset ${at}: pre-trade config count: ${nc} exceeds the ${nm} markets`)
  for (let m = 0; m < nc; m++) {
    at = pos
    const f = `pre-trade config ${m}`
    const c = {
      defaultLeverage: i64(f),
      priceBandPpm: i64(f),
      maxOpenInterest: i64(f),
      maxAccountPosition: i64(f),
      excludeProfit: flag(f),
      orderCostFeeRate: i64(f),
    }
    try {
      pt.configure(m, c)
    } catch (e) {
      throw refused(at, f, e)
    }
  }
  const leverage: Array<[number, number, bigint]> = []
  const nl = u32('leverage count')
  for (let i = 0; i < nl; i++) {
    at = pos
    const f = `leverage ${i}`
    const a = u32(f)
    const m = u32(f)
    const l = i64(f)
    const p = leverage[leverage.length - 1]
    if (a >= na || m >= nm || (p !== undefined && (p[0] > a || (p[0] === a && p[1] >= m))))
      throw invalid(`offset ${at}: ${f}: (${a}, ${m}) is out of range or not ascending`)
    try {
      checkLeverageValue(markets[m] as Market, l)
    } catch (e) {
      throw refused(at, f, e)
    }
    leverage.push([a, m, l])
  }
  const orders: Order[] = []
  const no = u64('order count')
  let last = 0n
  for (let i = 0n; i < no; i++) {
    at = pos
    const f = `order ${i}`
    const id = u64(f)
    const a = u32(f)
    const m = u32(f)
    const qty = i64(f)
    const price = i64(f)
    const reduceOnly = flag(f)
    if (id <= last || id > nextId || a >= na || m >= nm)
      throw invalid(
        `offset ${at}: ${f}: id ${id} (after ${last}, at most ${nextId}), account ${a} or market ${m} is out of range`,
      )
    if (qty === 0n) throw invalid(`offset ${at}: ${f}: qty must not be 0`)
    const mk = markets[m] as Market
    try {
      checkQty(qty, 'order qty')
      checkPrice(price, mk.priceDecimals, 'order price')
      checkOnGrid(price, mk.tickSize, mk.priceDecimals, 'order price')
    } catch (e) {
      throw refused(at, f, e)
    }
    orders.push({ id, account: a, market: m, qty, price, reduceOnly })
    last = id
  }
  return [{ config: pt.config, leverage, orders, nextId }, pos - base]
}

/** Put a decoded section into an engine's pre-trade state. */
export function restorePretrade(p: PreTrade, s: PretradeSection): void {
  p.config = s.config
  for (const [a, m, l] of s.leverage) p.leverage.set(`${a},${m}`, [a, m, l])
  for (const o of s.orders) p.insert(o)
  p.nextId = s.nextId
}
