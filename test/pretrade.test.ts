// Pre-trade risk (SPEC §17) on both engines: the venues' published examples
// (test/vectors/pretrade/venues.json cites them) and random place/cancel/fill/check sequences
// that must give the same answers and state hash natively and in TypeScript.
import { describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { engine, IMPLEMENTATIONS } from './helpers.js'
import { Engine, type MarketConfig, type OrderInput } from '../src/index.js'
import { engineFromScenario, parseScenario } from '../src/scenario.js'

const golden = JSON.parse(
  readFileSync(new URL('./vectors/pretrade/venues.json', import.meta.url), 'utf8'),
)

/** BTCUSDT with Binance's 2021-03-18 brackets, P = 2, D = 3, at a mark in ticks. */
function book(e: Engine, mark: bigint, balance: bigint): void {
  const floors = golden.btcusdtBrackets.map(
    (b: [string, string, string]) => BigInt(b[0]) * 100_000n,
  )
  const rate = (s: string) => BigInt(Math.round(Number(s) * 1e6)) * 100n
  e.core.addMarket({
    symbol: 'BTCUSDT',
    kind: 0,
    priceDecimals: 2,
    qtyDecimals: 3,
    contractSize: 1n,
    basis: 0,
    form: 0,
    floors: BigInt64Array.from(floors),
    mmr: BigInt64Array.from(
      golden.btcusdtBrackets.map((b: [string, string, string]) => rate(b[1])),
    ),
    imr: BigInt64Array.from(
      golden.btcusdtBrackets.map((b: [string, string, string]) => rate(b[2])),
    ),
    mark,
  })
  e.core.addAccounts(['t'], BigInt64Array.of(balance))
}

/** BTCUSDT at 50,000, one tier: 0.5 % maintenance, 1 % initial (100x). */
const BTC_1PCT: MarketConfig = {
  symbol: 'BTCUSDT',
  type: 'linear',
  priceDecimals: 2,
  qtyDecimals: 3,
  marginBasis: 'mark',
  tiers: [{ floor: '0', mmr: '0.005', imr: '0.01' }],
  mark: '50000',
}

const noCaps = {
  defaultLeverage: 0,
  priceBandPpm: 0n,
  maxOpenInterest: 0n,
  maxAccountPosition: 0n,
  excludeProfit: false,
  orderCostFeeRate: 0n,
}

function check(e: Engine, qty: bigint, price: bigint) {
  return e.core.checkOrders(
    Uint32Array.of(0),
    Uint32Array.of(0),
    BigInt64Array.of(qty),
    BigInt64Array.of(price),
    Uint8Array.of(0),
    false,
  )
}

describe.each(IMPLEMENTATIONS)('pre-trade golden examples (%s)', (impl) => {
  it('Binance order cost', () => {
    const g = golden.binanceOrderCost
    const e = engine(impl, 8)
    book(e, 925_984n, 10n ** 12n)
    const long = check(e, 1000n, 925_330n)
    expect(long.initialMargin[0]).toBe(BigInt(g.longInitialMarginAtoms))
    expect(long.openLoss[0]).toBe(0n)
    expect(check(e, -1000n, 925_330n).openLoss[0]).toBe(BigInt(g.shortOpenLossAtoms))
  })
  it('Bybit order cost', () => {
    const g = golden.bybitOrderCost
    const e = engine(impl, 8)
    book(e, 5_000_000n, 10n ** 12n)
    e.core.configurePreTrade(0, { ...noCaps, orderCostFeeRate: 60_000n })
    expect(e.core.setLeverage(0, 0, 10)).toBe(0)
    const v = check(e, 1000n, 5_000_000n)
    expect(v.initialMargin[0]).toBe(BigInt(g.initialMarginAtoms))
    expect(v.fee[0]).toBe(BigInt(g.feeAtoms))
  })
  it('Binance maximum position at a leverage', () => {
    const e = engine(impl, 8)
    book(e, 5_000_000n, 10n ** 17n)
    for (const [lev, usdt] of golden.binanceMaxPosition.atLeverage) {
      expect(e.core.setLeverage(0, 0, lev)).toBe(0)
      // At a mark of 50,000 the largest buy is the cap / 50,000 BTC, in lots of 0.001.
      const lots = (BigInt(usdt) * 1000n) / 50_000n
      expect(e.core.maxOrderQty(0, 0, true, 5_000_000n, false)).toBe(lots)
      expect(check(e, lots + 1n, 5_000_000n).verdict[0]).toBe(2)
    }
  })
})

/** A seeded xorshift, the same sequence for both engines. */
function rng(seed: number) {
  let s = seed >>> 0 || 1
  return (lo: number, hi: number) => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return lo + ((s >>> 0) % (hi - lo + 1))
  }
}

