// Native (Rust) and TypeScript engines give identical outputs — values, orders and errors — on
// random scenarios: random decimals and tiers, cross/isolated, linear/inverse, given and derived
// maintenance amounts, and values near the limits. Driven through the integer-level core API.
import { describe, expect, it } from 'vitest'
import { JsEngine, type CoreEngine, type MarketInit } from '../src/index.js'
import { loadNative } from '../src/native.js'
import { Rng, attempt } from './helpers.js'

const native = loadNative().binding

/** A price on a grid of `tick` (with `off`, one in ten left off it: rejected alike, INVALID_PRICE). */
function onGrid(r: Rng, p: bigint, tick: bigint, off = true): bigint {
  return (off && r.int(0, 9) === 0) || p < tick ? p : p - (p % tick)
}

function randomMarket(r: Rng, i: number, q: number, asset: string | null): MarketInit {
  const kind = r.int(0, 1)
  const tickSize = r.pick([1n, 1n, 1n, 2n, 5n, 25n])
  let P = r.int(0, 6)
  let D = r.int(0, 6)
  if (kind === 0 && P + D > q + 10) D = Math.max(0, q + 10 - P)
  if (kind === 1) {
    P = Math.min(P, Math.max(0, 12 - q))
    D = Math.min(D, P + q)
  }
  const n = r.int(1, 5)
  const floors = [0n]
  const mmr = [r.big(1n, 5_000_000n)]
  for (let t = 1; t < n; t++) {
    floors.push(floors[t - 1]! + r.mag(12))
    mmr.push(mmr[t - 1]! + r.big(0n, 5_000_000n))
  }
  const form = r.int(0, 1)
  let maint: bigint[] | null = null
  if (form === 0 && r.int(0, 2) === 0) {
    // Given amounts: at or below the derived ones (a few deliberately above: must be rejected alike).
    maint = [0n]
    for (let t = 1; t < n; t++) {
      const derived = floors[t]! * (mmr[t]! - mmr[t - 1]!) + maint[t - 1]!
      maint.push(r.int(0, 9) === 0 ? derived + 1n : derived - r.big(0n, derived / 3n))
    }
  }
  return {
    symbol: `M${i}`,
    kind,
    priceDecimals: P,
    qtyDecimals: D,
    contractSize: kind === 1 ? r.pick([1n, 10n, 100n]) : 1n,
    basis: r.int(0, 1),
    form,
    floors: BigInt64Array.from(floors),
    mmr: BigInt64Array.from(mmr),
    imr: BigInt64Array.from(mmr, (m) => (m * 2n > 100_000_000n ? 100_000_000n : m * 2n)),
    ...(maint ? { maintAmount: maint } : {}),
    mark: onGrid(r, r.mag(r.pick([6, 9, 15])), tickSize, false),
    // Tick sizes (SPEC §2.5) and settlement assets (§5.4): most runs share one asset, so
    // positions open; a sixth keep the defaults, where linear and inverse cannot mix.
    ...(tickSize === 1n && r.int(0, 1) === 0 ? {} : { tickSize }),
    ...(asset === null ? {} : { settleAsset: asset }),
  }
}

const seen = { positions: 0, liquidationPrices: 0, bankruptcyPrices: 0, liquidatable: 0 }

function state(e: CoreEngine): unknown {
  const risks = attempt(() => e.positionRisks(null))
  const sweep = attempt(() => e.sweep(800_000n))
  if (e instanceof JsEngine) {
    if ('ok' in risks) {
      const r = risks.ok as ReturnType<CoreEngine['positionRisks']>
      seen.positions += r.account.length
      seen.liquidationPrices += r.liquidationPrice.filter((x) => x !== 0n).length
      seen.bankruptcyPrices += r.bankruptcyPrice.filter((x) => x !== 0n).length
    }
    if ('ok' in sweep)
      seen.liquidatable += (sweep.ok as ReturnType<CoreEngine['sweep']>).liquidatable.filter(
        (x) => x === 1,
      ).length
  }
  // The liquidation map (SPEC §18) of every market over the whole price range (and an unknown
  // index): every liquidation price in one of 7 buckets, so each is in the sums compared (few
  // buckets: deep equality of long typed arrays would dominate the run).
  const maps = [0, 1, 2, 3].map((m) => attempt(() => e.liquidationMap(m, 1n, 10n ** 15n, 7)))
  return [attempt(() => e.accountRows(null)), sweep, risks, maps]
}

