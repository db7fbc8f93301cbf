// The liquidation map (SPEC §18): a worked example solved by hand, the map against its
// definition (every liquidation price positionRisks reports, bucketed by the written rule) on a
// ragged book in both engines, the two engines equal, bad ranges refused alike, and the CLI.
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Engine, JsEngine, type CoreEngine } from '../src/index.js'
import { loadNative } from '../src/native.js'
import { load, makeRaggedMarket } from '../src/synthetic.js'
import { IMPLEMENTATIONS, attempt, codeOf } from './helpers.js'

const native = loadNative().binding
const root = fileURLToPath(new URL('..', import.meta.url))

function isolatedLong(implementation: 'native' | 'js'): Engine {
  const e = new Engine({ quoteDecimals: 8, implementation })
  e.addMarket({
    symbol: 'BTCUSDT',
    priceDecimals: 2,
    qtyDecimals: 3,
    tiers: [{ floor: '0', mmr: '0.005', maxLeverage: '100' }],
    mark: '30000',
  })
  e.addAccounts([
    {
      id: 'alice',
      balance: '0',
      positions: [{ symbol: 'BTCUSDT', qty: '1', entry: '30000', isolatedMargin: '3000' }],
    },
    {
      id: 'bob',
      balance: '0',
      positions: [{ symbol: 'BTCUSDT', qty: '-2', entry: '30000', isolatedMargin: '6000' }],
    },
  ])
  return e
}

describe.each(IMPLEMENTATIONS)('liquidationMap (%s)', (impl) => {
  it('buckets a hand-solved isolated long and short', () => {
    // Long 1 BTC at 30 000 with 3 000 margin, mmr 0.5 %: 3000 + (L − 30000) = 0.005·L, so
    // L = 27000 / 0.995 = 27135.678…: liquidatable at or below it, so the trigger (the last tick
    // where it is) is 27135.67. Short 2 at 30 000 with 6 000: 6000 − 2(L − 30000) = 0.01·L,
    // L = 66000 / 2.01 = 32835.820…: liquidatable at or above, so 32835.83.
    const e = isolatedLong(impl)
    const map = e.liquidationMap('BTCUSDT', { from: '27000', to: '33000', buckets: 3 })
    expect(map.buckets.map((b) => [b.from, b.to])).toEqual([
      ['27000.00', '29000.00'],
      ['29000.00', '31000.00'],
      ['31000.00', '33000.00'],
    ])
    expect(map.buckets[0]).toMatchObject({ longCount: 1, longQty: '1.000', shortCount: 0 })
    expect(map.buckets[0]!.longNotional).toBe('27135.67000000')
    expect(map.buckets[2]).toMatchObject({ shortCount: 1, shortQty: '2.000', longCount: 0 })
    expect(map.buckets[2]!.shortNotional).toBe('65671.66000000')
    expect(map.below.longCount + map.above.shortCount).toBe(0)
    // The edge rule: a range ending at the long's price leaves it above; one tick more takes it.
    expect(e.liquidationMap('BTCUSDT', { from: '27000', to: '27135.67' }).above.longCount).toBe(1)
    const m2 = e.liquidationMap('BTCUSDT', { from: '27000', to: '27135.68', buckets: 1 })
    expect(m2.buckets[0]!.longCount).toBe(1)
  })

  it('refuses bad ranges and unknown markets', () => {
    const e = isolatedLong(impl)
    const map = (o: object, s = 'BTCUSDT') =>
      codeOf(() => e.liquidationMap(s, o as { from: string; to: string }))
    const before = e.stateHash()
    expect(map({ from: '3', to: '2' })).toBe('INVALID_ARGUMENT')
    expect(map({ from: '0', to: '2' })).toBe('INVALID_PRICE')
    expect(map({ from: '1', to: '1.05', buckets: 10 })).toBe('INVALID_ARGUMENT')
    expect(map({ from: '1', to: '2', buckets: 0 })).toBe('INVALID_ARGUMENT')
    expect(map({ from: '1', to: '2' }, 'ETHUSDT')).toBe('UNKNOWN_MARKET')
    expect(e.stateHash()).toBe(before)
  })
})

