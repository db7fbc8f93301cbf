// Pro-rata ADL across shards (SPEC §9.3, docs/SCALE-OUT.md §3): shares of N lots over the side's
// sizes qᵢ (total T) are floor(N·qᵢ/T), then one more lot each by largest remainder N·qᵢ mod T
// (ties: larger size, then account id). Each term needs the global T, and who gets the extra lots
// needs the global ranking of remainders, so the coordinator asks in three phases: each shard's
// total (T = Σ), each shard's Σ floors (left = N − Σ), each shard's `left` best remainders (no
// other of its positions can win one). Everything here is integer lots, exact.

import type { AdlQueueEntry } from '../engine.js'

export type Lots = bigint

function size(e: AdlQueueEntry, lots: (q: string) => Lots): Lots {
  const v = lots(e.qty)
  return v < 0n ? -v : v
}

/** Σ |qᵢ| of a side (phase 1). */
export function sideTotal(queue: AdlQueueEntry[], lots: (q: string) => Lots): Lots {
  return queue.reduce((s, e) => s + size(e, lots), 0n)
}

/** Σ floor(N·qᵢ/T) (phase 2). */
export function floorSum(
  queue: AdlQueueEntry[],
  need: Lots,
  total: Lots,
  lots: (q: string) => Lots,
): Lots {
  return queue.reduce((s, e) => s + (need * size(e, lots)) / total, 0n)
}

function bytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** The `left` entries first in largest-remainder order (phase 3; the coordinator's merge too). */
export function bestRemainders(
  entries: AdlQueueEntry[],
  need: Lots,
  total: Lots,
  left: Lots,
  lots: (q: string) => Lots,
): AdlQueueEntry[] {
  const keyed = entries.map((e) => ({ e, q: size(e, lots), r: (need * size(e, lots)) % total }))
  keyed.sort((x, y) =>
    x.r !== y.r
      ? x.r > y.r
        ? -1
        : 1
      : x.q !== y.q
        ? x.q > y.q
          ? -1
          : 1
        : bytes(x.e.account, y.e.account),
  )
  return keyed.slice(0, Number(left < BigInt(keyed.length) ? left : keyed.length)).map((k) => k.e)
}

/** Each position's share, in the engine's execution order (size descending, then account id:
 * the pro-rata queue's own order), zero shares left out. */
export function shares(
  queue: AdlQueueEntry[],
  need: Lots,
  total: Lots,
  bonus: ReadonlySet<string>,
  lots: (q: string) => Lots,
): Array<{ entry: AdlQueueEntry; take: Lots }> {
  return queue
    .map((entry) => ({
      entry,
      take: (need * size(entry, lots)) / total + (bonus.has(entry.account) ? 1n : 0n),
    }))
    .filter((s) => s.take > 0n)
}
