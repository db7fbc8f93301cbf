// The ADL coordinator, without Kafka (docs/SCALE-OUT.md §3): reads the shards' reports and offers
// (one partition of its own topic, so it sees them in one order) and answers with messages for
// every input partition. Per mark: once every shard has reported its liquidator
// positions, each market whose net position is not zero, in market order, gets one round —
// `adlCall` (offer your queue up to `need`), the offers merged by the engine's own total order
// (`mergeAdlQueues`), `adlAlloc` — then `adlDone` releases the shards. Duplicates (a restarted
// shard re-sending) are ignored by (mark, partition) and (mark, symbol, partition).

import { formatUnits, parseUnits } from '../decimal.js'
import { mergeAdlQueues } from '../partition.js'
import { bestRemainders } from './prorata.js'
import type {
  AdlAllocMessage,
  AdlTopicMessage,
  InputMessage,
  OfferMessage,
  ReportMessage,
} from './protocol.js'

interface Round {
  mark: number
  reports: ReportMessage[]
  /** Markets still to deleverage this mark, in market order. */
  todo: string[]
  symbol: string
  need: bigint
  decimals: number
  offers: Map<number, OfferMessage>
  /** Pro rata (prorata.ts): the phase, and once known T and N = min(need, T), in lots. */
  prorata?: { phase: 'total' | 'floors' | 'remainders'; total: bigint; n: bigint; left: bigint }
}

export class CoordinatorCore {
  private reports = new Map<number, Map<number, ReportMessage>>()
  private round: Round | null = null
  doneMark = 0
  /** Rounds finished, with their merged fills (for the benchmark and tests). */
  readonly history: Array<{
    mark: number
    symbol: string
    fills: AdlAllocMessage['fills']
    /** Pro rata: the accounts given a lot more by largest remainder. */
    bonus?: string[]
  }> = []

  constructor(readonly partitions: number) {}

  /** One message from the ADL topic; returns the messages to write into every input partition. */
  handle(m: AdlTopicMessage): InputMessage[] {
    if (m.mark <= this.doneMark) return []
    if (m.type === 'offer') return this.offer(m)
    const byPartition = this.reports.get(m.mark) ?? new Map<number, ReportMessage>()
    this.reports.set(m.mark, byPartition)
    byPartition.set(m.partition, m)
    if (this.round || byPartition.size < this.partitions) return []
    this.reports.delete(m.mark)
    const reports = [...byPartition.values()].sort((a, b) => a.partition - b.partition)
    const todo = reports[0]!.symbols.filter((s) => net(reports, s)[0] !== 0n)
    return this.next(m.mark, reports, todo)
  }

  private next(mark: number, reports: ReportMessage[], todo: string[]): InputMessage[] {
    const symbol = todo.shift()
    if (symbol === undefined) {
      this.round = null
      this.doneMark = mark
      return [{ v: 1, type: 'adlDone', mark }]
    }
    const [q, decimals] = net(reports, symbol)
    const need = q < 0n ? -q : q
    this.round = { mark, reports, todo, symbol, need, decimals, offers: new Map() }
    if (reports[0]!.ranking === 'prorata')
      this.round.prorata = { phase: 'total', total: 0n, n: need, left: 0n }
    return [this.call(this.round)]
  }

  private call(r: Round): InputMessage {
    // The liquidator holds q: ADL closes it against the opposite side.
    const side = net(r.reports, r.symbol)[0] > 0n ? 'short' : 'long'
    const p = r.prorata
    const call = { v: 1, type: 'adlCall', mark: r.mark, symbol: r.symbol, side } as const
    if (!p) return { ...call, need: formatUnits(r.need, r.decimals) }
    const need = formatUnits(p.n, r.decimals)
    if (p.phase === 'total') return { ...call, need, prorata: { phase: 'total' } }
    if (p.phase === 'floors')
      return { ...call, need, prorata: { phase: p.phase, total: `${p.total}` } }
    return { ...call, need, prorata: { phase: p.phase, total: `${p.total}`, left: `${p.left}` } }
  }