function run(seed: bigint): { steps: number; errors: number } {
  const r = new Rng(seed)
  const q = r.int(0, 18)
  const engines: CoreEngine[] = [new native!.NativeEngine(q), new JsEngine(q)]
  let steps = 0
  let errors = 0
  // Draw every random argument before `both`: the two engines must see the same call.
  const both = (f: (e: CoreEngine) => unknown) => {
    const outs = engines.map((e) => attempt(() => f(e)))
    expect(outs[1], `seed ${seed} step ${steps}`).toEqual(outs[0])
    if ('code' in outs[0]!) errors++
    steps++
  }
  const nm = r.int(1, 3)
  const asset = r.int(0, 5) === 0 ? null : 'X'
  const ticks: bigint[] = []
  for (let i = 0; i < nm; i++) {
    const m = randomMarket(r, i, q, asset)
    ticks.push(m.tickSize ?? 1n)
    both((e) => e.addMarket(m))
  }
  const na = r.int(1, 8)
  const ids = Array.from({ length: na }, (_, i) => `acct-${i}`)
  const balances = BigInt64Array.from(
    ids,
    () => r.mag(r.pick([q + 4, 18])) * (r.int(0, 9) === 0 ? -1n : 1n),
  )
  both((e) => e.addAccounts(ids, balances))
  const ops = r.int(3, 10)
  for (let o = 0; o < ops; o++) {
    const kind = r.int(0, 9)
    if (kind < 6) {
      const n = r.int(1, 8)
      const acc = Uint32Array.from({ length: n }, () => r.int(0, na - (r.int(0, 30) === 0 ? 0 : 1)))
      const mkt = Uint32Array.from({ length: n }, () => r.int(0, nm - (r.int(0, 30) === 0 ? 0 : 1)))
      const flags = Uint8Array.from({ length: n }, () => r.pick([0, 0, 1, 2, 3]))
      const qty = BigInt64Array.from({ length: n }, () =>
        r.int(0, 12) === 0 ? 0n : r.mag(r.pick([3, 4, 6, 8, 15])) * (r.int(0, 1) ? 1n : -1n),
      )
      const price = BigInt64Array.from({ length: n }, (_, i) => {
        const p = r.mag(r.pick([4, 6, 6, 9, 15]))
        return flags[i]! & 2 ? p * (qty[i]! < 0n ? -1n : 1n) : p
      })
      const im = BigInt64Array.from({ length: n }, (_, i) => (flags[i]! & 1 ? r.mag(q + 6) : 0n))
      both((e) => e.setPositions(acc, mkt, qty, price, im, flags))
    } else if (kind < 8) {
      const m = Uint32Array.from({ length: r.int(1, nm) }, () => r.int(0, nm - 1))
      const marks = BigInt64Array.from(m, (x) =>
        onGrid(r, r.mag(r.pick([6, 9, 15, 16])), ticks[x] ?? 1n),
      )
      both((e) => e.setMarks(m, marks))
    } else if (kind === 8) {
      const who = Uint32Array.of(r.int(0, na - 1))
      const balance = BigInt64Array.of(r.mag(q + 6))
      both((e) => e.setBalances(who, balance))
    } else {
      const who = Uint32Array.of(r.int(0, na - 1))
      both((e) => e.removeAccounts(who))
    }
    both((e) => state(e))
  }
  return { steps, errors }
}

