// The venue's liquidation engine is the "liquidator" (issue 14). The old public names stay as
// deprecated aliases: each must do exactly what its new name does, and a journal records the
// alias under the new name's opcode (the opcode index, not the name, is the format).
import { describe, expect, it } from 'vitest'
import type { CoreEngine } from '../src/core.js'
import type { Engine } from '../src/index.js'
import { JOURNAL_OPS, type JournaledCore, decodeJournal } from '../src/journal.js'
import { IMPLEMENTATIONS, engine } from './helpers.js'

/** A bankrupt long taken over: the liquidator holds 2 BTC-PERP. */
function withLiquidatorPosition(impl: (typeof IMPLEMENTATIONS)[number]): Engine {
  const e = engine(impl)
  e.addMarket({
    symbol: 'BTC-PERP',
    priceDecimals: 1,
    qtyDecimals: 3,
    tiers: [{ floor: '0', mmr: '0.005' }],
    mark: '30000',
  })
  e.addAccounts([
    {
      id: 'bankrupt',
      balance: '100',
      positions: [{ symbol: 'BTC-PERP', qty: '2', entry: '30000' }],
    },
  ])
  e.setMarks({ 'BTC-PERP': '29000' })
  e.takeOver('bankrupt')
  return e
}

describe.each(IMPLEMENTATIONS)('deprecated liquidator names (%s)', (impl) => {
  it('Engine.settleEngineFill is settleLiquidatorFill', () => {
    const [renamed, alias] = [withLiquidatorPosition(impl), withLiquidatorPosition(impl)]
    const a = renamed.settleLiquidatorFill('BTC-PERP', '0.5', '28000')
    const b = alias.settleEngineFill('BTC-PERP', '0.5', '28000')
    expect(a.map((v) => v.kind)).toEqual(['engineFill'])
    expect(b).toEqual(a)
    expect(alias.stateHash()).toBe(renamed.stateHash())
    expect(alias.ledger()).toEqual(renamed.ledger())
  })

  it('a journal records settleEngineFill under the settleLiquidatorFill opcode', () => {
    const e = withLiquidatorPosition(impl)
    e.startJournal()
    e.settleEngineFill('BTC-PERP', '0.5', '28000')
    const { entries } = decodeJournal(e.stopJournal())
    expect(entries.map((x) => x.op)).toEqual(['settleLiquidatorFill'])
    expect(JOURNAL_OPS.indexOf('settleLiquidatorFill')).toBe(11) // the old name's code
  })
})

/** The engine under the journal: NativeEngine or JsEngine, whose own aliases are under test. */
function coreOf(e: Engine): CoreEngine {
  return (e.core as JournaledCore).inner
}

describe.each(IMPLEMENTATIONS)('deprecated CoreEngine liquidator names (%s)', (impl) => {
  it('enginePosition is liquidatorPosition', () => {
    const c = coreOf(withLiquidatorPosition(impl))
    // 2.000 BTC (2000 lots) taken over at the bankruptcy price 30000 − 100/2 = 29950.0 (299500 ticks)
    expect(Array.from(c.liquidatorPosition(0))).toEqual([2000n, 599_000_000n])
    expect(Array.from(c.enginePosition(0))).toEqual(Array.from(c.liquidatorPosition(0)))
  })

  it('settleEngineFill is settleLiquidatorFill', () => {
    const [renamed, alias] = [withLiquidatorPosition(impl), withLiquidatorPosition(impl)]
    coreOf(renamed).settleLiquidatorFill(0, 500n, 280_000n)
    coreOf(alias).settleEngineFill(0, 500n, 280_000n)
    expect(alias.stateHash()).toBe(renamed.stateHash())
    expect(coreOf(alias).events(0n)).toEqual(coreOf(renamed).events(0n))
  })
})
