// The waterfall through the public API on both engines: G6/G7 golden values, named scenarios
// with prime prices, and conservation (cash total unchanged) after every operation.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { engineFromScenario, parseScenario, type Engine, type MarketConfig } from '../src/index.js'
import { IMPLEMENTATIONS, codeOf, engine, snapshot } from './helpers.js'

const drift = JSON.parse(
  readFileSync(new URL('./fixtures/golden/drift.json', import.meta.url), 'utf8'),
) as {
  cases: Array<Record<string, unknown> & { id: string; scenario: unknown }>
}
const g6 = drift.cases.find((c) => c.id === 'G6') as unknown as {
  scenario: unknown
  socialiseLoss: { symbol: string; amount: string; beneficiary: string }
  expectBalances: Record<string, string>
}
const g7 = drift.cases.find((c) => c.id === 'G7') as unknown as {
  scenario: unknown
  fees: Array<{ liquidationFee: string; published: string; engine: string }>
}

const ETH: MarketConfig = {
  symbol: 'ETH-PERP',
  priceDecimals: 2,
  qtyDecimals: 3,
  tiers: [{ floor: '0', mmr: '0.01' }],
  mark: '2003.00',
}

/** Every waterfall call must leave the cash total where it was. */
function conserved<T>(e: Engine, f: () => T): T {
  const before = e.ledger().cashTotal
  const r = f()
  expect(e.ledger().cashTotal).toBe(before)
  return r
}

