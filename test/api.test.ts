// The public API, run on both engines (the same suite passes whichever path is forced).
import { describe, expect, it } from 'vitest'
import {
  DeleverageError,
  Engine,
  type MarginStatus,
  type MarginUnits,
  type MarketConfig,
  parseUnits,
  units,
} from '../src/index.js'
import { IMPLEMENTATIONS, codeOf, engine } from './helpers.js'

function thrownBy(f: () => unknown): DeleverageError {
  try {
    f()
  } catch (e) {
    if (e instanceof DeleverageError) return e
    throw e
  }
  throw new Error('did not throw')
}

// dYdX-style named scenarios with prime-number prices so no two products collide by accident.
const BTC: MarketConfig = {
  symbol: 'BTC-PERP',
  priceDecimals: 1,
  qtyDecimals: 3,
  tiers: [
    { floor: '0', mmr: '0.004', maxLeverage: '125' },
    { floor: '50000', mmr: '0.005', maxLeverage: '100' },
    { floor: '250000', mmr: '0.01', maxLeverage: '50' },
  ],
  mark: '30011.0',
}
const ETH: MarketConfig = {
  symbol: 'ETH-PERP',
  priceDecimals: 2,
  qtyDecimals: 2,
  tiers: [{ floor: '0', mmr: '0.005' }],
  mark: '1999.99',
}

function book(implementation: 'native' | 'js'): Engine {
  const e = engine(implementation)
  e.addMarket(BTC)
  e.addMarket(ETH)
  e.addAccounts([
    {
      id: 'alice',
      balance: '1000',
      positions: [{ symbol: 'BTC-PERP', qty: '1.009', entry: '30011.0' }],
    },
    {
      id: 'bob',
      balance: '50',
      positions: [{ symbol: 'ETH-PERP', qty: '-2.03', entry: '1997.03' }],
    },
    {
      id: 'carol',
      balance: '0',
      positions: [{ symbol: 'BTC-PERP', qty: '-0.101', entry: '29989.0', isolatedMargin: '307' }],
    },
    { id: 'dave', balance: '10007' },
  ])
  return e
}