/** Random place/cancel/fill/check/leverage calls; every answer (or error code) recorded. */
function run(impl: 'native' | 'js', seed: number, keep?: (e: Engine) => void): string[] {
  const r = rng(seed)
  const e = engine(impl, 6)
  keep?.(e)
  book(e, BigInt(r(100_000, 5_000_000)), BigInt(r(0, 2_000_000_000)))
  e.core.addAccounts(['u', 'v'], BigInt64Array.of(BigInt(r(0, 2e9)), BigInt(r(0, 2e9))))
  e.core.configurePreTrade(0, {
    ...noCaps,
    priceBandPpm: BigInt(r(0, 1) * 50_000),
    maxAccountPosition: BigInt(r(0, 1) * 20_000),
    maxOpenInterest: BigInt(r(0, 1) * 30_000),
    excludeProfit: r(0, 1) === 1,
    orderCostFeeRate: BigInt(r(0, 1) * 55_000),
  })
  const out: string[] = []
  const rec = (f: () => unknown) => {
    try {
      out.push(JSON.stringify(f(), (_, v) => (typeof v === 'bigint' ? `${v}` : v)))
    } catch (x) {
      out.push(`error ${(x as { code: string }).code}: ${(x as Error).message}`)
    }
  }
  const mark = () => e.core.accountMargin(0)
  for (let step = 0; step < 40; step++) {
    const n = r(1, 4)
    const cols = {
      a: Uint32Array.from({ length: n }, () => r(0, 2)),
      m: new Uint32Array(n),
      q: BigInt64Array.from({ length: n }, () => BigInt(r(1, 6000) * (r(0, 1) ? 1 : -1))),
      p: BigInt64Array.from({ length: n }, () => BigInt(r(0, 3) === 0 ? 0 : r(90_000, 5_500_000))),
      ro: Uint8Array.from({ length: n }, () => (r(0, 4) === 0 ? 1 : 0)),
    }
    // Removing an account (late, so most steps keep three) must take its orders with it.
    const op = r(0, step < 30 ? 5 : 6)
    if (op === 0) {
      rec(() => e.core.checkOrders(cols.a, cols.m, cols.q, cols.p, cols.ro, r(0, 1) === 1))
      const [a, q, p, ro] = [cols.a[0]!, cols.q[0]!, cols.p[0]!, cols.ro[0] === 1]
      rec(() => e.core.checkOrder(a, 0, q, p, ro))
    }
    if (op === 6) rec(() => e.core.removeAccounts(Uint32Array.of(r(1, 2))))
    if (op === 1) rec(() => e.core.placeOrders(cols.a, cols.m, cols.q, cols.p, cols.ro))
    if (op === 2) rec(() => e.core.cancelOrders(BigInt64Array.of(BigInt(r(1, 20)))))
    if (op === 3) {
      const id = BigInt(r(1, 20))
      rec(() =>
        e.core.fillOrders(
          BigInt64Array.of(id),
          BigInt64Array.of(BigInt(r(1, 3000))),
          BigInt64Array.of(BigInt(r(100_000, 5_000_000))),
        ),
      )
    }
    if (op === 4) rec(() => e.core.setLeverage(r(0, 2), 0, r(1, 130)))
    if (op === 5)
      rec(() =>
        e.core.maxOrderQty(
          r(0, 2),
          0,
          r(0, 1) === 1,
          BigInt(r(0, 1) * r(90_000, 5_500_000)),
          r(0, 3) === 0,
        ),
      )
    rec(mark)
    rec(() => [0, 1, 2].map((a) => e.core.openOrders(a)))
    rec(() => e.core.events(0n))
    out.push(e.stateHash())
  }
  return out
}

describe('pre-trade parity', () => {
  it('native and TypeScript agree on random place/cancel/fill/check sequences', () => {
    for (let seed = 1; seed <= 40; seed++) {
      expect(run('js', seed)).toEqual(run('native', seed))
    }
  })
})

