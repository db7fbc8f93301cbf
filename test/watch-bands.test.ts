// The TypeScript watch's bands are the Rust watch's, not merely valid ones: on random books (linear
// and inverse, mark and entry basis, deduction and step tiers, isolated and cross) and a walk of
// mark moves, both engines re-check the same number of accounts on every update — with the
// TypeScript engine's number fast paths on and off (the index build takes them too).
import { afterEach, describe, expect, it } from 'vitest'
import { FLAG_ISOLATED, JsEngine, type CoreEngine, type MarketInit } from '../src/index.js'
import { setFastPaths } from '../src/fallback/fast.js'
import type { Watch } from '../src/fallback/watch.js'
import { loadNative } from '../src/native.js'
import { Rng } from './helpers.js'

const native = loadNative().binding
afterEach(() => setFastPaths(true))

function market(r: Rng, i: number): MarketInit {
  const kind = r.pick([0, 0, 1])
  const n = r.int(1, 4)
  const floors = [0n]
  const mmr = [r.big(200_000n, 2_000_000n)]
  for (let t = 1; t < n; t++) {
    floors.push(floors[t - 1]! + r.big(1n, 10n ** BigInt(r.int(6, 12))))
    mmr.push(mmr[t - 1]! + r.big(0n, 3_000_000n))
  }
  return {
    symbol: `M${i}`,
    kind,
    priceDecimals: r.int(0, 3),
    qtyDecimals: kind === 1 ? 0 : r.int(0, 3),
    contractSize: kind === 1 ? r.pick([1n, 10n, 100n]) : 1n,
    basis: r.pick([0, 0, 1]),
    form: r.pick([0, 0, 1]),
    floors: BigInt64Array.from(floors),
    mmr: BigInt64Array.from(mmr),
    imr: BigInt64Array.from(mmr, (m) => (m * 2n > 100_000_000n ? 100_000_000n : m * 2n)),
    mark: r.big(1_000n, 100_000_000n),
  }
}

function book(r: Rng, es: CoreEngine[]): bigint[] {
  const nm = r.int(2, 5)
  const marks: bigint[] = []
  for (let i = 0; i < nm; i++) {
    const init = market(r, i)
    marks.push(init.mark)
    for (const e of es) e.addMarket(init)
  }
  const na = 300
  const ids = Array.from({ length: na }, (_, i) => `a${i}`)
  const bal = BigInt64Array.from(ids, () => r.big(0n, 10n ** BigInt(r.int(4, 13))))
  for (const e of es) e.addAccounts(ids, bal)
  const rows: Array<[number, number, bigint, bigint, bigint, number]> = []
  for (let a = 0; a < na; a++) {
    for (let m = 0; m < nm; m++) {
      if (r.chance(0.4)) continue
      const iso = r.chance(0.2)
      const entry = marks[m]! + r.big(-marks[m]! / 10n, marks[m]! / 10n)
      // sizes from 1 lot to near the limits (2^53 and beyond for the number fast paths)
      const q = r.big(1n, 10n ** BigInt(r.int(1, 9))) * r.pick([1n, -1n])
      rows.push([
        a,
        m,
        q,
        entry < 1n ? 1n : entry,
        iso ? r.big(0n, 10n ** BigInt(r.int(3, 12))) : 0n,
        iso ? FLAG_ISOLATED : 0,
      ])
    }
  }
  for (const e of es) {
    for (const row of rows) {
      try {
        e.setPositions(
          Uint32Array.of(row[0]),
          Uint32Array.of(row[1]),
          BigInt64Array.of(row[2]),
          BigInt64Array.of(row[3]),
          BigInt64Array.of(row[4]),
          Uint8Array.of(row[5]),
        )
      } catch {
        // a row beyond the engine's limits is refused alike by both (watch.test.ts checks errors)
      }
    }
  }
  return marks
}

