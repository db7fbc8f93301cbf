// Unit tests of the TypeScript engine (src/fallback): the num.rs arithmetic, hand-checked market
// formulas, atomic batches, the liquidation-price flip property, and the proof that every number
// fast path returns exactly what the BigInt reference returns.
import { afterEach, describe, expect, it } from 'vitest'
import { CROSS, FLAG_COST_BASIS, FLAG_ISOLATED, type MarketInit } from '../src/core.js'
import { DeleverageError, JsEngine } from '../src/fallback/index.js'
import { cmpFraction, cmpProducts } from '../src/fallback/adl.js'
import { rustDebugStr } from '../src/fallback/errors.js'
import {
  PairSet,
  ceilDivF,
  entryInDomainF,
  floorDivF,
  mmF,
  setFastPaths,
  upnlF,
} from '../src/fallback/fast.js'
import {
  bankruptcyPrice,
  bankruptcyPriceRef,
  domain,
  liquidationPrice,
  liquidationPriceRef,
} from '../src/fallback/liq.js'
import { Market, SAFE, type MarketSpec } from '../src/fallback/market.js'
import {
  Ceil,
  Floor,
  I128_MAX,
  I128_MIN,
  I64_MAX,
  I64_MIN,
  add,
  divCeil,
  divFloor,
  mul,
  ratio,
  scale,
  sub,
  toI64,
} from '../src/fallback/num.js'

afterEach(() => setFastPaths(true))

/** Deterministic PRNG (mulberry32). */
function rng(seed: number) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  /** A bigint in [lo, hi]. */
  const big = (lo: bigint, hi: bigint) => {
    let r = 0n
    for (let i = 0; i < 4; i++) r = (r << 32n) | BigInt(Math.floor(next() * 4294967296))
    return lo + (r % (hi - lo + 1n))
  }
  /** Magnitude class: uniform exponent in 0..maxExp, then a value of that many digits. */
  const mag = (maxExp: number) => {
    const e = BigInt(int(0, maxExp))
    return big(10n ** e, 10n ** (e + 1n) - 1n)
  }
  return { next, int, big, mag, pick: <T>(xs: T[]): T => xs[int(0, xs.length - 1)] as T }
}

function thrown(f: () => unknown): DeleverageError {
  try {
    f()
  } catch (e) {
    expect(e).toBeInstanceOf(DeleverageError)
    return e as DeleverageError
  }
  throw new Error('did not throw')
}

const i64s = (...xs: bigint[]) => BigInt64Array.from(xs)
const u32s = (...xs: number[]) => Uint32Array.from(xs)

describe('num (num.rs)', () => {
  it('floor and ceil division follow the sign (BigInt `/` truncates)', () => {
    expect(divFloor(7n, 2n)).toBe(3n)
    expect(divFloor(-7n, 2n)).toBe(-4n)
    expect(divCeil(7n, 2n)).toBe(4n)
    expect(divCeil(-7n, 2n)).toBe(-3n)
    expect(divFloor(-8n, 2n)).toBe(-4n)
    expect(divCeil(-8n, 2n)).toBe(-4n)
    expect(divFloor(0n, 5n)).toBe(0n)
    expect(divCeil(-1n, 10n ** 20n)).toBe(0n)
    expect(divFloor(-1n, 10n ** 20n)).toBe(-1n)
  })

  it('scale and ratio round as asked', () => {
    expect(scale(-15n, -1, Floor, 't')).toBe(-2n)
    expect(scale(-15n, -1, Ceil, 't')).toBe(-1n)
    expect(scale(15n, 2, Ceil, 't')).toBe(1500n)
    expect(ratio(7n, 1, 3n, Floor, 't')).toBe(23n) // 70 / 3
    expect(ratio(-7n, 1, 3n, Ceil, 't')).toBe(-23n)
    expect(ratio(7n, -1, 3n, Ceil, 't')).toBe(1n) // 7 / 30
    expect(ratio(-7n, -1, 3n, Floor, 't')).toBe(-1n)
  })

  it('checked ops overflow exactly at the i128 / i64 bounds, naming the place', () => {
    expect(thrown(() => scale(I128_MAX / 10n + 1n, 1, Ceil, 'here')).message).toBe(
      'arithmetic overflow in here',
    )
    expect(scale(I128_MAX / 10n, 1, Ceil, 'here')).toBe((I128_MAX / 10n) * 10n)
    expect(add(I128_MAX - 1n, 1n, 'a')).toBe(I128_MAX)
    expect(thrown(() => add(I128_MAX, 1n, 'a')).code).toBe('OVERFLOW')
    expect(sub(I128_MIN + 1n, 1n, 's')).toBe(I128_MIN)
    expect(thrown(() => sub(I128_MIN, 1n, 's')).message).toBe('arithmetic overflow in s')
    expect(mul(-(1n << 63n), 1n << 64n, 'm')).toBe(I128_MIN)
    expect(thrown(() => mul(1n << 63n, 1n << 64n, 'm')).code).toBe('OVERFLOW')
    expect(thrown(() => ratio(I128_MAX, -1, I128_MAX, Floor, 'den')).message).toBe(
      'arithmetic overflow in den',
    )
    expect(toI64(I64_MAX, 'x')).toBe(I64_MAX)
    expect(toI64(I64_MIN, 'x')).toBe(I64_MIN)
    expect(thrown(() => toI64(I64_MAX + 1n, 'x')).message).toBe('arithmetic overflow in x')
    expect(thrown(() => toI64(I64_MIN - 1n, 'x')).code).toBe('OVERFLOW')
  })

  it('the double floor/ceil division equals the BigInt one', () => {
    const r = rng(7)
    const edges = [0, 1, 2, 3, 9, 10, 11, 999_999, 10 ** 6, SAFE / 2 - 1, SAFE / 2, SAFE - 1]
    const check = (n: number, d: number) => {
      expect(floorDivF(n, d)).toBe(Number(divFloor(BigInt(n), BigInt(d))))
      expect(ceilDivF(n, d)).toBe(Number(divCeil(BigInt(n), BigInt(d))))
    }
    for (const n of edges)
      for (const d of edges) if (d > 0) for (const s of [1, -1]) check(n === 0 ? 0 : s * n, d)
    for (let i = 0; i < 20_000; i++) {
      const n = Number(r.big(0n, BigInt(SAFE - 1))) / 10 ** r.int(0, 15)
      const d = Math.max(1, Math.floor(Number(r.big(1n, BigInt(SAFE - 1))) / 10 ** r.int(0, 15)))
      const v = Math.floor(n)
      check(v === 0 || r.next() < 0.5 ? v : -v, d)
    }
  })
})

