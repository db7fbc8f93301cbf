// Mirror of crates/core/src/waterfall/mod.rs: the deleveraging waterfall (SPEC §8–§10). Every
// money movement is an event and a double entry: cash moves between balances, isolated margins,
// the insurance fund, the rounding residue and the settlement account, and their sum never changes.
//
// This file holds what every stage shares: the types, the configuration, the event log, the
// transaction, the position close and `runWaterfall`, which runs the stages in order. The stages
// live beside it, one file each with the Rust file's stem: liquidation.ts, insurance-fund.ts,
// adl.ts (execution; the ranking is ../adl.ts), socialise.ts, funding.ts, adl-fill.ts. The Rust
// `impl Engine` methods are functions of the Waterfall there (`f(w, …)` for `self.f(…)`); the class
// keeps one-line entry points for the engine.
//
// The Waterfall reaches the position store through the narrow `PositionStore` interface that JsEngine
// implements. Rust's `transaction` (run on a clone, keep it on success; the engine stays whole even
// if the step panics) is an undo log here: the store records the inverse of every write made inside
// a transaction, the waterfall state is snapshotted (a few scalars, the liquidator positions, and
// lengths of the append-only event log and fund history).

import type { WaterfallInit } from '../../core.js'
import { autoDeleverage } from './adl.js'
import { settleFunding } from './funding.js'
import { depositFund, settleLiquidatorFill, unwind } from './insurance-fund.js'
import {
  liquidateScope,
  planLiquidation,
  scopeState,
  settleLiquidationFill,
  takeOver,
} from './liquidation.js'
import { socialiseLoss } from './socialise.js'
import { chargeSocialised } from './socialised-loss.js'
import { DeleverageError, ErrorCode, withContext } from '../errors.js'
import { EventKindCode, FundPolicyCode, NONE } from '../../generated/tables.js'
import { checkPrice, written, type Market } from '../market.js'
import { RATE_DECIMALS, RATE_SCALE, RATIO_SCALE, abs, sub, toI64 } from '../num.js'

export { NONE }

// EventKind and FundPolicy codes (generated from the Rust enums).
export const {
  LiquidationFill,
  LiquidationFee,
  Takeover,
  FundPayment,
  EngineFill,
  AdlFill,
  SocialisedLoss,
  BadDebt,
  AdlModeOn,
  AdlModeOff,
  Funding,
  FundDeposit,
  AdlShortfall,
  Residue,
  EngineNetting,
  OrderCancelled,
} = EventKindCode
export const { Exhausted, Drawdown, Socialise } = FundPolicyCode

/** The validated configuration: the binding's WaterfallInit (SPEC §8), held as given. */
export type WaterfallConfig = WaterfallInit

export function defaultConfig(): WaterfallConfig {
  return {
    feeRate: 500_000n,
    bufferRate: 2_000_000n,
    ranking: 0,
    adlAtMark: false,
    policy: Exhausted,
    triggerPpm: 0n,
    stopPpm: 0n,
    window: 0n,
  }
}

/** FillModel: AtMark, or Impact { ppmPerLot, capPpm }. */
export interface FillModel {
  impact: boolean
  ppmPerLot: bigint
  capPpm: bigint
}

/** What a liquidation would do (SPEC §8.3). */
export interface LiquidationPlan {
  account: number
  isolatedMarket: number | null
  takeover: boolean
  /** [market, qty to close] in the order to execute; the sign is the position's. */
  orders: Array<[number, bigint]>
}

/** The columns of one market's positions, as the waterfall reads them. */
export interface Columns {
  readonly len: number
  readonly account: Uint32Array
  /** Exact doubles (|qty| ≤ 10^15). */
  readonly qty: Float64Array
  readonly cost: BigInt64Array
  readonly isolatedMargin: BigInt64Array
  readonly isolated: Uint8Array
}

