// engine.sweepColumns(): the sweep's typed-array columns through the decimal Engine, with ids,
// symbols and decimal rows made only on request. It must give exactly sweep()'s rows.
import { describe, expect, it } from 'vitest'
import { CROSS } from '../src/index.js'
import { load, makeRaggedMarket } from '../src/synthetic.js'
import { IMPLEMENTATIONS, codeOf, engine } from './helpers.js'

const book = makeRaggedMarket(6_000, { liquidatablePct: 3, nearLimit: 4, seed: 31 })

describe.each(IMPLEMENTATIONS)('sweepColumns on the %s engine', (implementation) => {
  const e = engine(implementation)
  load(e, book)

  it("has sweep()'s rows, in its order, liquidatable first", () => {
    for (const warningRatio of [undefined, '0.5']) {
      const rows = e.sweep({ warningRatio })
      const c = e.sweepColumns({ warningRatio })
      expect(c.liquidatableCount).toBe(rows.liquidatable.length)
      expect(c.account.length).toBe(rows.liquidatable.length + rows.warnings.length)
      const all = [...rows.liquidatable, ...rows.warnings]
      all.forEach((r, i) => {
        expect(c.row(i)).toEqual(r)
        expect(c.accountId(i)).toBe(r.account)
        expect(c.symbol(i)).toBe(r.symbol)
        expect(c.market[i] === CROSS).toBe(r.symbol === null)
      })
      expect(c.quoteDecimals).toBe(8)
    }
    // the book is not trivial: both kinds of rows, and warnings beyond them
    const c = e.sweepColumns({ warningRatio: '0.5' })
    expect(c.liquidatableCount).toBeGreaterThan(20)
    expect(c.account.length).toBeGreaterThan(c.liquidatableCount)
    expect([...c.market.slice(0, c.liquidatableCount)].some((m) => m !== CROSS)).toBe(true)
  })

  it('gives the same columns on two threads', () => {
    const one = e.sweepColumns({ warningRatio: '0.5' })
    const two = e.sweepColumns({ warningRatio: '0.5', threads: 2 })
    for (const k of [
      'account',
      'market',
      'equity',
      'maintenanceMargin',
      'marginRatioPpm',
      'liquidatable',
    ] as const)
      expect([...two[k]]).toEqual([...one[k]])
  })

  it('refuses a row outside the columns', () => {
    const c = e.sweepColumns()
    expect(codeOf(() => c.row(c.account.length))).toBe('INVALID_ARGUMENT')
    expect(codeOf(() => c.accountId(-1))).toBe('INVALID_ARGUMENT')
    expect(codeOf(() => c.symbol(0.5))).toBe('INVALID_ARGUMENT')
    expect(codeOf(() => e.sweepColumns({ threads: 0 }))).not.toBe('did not throw')
  })
})
