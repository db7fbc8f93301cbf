// Bad input: a JS error with a stable code, and the engine state unchanged — on both engines.
import { describe, expect, it } from 'vitest'
import type { Engine, MarketConfig } from '../src/index.js'
import { DeleverageError, Engine as EngineClass, units } from '../src/index.js'
import { readFileSync } from 'node:fs'
import { IMPLEMENTATIONS, codeOf, engine } from './helpers.js'
import { ApiErrorCode, ErrorCode } from '../src/fallback/errors.js'

const ETH: MarketConfig = {
  symbol: 'ETH-PERP',
  priceDecimals: 2,
  qtyDecimals: 3,
  tiers: [
    { floor: '0', mmr: '0.005' },
    { floor: '100000', mmr: '0.01' },
  ],
  mark: '2011.03',
}

function seeded(implementation: 'native' | 'js'): Engine {
  const e = engine(implementation)
  e.addMarket(ETH)
  e.addAccounts([
    {
      id: 'a',
      balance: '1000',
      positions: [{ symbol: 'ETH-PERP', qty: '1.013', entry: '1999.97' }],
    },
    {
      id: 'b',
      balance: '17',
      positions: [{ symbol: 'ETH-PERP', qty: '-0.331', entry: '2003.11', isolatedMargin: '41' }],
    },
  ])
  return e
}

type Case = [name: string, code: string, act: (e: Engine) => unknown]

