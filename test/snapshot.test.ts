// Snapshots and the state hash (SPEC §12) across the two engines: byte-identical snapshots and
// equal hashes on random books after waterfall cascades, each engine restoring the other's, and
// damaged snapshots rejected alike (code and message) by both.
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import { JsEngine } from '../src/fallback/engine.js'
import { loadNative } from '../src/native.js'
import { IMPLEMENTATIONS, Rng, codeOf } from './helpers.js'

const native = loadNative().binding!

/** A random book driven through a falling path with the waterfall, on the given engine. */
function cascade(implementation: 'native' | 'js', seed: bigint): Engine {
  const r = new Rng(seed)
  const e = new Engine({ implementation, quoteDecimals: 8 })
  e.addMarket({
    symbol: 'BTC',
    priceDecimals: 1,
    qtyDecimals: 3,
    tiers: [
      { floor: '0', mmr: '0.005' },
      { floor: '500000', mmr: '0.01' },
    ],
    mark: '30000',
  })
  e.addMarket({
    symbol: 'XBTUSD',
    type: 'inverse',
    priceDecimals: 1,
    qtyDecimals: 0,
    contractSize: '1',
    marginBasis: 'entry',
    tierForm: 'step',
    tiers: [
      { floor: '0', mmr: '0.0035' },
      { floor: '20', mmr: '0.0085' },
    ],
    mark: '30000',
  })
  e.configureWaterfall({
    ranking: r.pick(['bitmex', 'binance', 'hyperliquid', 'prorata'] as const),
    fundPolicy: r.chance(0.5)
      ? { kind: 'drawdown', trigger: '0.5', stop: '0.2', window: 5 }
      : { kind: 'exhausted' },
  })
  e.depositInsuranceFund(String(r.int(0, 500)), 0)
  const accounts = []
  for (let i = 0; i < 30; i++) {
    const positions = []
    if (r.chance(0.8))
      positions.push({
        symbol: 'BTC',
        qty: `${r.int(-3000, 3000) || 1}.${r.int(100, 999)}`.replace('-0.', '-0.'),
        entry: String(r.int(28000, 32000)),
        ...(r.chance(0.3) ? { isolatedMargin: String(r.int(100, 20000)) } : {}),
      })
    // One settlement asset per account (SPEC §5.4): XBTUSD only for accounts without BTC.
    if (r.chance(0.6) && positions.length === 0)
      positions.push({
        symbol: 'XBTUSD',
        qty: String(r.int(-30000, 30000) || 5),
        entry: String(r.int(28000, 32000)),
      })
    accounts.push({ id: `acct-${i}`, balance: String(r.int(100, 3_000_000)), positions })
  }
  e.addAccounts(accounts)
  e.removeAccounts(['acct-3'])
  for (let step = 1; step <= 5; step++) {
    e.setMarks({
      BTC: String(30000 - step * r.int(500, 1500)),
      XBTUSD: String(30000 - step * r.int(300, 1200)),
    })
    e.runWaterfall({ fill: { ppmPerLot: 1, capPpm: 30000 }, now: step })
    e.settleFunding('BTC', '0.0001')
  }
  return e
}

describe('state hash and snapshots, native and TypeScript', () => {
  it('the hash is SHA-256 of the snapshot body, and the body is its checksum', () => {
    const e = cascade('js', 1n)
    const s = e.snapshot()
    const len = Number(new DataView(s.buffer, s.byteOffset).getBigUint64(12, true))
    const body = s.subarray(20, 20 + len)
    expect(createHash('sha256').update(body).digest('hex')).toBe(e.stateHash())
    expect(Buffer.from(s.subarray(20 + len)).toString('hex')).toBe(e.stateHash())
    expect(s.length).toBe(20 + len + 32)
  })

  it('equal states on both engines: equal hashes and byte-identical snapshots, after cascades', () => {
    for (let seed = 1n; seed <= 12n; seed++) {
      const n = cascade('native', seed)
      const j = cascade('js', seed)
      expect(n.events().length, `seed ${seed}`).toBeGreaterThan(0)
      expect(j.stateHash(), `seed ${seed}`).toBe(n.stateHash())
      expect(Buffer.from(j.snapshot()).equals(Buffer.from(n.snapshot())), `seed ${seed}`).toBe(true)
    }
  })

  it('each engine restores the other, and the restored engine goes on identically', () => {
    for (const seed of [3n, 8n]) {
      const src = cascade('native', seed)
      const snap = src.snapshot()
      for (const implementation of IMPLEMENTATIONS) {
        const back = Engine.restore(snap, { implementation })
        expect(back.implementation).toBe(implementation)
        expect(back.stateHash()).toBe(src.stateHash())
        expect(back.accounts()).toEqual(src.accounts())
        expect(back.positions()).toEqual(src.positions())
        expect(back.events()).toEqual(src.events())
        expect(back.ledger()).toEqual(src.ledger())
      }
      const [a, b] = [
        Engine.restore(snap, { implementation: 'native' }),
        Engine.restore(snap, { implementation: 'js' }),
      ]
      for (const x of [a, b, src]) {
        x.setMarks({ BTC: '20000', XBTUSD: '21000' })
        x.runWaterfall({ now: 9 })
        x.settleFunding('XBTUSD', '-0.0003')
      }
      expect(a.stateHash()).toBe(src.stateHash())
      expect(b.stateHash()).toBe(src.stateHash())
    }
  })

  it('two engines in one process are independent', () => {
    const [x, y] = [cascade('native', 5n), cascade('native', 5n)]
    const hy = y.stateHash()
    x.setMarks({ BTC: '100' })
    x.runWaterfall()
    expect(y.stateHash()).toBe(hy)
    expect(x.stateHash()).not.toBe(hy)
  })
})