describe('cmp_products / cmp_fraction (adl.rs)', () => {
  it('compares exact products of any signs, and fractions as cross products', () => {
    const M = (1n << 127n) - 1n // i128::MAX: the products need 254 bits
    expect(cmpProducts(M, 1_000_000n, 1n, M)).toBe(1)
    expect(cmpProducts(M, 1_000_000n, 1_000_000n, M)).toBe(0)
    expect(cmpProducts(-M, M, M, -M)).toBe(0)
    expect(cmpProducts(-1n, M, 0n, 5n)).toBe(-1)
    expect(cmpProducts(-M, -M, M, M - 1n)).toBe(1)
    expect(cmpProducts(-2n, 3n, 2n, -2n)).toBe(-1)
    expect(cmpFraction(1n, 3n, 2n, 6n)).toBe(0) // 1/3 vs 2/6
    expect(cmpFraction(-1n, 3n, -1n, 4n)).toBe(-1) // −1/3 < −1/4
    expect(cmpFraction(M, M - 1n, 1n, 1n)).toBe(1)
  })
})

describe('errors (error.rs)', () => {
  it('DeleverageError carries the code; the message has no code prefix', () => {
    const e = thrown(() => new JsEngine(19))
    expect(e.name).toBe('DeleverageError')
    expect(e.code).toBe('INVALID_DECIMALS')
    expect(e.message).toBe('quoteDecimals must be 0..=18, got 19')
    expect(e).toBeInstanceOf(Error)
  })

  it('formats strings like Rust {:?}', () => {
    expect(rustDebugStr('a b')).toBe('"a b"')
    expect(rustDebugStr('t\t"q"\\\n\r\0')).toBe('"t\\t\\"q\\"\\\\\\n\\r\\0"')
    expect(rustDebugStr('café')).toBe('"café"')
    expect(rustDebugStr('\u0301x')).toBe('"\\u{301}x"')
    expect(rustDebugStr('zero\u200bwidth\u007f')).toBe('"zero\\u{200b}width\\u{7f}"')
    expect(rustDebugStr('\u00a0')).toBe('"\\u{a0}"')
  })
})

// Binance-like BTCUSDT: USDT atoms 1e-6, price 0.1, qty 0.001; value units (lots·ticks) = 1e-4 USDT.
const linearInit = (over: Partial<MarketInit> = {}): MarketInit => ({
  symbol: 'BTCUSDT',
  kind: 0,
  priceDecimals: 1,
  qtyDecimals: 3,
  contractSize: 1n,
  basis: 0,
  form: 0,
  floors: i64s(0n, 500_000_000n), // 0 and 50,000 USDT
  mmr: i64s(400_000n, 500_000n), // 0.4 %, 0.5 %
  imr: i64s(800_000n, 1_000_000n),
  mark: 500_000n, // 50,000.0
  ...over,
})

