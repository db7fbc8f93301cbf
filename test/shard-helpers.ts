// Shared by the shard tests: a random event stream of leveraged accounts over two markets (marks
// that walk and sometimes jump, so that liquidations, takeovers and ADL all happen), the
// one-engine reference run, and what is compared.
import { expect } from 'vitest'
import type { AdlRanking } from '../src/index.js'
import { ShardCore } from '../src/shard/core.js'
import {
  partitionOf,
  type InputMessage,
  type OutputMessage,
  type SetupMessage,
} from '../src/shard/protocol.js'
import { Rng } from './helpers.js'

export const SYMBOLS = ['BTC-PERP', 'ETH-PERP']

export function setupMessage(ranking: AdlRanking): SetupMessage {
  return {
    v: 1,
    type: 'setup',
    markets: [
      {
        symbol: 'BTC-PERP',
        priceDecimals: 1,
        qtyDecimals: 3,
        tiers: [
          { floor: '0', mmr: '0.01' },
          { floor: '200000', mmr: '0.025' },
        ],
        mark: '30000',
      },
      {
        symbol: 'ETH-PERP',
        priceDecimals: 2,
        qtyDecimals: 2,
        tiers: [{ floor: '0', mmr: '0.01' }],
        mark: '2000',
      },
    ],
    waterfall: { ranking, liquidationFee: '0.005' },
    warningRatio: '0.5',
    // Large enough that no shard's fund runs dry: every deficit is paid, so what happens to an
    // account does not depend on which fund it meets (each shard holds its own).
    insuranceFund: '1000000000',
  }
}

const dec = (v: number, d: number) => (v / 10 ** d).toFixed(d)

/** The global order of events the producer writes (setup and marks go to every partition). */
export function randomStream(
  seed: bigint,
  ranking: AdlRanking,
  accounts: number,
  steps: number,
): InputMessage[] {
  const r = new Rng(seed)
  const out: InputMessage[] = [setupMessage(ranking)]
  const ids = Array.from({ length: accounts }, (_, i) => `acct-${i}`)
  for (const id of ids)
    out.push({ v: 1, type: 'transfer', account: id, amount: `${r.int(300, 5000)}` })
  const marks = { 'BTC-PERP': 300000, 'ETH-PERP': 200000 } // in ticks
  let seq = 0
  let fundingSeq = 0
  out.push({
    v: 1,
    type: 'configurePreTrade',
    seq: 1,
    symbol: 'BTC-PERP',
    options: { priceBand: '0.05', maxAccountPosition: '40' },
  })
  const orders = new OrderFlow(r, ids)
  for (let s = 0; s < steps; s++) {
    out.push(...orders.step(marks))
    for (let k = 0; k < 6; k++) {
      const sym = r.pick(SYMBOLS)
      const q = sym === 'BTC-PERP' ? r.int(1, 1500) : r.int(1, 5000)
      const px = Math.max(1, marks[sym as 'BTC-PERP'] + r.int(-300, 300))
      out.push({
        v: 1,
        type: 'fill',
        account: r.pick(ids),
        symbol: sym,
        qty: dec(r.chance(0.5) ? q : -q, sym === 'BTC-PERP' ? 3 : 2),
        price: dec(px, sym === 'BTC-PERP' ? 1 : 2),
      })
    }
    if (r.chance(0.2)) {
      const amount = r.int(-200, 800)
      if (amount !== 0)
        out.push({ v: 1, type: 'transfer', account: r.pick(ids), amount: `${amount}` })
    }
    if (r.chance(0.1))
      out.push({
        v: 1,
        type: 'funding',
        seq: ++fundingSeq,
        symbol: r.pick(SYMBOLS),
        rate: dec(r.int(-300, 300), 6),
      })
    for (const sym of SYMBOLS) {
      const jump = r.chance(0.08) ? r.int(-18, 18) : r.int(-3, 3)
      const m = marks[sym as 'BTC-PERP']
      marks[sym as 'BTC-PERP'] = Math.max(1000, Math.round((m * (100 + jump)) / 100))
    }
    out.push({
      v: 1,
      type: 'mark',
      seq: ++seq,
      marks: { 'BTC-PERP': dec(marks['BTC-PERP'], 1), 'ETH-PERP': dec(marks['ETH-PERP'], 2) },
    })
  }
  return out
}

/** Random pre-trade traffic: leverage choices, orders (limit, market, reduce-only) named by
 * refs, cancels and fills of earlier refs — some already gone, so some are rejected. */
class OrderFlow {
  private placed: Array<{ account: string; ref: string; qty: number; sym: string }> = []
  private n = 0
  constructor(
    private readonly r: Rng,
    private readonly ids: string[],
  ) {}

