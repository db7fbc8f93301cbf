// Status changes and margin calls at a mark (docs/SCALE-OUT.md §2): the liquidation watch's
// transitions (SPEC §14) say which scopes crossed into or out of liquidatable; with the setup's
// `warningRatio`, a sweep (SPEC §5.3) says which others are in warning. Each scope's status lives
// in the shard's state (snapshotted), so a restart reports the same transitions again.

import type { Engine, MarginStatus, WatchChange } from '../engine.js'
import type { OutputBody, ScopeStatus } from './protocol.js'

type Level = Exclude<ScopeStatus, 'healthy'>

const RANK: Record<ScopeStatus, number> = { healthy: 0, warning: 1, liquidatable: 2 }

export function scopeKey(account: string, symbol: string | null): string {
  return symbol === null ? account : `${account} ${symbol}` // ids have no spaces (SPEC §5.3)
}

/**
 * The outputs of one mark, right after its `updateMarks` (`changes`) and before its liquidations
 * (`liquidatable`: the watch's set now). `statuses` (the scopes not healthy) is updated in place.
 * Scopes in key order; a scope whose status got worse gets a `marginCall` after its change.
 */
export function statusOutputs(
  e: Engine,
  statuses: Record<string, Level>,
  changes: WatchChange[],
  liquidatable: MarginStatus[],
  warningRatio: string | undefined,
): OutputBody[] {
  const rows = new Map<string, MarginStatus>()
  for (const s of liquidatable) rows.set(scopeKey(s.account, s.symbol), s)
  const warned = new Set<string>()
  if (warningRatio !== undefined)
    for (const s of e.sweep({ warningRatio }).warnings) {
      const k = scopeKey(s.account, s.symbol)
      warned.add(k)
      rows.set(k, s)
    }
  const flipped = new Map(changes.map((c) => [scopeKey(c.account, c.symbol), c]))
  const keys = [...new Set([...Object.keys(statuses), ...flipped.keys(), ...warned])].sort()
  const out: OutputBody[] = []
  for (const k of keys) {
    const from: ScopeStatus = statuses[k] ?? 'healthy'
    // The watch's set changes only by its reported transitions.
    const liq = flipped.get(k)?.liquidatable ?? from === 'liquidatable'
    const to: ScopeStatus = liq ? 'liquidatable' : warned.has(k) ? 'warning' : 'healthy'
    if (to === from) continue
    if (to === 'healthy') delete statuses[k]
    else statuses[k] = to
    const [account, symbol = null] = k.split(' ') as [string, string?]
    out.push({ type: 'statusChange', account, symbol, from, to })
    const r = rows.get(k)
    if (to !== 'healthy' && RANK[to] > RANK[from] && r)
      out.push({
        type: 'marginCall',
        account,
        symbol,
        level: to,
        equity: r.equity,
        maintenanceMargin: r.maintenanceMargin,
        marginRatio: r.marginRatio,
        shortfall: r.shortfall,
      })
  }
  return out
}