// Coin-margined BTCUSD: satoshi atoms, price 0.1 USD, whole contracts of 100 USD.
const inverseInit = (over: Partial<MarketInit> = {}): MarketInit => ({
  symbol: 'BTCUSD',
  kind: 1,
  priceDecimals: 1,
  qtyDecimals: 0,
  contractSize: 100n,
  basis: 0,
  form: 0,
  floors: i64s(0n),
  mmr: i64s(500_000n),
  imr: i64s(1_000_000n),
  mark: 500_000n,
  ...over,
})

function specOf(init: MarketInit): MarketSpec {
  return {
    ...init,
    floors: Array.from(init.floors),
    mmr: Array.from(init.mmr),
    imr: Array.from(init.imr),
    maintAmount: init.maintAmount === undefined ? null : [...init.maintAmount],
  }
}

describe('market formulas (market.rs), hand-checked', () => {
  it('linear: uPnL, maintenance margin and margin ratio', () => {
    const e = new JsEngine(6)
    expect(e.addMarket(linearInit())).toBe(0)
    expect(e.addAccounts(['alice'], i64s(1_000_000_000n))).toBe(0) // 1,000 USDT
    // long 0.5 BTC at 40,000.0: cost = 500 · 400,000 lots·ticks
    e.setPositions(u32s(0), u32s(0), i64s(500n), i64s(400_000n), i64s(0n), new Uint8Array([0]))
    const r = e.positionRisks(null)
    expect(r.cost[0]).toBe(200_000_000n)
    // uPnL = 0.5 · 10,000 = 5,000 USDT; value 25,000 USDT in tier 0 → MM = 0.4 % = 100 USDT
    expect(r.upnl[0]).toBe(5_000_000_000n)
    expect(r.maintenanceMargin[0]).toBe(100_000_000n)
    const rows = e.accountRows(null)
    expect(rows.market[0]).toBe(CROSS)
    expect(rows.equity[0]).toBe(6_000_000_000n)
    expect(rows.maintenanceMargin[0]).toBe(100_000_000n)
    expect(rows.marginRatioPpm[0]).toBe(16_667n) // ceil(100 / 6,000 · 10^6)
    expect(rows.liquidatable[0]).toBe(0)
    // Above the 50,000 USDT floor the derived amount applies: cum = 5e8 · (0.5 % − 0.4 %)
    // value 60,000 USDT → MM = 60,000 · 0.5 % − 50,000 · 0.1 % = 300 − 50 = 250 USDT.
    e.setMarks(u32s(0), i64s(1_200_000n))
    expect(e.positionRisks(null).maintenanceMargin[0]).toBe(250_000_000n)
  })

  it('linear uPnL rounds down to the atom', () => {
    // quote 0 decimals: atoms are whole USDT, value units 1e-4 → floor((v − c) / 10^4)
    const m = Market.create(
      specOf(linearInit({ floors: i64s(0n), mmr: i64s(400_000n), imr: i64s(400_000n) })),
      0,
    )
    expect(m.quoteExp()).toBe(-4)
    expect(m.upnlAt(1n, 499_999n, 500_000n, 0)).toBe(0n) // +0.0001
    expect(m.upnlAt(1n, 500_001n, 500_000n, 0)).toBe(-1n) // −0.0001
    expect(m.upnlAt(-3n, -1_500_000n, 500_001n, 0)).toBe(-1n) // −0.0003
    // MM rounds up: 1 · 500,000 · 0.4 % = 2,000 units = 0.2 USDT → 1
    expect(m.maintenanceMarginAt(1n, 0n, 500_000n, 0)).toBe(1n)
  })

  it('inverse: cost basis, uPnL and maintenance margin in satoshi', () => {
    const m = Market.create(specOf(inverseInit()), 8)
    expect(m.inverseExp()).toBe(9)
    // 10 contracts · 100 USD at 40,000.0: floor(1e3 · 1e9 / 400,000) = 2,500,000 sat
    expect(m.costBasis(10n, 400_000n)).toBe(2_500_000n)
    // value at 50,000.0 = 2,000,000 sat → uPnL 0.005 BTC
    expect(m.upnl(10n, 2_500_000n)).toBe(500_000n)
    expect(m.maintenanceMargin(10n, 2_500_000n)).toBe(10_000n) // 0.5 % of 0.02 BTC
    // rounding: cost basis rounds down, the value at a mark rounds up (so uPnL rounds down):
    // 1e12 / 300,007 = 3,333,255.3…
    expect(m.costBasis(10n, 300_007n)).toBe(3_333_255n)
    expect(m.costBasis(-10n, 300_007n)).toBe(-3_333_256n)
    expect(m.upnlAt(10n, 0n, 300_007n, 0)).toBe(-3_333_256n)
    expect(m.upnlAt(-10n, 0n, 300_007n, 0)).toBe(3_333_255n)
    expect(m.maintenanceMarginAt(10n, 0n, 300_007n, 0)).toBe(16_667n) // ceil(3,333,256 · 0.005)
  })

  it('rejects bad markets with the Rust messages', () => {
    const e = new JsEngine(6)
    expect(thrown(() => e.addMarket(linearInit({ symbol: 'a b' }))).message).toBe(
      'market symbol must be 1–64 bytes of UTF-8 without spaces or control characters, got "a b"',
    )
    expect(
      thrown(() => e.addMarket(linearInit({ priceDecimals: 9, qtyDecimals: 8 }))).message,
    ).toBe(
      'market BTCUSDT: priceDecimals + qtyDecimals (17) may exceed quoteDecimals (6) by at most 10',
    )
    expect(thrown(() => e.addMarket(linearInit({ mark: 0n }))).message).toBe(
      'market BTCUSDT: mark must be within 1..=1000000000000000 ticks (at most 100000000000000), got 0 (0 ticks)',
    )
    const t = thrown(() =>
      e.addMarket(linearInit({ maintAmount: [0n, 500_000_000n * 100_000n + 1n] })),
    )
    expect(t.code).toBe('INVALID_TIERS')
    expect(t.message).toBe(
      'market BTCUSDT: tier 1: maintenance amount 50.000000000001 exceeds 50 derived from the floor, so maintenance margin would fall at the tier boundary',
    )
    expect(thrown(() => e.addMarket(linearInit({ kind: 2 }))).message).toBe(
      'market kind must be 0 (linear) or 1 (inverse), got 2',
    )
    expect(thrown(() => e.addMarket(linearInit({ kind: -1 }))).code).toBe('INVALID_ARGUMENT')
    expect(
      thrown(() =>
        e.addMarket(linearInit({ floors: new Float64Array([0]) as unknown as BigInt64Array })),
      ).message,
    ).toBe('floors must be a BigInt64Array, got Float64Array')
    expect(thrown(() => e.addMarket(linearInit({ contractSize: 1n << 63n }))).message).toBe(
      'contractSize does not fit a 64-bit integer',
    )
    expect(thrown(() => e.addMarket(linearInit({ maintAmount: [0n, 1n << 127n] }))).code).toBe(
      'OVERFLOW',
    )
    e.addMarket(linearInit())
    expect(thrown(() => e.addMarket(linearInit())).code).toBe('DUPLICATE_MARKET')
    expect(e.marketIndex('BTCUSDT')).toBe(0)
    expect(e.marketIndex('ETHUSDT')).toBeNull()
  })
})

