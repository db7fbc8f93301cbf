// The liquidation watch (SPEC §14) and batched fills (SPEC §15) on both engines: random books and
// random price paths (ticks and jumps) interleaved with fills, position and balance writes,
// removals and waterfall steps. After every step each engine's watch equals its own full sweep,
// and the two engines agree on every output (changes, rows, errors, ledger), also after each has
// been restored from the other's snapshot.
import { describe, expect, it } from 'vitest'
import {
  CROSS,
  Engine,
  FLAG_ISOLATED,
  JsEngine,
  type CoreEngine,
  type Implementation,
  type MarginColumns,
  type MarketInit,
} from '../src/index.js'
import { loadNative } from '../src/native.js'
import { Rng, attempt, type Outcome } from './helpers.js'

const native = loadNative().binding
const IMPLEMENTATIONS_AVAILABLE = (): Implementation[] => (native ? ['native', 'js'] : ['js'])

function market(r: Rng, i: number): MarketInit {
  const kind = r.pick([0, 0, 1])
  const n = r.int(1, 3)
  const floors = [0n]
  const mmr = [r.big(200_000n, 2_000_000n)]
  for (let t = 1; t < n; t++) {
    floors.push(floors[t - 1]! + r.mag(10))
    mmr.push(mmr[t - 1]! + r.big(0n, 5_000_000n))
  }
  return {
    symbol: `M${i}`,
    kind,
    priceDecimals: r.int(0, 2),
    qtyDecimals: kind === 1 ? 0 : r.int(0, 2),
    contractSize: kind === 1 ? r.pick([1n, 10n, 100n]) : 1n,
    basis: r.pick([0, 0, 1]),
    form: r.int(0, 1),
    floors: BigInt64Array.from(floors),
    mmr: BigInt64Array.from(mmr),
    imr: BigInt64Array.from(mmr, (m) => (m * 2n > 100_000_000n ? 100_000_000n : m * 2n)),
    mark: r.big(1_000n, 10_000_000n),
  }
}

const plain = (c: MarginColumns) => ({
  account: [...c.account],
  market: [...c.market],
  equity: [...c.equity],
  mm: [...c.maintenanceMargin],
  ratio: [...c.marginRatioPpm],
  liq: [...c.liquidatable],
})

/** One random step, the same on every engine (draws depend only on the shared mark state). */
function step(
  r: Rng,
  es: CoreEngine[],
  nm: number,
  na: number,
  marks: bigint[],
  t: number,
): Outcome[] {
  const op = r.int(0, 99)
  const move = (m: number): bigint => {
    const p = marks[m]!
    const s = r.pick([
      p / 3n,
      p / 20n,
      p / 200n,
      p / 5000n > 0n ? p / 5000n : 1n,
      p / 5000n > 0n ? p / 5000n : 1n,
    ])
    let x = p + r.big(-s, s)
    if (x < 1n) x = 1n
    return x
  }
  if (op < 60) {
    const k = r.int(1, 2)
    const ms = Uint32Array.from({ length: k }, () => r.int(0, nm - 1))
    const ps = BigInt64Array.from(ms, (m) => move(m))
    const out = es.map((e) =>
      attempt(() => {
        const c = e.updateMarks(ms, ps)
        return { account: [...c.account], market: [...c.market], liq: [...c.liquidatable] }
      }),
    )
    if ('ok' in out[0]!) for (const [i, m] of ms.entries()) marks[m] = ps[i]!
    return out
  }
  if (op < 68) {
    const m = r.int(0, nm - 1)
    const p = move(m)
    marks[m] = p
    return es.map((e) => attempt(() => e.setMarks(Uint32Array.of(m), BigInt64Array.of(p))))
  }
  if (op < 80) {
    const k = r.int(1, 5)
    const acc = Uint32Array.from({ length: k }, () => r.int(0, na - 1))
    const mkt = Uint32Array.from({ length: k }, () => r.int(0, nm - 1))
    const qty = BigInt64Array.from({ length: k }, () => r.big(1n, 2000n) * r.pick([1n, -1n]))
    const px = BigInt64Array.from(mkt, (m) => {
      const p = marks[m]! + r.big(-marks[m]! / 50n, marks[m]! / 50n)
      return p < 1n ? 1n : p
    })
    return es.map((e) => {
      const cash = e.ledger().cashTotal
      const o = attempt(() => e.applyFills(acc, mkt, qty, px))
      if ('ok' in o) expect(e.ledger().cashTotal).toBe(cash)
      return o
    })
  }
  if (op < 86) {
    const a = r.int(0, na - 1)
    const b = r.big(-1_000_000n, 10_000_000_000n)
    return es.map((e) => attempt(() => e.setBalances(Uint32Array.of(a), BigInt64Array.of(b))))
  }
  if (op < 93) {
    const a = r.int(0, na - 1)
    const m = r.int(0, nm - 1)
    const remove = r.chance(0.25)
    const q = remove ? 0n : r.big(1n, 1_000_000n) * r.pick([1n, -1n])
    const iso = r.chance(0.25)
    const entry = marks[m]! + r.big(-marks[m]! / 10n, marks[m]! / 10n)
    const im = iso ? r.big(0n, 10n ** BigInt(r.int(3, 10))) : 0n
    return es.map((e) =>
      attempt(() =>
        e.setPositions(
          Uint32Array.of(a),
          Uint32Array.of(m),
          BigInt64Array.of(q),
          BigInt64Array.of(entry < 1n ? 1n : entry),
          BigInt64Array.of(im),
          Uint8Array.of(iso ? FLAG_ISOLATED : 0),
        ),
      ),
    )
  }
  if (op < 95) {
    const a = r.int(0, na - 1)
    return es.map((e) => attempt(() => e.removeAccounts(Uint32Array.of(a))))
  }
  if (op < 97) {
    const m = r.int(0, nm - 1)
    const rate = r.big(-100_000n, 100_000n)
    return es.map((e) => attempt(() => e.settleFunding(m, rate)))
  }
  return es.map((e) => attempt(() => e.runWaterfall(0, 0n, 0n, BigInt(t))))
}

