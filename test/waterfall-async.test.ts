// The waterfall off the JS thread: the same events and state as the sync call, and while it runs
// the engine is the call's — every other call (reads included) is refused with ENGINE_BUSY and
// changes nothing. On both engines; journaled like the sync call.
import { describe, expect, it } from 'vitest'
import { DeleverageError, Engine } from '../src/index.js'
import { load, makeSyntheticMarket } from '../src/synthetic.js'
import { loadNative } from '../src/native.js'
import { IMPLEMENTATIONS } from './helpers.js'

const book = makeSyntheticMarket(20_000, 5_000, 8)
const idx = Uint32Array.from(book.markets, (_, i) => i)
const shocked = BigInt64Array.from(book.markets, (m) => (m.mark * 85n) / 100n)

function shockedEngine(implementation: 'native' | 'js'): Engine {
  const e = new Engine({ implementation, quoteDecimals: book.quoteDecimals })
  load(e, book)
  e.core.setMarks(idx, shocked)
  return e
}

/** The code `f` throws (synchronously), or what happened instead. */
function thrown(f: () => unknown): string {
  try {
    f()
    return 'did not throw'
  } catch (e) {
    return e instanceof DeleverageError ? e.code : `uncoded: ${String(e)}`
  }
}

describe.each(IMPLEMENTATIONS)('runWaterfallAsync on the %s engine', (implementation) => {
  const fill = { ppmPerLot: 20n, capPpm: 50_000n }

  it('resolves to the events of runWaterfall and leaves the same state', async () => {
    const sync = shockedEngine(implementation)
    const async = shockedEngine(implementation)
    const events = sync.runWaterfall({ fill, now: 5 })
    expect(events.length).toBeGreaterThan(100)
    expect(await async.runWaterfallAsync({ fill, now: 5 })).toEqual(events)
    expect(async.stateHash()).toBe(sync.stateHash())
  })

  it('refuses every other call while it runs, and those calls change nothing', async () => {
    const plain = shockedEngine(implementation)
    const held = shockedEngine(implementation)
    const expected = plain.runWaterfall({ now: 1 })
    const pending = held.runWaterfallAsync({ now: 1 })
    expect(thrown(() => held.stateHash())).toBe('ENGINE_BUSY')
    expect(thrown(() => held.sweep())).toBe('ENGINE_BUSY')
    expect(thrown(() => held.setMarks({ [book.markets[0]!.symbol]: '1' }))).toBe('ENGINE_BUSY')
    expect(thrown(() => held.runWaterfall())).toBe('ENGINE_BUSY')
    expect(thrown(() => held.core.setMarks(idx, shocked))).toBe('ENGINE_BUSY')
    await expect(held.runWaterfallAsync()).rejects.toMatchObject({ code: 'ENGINE_BUSY' })
    expect(await pending).toEqual(expected)
    expect(held.stateHash()).toBe(plain.stateHash())
    // and the engine is free again
    expect(held.runWaterfall({ now: 2 })).toEqual(plain.runWaterfall({ now: 2 }))
  })

  it('a refused argument rejects before anything runs; the engine stays free', async () => {
    const e = shockedEngine(implementation)
    const before = e.stateHash()
    await expect(e.runWaterfallAsync({ now: -1 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
    expect(e.stateHash()).toBe(before)
  })

  it('is journaled as runWaterfall: the replay on either engine ends in the same state', async () => {
    const e = shockedEngine(implementation)
    const start = e.snapshot()
    e.startJournal()
    await e.runWaterfallAsync({ fill, now: 9 })
    const journal = e.journal()
    for (const other of IMPLEMENTATIONS)
      expect(Engine.replay(start, journal, { implementation: other }).stateHash()).toBe(
        e.stateHash(),
      )
  })
})

describe('the native task without the TypeScript guard', () => {
  const { binding } = loadNative()
  it.skipIf(!binding)(
    'refuses writes with ENGINE_BUSY until finishAsync takes the engine back',
    async () => {
      const e = shockedEngine('native')
      const raw = (e.core as unknown as { inner: unknown }).inner as {
        runWaterfallAsync(m: number, p: bigint, c: bigint, t: bigint): Promise<bigint>
        finishAsync(): void
        setMarks(i: Uint32Array, m: BigInt64Array): void
      }
      const pending = raw.runWaterfallAsync(0, 0n, 0n, 0n)
      // the binding's own check (the engine's busy flag is not set: this bypasses Engine)
      expect(thrown(() => raw.setMarks(idx, shocked))).toBe('ENGINE_BUSY')
      await pending
      raw.finishAsync()
      raw.setMarks(idx, shocked)
    },
  )
})