describe.each(IMPLEMENTATIONS)('Engine API on the %s engine', (implementation) => {
  it('reports which engine it runs on', () => {
    expect(engine(implementation).implementation).toBe(implementation)
  })

  it('computes equity and maintenance margin from exact units', () => {
    const e = book(implementation)
    const alice = e.account('alice')
    // 1.009 × 30011 = 30281.099 notional, tier 0: × 0.4 % = 121.124396
    expect(alice.maintenanceMargin).toBe('121.12439600')
    expect(alice.equity).toBe('1000.00000000')
    expect(alice.balance).toBe('1000.00000000')
    expect(alice.positions[0]!.unrealizedPnl).toBe('0.00000000')
    expect(alice.positions[0]!.entryPrice).toBe('30011.00000')
    // margin ratio 121.124396 / 1000 = 0.121124396 → rounded up to ppm
    expect(alice.marginRatio).toBe('0.121125')
  })

  it('moves equity by exactly qty × Δmark when the mark moves', () => {
    const e = book(implementation)
    const before = BigInt(e.account('bob').equity.replace('.', ''))
    e.setMarks({ 'ETH-PERP': '2003.11' })
    const after = BigInt(e.account('bob').equity.replace('.', ''))
    // short 2.03 × (2003.11 − 1999.99) = −6.3336 quote, in 1e-8 atoms
    expect(after - before).toBe(-633360000n)
  })

  it('finds the liquidatable accounts worst first, then margin calls', () => {
    const e = book(implementation)
    e.setMarks({ 'ETH-PERP': '2023.09', 'BTC-PERP': '29001.7' })
    const s = e.sweep({ warningRatio: '0.5' })
    // alice: 1000 + 1.009 × (29001.7 − 30011.0) = −18.3837; bob: 50 − 2.03 × (2023.09 − 1997.03)
    // = −2.9018. Both unbounded (equity ≤ 0): the lower equity is worse.
    expect(s.liquidatable.map((r) => r.account)).toEqual(['alice', 'bob'])
    expect(s.liquidatable.map((r) => r.equity)).toEqual(['-18.38370000', '-2.90180000'])
    expect(s.liquidatable[0]!.marginRatio).toBeNull()
    expect(s.liquidatable[0]!.shortfall).toBe(
      // MM 1.009 × 29001.7 × 0.4 % = 117.0508612 (rounded up to 1e-8) plus 18.3837
      '135.43456120',
    )
    // carol's isolated short gained; dave has no positions: neither is flagged.
    expect(s.warnings).toEqual([])
  })

  it('orders by margin ratio, shortfall and id — never by input order', () => {
    const orders = [
      ['x1', 'x2', 'x3'],
      ['x3', 'x1', 'x2'],
    ].map((ids) => {
      const e = engine(implementation)
      e.addMarket(ETH)
      e.addAccounts(
        ids.map((id) => ({
          id,
          balance: '3',
          positions: [{ symbol: 'ETH-PERP', qty: '1.00', entry: '2003.00' }],
        })),
      )
      return e.sweep().liquidatable.map((r) => r.account)
    })
    expect(orders[0]).toEqual(['x1', 'x2', 'x3'])
    expect(orders[1]).toEqual(orders[0])
  })

  it('keeps isolated positions out of the cross account', () => {
    const e = book(implementation)
    const carol = e.account('carol')
    expect(carol.maintenanceMargin).toBe('0.00000000')
    expect(carol.liquidatable).toBe(false)
    const p = carol.positions[0]!
    expect(p.isolated).toBe(true)
    expect(p.isolatedMargin).toBe('307.00000000')
    // short 0.101 @ 29989, mark 30011: uPnL = −0.101 × 22 = −2.222
    expect(p.unrealizedPnl).toBe('-2.22200000')
    expect(p.entryPrice).toBe('29989.00000')
  })

  it('replaces and removes positions, and accepts a cost basis instead of an entry', () => {
    const e = book(implementation)
    e.setPositions([{ account: 'dave', symbol: 'ETH-PERP', qty: '3.00', cost: '5999.99' }])
    expect(e.account('dave').positions[0]!.entryPrice).toBe('1999.996667')
    e.setPositions([{ account: 'dave', symbol: 'ETH-PERP', qty: '0' }])
    expect(e.account('dave').positions).toEqual([])
    e.removeAccounts(['bob'])
    expect(codeOf(() => e.account('bob'))).toBe('UNKNOWN_ACCOUNT')
    expect(e.accounts().map((a) => a.account)).toEqual(['alice', 'carol', 'dave'])
  })

  it('takes units(bigint) and exact numbers, and refuses a plain bigint and inexact numbers', () => {
    const e = book(implementation)
    e.setBalances({ dave: units(100000000n) })
    expect(e.account('dave').balance).toBe('1.00000000')
    const before = e.stateHash()
    // A plain bigint could be units or a whole amount: refused, the message shows both readings.
    const err = thrownBy(() => e.setBalances({ dave: 100000000n as unknown as string }))
    expect(err.code).toBe('BIGINT_AMOUNT')
    expect(err.message).toBe(
      'balance of dave: a bigint is ambiguous here; pass a decimal string ("1.00000000" if 100000000n is integer units) or units(100000000n) (engine.core takes units)',
    )
    expect(e.stateHash()).toBe(before)
    e.setBalances({ dave: 2.5 })
    expect(e.account('dave').balance).toBe('2.50000000')
    expect(codeOf(() => e.setBalances({ dave: 1e21 }))).toBe('INVALID_NUMBER')
    expect(codeOf(() => e.setBalances({ dave: 2 ** 60 }))).toBe('INVALID_NUMBER')
  })

  it('gives every position a liquidation price where the predicate flips (random accounts)', () => {
    let seed = 7919
    const rand = (n: number) => {
      seed = (seed * 48271) % 2147483647
      return seed % n
    }
    const e = engine(implementation)
    e.addMarket(BTC)
    e.addMarket({
      ...ETH,
      marginBasis: 'entry',
      tierForm: 'step',
      tiers: [
        { floor: '0', mmr: '0.01' },
        { floor: '100000', mmr: '0.02' },
      ],
    })
    e.addMarket({
      symbol: 'BTC-INV',
      type: 'inverse',
      contractSize: '100',
      priceDecimals: 1,
      qtyDecimals: 0,
      tiers: [
        { floor: '0', mmr: '0.005' },
        { floor: '5', mmr: '0.01' },
      ],
      mark: '30011.0',
    })
    const marks: Record<string, bigint> = {
      'BTC-PERP': 300110n,
      'ETH-PERP': 199999n,
      'BTC-INV': 300110n,
    }
    const accounts = Array.from({ length: 48 }, (_, i) => ({
      id: `r${i}`,
      balance: String(rand(20000)),
      // One settlement asset per account (SPEC §5.4): every third account holds the inverse market.
      positions: (i % 3 === 0 ? ['BTC-INV'] : ['BTC-PERP', 'ETH-PERP'])
        .filter(() => rand(3) > 0)
        .map((symbol) => {
          const q = BigInt(rand(3000) + 1) * (rand(2) ? 1n : -1n)
          const entry = (marks[symbol]! * BigInt(900 + rand(200))) / 1000n
          return {
            symbol,
            qty: units(q),
            entry: units(entry),
            ...(rand(3) === 0 ? { isolatedMargin: units(BigInt(rand(2_000_000_000_00))) } : {}),
          }
        }),
    }))
    e.addAccounts(accounts)
    let checked = 0
    for (const p of e.positions()) {
      if (p.liquidationPrice === null) continue
      const long = !p.qty.startsWith('-')
      const lp = BigInt(p.liquidationPrice.replace('.', ''))
      const isLiq = (ticks: bigint) => {
        e.setMarks({ [p.symbol]: units(ticks) })
        const status = p.isolated
          ? e.positions([p.account]).find((x) => x.symbol === p.symbol)!
          : e.account(p.account)
        if (p.isolated) {
          const x = status as typeof p
          return (
            BigInt(x.isolatedMargin!.replace('.', '')) + BigInt(x.unrealizedPnl.replace('.', '')) <=
            BigInt(x.maintenanceMargin.replace('.', ''))
          )
        }
        return (status as ReturnType<Engine['account']>).liquidatable
      }
      expect(isLiq(lp), `${p.account} ${p.symbol} at ${p.liquidationPrice}`).toBe(true)
      expect(
        isLiq(long ? lp + 1n : lp - 1n),
        `${p.account} ${p.symbol} one tick better than ${p.liquidationPrice}`,
      ).toBe(false)
      e.setMarks({ [p.symbol]: units(marks[p.symbol]!) })
      checked++
    }
    expect(checked).toBeGreaterThan(40)
  })
})

