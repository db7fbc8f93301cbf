// Mirror of crates/core/src/waterfall.rs: the deleveraging waterfall (SPEC §8–§10) — liquidation
// (partial orders or takeover at the bankruptcy price), the insurance fund and its ADL trigger,
// auto-deleveraging, loss socialisation and funding. Every money movement is an event and a
// double entry: cash moves between balances, isolated margins, the insurance fund, the rounding
// residue and the settlement account, and their sum never changes.
//
// The Rust `impl Engine` methods live here as methods of `Waterfall`, which reaches the position
// store through the narrow `Book` interface that JsEngine implements. Rust's `transaction` (run on
// a clone, keep it on success; the engine stays whole even if the step panics) is an undo log
// here: the store records the inverse of every write made inside a transaction, the waterfall
// state is snapshotted (a few scalars, the engine positions, and lengths of the append-only event
// log and fund history).

import type { WaterfallInit } from '../core.js'
import { adlCandidates, adlSelect, ProRata, prorataShares, type Candidate } from './adl.js'
import { DeleverageError, ErrorCode, withContext } from './errors.js'
import { EventKindCode, FundPolicyCode, NONE } from '../generated/tables.js'
import { absorbAdlRounding } from './adl-rounding.js'
import { bankruptcyPrice } from './liq.js'
import { chargeLossShares, chargeSocialised, socialiseShortfall } from './socialised-loss.js'
import { Linear, checkPrice, type Market } from './market.js'
import {
  Floor,
  I128_MAX,
  I128_MIN,
  I64_MAX,
  I64_MIN,
  PRICE_MAX_TICKS,
  RATE_SCALE,
  RATIO_SCALE,
  abs,
  add,
  divCeil,
  divFloor,
  pow10,
  sub,
  toI64,
} from './num.js'

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

/**
 * FillModel::price: fill price of closing `delta` (a long closes by selling: lower; a short by
 * buying: higher). Impact moves it by min(cap, ppmPerLot·|delta|) ppm of mark (no overflow: the
 * product is at most i64·u64 in i128, and mark·(10^6 ± slip) ≤ 2·10^21).
 */
