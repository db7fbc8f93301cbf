// Market terms (issue 12), on both engines: the nearest liquidation/bankruptcy price is the exact
// crossing rounded to the grid (SPEC §6.3), tick sizes that are not powers of ten (§2.5), and one
// settlement asset per account (§5.4), in the API and in scenario files.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  FLAG_ISOLATED,
  JsEngine,
  type CoreEngine,
  type MarginColumns,
  type MarketConfig,
  type MarketInit,
} from '../src/index.js'
import { loadScenarioFile } from '../src/scenario.js'
import { loadNative } from '../src/native.js'
import { IMPLEMENTATIONS, Rng, attempt, codeOf, engine } from './helpers.js'

const native = loadNative().binding
const cores = (q: number): CoreEngine[] => [
  ...(native ? [new native.NativeEngine(q) as CoreEngine] : []),
  new JsEngine(q),
]

const XBTUSD: MarketConfig = {
  symbol: 'XBTUSD',
  type: 'inverse',
  priceDecimals: 1,
  qtyDecimals: 0,
  contractSize: '1',
  tiers: [{ floor: '0', mmr: '0.005' }],
  mark: '40000',
}
const BTCUSDT: MarketConfig = {
  symbol: 'BTCUSDT',
  priceDecimals: 1,
  qtyDecimals: 3,
  tiers: [{ floor: '0', mmr: '0.005' }],
  mark: '30000',
}

describe.each(IMPLEMENTATIONS)('market terms on the %s engine', (implementation) => {
  it("gives the issue's XBTUSD crossing 36545.4545… as 36545.5 (tick 0.1 and 0.5)", () => {
    for (const tickSize of [undefined, '0.5']) {
      const e = engine(implementation)
      e.addMarket({ ...XBTUSD, ...(tickSize ? { tickSize } : {}) })
      e.addAccounts([
        {
          id: 'a',
          balance: '0',
          positions: [{ symbol: 'XBTUSD', qty: '100', entry: '40000', isolatedMargin: '0.00025' }],
        },
      ])
      const p = e.positions(['a'])[0]!
      expect(p.liquidationPriceNearest).toBe('36545.5')
      // Bankruptcy: 100 / 0.00275 = 36363.6363… → 36363.6 on the 0.1 grid, 36363.5 on the 0.5 grid.
      expect(p.bankruptcyPriceNearest).toBe(tickSize ? '36363.5' : '36363.6')
      if (tickSize) {
        for (const x of [p.liquidationPrice!, p.bankruptcyPrice!])
          expect(BigInt(x.replace('.', '')) % 5n).toBe(0n)
      }
    }
  })

  it('keeps marks on the tick grid (INVALID_PRICE naming the tick), state unchanged', () => {
    const e = engine(implementation)
    expect(codeOf(() => e.addMarket({ ...XBTUSD, tickSize: '0.5', mark: '40000.3' }))).toBe(
      'INVALID_PRICE',
    )
    expect(codeOf(() => e.addMarket({ ...XBTUSD, tickSize: '0.05' }))).toBe('TOO_MANY_DECIMALS')
    expect(codeOf(() => e.addMarket({ ...XBTUSD, tickSize: '0' }))).toBe('INVALID_ARGUMENT')
    e.addMarket({ ...XBTUSD, tickSize: '0.5' })
    const before = e.stateHash()
    let message = ''
    try {
      e.setMarks({ XBTUSD: '40000.2' })
    } catch (x) {
      message = (x as Error).message
    }
    expect(message).toBe(
      'row 0 (market XBTUSD): mark must be a multiple of the tick size 0.5 (5 price units), got 40000.2 (400002 price units)',
    )
    expect(codeOf(() => e.updateMarks({ XBTUSD: '40000.7' }))).toBe('INVALID_PRICE')
    expect(e.stateHash()).toBe(before)
    e.setMarks({ XBTUSD: '40001.5' })
    // Entries are averages: any price unit (SPEC §2.5).
    e.addAccounts([
      { id: 'a', balance: '1', positions: [{ symbol: 'XBTUSD', qty: '100', entry: '40000.3' }] },
    ])
  })

  it('refuses to mix settlement assets in one account (SETTLEMENT_MISMATCH), state unchanged', () => {
    const e = engine(implementation)
    e.addMarket(BTCUSDT)
    e.addMarket(XBTUSD)
    e.addMarket({ ...BTCUSDT, symbol: 'ETHUSDT', mark: '2000' })
    e.addAccounts([
      { id: 'lin', balance: '1000', positions: [{ symbol: 'BTCUSDT', qty: '1', entry: '30000' }] },
      { id: 'coin', balance: '1', positions: [{ symbol: 'XBTUSD', qty: '-100', entry: '40000' }] },
    ])
    const before = e.stateHash()
    const refused = [
      () => e.setPositions([{ account: 'lin', symbol: 'XBTUSD', qty: '100', entry: '40000' }]),
      () =>
        e.setPositions([
          { account: 'lin', symbol: 'XBTUSD', qty: '100', entry: '40000', isolatedMargin: '0.01' },
        ]),
      () =>
        e.addAccounts([
          {
            id: 'new',
            balance: '1',
            positions: [
              { symbol: 'ETHUSDT', qty: '1', entry: '2000' },
              { symbol: 'XBTUSD', qty: '1', entry: '40000' },
            ],
          },
        ]),
      () =>
        e.core.applyFills(
          Uint32Array.of(1),
          Uint32Array.of(2),
          BigInt64Array.of(1000n),
          BigInt64Array.of(20000n),
        ),
    ]
    for (const f of refused) {
      const out = attempt(f)
      expect(out).toMatchObject({ code: 'SETTLEMENT_MISMATCH' })
      expect((out as { message: string }).message).toMatch(
        /account (lin|new|coin) cannot hold \S+ \(settles in \S+\) beside \S+ \(settles in \S+\)/,
      )
      // The default asset is named as the default, with what to do about it.
      const msg = (out as { message: string }).message
      if (msg.includes('(settles in quote)'))
        expect(msg).toContain('a linear market without settleAsset settles in "quote"')
      else expect(msg).not.toContain('without settleAsset')
    }
    expect(e.stateHash()).toBe(before)
    // Same asset combines; a replacement in one batch is no mix.
    e.setPositions([{ account: 'lin', symbol: 'ETHUSDT', qty: '2', entry: '2000' }])
    e.setPositions([
      { account: 'coin', symbol: 'XBTUSD', qty: '0' },
      { account: 'coin', symbol: 'BTCUSDT', qty: '0.5', entry: '30000' },
    ])
  })
})