describe('engine selection', () => {
  it('fails clearly when native is demanded but forced off', () => {
    const prev = process.env.DELEVERAGE_FORCE_JS
    process.env.DELEVERAGE_FORCE_JS = '1'
    try {
      expect(codeOf(() => new Engine({ implementation: 'native' }))).toBe('NATIVE_UNAVAILABLE')
      expect(new Engine().implementation).toBe('js')
    } finally {
      if (prev === undefined) delete process.env.DELEVERAGE_FORCE_JS
      else process.env.DELEVERAGE_FORCE_JS = prev
    }
  })
})

// Issue 17, porting friction: messages show values as the user wrote them, the same on both engines.
describe('messages in the units of the input', () => {
  const market = (tiers: MarketConfig['tiers'], mark = '100') =>
    ({ symbol: 'X', priceDecimals: 2, qtyDecimals: 3, tiers, mark }) as MarketConfig
  const cases: Array<[string, MarketConfig, string]> = [
    [
      'a first maintenance amount that is not 0',
      market([
        { floor: '0', mmr: '0.004', maintAmount: '0.01' },
        { floor: '50000', mmr: '0.005', maintAmount: '50' },
      ]),
      'INVALID_TIERS: market X: tier 0: maintenance amount must be 0, got 0.01',
    ],
    [
      'a rate of 1 or more',
      market([{ floor: '0', mmr: '1.5' }]),
      'INVALID_TIERS: market X: tier 0: maintenance rate must be above 0 and below 1, got 1.5',
    ],
    [
      'falling rates',
      market([
        { floor: '0', mmr: '0.005' },
        { floor: '50000', mmr: '0.004' },
      ]),
      'INVALID_TIERS: market X: tier 1: maintenance rates must not decrease, got 0.004 after 0.005',
    ],
    [
      'an initial rate below maintenance',
      market([{ floor: '0', mmr: '0.004', imr: '0.003' }]),
      'INVALID_TIERS: market X: tier 0: initial rate must be within maintenance rate (0.004) and 1, got 0.003',
    ],
    [
      'floors that do not increase',
      market([
        { floor: '0', mmr: '0.004' },
        { floor: '0.5', mmr: '0.005' },
        { floor: '0.25', mmr: '0.006' },
      ]),
      'INVALID_TIERS: market X: tier 2: floors must increase strictly, got 0.25 after 0.5',
    ],
    [
      'a given amount above the derived one',
      market([
        { floor: '0', mmr: '0.004', maintAmount: '0' },
        { floor: '50000', mmr: '0.005', maintAmount: '50.5' },
      ]),
      'INVALID_TIERS: market X: tier 1: maintenance amount 50.5 exceeds 50 derived from the floor, so maintenance margin would fall at the tier boundary',
    ],
    [
      'a mark beyond any price',
      market([{ floor: '0', mmr: '0.004' }], '99999999999999999.00'),
      'OVERFLOW: market X: mark: 99999999999999999.00 does not fit a 64-bit integer of ticks (the largest price a market of 2 price decimals allows is 10000000000000.00)',
    ],
  ]
  for (const [name, config, message] of cases) {
    it(`${name}: ${message}`, () => {
      for (const implementation of IMPLEMENTATIONS) {
        const err = thrownBy(() => engine(implementation).addMarket(config))
        expect(`${err.code}: ${err.message}`, implementation).toBe(message)
      }
    })
  }
})