describe('batches are atomic', () => {
  function setup() {
    const e = new JsEngine(6)
    // One settlement asset for both (SPEC §5.4): account c holds a position in each.
    e.addMarket({ ...linearInit(), settleAsset: 'X' })
    e.addMarket({ ...inverseInit({ symbol: 'BTCUSD_INV' }), settleAsset: 'X' })
    e.addAccounts(['a', 'b', 'c'], i64s(1_000_000_000n, 2_000_000_000n, 50_000_000n))
    e.setPositions(
      u32s(0, 1, 2, 2),
      u32s(0, 0, 0, 1),
      i64s(500n, -200n, 1000n, 10n),
      i64s(400_000n, 510_000n, 495_000n, 450_000n),
      i64s(0n, 0n, 0n, 0n),
      new Uint8Array(4),
    )
    return e
  }
  const state = (e: JsEngine) =>
    JSON.stringify(
      {
        rows: e.accountRows(null),
        risks: e.positionRisks(null),
        sweep: e.sweep(900_000n),
        n: [e.accountCount(), e.positionCount()],
      },
      (_, v) =>
        typeof v === 'bigint'
          ? v.toString()
          : ArrayBuffer.isView(v)
            ? Array.from(v as unknown as ArrayLike<unknown>, String)
            : v,
    )

  it('a rejected setPositions leaves the state unchanged', () => {
    const e = setup()
    const before = state(e)
    // rows 0–1 are fine (a change and a removal), row 2 has an entry out of range
    const err = thrown(() =>
      e.setPositions(
        u32s(0, 1, 2),
        u32s(0, 0, 1),
        i64s(700n, 0n, 5n),
        i64s(410_000n, 1n, 0n),
        i64s(0n, 0n, 0n),
        new Uint8Array(3),
      ),
    )
    expect(err.code).toBe('INVALID_PRICE')
    expect(err.message).toBe(
      'row 2 (account c, market BTCUSD_INV): entry must be within 1..=1000000000000000 ticks (at most 100000000000000), got 0 (0 ticks)',
    )
    expect(state(e)).toBe(before)
    expect(
      thrown(() =>
        e.setPositions(
          u32s(0, 0),
          u32s(1, 1),
          i64s(1n, 2n),
          i64s(1n, 1n),
          i64s(0n, 0n),
          new Uint8Array(2),
        ),
      ).message,
    ).toBe('row 1: account a has two rows for market BTCUSD_INV')
    expect(
      thrown(() =>
        e.setPositions(u32s(0), u32s(1), i64s(1n), i64s(1n), i64s(0n), new Uint8Array([4])),
      ).message,
    ).toBe('row 0: unknown flag bits 0x4')
    expect(
      thrown(() =>
        e.setPositions(
          u32s(0),
          u32s(0),
          i64s(-5n),
          i64s(7n),
          i64s(0n),
          new Uint8Array([FLAG_COST_BASIS]),
        ),
      ).message,
    ).toBe(
      'row 0 (account a, market BTCUSDT): cost basis must be non-zero with the sign of qty (-5), got 7',
    )
    expect(
      thrown(() =>
        e.setPositions(u32s(0), u32s(0), i64s(5n), i64s(7n), i64s(3n), new Uint8Array([0])),
      ).code,
    ).toBe('INVALID_AMOUNT')
    expect(
      thrown(() =>
        e.setPositions(u32s(0), u32s(0), i64s(5n), i64s(7n), i64s(3n), new Uint8Array(2)),
      ).message,
    ).toBe('setPositions: columns differ in length [1, 1, 1, 1, 1, 2]')
    expect(
      thrown(() =>
        e.setPositions(
          u32s(0),
          u32s(0),
          i64s(5n),
          new Float64Array([7]) as unknown as BigInt64Array,
          i64s(0n),
          new Uint8Array(1),
        ),
      ).message,
    ).toBe('price must be a BigInt64Array, got Float64Array')
    expect(state(e)).toBe(before)
  })

  it('rejected account and mark batches leave the state unchanged', () => {
    const e = setup()
    const before = state(e)
    expect(thrown(() => e.addAccounts(['d', 'a'], i64s(1n, 2n))).message).toBe(
      'row 1: account a already exists',
    )
    expect(thrown(() => e.addAccounts(['d', 'd'], i64s(1n, 2n))).code).toBe('DUPLICATE_ACCOUNT')
    expect(thrown(() => e.addAccounts(['d', 'e\tf'], i64s(1n, 2n))).message).toBe(
      'row 1: account id must be 1–64 bytes of UTF-8 without spaces or control characters, got "e\\tf"',
    )
    expect(thrown(() => e.setMarks(u32s(0, 1), i64s(1n, 0n))).message).toBe(
      'row 1 (market BTCUSD_INV): mark must be within 1..=1000000000000000 ticks (at most 100000000000000), got 0 (0 ticks)',
    )
    expect(thrown(() => e.setMarks(u32s(0, 5), i64s(1n, 1n))).message).toBe(
      'row 1: no market with index 5',
    )
    expect(thrown(() => e.setBalances(u32s(0, 9), i64s(1n, 1n))).message).toBe(
      'row 1: no account with index 9',
    )
    expect(thrown(() => e.removeAccounts(u32s(2, 2))).message).toBe(
      'row 1: account index 2 listed twice',
    )
    expect(thrown(() => e.sweep(0n)).message).toBe('warning ratio must be positive, got 0 ppm')
    expect(state(e)).toBe(before)
  })

  it('removal swaps the last slot in and keeps every account consistent', () => {
    const e = setup()
    e.removeAccounts(u32s(0))
    expect(e.accountCount()).toBe(2)
    expect(e.positionCount()).toBe(3)
    expect(e.accountIndex('a')).toBeNull()
    expect(e.accountId(0)).toBe('a') // removed, but events still name it
    expect(thrown(() => e.accountId(3)).message).toBe('no account with index 3')
    expect(e.accountId(2)).toBe('c')
    const r = e.positionRisks(null)
    expect(Array.from(r.account)).toEqual([1, 2, 2])
    expect(Array.from(r.market)).toEqual([0, 0, 1])
    expect(Array.from(r.qty)).toEqual([-200n, 1000n, 10n])
    // removing with qty 0 and re-adding appends at the end of the market's columns
    e.setPositions(
      u32s(1, 1),
      u32s(0, 1),
      i64s(0n, -3n),
      i64s(0n, 600_000n),
      i64s(0n, 0n),
      new Uint8Array(2),
    )
    expect(e.positionCount()).toBe(3)
    expect(Array.from(e.positionRisks(u32s(1)).market)).toEqual([1])
    expect(Array.from(e.balances(u32s(2, 1)))).toEqual([50_000_000n, 2_000_000_000n])
  })
})