/** Two markets of the decimal API — linear and inverse, each at mark or entry basis — and six
 * accounts, odd ones on the inverse market, some positions isolated; random pre-trade settings. */
function mixedBook(impl: 'native' | 'js', r: ReturnType<typeof rng>) {
  const e = new Engine({ quoteDecimals: 8, implementation: impl })
  const basis = () => (r(0, 1) ? 'entry' : 'mark') as 'entry' | 'mark'
  e.addMarket({
    ...BTC_1PCT,
    symbol: 'LIN',
    marginBasis: basis(),
    mark: `${r(20000, 40000)}.${r(10, 99)}`,
  })
  e.addMarket({
    symbol: 'INV',
    type: 'inverse',
    priceDecimals: 1,
    qtyDecimals: 0,
    contractSize: '100',
    settleAsset: 'BTC',
    marginBasis: basis(),
    mark: `${r(20000, 40000)}.${r(0, 9)}`,
    tiers: [
      { floor: '0', mmr: '0.005', maxLeverage: '100' },
      { floor: '5', mmr: '0.01', maxLeverage: '50' },
    ],
  })
  const accounts = Array.from({ length: 6 }, (_, i) => {
    const inv = i % 2 === 1
    const symbol = inv ? 'INV' : 'LIN'
    const qty = inv ? `${r(-3000, 3000) || 1}` : `${(r(-5000, 5000) || 1) / 1000}`
    const iso = r(0, 3) === 0 ? { isolatedMargin: inv ? `0.${r(1, 9)}` : `${r(100, 3000)}` } : {}
    const position = { symbol, qty, entry: `${r(18000, 42000)}.0`, ...iso }
    const balance = inv ? `${r(0, 20)}.${r(0, 99)}` : `${r(0, 50000)}`
    return { id: `a${i}`, balance, positions: r(0, 2) ? [position] : [], symbol }
  })
  e.addAccounts(accounts.map(({ symbol: _, ...a }) => a))
  for (const sym of ['LIN', 'INV'])
    e.configurePreTrade(sym, {
      priceBand: r(0, 1) ? '0.05' : '0',
      excludeProfit: r(0, 1) === 1,
      orderCostFeeRate: r(0, 1) ? '0.0006' : '0',
      ...(r(0, 1) ? { maxAccountPosition: sym === 'LIN' ? '8' : '8000' } : {}),
    })
  return { e, accounts }
}

/** Random decimal-API calls on mixedBook, whatIf included; every answer or error recorded. */
function mixedRun(impl: 'native' | 'js', seed: number): string[] {
  const r = rng(seed)
  const { e, accounts } = mixedBook(impl, r)
  const out: string[] = []
  const rec = (f: () => unknown) => {
    try {
      out.push(JSON.stringify(f()) ?? 'no value')
    } catch (x) {
      out.push(`error ${(x as { code: string }).code}: ${(x as Error).message}`)
    }
  }
  for (let step = 0; step < 30; step++) {
    const a = accounts[r(0, 5)]!
    const inv = a.symbol === 'INV'
    const order = (): OrderInput => ({
      account: a.id,
      symbol: a.symbol,
      side: r(0, 1) ? 'buy' : 'sell',
      qty: inv ? `${r(1, 4000)}` : `${r(1, 6000) / 1000}`,
      ...(r(0, 3) ? { price: `${r(20000, 42000)}.${inv ? r(0, 9) : r(10, 99)}` } : {}),
      reduceOnly: r(0, 4) === 0,
    })
    const op = r(0, 6)
    if (op === 0) rec(() => e.setLeverage(a.id, a.symbol, r(1, 110)))
    if (op === 1)
      rec(() => e.checkOrders([order(), order(), order()], { sequential: r(0, 1) === 1 }))
    if (op === 2) rec(() => e.placeOrders([order(), order()]))
    if (op === 3) rec(() => e.whatIf(a.id, [order(), order()]))
    if (op === 4) {
      const { side, price, reduceOnly } = order()
      rec(() => e.maxOrderQty(a.id, a.symbol, side, { ...(price ? { price } : {}), reduceOnly }))
    }
    const open = e.openOrders(a.id)
    if (op === 5 && open.length > 0) {
      const o = open[r(0, open.length - 1)]!
      rec(() => e.fillOrders([{ account: a.id, id: o.id, qty: o.qty, price: o.price }]))
    }
    if (op === 6)
      rec(() => e.setMarks({ LIN: `${r(15000, 45000)}.00`, INV: `${r(15000, 45000)}.0` }))
    rec(() => accounts.map((x) => e.accountMargin(x.id)))
    out.push(e.stateHash())
  }
  return out
}