// Issue 17: results in integer units beside the decimal strings, for hosts that compute further.
describe.each(IMPLEMENTATIONS)('units: true on the %s engine', (implementation) => {
  const withUnits = () => {
    const plain = book(implementation)
    const e = Engine.restore(plain.snapshot(), { implementation, units: true })
    e.setMarks({ 'BTC-PERP': '26000.0', 'ETH-PERP': '2100.00' })
    plain.setMarks({ 'BTC-PERP': '26000.0', 'ETH-PERP': '2100.00' })
    return { e, plain }
  }
  const decimals = { 'BTC-PERP': { P: 1, D: 3 }, 'ETH-PERP': { P: 2, D: 2 } } as const
  const q = 8
  const u = (s: string | null, d: number) => (s === null ? null : parseUnits(s, d, 'test'))

  it('every report carries its numbers as bigint units equal to its decimal strings', () => {
    const { e, plain } = withUnits()
    expect(plain.withUnits).toBe(false)
    expect(e.withUnits).toBe(true)
    const margin = (r: MarginStatus & { units?: MarginUnits }, extra = {}) =>
      expect(r.units).toEqual({
        ...extra,
        equity: u(r.equity, q),
        maintenanceMargin: u(r.maintenanceMargin, q),
        shortfall: u(r.shortfall, q),
        marginRatioPpm: u(r.marginRatio, 6),
      })
    const sweep = e.sweep({ warningRatio: '0.1' })
    expect(sweep.liquidatable.length + sweep.warnings.length).toBeGreaterThan(1)
    for (const r of [...sweep.liquidatable, ...sweep.warnings]) margin(r)
    for (const a of e.accounts()) margin(a, { balance: u(a.balance, q) })
    for (const p of e.positions()) {
      const { P, D } = decimals[p.symbol as keyof typeof decimals]
      expect(p.units).toEqual({
        qty: u(p.qty, D),
        cost: u(p.cost, P + D),
        isolatedMargin: u(p.isolatedMargin, q),
        unrealizedPnl: u(p.unrealizedPnl, q),
        maintenanceMargin: u(p.maintenanceMargin, q),
        liquidationPrice: u(p.liquidationPrice, P),
        liquidationPriceNearest: u(p.liquidationPriceNearest, P),
        bankruptcyPrice: u(p.bankruptcyPrice, P),
        bankruptcyPriceNearest: u(p.bankruptcyPriceNearest, P),
      })
    }
    // Without the option the reports are what they were: no units field.
    expect(plain.positions()[0]).not.toHaveProperty('units')
    expect(plain.accounts()[0]).not.toHaveProperty('units')
    const strip = <T extends { units?: unknown }>({ units: _, ...rest }: T) => rest
    expect(e.positions().map(strip)).toEqual(plain.positions())
    expect(e.accounts().map(strip)).toEqual(plain.accounts())
  })

  it('events and the ledger too', () => {
    const { e } = withUnits()
    e.configureWaterfall({ liquidationFee: '0.005' })
    e.depositInsuranceFund('1000')
    const events = e.runWaterfall()
    expect(events.some((ev) => ev.qty !== null)).toBe(true)
    for (const ev of events) {
      const m = ev.symbol ? decimals[ev.symbol as keyof typeof decimals] : { P: 0, D: 0 }
      expect(ev.units).toEqual({
        qty: u(ev.qty, m.D),
        price: u(ev.price, m.P),
        amount: u(ev.amount, q),
      })
    }
    const l = e.ledger()
    expect(l.units).toEqual({
      insuranceFund: u(l.insuranceFund, q),
      settlement: u(l.settlement, q),
      residue: u(l.residue, q),
      cashTotal: u(l.cashTotal, q),
    })
  })

  it('pre-trade reports and the liquidation map too', () => {
    const { e, plain } = withUnits()
    const { P, D } = decimals['BTC-PERP']
    const orders = [
      { account: 'dave', symbol: 'BTC-PERP', side: 'buy', qty: '0.5', price: '25900.0' },
      { account: 'alice', symbol: 'BTC-PERP', side: 'sell', qty: '2.5', price: '26100.5' },
    ] as const
    const money = (r: { units?: object }, fields: Record<string, string>) =>
      expect(r.units).toEqual(
        Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, u(v, q)])),
      )
    const verdicts = e.checkOrders([...orders])
    const plainVerdicts = plain.checkOrders([...orders])
    expect(verdicts.map((v) => v.verdict)).toContain('ACCEPTED')
    for (const { units, verdict: _, openQty, ...amounts } of verdicts) {
      const { openQty: lots, ...atoms } = units ?? {}
      expect(lots).toBe(u(openQty, D))
      money({ units: atoms as Record<string, bigint> }, amounts)
    }
    e.placeOrders([orders[0]])
    plain.placeOrders([orders[0]])
    for (const o of e.openOrders('dave'))
      expect(o.units).toEqual({ qty: u(o.qty, D), price: u(o.price, P) })
    const { units: mUnits, liquidating: _, ...margin } = e.accountMargin('alice')
    money({ units: mUnits }, margin)
    const w = e.whatIf('alice', [{ symbol: 'BTC-PERP', side: 'sell', qty: '0.5' }])
    expect(w.units).toEqual({ marginRatioPpm: u(w.marginRatio, 6) })
    expect(w.positions.length).toBeGreaterThan(0)
    for (const p of w.positions)
      expect(p.units).toEqual({
        qty: u(p.qty, D),
        entryCost: u(p.entryCost, P + D),
        liquidationPrice: u(p.liquidationPrice, P),
        liquidationPriceNearest: u(p.liquidationPriceNearest, P),
        bankruptcyPrice: u(p.bankruptcyPrice, P),
        bankruptcyPriceNearest: u(p.bankruptcyPriceNearest, P),
      })
    const map = e.liquidationMap('BTC-PERP', { from: '10000', to: '40000', buckets: 6 })
    const sums = (x: (typeof map)['below']) => ({
      longQty: u(x.longQty, D),
      longNotional: u(x.longNotional, q),
      shortQty: u(x.shortQty, D),
      shortNotional: u(x.shortNotional, q),
    })
    for (const b of map.buckets)
      expect(b.units).toEqual({ ...sums(b), from: u(b.from, P), to: u(b.to, P) })
    expect(map.below.units).toEqual(sums(map.below))
    expect(map.above.units).toEqual(sums(map.above))
    expect(map.buckets.some((b) => b.longCount + b.shortCount > 0)).toBe(true)
    // The same reports without units on the plain engine, field for field.
    const strip = (x: unknown): unknown =>
      Array.isArray(x)
        ? x.map(strip)
        : x !== null && typeof x === 'object'
          ? Object.fromEntries(
              Object.entries(x)
                .filter(([k]) => k !== 'units')
                .map(([k, v]) => [k, strip(v)]),
            )
          : x
    expect(strip(verdicts)).toEqual(plainVerdicts)
    expect(strip(w)).toEqual(
      plain.whatIf('alice', [{ symbol: 'BTC-PERP', side: 'sell', qty: '0.5' }]),
    )
    expect(strip(map)).toEqual(
      plain.liquidationMap('BTC-PERP', { from: '10000', to: '40000', buckets: 6 }),
    )
    expect(JSON.stringify(plain.accountMargin('alice'), (_k, v) => typeof v)).not.toContain(
      'bigint',
    )
  })
})

describe.each(IMPLEMENTATIONS)('an unknown market on the %s engine', (implementation) => {
  it('names the markets the engine has', () => {
    const e = book(implementation)
    const err = thrownBy(() => e.setMarks({ 'SOL-PERP': '1' }))
    expect(`${err.code}: ${err.message}`).toBe(
      'UNKNOWN_MARKET: unknown market "SOL-PERP" (the markets are BTC-PERP, ETH-PERP)',
    )
    expect(thrownBy(() => engine(implementation).autoDeleverage('X')).message).toBe(
      'unknown market "X" (there is no market)',
    )
  })
})
