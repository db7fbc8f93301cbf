// The cascade simulator (src/simulate.ts, docs/SIMULATE.md) on a small seeded demo market, both
// engines: determinism, cash conservation at every step, the mark feedback, policy sanity and an
// independent recomputation of the ADL give-ups from the decimal event strings.
import { describe, expect, it } from 'vitest'
import { depthFromMarket, DEMO } from '../src/demo.js'
import { Engine } from '../src/engine.js'
import { crashPath, makeSimMarket, SIM_MARKETS } from '../src/market-sim.js'
import { parsePathCsv, shockPath } from '../src/pricepath.js'
import {
  displaced,
  LOSS_RULES,
  simulate,
  type LossRule,
  type SimMarket,
  type SimResult,
} from '../src/simulate.js'
import { load } from '../src/synthetic.js'

const POS = 4000
const ACC = 1000

function run(
  policy: LossRule,
  implementation: 'native' | 'js' = 'native',
  keepEvents = true,
): SimResult {
  const book = makeSimMarket(POS, ACC, 11)
  const engine = new Engine({ quoteDecimals: book.quoteDecimals, implementation })
  load(engine, book)
  const depth = depthFromMarket(book, DEMO.depthDivisor)
  const markets: SimMarket[] = book.markets.map((m, j) => ({
    index: j,
    symbol: m.symbol,
    priceDecimals: m.priceDecimals,
    qtyDecimals: m.qtyDecimals,
    inverse: false,
    contractSize: 1n,
    depth: depth[j]!,
  }))
  return simulate(
    { engine, markets },
    {
      path: crashPath(SIM_MARKETS, 12, 20, 3),
      lossRule: policy,
      waterfall: DEMO.waterfall,
      insuranceFund: 20_000n * 10n ** 8n,
      fill: DEMO.fill,
      feedback: { maxRounds: 2 },
      keepEvents,
    },
  )
}

const results = new Map<LossRule, SimResult>(LOSS_RULES.map((p) => [p, run(p)]))

/** Exact decimal string → bigint at `d` decimals (independent of src/decimal.ts). */
function units(s: string, d: number): bigint {
  const neg = s.startsWith('-')
  const [i, f = ''] = (neg ? s.slice(1) : s).split('.')
  const v = BigInt(i! + f.padEnd(d, '0'))
  return neg ? -v : v
}

