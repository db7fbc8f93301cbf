// Partitioning an engine by account (docs/PARTITIONING.md). Each partition is a whole engine over
// a subset of accounts with the same markets and marks; every per-account number (equity, MM,
// liquidation prices, ADL scores) is local to the account, so partitions agree with one engine on
// everything but the cross-account steps. ADL is the one that needs a merge: each partition offers
// the top of its queue and the merge below orders them exactly as one engine would (SPEC §9.1).

import type { AdlQueueEntry } from './engine.js'

/** Score descending (exact, by cross-multiplication), then size descending, then account id. */
export function compareQueueEntries(x: AdlQueueEntry, y: AdlQueueEntry): number {
  const l = BigInt(y.scoreNum) * BigInt(x.scoreDen)
  const r = BigInt(x.scoreNum) * BigInt(y.scoreDen)
  if (l !== r) return l < r ? -1 : 1
  const sx = BigInt(x.qty.replace('-', '').replace('.', ''))
  const sy = BigInt(y.qty.replace('-', '').replace('.', ''))
  if (sx !== sy) return sx > sy ? -1 : 1
  return x.account < y.account ? -1 : x.account > y.account ? 1 : 0
}

/**
 * What a partition offers for a merge: the shortest prefix of its ranked queue whose sizes reach
 * `need` (a decimal quantity); no other candidate of that partition can be selected.
 */
export function topOfQueue(queue: AdlQueueEntry[], need: string): AdlQueueEntry[] {
  const lots = (q: string) => BigInt(q.replace('-', '').replace('.', ''))
  const target = lots(need)
  let sum = 0n
  const out: AdlQueueEntry[] = []
  for (const e of queue) {
    if (sum >= target) break
    out.push(e)
    sum += lots(e.qty)
  }
  return out
}

/**
 * Merge the partitions' offers into one queue prefix and the quantities ADL takes from each
 * (min(size, what is left)), exactly as one engine would select them.
 */
export function mergeAdlQueues(offers: AdlQueueEntry[][], need: string): Array<AdlQueueEntry & { take: string }> {
  const merged = offers.flat().sort(compareQueueEntries)
  const decimals = need.split('.')[1]?.length ?? 0
  const lots = (q: string) => BigInt(q.replace('-', '').replace('.', ''))
  let left = lots(need)
  const out: Array<AdlQueueEntry & { take: string }> = []
  for (const e of merged) {
    if (left === 0n) break
    const take = lots(e.qty) < left ? lots(e.qty) : left
    left -= take
    const digits = take.toString().padStart(decimals + 1, '0')
    out.push({ ...e, take: decimals ? `${digits.slice(0, -decimals)}.${digits.slice(-decimals)}` : digits })
  }
  return out
}
