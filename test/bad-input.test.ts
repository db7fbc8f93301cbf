// Bad input: a JS error with a stable code, and the engine state unchanged — on both engines.
import { describe, expect, it } from 'vitest'
import { type Engine, type MarketConfig } from '../src/index.js'
import { DeleverageError, Engine as EngineClass } from '../src/index.js'
import { IMPLEMENTATIONS, codeOf, engine } from './helpers.js'

const ETH: MarketConfig = { symbol: 'ETH-PERP', priceDecimals: 2, qtyDecimals: 3, tiers: [{ floor: '0', mmr: '0.005' }, { floor: '100000', mmr: '0.01' }], mark: '2011.03' }

function seeded(implementation: 'native' | 'js'): Engine {
  const e = engine(implementation)
  e.addMarket(ETH)
  e.addAccounts([
    { id: 'a', balance: '1000', positions: [{ symbol: 'ETH-PERP', qty: '1.013', entry: '1999.97' }] },
    { id: 'b', balance: '17', positions: [{ symbol: 'ETH-PERP', qty: '-0.331', entry: '2003.11', isolatedMargin: '41' }] },
  ])
  return e
}

type Case = [name: string, code: string, act: (e: Engine) => unknown]

const cases: Case[] = [
  ['NaN mark', 'INVALID_NUMBER', (e) => e.setMarks({ 'ETH-PERP': NaN })],
  ['Infinity balance', 'INVALID_NUMBER', (e) => e.setBalances({ a: Infinity })],
  ['-Infinity qty', 'INVALID_NUMBER', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: -Infinity, entry: '1' }])],
  ['negative mark', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': '-1.00' })],
  ['zero mark', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': '0' })],
  ['zero mark as ticks', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': 0n })],
  ['negative entry', 'INVALID_PRICE', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '-5' }])],
  ['mark beyond the price limit', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': 10n ** 16n })],
  ['too many decimals in a price', 'TOO_MANY_DECIMALS', (e) => e.setMarks({ 'ETH-PERP': '2011.031' })],
  ['too many decimals in a qty', 'TOO_MANY_DECIMALS', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '0.0001', entry: '1' }])],
  ['malformed decimal', 'INVALID_NUMBER', (e) => e.setBalances({ a: '1,000' })],
  ['balance beyond i64', 'OVERFLOW', (e) => e.setBalances({ a: '999999999999999999999' })],
  ['position worth more than i64 atoms', 'OVERFLOW', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '999999999999', entry: '9999999999.99' }])],
  ['qty beyond the limit', 'INVALID_QUANTITY', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '9999999999999.999', entry: '1' }])],
  ['unknown market in marks', 'UNKNOWN_MARKET', (e) => e.setMarks({ 'ETH-PERP': '1', 'XRP-PERP': '1' })],
  ['unknown market in positions', 'UNKNOWN_MARKET', (e) => e.setPositions([{ account: 'a', symbol: 'NOPE', qty: '1', entry: '1' }])],
  ['unknown account', 'UNKNOWN_ACCOUNT', (e) => e.setPositions([{ account: 'zed', symbol: 'ETH-PERP', qty: '1', entry: '1' }])],
  ['duplicate account', 'DUPLICATE_ACCOUNT', (e) => e.addAccounts([{ id: 'c', balance: '1' }, { id: 'a', balance: '1' }])],
  ['duplicate market', 'DUPLICATE_MARKET', (e) => e.addMarket(ETH)],
  ['two rows for one position', 'DUPLICATE_POSITION', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1' }, { account: 'a', symbol: 'ETH-PERP', qty: '2', entry: '1' }])],
  ['negative isolated margin', 'INVALID_AMOUNT', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1', isolatedMargin: '-1' }])],
  ['cost with the wrong sign', 'INVALID_AMOUNT', (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '-1', cost: '10' }])],
  ['bad account id', 'INVALID_ID', (e) => e.addAccounts([{ id: 'has space', balance: '1' }])],
  ['unsorted tiers', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.01' }, { floor: '500', mmr: '0.02' }, { floor: '100', mmr: '0.03' }] })],
  ['first tier above zero', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '10', mmr: '0.01' }] })],
  ['decreasing rates', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.02' }, { floor: '10', mmr: '0.01' }] })],
  ['mmr ≥ 1', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '1' }] })],
  ['negative maintenance amount', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.01', maintAmount: '0' }, { floor: '10', mmr: '0.02', maintAmount: '-1' }] })],
  ['maintenance amount inconsistent with floors', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.01', maintAmount: '0' }, { floor: '1000', mmr: '0.02', maintAmount: '10.01' }] })],
  ['imr below mmr', 'INVALID_TIERS', (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.02', imr: '0.01' }] })],
  ['decimals out of range', 'INVALID_DECIMALS', (e) => e.addMarket({ ...ETH, symbol: 'X', priceDecimals: 13 })],
  ['mismatched typed-array lengths', 'LENGTH_MISMATCH', (e) => e.core.setMarks(Uint32Array.of(0, 0), BigInt64Array.of(5n))],
  ['wrong typed-array kind', 'INVALID_ARGUMENT', (e) => e.core.setMarks(Uint32Array.of(0), Float64Array.of(5) as unknown as BigInt64Array)],
  ['unknown account index', 'UNKNOWN_ACCOUNT', (e) => e.core.setBalances(Uint32Array.of(99), BigInt64Array.of(5n))],
  ['unknown market index', 'UNKNOWN_MARKET', (e) => e.core.setMarks(Uint32Array.of(7), BigInt64Array.of(5n))],
  ['unknown flag bits', 'INVALID_ARGUMENT', (e) => e.core.setPositions(Uint32Array.of(0), Uint32Array.of(0), BigInt64Array.of(1n), BigInt64Array.of(1n), BigInt64Array.of(0n), Uint8Array.of(8))],
  ['new accounts whose position only the core rejects', 'OVERFLOW', (e) => e.addAccounts([{ id: 'c', balance: '1' }, { id: 'd', balance: '1', positions: [{ symbol: 'ETH-PERP', qty: '999999999999', entry: '9999999999.99' }] }])],
  ['a batch position naming an account outside the batch', 'UNKNOWN_ACCOUNT', (e) => e.core.addAccountsWithPositions(['c'], BigInt64Array.of(1n), Uint32Array.of(1), Uint32Array.of(0), BigInt64Array.of(1n), BigInt64Array.of(100n), BigInt64Array.of(0n), Uint8Array.of(0))],
  // napi would wrap these to 0xffffffff (CROSS) or 0: both engines refuse them instead.
  ['−1 as an isolated market (would read as CROSS)', 'INVALID_ARGUMENT', (e) => e.core.takeOver(0, -1)],
  ['2^32 as a market index (would read as 0)', 'INVALID_ARGUMENT', (e) => e.core.autoDeleverage(2 ** 32)],
  ['a fractional account index', 'INVALID_ARGUMENT', (e) => e.core.planLiquidation(0.5, 0)],
  ['2^32 + 1 as an ADL side (would read as 1, long)', 'INVALID_ARGUMENT', (e) => e.core.adlQueue(0, 2 ** 32 + 1, 0)],
  ['−1 as a market kind field', 'INVALID_ARGUMENT', (e) => e.core.addMarket({ ...e.marketInit({ ...ETH, symbol: 'X' }), kind: -1 })],
  // Every other mutating method, once each.
  ['removing an account twice in one call', 'DUPLICATE_ACCOUNT', (e) => e.removeAccounts(['a', 'a'])],
  ['fee rate of 1', 'INVALID_ARGUMENT', (e) => e.configureWaterfall({ liquidationFee: '1' })],
  ['drawdown stop above trigger', 'INVALID_ARGUMENT', (e) => e.configureWaterfall({ fundPolicy: { kind: 'drawdown', trigger: '0.1', stop: '0.2', window: 5 } })],
  ['a fund withdrawal below zero', 'INVALID_AMOUNT', (e) => e.depositInsuranceFund('-1')],
  ['impact cap of 100 %', 'INVALID_ARGUMENT', (e) => e.runWaterfall({ fill: { ppmPerLot: 1, capPpm: 1_000_000 } })],
  ['a liquidation fill that flips the position', 'INVALID_QUANTITY', (e) => e.settleLiquidationFill('a', { symbol: 'ETH-PERP', qty: '2', price: '2000' })],
  ['a cross fill on an isolated position', 'INVALID_ARGUMENT', (e) => e.settleLiquidationFill('b', { symbol: 'ETH-PERP', qty: '-0.1', price: '2000' })],
  ['taking over an unknown account', 'UNKNOWN_ACCOUNT', (e) => e.takeOver('zed')],
  ['an engine fill with no engine position', 'INVALID_QUANTITY', (e) => e.settleEngineFill('ETH-PERP', '1', '2000')],
  ['ADL in an unknown market', 'UNKNOWN_MARKET', (e) => e.autoDeleverage('NOPE')],
  ['socialising a negative loss', 'INVALID_AMOUNT', (e) => e.socialiseLoss('ETH-PERP', '-5', 'a')],
  ['a funding rate of 100 %', 'INVALID_ARGUMENT', (e) => e.settleFunding('ETH-PERP', '1')],
  // Snapshots (restore makes a new engine; the one snapshotted must stay as it was).
  ['a truncated snapshot', 'SNAPSHOT_TRUNCATED', (e) => EngineClass.restore(e.snapshot().subarray(0, 40), { implementation: e.implementation })],
  ['a snapshot with a corrupted byte', 'SNAPSHOT_CHECKSUM', (e) => EngineClass.restore(Uint8Array.from(e.snapshot(), (b, i) => (i === 30 ? b ^ 0x20 : b)), { implementation: e.implementation })],
  ['a snapshot of another format version', 'SNAPSHOT_VERSION', (e) => EngineClass.restore(Uint8Array.from(e.snapshot(), (b, i) => (i === 8 ? 9 : b)), { implementation: e.implementation })],
  ['not a snapshot (bad magic)', 'SNAPSHOT_INVALID', (e) => EngineClass.restore(Uint8Array.from(e.snapshot(), (b, i) => (i === 3 ? 0 : b)), { implementation: e.implementation })],
  ['a journal that is not one', 'JOURNAL_INVALID', (e) => EngineClass.replay(e.snapshot(), new Uint8Array(200), { implementation: e.implementation })],
]

describe.each(IMPLEMENTATIONS)('bad input on the %s engine', (implementation) => {
  it.each(cases)('%s → %s, state unchanged', (_name, code, act) => {
    const e = seeded(implementation)
    const before = e.stateHash()
    expect(codeOf(() => act(e))).toBe(code)
    // The state hash covers the whole state (SPEC §12), not just what the reports show.
    expect(e.stateHash()).toBe(before)
  })

  it('quote decimals out of range → the same error on both engines, never a wrapped u32', () => {
    for (const [q, code] of [[19, 'INVALID_DECIMALS'], [2 ** 32 + 8, 'INVALID_ARGUMENT'], [1e21, 'INVALID_ARGUMENT'], [-1, 'INVALID_ARGUMENT'], [1.5, 'INVALID_DECIMALS']] as const) {
      let err: unknown
      try {
        new EngineClass({ implementation, quoteDecimals: q })
      } catch (e) {
        err = e
      }
      expect(err, `quoteDecimals ${q}`).toBeInstanceOf(DeleverageError)
      expect((err as DeleverageError).code).toBe(code)
      expect((err as DeleverageError).message).toContain(String(q))
    }
  })

  it('names the field and the value in the message', () => {
    const e = seeded(implementation)
    expect(() => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1' }, { account: 'b', symbol: 'ETH-PERP', qty: '1', entry: '0' }])).toThrow(/positions\[1\]\.entry: must be positive/)
    expect(() => e.core.setMarks(Uint32Array.of(0), BigInt64Array.of(-5n))).toThrow(/row 0 \(market ETH-PERP\): mark must be within 1\.\.=1000000000000000 ticks, got -5/)
  })

  it('a failing batch of new accounts adds none of them', () => {
    const e = seeded(implementation)
    const before = e.stateHash()
    expect(codeOf(() => e.addAccounts([{ id: 'c', balance: '1' }, { id: 'd', balance: '1', positions: [{ symbol: 'ETH-PERP', qty: '1', entry: '0' }] }]))).toBe('INVALID_PRICE')
    expect(e.stateHash()).toBe(before)
    expect(codeOf(() => e.account('c'))).toBe('UNKNOWN_ACCOUNT')
  })
})
