// The position store as the waterfall sees it (the `PositionStore` of waterfall/index.ts): JsEngine's
// columns behind the narrow interface, plus the transaction. Rust runs a waterfall step on a clone
// of the engine and keeps it on success; here every write made inside a transaction records its
// inverse in `undo`, and a failed step replays them backwards (SPEC §8). On commit the liquidation
// watch re-checks every account the step's events name.

import { CROSS } from '../core.js'
import { fastPathsEnabled } from './fast.js'
import type { Market } from './market.js'
import { newMarginColumns, type StoreView, sweepRows, writeCrossRow } from './sweep.js'
import type { Columns, PositionStore } from './waterfall/index.js'

/** The engine internals the adapter reads and writes. */
export interface StoreHost {
  readonly markets: readonly Market[]
  /** Account ids by index; grows in place. */
  readonly ids: readonly string[]
  view(): StoreView
  market(m: number): Market
  account(a: number): void
  col(m: number): Columns & {
    setQtyCost(s: number, q: bigint, cost: bigint): void
    setIsolatedMargin(s: number, im: bigint): void
  }
  refs(a: number): readonly number[]
  slotOf(a: number, m: number): number
  balance(a: number): bigint
  /** The balance write, unrecorded. */
  writeBalance(a: number, v: bigint): void
  /** Engine::remove_position (records its own inverse while `undo` is set). */
  removePosition(a: number, m: number): void
  /** Marks account a for the liquidation watch's re-check. */
  touch(a: number): void
  /** The waterfall's event log: its length now, and the accounts of the events since. */
  events(): { len: number; account: Uint32Array; counterparty: Uint32Array }
}

export class EngineStore implements PositionStore {
  readonly markets: readonly Market[]
  readonly ids: readonly string[]
  /** Inverse writes of the running waterfall transaction (null outside one). */
  undo: Array<() => void> | null = null
  /** Events before the running waterfall transaction (its accounts are re-checked on commit). */
  private txnFirstEvent = 0
  /** One-row scratch for crossRow. */
  private readonly rowScratch = newMarginColumns(1)

  constructor(private readonly host: StoreHost) {
    this.markets = host.markets
    this.ids = host.ids // both arrays only grow in place
  }

  market(m: number): Market {
    return this.host.market(m)
  }

  account(a: number): void {
    this.host.account(a)
  }

  col(m: number): Columns {
    return this.host.col(m)
  }

  refs(a: number): readonly number[] {
    return this.host.refs(a)
  }

  slotOf(a: number, m: number): number {
    return this.host.slotOf(a, m)
  }

  balance(a: number): bigint {
    return this.host.balance(a)
  }

  setBalance(a: number, v: bigint): void {
    if (this.undo !== null) {
      const old = this.host.balance(a)
      this.undo.push(() => this.host.writeBalance(a, old))
    }
    this.host.writeBalance(a, v)
  }

  setQtyCost(m: number, s: number, q: bigint, cost: bigint): void {
    const col = this.host.col(m)
    if (this.undo !== null) {
      const oq = BigInt(col.qty[s] as number)
      const oc = col.cost[s] as bigint
      this.undo.push(() => col.setQtyCost(s, oq, oc))
    }
    col.setQtyCost(s, q, cost)
  }

  setIsolatedMargin(m: number, s: number, im: bigint): void {
    const col = this.host.col(m)
    if (this.undo !== null) {
      const old = col.isolatedMargin[s] as bigint
      this.undo.push(() => col.setIsolatedMargin(s, old))
    }
    col.setIsolatedMargin(s, im)
  }

  removePosition(a: number, m: number): void {
    this.host.removePosition(a, m)
  }

  crossRow(a: number): [bigint, bigint] {
    const out = this.rowScratch
    writeCrossRow(this.host.view(), a, out, 0, fastPathsEnabled(), false)
    return [out.equity[0] as bigint, out.maintenanceMargin[0] as bigint]
  }

  crossState(a: number): [bigint, bigint] | null {
    const out = this.rowScratch
    writeCrossRow(this.host.view(), a, out, 0, fastPathsEnabled(), true)
    return out.status[0] === 1
      ? null
      : [out.equity[0] as bigint, out.maintenanceMargin[0] as bigint]
  }

  /** sweep(None).liquidatable as [account, market] pairs; OVERFLOW rows are never liquidated (SPEC §5.5). */
  liquidatableRows(): Array<[number, number]> {
    const r = sweepRows(this.host.view(), null)
    const rows: Array<[number, number]> = []
    for (let i = 0; i < r.account.length; i++)
      if (r.status[i] === 0) rows.push([r.account[i] as number, r.market[i] as number])
    return rows
  }

  /** Σ live balances + Σ isolated margins of isolated positions (part of Engine::cash_total). */
  collateralTotal(): bigint {
    const v = this.host.view()
    let t = 0n
    for (let a = 0; a < v.accountsLen; a++) if (v.alive[a] === 1) t += v.balance[a] as bigint
    for (const col of v.positions) {
      for (let s = 0; s < col.len; s++)
        if (col.isolated[s] === 1) t += col.isolatedMargin[s] as bigint
    }
    return t
  }

  beginUndo(): void {
    this.undo = []
    this.txnFirstEvent = this.host.events().len
  }

  commitUndo(): void {
    this.undo = null
    // Every account a waterfall step changes is named in one of its events (as the account,
    // or as the beneficiary of a socialised loss): the watch re-checks exactly those.
    const ev = this.host.events()
    for (let i = this.txnFirstEvent; i < ev.len; i++) {
      for (const x of [ev.account[i] as number, ev.counterparty[i] as number])
        if (x !== CROSS) this.host.touch(x)
    }
  }

  rollbackUndo(): void {
    const log = this.undo as Array<() => void>
    this.undo = null
    for (let i = log.length - 1; i >= 0; i--) (log[i] as () => void)()
  }
}