describe.each(IMPLEMENTATIONS)('the waterfall on the %s engine', (implementation) => {
  it('G6: a bankrupt loss socialised over both sides by size', () => {
    const e = engineFromScenario(parseScenario(g6.scenario), { implementation })
    conserved(e, () =>
      e.socialiseLoss(
        g6.socialiseLoss.symbol,
        g6.socialiseLoss.amount,
        g6.socialiseLoss.beneficiary,
      ),
    )
    for (const [id, balance] of Object.entries(g6.expectBalances))
      expect(e.account(id).balance, id).toBe(balance)
  })

  it('G7: how much to liquidate, with fees', () => {
    for (const f of g7.fees) {
      const e = engineFromScenario(parseScenario(g7.scenario), { implementation })
      e.configureWaterfall({ liquidationFee: f.liquidationFee, buffer: '0' })
      const plan = e.planLiquidation('drift')
      expect(plan.takeover).toBe(false)
      expect(plan.orders).toEqual([{ symbol: 'SOL-PERP', qty: f.engine }])
      // published ≤ engine ≤ published + one lot (1e-9)
      const lots = (s: string) => BigInt(s.replace('.', ''))
      expect(lots(f.engine) - lots(f.published)).toBeGreaterThanOrEqual(0n)
      expect(lots(f.engine) - lots(f.published)).toBeLessThanOrEqual(1n)
      // the manual planner agrees: margin ratio ≤ 100 % with the same fee
      expect(
        e.planDeleveraging('drift', { marginRatio: '1' }, { fee: f.liquidationFee }).orders,
      ).toEqual(plan.orders)
    }
  })

  it('takes over a bankrupt account at its bankruptcy price and the fund pays the gap', () => {
    const e = engine(implementation)
    e.addMarket(ETH)
    e.configureWaterfall({ liquidationFee: '0.005', buffer: '0.02' })
    e.depositInsuranceFund('1000')
    e.addAccounts([
      {
        id: 'bob',
        balance: '900',
        positions: [{ symbol: 'ETH-PERP', qty: '100', entry: '2003.00' }],
      },
      {
        id: 'carol',
        balance: '5000',
        positions: [{ symbol: 'ETH-PERP', qty: '-100', entry: '2003.00' }],
      },
    ])
    e.setMarks({ 'ETH-PERP': '1990.07' })
    const events = conserved(e, () => e.runWaterfall())
    const kinds = events.map((x) => x.kind)
    expect(kinds).toContain('takeover')
    expect(events.find((x) => x.kind === 'takeover')!.price).toBe('1994.00')
    expect(events.find((x) => x.kind === 'engineFill')!.amount).toBe('-393.00000000')
    expect(e.ledger().insuranceFund).toBe('607.00000000')
    expect(e.account('bob').equity).toBe('0.00000000')
    expect(e.account('carol').positions[0]!.qty).toBe('-100.000')
    // The history still names bob after he is removed (his index is never reused).
    e.removeAccounts(['bob'])
    expect(e.events().find((x) => x.kind === 'takeover')!.account).toBe('bob')
  })

  it('deleverages exactly the bankrupt quantity when the fund is exhausted, ranked or pro rata', () => {
    for (const ranking of ['bitmex', 'binance', 'hyperliquid', 'prorata'] as const) {
      const e = engine(implementation)
      e.addMarket(ETH)
      e.configureWaterfall({ liquidationFee: '0.005', buffer: '0', ranking })
      e.addAccounts([
        {
          id: 'bankrupt',
          balance: '1009',
          positions: [{ symbol: 'ETH-PERP', qty: '3', entry: '2003.00' }],
        },
        {
          id: 's1',
          balance: '100',
          positions: [{ symbol: 'ETH-PERP', qty: '-1.7', entry: '2101.00' }],
        },
        {
          id: 's2',
          balance: '9000',
          positions: [{ symbol: 'ETH-PERP', qty: '-2.3', entry: '1999.00' }],
        },
        {
          id: 's3',
          balance: '700',
          positions: [{ symbol: 'ETH-PERP', qty: '-0.5', entry: '2309.00' }],
        },
      ])
      e.setMarks({ 'ETH-PERP': '1661.00' })
      const events = conserved(e, () => e.runWaterfall({ fill: { ppmPerLot: 10, capPpm: 50000 } }))
      const adl = events.filter((x) => x.kind === 'adlFill')
      const closed = adl.reduce((s, x) => s + Number(x.qty), 0)
      expect(closed, ranking).toBeCloseTo(-3, 9)
      const left = ['s1', 's2', 's3']
        .map((id) => Number(e.account(id).positions[0]?.qty ?? 0))
        .reduce((a, b) => a + b, 0)
      expect(left, ranking).toBeCloseTo(-1.5, 9)
      // the queue (display) is a total order with lights
      const q = e.adlQueue('ETH-PERP', 'short', ranking === 'prorata' ? 'bitmex' : ranking)
      expect(q.every((x) => x.lights >= 1 && x.lights <= 5)).toBe(true)
    }
  })

  it('settles funding from longs to shorts, conserved', () => {
    const e = engine(implementation)
    e.addMarket(ETH)
    e.addAccounts([
      {
        id: 'l',
        balance: '1000',
        positions: [{ symbol: 'ETH-PERP', qty: '1.009', entry: '2003.00' }],
      },
      {
        id: 's',
        balance: '1000',
        positions: [{ symbol: 'ETH-PERP', qty: '-1.009', entry: '2003.00' }],
      },
    ])
    const ev = conserved(e, () => e.settleFunding('ETH-PERP', '0.0001'))
    // 1.009 × 2003 × 0.01 % = 0.2021027 quote
    expect(ev.filter((x) => x.kind === 'funding').map((x) => x.amount)).toEqual([
      '-0.20210270',
      '0.20210270',
    ])
  })

  it('rejects bad waterfall input with a code and changes nothing', () => {
    const e = engine(implementation)
    e.addMarket(ETH)
    e.addAccounts([
      { id: 'a', balance: '100', positions: [{ symbol: 'ETH-PERP', qty: '1', entry: '2003.00' }] },
    ])
    const before = snapshot(e) + JSON.stringify(e.ledger())
    expect(
      codeOf(() => e.settleLiquidationFill('a', { symbol: 'ETH-PERP', qty: '2', price: '2003' })),
    ).toBe('INVALID_QUANTITY')
    expect(
      codeOf(() => e.settleLiquidationFill('a', { symbol: 'ETH-PERP', qty: '1', price: '0' })),
    ).toBe('INVALID_PRICE')
    expect(codeOf(() => e.socialiseLoss('ETH-PERP', '-1', 'a'))).toBe('INVALID_AMOUNT')
    expect(codeOf(() => e.configureWaterfall({ liquidationFee: '1.5' }))).toBe('INVALID_ARGUMENT')
    expect(
      codeOf(() =>
        e.configureWaterfall({
          fundPolicy: { kind: 'drawdown', trigger: '0.1', stop: '0.3', window: 10 },
        }),
      ),
    ).toBe('INVALID_ARGUMENT')
    expect(codeOf(() => e.planDeleveraging('a', { leverage: '0' }))).toBe('INVALID_ARGUMENT')
    expect(snapshot(e) + JSON.stringify(e.ledger())).toBe(before)
  })
})
