// The waterfall through the public API on both engines, where a check is more than values: the
// value scenarios (G6, G7, takeover, ADL, funding) are shared vectors (test/vectors.test.ts).
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { engineFromScenario, parseScenario, type Engine, type MarketConfig } from '../src/index.js'
import { IMPLEMENTATIONS, codeOf, engine, snapshot } from './helpers.js'

const g7 = (
  JSON.parse(readFileSync(new URL('./vectors/drift.json', import.meta.url), 'utf8')) as {
    cases: Array<{
      id: string
      scenario: unknown
      steps: Array<{ do: string; config: { liquidationFee: string } }>
    }>
  }
).cases.find((c) => c.id === 'G7')!

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
  it('G7: the manual planner agrees with the liquidation plan (test/vectors/drift.json)', () => {
    const e = engineFromScenario(parseScenario(g7.scenario), { implementation })
    let fee = '0'
    for (const step of g7.steps) {
      if (step.do === 'configureWaterfall') {
        fee = step.config.liquidationFee
        e.configureWaterfall(step.config)
        continue
      }
      const plan = e.planLiquidation('drift')
      expect(e.planDeleveraging('drift', { marginRatio: '1' }, { fee }).orders).toEqual(plan.orders)
    }
  })

  it('names a taken-over account in the history after it is removed (values: test/vectors)', () => {
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
    conserved(e, () => e.runWaterfall())
    // The history still names bob after he is removed (his index is never reused).
    e.removeAccounts(['bob'])
    expect(e.events().find((x) => x.kind === 'takeover')!.account).toBe('bob')
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