describe('pre-trade parity on inverse, entry-basis and isolated books', () => {
  it('native and TypeScript agree through the decimal API, whatIf included', () => {
    const seen: string[] = []
    for (let seed = 1; seed <= 60; seed++) {
      const js = mixedRun('js', seed)
      expect(js).toEqual(mixedRun('native', seed))
      seen.push(...js)
    }
    // the runs reach every kind of answer, not only errors
    const all = seen.join('\n')
    for (const v of ['ACCEPTED', 'INSUFFICIENT_MARGIN', 'REDUCE_ONLY', 'PRICE_BAND', 'RISK_LIMIT'])
      expect(all, v).toContain(`"${v}"`)
    expect(all).toMatch(/"bankruptcyPrice":"\d/)
    expect(seen.filter((l) => l.startsWith('error')).length).toBeLessThan(seen.length / 10)
  })
})

describe('pre-trade state in snapshots, the state hash and the journal', () => {
  it('a snapshot carries leverage, settings and open orders to either engine', () => {
    for (let seed = 1; seed <= 20; seed++) {
      for (const [from, to] of [
        ['js', 'native'],
        ['native', 'js'],
      ] as const) {
        let e: Engine | undefined
        run(from, seed, (x) => {
          e = x
        })
        const src = e as Engine
        const back = Engine.restore(src.snapshot(), { implementation: to })
        expect(back.stateHash()).toBe(src.stateHash())
        // A removed account (late steps remove one) answers with its error code on both.
        const or = (f: () => unknown) => {
          try {
            return f()
          } catch (x) {
            return (x as { code: string }).code
          }
        }
        for (const a of [0, 1, 2]) {
          expect(back.core.openOrders(a)).toEqual(src.core.openOrders(a))
          expect(or(() => back.core.accountMargin(a))).toEqual(or(() => src.core.accountMargin(a)))
          expect(or(() => back.core.leverage(a, 0))).toBe(or(() => src.core.leverage(a, 0)))
        }
      }
    }
  })
  it('placing an order changes the state hash; a rejected one does not', () => {
    for (const impl of IMPLEMENTATIONS) {
      const e = engine(impl, 8)
      book(e, 5_000_000n, 10n ** 13n)
      const h0 = e.stateHash()
      const place = (q: bigint) =>
        e.core.placeOrders(
          Uint32Array.of(0),
          Uint32Array.of(0),
          BigInt64Array.of(q),
          BigInt64Array.of(5_000_000n),
          Uint8Array.of(0),
        )
      expect(place(10n ** 9n).verdict[0]).not.toBe(0)
      expect(e.stateHash()).toBe(h0)
      expect(() => e.core.setLeverage(0, 0, 1000)).toThrow(/INVALID_LEVERAGE|leverage must be/)
      expect(() => e.core.cancelOrders(BigInt64Array.of(7n))).toThrow(/no open order with id 7/)
      expect(e.stateHash()).toBe(h0)
      const id = place(1000n).id[0] as bigint
      const h1 = e.stateHash()
      expect(h1).not.toBe(h0)
      e.core.cancelOrders(BigInt64Array.of(id))
      expect(e.stateHash()).not.toBe(h1)
    }
  })
  it('a journal of pre-trade calls replays on the other engine', () => {
    for (const [from, to] of [
      ['js', 'native'],
      ['native', 'js'],
    ] as const) {
      const e = engine(from, 8)
      const snap = e.snapshot()
      e.startJournal()
      book(e, 5_000_000n, 10n ** 13n)
      e.core.configurePreTrade(0, { ...noCaps, orderCostFeeRate: 55_000n })
      e.core.setLeverage(0, 0, 10)
      const placed = e.core.placeOrders(
        Uint32Array.of(0, 0),
        Uint32Array.of(0, 0),
        BigInt64Array.of(1000n, -500n),
        BigInt64Array.of(4_990_000n, 0n),
        Uint8Array.of(0, 0),
      )
      e.core.fillOrders(
        BigInt64Array.of(placed.id[0] as bigint),
        BigInt64Array.of(400n),
        BigInt64Array.of(4_990_000n),
      )
      e.core.cancelOrders(BigInt64Array.of(placed.id[1] as bigint))
      const j = e.journal()
      const back = Engine.replay(snap, j, { implementation: to })
      expect(back.stateHash()).toBe(e.stateHash())
    }
  })
})

describe.each(IMPLEMENTATIONS)('pre-trade decimal API (%s)', (impl) => {
  function bybit(): Engine {
    const e = engine(impl, 8)
    e.addMarket(BTC_1PCT)
    e.addAccounts([{ id: 'A', balance: '10000' }])
    return e
  }
  it("Bybit's order cost, placing, filling and cancelling in decimals", () => {
    const e = bybit()
    e.configurePreTrade('BTCUSDT', { orderCostFeeRate: '0.0006' })
    expect(e.setLeverage('A', 'BTCUSDT', 10)).toBe('ACCEPTED')
    const [v] = e.checkOrders([
      { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '1', price: '50000' },
    ])
    expect(v).toMatchObject({
      verdict: 'ACCEPTED',
      initialMargin: '5000.00000000',
      fee: '57.00000000',
      cost: '5057.00000000',
    })
    expect(e.maxOrderQty('A', 'BTCUSDT', 'buy', { price: '50000' })).toBe('1.977')
    const [p] = e.placeOrders([
      { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '1', price: '50000' },
    ])
    expect(p?.id).toBe('1')
    expect(e.accountMargin('A').orderMargin).toBe('5057.00000000')
    expect(e.openOrders('A')).toEqual([
      {
        id: '1',
        symbol: 'BTCUSDT',
        side: 'buy',
        qty: '1.000',
        price: '50000.00',
        reduceOnly: false,
      },
    ])
    e.fillOrders([{ account: 'A', id: '1', qty: '0.4', price: '50000' }])
    expect(e.openOrders('A')[0]?.qty).toBe('0.600')
    e.cancelOrders(['1'])
    expect(e.accountMargin('A')).toMatchObject({
      initialMargin: '2000.00000000',
      orderMargin: '0.00000000',
      available: '8000.00000000',
    })
    const w = e.whatIf('A', [{ symbol: 'BTCUSDT', side: 'buy', qty: '1' }])
    expect(w.after.initialMargin).toBe('7000.00000000')
    expect(w.positions[0]?.qty).toBe('1.400')
    expect(w.positions[0]?.liquidationPrice).not.toBeNull()
  })
  it('whatIf reports each position as account() reports it once the fill is applied', () => {
    const e = bybit()
    e.addMarket({
      symbol: 'XBTUSD',
      type: 'inverse',
      priceDecimals: 1,
      qtyDecimals: 0,
      contractSize: '1',
      settleAsset: 'XBT',
      tiers: [{ floor: '0', mmr: '0.005' }],
      mark: '26000.5',
    })
    e.addAccounts([{ id: 'B', balance: '1' }])
    e.applyFills([
      { account: 'A', symbol: 'BTCUSDT', qty: '0.3', price: '49000' },
      { account: 'B', symbol: 'XBTUSD', qty: '-700', price: '25000' },
    ])
    const cases: Array<[string, OrderInput]> = [
      ['A', { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '0.7', price: '50500' }],
      ['B', { account: 'B', symbol: 'XBTUSD', side: 'sell', qty: '1000', price: '26100.5' }],
    ]
    for (const [a, o] of cases) {
      const w = e.whatIf(a, [o])
      const qty = o.side === 'buy' ? `${o.qty}` : `-${o.qty}`
      e.applyFills([{ account: a, symbol: o.symbol, qty, price: o.price! }])
      const after = e.account(a).positions
      expect(w.positions.map((p) => [p.symbol, p.qty, p.entryCost, p.liquidationPrice])).toEqual(
        after.map((p) => [p.symbol, p.qty, p.cost, p.liquidationPrice]),
      )
    }
  })
  it('bad input is refused with a code and changes nothing', () => {
    const e = bybit()
    const h = e.stateHash()
    const o = { account: 'A', symbol: 'BTCUSDT', side: 'buy' as const, qty: '1' }
    expect(() => e.placeOrders([{ ...o, qty: '0' }])).toThrow(
      expect.objectContaining({ code: 'INVALID_QUANTITY' }),
    )
    expect(() => e.placeOrders([{ ...o, price: '50000.001' }])).toThrow(
      expect.objectContaining({ code: 'TOO_MANY_DECIMALS' }),
    )
    expect(() => e.placeOrders([{ ...o, side: 'hold' as 'buy' }])).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
    expect(() => e.setLeverage('A', 'BTCUSDT', 101)).toThrow(
      expect.objectContaining({ code: 'INVALID_LEVERAGE' }),
    )
    expect(() => e.cancelOrders(['5'])).toThrow(expect.objectContaining({ code: 'UNKNOWN_ORDER' }))
    expect(() => e.fillOrders([{ account: 'A', id: '5', qty: '1', price: '1' }])).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_ORDER' }),
    )
    expect(() => e.configurePreTrade('BTCUSDT', { priceBand: '1' })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
    )
    // an unknown account or market names the order's field, as other order errors do
    expect(() => e.checkOrders([o, { ...o, account: 'Z' }])).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_ACCOUNT',
        message: 'orders[1].account: unknown account "Z"',
      }),
    )
    expect(() => e.placeOrders([{ ...o, symbol: 'ETHUSDT' }])).toThrow(
      expect.objectContaining({
        code: 'UNKNOWN_MARKET',
        message: 'orders[0].symbol: unknown market "ETHUSDT" (the markets are BTCUSDT)',
      }),
    )
    expect(e.stateHash()).toBe(h)
  })
})

