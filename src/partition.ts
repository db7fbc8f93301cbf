// Partitioning an engine by account (docs/PARTITIONING.md). Each partition is a whole engine over
// a subset of accounts with the same markets and marks; every per-account number (equity, MM,
// liquidation prices, ADL scores) is local to the account, so partitions agree with one engine on
// everything but the cross-account steps. ADL is the one that needs a merge: each partition offers
// the top of its queue and the merge below orders them exactly as one engine would (SPEC §9.1).

import { formatUnits, parseUnits } from './decimal.js'
import type { AdlQueueEntry } from './engine.js'
import { cmpBytes } from './fallback/adl.js'

/** The market's quantity decimals, as the engine formats every qty (else `need`'s own). */
function qtyDecimals(entries: AdlQueueEntry[], need: string): number {
  const q = entries[0]?.qty ?? need
  return q.split('.')[1]?.length ?? 0
}

/** |qty| in lots; `need` may be written with fewer decimals than the market has ("30" = 30.000). */
function lots(q: string, decimals: number, field: string): bigint {
  const v = parseUnits(q, decimals, field)
  return v < 0n ? -v : v
}

/** Score descending (exact, by cross-multiplication), then size descending, then account id. */
export function compareQueueEntries(x: AdlQueueEntry, y: AdlQueueEntry): number {
  const l = BigInt(y.scoreNum) * BigInt(x.scoreDen)
  const r = BigInt(x.scoreNum) * BigInt(y.scoreDen)
  if (l !== r) return l < r ? -1 : 1
  // Both of one market: the same number of decimals, so the digits compare as lots.
  const d = qtyDecimals([x], x.qty)
  const sx = lots(x.qty, d, 'qty')
  const sy = lots(y.qty, d, 'qty')
  if (sx !== sy) return sx > sy ? -1 : 1
  return cmpBytes(x.account, y.account)
}

/**
 * What a partition offers for a merge: the shortest prefix of its ranked queue whose sizes reach
 * `need` (a decimal quantity); no other candidate of that partition can be selected.
 */
export function topOfQueue(queue: AdlQueueEntry[], need: string): AdlQueueEntry[] {
  const d = qtyDecimals(queue, need)
  const target = lots(need, d, 'need')
  let sum = 0n
  const out: AdlQueueEntry[] = []
  for (const e of queue) {
    if (sum >= target) break
    out.push(e)
    sum += lots(e.qty, d, 'qty')
  }
  return out
}

/**
 * Merge the partitions' offers into one queue prefix and the quantities ADL takes from each
 * (min(size, what is left)), exactly as one engine would select them.
 */
export function mergeAdlQueues(
  offers: AdlQueueEntry[][],
  need: string,
): Array<AdlQueueEntry & { take: string }> {
  const merged = offers.flat().sort(compareQueueEntries)
  const d = qtyDecimals(merged, need)
  let left = lots(need, d, 'need')
  const out: Array<AdlQueueEntry & { take: string }> = []
  for (const e of merged) {
    if (left === 0n) break
    const size = lots(e.qty, d, 'qty')
    const take = size < left ? size : left
    left -= take
    out.push({ ...e, take: formatUnits(take, d) })
  }
  return out
}
