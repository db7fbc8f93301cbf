// The operation journal (SPEC §13): random operation sequences (valid and rejected) journalled on
// one engine and replayed from the starting snapshot on both — same decisions, same events, same
// final state hash — and a journal or snapshot that does not match is refused, naming where.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Engine } from '../src/index.js'
import { IMPLEMENTATIONS, codeOf } from './helpers.js'
import { applyOp, opArb, startBook } from './ops.js'

function journalled(
  implementation: 'native' | 'js',
  ops: Parameters<typeof applyOp>[1][],
): { start: Uint8Array; journal: Uint8Array; end: string; events: number } {
  const e = startBook(implementation)
  const start = e.snapshot()
  e.startJournal()
  for (const op of ops) {
    try {
      applyOp(e.core, op)
    } catch {
      // rejected: journalled with its code and message
    }
  }
  // core.events: Engine.events() cannot name a removed account (see the report), the count is enough
  return {
    start,
    journal: e.stopJournal(),
    end: e.stateHash(),
    events: e.core.events(0n).kind.length,
  }
}

describe('journal replay', () => {
  it.each(IMPLEMENTATIONS)(
    'a %s journal replays on both engines to the same state, byte-identical journals',
    (implementation) => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), (ops) => {
          const j = journalled(implementation, ops)
          const other = journalled(implementation === 'native' ? 'js' : 'native', ops)
          expect(Buffer.from(other.journal).equals(Buffer.from(j.journal))).toBe(true)
          for (const on of IMPLEMENTATIONS) {
            const r = Engine.replay(j.start, j.journal, { implementation: on })
            expect(r.stateHash()).toBe(j.end)
            expect(r.core.events(0n).kind.length).toBe(j.events)
          }
        }),
        { numRuns: 25, seed: 7 },
      )
    },
  )

  it('through the public API too, and the journal proves what was decided', () => {
    const e = startBook('native')
    const start = e.snapshot()
    e.startJournal()
    e.setMarks({ 'BTC-PERP': '27000' })
    expect(codeOf(() => e.setMarks({ 'BTC-PERP': '0' }))).toBe('INVALID_PRICE')
    const events = e.runWaterfall({ fill: { ppmPerLot: 2, capPpm: 30000 }, now: 1 })
    expect(events.length).toBeGreaterThan(0)
    e.settleFunding('XBTUSD', '0.0001')
    const journal = e.journal()
    const r = Engine.replay(start, journal, { implementation: 'js' })
    expect(r.stateHash()).toBe(e.stateHash())
    expect(r.events()).toEqual(e.events())
    expect(r.ledger()).toEqual(e.ledger())
  })

  it('refuses a journal that does not fit the snapshot or the engine', () => {
    const j = journalled('js', [
      { k: 'mark', m: 0, pct: 90n },
      { k: 'run', impact: false, now: 1n },
    ])
    // Another starting point.
    const other = startBook('js')
    other.setMarks({ 'BTC-PERP': '30001' })
    expect(codeOf(() => Engine.replay(other.snapshot(), j.journal))).toBe('JOURNAL_MISMATCH')
    // A corrupted journal.
    const bad = Uint8Array.from(j.journal, (b, i) => (i === 60 ? b ^ 1 : b))
    expect(codeOf(() => Engine.replay(j.start, bad))).toBe('JOURNAL_INVALID')
    expect(codeOf(() => Engine.replay(j.start, j.journal.subarray(0, 50)))).toBe('JOURNAL_INVALID')
    expect(codeOf(() => startBook('js').journal())).toBe('INVALID_ARGUMENT')
  })

  it('a replay that decides differently is a mismatch naming the entry', () => {
    // Journal a rejected deposit on a book whose fund cannot go negative, then replay it on a
    // snapshot where the same call succeeds: the base hash check catches a different start...
    const e = startBook('js')
    const start = e.snapshot()
    e.startJournal()
    expect(codeOf(() => e.depositInsuranceFund('-20'))).toBe('INVALID_AMOUNT')
    const journal = e.stopJournal()
    expect(Engine.replay(start, journal).stateHash()).toBe(e.stateHash())
    // ... and forging the recorded outcome (re-sealed, so only the decision differs) is caught.
    const body = Buffer.from(journal.subarray(0, journal.length - 32))
    const at = body.indexOf(
      Buffer.from('INVALID_AMOUNT'.split('').flatMap((ch) => [ch.charCodeAt(0), 0])),
    )
    expect(at).toBeGreaterThan(0)
    body[at] = 'X'.charCodeAt(0)
    const { createHash } = require('node:crypto') as typeof import('node:crypto')
    const forged = Buffer.concat([body, createHash('sha256').update(body).digest()])
    let message = ''
    try {
      Engine.replay(start, forged)
    } catch (x) {
      expect((x as { code: string }).code).toBe('JOURNAL_MISMATCH')
      message = (x as Error).message
    }
    expect(message).toMatch(/journal entry 0 \(depositFund\): the journal says XNVALID_AMOUNT/)
  })
})