describe('simulate', () => {
  it('has a cascade to study: liquidations, takeovers, an exhausted fund and ADL', () => {
    const t = results.get('bitmex')!.totals
    expect(t.takeovers).toBeGreaterThan(50)
    expect(t.adlFills).toBeGreaterThan(0)
    expect(units(t.insuranceFundEnd, 8)).toBeLessThan(units(t.insuranceFundStart, 8))
  })

  it('is deterministic: the same seed gives the same steps, events and report data', () => {
    const again = run('bitmex')
    expect(again).toEqual(results.get('bitmex'))
  })

  it('gives identical results on the TypeScript engine', () => {
    for (const p of ['hyperliquid', 'socialised'] as LossRule[])
      expect({ ...run(p, 'js'), implementation: 'native' }).toEqual(results.get(p))
  })

  it('conserves cash exactly at every step of every policy', () => {
    for (const r of results.values()) {
      expect(r.totals.cashConserved).toBe(true)
      for (const s of r.steps) expect(s.cashAfter).toBe(s.cashBefore)
    }
  })

  it('moves the mark further in the direction of the liquidation flow', () => {
    const r = results.get('bitmex')!
    let seen = 0
    for (const s of r.steps) {
      // in this falling path liquidations sell: a step with volume ends below its path price
      if (units(s.liquidationVolume, 8) > 0n && s.partialFills + s.engineFills > 0) {
        seen++
        expect(units(s.mark[0]!, 1)).toBeLessThan(units(s.path[0]!, 1))
      }
    }
    expect(seen).toBeGreaterThan(2)
    expect(displaced(1000n, -25_000n)).toBe(975n)
  })

  it('compares policies: pro-rata touches more accounts, socialised loss never deleverages', () => {
    const ranked = ['bitmex', 'binance', 'hyperliquid'].map(
      (p) => results.get(p as LossRule)!.totals.accountsTouched,
    )
    const pr = results.get('prorata')!.totals
    for (const n of ranked) expect(pr.accountsTouched).toBeGreaterThanOrEqual(n)
    const so = results.get('socialised')!
    expect(so.totals.adlFills).toBe(0)
    expect(so.events!.some((e) => e.kind === 'adlFill')).toBe(false)
    expect(so.totals.socialised).toBeGreaterThan(0)
    // the engine's socialise fund policy: every share is paid into the fund (no counterparty
    // account), so the fund never goes below zero and nothing is left as bad debt
    const shares = so.events!.filter((e) => e.kind === 'socialisedLoss')
    expect(shares.length).toBe(so.totals.socialised)
    for (const e of shares) expect(e.counterparty).toBeNull()
    for (const s of so.steps) expect(units(s.insuranceFund, 8)).toBeGreaterThanOrEqual(0n)
    expect(units(so.totals.badDebt, 8)).toBe(0n)
  })

  it('recomputes what ADL took from winners from the decimal events alone', () => {
    for (const p of ['bitmex', 'binance', 'hyperliquid', 'prorata'] as LossRule[]) {
      const r = results.get(p)!
      let steps = 0
      for (const s of r.steps) {
        // give-up = qty closed × (mark of its round − ADL price), lots·ticks → atoms (10^(8−P−D))
        let taken = 0n
        for (const e of r.events!) {
          if (e.step !== s.step || e.kind !== 'adlFill') continue
          const j = SIM_MARKETS.findIndex((m) => m.symbol === e.symbol)
          const m = SIM_MARKETS[j]!
          const mark = units(s.roundMarks[e.round - 1]![j]!, m.priceDecimals)
          taken +=
            units(e.qty!, m.qtyDecimals) *
            (mark - units(e.price!, m.priceDecimals)) *
            10n ** BigInt(8 - m.priceDecimals - m.qtyDecimals)
        }
        if (taken !== 0n) steps++
        expect(units(s.taken, 8)).toBe(taken)
      }
      expect(steps).toBeGreaterThan(0)
    }
  })

  it('reports overshoot = taken − required per step and in total', () => {
    for (const r of results.values()) {
      let t = 0n
      let q = 0n
      for (const s of r.steps) {
        expect(units(s.overshoot, 8)).toBe(units(s.taken, 8) - units(s.required, 8))
        expect(units(s.required, 8)).toBeGreaterThanOrEqual(0n)
        t += units(s.taken, 8)
        q += units(s.required, 8)
      }
      expect(units(r.totals.taken, 8)).toBe(t)
      expect(units(r.totals.overshoot, 8)).toBe(t - q)
    }
  })

  it('ranks the largest events by size, largest first', () => {
    const ev = results.get('bitmex')!.largestEvents
    expect(ev.length).toBe(20)
    for (let i = 1; i < ev.length; i++)
      expect(units(ev[i - 1]!.size, 8)).toBeGreaterThanOrEqual(units(ev[i]!.size, 8))
  })
})

describe('price paths', () => {
  const markets = [
    { symbol: 'BTCUSDT', priceDecimals: 1, mark: 650_000n },
    { symbol: 'ETHUSDT', priceDecimals: 2, mark: 340_000n },
  ]

  it('reads a CSV path; markets without a column keep their mark', () => {
    expect(
      parsePathCsv('step,BTCUSDT\n# comment\n1,64000.5\n\n2,63000\n', 'p.csv', markets),
    ).toEqual([
      [640_005n, 340_000n],
      [630_000n, 340_000n],
    ])
  })

  it('names the line and column of a bad cell', () => {
    expect(() =>
      parsePathCsv('step,BTCUSDT,ETHUSDT\n1,64000,3400\n2,63000,abc\n', 'p.csv', markets),
    ).toThrow(/p\.csv line 3: column ETHUSDT: "abc" is not a decimal number/)
    expect(() => parsePathCsv('step,BTCUSDT\n1,-5\n', 'p.csv', markets)).toThrow(
      /line 2: column BTCUSDT: must be positive/,
    )
    expect(() => parsePathCsv('step,SOLUSDT\n1,5\n', 'p.csv', markets)).toThrow(
      /line 1: column 2 "SOLUSDT" is not a market/,
    )
    expect(() => parsePathCsv('step,BTCUSDT\n1,5,6\n', 'p.csv', markets)).toThrow(
      /line 2: 3 cells, the header has 2/,
    )
  })

  it('shocks every mark linearly', () => {
    expect(shockPath(markets, -200_000n, 2)).toEqual([
      [585_000n, 306_000n],
      [520_000n, 272_000n],
    ])
  })
})