const cases: Case[] = [
  ['NaN mark', 'INVALID_NUMBER', (e) => e.setMarks({ 'ETH-PERP': NaN })],
  ['Infinity balance', 'INVALID_NUMBER', (e) => e.setBalances({ a: Infinity })],
  [
    '-Infinity qty',
    'INVALID_NUMBER',
    (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: -Infinity, entry: '1' }]),
  ],
  ['negative mark', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': '-1.00' })],
  ['zero mark', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': '0' })],
  ['zero mark as ticks', 'INVALID_PRICE', (e) => e.setMarks({ 'ETH-PERP': units(0n) })],
  [
    'a plain bigint mark (units or a price?)',
    'BIGINT_AMOUNT',
    (e) => e.setMarks({ 'ETH-PERP': 26000n as unknown as string }),
  ],
  [
    'a plain bigint qty in a fill',
    'BIGINT_AMOUNT',
    (e) =>
      e.applyFills([
        { account: 'a', symbol: 'ETH-PERP', qty: 1n as unknown as string, price: '1' },
      ]),
  ],
  [
    'negative entry',
    'INVALID_PRICE',
    (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '-5' }]),
  ],
  [
    'mark beyond the price limit',
    'INVALID_PRICE',
    (e) => e.setMarks({ 'ETH-PERP': units(10n ** 16n) }),
  ],
  [
    'too many decimals in a price',
    'TOO_MANY_DECIMALS',
    (e) => e.setMarks({ 'ETH-PERP': '2011.031' }),
  ],
  [
    'too many decimals in a qty',
    'TOO_MANY_DECIMALS',
    (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '0.0001', entry: '1' }]),
  ],
  ['malformed decimal', 'INVALID_NUMBER', (e) => e.setBalances({ a: '1,000' })],
  ['balance beyond i64', 'OVERFLOW', (e) => e.setBalances({ a: '999999999999999999999' })],
  [
    'position worth more than i64 atoms',
    'OVERFLOW',
    (e) =>
      e.setPositions([
        { account: 'a', symbol: 'ETH-PERP', qty: '999999999999', entry: '9999999999.99' },
      ]),
  ],
  [
    'qty beyond the limit',
    'INVALID_QUANTITY',
    (e) =>
      e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '9999999999999.999', entry: '1' }]),
  ],
  [
    'unknown market in marks',
    'UNKNOWN_MARKET',
    (e) => e.setMarks({ 'ETH-PERP': '1', 'XRP-PERP': '1' }),
  ],
  [
    'unknown market in positions',
    'UNKNOWN_MARKET',
    (e) => e.setPositions([{ account: 'a', symbol: 'NOPE', qty: '1', entry: '1' }]),
  ],
  [
    'unknown account',
    'UNKNOWN_ACCOUNT',
    (e) => e.setPositions([{ account: 'zed', symbol: 'ETH-PERP', qty: '1', entry: '1' }]),
  ],
  [
    'duplicate account',
    'DUPLICATE_ACCOUNT',
    (e) =>
      e.addAccounts([
        { id: 'c', balance: '1' },
        { id: 'a', balance: '1' },
      ]),
  ],
  ['duplicate market', 'DUPLICATE_MARKET', (e) => e.addMarket(ETH)],
  [
    'two rows for one position',
    'DUPLICATE_POSITION',
    (e) =>
      e.setPositions([
        { account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1' },
        { account: 'a', symbol: 'ETH-PERP', qty: '2', entry: '1' },
      ]),
  ],
  [
    'negative isolated margin',
    'INVALID_AMOUNT',
    (e) =>
      e.setPositions([
        { account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1', isolatedMargin: '-1' },
      ]),
  ],
  [
    'cost with the wrong sign',
    'INVALID_AMOUNT',
    (e) => e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '-1', cost: '10' }]),
  ],
  ['bad account id', 'INVALID_ID', (e) => e.addAccounts([{ id: 'has space', balance: '1' }])],
  [
    'unsorted tiers',
    'INVALID_TIERS',
    (e) =>
      e.addMarket({
        ...ETH,
        symbol: 'X',
        tiers: [
          { floor: '0', mmr: '0.01' },
          { floor: '500', mmr: '0.02' },
          { floor: '100', mmr: '0.03' },
        ],
      }),
  ],
  [
    'first tier above zero',
    'INVALID_TIERS',
    (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '10', mmr: '0.01' }] }),
  ],
  [
    'decreasing rates',
    'INVALID_TIERS',
    (e) =>
      e.addMarket({
        ...ETH,
        symbol: 'X',
        tiers: [
          { floor: '0', mmr: '0.02' },
          { floor: '10', mmr: '0.01' },
        ],
      }),
  ],
  [
    'mmr ≥ 1',
    'INVALID_TIERS',
    (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '1' }] }),
  ],
  [
    'negative maintenance amount',
    'INVALID_TIERS',
    (e) =>
      e.addMarket({
        ...ETH,
        symbol: 'X',
        tiers: [
          { floor: '0', mmr: '0.01', maintAmount: '0' },
          { floor: '10', mmr: '0.02', maintAmount: '-1' },
        ],
      }),
  ],
  [
    'maintenance amount inconsistent with floors',
    'INVALID_TIERS',
    (e) =>
      e.addMarket({
        ...ETH,
        symbol: 'X',
        tiers: [
          { floor: '0', mmr: '0.01', maintAmount: '0' },
          { floor: '1000', mmr: '0.02', maintAmount: '10.01' },
        ],
      }),
  ],
  [
    'imr below mmr',
    'INVALID_TIERS',
    (e) => e.addMarket({ ...ETH, symbol: 'X', tiers: [{ floor: '0', mmr: '0.02', imr: '0.01' }] }),
  ],
  [
    'decimals out of range',
    'INVALID_DECIMALS',
    (e) => e.addMarket({ ...ETH, symbol: 'X', priceDecimals: 13 }),
  ],
  [
    'mismatched typed-array lengths',
    'LENGTH_MISMATCH',
    (e) => e.core.setMarks(Uint32Array.of(0, 0), BigInt64Array.of(5n)),
  ],
  [
    'wrong typed-array kind',
    'INVALID_ARGUMENT',
    (e) => e.core.setMarks(Uint32Array.of(0), Float64Array.of(5) as unknown as BigInt64Array),
  ],
  [
    'unknown account index',
    'UNKNOWN_ACCOUNT',
    (e) => e.core.setBalances(Uint32Array.of(99), BigInt64Array.of(5n)),
  ],
  [
    'unknown market index',
    'UNKNOWN_MARKET',
    (e) => e.core.setMarks(Uint32Array.of(7), BigInt64Array.of(5n)),
  ],
  [
    'unknown flag bits',
    'INVALID_ARGUMENT',
    (e) =>
      e.core.setPositions(
        Uint32Array.of(0),
        Uint32Array.of(0),
        BigInt64Array.of(1n),
        BigInt64Array.of(1n),
        BigInt64Array.of(0n),
        Uint8Array.of(8),
      ),
  ],
  [
    'new accounts whose position only the core rejects',
    'OVERFLOW',
    (e) =>
      e.addAccounts([
        { id: 'c', balance: '1' },
        {
          id: 'd',
          balance: '1',
          positions: [{ symbol: 'ETH-PERP', qty: '999999999999', entry: '9999999999.99' }],
        },
      ]),
  ],
  [
    'a batch position naming an account outside the batch',
    'UNKNOWN_ACCOUNT',
    (e) =>
      e.core.addAccountsWithPositions(
        ['c'],
        BigInt64Array.of(1n),
        Uint32Array.of(1),
        Uint32Array.of(0),
        BigInt64Array.of(1n),
        BigInt64Array.of(100n),
        BigInt64Array.of(0n),
        Uint8Array.of(0),
      ),
  ],
  // napi would wrap these to 0xffffffff (CROSS) or 0: both engines refuse them instead.
  [
    '−1 as an isolated market (would read as CROSS)',
    'INVALID_ARGUMENT',
    (e) => e.core.takeOver(0, -1),
  ],
  [
    '2^32 as a market index (would read as 0)',
    'INVALID_ARGUMENT',
    (e) => e.core.autoDeleverage(2 ** 32),
  ],
  ['a fractional account index', 'INVALID_ARGUMENT', (e) => e.core.planLiquidation(0.5, 0)],
  [
    '2^32 + 1 as an ADL side (would read as 1, long)',
    'INVALID_ARGUMENT',
    (e) => e.core.adlQueue(0, 2 ** 32 + 1, 0),
  ],
  [
    '−1 as a market kind field',
    'INVALID_ARGUMENT',
    (e) => e.core.addMarket({ ...e.marketInit({ ...ETH, symbol: 'X' }), kind: -1 }),
  ],
  // Every other mutating method, once each.
  [
    'removing an account twice in one call',
    'DUPLICATE_ACCOUNT',
    (e) => e.removeAccounts(['a', 'a']),
  ],
  ['fee rate of 1', 'INVALID_ARGUMENT', (e) => e.configureWaterfall({ liquidationFee: '1' })],
  [
    'drawdown stop above trigger',
    'INVALID_ARGUMENT',
    (e) =>
      e.configureWaterfall({
        fundPolicy: { kind: 'drawdown', trigger: '0.1', stop: '0.2', window: 5 },
      }),
  ],
  ['a fund withdrawal below zero', 'INVALID_AMOUNT', (e) => e.depositInsuranceFund('-1')],
  [
    'impact cap of 100 %',
    'INVALID_ARGUMENT',
    (e) => e.runWaterfall({ fill: { ppmPerLot: 1, capPpm: 1_000_000 } }),
  ],
  [
    'a liquidation fill that flips the position',
    'INVALID_QUANTITY',
    (e) => e.settleLiquidationFill('a', { symbol: 'ETH-PERP', qty: '2', price: '2000' }),
  ],
  [
    'a cross fill on an isolated position',
    'INVALID_ARGUMENT',
    (e) => e.settleLiquidationFill('b', { symbol: 'ETH-PERP', qty: '-0.1', price: '2000' }),
  ],
  ['taking over an unknown account', 'UNKNOWN_ACCOUNT', (e) => e.takeOver('zed')],
  [
    'an engine fill with no engine position',
    'INVALID_QUANTITY',
    (e) => e.settleLiquidatorFill('ETH-PERP', '1', '2000'),
  ],
  ['ADL in an unknown market', 'UNKNOWN_MARKET', (e) => e.autoDeleverage('NOPE')],
  [
    'an ADL fill that would flip the position',
    'INVALID_QUANTITY',
    (e) => e.settleAdlFill('a', 'ETH-PERP', '2', '2000'),
  ],
  ['an ADL fill at price 0', 'INVALID_PRICE', (e) => e.settleAdlFill('a', 'ETH-PERP', '1', '0')],
  ['socialising a negative loss', 'INVALID_AMOUNT', (e) => e.socialiseLoss('ETH-PERP', '-5', 'a')],
  ['a funding rate of 100 %', 'INVALID_ARGUMENT', (e) => e.settleFunding('ETH-PERP', '1')],
  // Snapshots (restore makes a new engine; the one snapshotted must stay as it was).
  [
    'a truncated snapshot',
    'SNAPSHOT_TRUNCATED',
    (e) => EngineClass.restore(e.snapshot().subarray(0, 40), { implementation: e.implementation }),
  ],
  [
    'a snapshot with a corrupted byte',
    'SNAPSHOT_CHECKSUM',
    (e) =>
      EngineClass.restore(
        Uint8Array.from(e.snapshot(), (b, i) => (i === 30 ? b ^ 0x20 : b)),
        { implementation: e.implementation },
      ),
  ],
  [
    'a snapshot of another format version',
    'SNAPSHOT_VERSION',
    (e) =>
      EngineClass.restore(
        Uint8Array.from(e.snapshot(), (b, i) => (i === 8 ? 9 : b)),
        { implementation: e.implementation },
      ),
  ],
  [
    'not a snapshot (bad magic)',
    'SNAPSHOT_INVALID',
    (e) =>
      EngineClass.restore(
        Uint8Array.from(e.snapshot(), (b, i) => (i === 3 ? 0 : b)),
        { implementation: e.implementation },
      ),
  ],
  [
    'a journal that is not one',
    'JOURNAL_INVALID',
    (e) =>
      EngineClass.replay(e.snapshot(), new Uint8Array(200), { implementation: e.implementation }),
  ],
  // Issue 12 item 9: uncoded errors (TypeError, RangeError, SyntaxError before).
  ['a fractional now', 'INVALID_ARGUMENT', (e) => e.depositInsuranceFund('1', 1.5)],
  [
    'now as a word',
    'INVALID_ARGUMENT',
    (e) => e.runWaterfall({ now: 'later' as unknown as number }),
  ],
  [
    'a fractional drawdown window',
    'INVALID_ARGUMENT',
    (e) =>
      e.configureWaterfall({
        fundPolicy: { kind: 'drawdown', trigger: '0.2', stop: '0.1', window: 1.5 },
      }),
  ],
  [
    'a fractional fill.ppmPerLot',
    'INVALID_ARGUMENT',
    (e) => e.runWaterfall({ fill: { ppmPerLot: 1.5, capPpm: 10 } }),
  ],
  [
    'fill.capPpm as a word',
    'INVALID_ARGUMENT',
    (e) => e.runWaterfall({ fill: { ppmPerLot: 1, capPpm: 'lots' as unknown as number } }),
  ],
  [
    "fill: 'banana'",
    'INVALID_ARGUMENT',
    (e) => e.runWaterfall({ fill: 'banana' as unknown as 'mark' }),
  ],
  ['events(1.5)', 'INVALID_ARGUMENT', (e) => e.events(1.5)],
  ['trimming events not yet emitted', 'INVALID_ARGUMENT', (e) => e.trimEvents(1_000)],
  [
    "fundPolicy.kind: 'bogus'",
    'INVALID_ARGUMENT',
    (e) =>
      e.configureWaterfall({ fundPolicy: { kind: 'bogus' } as unknown as { kind: 'exhausted' } }),
  ],
  [
    "adlPrice: 'bogus'",
    'INVALID_ARGUMENT',
    (e) => e.configureWaterfall({ adlPrice: 'bogus' as unknown as 'mark' }),
  ],
  [
    "adlQueue(sym, 'banana')",
    'INVALID_ARGUMENT',
    (e) => e.adlQueue('ETH-PERP', 'banana' as unknown as 'long'),
  ],
  [
    "implementation: 'JS'",
    'INVALID_ARGUMENT',
    () => new EngineClass({ implementation: 'JS' as unknown as 'js' }),
  ],
  [
    "removeAccounts('a') (a string, not a list)",
    'INVALID_ARGUMENT',
    (e) => e.removeAccounts('a' as unknown as string[]),
  ],
  ["positions('a')", 'INVALID_ARGUMENT', (e) => e.positions('a' as unknown as string[])],
  [
    'marks whose prototype carries the market',
    'INVALID_ARGUMENT',
    (e) => e.setMarks({ __proto__: { 'ETH-PERP': '1' } } as unknown as Record<string, string>),
  ],
  [
    'a market named __proto__ (setMarks could never name it)',
    'INVALID_ID',
    (e) => e.addMarket({ ...ETH, symbol: '__proto__' }),
  ],
  [
    'an account named __proto__',
    'INVALID_ID',
    (e) => e.addAccounts([{ id: '__proto__', balance: '1' }]),
  ],
  [
    'the same index twice in core.setBalances',
    'DUPLICATE_ACCOUNT',
    (e) => e.core.setBalances(Uint32Array.of(0, 0), BigInt64Array.of(1n, 2n)),
  ],
  [
    'a decimal string of five million digits',
    'INVALID_NUMBER',
    (e) => e.setBalances({ a: '9'.repeat(5_000_000) }),
  ],
  [
    'an id of a million characters',
    'INVALID_ID',
    (e) => e.addAccounts([{ id: 'x'.repeat(1_000_000), balance: '1' }]),
  ],
  // null / non-object arguments to every public method
  ...(
    [
      ['setMarks', (e) => e.setMarks(null as never)],
      ['updateMarks', (e) => e.updateMarks(null as never)],
      ['setBalances', (e) => e.setBalances(null as never)],
      ['addAccounts', (e) => e.addAccounts(null as never)],
      [
        'addAccounts positions',
        (e) => e.addAccounts([{ id: 'c', balance: '1', positions: 'x' as never }]),
      ],
      ['setPositions', (e) => e.setPositions(null as never)],
      ['applyFills', (e) => e.applyFills(null as never)],
      ['removeAccounts', (e) => e.removeAccounts(null as never)],
      ['addMarket', (e) => e.addMarket(null as never)],
      ['configureWaterfall', (e) => e.configureWaterfall(null as never)],
      [
        'configureWaterfall fundPolicy',
        (e) => e.configureWaterfall({ fundPolicy: 'drawdown' as never }),
      ],
      ['runWaterfall', (e) => e.runWaterfall(null as never)],
      ['settleLiquidationFill', (e) => e.settleLiquidationFill('a', null as never)],
      ['planDeleveraging target', (e) => e.planDeleveraging('a', null as never)],
      ['planDeleveraging target without a goal', (e) => e.planDeleveraging('a', {} as never)],
      [
        'planDeleveraging options',
        (e) => e.planDeleveraging('a', { leverage: '2' }, null as never),
      ],
      ['sweep', (e) => e.sweep(null as never)],
      ['Engine.restore options', (e) => EngineClass.restore(e.snapshot(), null as never)],
      ['Engine options', () => new EngineClass(null as never)],
      ['core.addMarket', (e) => e.core.addMarket(null as never)],
      ['core.configureWaterfall', (e) => e.core.configureWaterfall(undefined as never)],
      ['core.setMarks', (e) => e.core.setMarks(null as never, null as never)],
      ['core.addAccounts', (e) => e.core.addAccounts('ab' as never, BigInt64Array.of(1n, 2n))],
      ['core.sweep', (e) => e.core.sweep(5 as never)],
    ] as Array<[string, (e: Engine) => unknown]>
  ).map(([name, act]): Case => [`null or non-object argument to ${name}`, 'INVALID_ARGUMENT', act]),
  // Pre-trade (SPEC §17).
  [
    'order of zero qty',
    'INVALID_QUANTITY',
    (e) => e.placeOrders([{ account: 'a', symbol: 'ETH-PERP', side: 'buy', qty: '0' }]),
  ],
  [
    'order price off the price decimals',
    'TOO_MANY_DECIMALS',
    (e) =>
      e.checkOrders([{ account: 'a', symbol: 'ETH-PERP', side: 'buy', qty: '1', price: '1.001' }]),
  ],
  [
    'order of an unknown account',
    'UNKNOWN_ACCOUNT',
    (e) => e.placeOrders([{ account: 'zz', symbol: 'ETH-PERP', side: 'sell', qty: '1' }]),
  ],
  [
    'single-order check of an unknown account',
    'UNKNOWN_ACCOUNT',
    (e) => e.core.checkOrder(99, 0, 1n, 0n, false),
  ],
  [
    'single-order check of qty beyond i64',
    'INVALID_ARGUMENT',
    (e) => e.core.checkOrder(0, 0, 1n << 63n, 0n, false),
  ],
  [
    'single-order check of zero qty',
    'INVALID_QUANTITY',
    (e) => e.core.checkOrder(0, 0, 0n, 0n, false),
  ],
  [
    'pre-trade fee rate under both its names',
    'INVALID_ARGUMENT',
    (e) => e.configurePreTrade('ETH-PERP', { orderCostFeeRate: '0.0006', takerFeeRate: '0.0006' }),
  ],
  ['leverage above the maximum', 'INVALID_LEVERAGE', (e) => e.setLeverage('a', 'ETH-PERP', 201)],
  ['leverage zero', 'INVALID_LEVERAGE', (e) => e.setLeverage('a', 'ETH-PERP', 0)],
  ['cancel of an unknown order', 'UNKNOWN_ORDER', (e) => e.cancelOrders(['1'])],
  [
    'price band of 100 %',
    'INVALID_ARGUMENT',
    (e) => e.configurePreTrade('ETH-PERP', { priceBand: '1' }),
  ],
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
    for (const [q, code] of [
      [19, 'INVALID_DECIMALS'],
      [2 ** 32 + 8, 'INVALID_ARGUMENT'],
      [1e21, 'INVALID_ARGUMENT'],
      [-1, 'INVALID_ARGUMENT'],
      [1.5, 'INVALID_DECIMALS'],
    ] as const) {
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
    expect(() =>
      e.setPositions([
        { account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '1' },
        { account: 'b', symbol: 'ETH-PERP', qty: '1', entry: '0' },
      ]),
    ).toThrow(/positions\[1\]\.entry: must be positive/)
    expect(() => e.core.setMarks(Uint32Array.of(0), BigInt64Array.of(-5n))).toThrow(
      /row 0 \(market ETH-PERP\): mark must be within 1\.\.=1000000000000000 ticks \(at most 10000000000000\), got -0\.05 \(-5 ticks\)/,
    )
  })

  it('a failing batch of new accounts adds none of them', () => {
    const e = seeded(implementation)
    const before = e.stateHash()
    expect(
      codeOf(() =>
        e.addAccounts([
          { id: 'c', balance: '1' },
          { id: 'd', balance: '1', positions: [{ symbol: 'ETH-PERP', qty: '1', entry: '0' }] },
        ]),
      ),
    ).toBe('INVALID_PRICE')
    expect(e.stateHash()).toBe(before)
    expect(codeOf(() => e.account('c'))).toBe('UNKNOWN_ACCOUNT')
  })
})

