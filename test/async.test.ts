// The sweep off the JS thread: same result as the sweep, taken on the state of the call (writes
// made while it runs do not leak into it), errors as coded rejections — on both engines.
import { describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import { load, makeSyntheticMarket } from '../src/synthetic.js'
import { IMPLEMENTATIONS } from './helpers.js'

describe.each(IMPLEMENTATIONS)('sweepAsync on the %s engine', (implementation) => {
  const book = makeSyntheticMarket(40_000, 10_000, 16)
  const e = new Engine({ implementation, quoteDecimals: book.quoteDecimals })
  load(e, book)
  const idx = Uint32Array.from(book.markets, (_, i) => i)
  const shocked = BigInt64Array.from(book.markets, (m) => (m.mark * 90n) / 100n)

  it('resolves to exactly what sweep returns', async () => {
    const sync = e.sweep({ warningRatio: '0.8' })
    expect(sync.liquidatable.length).toBeGreaterThan(10)
    expect(await e.sweepAsync({ warningRatio: '0.8', threads: 2 })).toEqual(sync)
  })

  it('sees the state as it was when called, even if the book moves meanwhile', async () => {
    const before = e.sweep()
    const pending = e.sweepAsync()
    e.core.setMarks(idx, shocked) // while the native sweep may still be running
    const after = e.sweep()
    expect(after.liquidatable.length).toBeGreaterThan(before.liquidatable.length)
    expect(await pending).toEqual(before)
    e.core.setMarks(
      idx,
      BigInt64Array.from(book.markets, (m) => m.mark),
    )
  })

  it('writes while a sweep runs land exactly as without it (state hash)', async () => {
    const write = (x: Engine) => {
      x.core.setMarks(idx, shocked)
      x.runWaterfall({ now: 1 })
      x.core.setMarks(
        idx,
        BigInt64Array.from(book.markets, (m) => m.mark),
      )
    }
    const plain = new Engine({ implementation, quoteDecimals: book.quoteDecimals })
    load(plain, book)
    const busy = new Engine({ implementation, quoteDecimals: book.quoteDecimals })
    load(busy, book)
    expect(busy.stateHash()).toBe(plain.stateHash())
    const before = busy.sweep()
    const pending = busy.sweepAsync({ threads: 2 })
    write(busy)
    write(plain)
    expect(await pending).toEqual(before)
    expect(busy.stateHash()).toBe(plain.stateHash())
  })

  it('many pending sweeps with a write after each: each sees its own state, and copies stay bounded', async () => {
    const x = new Engine({ implementation, quoteDecimals: book.quoteDecimals })
    load(x, book)
    const rss0 = process.memoryUsage().rss
    const pending: Array<Promise<unknown>> = []
    const expected: unknown[] = []
    for (let i = 0; i < 200; i++) {
      if (i % 40 === 0) expected[i] = x.sweep()
      pending.push(x.sweepAsync())
      x.core.setMarks(
        idx,
        BigInt64Array.from(book.markets, (m) => (m.mark * BigInt(90 + (i % 20))) / 100n),
      )
    }
    const grown = process.memoryUsage().rss - rss0
    const results = await Promise.all(pending)
    for (let i = 0; i < 200; i += 40) expect(results[i]).toEqual(expected[i])
    // One copy of the engine per pending write was 200 copies (≈ 5 MiB each here, 3.3 GiB at 200k
    // positions); now at most a few generations are kept, the rest are swept at the call.
    if (implementation === 'native') expect(grown).toBeLessThan(300 * 2 ** 20)
  })

  it('rejects bad arguments with a coded error', async () => {
    await expect(e.sweepAsync({ threads: 0 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      name: 'DeleverageError',
    })
  })
})