describe('scenario files', () => {
  it('report a settlement mix with the JSON path of the position', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dlvg-'))
    const f = join(dir, 'mix.json')
    writeFileSync(
      f,
      JSON.stringify({
        markets: [
          { ...BTCUSDT, settleAsset: 'USDT' },
          { ...XBTUSD, tickSize: '0.5', settleAsset: 'BTC' },
        ],
        accounts: [
          { id: 'ok', balance: '1', positions: [{ symbol: 'XBTUSD', qty: '1', entry: '40000' }] },
          {
            id: 'mixed',
            balance: '100',
            positions: [
              { symbol: 'BTCUSDT', qty: '1', entry: '30000' },
              { symbol: 'XBTUSD', qty: '1', entry: '40000' },
            ],
          },
        ],
      }),
    )
    let err: { code?: string; message?: string } = {}
    try {
      loadScenarioFile(f)
    } catch (x) {
      err = x as typeof err
    }
    expect(err.code).toBe('SETTLEMENT_MISMATCH')
    expect(err.message).toBe(
      "accounts[1].positions[1]: account mixed cannot hold XBTUSD (settles in BTC) beside BTCUSDT (settles in USDT): one account's margin combines markets of one settlement asset",
    )
  })
})

/** Exact crossing n/d (d > 0) of an isolated single-tier position, in closed form (SPEC §6). */
function crossing(
  m: MarketInit,
  q: number,
  cost: bigint,
  qty: bigint,
  margin: bigint,
  withMm: boolean,
): [bigint, bigint] | null {
  const r = withMm ? m.mmr[0]! : 0n
  const e8 = 100_000_000n
  const abs = (x: bigint) => (x < 0n ? -x : x)
  let n: bigint
  let d: bigint
  if (m.kind === 0) {
    const s = q - m.priceDecimals - m.qtyDecimals
    const ms = margin * 10n ** BigInt(8 - s)
    if (m.basis === 0) [n, d] = [e8 * cost - ms, e8 * qty - abs(qty) * r]
    else [n, d] = [e8 * cost + abs(cost) * r - ms, e8 * qty]
  } else {
    const S = m.contractSize * 10n ** BigInt(m.priceDecimals - m.qtyDecimals + q)
    if (m.basis === 0) [n, d] = [S * (e8 * qty + abs(qty) * r), e8 * (margin + cost)]
    else [n, d] = [e8 * qty * S, e8 * (margin + cost) - abs(cost) * r]
  }
  if (d === 0n) return null
  if (d < 0n) [n, d] = [-n, -d]
  return n > 0n ? [n, d] : null
}