// Issue 12 items 7–10 and the error catalogue.
function errorOf(fn: () => unknown): DeleverageError {
  try {
    fn()
  } catch (e) {
    return e as DeleverageError
  }
  throw new Error('did not throw')
}

describe('one argument conversion, one message, both engines (item 10)', () => {
  const calls: Array<[string, (e: Engine) => unknown]> = [
    [
      'a Uint8Array for markets',
      (e) => e.core.setMarks(Uint8Array.of(0) as never, BigInt64Array.of(5n)),
    ],
    [
      'a Float64Array for marks',
      (e) => e.core.setMarks(Uint32Array.of(0), Float64Array.of(5) as never),
    ],
    ['a plain array for accounts', (e) => e.core.removeAccounts([0] as never)],
    ['a number for a bigint', (e) => e.core.depositFund(5 as never, 0n)],
    ['a missing argument', (e) => (e.core.takeOver as (a: number) => void)(0)],
    ['a string in the ids', (e) => e.core.addAccounts(['c', 7] as never, BigInt64Array.of(1n, 1n))],
    [
      'a field of the wrong type',
      (e) => e.core.configureWaterfall({ ...({} as object), feeRate: 1 } as never),
    ],
    [
      'a Proxy of a typed array',
      (e) => e.core.setMarks(new Proxy(Uint32Array.of(0), {}), BigInt64Array.of(5n)),
    ],
  ]
  it.each(calls)('%s', (_name, act) => {
    const [n, j] = IMPLEMENTATIONS.map((impl) => {
      const e = seeded(impl)
      const before = e.stateHash()
      const err = errorOf(() => act(e))
      expect(e.stateHash()).toBe(before)
      return err
    })
    expect(n).toBeInstanceOf(DeleverageError)
    expect(n!.code).toBe('INVALID_ARGUMENT')
    expect(n!.message).not.toBe('')
    expect(n!.message).not.toMatch(/TypedArray info|Expected \$/)
    expect({ code: n!.code, message: n!.message }).toEqual({ code: j!.code, message: j!.message })
  })

  it('echoed values are cut, and a huge decimal is refused at once', () => {
    for (const impl of IMPLEMENTATIONS) {
      const e = seeded(impl)
      const t0 = performance.now()
      const err = errorOf(() => e.setBalances({ a: '1'.repeat(5_000_000) }))
      expect(performance.now() - t0).toBeLessThan(200)
      expect(err.message.length).toBeLessThan(200)
      expect(err.message).toContain('…')
      expect(
        errorOf(() => e.core.addAccounts(['y'.repeat(100_000)], BigInt64Array.of(1n))).message
          .length,
      ).toBeLessThan(200)
    }
  })
})