export function fillPrice(model: FillModel, mark: bigint, delta: bigint): bigint {
  if (!model.impact) return mark
  const ad = delta < 0n ? -delta : delta
  let slip = model.ppmPerLot * ad
  if (slip > model.capPpm) slip = model.capPpm
  const p =
    delta > 0n
      ? divFloor(mark * (RATIO_SCALE - slip), RATIO_SCALE)
      : divCeil(mark * (RATIO_SCALE + slip), RATIO_SCALE)
  return p < 1n ? 1n : p > PRICE_MAX_TICKS ? PRICE_MAX_TICKS : p
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
export interface Book {
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

function money(x: bigint, at: string): bigint {
  return toI64(x, at)
}

function sign(x: bigint): bigint {
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
  engQ: bigint[]
  engC: bigint[]
}

export class Waterfall {
  config: WaterfallConfig = defaultConfig()
  fund = 0n
  /** Counter-entry of every realised PnL and funding imbalance (the rest of the market); i128. */
  settlement = 0n
  residue = 0n
  /** Positions held by the liquidation engine after takeovers, per market (Rust Vec, grown on demand). */
  engQ: bigint[] = []
  engC: bigint[] = []
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

  constructor(private readonly book: Book) {}

  // ---- state ----------------------------------------------------------------------------------

  enginePosition(m: number): [bigint, bigint] {
    return m < this.engQ.length ? [this.engQ[m] as bigint, this.engC[m] as bigint] : [0n, 0n]
  }

  /** Engine::cash_total */
  cashTotal(): bigint {
    return this.book.collateralTotal() + this.fund + this.residue + this.settlement
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
      engQ: this.engQ.slice(),
      engC: this.engC.slice(),
    }
    this.book.beginUndo()
    this.inTxn = true
    try {
      const r = f()
      chargeSocialised(this, this.book)
      this.book.commitUndo()
      return r
    } catch (e) {
      this.book.rollbackUndo()
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
      this.engQ = snap.engQ
      this.engC = snap.engC
      throw e
    } finally {
      this.inTxn = false
      this.compactHistory()
    }
  }

  /** Drop popped fund-history entries for good (never inside a transaction: rollback needs them). */
  private compactHistory(): void {
    if (!this.inTxn && this.histHead > 1024 && this.histHead * 2 > this.histT.length) {
      this.histT.splice(0, this.histHead)
      this.histF.splice(0, this.histHead)
      this.histHead = 0
    }
  }

  // ---- configuration and the fund -------------------------------------------------------------

  configure(c: WaterfallConfig): void {
    const bad = (m: string): DeleverageError => new DeleverageError(ErrorCode.InvalidArgument, m)
    if (!(c.feeRate >= 0n && c.feeRate < RATE_SCALE)) {
      throw bad(`fee rate must be within 0 and 1, got ${c.feeRate}e-8`)
    }
    if (!(c.bufferRate >= 0n && c.bufferRate <= RATE_SCALE * 10n)) {
      throw bad(`buffer must be within 0 and 10, got ${c.bufferRate}e-8`)
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

  depositFund(amount: bigint, now: bigint): void {
    const f = this.fund + amount
    // A withdrawal must not take the fund below zero; a deposit may refill a negative fund.
    if (f > I64_MAX || f < I64_MIN || (f < 0n && amount < 0n)) {
      throw new DeleverageError(
        ErrorCode.InvalidAmount,
        `insurance fund of ${this.fund} cannot take a deposit of ${amount}`,
      )
    }
    // A deposit brings money in from outside: the settlement account is its source. (Unchecked
    // i128 in Rust; it would take ~2^64 deposits of i64::MAX to wrap.)
    this.settlement -= amount
    this.fund = f
    if (now > this.now) this.now = now
    this.recordFund()
    this.emit(FundDeposit, NONE, NONE, NONE, 0n, 0n, amount)
    // A deposit can end ADL mode (drawdown back under the stop ratio).
    this.updateAdlMode()
  }

  /**
   * Keep (time, fund) samples for the drawdown window; only the drawdown policy needs them.
   * Samples are taken at non-decreasing times, so now − t ≥ 0 (Rust: no u64 wrap).
   */
  private recordFund(): void {
    const c = this.config
    if (c.policy !== Drawdown) return
    this.histT.push(this.now)
    this.histF.push(this.fund)
    while (
      this.histHead < this.histT.length &&
      this.now - (this.histT[this.histHead] as bigint) > c.window &&
      this.histT.length - this.histHead > 1
    ) {
      this.histHead++
    }
    this.compactHistory()
  }

  /** Update ADL mode from the drawdown (no-op under the exhausted policy). */
  private updateAdlMode(): void {
    const c = this.config
    if (c.policy !== Drawdown) return
    const now = this.now
    const fund = this.fund
    let peak: bigint | null = null
    for (let i = this.histHead; i < this.histT.length; i++) {
      if (now - (this.histT[i] as bigint) <= c.window) {
        const f = this.histF[i] as bigint
        if (peak === null || f > peak) peak = f
      }
    }
    if (peak === null || peak < fund) peak = fund
    const p = peak
    // drawdown ≥ x ⇔ (peak − fund)·10^6 ≥ x·peak (cross-multiplied)
    const dd = (x: bigint): boolean => p > 0n && (p - fund) * RATIO_SCALE >= x * p
    if (!this.adlMode && dd(c.triggerPpm)) {
      this.adlMode = true
      this.emit(AdlModeOn, NONE, NONE, NONE, 0n, 0n, this.fund)
    } else if (this.adlMode && !dd(c.stopPpm + 1n)) {
      this.adlMode = false
      this.emit(AdlModeOff, NONE, NONE, NONE, 0n, 0n, this.fund)
    }
  }

  /** Whether the fund may take a loss of `loss` atoms now (SPEC §8.4). */
  private fundCanAbsorb(loss: bigint): boolean {
    return !this.adlMode && this.fund >= loss
  }

  moveFund(delta: bigint): void {
    this.fund = money(this.fund + delta, 'insurance fund')
    this.recordFund()
  }

  // ---- liquidation ----------------------------------------------------------------------------

  /** `m` is a valid market index here (the callers checked it). */
  private noPosition(a: number, m: number): DeleverageError {
    const mk = this.book.markets[m] as Market
    return new DeleverageError(
      ErrorCode.InvalidArgument,
      `account ${this.book.ids[a]} has no position in market ${mk.symbol}`,
    )
  }

  /**
   * A liquidation scope must exist: the account, and for an isolated scope a market in which the
   * account holds an isolated position.
   */
  private checkScope(a: number, iso: number | null): void {
    const book = this.book
    book.account(a)
    if (iso !== null) {
      const mk = book.market(iso)
      const s = book.slotOf(a, iso)
      if (!(s >= 0 && book.col(iso).isolated[s] === 1)) {
        throw new DeleverageError(
          ErrorCode.InvalidArgument,
          `account ${book.ids[a]} has no isolated position in market ${mk.symbol}`,
        )
      }
    }
  }

  /** A close of `delta` lots at `price` must reduce an existing position without flipping it. */
  private checkClose(a: number, m: number, delta: bigint, price: bigint): void {
    const book = this.book
    const mk = book.market(m)
    const s = book.slotOf(a, m)
    if (s < 0) throw this.noPosition(a, m)
    const q = BigInt(book.col(m).qty[s] as number)
    if (delta === 0n || sign(delta) !== sign(q) || abs(delta) > abs(q)) {
      throw new DeleverageError(
        ErrorCode.InvalidQuantity,
        `cannot close ${delta} lots of a position of ${q} lots (account ${book.ids[a]}, market ${mk.symbol})`,
      )
    }
    checkPrice(price, 'fill price')
  }

  /** Equity and MM of the liquidation scope: the cross account, or one isolated position. */
  private scopeState(a: number, iso: number | null): [bigint, bigint] {
    const book = this.book
    if (iso === null) return book.crossRow(a)
    const s = book.slotOf(a, iso)
    if (s < 0) throw this.noPosition(a, iso)
    const mk = book.markets[iso] as Market
    const col = book.col(iso)
    const q = BigInt(col.qty[s] as number)
    const c = col.cost[s] as bigint
    const u = mk.upnl(q, c)
    const eq = add(col.isolatedMargin[s] as bigint, u, 'isolated equity')
    return [eq, mk.maintenanceMargin(q, c)]
  }

  /**
   * Positions of a scope, largest maintenance margin first (then market index): the order in
   * which liquidation reduces them (SPEC §8.3). An isolated scope takes the position in that
   * market whatever its flag, as Rust does (the entry points admit only isolated ones).
   */
  private scopePositions(a: number, iso: number | null): Array<[number, bigint, bigint]> {
    const book = this.book
    const refs = book.refs(a)
    const v: Array<[number, bigint, bigint]> = []
    for (let i = 0; i < refs.length; i += 2) {
      const m = refs[i] as number
      const s = refs[i + 1] as number
      const col = book.col(m)
      const inScope = iso === null ? col.isolated[s] !== 1 : iso === m
      if (inScope) {
        const q = BigInt(col.qty[s] as number)
        v.push([m, q, (book.markets[m] as Market).maintenanceMargin(q, col.cost[s] as bigint)])
      }
    }
    v.sort((x, y) => (y[2] < x[2] ? -1 : y[2] > x[2] ? 1 : x[0] - y[0]))
    return v
  }

  private hasCross(a: number): boolean {
    const refs = this.book.refs(a)
    for (let i = 0; i < refs.length; i += 2) {
      if (this.book.col(refs[i] as number).isolated[refs[i + 1] as number] !== 1) return true
    }
    return false
  }

  /**
   * Plan the liquidation of a liquidatable account (or isolated position): the smallest closes
   * at mark, fees included, that restore equity ≥ MM × (1 + buffer); a takeover when equity
   * ≤ 0 or when closing everything would leave it negative (SPEC §8.3).
   */
  planLiquidation(a: number, iso: number | null): LiquidationPlan {
    const book = this.book
    this.checkScope(a, iso)
    let [eq, mm] = this.scopeState(a, iso)
    const plan: LiquidationPlan = { account: a, isolatedMarket: iso, takeover: false, orders: [] }
    if (mm === 0n || eq > mm) return plan // nothing to liquidate
    if (eq <= 0n) {
      plan.takeover = true
      return plan
    }
    const c = this.config
    // Unchecked i128 in Rust; no overflow: 0 < eq ≤ mm here, and a position whose equity is at
    // most its MM has MM ≤ ~10^27 atoms (value·(1 − mmr) ≤ its cost), so mm·1.1·10^9 < 2^127.
    const target = (e: bigint, m: bigint): boolean =>
      e * RATE_SCALE >= m * (RATE_SCALE + c.bufferRate)
    for (const [m, q, mmI] of this.scopePositions(a, iso)) {
      const mk = book.markets[m] as Market
      const s = book.slotOf(a, m)
      const cost = book.col(m).cost[s] as bigint
      // State after closing |d| lots at mark: equity − fee, MM with the rest of the position.
      const after = (d: bigint): [bigint, bigint] => {
        const fee = mk.rateOfValue(d, mk.mark, c.feeRate)
        let mmRest = 0n
        if (d !== q) {
          const [closed] = mk.closeAt(q, cost, d, mk.mark)
          mmRest = mk.maintenanceMargin(q - d, cost - closed)
        }
        return [eq - fee, mm - mmI + mmRest]
      }
      const [eAll, mAll] = after(q)
      if (!target(eAll, mAll)) {
        plan.orders.push([m, q])
        eq = eAll
        mm = mAll
        continue
      }
      // Smallest |d| in 1..=|q| meeting the target: bisection with target(lo) false.
      const sg = sign(q)
      let lo = 0n
      let hi = abs(q)
      while (hi - lo > 1n) {
        const mid = lo + (hi - lo) / 2n
        const [e1, m1] = after(sg * mid)
        if (target(e1, m1)) hi = mid
        else lo = mid
      }
      plan.orders.push([m, sg * hi])
      return plan
    }
    if (eq < 0n) {
      plan.takeover = true
      plan.orders = []
    }
    return plan
  }

  /**
   * Close `delta` lots of a position at `price`: realised PnL into its collateral (balance, or
   * isolated margin), the counter-entry into settlement. An isolated position closed in full
   * returns what is left of its margin to the balance (the second value).
   */
  private closePosition(
    a: number,
    m: number,
    delta: bigint,
    price: bigint,
  ): [bigint, bigint | null] {
    const book = this.book
    const s = book.slotOf(a, m)
    if (s < 0) throw this.noPosition(a, m)
    const col = book.col(m)
    const mk = book.markets[m] as Market
    const q = BigInt(col.qty[s] as number)
    const cost = col.cost[s] as bigint
    const iso = col.isolated[s] === 1
    const im = col.isolatedMargin[s] as bigint
    if (delta === 0n || sign(delta) !== sign(q) || abs(delta) > abs(q)) {
      throw new DeleverageError(
        ErrorCode.InvalidQuantity,
        `cannot close ${delta} lots of a position of ${q} lots (account ${book.ids[a]}, market ${mk.symbol})`,
      )
    }
    checkPrice(price, 'fill price')
    const [closed, realised] = mk.closeAt(q, cost, delta, price)
    this.settlement = sub(this.settlement, realised, 'settlement')
    let returned: bigint | null = null
    if (iso) {
      // Unchecked i128 in Rust. realised is checked to i128, so a wrap needs it within 2^63 of
      // the limit; wrapped or not, the result is then far outside i64 and money() fails alike.
      const im2 = im + realised
      if (delta === q) {
        book.removePosition(a, m)
        book.setBalance(a, money(book.balance(a) + im2, 'balance'))
        returned = im2
      } else {
        book.setQtyCost(m, s, q - delta, cost - closed)
        book.setIsolatedMargin(m, s, money(im2, 'isolated margin'))
      }
    } else {
      book.setBalance(a, money(book.balance(a) + realised, 'balance'))
      if (delta === q) book.removePosition(a, m)
      else book.setQtyCost(m, s, q - delta, cost - closed)
    }
    return [realised, returned]
  }

  /**
   * What the scope has left after a close: [equity, true] while it still holds positions (the
   * cross account's equity, or the isolated position's), or [leftover, false] once it holds none:
   * the cross balance, or what the closed isolated position returned to the balance.
   */
  private scopeLeft(a: number, iso: number | null, returned: bigint | null): [bigint, boolean] {
    if (iso !== null) {
      if (this.book.slotOf(a, iso) >= 0) return [this.scopeState(a, iso)[0], true]
      return [returned ?? 0n, false]
    }
    const [eq] = this.book.crossRow(a)
    return [eq, this.hasCross(a)]
  }

  /** Take `amount` (≥ 0) from the scope's collateral into the fund, as the liquidation fee. */
  private chargeFee(a: number, iso: number | null, amount: bigint): void {
    if (amount <= 0n) return
    const book = this.book
    const s = iso === null ? -1 : book.slotOf(a, iso)
    if (s >= 0) {
      const m = iso as number
      book.setIsolatedMargin(
        m,
        s,
        money((book.col(m).isolatedMargin[s] as bigint) - amount, 'isolated margin'),
      )
    } else {
      book.setBalance(a, money(book.balance(a) - amount, 'balance'))
    }
    this.moveFund(amount)
    this.emit(LiquidationFee, a, iso ?? NONE, NONE, 0n, 0n, money(amount, 'liquidation fee'))
  }

  /**
   * After a close: the fee, capped by what the scope has left, and a deficit (once the scope
   * holds nothing) to the fund or bad debt (SPEC §8.2, §8.4).
   */
  private settleScope(
    a: number,
    iso: number | null,
    returned: bigint | null,
    feeFull: bigint,
    m: number,
  ): void {
    const [left] = this.scopeLeft(a, iso, returned)
    const min = (x: bigint, y: bigint): bigint => (x < y ? x : y)
    this.chargeFee(a, iso, min(feeFull, left > 0n ? left : 0n))
    const r2 = returned === null ? null : returned - min(feeFull, returned > 0n ? returned : 0n)
    const [left2, holds] = this.scopeLeft(a, iso, r2)
    if (left2 < 0n && !holds) {
      socialiseShortfall(this, this.book, m, -left2)
      this.coverDeficit(a, -left2)
    }
  }

  /** A liquidation fill on the account (reported by the host or made by the fill model). */
  private liquidationFill(
    a: number,
    iso: number | null,
    m: number,
    delta: bigint,
    price: bigint,
  ): void {
    this.checkClose(a, m, delta, price)
    const feeFull = (this.book.markets[m] as Market).rateOfValue(delta, price, this.config.feeRate)
    const [realised, returned] = this.closePosition(a, m, delta, price)
    this.emit(LiquidationFill, a, m, NONE, delta, price, money(realised, 'realised PnL'))
    this.settleScope(a, iso, returned, feeFull, m)
  }

  /**
   * The fund pays an account's deficit if policy lets it; what it cannot pay stays as bad debt
   * (the balance remains negative by that much).
   */
  private coverDeficit(a: number, deficit: bigint): void {
    this.updateAdlMode()
    let pay = 0n
    if (!this.adlMode) {
      const f = this.fund > 0n ? this.fund : 0n
      pay = deficit < f ? deficit : f
    }
    if (pay > 0n) {
      this.moveFund(-pay)
      this.book.setBalance(a, money(this.book.balance(a) + pay, 'balance'))
      this.emit(FundPayment, a, NONE, NONE, 0n, 0n, money(pay, 'fund payment'))
    }
    if (deficit > pay) this.emit(BadDebt, a, NONE, NONE, 0n, 0n, money(deficit - pay, 'bad debt'))
  }

  /**
   * Move the scope's positions to the liquidation engine at their bankruptcy prices, largest
   * MM first, each solved with the others at mark (SPEC §8.3); then the fee, capped by what is
   * left, and a deficit to the fund or bad debt.
   */
  private takeover(a: number, iso: number | null): void {
    const book = this.book
    let feeFull = 0n
    let returned: bigint | null = null
    let last = NONE // the market a deficit is socialised in: the last taken over
    for (const [m, q] of this.scopePositions(a, iso)) {
      last = m
      const mk = book.markets[m] as Market
      const col = book.col(m)
      const s = book.slotOf(a, m)
      const cost = col.cost[s] as bigint
      // Bankruptcy base (SPEC §6): collateral + the other cross positions' uPnL at mark.
      let base: bigint
      if (iso !== null) {
        base = col.isolatedMargin[s] as bigint
      } else {
        base = book.balance(a)
        const refs = book.refs(a)
        for (let i = 0; i < refs.length; i += 2) {
          const m2 = refs[i] as number
          const s2 = refs[i + 1] as number
          const c2 = book.col(m2)
          if (m2 !== m && c2.isolated[s2] !== 1) {
            base = add(
              base,
              (book.markets[m2] as Market).upnl(
                BigInt(c2.qty[s2] as number),
                c2.cost[s2] as bigint,
              ),
              'bankruptcy base',
            )
          }
        }
      }
      const price = bankruptcyPrice(mk, q, cost, base)?.conservative ?? mk.mark
      // Unchecked in Rust; each fee is at most a position's value (≤ ~10^34 atoms).
      feeFull += mk.rateOfValue(q, price, this.config.feeRate)
      const [realised, r] = this.closePosition(a, m, q, price)
      returned = r
      this.emit(Takeover, a, m, NONE, q, price, money(realised, 'realised PnL'))
      this.engineTake(m, q, price)
    }
    this.settleScope(a, iso, returned, feeFull, last)
  }

  /**
   * The liquidation engine takes `q` at `price` (SPEC §8.4). Against an opposite engine
   * position the two net inside the engine at `price` — one account holding both, as at a
   * venue — with the engine's PnL to the fund (an `engineNetting` event, no book trade). The
   * rest opens at `price`.
   */
  private engineTake(m: number, q: bigint, price: bigint): void {
    while (this.engQ.length <= m) {
      this.engQ.push(0n)
      this.engC.push(0n)
    }
    const held = this.engQ[m] as bigint
    let open = q
    if (held !== 0n && held > 0n !== q > 0n) {
      const h = held < 0n ? -held : held
      const t = q < 0n ? -q : q
      const delta = (held < 0n ? -1n : 1n) * (h < t ? h : t)
      const [, loss] = (this.book.markets[m] as Market).closeAt(
        held,
        this.engC[m] as bigint,
        delta,
        price,
      )
      socialiseShortfall(this, this.book, m, -loss)
      const pnl = this.engineClose(m, delta, price)
      this.emit(EngineNetting, NONE, m, NONE, delta, price, money(pnl, 'engine PnL'))
      open = q + delta
    }
    if (open !== 0n) {
      const cost = (this.book.markets[m] as Market).costBasis(open, price)
      this.engQ[m] = money((this.engQ[m] as bigint) + open, 'engine position')
      this.engC[m] = money((this.engC[m] as bigint) + cost, 'engine cost basis')
    }
  }

  /**
   * Close `delta` of the liquidation engine's position in `m` at `price`; its PnL goes to the
   * fund. Returns that PnL.
   */
  private engineClose(m: number, delta: bigint, price: bigint): bigint {
    const [q, cost] = this.enginePosition(m)
    const [closed, pnl] = (this.book.markets[m] as Market).closeAt(q, cost, delta, price)
    this.engQ[m] = q - delta
    this.engC[m] = cost - closed
    this.settlement = sub(this.settlement, pnl, 'settlement')
    this.moveFund(pnl)
    return pnl
  }

  /**
   * The price the engine's position is deleveraged at: its average entry rounded to the tick, or
   * the mark, by policy. A long engine sells at ≤ entry (floor), a short buys at ≥ entry (ceil)
   * (SPEC §9.2). The mark when the cost basis is 0 (an inverse position worth less than an atom
   * at entry: no entry price) or when the inverse products overflow i128.
   */
  private adlPrice(m: number): bigint {
    const mk = this.book.markets[m] as Market
    const [q, cost] = this.enginePosition(m)
    if (this.config.adlAtMark || q === 0n) return mk.mark
    if (cost === 0n) return mk.mark
    let n: bigint
    let d: bigint
    if (mk.kind === Linear) {
      // entry = cost / q ticks
      n = cost
      d = q
    } else {
      // entry = q·size·10^t / cost; both products checked (the mark on overflow)
      const t = mk.inverseExp()
      n = q * mk.contractSize * pow10(t > 0 ? t : 0)
      d = cost * pow10(t < 0 ? -t : 0)
      if (n > I128_MAX || n < I128_MIN || d > I128_MAX || d < I128_MIN) return mk.mark
    }
    // Divide with both operands made positive so the rounding direction is the intended one.
    if (d < 0n) {
      n = -n
      d = -d
    }
    const p = q > 0n ? divFloor(n, d) : divCeil(n, d)
    return p < 1n ? 1n : p > PRICE_MAX_TICKS ? PRICE_MAX_TICKS : p
  }

  /**
   * Unwind the liquidation engine's position in `m`: in the book at the model's price when the
   * fund can absorb the result, else by ADL against the opposite side (SPEC §8.4, §9).
   */
  private unwind(m: number, model: FillModel): void {
    const [q, cost] = this.enginePosition(m)
    if (q === 0n) return
    const mk = this.book.markets[m] as Market
    const price = fillPrice(model, mk.mark, q)
    const [, pnl] = mk.closeAt(q, cost, q, price)
    this.updateAdlMode()
    socialiseShortfall(this, this.book, m, -pnl)
    if (pnl >= 0n || this.fundCanAbsorb(-pnl)) {
      const p = this.engineClose(m, q, price)
      this.emit(EngineFill, NONE, m, NONE, q, price, money(p, 'engine PnL'))
      return
    }
    this.deleverage(m)
  }

  /**
   * Liquidate one account (or isolated position) now: plan, fill the orders with the model, take
   * over what partial closes cannot save, and unwind what the engine took over.
   */
  private liquidateScope(a: number, iso: number | null, model: FillModel): void {
    const book = this.book
    const plan = this.planLiquidation(a, iso)
    if (!plan.takeover) {
      for (const [m, delta] of plan.orders) {
        const price = fillPrice(model, (book.markets[m] as Market).mark, delta)
        this.liquidationFill(a, iso, m, delta, price)
      }
    }
    // Orders filled worse than planned can leave the scope bankrupt: take over the rest.
    const stillOpen = iso !== null ? book.slotOf(a, iso) >= 0 : this.hasCross(a)
    if (stillOpen) {
      const [eq] = this.scopeState(a, iso)
      if (plan.takeover || eq <= 0n) this.takeover(a, iso)
    }
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
      const book = this.book
      for (const [a, market] of book.liquidatableRows()) {
        const iso = market !== NONE ? market : null
        if (iso !== null && book.slotOf(a, iso) < 0) continue // closed by an earlier ADL
        const [eq, mm] = this.scopeState(a, iso)
        if (mm > 0n && eq <= mm) {
          try {
            this.liquidateScope(a, iso, model)
          } catch (e) {
            throw withContext(e, `liquidating account ${book.ids[a]}`)
          }
        }
      }
      // The liquidation engine unwinds once per market, in market order.
      for (let m = 0; m < book.markets.length; m++) {
        try {
          this.unwind(m, model)
        } catch (e) {
          throw withContext(
            e,
            `unwinding the liquidation engine in market ${(book.markets[m] as Market).symbol}`,
          )
        }
      }
      return first
    })
  }

  // ---- host paths -----------------------------------------------------------------------------

  settleLiquidationFill(
    a: number,
    iso: number | null,
    m: number,
    delta: bigint,
    price: bigint,
  ): void {
    const book = this.book
    this.checkScope(a, iso)
    const mk = book.market(m)
    if (iso !== null && iso !== m) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        'an isolated liquidation fills only its own market',
      )
    }
    if (iso === null) {
      const s = book.slotOf(a, m)
      if (s >= 0 && book.col(m).isolated[s] === 1) {
        throw new DeleverageError(
          ErrorCode.InvalidArgument,
          `the position of account ${book.ids[a]} in market ${mk.symbol} is isolated: name its market as the scope`,
        )
      }
    }
    this.checkClose(a, m, delta, price)
    this.transaction(() => this.liquidationFill(a, iso, m, delta, price))
  }

  takeOver(a: number, iso: number | null): void {
    this.checkScope(a, iso)
    this.transaction(() => this.takeover(a, iso))
  }

  settleEngineFill(m: number, delta: bigint, price: bigint): void {
    const mk = this.book.market(m)
    checkPrice(price, 'fill price')
    const [q] = this.enginePosition(m)
    if (delta === 0n || sign(delta) !== sign(q) || abs(delta) > abs(q)) {
      throw new DeleverageError(
        ErrorCode.InvalidQuantity,
        `cannot close ${delta} lots of the liquidation engine's ${q} lots in market ${mk.symbol}`,
      )
    }
    this.transaction(() => {
      const pnl = this.engineClose(m, delta, price)
      this.emit(EngineFill, NONE, m, NONE, delta, price, money(pnl, 'engine PnL'))
    })
  }

  autoDeleverage(m: number): void {
    this.book.market(m)
    this.transaction(() => this.deleverage(m))
  }

  /**
   * ADL the liquidation engine's whole position in `m` against the opposite side, ranked or pro
   * rata; exactly the engine's quantity, never more (SPEC §9.2).
   */
  private deleverage(m: number): void {
    const [q] = this.enginePosition(m)
    if (q === 0n) return
    const price = this.adlPrice(m)
    const ranking = this.config.ranking
    const sq = sign(q)
    const ids = this.book.ids
    const cands = adlCandidates(this.book, m, -Number(sq), ranking)
    const need = abs(q)
    const fills: Array<[number, bigint]> = []
    if (ranking === ProRata) {
      for (const [i, n] of prorataShares(cands, need, ids))
        fills.push([(cands[i] as Candidate).account, n])
    } else {
      let left = need
      for (const c of adlSelect(cands, need, ids)) {
        const aq = abs(c.qty)
        const take = left < aq ? left : aq
        left -= take
        if (take > 0n) fills.push([c.account, take])
      }
    }
    let done = 0n
    const fundBefore = this.fund
    for (const [acc, take] of fills) {
      // The counterparty closes `take` of its (opposite) position at the ADL price.
      const delta = -sq * take
      const [realised] = this.closePosition(acc, m, delta, price)
      this.emit(AdlFill, acc, m, NONE, delta, price, money(realised, 'realised PnL'))
      this.engineClose(m, sq * take, price)
      done += take
    }
    absorbAdlRounding(this, m, fundBefore)
    if (done < need) this.emit(AdlShortfall, NONE, m, NONE, sq * (need - done), price, 0n)
  }

  /**
   * Socialise `amount` of `beneficiary`'s bad debt over every open position in `m`, both sides,
   * in proportion to size: exact shares, largest remainder first, paid from each position's
   * collateral to the beneficiary's balance.
   */
  socialiseLoss(m: number, amount: bigint, beneficiary: number): void {
    const book = this.book
    const mk = book.market(m)
    book.account(beneficiary)
    if (amount <= 0n) {
      throw new DeleverageError(
        ErrorCode.InvalidAmount,
        `loss to socialise must be positive, got ${amount}`,
      )
    }
    this.transaction(() => {
      if (!chargeLossShares(this, book, m, amount, beneficiary)) {
        throw new DeleverageError(
          ErrorCode.InvalidArgument,
          `market ${mk.symbol} has no open positions to share a loss`,
        )
      }
      book.setBalance(beneficiary, money(book.balance(beneficiary) + amount, 'balance'))
    })
  }

  /**
   * Settle a funding rate (10^-8 units, > 0: longs pay shorts) on every position of `m` by its
   * value at mark. Payers pay rounded up, receivers get rounded down; the difference goes to the
   * residue sink (balanced open interest) or to settlement (SPEC §10).
   */
  settleFunding(m: number, rate: bigint): void {
    const book = this.book
    book.market(m)
    if (abs(rate) >= RATE_SCALE) {
      throw new DeleverageError(
        ErrorCode.InvalidArgument,
        `funding rate must be within ±1, got ${rate}e-8`,
      )
    }
    this.transaction(() => {
      const mk = book.markets[m] as Market
      const col = book.col(m)
      const n = col.len
      const ar = abs(rate)
      // Unchecked i128 sums in Rust; every flow that is applied fits i64, so they cannot wrap.
      let paid = 0n
      let received = 0n
      let netQty = 0n
      for (let s = 0; s < n; s++) {
        const acc = col.account[s] as number
        const q = BigInt(col.qty[s] as number)
        // Longs pay when rate > 0. Payers round up, receivers down.
        const pays = q > 0n === rate > 0n
        let flow: bigint
        if (pays) {
          const v = mk.rateOfValue(q, mk.mark, ar)
          paid += v
          flow = -v
        } else {
          const v = mk.rateOfValueRounded(q, mk.mark, ar, Floor)
          received += v
          flow = v
        }
        netQty += q
        if (flow === 0n) continue
        if (col.isolated[s] === 1) {
          book.setIsolatedMargin(
            m,
            s,
            money((col.isolatedMargin[s] as bigint) + flow, 'isolated margin'),
          )
        } else {
          book.setBalance(acc, money(book.balance(acc) + flow, 'balance'))
        }
        this.emit(Funding, acc, m, NONE, q, mk.mark, money(flow, 'funding'))
      }
      const diff = paid - received
      if (diff !== 0n) {
        if (netQty === 0n) {
          this.residue = money(this.residue + diff, 'residue')
          this.emit(Residue, NONE, m, NONE, 0n, 0n, money(diff, 'residue'))
        } else {
          this.settlement = add(this.settlement, diff, 'settlement')
        }
      }
    })
  }
}