/** What the waterfall needs from the position store (implemented by JsEngine). */
export interface PositionStore {
  readonly markets: readonly Market[]
  /** Account ids by index. */
  readonly ids: readonly string[]
  /** Engine::market: the market, or UNKNOWN_MARKET. */
  market(m: number): Market
  /** Engine::account: UNKNOWN_ACCOUNT unless a is live. */
  account(a: number): void
  col(m: number): Columns
  /** The account's positions as flattened (market, slot) pairs, sorted by market. */
  refs(a: number): readonly number[]
  /** Slot of account a's position in market m, or -1. */
  slotOf(a: number, m: number): number
  balance(a: number): bigint
  // Writes (recorded for rollback inside a transaction).
  setBalance(a: number, v: bigint): void
  setQtyCost(m: number, s: number, qty: bigint, cost: bigint): void
  setIsolatedMargin(m: number, s: number, im: bigint): void
  removePosition(a: number, m: number): void
  /** account_rows(Some(&[a]))[0]: [equity, maintenance margin], with its errors. */
  crossRow(a: number): [bigint, bigint]
  /** The same, or null when equity or MM leaves i64 (an OVERFLOW scope, SPEC §5.5). */
  crossState(a: number): [bigint, bigint] | null
  /** sweep(None).liquidatable as [account, market (NONE for cross)] pairs, worst first. */
  liquidatableRows(): Array<[number, number]>
  /** Σ live balances + Σ isolated margins of isolated positions. */
  collateralTotal(): bigint
  beginUndo(): void
  commitUndo(): void
  rollbackUndo(): void
}

/** A rate (10^-8 units) as the user wrote it, for messages. */
export function rateText(rate: bigint): string {
  return written(rate, RATE_DECIMALS)
}

export function money(x: bigint, at: string): bigint {
  return toI64(x, at)
}

export function sign(x: bigint): bigint {
  return x > 0n ? 1n : x < 0n ? -1n : 0n
}

/** The event log (append-only but for rollback and trimming); seq = base + index. */
export class EventLog {
  /** Seq of the first event kept: the events before it were trimmed (Engine::trim_events). */
  base = 0
  len = 0
  kind = new Uint8Array(64)
  account = new Uint32Array(64)
  market = new Uint32Array(64)
  counterparty = new Uint32Array(64)
  qty = new BigInt64Array(64)
  price = new BigInt64Array(64)
  amount = new BigInt64Array(64)

  /** The seq the next event will get. */
  get next(): number {
    return this.base + this.len
  }

  /** Engine::trim_events: drop the events with seq < before; numbering goes on. */
  trim(before: bigint): void {
    if (before > BigInt(this.next))
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `beforeSeq ${before} is beyond the next event's seq ${this.next}`,
      )
    const k = before <= BigInt(this.base) ? 0 : Number(before) - this.base
    if (k === 0) return
    for (const col of [
      this.kind,
      this.account,
      this.market,
      this.counterparty,
      this.qty,
      this.price,
      this.amount,
    ])
      col.copyWithin(0, k, this.len)
    this.base += k
    this.len -= k
  }

  push(
    kind: number,
    account: number,
    market: number,
    counterparty: number,
    qty: bigint,
    price: bigint,
    amount: bigint,
  ): void {
    if (this.len === this.kind.length) {
      const cap = this.len * 2
      const g = <T extends { set(a: T): void }>(old: T, fresh: T): T => {
        fresh.set(old)
        return fresh
      }
      this.kind = g(this.kind, new Uint8Array(cap))
      this.account = g(this.account, new Uint32Array(cap))
      this.market = g(this.market, new Uint32Array(cap))
      this.counterparty = g(this.counterparty, new Uint32Array(cap))
      this.qty = g(this.qty, new BigInt64Array(cap))
      this.price = g(this.price, new BigInt64Array(cap))
      this.amount = g(this.amount, new BigInt64Array(cap))
    }
    const i = this.len++
    this.kind[i] = kind
    this.account[i] = account
    this.market[i] = market
    this.counterparty[i] = counterparty
    this.qty[i] = qty
    this.price[i] = price
    this.amount[i] = amount
  }
}

interface Snapshot {
  fund: bigint
  settlement: bigint
  residue: bigint
  adlMode: boolean
  now: bigint
  events: number
  histHead: number
  histLen: number
  liqQ: bigint[]
  liqC: bigint[]
}

export class Waterfall {
  config: WaterfallConfig = defaultConfig()
  fund = 0n
  /** Counter-entry of every realised PnL and funding imbalance (the rest of the market); i128. */
  settlement = 0n
  residue = 0n
  /** Positions held by the liquidator after takeovers, per market (Rust Vec, grown on demand). */
  liqQ: bigint[] = []
  liqC: bigint[] = []
  adlMode = false
  /** (time, fund) after each fund movement (a VecDeque: entries before `histHead` are popped). */
  histT: bigint[] = []
  histF: bigint[] = []
  histHead = 0
  /** u64 */
  now = 0n
  readonly events = new EventLog()
  /** Socialise policy: shortfalls advanced in this operation (empty between operations). */
  socialisePending: Array<[number, bigint]> = []
  private inTxn = false