describe.skipIf(!native)(
  'liquidation watch: each engine equals its own sweep, and the engines agree',
  () => {
    it('on random books and price paths with fills, writes, removals and waterfall steps', () => {
      const r = new Rng(0x5eed_0f_3a7c_11n)
      let compared = 0
      let changes = 0
      for (let round = 0; round < 6; round++) {
        const es: CoreEngine[] = [new native!.NativeEngine(8), new JsEngine(8)]
        const nm = r.int(1, 3)
        const marks: bigint[] = []
        for (let i = 0; i < nm; i++) {
          const init = market(r, i)
          marks.push(init.mark)
          for (const e of es) e.addMarket(init)
        }
        const na = 60
        const ids = Array.from({ length: na }, (_, i) => `a${String(i).padStart(3, '0')}`)
        const bal = BigInt64Array.from(ids, () => r.big(0n, 10n ** BigInt(r.int(4, 10))))
        for (const e of es) e.addAccounts(ids, bal)
        for (let a = 0; a < na; a++) {
          for (let m = 0; m < nm; m++) {
            if (r.chance(0.3)) continue
            const q = r.big(1n, 1_000_000n) * r.pick([1n, -1n])
            const iso = r.chance(0.25)
            const entry = marks[m]! + r.big(-marks[m]! / 10n, marks[m]! / 10n)
            const im = iso ? r.big(0n, 10n ** BigInt(r.int(3, 10))) : 0n
            const args = [
              Uint32Array.of(a),
              Uint32Array.of(m),
              BigInt64Array.of(q),
              BigInt64Array.of(entry),
              BigInt64Array.of(im),
              Uint8Array.of(iso ? FLAG_ISOLATED : 0),
            ] as const
            const o = es.map((e) => attempt(() => e.setPositions(...args)))
            expect(o[1]).toEqual(o[0])
          }
        }
        for (let t = 0; t < 250; t++) {
          if (t % 41 === 40) {
            // Swap engines through each other's snapshots: the watch's last report travels with
            // the state (SPEC §12.1), so the restored engines report exactly what these would.
            const [n, j] = [es[0]!.snapshot(), es[1]!.snapshot()]
            expect(j).toEqual(n)
            es.splice(0, 2, native!.NativeEngine.restore(j), JsEngine.restore(n))
          }
          const o = step(r, es, nm, na, marks, t)
          expect(o[1], `round ${round} step ${t}`).toEqual(o[0])
          const first = o[0] as { ok?: { account?: number[] } }
          if (first.ok && Array.isArray(first.ok.account)) changes += first.ok.account.length
          const rows = es.map((e) => attempt(() => plain(e.liquidatable())))
          expect(rows[1]).toEqual(rows[0])
          for (const [i, e] of es.entries()) {
            const sw = attempt(() => e.sweep(null))
            if ('ok' in sw && 'ok' in rows[i]!) {
              expect(rows[i]!.ok, `round ${round} step ${t}: watch vs sweep`).toEqual(
                plain(sw.ok as MarginColumns),
              )
              compared++
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(2500)
      expect(changes).toBeGreaterThan(100)
    })
  },
)

describe('batched fills', () => {
  const engines: Array<[string, () => CoreEngine]> = [['js', () => new JsEngine(6)]]
  if (native) engines.push(['native', () => new native.NativeEngine(6)])
  for (const [name, make] of engines) {
    it(`${name}: close then open in one batch; a bad row changes nothing; an isolated close returns its margin`, () => {
      const e = make()
      const m = e.addMarket({
        symbol: 'ETHUSDT',
        kind: 0,
        priceDecimals: 2,
        qtyDecimals: 3,
        contractSize: 1n,
        basis: 0,
        form: 0,
        floors: BigInt64Array.of(0n),
        mmr: BigInt64Array.of(500_000n),
        imr: BigInt64Array.of(1_000_000n),
        mark: 300_000n,
      })
      e.addAccounts(['x', 'y'], BigInt64Array.of(1_000_000_000n, 1_000_000_000n))
      // bought 2 ETH at 3000.00, sold 3 at 3100.00: +200 USDT realised, 1 short at 3100.00 left
      e.applyFills(
        Uint32Array.of(0, 0),
        Uint32Array.of(m, m),
        BigInt64Array.of(2000n, -3000n),
        BigInt64Array.of(300_000n, 310_000n),
      )
      const r = e.positionRisks(Uint32Array.of(0))
      expect([r.qty[0], r.cost[0]]).toEqual([-1000n, -310_000_000n])
      expect(e.balances(Uint32Array.of(0))[0]).toBe(1_200_000_000n)
      expect(e.ledger().settlement).toBe(-200_000_000n)
      const before = JSON.stringify(
        [...e.positionRisks(null).qty, ...e.balances(Uint32Array.of(0, 1)), e.ledger().settlement],
        (_, v) => (typeof v === 'bigint' ? String(v) : v),
      )
      expect(() =>
        e.applyFills(
          Uint32Array.of(1, 1),
          Uint32Array.of(m, 9),
          BigInt64Array.of(5n, 5n),
          BigInt64Array.of(1n, 1n),
        ),
      ).toThrow(/UNKNOWN_MARKET|no market/)
      expect(() =>
        e.applyFills(
          Uint32Array.of(1),
          Uint32Array.of(m),
          BigInt64Array.of(0n),
          BigInt64Array.of(1n),
        ),
      ).toThrow(/non-zero/)
      expect(() =>
        e.applyFills(
          Uint32Array.of(1),
          Uint32Array.of(m, m),
          BigInt64Array.of(1n),
          BigInt64Array.of(1n),
        ),
      ).toThrow(/differ in length/)
      const after = JSON.stringify(
        [...e.positionRisks(null).qty, ...e.balances(Uint32Array.of(0, 1)), e.ledger().settlement],
        (_, v) => (typeof v === 'bigint' ? String(v) : v),
      )
      expect(after).toBe(before)
      e.setPositions(
        Uint32Array.of(1),
        Uint32Array.of(m),
        BigInt64Array.of(1000n),
        BigInt64Array.of(300_000n),
        BigInt64Array.of(50_000_000n),
        Uint8Array.of(FLAG_ISOLATED),
      )
      const cash = e.ledger().cashTotal
      e.applyFills(
        Uint32Array.of(1),
        Uint32Array.of(m),
        BigInt64Array.of(-1000n),
        BigInt64Array.of(290_000n),
      )
      expect(e.positionRisks(Uint32Array.of(1)).account.length).toBe(0)
      expect(e.balances(Uint32Array.of(1))[0]).toBe(1_000_000_000n + 50_000_000n - 100_000_000n)
      expect(e.ledger().cashTotal).toBe(cash)
    })

    it(`${name}: the first updateMarks reports every liquidatable scope, later ones only changes`, () => {
      const e = make()
      const m = e.addMarket({
        symbol: 'BTCUSDT',
        kind: 0,
        priceDecimals: 1,
        qtyDecimals: 3,
        contractSize: 1n,
        basis: 0,
        form: 0,
        floors: BigInt64Array.of(0n),
        mmr: BigInt64Array.of(400_000n),
        imr: BigInt64Array.of(1_000_000n),
        mark: 500_000n,
      })
      e.addAccounts(['thin', 'rich'], BigInt64Array.of(1_000_000n, 1_000_000_000_000n))
      // 1 BTC long at 50 000.0 each; "thin" has 1 USDT of cross margin: liquidatable at once
      e.setPositions(
        Uint32Array.of(0, 1),
        Uint32Array.of(m, m),
        BigInt64Array.of(1000n, 1000n),
        BigInt64Array.of(500_000n, 500_000n),
        BigInt64Array.of(0n, 0n),
        Uint8Array.of(0, 0),
      )
      const first = e.updateMarks(Uint32Array.of(m), BigInt64Array.of(500_000n))
      expect([...first.account, ...first.market, ...first.liquidatable]).toEqual([0, CROSS, 1])
      expect(e.updateMarks(Uint32Array.of(m), BigInt64Array.of(499_999n)).account.length).toBe(0)
      const back = e.updateMarks(Uint32Array.of(m), BigInt64Array.of(520_000n))
      expect([...back.account, ...back.liquidatable]).toEqual([0, 0])
      // a fill that closes the position is a write: reported by the next update even without a move
      e.applyFills(
        Uint32Array.of(0),
        Uint32Array.of(m),
        BigInt64Array.of(-1000n),
        BigInt64Array.of(520_000n),
      )
      e.setBalances(Uint32Array.of(1), BigInt64Array.of(-1_900_000_000n)) // equity 100 USDT < MM 208 USDT
      const w = e.updateMarks(Uint32Array.of(m), BigInt64Array.of(520_000n))
      expect([...w.account, ...w.liquidatable]).toEqual([1, 1])
      expect([...e.liquidatable().account]).toEqual([...e.sweep(null).account])
    })
  }
})

describe.each(IMPLEMENTATIONS_AVAILABLE())('decimal API on the %s engine', (implementation) => {
  it('updateMarks reports flips, fills are writes the watch sees, liquidatable() equals the sweep', () => {
    const e = new Engine({ implementation, quoteDecimals: 6 })
    e.addMarket({
      symbol: 'BTC-PERP',
      priceDecimals: 1,
      qtyDecimals: 3,
      tiers: [{ floor: '0', mmr: '0.004' }],
      mark: '50000',
    })
    e.addAccounts([
      {
        id: 'alice',
        balance: '1000',
        positions: [{ symbol: 'BTC-PERP', qty: '1', entry: '50000' }],
      },
      {
        id: 'bob',
        balance: '100',
        positions: [{ symbol: 'BTC-PERP', qty: '-0.1', entry: '50000', isolatedMargin: '300' }],
      },
    ])
    expect(e.updateMarks({ 'BTC-PERP': '50000' })).toEqual([])
    // alice (1 BTC long, 1000 USDT): equity 1000 + (x − 50 000) ≤ 0.004·x from x ≤ 49 196.78
    expect(e.updateMarks({ 'BTC-PERP': '49200' })).toEqual([])
    expect(e.updateMarks({ 'BTC-PERP': '49190' })).toEqual([
      { account: 'alice', symbol: null, liquidatable: true },
    ])
    // bob's isolated short (0.1 BTC, margin 300): 300 − 0.1·(x − 50 000) ≤ 0.0004·x from x ≥ 52 788.85;
    // alice recovers on the way
    expect(e.updateMarks({ 'BTC-PERP': '53000' })).toEqual([
      { account: 'alice', symbol: null, liquidatable: false },
      { account: 'bob', symbol: 'BTC-PERP', liquidatable: true },
    ])
    expect(e.liquidatable()).toEqual(e.sweep().liquidatable)
    // bob buys back his short: the isolated position is gone, its margin (with the loss) returns
    e.applyFills([{ account: 'bob', symbol: 'BTC-PERP', qty: '0.1', price: '53000' }])
    expect(e.updateMarks({})).toEqual([{ account: 'bob', symbol: 'BTC-PERP', liquidatable: false }])
    // 100 + 300 of margin − 300 of loss (0.1 × 3000)
    expect(e.account('bob').balance).toMatch(/^100(\.0+)?$/)
    expect(e.liquidatable()).toEqual([])
  })
})