/** The map's definition, from positionRisks: rows [below, buckets…, above] of [lq, ln, sq, sn]. */
function bucketed(c: CoreEngine, m: number, from: bigint, to: bigint, n: number): bigint[][] {
  const r = c.positionRisks(null)
  const out = Array.from({ length: n + 2 }, () => [0n, 0n, 0n, 0n])
  // Value at the price in atoms, rounded down: linear |q|·x·10^s (this book: s = 8 − 2 − 3 = 3).
  for (let i = 0; i < r.account.length; i++) {
    const x = r.liquidationPrice[i]!
    if (r.market[i] !== m || x === 0n) continue
    const b = x < from ? 0 : x >= to ? n + 1 : 1 + Number(((x - from) * BigInt(n)) / (to - from))
    const q = r.qty[i]!
    const row = out[b]!
    if (q > 0n) {
      row[0]! += q
      row[1]! += q * x * 1000n
    } else {
      row[2]! -= q
      row[3]! += -q * x * 1000n
    }
  }
  return out
}

describe.skipIf(!native)('liquidationMap on a ragged book', () => {
  it('is every reported liquidation price bucketed, equal in both engines', () => {
    const book = makeRaggedMarket(4_000, { markets: 8, liquidatablePct: 3, seed: 11 })
    const engines = (['native', 'js'] as const).map((impl) => {
      const e = new Engine({ quoteDecimals: 8, implementation: impl })
      load(e, book)
      return e.core
    })
    let counted = 0
    for (let m = 0; m < 6; m++) {
      const mark = book.markets[m]!.mark
      const [from, to] = [(mark * 8n) / 10n, (mark * 12n) / 10n]
      const maps = engines.map((c) => c.liquidationMap(m, from, to, 40))
      expect(maps[1]).toEqual(maps[0])
      const want = bucketed(engines[1]!, m, from, to, 40)
      const got = want.map((_, i) => [
        maps[0]!.longQty[i]!,
        maps[0]!.longNotional[i]!,
        maps[0]!.shortQty[i]!,
        maps[0]!.shortNotional[i]!,
      ])
      expect(got).toEqual(want)
      counted += maps[0]!.longCount.reduce((x, y) => x + y, 0)
      counted += maps[0]!.shortCount.reduce((x, y) => x + y, 0)
    }
    expect(counted).toBeGreaterThan(2_000)
  })

  it('rejects alike: same codes and messages', () => {
    const c: CoreEngine[] = [new native!.NativeEngine(8), new JsEngine(8)]
    const cases: Array<[number, bigint, bigint, number]> = [
      [0, 1n, 2n, 1],
      [0, 0n, 2n, 1],
      [0, 5n, 5n, 1],
      [0, 1n, 10n ** 15n + 1n, 1],
      [0, 1n, 10n, 10],
    ]
    for (const [m, f, t, n] of cases) {
      const out = c.map((e) => attempt(() => e.liquidationMap(m, f, t, n)))
      expect(out[1]).toEqual(out[0])
      expect('code' in out[0]!).toBe(true)
    }
  })
})

describe('deleverage map', () => {
  const cli = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(root, 'bin/deleverage.js'), 'map', ...args], {
      encoding: 'utf8',
    })
    return { code: r.status, out: r.stdout, err: r.stderr }
  }
  const book = join(root, 'test/fixtures/scenarios/small-book.json')

  it('prints the buckets, and the same JSON on both engines', () => {
    const t = cli([
      book,
      '--symbol',
      'BTCUSDT',
      '--from',
      '20000',
      '--to',
      '40000',
      '--buckets',
      '4',
    ])
    expect(t.err).toBe('')
    expect(t.code).toBe(0)
    expect(t.out).toMatch(/liquidation map of BTCUSDT/)
    expect(t.out).toMatch(/25,000\.00 – 30,000\.00/)
    const j = [
      cli([book, '--symbol', 'BTCUSDT', '--json', '--impl', 'native']),
      cli([book, '--symbol', 'BTCUSDT', '--json', '--impl', 'js']),
    ]
    expect(j[0]!.code).toBe(0)
    expect(JSON.parse(j[1]!.out)).toEqual(JSON.parse(j[0]!.out))
    expect(JSON.parse(j[0]!.out).buckets).toHaveLength(50)
  })

  it('is strict about its options', () => {
    expect(cli([book]).code).toBe(2)
    expect(cli([book, '--symbol', 'BTCUSDT', '--csv']).code).toBe(2)
    expect(cli([book, '--symbol', 'BTCUSDT', '--buckets', '0']).code).toBe(2)
    const r = cli([book, '--symbol', 'NOPE'])
    expect(r.code).toBe(3)
    expect(r.err).toMatch(/UNKNOWN_MARKET/)
  })
})
