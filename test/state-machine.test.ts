// State-machine test (fast-check): random sequences of every mutating operation, valid and not,
// applied to the native and the TypeScript engine side by side. After every step both engines
// must agree on the outcome (value, or error code and message), on the events emitted and on the
// state hash; a rejected operation must leave the hash unchanged; cash moves only by the host's
// own writes; the fund stays ≥ 0 while the engine alone decides under the exhausted policy.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EVENT_KINDS, type CoreEngine } from '../src/core.js'
import { applyOp, opArb, startBook, type Op } from './ops.js'

type Outcome = { ok: unknown } | { code: string; message: string }

function attempt(f: () => unknown): Outcome {
  try {
    return { ok: f() }
  } catch (e) {
    return { code: (e as { code: string }).code, message: (e as Error).message }
  }
}

/** Cash the host's own write adds or removes (null: the operation must conserve cash). */
function hostCashDelta(c: CoreEngine, op: Op): bigint | null {
  const imOf = (a: number, m: number): bigint => {
    try {
      const r = c.positionRisks(Uint32Array.of(a))
      for (let i = 0; i < r.market.length; i++)
        if (r.market[i] === m && r.isolated[i] === 1) return r.isolatedMargin[i]!
    } catch {
      // unknown account
    }
    return 0n
  }
  const balanceOf = (a: number): bigint => {
    try {
      return c.balances(Uint32Array.of(a))[0]!
    } catch {
      return 0n
    }
  }
  switch (op.k) {
    case 'addAccount':
      return op.balance
    case 'setBalance':
      return op.balance - balanceOf(op.a)
    case 'removeAccount': {
      let ims = 0n
      for (const m of [0, 1]) ims += imOf(op.a, m)
      return -(balanceOf(op.a) + ims)
    }
    case 'setPosition':
      return (op.qty !== 0n ? (op.iso ?? 0n) * 1_000_000n : 0n) - imOf(op.a, op.m)
    default:
      return null
  }
}

describe('random operation sequences on both engines (fast-check)', () => {
  it('agree step by step; rejections change nothing; cash and the fund hold', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const [n, j] = [startBook('native').core, startBook('js').core]
        let engineDecides = true
        let seq = n.ledger().nextSeq
        for (const [i, op] of ops.entries()) {
          const before = n.stateHash()
          const cash = n.ledger().cashTotal
          const fundBefore = n.ledger().insuranceFund
          const stepFirstSeq = seq
          const delta = hostCashDelta(n, op)
          const on = attempt(() => applyOp(n, op))
          const oj = attempt(() => applyOp(j, op))
          const where = `step ${i} ${JSON.stringify(op, (_, v) => (typeof v === 'bigint' ? `${v}n` : v))}`
          expect(oj, where).toEqual(on)
          const hash = n.stateHash()
          expect(j.stateHash(), where).toBe(hash)
          expect(j.events(seq), where).toEqual(n.events(seq))
          seq = n.ledger().nextSeq
          if ('code' in on) {
            expect(hash, `${where} was rejected (${on.code}) but changed the state`).toBe(before)
          } else {
            expect(n.ledger().cashTotal, `${where} moved cash`).toBe(cash + (delta ?? 0n))
            if (
              op.k === 'engineFill' ||
              (op.k === 'configure' && (op.atMark || op.drawdown !== null))
            )
              engineDecides = false
          }
          // Netting two bankrupt positions inside the engine is a loss no decision can avoid
          // (SPEC §8.4); a payment the engine decides never takes the fund below 0, and none is
          // made from a negative fund. Per step: fund ≥ min(fund before, 0) + its netting losses.
          const ev = n.events(stepFirstSeq)
          let forced = 0n
          for (let k = 0; k < ev.kind.length; k++)
            if (EVENT_KINDS[ev.kind[k]!] === 'engineNetting' && ev.amount[k]! < 0n)
              forced += ev.amount[k]!
          const floor = (fundBefore < 0n ? fundBefore : 0n) + forced
          if (engineDecides)
            expect(
              n.ledger().insuranceFund >= floor,
              `${where}: fund below ${floor} (before ${fundBefore}, netting losses ${forced}) under the exhausted policy`,
            ).toBe(true)
        }
      }),
      { numRuns: 60, seed: 20260518 },
    )
  })
})
