// No panic reaches Node (DESIGN §5): a panic forced inside a synchronous export and inside the
// off-thread compute of sweepAsync (the test-only `__testPanic` hook, enabled by
// DELEVERAGE_TEST_HOOKS=1 at call time) becomes a JS error with the stable code INTERNAL; the
// process lives on, and the engine is unchanged and usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'

type Hooked = { __testPanic(at: string): Promise<unknown> | undefined }

describe('a Rust panic becomes a JS error (native engine)', () => {
  const e = new Engine({ implementation: 'native' })
  e.addMarket({
    symbol: 'BTC',
    priceDecimals: 1,
    qtyDecimals: 3,
    tiers: [{ floor: '0', mmr: '0.005' }],
    mark: '30000',
  })
  e.addAccounts([
    { id: 'a', balance: '100', positions: [{ symbol: 'BTC', qty: '0.1', entry: '30000' }] },
  ])
  // engine.core journals; the native engine (behind the error-mapping wrapper) is its `inner`.
  const hooked = (e.core as unknown as { inner: Hooked }).inner
  const before = e.stateHash()

  beforeAll(() => {
    process.env.DELEVERAGE_TEST_HOOKS = '1'
  })
  afterAll(() => {
    delete process.env.DELEVERAGE_TEST_HOOKS
  })

  it('inside a synchronous export', () => {
    let caught: unknown
    try {
      hooked.__testPanic('sync')
    } catch (x) {
      caught = x
    }
    expect(caught).toMatchObject({ name: 'DeleverageError', code: 'INTERNAL' })
    expect((caught as Error).message).toMatch(/forced by the test hook inside a synchronous export/)
    expect(e.stateHash()).toBe(before)
    expect(e.sweep().liquidatable).toEqual([])
  })

  it('inside the off-thread compute of sweepAsync', async () => {
    await expect(hooked.__testPanic('sweepAsync')).rejects.toMatchObject({
      name: 'DeleverageError',
      code: 'INTERNAL',
      message: 'the sweep panicked',
    })
    expect(e.stateHash()).toBe(before)
    // The libuv pool and the engine still work.
    expect(await e.sweepAsync({ threads: 2 })).toEqual(e.sweep())
    e.setMarks({ BTC: '29000' })
    expect(e.stateHash()).not.toBe(before)
  })

  it('is refused without DELEVERAGE_TEST_HOOKS=1', () => {
    delete process.env.DELEVERAGE_TEST_HOOKS
    try {
      expect(() => hooked.__testPanic('sync')).toThrow(/test hooks are disabled/)
    } finally {
      process.env.DELEVERAGE_TEST_HOOKS = '1'
    }
  })
})
