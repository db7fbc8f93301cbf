// Mirror of crates/core/src/settlement.rs: one settlement asset per account (SPEC §5.4). An
// account's margin — cross and isolated positions alike, all drawing on one balance — may only
// combine markets that settle in one asset. set_positions (and addAccountsWithPositions through
// it) and applyFills check it before they change anything; the waterfall cannot mix (takeovers
// go to the liquidator, ADL and liquidation fills only reduce).

import { DeleverageError, ErrorCode, withContext } from './errors.js'
import type { Market } from './market.js'
import { DEFAULT_LINEAR_ASSET } from '../generated/tables.js'

/** Every market settles in the same asset: nothing can mix. */
export function oneAsset(markets: readonly Market[]): boolean {
  const first = markets[0]
  return markets.every((m) => m.settleAsset === first?.settleAsset)
}

/** The lowest-index market among `others` whose settlement asset differs from market `m`'s; -1 if none. */
export function firstOther(
  markets: readonly Market[],
  m: number,
  others: Iterable<number>,
): number {
  const asset = (markets[m] as Market).settleAsset
  let best = -1
  for (const o of others) {
    if ((markets[o] as Market).settleAsset !== asset && (best < 0 || o < best)) best = o
  }
  return best
}

export function mismatch(
  markets: readonly Market[],
  id: string,
  m: number,
  other: number,
): DeleverageError {
  const mk = markets[m] as Market
  const ok = markets[other] as Market
  // "quote" is the default, not an asset the user named: say where it comes from.
  const d = DEFAULT_LINEAR_ASSET
  const hint =
    mk.settleAsset === d || ok.settleAsset === d
      ? ` (a linear market without settleAsset settles in "${d}": give it the asset the other names)`
      : ''
  return new DeleverageError(
    ErrorCode.SettlementMismatch,
    `account ${id} cannot hold ${mk.symbol} (settles in ${mk.settleAsset}) beside ${ok.symbol} (settles in ${ok.settleAsset}): one account's margin combines markets of one settlement asset${hint}`,
  )
}

/**
 * setPositions: each row that leaves a position (qty ≠ 0) is checked against the account's
 * positions the batch does not touch and those opened by earlier rows; the first row that brings
 * a second asset is reported. `held(a)` lists the markets account a holds now.
 */
export function checkPositionRows(
  markets: readonly Market[],
  ids: readonly string[],
  held: (a: number) => number[],
  account: Uint32Array,
  market: Uint32Array,
  qty: BigInt64Array,
): void {
  if (oneAsset(markets)) return
  const touched = new Map<number, number[]>()
  for (let i = 0; i < account.length; i++) {
    const a = account[i] as number
    let l = touched.get(a)
    if (l === undefined) {
      l = []
      touched.set(a, l)
    }
    l.push(market[i] as number)
  }
  const opened = new Map<number, number[]>()
  for (let i = 0; i < account.length; i++) {
    if (qty[i] === 0n) continue
    const a = account[i] as number
    const m = market[i] as number
    const mine = touched.get(a) as number[]
    const before = opened.get(a) ?? []
    const other = firstOther(
      markets,
      m,
      held(a)
        .filter((o) => !mine.includes(o))
        .concat(before),
    )
    if (other >= 0) throw withContext(mismatch(markets, ids[a] as string, m, other), `row ${i}`)
    before.push(m)
    opened.set(a, before)
  }
}