/** A reduce-only order of A that closes half its long. */
const reduceOnlySellOfA = {
  account: 'A',
  symbol: 'BTCUSDT',
  side: 'sell',
  qty: '0.5',
  price: '51000',
  reduceOnly: true,
} as const

/** A, long 1 BTC at 50,000 with `balanceA`, and B with 100,000, on BTC_1PCT. */
function longAandB(impl: 'native' | 'js', balanceA: string): Engine {
  const e = engine(impl, 8)
  e.addMarket(BTC_1PCT)
  e.addAccounts([
    { id: 'A', balance: balanceA, positions: [{ symbol: 'BTCUSDT', qty: '1', entry: '50000' }] },
    { id: 'B', balance: '100000' },
  ])
  return e
}

describe.each(IMPLEMENTATIONS)('liquidation cancels orders (%s)', (impl) => {
  it("a liquidated account's risk-increasing orders go, as events; reduce-only ones stay", () => {
    const e = longAandB(impl, '3000')
    e.configureWaterfall({})
    const placed = e.placeOrders([
      { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '0.01', price: '49000' },
      reduceOnlySellOfA,
      { account: 'B', symbol: 'BTCUSDT', side: 'buy', qty: '0.1', price: '49000' },
    ])
    expect(placed.map((p) => p.verdict)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED'])
    e.setMarks({ BTCUSDT: '47200' })
    const events = e.runWaterfall()
    const cancelled = events.filter((x) => x.kind === 'orderCancelled')
    expect(cancelled.map((x) => [x.account, x.qty, x.price])).toEqual([['A', '0.010', '49000.00']])
    expect(e.openOrders('A').map((o) => o.reduceOnly)).toEqual([true])
    expect(e.openOrders('B')).toHaveLength(1)
  })
})

describe.each(IMPLEMENTATIONS)('single-order check (%s)', (impl) => {
  it('checkOrder answers as a one-row checkOrders, for every verdict of a random walk', () => {
    const r = rng(77)
    const e = engine(impl, 6)
    book(e, 2_000_000n, 5_000_000_000n)
    e.core.configurePreTrade(0, { ...noCaps, priceBandPpm: 50_000n, maxAccountPosition: 9_000n })
    const seen = new Set<bigint>()
    for (let i = 0; i < 300; i++) {
      const q = BigInt(r(1, 12_000) * (r(0, 1) ? 1 : -1))
      const p = BigInt(r(0, 3) === 0 ? 0 : r(1_800_000, 2_200_000))
      const ro = r(0, 5) === 0
      const one = e.core.checkOrder(0, 0, q, p, ro)
      const col = e.core.checkOrders(
        Uint32Array.of(0),
        Uint32Array.of(0),
        BigInt64Array.of(q),
        BigInt64Array.of(p),
        Uint8Array.of(ro ? 1 : 0),
        false,
      )
      const row = [col.verdict[0]!, col.openQty[0]!, col.initialMargin[0]!, col.openLoss[0]!]
      expect([...one]).toEqual([...row.map(BigInt), col.fee[0]!, col.available[0]!])
      seen.add(one[0]!)
      if (one[0] === 0n && r(0, 3) === 0) e.core.placeOrders(...cols(q, p, ro))
    }
    // Accepted, too little margin, price band, reduce-only and the account cap all came up.
    expect([...seen].sort()).toEqual([0n, 1n, 3n, 4n, 5n])
  })
})

function cols(q: bigint, p: bigint, ro: boolean) {
  const o = [Uint32Array.of(0), Uint32Array.of(0), BigInt64Array.of(q), BigInt64Array.of(p)]
  return [...o, Uint8Array.of(ro ? 1 : 0)] as [
    Uint32Array,
    Uint32Array,
    BigInt64Array,
    BigInt64Array,
    Uint8Array,
  ]
}

describe.each(IMPLEMENTATIONS)('removing an account cancels its orders (%s)', (impl) => {
  it('every open order of the account goes with it, as events, reduce-only ones too', () => {
    const e = longAandB(impl, '100000')
    const placed = e.placeOrders([
      { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '0.2', price: '49000' },
      { account: 'B', symbol: 'BTCUSDT', side: 'buy', qty: '0.1', price: '49000' },
      reduceOnlySellOfA,
    ])
    expect(placed.map((p) => p.verdict)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED'])
    const a = e.accountIndex('A')
    const before = e.events().length
    e.removeAccounts(['A'])
    const cancelled = e.events().slice(before)
    expect(cancelled.map((x) => [x.kind, x.account, x.qty, x.price])).toEqual([
      ['orderCancelled', 'A', '0.200', '49000.00'],
      ['orderCancelled', 'A', '-0.500', '51000.00'],
    ])
    expect(e.core.openOrders(a)).toHaveLength(0)
    // The orders are gone from the state, not only hidden: B's is the only one left to fill.
    expect(() => e.cancelOrders([placed[0]!.id!])).toThrow(
      expect.objectContaining({ code: 'UNKNOWN_ORDER' }),
    )
    expect(e.openOrders('B')).toHaveLength(1)
  })
})

describe.each(IMPLEMENTATIONS)('the deprecated pre-trade takerFeeRate (%s)', (impl) => {
  const order = { account: 'A', symbol: 'BTCUSDT', side: 'buy', qty: '1', price: '50000' } as const
  function withFee(options: Record<string, string>) {
    const e = engine(impl, 8)
    e.addMarket(BTC_1PCT)
    e.addAccounts([{ id: 'A', balance: '10000' }])
    e.configurePreTrade('BTCUSDT', options)
    return e
  }
  it('is read as orderCostFeeRate in the API, the core and scenario files', () => {
    const fee = (e: Engine) => e.checkOrders([order])[0]?.fee
    // Bybit at the default 20x: open fee 30 plus close fee 28.5 on 1 BTC at 50,000 and 0.06 %.
    expect(fee(withFee({ takerFeeRate: '0.0006' }))).toBe('58.50000000')
    expect(fee(withFee({ orderCostFeeRate: '0.0006' }))).toBe('58.50000000')
    const e = engine(impl, 8)
    e.addMarket(BTC_1PCT)
    e.addAccounts([{ id: 'A', balance: '10000' }])
    const old = { ...noCaps, orderCostFeeRate: undefined, takerFeeRate: 60_000n }
    e.core.configurePreTrade(0, old as unknown as typeof noCaps)
    expect(fee(e)).toBe('58.50000000')
    const s = JSON.parse(readFileSync('test/fixtures/scenarios/pretrade.json', 'utf8'))
    const m = s.preTrade.markets.BTCUSDT
    const renamed = JSON.stringify(s)
    m.takerFeeRate = m.orderCostFeeRate
    delete m.orderCostFeeRate
    const a = engineFromScenario(parseScenario(JSON.parse(renamed)), { implementation: impl })
    const b = engineFromScenario(parseScenario(s), { implementation: impl })
    expect(b.stateHash()).toBe(a.stateHash())
  })
  it('is refused next to its new name, changing nothing', () => {
    const e = withFee({})
    const h = e.stateHash()
    expect(() =>
      e.configurePreTrade('BTCUSDT', { orderCostFeeRate: '0.0006', takerFeeRate: '0.0006' }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: expect.stringContaining('deprecated alias takerFeeRate'),
      }),
    )
    expect(e.stateHash()).toBe(h)
  })
})