  /** A pro-rata phase is complete (every shard offered): the next phase, or the allocation. */
  private proRataNext(r: Round, offers: OfferMessage[]): InputMessage[] {
    const p = r.prorata!
    r.offers = new Map()
    let bonus: string[] = []
    if (p.phase === 'total') {
      p.total = offers.reduce((s, o) => s + BigInt(o.total ?? '0'), 0n)
      // Lots beyond the side's total cannot be placed (a shortfall, as in one engine).
      p.n = r.need < p.total ? r.need : p.total
      p.phase = 'floors'
      if (p.n > 0n) return [this.call(r)]
    } else if (p.phase === 'floors') {
      // What the floors leave: at most one lot per position, by largest remainder.
      p.left = p.n - offers.reduce((s, o) => s + BigInt(o.floors ?? '0'), 0n)
      p.phase = 'remainders'
      if (p.left > 0n) return [this.call(r)]
    } else {
      const lots = (q: string) => parseUnits(q, r.decimals, 'qty')
      const all = offers.flatMap((o) => o.entries)
      bonus = bestRemainders(all, p.n, p.total, p.left, lots).map((e) => e.account)
    }
    const [q] = net(r.reports, r.symbol)
    const alloc: AdlAllocMessage = {
      ...allocOf(r, [], liquidatorCloses(r, q > 0n ? 1n : -1n, p.n)),
      prorata: {
        side: q > 0n ? 'short' : 'long',
        need: formatUnits(p.n, r.decimals),
        total: `${p.total}`,
        bonus,
      },
    }
    this.history.push({ mark: r.mark, symbol: r.symbol, fills: [], bonus })
    return [alloc, ...this.next(r.mark, r.reports, r.todo)]
  }

  private offer(m: OfferMessage): InputMessage[] {
    const r = this.round
    if (!r || r.mark !== m.mark || r.symbol !== m.symbol) return []
    r.offers.set(m.partition, m)
    if (r.offers.size < this.partitions) return []
    const offers = [...r.offers.values()].sort((a, b) => a.partition - b.partition)
    if (r.prorata) return this.proRataNext(r, offers)
    const merged = mergeAdlQueues(
      offers.map((o) => o.entries),
      formatUnits(r.need, r.decimals),
    )
    const [q] = net(r.reports, r.symbol)
    const sign = q > 0n ? 1n : -1n
    const fills = merged.map((f) => ({
      account: f.account,
      // The counterparty's position is opposite to the engine's: it closes -sign × take.
      qty: formatUnits(-sign * parseUnits(f.take, r.decimals, 'take'), r.decimals),
    }))
    const taken = merged.reduce((s, f) => s + parseUnits(f.take, r.decimals, 'take'), 0n)
    const alloc = allocOf(r, fills, liquidatorCloses(r, sign, taken))
    this.history.push({ mark: r.mark, symbol: r.symbol, fills })
    return [alloc, ...this.next(r.mark, r.reports, r.todo)]
  }
}

/** The net liquidator position in `symbol` over all shards, and its decimals. */
function net(reports: ReportMessage[], symbol: string): [bigint, number] {
  const qs = reports.map((r) => r.enginePositions[symbol] ?? '0')
  const d = Math.max(...qs.map((q) => q.split('.')[1]?.length ?? 0))
  return [qs.reduce((s, q) => s + parseUnits(q, d, 'qty'), 0n), d]
}

/**
 * Each shard closes its liquidator position at the ADL price: positions opposite to the net close in
 * full (they net against the others, as inside one engine); the net side closes what ADL filled
 * plus what netted, in partition order (a shortfall stays with the last ones).
 */
/** Round r's adlAlloc message: its fills and the liquidator's closes, at the round's mark. */
function allocOf(
  r: Round,
  fills: AdlAllocMessage['fills'],
  liquidatorClose: AdlAllocMessage['liquidatorClose'],
): AdlAllocMessage {
  const price = r.reports[0]!.marks[r.symbol]!
  return { v: 1, type: 'adlAlloc', mark: r.mark, symbol: r.symbol, price, fills, liquidatorClose }
}

function liquidatorCloses(r: Round, sign: bigint, taken: bigint): Record<string, string> {
  const out: Record<string, string> = {}
  const pos = r.reports.map(
    (x) =>
      [x.partition, parseUnits(x.enginePositions[r.symbol] ?? '0', r.decimals, 'qty')] as const,
  )
  let left = taken
  for (const [p, q] of pos)
    if (q * sign < 0n) {
      out[p] = formatUnits(q, r.decimals)
      left += q < 0n ? -q : q
    }
  for (const [p, q] of pos)
    if (q * sign > 0n) {
      const a = q < 0n ? -q : q
      const c = a < left ? a : left
      left -= c
      if (c > 0n) out[p] = formatUnits(sign * c, r.decimals)
    }
  return out
}