describe('shared memory is read once (item 7)', () => {
  function sabOf<T extends Uint32Array | BigInt64Array>(a: T): T {
    const sab = new SharedArrayBuffer(a.byteLength)
    const out = new (a.constructor as new (b: SharedArrayBuffer) => T)(sab)
    out.set(a as never)
    return out
  }

  it('typed arrays on a SharedArrayBuffer are accepted like plain ones, on both engines', () => {
    const hashes = IMPLEMENTATIONS.map((impl) => {
      const plain = seeded(impl)
      const shared = seeded(impl)
      plain.core.setMarks(Uint32Array.of(0), BigInt64Array.of(190_000n))
      shared.core.setMarks(sabOf(Uint32Array.of(0)), sabOf(BigInt64Array.of(190_000n)))
      shared.core.setBalances(sabOf(Uint32Array.of(1)), sabOf(BigInt64Array.of(5n)))
      plain.core.setBalances(Uint32Array.of(1), BigInt64Array.of(5n))
      expect(shared.stateHash()).toBe(plain.stateHash())
      expect(
        codeOf(() => shared.core.setMarks(sabOf(Uint32Array.of(0)), sabOf(BigInt64Array.of(0n)))),
      ).toBe('INVALID_PRICE')
      return shared.stateHash()
    })
    expect(hashes[0]).toBe(hashes[1])
  })

  it('a column that changes between reads (a Proxy standing in for a racing worker) cannot slip a 0 mark past validation', () => {
    // The old TypeScript engine took any `instanceof BigInt64Array`, validated marks[0] = 5 and
    // then stored the 0 the next read returned. Now only a real typed array passes, read once.
    for (const impl of IMPLEMENTATIONS) {
      const e = seeded(impl)
      const before = e.stateHash()
      let reads = 0
      const marks = new Proxy(BigInt64Array.of(190_000n), {
        get: (t, k) => (k === '0' ? (reads++ === 0 ? 190_000n : 0n) : Reflect.get(t, k, t)),
      })
      expect(codeOf(() => e.core.setMarks(Uint32Array.of(0), marks))).toBe('INVALID_ARGUMENT')
      expect(e.stateHash()).toBe(before)
      expect(() => e.sweep()).not.toThrow()
    }
  })

  it('a worker flipping a shared mark between valid and 0 never gets a 0 mark in', async () => {
    const { Worker } = await import('node:worker_threads')
    for (const impl of IMPLEMENTATIONS) {
      const e = seeded(impl)
      const marks = new BigInt64Array(new SharedArrayBuffer(8))
      const stop = new Int32Array(new SharedArrayBuffer(4))
      marks[0] = 190_000n
      const w = new Worker(
        'const { workerData: [m, s] } = require("node:worker_threads"); const a = new BigInt64Array(m), st = new Int32Array(s); while (Atomics.load(st, 0) === 0) { Atomics.store(a, 0, 0n); Atomics.store(a, 0, 190000n) }',
        { eval: true, workerData: [marks.buffer, stop.buffer] },
      )
      await new Promise((r) => setTimeout(r, 50))
      let refused = 0
      for (let i = 0; i < 3000; i++) {
        try {
          e.core.setMarks(Uint32Array.of(0), marks)
        } catch (x) {
          expect((x as DeleverageError).code).toBe('INVALID_PRICE')
          refused++
        }
        // A 0 mark would divide by zero in the sweep and make a snapshot the engine refuses.
        if (i % 100 === 0)
          expect(() =>
            EngineClass.restore(e.snapshot(), { implementation: impl }).sweep(),
          ).not.toThrow()
      }
      Atomics.store(stop, 0, 1)
      await w.terminate()
      expect(() => e.sweep()).not.toThrow()
      expect(refused).toBeLessThan(3000)
    }
  })
})