/** Random markets (linear and inverse, both bases and forms, several tiers) for one engine. */
function randomMarkets(
  r: ReturnType<typeof rng>,
  quoteDecimals: number,
  count: number,
): MarketInit[] {
  const out: MarketInit[] = []
  for (let i = 0; i < count; i++) {
    const kind = r.int(0, 1)
    let p: number, d: number
    do {
      p = r.int(0, 8)
      d = r.int(0, 8)
    } while (kind === 0 ? p + d > quoteDecimals + 10 : Math.abs(p - d + quoteDecimals) > 12)
    const n = r.int(1, 4)
    const floors = [0n]
    for (let t = 1; t < n; t++) floors.push((floors[t - 1] as bigint) + r.mag(r.int(3, 14)))
    const mmr: bigint[] = []
    let rate = BigInt(r.int(100_000, 2_000_000))
    for (let t = 0; t < n; t++) {
      mmr.push(rate)
      rate += BigInt(r.int(0, 3_000_000))
    }
    out.push({
      symbol: `M${i}`,
      kind,
      priceDecimals: p,
      qtyDecimals: d,
      contractSize: kind === 0 ? 1n : r.pick([1n, 10n, 100n, BigInt(r.int(1, 1000))]),
      basis: r.int(0, 1),
      form: r.int(0, 1),
      floors: BigInt64Array.from(floors),
      mmr: BigInt64Array.from(mmr),
      imr: BigInt64Array.from(mmr, (x) => x * 2n),
      mark: r.mag(r.int(2, 9)),
      settleAsset: 'X', // one asset (SPEC §5.4): accounts hold positions in several of these
    })
  }
  return out
}