describe('nearest price property (both engines)', () => {
  it('is within half a tick of the exact crossing, computed independently with BigInt rationals', () => {
    const r = new Rng(0x1234_5678_9abcn)
    let checked = 0
    for (let c = 0; c < 600; c++) {
      const q = r.int(4, 8)
      const kind = r.int(0, 1)
      const P = r.int(0, 4)
      const D = Math.min(r.int(0, 3), P + q)
      if (kind === 0 && q - P - D > 8) continue
      if (kind === 1 && P - D + q > 10) continue
      const g = r.pick([1n, 1n, 2n, 5n, 10n, 25n])
      const entry = (r.big(1_000n, 2_000_000n) / g) * g + g
      const mmr = r.big(100_000n, 5_000_000n)
      const m: MarketInit = {
        symbol: 'M',
        kind,
        priceDecimals: P,
        qtyDecimals: D,
        contractSize: kind === 1 ? r.pick([1n, 10n, 100n]) : 1n,
        basis: r.int(0, 1),
        form: 0,
        floors: BigInt64Array.of(0n),
        mmr: BigInt64Array.of(mmr),
        imr: BigInt64Array.of(mmr * 2n),
        mark: entry,
        tickSize: g,
      }
      const qty = r.big(1n, 1_000_000n) * (r.int(0, 1) ? 1n : -1n)
      const margin = r.big(1n, 10n ** BigInt(r.int(2, 12)))
      const outs = cores(q).map((e) =>
        attempt(() => {
          e.addMarket(m)
          e.addAccounts(['a'], BigInt64Array.of(0n))
          e.setPositions(
            Uint32Array.of(0),
            Uint32Array.of(0),
            BigInt64Array.of(qty),
            BigInt64Array.of(entry),
            BigInt64Array.of(margin),
            Uint8Array.of(FLAG_ISOLATED),
          )
          const p = e.positionRisks(null)
          return [
            p.cost[0]!,
            p.liquidationPriceNearest[0]!,
            p.bankruptcyPriceNearest[0]!,
            p.liquidationPrice[0]!,
            p.bankruptcyPrice[0]!,
          ]
        }),
      )
      expect(outs[outs.length - 1]).toEqual(outs[0])
      const out = outs[0]!
      if (!('ok' in out)) continue
      const [cost, ln, bn, lc, bc] = out.ok as [bigint, bigint, bigint, bigint, bigint]
      for (const [nearest, trigger, withMm] of [
        [ln, lc, true],
        [bn, bc, false],
      ] as const) {
        if (trigger === 0n) continue
        expect(trigger % g).toBe(0n)
        expect(nearest % g).toBe(0n)
        const x = crossing(m, q, cost, qty, margin, withMm)
        if (x === null) continue
        const [n, d] = x
        // Away from the domain's ends, where the nearest is clamped to the edge.
        if (n < 1000n * d || n > 10n ** 14n * d) continue
        const off = 2n * nearest * d - 2n * n
        expect(
          off < 0n ? -off : off,
          `case ${c}: nearest ${nearest} vs ${n}/${d}, tick ${g}`,
        ).toBeLessThanOrEqual(g * d)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(400)
  })
})

const plain = (c: MarginColumns) => [
  [...c.account],
  [...c.market],
  [...c.equity],
  [...c.maintenanceMargin],
  [...c.liquidatable],
]

describe.skipIf(!native)('liquidation watch on tick sizes 5 and 25 (SPEC §2.5, §14)', () => {
  it('reports what the sweep says on grid marks, on both engines alike', () => {
    const r = new Rng(0x7ac5_0005n)
    const es: CoreEngine[] = [new native!.NativeEngine(8), new JsEngine(8)]
    const ticks = [5n, 25n]
    const inits: MarketInit[] = [
      {
        symbol: 'BTC',
        kind: 0,
        priceDecimals: 1,
        qtyDecimals: 3,
        contractSize: 1n,
        basis: 0,
        form: 0,
        floors: BigInt64Array.of(0n, 5_000_000_000n),
        mmr: BigInt64Array.of(400_000n, 1_000_000n),
        imr: BigInt64Array.of(800_000n, 2_000_000n),
        mark: 300_000n,
        tickSize: 5n,
        settleAsset: 'X',
      },
      {
        symbol: 'XBT',
        kind: 1,
        priceDecimals: 2,
        qtyDecimals: 0,
        contractSize: 100n,
        basis: 0,
        form: 1,
        floors: BigInt64Array.of(0n, 1_000_000_000n),
        mmr: BigInt64Array.of(500_000n, 900_000n),
        imr: BigInt64Array.of(1_000_000n, 2_000_000n),
        mark: 3_000_000n,
        tickSize: 25n,
        settleAsset: 'X',
      },
    ]
    for (const e of es) for (const m of inits) e.addMarket(m)
    const marks = inits.map((m) => m.mark)
    const na = 40
    const ids = Array.from({ length: na }, (_, i) => `a${i}`)
    const bal = BigInt64Array.from(ids, () => r.big(0n, 10n ** BigInt(r.int(5, 10))))
    for (const e of es) e.addAccounts(ids, bal)
    for (let a = 0; a < na; a++) {
      for (let m = 0; m < 2; m++) {
        if (r.chance(0.3)) continue
        const entry = marks[m]! + r.big(-marks[m]! / 20n, marks[m]! / 20n)
        const iso = r.chance(0.25)
        const args = [
          Uint32Array.of(a),
          Uint32Array.of(m),
          BigInt64Array.of(r.big(1n, 200_000n) * r.pick([1n, -1n])),
          BigInt64Array.of(entry),
          BigInt64Array.of(iso ? r.big(0n, 10n ** 9n) : 0n),
          Uint8Array.of(iso ? FLAG_ISOLATED : 0),
        ] as const
        const o = es.map((e) => attempt(() => e.setPositions(...args)))
        expect(o[1]).toEqual(o[0])
      }
    }
    let changes = 0
    for (let t = 0; t < 300; t++) {
      const m = r.int(0, 1)
      const g = ticks[m]!
      const span = marks[m]! / r.pick([20n, 200n, 2000n])
      let p = marks[m]! + r.big(-span, span)
      p = p < g ? g : p - (p % g)
      const o = es.map((e) =>
        attempt(() => {
          const c = e.updateMarks(Uint32Array.of(m), BigInt64Array.of(p))
          return [...c.account].map((a, i) => [a, c.market[i], c.liquidatable[i]])
        }),
      )
      expect(o[1], `step ${t}`).toEqual(o[0])
      expect(o[0]).toHaveProperty('ok')
      changes += (o[0] as { ok: unknown[] }).ok.length
      marks[m] = p
      const rows = es.map((e) => plain(e.liquidatable()))
      expect(rows[1]).toEqual(rows[0])
      for (const [i, e] of es.entries())
        expect(rows[i], `step ${t}: watch vs sweep`).toEqual(plain(e.sweep(null)))
    }
    expect(changes).toBeGreaterThan(20)
  })
})