describe('one source of truth for markets (item 8)', () => {
  it.each(IMPLEMENTATIONS)(
    'core.addMarket is seen by positions(), events() and runWaterfall() on %s',
    (implementation) => {
      const e = seeded(implementation)
      const x = e.core.addMarket(
        e.marketInit({ ...ETH, symbol: 'SOL-PERP', priceDecimals: 3, mark: '20.000' }),
      )
      e.core.setPositions(
        Uint32Array.of(0),
        Uint32Array.of(x),
        BigInt64Array.of(-900_000n),
        BigInt64Array.of(20_000n),
        BigInt64Array.of(0n),
        Uint8Array.of(0),
      )
      expect(e.positions().find((p) => p.symbol === 'SOL-PERP')?.qty).toBe('-900.000')
      e.setMarks({ 'SOL-PERP': '22.500' })
      e.depositInsuranceFund('100')
      const events = e.runWaterfall({ now: 1 })
      expect(events.some((ev) => ev.symbol === 'SOL-PERP')).toBe(true)
      expect(e.events()).toEqual(events.length ? e.events() : [])
      expect(e.events().filter((ev) => ev.symbol === 'SOL-PERP').length).toBeGreaterThan(0)
    },
  )
})

describe('the error catalogue', () => {
  it('every code of the Rust enum is in the TypeScript ErrorCode and in docs/ERRORS.md, and every TypeScript code in ERRORS.md', () => {
    const rust = readFileSync(new URL('../crates/core/src/error.rs', import.meta.url), 'utf8')
    const rustCodes = [...rust.matchAll(/ErrorCode::\w+ => "([A-Z_]+)"/g)].map((m) => m[1]!)
    expect(rustCodes.length).toBeGreaterThan(15)
    const ts = new Set<string>(Object.values(ErrorCode))
    for (const c of rustCodes) expect(ts.has(c), c).toBe(true)
    expect(Object.values(ErrorCode).length).toBe(rustCodes.length)
    const doc = readFileSync(new URL('../docs/ERRORS.md', import.meta.url), 'utf8')
    for (const c of [...Object.values(ErrorCode), ...Object.values(ApiErrorCode)])
      expect(doc, c).toContain(`| \`${c}\` |`)
  })

  it('every code thrown in src/ is an ErrorCode', () => {
    const codes = new Set<string>([...Object.values(ErrorCode), ...Object.values(ApiErrorCode)])
    const { readdirSync } = require('node:fs') as typeof import('node:fs')
    const files = ['', 'fallback/'].flatMap((d) =>
      readdirSync(new URL(`../src/${d}`, import.meta.url))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `../src/${d}${f}`),
    )
    for (const f of files) {
      const text = readFileSync(new URL(f, import.meta.url), 'utf8')
      for (const m of text.matchAll(/DeleverageError\('([A-Z_]+)'/g))
        expect(codes.has(m[1]!), `${f}: ${m[1]}`).toBe(true)
    }
  })
})