  step(marks: Record<string, number>): InputMessage[] {
    const r = this.r
    const out: InputMessage[] = []
    if (r.chance(0.3)) {
      const leverage = r.int(1, 30)
      out.push({
        v: 1,
        type: 'setLeverage',
        account: r.pick(this.ids),
        symbol: r.pick(SYMBOLS),
        leverage,
      })
    }
    for (let k = r.int(0, 3); k > 0; k--) {
      const account = r.pick(this.ids)
      const list = Array.from({ length: r.int(1, 3) }, () => {
        const sym = r.pick(SYMBOLS)
        const btc = sym === 'BTC-PERP'
        const qty = btc ? r.int(1, 3000) : r.int(1, 8000)
        const ref = `o${++this.n}`
        this.placed.push({ account, ref, qty, sym })
        const px = Math.max(1, marks[sym]! + r.int(-20000, 20000))
        return {
          ref,
          symbol: sym,
          side: r.chance(0.5) ? ('buy' as const) : ('sell' as const),
          qty: dec(qty, btc ? 3 : 2),
          ...(r.chance(0.7) ? { price: dec(px, btc ? 1 : 2) } : {}),
          ...(r.chance(0.15) ? { reduceOnly: true } : {}),
        }
      })
      out.push({ v: 1, type: 'placeOrders', account, orders: list })
    }
    if (this.placed.length > 0 && r.chance(0.4)) {
      const o = r.pick(this.placed)
      out.push({ v: 1, type: 'cancelOrders', account: o.account, refs: [o.ref] })
    }
    if (this.placed.length > 0 && r.chance(0.6)) {
      const o = r.pick(this.placed)
      const q = r.chance(0.5) ? o.qty : Math.max(1, o.qty >> 1)
      const btc = o.sym === 'BTC-PERP'
      const price = dec(marks[o.sym]! + r.int(-300, 300), btc ? 1 : 2)
      out.push({
        v: 1,
        type: 'fillOrders',
        account: o.account,
        fills: [{ ref: o.ref, qty: dec(q, btc ? 3 : 2), price }],
      })
    }
    return out
  }
}

/** Where the producer writes a message: its account's partition, or every partition. */
export function targets(m: InputMessage, partitions: number): number[] {
  if ('account' in m) return [partitionOf(m.account, partitions)]
  return Array.from({ length: partitions }, (_, i) => i)
}

/** One engine fed the whole stream in its global order, deleveraging with its own ADL. */
export function reference(stream: InputMessage[]): { core: ShardCore; outputs: OutputMessage[] } {
  const core = new ShardCore(0, 1, 'auto', true)
  const outputs: OutputMessage[] = []
  for (const [i, m] of stream.entries()) outputs.push(...core.handle(BigInt(i), m).outputs)
  return { core, outputs }
}

/** Everything per account: balance and positions. */
export function accountState(core: ShardCore, ids?: string[]): Record<string, unknown> {
  const e = core.engine!
  const out: Record<string, unknown> = {}
  for (const a of e.accounts()) {
    if (ids && !ids.includes(a.account)) continue
    out[a.account] = { balance: a.balance, positions: e.positions([a.account]) }
  }
  return out
}

/** ADL fills in merged order per (mark, market); liquidation events, statuses and margin calls,
 * and the order outputs (sorted): comparable across runs, whatever the partitioning. */
export function comparable(outputs: OutputMessage[]): {
  adl: string[]
  liquidations: string[]
  statuses: string[]
  orders: string[]
} {
  const adl: string[] = []
  const liquidations: string[] = []
  const statuses: string[] = []
  const orders: string[] = []
  for (const o of outputs) {
    const { id: _, v: __, ...body } = o
    if (o.type === 'statusChange' || o.type === 'marginCall') statuses.push(JSON.stringify(body))
    if (['orderVerdict', 'leverage', 'orderCancelled', 'rejected'].includes(o.type))
      orders.push(JSON.stringify(body))
    if (o.type !== 'event') continue
    const line = `${o.mark} ${o.kind} ${o.account} ${o.symbol} ${o.qty} ${o.price} ${o.amount}`
    if (o.kind === 'adlFill') adl.push(line)
    else if (
      ['liquidationFill', 'liquidationFee', 'takeover', 'fundPayment', 'badDebt'].includes(o.kind)
    )
      liquidations.push(line)
  }
  return {
    adl,
    liquidations: liquidations.sort(),
    statuses: statuses.sort(),
    orders: orders.sort(),
  }
}

/** Status changes, margin calls and order outputs of a sharded run equal one engine's, and (with
 * `everyKind`) the stream exercised each kind of them. */
export function expectStatusesAndOrders(
  a: ReturnType<typeof comparable>,
  b: ReturnType<typeof comparable>,
  everyKind = true,
): void {
  expect(b.statuses).toEqual(a.statuses)
  expect(b.orders).toEqual(a.orders)
  expect(a.statuses.length).toBeGreaterThan(20)
  expect(a.orders.length).toBeGreaterThan(20)
  if (!everyKind) return
  const has = (lines: string[], s: string) => lines.some((l) => l.includes(s))
  for (const s of ['"to":"warning"', '"to":"liquidatable"', '"to":"healthy"', '"level":"warning"'])
    expect(has(a.statuses, s)).toBe(true)
  for (const s of [
    '"verdict":"ACCEPTED"',
    '"verdict":"INSUFFICIENT_MARGIN"',
    '"reason":"request"',
    '"reason":"liquidation"',
    '"code":"UNKNOWN_ORDER"',
    '"type":"leverage"',
  ])
    expect(has(a.orders, s), s).toBe(true)
}