/** Every band end in the watch's heaps, per market, sorted: (key, account) pairs. */
function bandEnds(js: JsEngine): string {
  const w = js as unknown as {
    watch: {
      hi: Array<{ key: Float64Array; acc: Uint32Array; len: number }>
      lo: Array<{ key: Float64Array; acc: Uint32Array; len: number }>
    }
  }
  const side = (hs: Array<{ key: Float64Array; acc: Uint32Array; len: number }>) =>
    hs.map((h) =>
      Array.from({ length: h.len }, (_, i) => `${h.key[i]}@${h.acc[i]}`)
        .sort()
        .join(' '),
    )
  return JSON.stringify([side(w.watch.hi), side(w.watch.lo)])
}

describe("watch bands: the number fast paths give the BigInt reference's bands", () => {
  it('builds and refreshes the same heaps with the fast paths on and off', () => {
    const r = new Rng(0xfa57_ba4dn)
    let ends = 0
    for (let round = 0; round < 6; round++) {
      const fast = new JsEngine(8)
      const ref = new JsEngine(8)
      const marks = book(r, [fast, ref])
      const both = (f: (e: JsEngine) => unknown) => {
        setFastPaths(true)
        const a = (() => {
          try {
            return f(fast)
          } catch (e) {
            return String(e)
          }
        })()
        setFastPaths(false)
        const b = (() => {
          try {
            return f(ref)
          } catch (e) {
            return String(e)
          }
        })()
        setFastPaths(true)
        return [a, b]
      }
      for (let t = 0; t < 60; t++) {
        const m = r.int(0, marks.length - 1)
        const p = marks[m]!
        const s = r.pick([p / 3n, p / 40n, p / 400n, p / 5000n + 1n])
        let x = p + r.big(-s, s)
        if (x < 1n) x = 1n
        const [a, b] = both((e) => [
          ...e.updateMarks(Uint32Array.of(m), BigInt64Array.of(x)).account,
        ])
        expect(a).toEqual(b)
        if (Array.isArray(a)) marks[m] = x
        const [ea, eb] = [bandEnds(fast), bandEnds(ref)]
        expect(ea, `round ${round} step ${t}: band ends`).toBe(eb)
        ends += ea.length
      }
    }
    expect(ends).toBeGreaterThan(10_000)
  })
})

describe.skipIf(!native)('watch bands: the TypeScript index is the Rust index', () => {
  for (const fast of [true, false]) {
    it(`re-checks the same accounts on every update (fast paths ${fast ? 'on' : 'off'})`, () => {
      setFastPaths(fast)
      const r = new Rng(0xba4d_5eedn + (fast ? 1n : 0n))
      let rechecked = 0
      for (let round = 0; round < 4; round++) {
        const js = new JsEngine(8)
        const nat = new native!.NativeEngine(8)
        const marks = book(r, [nat, js])
        const watch = (js as unknown as { watch: Watch }).watch
        for (let t = 0; t < 150; t++) {
          const m = r.int(0, marks.length - 1)
          const p = marks[m]!
          const s = r.pick([p / 3n, p / 40n, p / 400n, p / 5000n + 1n])
          let x = p + r.big(-s, s)
          if (x < 1n) x = 1n
          let a: unknown, b: unknown
          try {
            a = [...nat.updateMarks(Uint32Array.of(m), BigInt64Array.of(x)).account]
          } catch (e) {
            a = (e as Error).message.replace(/^[A-Z_]+: /, '')
          }
          try {
            b = [...js.updateMarks(Uint32Array.of(m), BigInt64Array.of(x)).account]
          } catch (e) {
            b = (e as Error).message
          }
          expect(b, `round ${round} step ${t}`).toEqual(a)
          if (Array.isArray(a)) marks[m] = x
          expect(watch.lastRechecked, `round ${round} step ${t}: accounts re-checked`).toBe(
            (nat as unknown as { watchLastRechecked(): number }).watchLastRechecked(),
          )
          rechecked += watch.lastRechecked
        }
      }
      expect(rechecked).toBeGreaterThan(1000)
    })
  }
})