  constructor(readonly store: PositionStore) {}

  liquidatorPosition(m: number): [bigint, bigint] {
    return m < this.liqQ.length ? [this.liqQ[m] as bigint, this.liqC[m] as bigint] : [0n, 0n]
  }

  /** Engine::cash_total */
  cashTotal(): bigint {
    return this.store.collateralTotal() + this.fund + this.residue + this.settlement
  }

  emit(
    kind: number,
    account: number,
    market: number,
    counterparty: number,
    qty: bigint,
    price: bigint,
    amount: bigint,
  ): void {
    this.events.push(kind, account, market, counterparty, qty, price, amount)
  }

  /**
   * Run `f` keeping its effects only if it succeeds: a failing multi-step operation leaves the
   * engine untouched (Rust runs it on a clone). Cost: O(markets) for the snapshot plus O(1) per
   * write for the undo log; a rollback is O(writes).
   */
  transaction<T>(f: () => T): T {
    const snap: Snapshot = {
      fund: this.fund,
      settlement: this.settlement,
      residue: this.residue,
      adlMode: this.adlMode,
      now: this.now,
      events: this.events.len,
      histHead: this.histHead,
      histLen: this.histT.length,
      liqQ: this.liqQ.slice(),
      liqC: this.liqC.slice(),
    }
    this.store.beginUndo()
    this.inTxn = true
    try {
      const r = f()
      chargeSocialised(this, this.store)
      this.store.commitUndo()
      return r
    } catch (e) {
      this.store.rollbackUndo()
      this.socialisePending = []
      this.fund = snap.fund
      this.settlement = snap.settlement
      this.residue = snap.residue
      this.adlMode = snap.adlMode
      this.now = snap.now
      this.events.len = snap.events
      this.histHead = snap.histHead
      this.histT.length = snap.histLen
      this.histF.length = snap.histLen
      this.liqQ = snap.liqQ
      this.liqC = snap.liqC
      throw e
    } finally {
      this.inTxn = false
      this.compactHistory()
    }
  }

  /** Drop popped fund-history entries for good (never inside a transaction: rollback needs them). */
  compactHistory(): void {
    if (!this.inTxn && this.histHead > 1024 && this.histHead * 2 > this.histT.length) {
      this.histT.splice(0, this.histHead)
      this.histF.splice(0, this.histHead)
      this.histHead = 0
    }
  }

  configure(c: WaterfallConfig): void {
    const bad = (m: string): DeleverageError => new DeleverageError(ErrorCode.InvalidArgument, m)
    if (!(c.feeRate >= 0n && c.feeRate < RATE_SCALE)) {
      throw bad(`fee rate must be within 0 and 1, got ${rateText(c.feeRate)}`)
    }
    if (!(c.bufferRate >= 0n && c.bufferRate <= RATE_SCALE * 10n)) {
      throw bad(`buffer must be within 0 and 10, got ${rateText(c.bufferRate)}`)
    }
    if (c.policy === Drawdown) {
      const { triggerPpm: t, stopPpm: s, window: w } = c
      if (!(0n < s && s < t && t <= RATIO_SCALE) || w === 0n) {
        throw bad(
          `drawdown policy needs 0 < stop < trigger ≤ 1 and a window > 0, got stop ${s} ppm, trigger ${t} ppm, window ${w}`,
        )
      }
    }
    this.config = c
  }

  /** `m` is a valid market index here (the callers checked it). */
  noPosition(a: number, m: number): DeleverageError {
    const mk = this.store.markets[m] as Market
    return new DeleverageError(
      ErrorCode.InvalidArgument,
      `account ${this.store.ids[a]} has no position in market ${mk.symbol}`,
    )
  }

  /** A close of `delta` lots at `price` must reduce an existing position without flipping it. */
  checkClose(a: number, m: number, delta: bigint, price: bigint): void {
    this.store.market(m)
    this.reducibleSlot(a, m, delta, price)
  }