describe('liquidation and bankruptcy prices (liq.rs)', () => {
  it('flip where reported: liquidatable at the conservative price, not one tick better', () => {
    const r = rng(2024)
    let checked = 0
    let isolatedChecked = 0
    let bankruptcyChecked = 0
    for (let round = 0; round < 8; round++) {
      const Q = r.pick([2, 6, 8])
      const e = new JsEngine(Q)
      const markets = randomMarkets(r, Q, 3)
      for (const m of markets) e.addMarket(m)
      const models = markets.map((m) => Market.create(specOf(m), Q))
      const nAcc = 40
      e.addAccounts(
        Array.from({ length: nAcc }, (_, i) => `acc${i}`),
        BigInt64Array.from({ length: nAcc }, () => r.mag(r.int(2, 11))),
      )
      // one position per account (in a random market), plus a second cross one for some
      const a: number[] = []
      const mk: number[] = []
      const q: bigint[] = []
      const p: bigint[] = []
      const im: bigint[] = []
      const f: number[] = []
      for (let i = 0; i < nAcc; i++) {
        const count = r.next() < 0.3 ? 2 : 1
        const first = r.int(0, 2)
        for (let k = 0; k < count; k++) {
          const m = (first + k) % 3
          const spec = markets[m] as MarketInit
          const iso = k === 0 && r.next() < 0.2
          const entry =
            spec.mark + ((r.next() < 0.5 ? -1n : 1n) * (spec.mark * BigInt(r.int(0, 30)))) / 100n
          a.push(i)
          mk.push(m)
          q.push((r.next() < 0.5 ? -1n : 1n) * r.mag(r.int(0, 5)))
          p.push(entry > 0n ? entry : 1n)
          im.push(iso ? r.mag(r.int(1, 9)) : 0n)
          f.push(iso ? FLAG_ISOLATED : 0)
        }
      }
      try {
        e.setPositions(
          Uint32Array.from(a),
          Uint32Array.from(mk),
          BigInt64Array.from(q),
          BigInt64Array.from(p),
          BigInt64Array.from(im),
          Uint8Array.from(f),
        )
      } catch {
        continue // a value that does not fit i64 atoms; try the next round
      }
      const risks = e.positionRisks(null)
      const marks = markets.map((m) => m.mark)
      for (let j = 0; j < risks.account.length; j++) {
        const t = risks.liquidationPrice[j] as bigint
        if (t === 0n) continue
        const acc = risks.account[j] as number
        const m = risks.market[j] as number
        const long = (risks.qty[j] as bigint) > 0n
        const iso = risks.isolated[j] === 1
        const near = risks.liquidationPriceNearest[j] as bigint
        // SPEC §6.3: the trigger fires at the nearest price or earlier (the rounding favours the
        // venue), at most one tick after it; the nearest may lie many ticks beyond the trigger.
        expect(long ? near <= t + 1n : near >= t - 1n).toBe(true)
        const better = long ? t + 1n : t - 1n
        const [lo, hi] = domain(models[m] as Market, risks.qty[j] as bigint, 0)
        const liquidatableAt = (x: bigint): boolean => {
          e.setMarks(u32s(m), i64s(x))
          if (!iso) return e.accountRows(u32s(acc)).liquidatable[0] === 1
          const s = e.sweep(null)
          for (let i = 0; i < s.account.length; i++)
            if (s.account[i] === acc && s.market[i] === m) return true
          return false
        }
        expect(liquidatableAt(t)).toBe(true)
        if (better >= lo && better <= hi) expect(liquidatableAt(better)).toBe(false)
        checked++
        if (iso) isolatedChecked++
        // bankruptcy: equity ≥ 0 at the price, < 0 one tick worse (cross accounts)
        const b = risks.bankruptcyPrice[j] as bigint
        if (b !== 0n && !iso) {
          const equityAt = (x: bigint) => {
            e.setMarks(u32s(m), i64s(x))
            return e.accountRows(u32s(acc)).equity[0] as bigint
          }
          expect(equityAt(b) >= 0n).toBe(true)
          const worse = long ? b - 1n : b + 1n
          if (worse >= lo && worse <= hi) expect(equityAt(worse) < 0n).toBe(true)
          bankruptcyChecked++
        }
        e.setMarks(u32s(m), i64s(marks[m] as bigint))
      }
    }
    expect(checked).toBeGreaterThan(200)
    expect(isolatedChecked).toBeGreaterThan(10)
    expect(bankruptcyChecked).toBeGreaterThan(100)
  })
})