describe('rates in messages are decimals as the user wrote them (issue 14 item 6)', () => {
  // Internal units (10^-8) leaked into these messages as e.g. "150000000e-8".
  const rated: Array<[name: string, act: (e: Engine) => unknown, shown: string]> = [
    ['fee rate', (e) => e.configureWaterfall({ liquidationFee: '1.5' }), 'got 1.5'],
    ['buffer', (e) => e.configureWaterfall({ buffer: '10.25' }), 'got 10.25'],
    ['funding rate', (e) => e.settleFunding('ETH-PERP', '-1.005'), 'got -1.005'],
    ['planner fee', (e) => e.planDeleveraging('a', { leverage: '2' }, { fee: '1' }), 'got 1'],
  ]
  it.each(rated)('%s', (_name, act, shown) => {
    const messages = IMPLEMENTATIONS.map((impl) => errorOf(() => act(seeded(impl))).message)
    for (const m of messages) {
      expect(m).toContain(shown)
      expect(m).not.toContain('e-8')
    }
    expect(new Set(messages).size).toBe(1)
  })
})

describe('prices in messages are prices as the user wrote them (issue 17)', () => {
  // These spoke in ticks only: "must be within 1..=1000000000000000 ticks, got 2000000000000000".
  const priced: Array<[name: string, code: string, act: (e: Engine) => unknown, shown: string]> = [
    [
      'a mark beyond 10^15 ticks',
      'INVALID_PRICE',
      (e) => e.setMarks({ 'ETH-PERP': '20000000000000' }),
      'mark must be within 1..=1000000000000000 ticks (at most 10000000000000), got 20000000000000 (2000000000000000 ticks)',
    ],
    [
      'a mark off the tick size',
      'INVALID_PRICE',
      (e) => e.addMarket({ ...ETH, symbol: 'X', tickSize: '0.03', mark: '100.01' }),
      'got 100.01 (10001 price units)',
    ],
    [
      'an entry beyond 10^15 ticks',
      'INVALID_PRICE',
      (e) =>
        e.setPositions([{ account: 'a', symbol: 'ETH-PERP', qty: '1', entry: '20000000000000' }]),
      'entry must be within 1..=1000000000000000 ticks (at most 10000000000000), got 20000000000000 (2000000000000000 ticks)',
    ],
    [
      'a fill price beyond 10^15 ticks',
      'INVALID_PRICE',
      (e) =>
        e.applyFills([{ account: 'a', symbol: 'ETH-PERP', qty: '1', price: '20000000000000' }]),
      'fill price must be within 1..=1000000000000000 ticks (at most 10000000000000), got 20000000000000 (2000000000000000 ticks)',
    ],
    [
      'an order price beyond 10^15 ticks',
      'INVALID_PRICE',
      (e) =>
        e.checkOrders([
          { account: 'a', symbol: 'ETH-PERP', side: 'buy', qty: '1', price: '20000000000000' },
        ]),
      'order price must be within 1..=1000000000000000 ticks (at most 10000000000000), got 20000000000000 (2000000000000000 ticks)',
    ],
    [
      'a map range the wrong way round',
      'INVALID_ARGUMENT',
      (e) => e.liquidationMap('ETH-PERP', { from: '3100', to: '2900' }),
      'from must be below to, got 3100 and 2900 (310000 and 290000 ticks)',
    ],
    [
      'a map with more buckets than price steps',
      'INVALID_ARGUMENT',
      (e) => e.liquidationMap('ETH-PERP', { from: '2000', to: '2000.05', buckets: 6 }),
      'at most the 5 ticks of 0.01 between from and to, got 6',
    ],
  ]
  it.each(priced)('%s', (_name, code, act, shown) => {
    const errors = IMPLEMENTATIONS.map((impl) => errorOf(() => act(seeded(impl))))
    for (const err of errors) {
      expect(err.code).toBe(code)
      expect(err.message).toContain(shown)
    }
    expect(new Set(errors.map((e) => e.message)).size).toBe(1)
  })
})