  /**
   * The slot of account a's position in m if closing `delta` lots of it at `price` reduces it
   * without flipping it (the checks of checkClose, in its order, past the market's).
   */
  private reducibleSlot(a: number, m: number, delta: bigint, price: bigint): number {
    const store = this.store
    const s = store.slotOf(a, m)
    if (s < 0) throw this.noPosition(a, m)
    const q = BigInt(store.col(m).qty[s] as number)
    if (delta === 0n || sign(delta) !== sign(q) || abs(delta) > abs(q)) {
      throw new DeleverageError(
        ErrorCode.InvalidQuantity,
        `cannot close ${delta} lots of a position of ${q} lots (account ${store.ids[a]}, market ${(store.markets[m] as Market).symbol})`,
      )
    }
    checkPrice(price, (store.markets[m] as Market).priceDecimals, 'fill price')
    return s
  }

  /**
   * Close `delta` lots of a position at `price`: realised PnL into its collateral (balance, or
   * isolated margin), the counter-entry into settlement. An isolated position closed in full
   * returns what is left of its margin to the balance (the second value).
   */
  closePosition(a: number, m: number, delta: bigint, price: bigint): [bigint, bigint | null] {
    const store = this.store
    const s = this.reducibleSlot(a, m, delta, price)
    const col = store.col(m)
    const mk = store.markets[m] as Market
    const q = BigInt(col.qty[s] as number)
    const cost = col.cost[s] as bigint
    const iso = col.isolated[s] === 1
    const im = col.isolatedMargin[s] as bigint
    const [closed, realised] = mk.closeAt(q, cost, delta, price)
    this.settlement = sub(this.settlement, realised, 'settlement')
    let returned: bigint | null = null
    if (iso) {
      // Unchecked i128 in Rust. realised is checked to i128, so a wrap needs it within 2^63 of
      // the limit; wrapped or not, the result is then far outside i64 and money() fails alike.
      const im2 = im + realised
      if (delta === q) {
        store.removePosition(a, m)
        store.setBalance(a, money(store.balance(a) + im2, 'balance'))
        returned = im2
      } else {
        store.setQtyCost(m, s, q - delta, cost - closed)
        store.setIsolatedMargin(m, s, money(im2, 'isolated margin'))
      }
    } else {
      store.setBalance(a, money(store.balance(a) + realised, 'balance'))
      if (delta === q) store.removePosition(a, m)
      else store.setQtyCost(m, s, q - delta, cost - closed)
    }
    return [realised, returned]
  }

  /**
   * The whole waterfall at the current marks: every liquidatable account and isolated position
   * worst first (re-checked when its turn comes), liquidated with the fill model. All or nothing.
   * Returns the first new event's seq.
   */
  runWaterfall(model: FillModel, now: bigint): bigint {
    const first = BigInt(this.events.next)
    return this.transaction(() => {
      if (now > this.now) this.now = now
      const store = this.store
      for (const [a, market] of store.liquidatableRows()) {
        const iso = market !== NONE ? market : null
        if (iso !== null && store.slotOf(a, iso) < 0) continue // closed by an earlier ADL
        const [eq, mm] = scopeState(this, a, iso)
        if (mm > 0n && eq <= mm) {
          try {
            liquidateScope(this, a, iso, model)
          } catch (e) {
            throw withContext(e, `liquidating account ${store.ids[a]}`)
          }
        }
      }
      // The liquidator unwinds once per market, in market order.
      for (let m = 0; m < store.markets.length; m++) {
        try {
          unwind(this, m, model)
        } catch (e) {
          throw withContext(
            e,
            `unwinding the liquidator in market ${(store.markets[m] as Market).symbol}`,
          )
        }
      }
      return first
    })
  }

  // ---- the stages' entry points (waterfall/*.ts) ----------------------------------------------

  depositFund(amount: bigint, now: bigint): void {
    depositFund(this, amount, now)
  }

  planLiquidation(a: number, iso: number | null): LiquidationPlan {
    return planLiquidation(this, a, iso)
  }

  settleLiquidationFill(
    a: number,
    iso: number | null,
    m: number,
    delta: bigint,
    price: bigint,
  ): void {
    settleLiquidationFill(this, a, iso, m, delta, price)
  }

  takeOver(a: number, iso: number | null): void {
    takeOver(this, a, iso)
  }

  settleLiquidatorFill(m: number, delta: bigint, price: bigint): void {
    settleLiquidatorFill(this, m, delta, price)
  }

  autoDeleverage(m: number): void {
    autoDeleverage(this, m)
  }

  socialiseLoss(m: number, amount: bigint, beneficiary: number): void {
    socialiseLoss(this, m, amount, beneficiary)
  }

  settleFunding(m: number, rate: bigint): void {
    settleFunding(this, m, rate)
  }
}
