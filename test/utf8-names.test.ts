// UTF-8 symbols and account ids (issue 17: 5 of Binance's 907 USDT-M pairs are not ASCII, e.g.
// 币安人生USDT): 1–64 bytes of UTF-8 without spaces or control characters, ordered bytewise in
// both engines — sort tie-breaks, the state bytes and hash, snapshots read by the other engine.
import { describe, expect, it } from 'vitest'
import { Engine, JsEngine, type CoreEngine } from '../src/index.js'
import { loadNative } from '../src/native.js'
import { IMPLEMENTATIONS, attempt, codeOf } from './helpers.js'

const native = loadNative().binding
const SYMBOL = '币安人生USDT'
// Bytewise UTF-8 order differs from UTF-16 order here: U+E000 (EE 80 80) sorts before 🚀
// (U+1F680, F0 9F 9A 80), while its UTF-16 unit 0xE000 is above 🚀's lead surrogate 0xD83D.
const IDS = ['交易员', '\u{e000}x', '🚀trader', 'zeta', 'Ärger', 'alpha']
const bytewise = [...IDS].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))

function book(implementation: 'native' | 'js'): Engine {
  const e = new Engine({ quoteDecimals: 8, implementation })
  e.addMarket({
    symbol: SYMBOL,
    priceDecimals: 4,
    qtyDecimals: 0,
    tiers: [{ floor: '0', mmr: '0.01', maxLeverage: '50' }],
    mark: '0.5',
  })
  // Every account the same position and balance: the sweep's order is the id tie-break alone.
  e.addAccounts(
    IDS.map((id) => ({
      id,
      balance: '10',
      positions: [{ symbol: SYMBOL, qty: '1000', entry: '0.6' }],
    })),
  )
  return e
}

describe.each(IMPLEMENTATIONS)('UTF-8 names (%s)', (impl) => {
  it('takes 币安人生USDT and non-ASCII ids, and orders ties bytewise', () => {
    const e = book(impl)
    const rows = e.sweep().liquidatable
    expect(rows.map((r) => r.account)).toEqual(bytewise)
    expect(bytewise.indexOf('\u{e000}x')).toBeLessThan(bytewise.indexOf('🚀trader'))
    expect(e.positions().map((p) => p.symbol)).toEqual(new Array(IDS.length).fill(SYMBOL))
  })

  it('refuses spaces, control characters and more than 64 bytes, naming the rule', () => {
    const e = book(impl)
    const before = e.stateHash()
    const add = (id: string) => () => e.addAccounts([{ id, balance: '1' }])
    for (const bad of ['a b', 'a\u0085b', 'a\u007fb', '币'.repeat(22), '']) {
      expect(codeOf(add(bad)), JSON.stringify(bad)).toBe('INVALID_ID')
    }
    expect(codeOf(add('币'.repeat(21)))).toBe('did not throw') // 63 bytes
    expect(codeOf(add('币'.repeat(21) + 'a'))).toBe('did not throw') // 64 bytes
    const again = book(impl)
    expect(again.stateHash()).toBe(before)
    expect(() => again.addAccounts([{ id: 'a b', balance: '1' }])).toThrow(
      /1–64 bytes of UTF-8 without spaces or control characters/,
    )
  })
})

describe.skipIf(!native)('UTF-8 names: both engines', () => {
  it('give the same state hash, and read each other’s snapshots', () => {
    const [n, j] = [book('native'), book('js')]
    expect(j.stateHash()).toBe(n.stateHash())
    const fromNative = Engine.restore(n.snapshot(), { implementation: 'js' })
    const fromJs = Engine.restore(j.snapshot(), { implementation: 'native' })
    expect(fromNative.stateHash()).toBe(n.stateHash())
    expect(fromJs.stateHash()).toBe(n.stateHash())
    expect(fromNative.sweep().liquidatable.map((r) => r.account)).toEqual(bytewise)
  })

  it('refuse alike, with the same message', () => {
    const c: CoreEngine[] = [new native!.NativeEngine(8), new JsEngine(8)]
    for (const id of [
      'a b',
      'x\u0000',
      'a\u009fb',
      '币'.repeat(22),
      '🚀'.repeat(17),
      '🚀'.repeat(16),
    ]) {
      const out = c.map((e) => attempt(() => e.addAccounts([id], BigInt64Array.of(1n))))
      expect(out[1], JSON.stringify(id)).toEqual(out[0])
    }
  })
})