describe.skipIf(!native)('native vs TypeScript engine parity', () => {
  it('agrees on 2,000 random scenarios, errors included', () => {
    let steps = 0
    let errors = 0
    for (let i = 1; i <= 2000; i++) {
      const seed = BigInt(i) * 0x9e3779b97f4a7c15n
      const s = run(seed & 0xffffffffffffffffn)
      steps += s.steps
      errors += s.errors
    }
    // The generator must reach both outcomes often, or agreement proves little.
    expect(steps).toBeGreaterThan(10_000)
    expect(errors).toBeGreaterThan(500)
    expect(steps - errors).toBeGreaterThan(5_000)
    console.log(
      `parity: ${steps} calls (${errors} rejected alike); position rows compared ${seen.positions}, liquidation prices ${seen.liquidationPrices}, bankruptcy prices ${seen.bankruptcyPrices}, liquidatable rows ${seen.liquidatable}`,
    )
    expect(seen.positions).toBeGreaterThan(10_000)
    expect(seen.liquidationPrices).toBeGreaterThan(5_000)
    expect(seen.bankruptcyPrices).toBeGreaterThan(3_000)
    expect(seen.liquidatable).toBeGreaterThan(500)
  })
})

describe.skipIf(!native)('parity at the limits (SPEC §2.3)', () => {
  const tiers = (n: number) => ({
    floors: BigInt64Array.from({ length: n }, (_, t) => BigInt(t) * 1_000_000n),
    mmr: BigInt64Array.from({ length: n }, (_, t) => 500_000n * BigInt(t + 1)),
    imr: BigInt64Array.from({ length: n }, (_, t) => 1_000_000n * BigInt(t + 1)),
  })
  const cases: Array<[string, number, MarketInit, bigint, bigint, bigint, number]> = [
    // name, quoteDecimals, market, balance, qty, price, flags
    [
      'linear, one tick already beyond i64 atoms (cost basis)',
      18,
      {
        symbol: 'W',
        kind: 0,
        priceDecimals: 2,
        qtyDecimals: 0,
        contractSize: 1n,
        basis: 0,
        form: 0,
        ...tiers(3),
        mark: 1n,
      },
      0n,
      923n,
      1n,
      2,
    ],
    [
      'linear, the largest position that fits at one tick',
      18,
      {
        symbol: 'W',
        kind: 0,
        priceDecimals: 2,
        qtyDecimals: 0,
        contractSize: 1n,
        basis: 0,
        form: 0,
        ...tiers(3),
        mark: 1n,
      },
      0n,
      922n,
      1n,
      0,
    ],
    [
      'inverse, no price in the domain',
      8,
      {
        symbol: 'I',
        kind: 1,
        priceDecimals: 4,
        qtyDecimals: 0,
        contractSize: 1_000_000_000n,
        basis: 0,
        form: 0,
        ...tiers(3),
        mark: 1_000_000_000_000_000n,
      },
      0n,
      1_000_000_000_000_000n,
      5n,
      2,
    ],
    [
      'margin ratio beyond i64 ppm',
      0,
      {
        symbol: 'B',
        kind: 0,
        priceDecimals: 0,
        qtyDecimals: 0,
        contractSize: 1n,
        basis: 0,
        form: 0,
        ...tiers(1),
        mark: 1_000_000_000_000_000n,
      },
      1n,
      1000n,
      1_000_000_000_000_000n,
      0,
    ],
  ]
  it.each(cases)('%s', (_name, q, market, balance, qty, price, flags) => {
    const outs = [new native!.NativeEngine(q), new JsEngine(q)].map((e) => [
      attempt(() => e.addMarket(market)),
      attempt(() => e.addAccounts(['a'], BigInt64Array.of(balance))),
      attempt(() =>
        e.setPositions(
          Uint32Array.of(0),
          Uint32Array.of(0),
          BigInt64Array.of(qty),
          BigInt64Array.of(price),
          BigInt64Array.of(0n),
          Uint8Array.of(flags),
        ),
      ),
      state(e),
    ])
    expect(outs[1]).toEqual(outs[0])
  })
})