/** The same damaged bytes on both engines' decoders: code and message. */
function rejection(bytes: Uint8Array): [string, string][] {
  return [() => native.NativeEngine.restore(bytes), () => JsEngine.restore(bytes)].map((f) => {
    try {
      f()
      return ['accepted', '']
    } catch (e) {
      const m = /^([A-Z_]+): ([\s\S]*)$/.exec((e as Error).message)
      return m ? [m[1]!, m[2]!] : [(e as { code: string }).code, (e as Error).message]
    }
  })
}

function reseal(s: Uint8Array): Uint8Array {
  const body = s.subarray(20, s.length - 32)
  const out = new Uint8Array(s.length)
  out.set(s.subarray(0, s.length - 32))
  out.set(createHash('sha256').update(body).digest(), s.length - 32)
  return out
}

describe('damaged snapshots are rejected clearly and alike', () => {
  const snap = cascade('js', 4n).snapshot()

  it.each([
    [
      'truncated header',
      snap.subarray(0, 11),
      'SNAPSHOT_TRUNCATED',
      /shorter than its 20-byte header/,
    ],
    [
      'truncated body',
      snap.subarray(0, snap.length - 100),
      'SNAPSHOT_TRUNCATED',
      /announces \d+ body bytes/,
    ],
    ['missing checksum byte', snap.subarray(0, snap.length - 1), 'SNAPSHOT_TRUNCATED', /announces/],
    [
      'corrupted body byte',
      Uint8Array.from(snap, (b, i) => (i === 200 ? b ^ 4 : b)),
      'SNAPSHOT_CHECKSUM',
      /checksum mismatch \(offset \d+\)/,
    ],
    [
      'corrupted checksum byte',
      Uint8Array.from(snap, (b, i) => (i === snap.length - 1 ? b ^ 1 : b)),
      'SNAPSHOT_CHECKSUM',
      /the snapshot says/,
    ],
    [
      'wrong version',
      Uint8Array.from(snap, (b, i) => (i === 8 ? 3 : b)),
      'SNAPSHOT_VERSION',
      /version 3 \(offset 8\) is not supported; this engine reads version 2/,
    ],
    // Version 1 (before tick sizes and settlement assets, SPEC §12.2) is refused, not guessed.
    [
      'version 1',
      Uint8Array.from(snap, (b, i) => (i === 8 ? 1 : b)),
      'SNAPSHOT_VERSION',
      /version 1 \(offset 8\) is not supported/,
    ],
    [
      'bad magic',
      Uint8Array.from(snap, (b, i) => (i === 0 ? 0x58 : b)),
      'SNAPSHOT_INVALID',
      /not a deleverage snapshot/,
    ],
    [
      'trailing bytes',
      Uint8Array.from([...snap, 0]),
      'SNAPSHOT_INVALID',
      /1 bytes after the checksum/,
    ],
    [
      'forged mark of 0 (re-sealed)',
      reseal(Uint8Array.from(snap, (b, i) => (i >= 42 && i < 50 ? 0 : b))),
      'SNAPSHOT_INVALID',
      /offset 25: market 0: INVALID_PRICE: market BTC: mark must be within/,
    ],
  ])('%s', (_name, bytes, code, message) => {
    const [n, j] = rejection(bytes)
    expect(n![0]).toBe(code)
    expect(n![1]).toMatch(message)
    expect(j).toEqual(n)
  })

  it('every single corrupted byte, on both engines, the same error', () => {
    const small = new Engine({ implementation: 'js' })
    small.addMarket({
      symbol: 'ETH',
      priceDecimals: 2,
      qtyDecimals: 3,
      tiers: [{ floor: '0', mmr: '0.01' }],
      mark: '2000',
    })
    small.addAccounts([
      {
        id: 'a',
        balance: '10',
        positions: [{ symbol: 'ETH', qty: '1', entry: '2000', isolatedMargin: '5' }],
      },
    ])
    const s = small.snapshot()
    for (let i = 0; i < s.length; i++) {
      const [n, j] = rejection(Uint8Array.from(s, (b, k) => (k === i ? b ^ 0x10 : b)))
      expect(n![0], `byte ${i}`).toMatch(/^SNAPSHOT_/)
      expect(j, `byte ${i}`).toEqual(n)
    }
  })

  it('random re-sealed bodies: never a crash, the same verdict on both engines', () => {
    const r = new Rng(99n)
    const s = cascade('js', 6n).snapshot()
    for (let k = 0; k < 300; k++) {
      const t = Uint8Array.from(s)
      for (let m = r.int(1, 3); m > 0; m--) t[r.int(20, s.length - 33)] = r.int(0, 255)
      const [n, j] = rejection(reseal(t))
      expect(j, `case ${k}`).toEqual(n)
    }
  })

  it.each(IMPLEMENTATIONS)(
    'through the API (%s): a DeleverageError with the code',
    (implementation) => {
      expect(codeOf(() => Engine.restore(snap.subarray(0, 30), { implementation }))).toBe(
        'SNAPSHOT_TRUNCATED',
      )
      expect(
        codeOf(() =>
          Engine.restore(
            Uint8Array.from(snap, (b, i) => (i === 300 ? b ^ 1 : b)),
            { implementation },
          ),
        ),
      ).toBe('SNAPSHOT_CHECKSUM')
    },
  )
})
