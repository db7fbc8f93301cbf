// The taker fee in the liquidation condition (OKX, Gate; SPEC §19): a market setting folded
// into every tier's maintenance rate. Golden value from Gate's published formula, both engines
// equal on random markets, bad fees refused alike with nothing changed.
import { describe, expect, it } from 'vitest'
import { Engine, JsEngine, type CoreEngine, type MarketInit } from '../src/index.js'
import { loadNative } from '../src/native.js'
import { parseScenario } from '../src/scenario.js'
import { IMPLEMENTATIONS, Rng, attempt, codeOf } from './helpers.js'

const native = loadNative().binding

describe.each(IMPLEMENTATIONS)('takerFeeRate (%s)', (impl) => {
  // Gate's liquidation price for a long (gate.io help "Calculation of Liquidation Price", quoted
  // in freqtrade's exchange.py, commit cd7bd9b): (entry − margin / multiplier / size) /
  // [1 − (maintenance margin rate + taker rate)], taker 0.075 % (Gate's answer on its forum).
  // Long 1 BTC at 30 000 with 3 000 isolated margin, mmr 0.5 %:
  // 27 000 / (1 − 0.00575) = 27 156.1478… — the trigger is the last tick at or below it,
  // 27 156.14, and the nearest tick 27 156.15.
  const book = (fee?: string) => {
    const e = new Engine({ quoteDecimals: 8, implementation: impl })
    e.addMarket({
      symbol: 'BTC_USDT',
      priceDecimals: 2,
      qtyDecimals: 3,
      tiers: [{ floor: '0', mmr: '0.005', maxLeverage: '100' }],
      mark: '30000',
      ...(fee === undefined ? {} : { takerFeeRate: fee }),
    })
    e.addAccounts([
      {
        id: 'gate-long',
        balance: '0',
        positions: [{ symbol: 'BTC_USDT', qty: '1', entry: '30000', isolatedMargin: '3000' }],
      },
    ])
    return e
  }

  it("reproduces Gate's liquidation price with the fee", () => {
    const [p] = book('0.00075').positions()
    expect(p!.liquidationPrice).toBe('27156.14')
    expect(p!.liquidationPriceNearest).toBe('27156.15')
    // maintenance margin at mark 30 000: 30 000 × (0.005 + 0.00075) = 172.5
    expect(p!.maintenanceMargin).toBe('172.50000000')
    // without the fee: 27 000 / 0.995 = 27 135.678…
    expect(book().positions()[0]!.liquidationPrice).toBe('27135.67')
  })

  it('refuses a fee outside [0, 1) and an imr below mmr + fee, changing nothing', () => {
    const e = book()
    const before = e.stateHash()
    const add =
      (fee: string, lev = '100') =>
      () =>
        e.addMarket({
          symbol: 'ETH_USDT',
          priceDecimals: 2,
          qtyDecimals: 3,
          tiers: [{ floor: '0', mmr: '0.005', maxLeverage: lev }],
          mark: '2000',
          takerFeeRate: fee,
        })
    expect(codeOf(add('1'))).toBe('INVALID_ARGUMENT')
    expect(codeOf(add('-0.001'))).toBe('INVALID_ARGUMENT')
    // the rate as the user wrote it, under the name they wrote (not "120000000e-8")
    expect(add('1.2')).toThrow(
      'market ETH_USDT: takerFeeRate must be at least 0 and below 1, got 1.2',
    )
    expect(add('-0.001')).toThrow('takerFeeRate must be at least 0 and below 1, got -0.001')
    expect(codeOf(add('0.006', '100'))).toBe('INVALID_TIERS')
    expect(e.stateHash()).toBe(before)
    expect(codeOf(add('0.0005'))).toBe('did not throw')
  })

  it('is read from a scenario file', () => {
    const s = parseScenario({
      markets: [
        {
          symbol: 'BTC_USDT',
          priceDecimals: 2,
          qtyDecimals: 3,
          tiers: [{ floor: '0', mmr: '0.005' }],
          mark: '30000',
          takerFeeRate: '0.00075',
        },
      ],
      accounts: [],
    })
    expect(s.markets[0]!.takerFeeRate).toBe('0.00075')
  })
})

describe.skipIf(!native)('takerFee: native and TypeScript agree', () => {
  it('on random tiered markets, positions and fees, errors included', () => {
    const r = new Rng(0x7a4e5f33n)
    let compared = 0
    let rows = 0
    for (let k = 0; k < 150; k++) {
      const engines: CoreEngine[] = [new native!.NativeEngine(8), new JsEngine(8)]
      const n = r.int(1, 4)
      const floors = [0n]
      const mmr = [r.big(100_000n, 2_000_000n)]
      for (let t = 1; t < n; t++) {
        floors.push(floors[t - 1]! + r.mag(10))
        mmr.push(mmr[t - 1]! + r.big(0n, 2_000_000n))
      }
      const fee = r.pick([0n, 50_000n, 75_000n, r.big(0n, 3_000_000n), 100_000_000n, -1n])
      const kind = r.int(0, 1)
      const spec: MarketInit = {
        symbol: 'M',
        kind,
        priceDecimals: 2,
        qtyDecimals: 0,
        contractSize: kind === 1 ? 100n : 1n,
        basis: r.int(0, 1),
        form: r.int(0, 1),
        floors: BigInt64Array.from(floors),
        mmr: BigInt64Array.from(mmr),
        imr: BigInt64Array.from(mmr, (m) => m * 3n),
        mark: 3_000_000n,
        takerFee: fee,
      }
      const both = (f: (e: CoreEngine) => unknown) => {
        const out = engines.map((e) => attempt(() => f(e)))
        expect(out[1]).toEqual(out[0])
        compared++
      }
      both((e) => e.addMarket(spec))
      const ids = Array.from({ length: 6 }, (_, i) => `a${i}`)
      const balances = BigInt64Array.from(ids, () => r.mag(12))
      both((e) => e.addAccounts(ids, balances))
      const acc = Uint32Array.from(ids, (_, i) => i)
      const qty = BigInt64Array.from(ids, () => r.mag(6) * (r.int(0, 1) ? 1n : -1n))
      const px = BigInt64Array.from(ids, () => r.big(2_000_000n, 4_000_000n))
      const flags = Uint8Array.from(ids, () => r.int(0, 1))
      const im = BigInt64Array.from(flags, (f) => (f ? r.mag(11) : 0n))
      both((e) => e.setPositions(acc, new Uint32Array(6), qty, px, im, flags))
      both((e) => [e.positionRisks(null), e.sweep(800_000n), e.stateHash()])
      const c = attempt(() => engines[1]!.positionRisks(null))
      if ('ok' in c) rows += (c.ok as { qty: BigInt64Array }).qty.length
    }
    expect(compared).toBe(600)
    expect(rows).toBeGreaterThan(400)
  })
})