describe('number fast paths are exact (identity with the BigInt reference)', () => {
  it('uPnL, maintenance margin and the entry-domain test on random positions', () => {
    const r = rng(99)
    let fastU = 0
    let fastM = 0
    let total = 0
    for (let round = 0; round < 60; round++) {
      const Q = r.pick([0, 2, 6, 8, 12, 18])
      for (const init of randomMarkets(r, Q, 4)) {
        let m: Market
        try {
          m = Market.create(specOf(init), Q)
        } catch {
          continue
        }
        for (let i = 0; i < 150; i++) {
          const q = (r.next() < 0.5 ? -1n : 1n) * r.mag(r.int(0, 14))
          const x = r.next() < 0.05 ? r.pick([1n, 2n, 10n ** 15n]) : r.mag(r.int(0, 14))
          const cost = r.next() < 0.5 ? (q > 0n ? 1n : -1n) * r.mag(r.int(0, 18)) : q * x
          if (cost > I64_MAX || cost < I64_MIN) continue
          total++
          const fu = upnlF(m, Number(q), Number(cost), Number(x))
          const fm = mmF(m, Number(q), Number(cost), Number(x))
          if (fu === fu) {
            fastU++
            expect(BigInt(fu)).toBe(m.upnlAt(q, cost, x, 0))
          }
          if (fm === fm) {
            fastM++
            expect(BigInt(fm)).toBe(m.maintenanceMarginAt(q, cost, x, 0))
          }
          if (entryInDomainF(m, Number(q), Number(x)) && x <= 10n ** 15n) {
            const [lo, hi] = domain(m, q, 0)
            expect(lo <= x && x <= hi).toBe(true)
          }
        }
      }
    }
    // both branches must be exercised
    expect(fastU).toBeGreaterThan(total / 4)
    expect(fastU).toBeLessThan(total)
    expect(fastM).toBeGreaterThan(total / 4)
    expect(fastM).toBeLessThan(total)
  })

  it('liquidation and bankruptcy price searches equal the literal BigInt port', () => {
    const r = rng(5)
    let found = 0
    for (let round = 0; round < 25; round++) {
      const Q = r.pick([2, 6, 8])
      for (const init of randomMarkets(r, Q, 3)) {
        let m: Market
        try {
          m = Market.create(specOf(init), Q)
        } catch {
          continue
        }
        for (let i = 0; i < 6; i++) {
          const q = (r.next() < 0.5 ? -1n : 1n) * r.mag(r.int(0, 9))
          const entry = r.mag(r.int(1, 9))
          let cost: bigint
          try {
            cost = m.costBasis(q, entry)
          } catch {
            continue
          }
          if (cost === 0n) continue
          const base = (r.next() < 0.3 ? -1n : 1n) * r.mag(r.int(0, 17))
          const fast = liquidationPrice(m, q, cost, base)
          expect(fast).toEqual(liquidationPriceRef(m, q, cost, base))
          expect(bankruptcyPrice(m, q, cost, base)).toEqual(bankruptcyPriceRef(m, q, cost, base))
          if (fast !== null) found++
        }
      }
    }
    expect(found).toBeGreaterThan(100)
  })

  it('the whole engine reports the same with and without fast paths', () => {
    const r = rng(31337)
    let okOutputs = 0
    let errOutputs = 0
    for (let round = 0; round < 12; round++) {
      // (|q| < 10^9 with these units keeps every liquidation-price domain non-empty: Rust loops
      // forever on an empty one, see the report.)
      const Q = r.pick([2, 6, 8])
      const markets = randomMarkets(r, Q, 4)
      const nAcc = 60
      const ids = Array.from({ length: nAcc }, (_, i) => `u${r.int(0, 9)}${i}`)
      // balances across the 2^53 boundary so both accumulator modes run
      const balances = BigInt64Array.from(
        { length: nAcc },
        () => (r.next() < 0.2 ? -1n : 1n) * r.mag(r.int(0, 17)),
      )
      const rows: Array<[number, number, bigint, bigint, bigint, number]> = []
      for (let i = 0; i < 200; i++) {
        const flags = r.pick([
          0,
          0,
          FLAG_ISOLATED,
          FLAG_COST_BASIS,
          FLAG_ISOLATED | FLAG_COST_BASIS,
        ])
        const q = (r.next() < 0.5 ? -1n : 1n) * r.mag(r.int(0, 8))
        const price =
          flags & FLAG_COST_BASIS ? (q > 0n ? 1n : -1n) * r.mag(r.int(0, 15)) : r.mag(r.int(0, 9))
        rows.push([
          r.int(0, nAcc - 1),
          r.int(0, 3),
          q,
          price,
          flags & FLAG_ISOLATED ? r.mag(r.int(0, 16)) : 0n,
          flags,
        ])
      }
      const newMarks = markets.map(() => r.mag(r.int(0, 12)))
      const warning = BigInt(r.int(1, 2_000_000))
      const run = (fast: boolean): string => {
        setFastPaths(fast)
        const out: unknown[] = []
        const e = new JsEngine(Q)
        const attempt = (f: () => unknown) => {
          try {
            out.push(f())
          } catch (err) {
            expect(err).toBeInstanceOf(DeleverageError)
            out.push(`${(err as DeleverageError).code}: ${(err as DeleverageError).message}`)
          }
        }
        for (const m of markets) attempt(() => e.addMarket(m))
        attempt(() => e.addAccounts(ids, balances))
        for (let i = 0; i < rows.length; i += 10) {
          const b = rows
            .slice(i, i + 10)
            .filter((x, k, all) => all.findIndex((y) => y[0] === x[0] && y[1] === x[1]) === k)
          attempt(() =>
            e.setPositions(
              Uint32Array.from(b, (x) => x[0]),
              Uint32Array.from(b, (x) => x[1]),
              BigInt64Array.from(b, (x) => x[2]),
              BigInt64Array.from(b, (x) => x[3]),
              BigInt64Array.from(b, (x) => x[4]),
              Uint8Array.from(b, (x) => x[5]),
            ),
          )
        }
        const queries = () => {
          attempt(() => e.sweep(null))
          attempt(() => e.sweep(warning))
          attempt(() => e.accountRows(null))
          attempt(() => e.positionRisks(null))
          for (let a = 0; a < nAcc; a += 7) {
            attempt(() => e.accountRows(u32s(a)))
            attempt(() => e.positionRisks(u32s(a)))
          }
        }
        attempt(() => e.positionCount())
        queries()
        attempt(() =>
          e.setMarks(
            Uint32Array.from(newMarks, (_, i) => i),
            BigInt64Array.from(newMarks),
          ),
        )
        queries()
        return JSON.stringify(out, (_, v) =>
          typeof v === 'bigint'
            ? v.toString()
            : ArrayBuffer.isView(v)
              ? Array.from(v as unknown as ArrayLike<unknown>, String)
              : v,
        )
      }
      const fast = run(true)
      expect(fast).toBe(run(false))
      const outs = JSON.parse(fast) as unknown[]
      okOutputs += outs.filter((x) => typeof x !== 'string').length
      errOutputs += outs.filter((x) => typeof x === 'string').length
    }
    // mostly successful calls, with some errors (overflow at extreme marks included)
    expect(okOutputs).toBeGreaterThan(errOutputs)
  })

  it('PairSet finds exactly the repeated pairs', () => {
    const r = rng(3)
    const s = new PairSet(3000)
    const seen = new Set<string>()
    for (let i = 0; i < 3000; i++) {
      const a = r.int(0, 40)
      const b = r.pick([0, 1, 2, 0xfffffffe, r.int(0, 40)])
      const key = `${a},${b}`
      expect(s.add(a, b)).toBe(!seen.has(key))
      seen.add(key)
    }
  })
})