describe('issue 12: trimEvents and rejected conversions in a journal', () => {
  it.each(IMPLEMENTATIONS)(
    'trimEvents on %s: numbering goes on, snapshot and hash keep it, both engines agree, a journal replays it',
    (implementation) => {
      const e = startBook(implementation)
      const start = e.snapshot()
      e.startJournal()
      e.setMarks({ 'BTC-PERP': '27000' })
      const first = e.runWaterfall({ now: 1 })
      // (a takeover and its ADL fill since the book keeps one settlement asset per account)
      expect(first.length).toBeGreaterThan(1)
      const next = BigInt(first[first.length - 1]!.seq + 1)
      const cut = first[1]!.seq
      e.trimEvents(cut)
      expect(e.events().map((x) => x.seq)).toEqual(first.slice(1).map((x) => x.seq))
      expect(e.core.nextSeq()).toBe(next)
      e.trimEvents(0) // already trimmed: a no-op
      expect(codeOf(() => e.trimEvents(next + 1n))).toBe('INVALID_ARGUMENT')
      e.settleFunding('XBTUSD', '0.0001')
      expect(e.events()[0]!.seq).toBe(cut)
      const journal = e.stopJournal()
      for (const on of IMPLEMENTATIONS) {
        const r = Engine.restore(e.snapshot(), { implementation: on })
        expect(r.stateHash()).toBe(e.stateHash())
        expect(r.events()).toEqual(e.events())
        expect(r.core.nextSeq()).toBe(e.core.nextSeq())
        const replayed = Engine.replay(start, journal, { implementation: on })
        expect(replayed.stateHash()).toBe(e.stateHash())
        expect(replayed.events()).toEqual(e.events())
      }
      // Trimming everything keeps the numbering too.
      e.trimEvents(e.core.nextSeq())
      expect(e.events()).toEqual([])
      const again = Engine.restore(e.snapshot(), { implementation })
      expect(again.core.nextSeq()).toBe(e.core.nextSeq())
      // An untrimmed engine's snapshot is unchanged by the new field: same hash as before trimming existed.
      expect(startBook(implementation).stateHash()).toBe(Engine.restore(start).stateHash())
    },
  )

  it.each(IMPLEMENTATIONS)(
    'a call the argument conversion refused on %s replays on both engines (SPEC §13)',
    (implementation) => {
      const e = startBook(implementation)
      const start = e.snapshot()
      e.startJournal()
      expect(codeOf(() => e.core.setMarks(Uint8Array.of(0) as never, BigInt64Array.of(5n)))).toBe(
        'INVALID_ARGUMENT',
      )
      expect(codeOf(() => e.core.takeOver(0, -1))).toBe('INVALID_ARGUMENT')
      expect(codeOf(() => e.core.setBalances([0] as never, BigInt64Array.of(1n)))).toBe(
        'INVALID_ARGUMENT',
      )
      e.setMarks({ 'BTC-PERP': '29000' })
      const journal = e.stopJournal()
      for (const on of IMPLEMENTATIONS)
        expect(Engine.replay(start, journal, { implementation: on }).stateHash()).toBe(
          e.stateHash(),
        )
    },
  )
})
