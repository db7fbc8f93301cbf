// Mirror of crates/core/src/engine.rs: the position store (columnar per market) and the margin
// state read from it — account equity, maintenance margin, the full sweep and per-position risk.
// Mutations validate every row first and only then commit, so a rejected batch leaves the engine
// untouched. JsEngine is the CoreEngine of the fallback: where the napi binding converts arguments
// inside a method, it does the same (napi-args.ts), then runs the rule here or dispatches to its
// module — the sweep's number fast paths (sweep.ts), batched fills (fills.ts), the waterfall
// through its store adapter (position-store.ts, waterfall/), the watch, planner and pre-trade.

import {
  CROSS,
  FLAG_COST_BASIS,
  FLAG_ISOLATED,
  type CoreEngine,
  type DeleveragePlanColumns,
  type EventColumns,
  type Ledger,
  type LiquidationMapColumns,
  type MarginColumns,
  type MarketInit,
  type OrderCheckColumns,
  type PreTradeInit,
  type PlanColumns,
  type PositionRiskColumns,
  type QueueColumns,
  type WaterfallInit,
  type WatchChanges,
} from '../core.js'
import { adlQueue, indicator, rankingFromCode } from './adl.js'
import { settleAdlFill } from './waterfall/adl-fill.js'
import { planDeleveraging, type DeleverageTarget } from './planner.js'
import { Watch, type WatchStore } from './watch.js'
import {
  Drawdown,
  Exhausted,
  Socialise,
  Waterfall,
  type Columns,
  type FillModel,
  type WaterfallConfig,
} from './waterfall/index.js'
import { DeleverageError, ErrorCode, overflow, rustDebugCut, withContext } from './errors.js'
import { PreTrade, type OrderVerdict, type Pos } from './pretrade.js'
import { encodePretrade, restorePretrade } from './pretrade-snapshot.js'
import { decodeSnapshot, encodeState, sealSnapshot, stateHashOf } from './snapshot.js'
import { PairSet, entryInDomainF, fastPathsEnabled, mmF, upnlF } from './fast.js'
import { applyFills, type FillStore } from './fills.js'
import {
  bankruptcyBase,
  bankruptcyPrice,
  domain,
  liquidationBase,
  liquidationPrice,
  liquidationPriceReason,
  type SolvedPrice,
} from './liq.js'
import { liquidationMapOf } from './liq-map.js'
import {
  checkLengths,
  accountMarginRow,
  bigintArg,
  bigintsArg,
  boolArg,
  i32Arg,
  i64Of,
  invalidArg,
  iso,
  maintArg,
  marketInitArg,
  stringArg,
  stringsArg,
  u32Arg,
  u32sArg,
  u64Of,
  u8sArg,
  waterfallInitArg,
} from './napi-args.js'
import { EngineStore, type StoreHost } from './position-store.js'
import {
  type MarginRow,
  type StoreView,
  exactUpnlMm,
  marginColumns,
  marginRow,
  newMarginColumns,
  overflowRow,
  sweepRows,
  worseFirst,
  writeCrossRow,
} from './sweep.js'
import { foldTakerFee } from './taker-fee.js'
import { Linear, Market, checkPrice, checkQty, isValidId, type MarketSpec } from './market.js'
import { checkPositionRows } from './settlement.js'
import {
  Floor,
  I128_MAX,
  I128_MIN,
  MAX_QUOTE_DECIMALS,
  RATIO_SCALE,
  PRICE_MAX_TICKS,
  U32_MAX,
  add,
  scale,
  sub,
  toI64,
} from './num.js'

// ---------------------------------------------------------------------------------------------
// Store.

/** One position row, saved by the undo log. */
interface SavedRow {
  account: number
  qty: number
  cost: bigint
  isolatedMargin: bigint
  isolated: number
}

/** Columns of one market's positions (structure of arrays: no object per position). */
export class MarketPositions implements Columns {
  len = 0
  account = new Uint32Array(8)
  /** |qty| ≤ 10^15 < 2^53, so the double is exact. */
  qty = new Float64Array(8)
  cost = new BigInt64Array(8)
  /** Number(cost): exact when |cost| < 2^53, the fast paths check. */
  costF = new Float64Array(8)
  /** Isolated margin in atoms; meaningful where `isolated` is set. */
  isolatedMargin = new BigInt64Array(8)
  isolatedMarginF = new Float64Array(8)
  isolated = new Uint8Array(8)
  /** Σ|qty| per side (0 long, 1 short), kept by every write (count) for the pre-trade
   * open-interest cap: the part below 2^52 in a double (each step is < 2^50, so it stays
   * exact), the rest moved into a bigint. */
  private lotsF = [0, 0]
  private lotsBig = [0n, 0n]

  private count(old: number, q: number): void {
    if (old !== 0) this.addLots(old < 0 ? 1 : 0, -Math.abs(old))
    if (q !== 0) this.addLots(q < 0 ? 1 : 0, Math.abs(q))
  }

  private addLots(side: number, d: number): void {
    let v = (this.lotsF[side] as number) + d
    if (Math.abs(v) > 2 ** 52) {
      this.lotsBig[side] = (this.lotsBig[side] as bigint) + BigInt(v)
      v = 0
    }
    this.lotsF[side] = v
  }

  /** MarketPositions::open_interest: lots of all positions on the long (buy) or short side. */
  openInterest(buy: boolean): bigint {
    const i = buy ? 0 : 1
    return (this.lotsBig[i] as bigint) + BigInt(this.lotsF[i] as number)
  }

  private grow(): void {
    const cap = this.account.length * 2
    const g = <T extends { set(a: T): void }>(old: T, fresh: T): T => {
      fresh.set(old)
      return fresh
    }
    this.account = g(this.account, new Uint32Array(cap))
    this.qty = g(this.qty, new Float64Array(cap))
    this.cost = g(this.cost, new BigInt64Array(cap))
    this.costF = g(this.costF, new Float64Array(cap))
    this.isolatedMargin = g(this.isolatedMargin, new BigInt64Array(cap))
    this.isolatedMarginF = g(this.isolatedMarginF, new Float64Array(cap))
    this.isolated = g(this.isolated, new Uint8Array(cap))
  }

  write(s: number, q: bigint, cost: bigint, im: bigint, iso: boolean): void {
    this.count(this.qty[s] as number, Number(q))
    this.qty[s] = Number(q)
    this.cost[s] = cost
    this.costF[s] = Number(cost)
    this.isolatedMargin[s] = im
    this.isolatedMarginF[s] = Number(im)
    this.isolated[s] = iso ? 1 : 0
  }

  push(a: number, q: bigint, cost: bigint, im: bigint, iso: boolean): number {
    if (this.len === this.account.length) this.grow()
    const s = this.len++
    this.account[s] = a
    this.qty[s] = 0 // a slot past the end may hold a removed row's qty
    this.write(s, q, cost, im, iso)
    return s
  }

  setQtyCost(s: number, q: bigint, cost: bigint): void {
    this.count(this.qty[s] as number, Number(q))
    this.qty[s] = Number(q)
    this.cost[s] = cost
    this.costF[s] = Number(cost)
  }

  setIsolatedMargin(s: number, im: bigint): void {
    this.isolatedMargin[s] = im
    this.isolatedMarginF[s] = Number(im)
  }

  /** Copy of row s (for the undo log). */
  row(s: number): SavedRow {
    return {
      account: this.account[s] as number,
      qty: this.qty[s] as number,
      cost: this.cost[s] as bigint,
      isolatedMargin: this.isolatedMargin[s] as bigint,
      isolated: this.isolated[s] as number,
    }
  }

  /** Exact inverse of swapRemove(s) when `r` is the row it removed (capacity is still there). */
  unswapRemove(s: number, r: SavedRow): void {
    this.count(0, r.qty)
    const last = this.len++
    if (s !== last) {
      this.account[last] = this.account[s] as number
      this.qty[last] = this.qty[s] as number
      this.cost[last] = this.cost[s] as bigint
      this.costF[last] = this.costF[s] as number
      this.isolatedMargin[last] = this.isolatedMargin[s] as bigint
      this.isolatedMarginF[last] = this.isolatedMarginF[s] as number
      this.isolated[last] = this.isolated[s] as number
    }
    this.account[s] = r.account
    this.qty[s] = r.qty
    this.cost[s] = r.cost
    this.costF[s] = Number(r.cost)
    this.isolatedMargin[s] = r.isolatedMargin
    this.isolatedMarginF[s] = Number(r.isolatedMargin)
    this.isolated[s] = r.isolated
  }

  /** Vec::swap_remove on every column. */
  swapRemove(s: number): void {
    this.count(this.qty[s] as number, 0)
    const last = --this.len
    if (s !== last) {
      this.account[s] = this.account[last] as number
      this.qty[s] = this.qty[last] as number
      this.cost[s] = this.cost[last] as bigint
      this.costF[s] = this.costF[last] as number
      this.isolatedMargin[s] = this.isolatedMargin[last] as bigint
      this.isolatedMarginF[s] = this.isolatedMarginF[last] as number
      this.isolated[s] = this.isolated[last] as number
    }
  }
}

interface PositionRisk {
  account: number
  market: number
  qty: bigint
  cost: bigint
  isolated: boolean
  isolatedMargin: bigint
  upnl: bigint
  maintenanceMargin: bigint
  liquidation: SolvedPrice | null
  bankruptcy: SolvedPrice | null
}

export function checkId(id: string): void {
  if (!isValidId(id)) {
    throw new DeleverageError(
      ErrorCode.InvalidId,
      `account id must be 1–64 bytes of UTF-8 without spaces or control characters, got ${rustDebugCut(id)}`,
    )
  }
}

/**
 * Engine's row_cost: the cost basis of one setPositions row (SPEC §2.3, §3.1) with its checks —
 * the value fits i64 atoms at some price (and at the entry), a given cost basis has qty's sign,
 * an isolated margin only on an isolated position and never negative. `q` ≠ 0 and the flags are
 * known bits. An in-range entry's domain is proven on doubles instead of computed (fast.ts).
 */
function rowCost(mk: Market, q: bigint, p: bigint, f: number, im: bigint): bigint {
  // The position's value must fit i64 atoms at some price, and an entry row's at its entry
  // (SPEC §2.3). The fast path proves both for an in-range entry; otherwise compute the domain.
  const proven =
    (f & FLAG_COST_BASIS) === 0 &&
    fastPathsEnabled() &&
    p >= 1n &&
    p <= PRICE_MAX_TICKS &&
    entryInDomainF(mk, Number(q), Number(p))
  let lo = 0n
  let hi = 0n
  if (!proven) {
    ;[lo, hi] = domain(mk, q, 0)
    if (lo > hi) {
      throw new DeleverageError(
        ErrorCode.Overflow,
        `position of ${q} lots is worth more than i64 atoms at every price`,
      )
    }
  }
  let cost: bigint
  if ((f & FLAG_COST_BASIS) !== 0) {
    if (p === 0n || p > 0n !== q > 0n) {
      throw new DeleverageError(
        ErrorCode.InvalidAmount,
        `cost basis must be non-zero with the sign of qty (${q}), got ${p}`,
      )
    }
    if (mk.kind === Linear) {
      toI64(scale(p, mk.quoteExp(), Floor, 'cost basis (to atoms)'), 'cost basis (to atoms)')
    }
    cost = p
  } else {
    checkPrice(p, mk.priceDecimals, 'entry')
    if (!proven && (p < lo || p > hi)) {
      throw new DeleverageError(
        ErrorCode.Overflow,
        `position of ${q} lots at ${p} ticks is worth more than i64 atoms`,
      )
    }
    cost = mk.costBasis(q, p)
    if (cost === 0n) {
      throw new DeleverageError(
        ErrorCode.InvalidQuantity,
        `position of ${q} lots at ${p} ticks is worth less than one atom`,
      )
    }
  }
  const isolated = (f & FLAG_ISOLATED) !== 0
  if (isolated && im < 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidAmount,
      `isolated margin must not be negative, got ${im}`,
    )
  }
  if (!isolated && im !== 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidAmount,
      `a cross position takes no isolated margin, got ${im}`,
    )
  }
  return cost
}

export class JsEngine implements CoreEngine {
  private readonly quoteDecimals: number
  private readonly markets: Market[] = []
  private readonly marketBySymbol = new Map<string, number>()
  private readonly positions: MarketPositions[] = []
  // Accounts, by dense index (never reused).
  private ids: string[] = []
  private balance = new BigInt64Array(16)
  private balanceF = new Float64Array(16)
  private alive = new Uint8Array(16)
  /** Per account (market, slot) pairs flattened, kept sorted by market. */
  private refs: Array<number[] | undefined> = []
  private accountsLen = 0
  private liveCount = 0
  private readonly accountById = new Map<string, number>()
  /** The store as the waterfall sees it, with the transaction's undo log (position-store.ts). */
  private readonly store = new EngineStore(this.storeHost())
  /** Waterfall state and algorithms (crates/core/src/waterfall.rs). */
  private readonly wf = new Waterfall(this.store)
  /** The liquidation watch (watch.ts), built on first use. */
  private readonly watch = new Watch(this.watchStore())
  /** The store as a batch of fills sees it (fills.ts). */
  private readonly fillStore = this.makeFillStore()
  /** Leverage, pre-trade settings and open orders (pretrade.ts, SPEC §17). */
  readonly pretrade = new PreTrade(this.preTradeHost())

  /** Engine::new */
  constructor(quoteDecimals: number) {
    const q = u32Arg('quoteDecimals', quoteDecimals)
    if (q > MAX_QUOTE_DECIMALS) {
      throw new DeleverageError(
        ErrorCode.InvalidDecimals,
        `quoteDecimals must be 0..=${MAX_QUOTE_DECIMALS}, got ${q}`,
      )
    }
    this.quoteDecimals = q
  }

  private market(m: number): Market {
    const mk = this.markets[m]
    if (mk === undefined)
      throw new DeleverageError(ErrorCode.UnknownMarket, `no market with index ${m}`)
    return mk
  }

  private account(a: number): void {
    if (!(a < this.accountsLen && this.alive[a] === 1)) {
      throw new DeleverageError(ErrorCode.UnknownAccount, `no account with index ${a}`)
    }
  }

  positionCount(): number {
    let n = 0
    for (const p of this.positions) n += p.len
    return n
  }

  accountCount(): number {
    return this.liveCount
  }

  accountIndex(id: string): number | null {
    return this.accountById.get(stringArg('id', id)) ?? null
  }

  /** The id of any account index ever given out, removed accounts included (events name them). */
  accountId(index: number): string {
    const a = u32Arg('index', index)
    if (a >= this.accountsLen)
      throw new DeleverageError(ErrorCode.UnknownAccount, `no account with index ${a}`)
    return this.ids[a] as string
  }

  marketIndex(symbol: string): number | null {
    return this.marketBySymbol.get(stringArg('symbol', symbol)) ?? null
  }

  addMarket(init: MarketInit): number {
    // Type conversions (napi object conversion), then crates/node's checks in its order.
    init = marketInitArg(init)
    const symbol = stringArg('symbol', init.symbol)
    const kind = u32Arg('kind', init.kind)
    const priceDecimals = u32Arg('priceDecimals', init.priceDecimals)
    const qtyDecimals = u32Arg('qtyDecimals', init.qtyDecimals)
    const contractSize = bigintArg('contractSize', init.contractSize)
    const basis = u32Arg('basis', init.basis)
    const form = u32Arg('form', init.form)
    const floors = bigintsArg('floors', init.floors)
    const mmr = bigintsArg('mmr', init.mmr)
    const imr = bigintsArg('imr', init.imr)
    const maint = maintArg(init.maintAmount)
    const mark = bigintArg('mark', init.mark)
    const tickSize =
      init.tickSize === undefined || init.tickSize === null
        ? undefined
        : bigintArg('tickSize', init.tickSize)
    const settleAsset =
      init.settleAsset === undefined || init.settleAsset === null
        ? null
        : stringArg('settleAsset', init.settleAsset)
    if (kind > 1) throw invalidArg(`market kind must be 0 (linear) or 1 (inverse), got ${kind}`)
    if (basis > 1) throw invalidArg(`margin basis must be 0 (mark) or 1 (entry), got ${basis}`)
    if (form > 1) throw invalidArg(`tier form must be 0 (deduction) or 1 (step), got ${form}`)
    if (maint !== null) {
      for (const x of maint) {
        if (x > I128_MAX || x < I128_MIN) throw overflow('maintenance amount (does not fit i128)')
      }
    }
    const spec: MarketSpec = {
      symbol,
      kind,
      priceDecimals,
      qtyDecimals,
      contractSize: i64Of(contractSize, 'contractSize'),
      basis,
      form,
      floors: Array.from(floors),
      mmr: Array.from(mmr),
      imr: Array.from(imr),
      maintAmount: maint === null ? null : maint.slice(),
      mark: i64Of(mark, 'mark'),
      tickSize: tickSize === undefined ? 0n : i64Of(tickSize, 'tickSize'),
      settleAsset,
    }
    foldTakerFee(spec, init.takerFee === undefined ? 0n : i64Of(init.takerFee, 'takerFee'))
    if (this.marketBySymbol.has(spec.symbol)) {
      throw new DeleverageError(ErrorCode.DuplicateMarket, `market ${spec.symbol} already exists`)
    }
    if (this.markets.length >= U32_MAX - 1) throw invalidArg('too many markets')
    const m = Market.create(spec, this.quoteDecimals)
    const idx = this.markets.length
    this.marketBySymbol.set(m.symbol, idx)
    this.markets.push(m)
    this.positions.push(new MarketPositions())
    return idx
  }

  /** Batch mark update; all rows are checked before any mark moves. */
  setMarks(markets: Uint32Array, marks: BigInt64Array): void {
    this.checkMarks('setMarks', markets, marks)
    this.watch.moved(this.moveMarks(markets, marks))
  }

  /** Engine::check_marks (after the napi conversions). */
  private checkMarks(what: string, markets: Uint32Array, marks: BigInt64Array): void {
    markets = u32sArg('markets', markets)
    marks = bigintsArg('marks', marks)
    checkLengths(what, [markets.length, marks.length])
    for (let i = 0; i < markets.length; i++) {
      const m = markets[i] as number
      const p = marks[i] as bigint
      let mk: Market
      try {
        mk = this.market(m)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      try {
        mk.checkMark(p)
      } catch (e) {
        throw withContext(e, `row ${i} (market ${mk.symbol})`)
      }
    }
  }

  /** Engine::move_marks: write checked marks; (market, old, new) per market moved, first seen order. */
  private moveMarks(markets: Uint32Array, marks: BigInt64Array): Array<[number, bigint, bigint]> {
    const moves: Array<[number, bigint, bigint]> = []
    for (let i = 0; i < markets.length; i++) {
      const m = markets[i] as number
      const p = marks[i] as bigint
      const mk = this.markets[m] as Market
      const mv = moves.find((x) => x[0] === m)
      if (mv === undefined) moves.push([m, mk.mark, p])
      else mv[2] = p
      mk.setMark(p)
    }
    return moves
  }

  /** Add accounts; returns the index of the first. Ids must be new and unique in the batch. */
  addAccounts(ids: Array<string>, balances: BigInt64Array): number {
    ids = stringsArg('ids', ids)
    balances = bigintsArg('balances', balances)
    checkLengths('addAccounts', [ids.length, balances.length])
    const seen = new Set<string>()
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string
      try {
        checkId(id)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      if (this.accountById.has(id) || seen.has(id)) {
        throw new DeleverageError(
          ErrorCode.DuplicateAccount,
          `row ${i}: account ${id} already exists`,
        )
      }
      seen.add(id)
    }
    if (this.accountsLen + ids.length >= U32_MAX) throw invalidArg('too many accounts')
    const first = this.accountsLen
    const need = first + ids.length
    if (need > this.alive.length) {
      let cap = this.alive.length
      while (cap < need) cap *= 2
      const b = new BigInt64Array(cap)
      b.set(this.balance)
      this.balance = b
      const bf = new Float64Array(cap)
      bf.set(this.balanceF)
      this.balanceF = bf
      const al = new Uint8Array(cap)
      al.set(this.alive)
      this.alive = al
    }
    for (let i = 0; i < ids.length; i++) {
      const a = first + i
      const id = ids[i] as string
      const bal = balances[i] as bigint
      this.accountById.set(id, a)
      this.ids.push(id)
      this.refs.push(undefined)
      this.balance[a] = bal
      this.balanceF[a] = Number(bal)
      this.alive[a] = 1
    }
    this.accountsLen = need
    this.liveCount += ids.length
    return first
  }

  /**
   * Add accounts together with their positions, all or nothing: `account` indexes the batch (0 is
   * ids[0]). A rejected row leaves no trace: the accounts are taken back, no index is consumed.
   */
  addAccountsWithPositions(
    ids: Array<string>,
    balances: BigInt64Array,
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): number {
    ids = stringsArg('ids', ids)
    balances = bigintsArg('balances', balances)
    account = u32sArg('account', account)
    market = u32sArg('market', market)
    qty = bigintsArg('qty', qty)
    price = bigintsArg('price', price)
    isolatedMargin = bigintsArg('isolatedMargin', isolatedMargin)
    flags = u8sArg('flags', flags)
    const first = this.addAccounts(ids, balances)
    const n = ids.length
    const absolute = new Uint32Array(account.length)
    for (let i = 0; i < account.length; i++) {
      const a = account[i] as number
      if (a >= n) {
        this.truncateAccounts(first)
        throw new DeleverageError(
          ErrorCode.UnknownAccount,
          `row ${i}: account ${a} is not in the batch of ${n} accounts`,
        )
      }
      absolute[i] = first + a
    }
    try {
      this.setPositions(absolute, market, qty, price, isolatedMargin, flags)
    } catch (e) {
      this.truncateAccounts(first)
      throw e
    }
    return first
  }

  /** Take back accounts added from index `first` on that nothing refers to yet (no positions). */
  private truncateAccounts(first: number): void {
    for (let a = first; a < this.accountsLen; a++) {
      this.accountById.delete(this.ids[a] as string)
      this.balance[a] = 0n
      this.balanceF[a] = 0
      this.alive[a] = 0
    }
    this.liveCount -= this.accountsLen - first
    this.ids.length = first
    this.refs.length = first
    this.accountsLen = first
  }

  setBalances(accounts: Uint32Array, balances: BigInt64Array): void {
    accounts = u32sArg('accounts', accounts)
    balances = bigintsArg('balances', balances)
    checkLengths('setBalances', [accounts.length, balances.length])
    // One balance per account: a repeated index is refused (last-wins would hide a bug).
    const seen = new Set<number>()
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i] as number
      try {
        this.account(a)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      if (seen.has(a))
        throw new DeleverageError(
          ErrorCode.DuplicateAccount,
          `row ${i}: account index ${a} listed twice`,
        )
      seen.add(a)
    }
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i] as number
      const b = balances[i] as bigint
      this.balance[a] = b
      this.balanceF[a] = Number(b)
      this.watch.touch(a)
    }
  }

  /** Remove accounts and all their positions. Indices are never reused. */
  removeAccounts(accounts: Uint32Array): void {
    accounts = u32sArg('accounts', accounts)
    const seen = new Set<number>()
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i] as number
      try {
        this.account(a)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      if (seen.has(a)) {
        throw new DeleverageError(
          ErrorCode.DuplicateAccount,
          `row ${i}: account index ${a} listed twice`,
        )
      }
      seen.add(a)
    }
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i] as number
      for (;;) {
        const r = this.refs[a]
        if (r === undefined || r.length === 0) break
        this.removePosition(a, r[r.length - 2] as number)
      }
      // No order may outlive its account (SPEC §17.9).
      this.pretrade.cancelOrdersOf(this.wf, a, true)
      this.alive[a] = 0
      this.accountById.delete(this.ids[a] as string)
      this.liveCount--
      this.watch.touch(a)
    }
  }

  /** Index of market m's pair in the account's refs, or -1 (binary search by market). */
  private static findRef(r: number[] | undefined, m: number): number {
    if (r === undefined) return -1
    let lo = 0
    let hi = r.length >> 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const mm = r[mid * 2] as number
      if (mm < m) lo = mid + 1
      else if (mm > m) hi = mid
      else return mid * 2
    }
    return -1
  }

  /** The markets account a holds a position in, in market order (SPEC §5.4 checks). */
  private heldMarkets(a: number): number[] {
    const r = this.refs[a] ?? []
    const out: number[] = []
    for (let i = 0; i < r.length; i += 2) out.push(r[i] as number)
    return out
  }

  private slotOf(a: number, m: number): number {
    const r = this.refs[a]
    const i = JsEngine.findRef(r, m)
    return i < 0 ? -1 : ((r as number[])[i + 1] as number)
  }

  private removePosition(a: number, m: number): void {
    const slot = this.slotOf(a, m)
    if (slot < 0) return
    const col = this.positions[m] as MarketPositions
    const saved = this.store.undo === null ? null : col.row(slot)
    col.swapRemove(slot)
    let movedRefs: number[] | null = null
    let movedAt = -1
    if (slot < col.len) {
      // The last position moved into `slot`: repoint its account's reference.
      const moved = col.account[slot] as number
      const mr = this.refs[moved]
      const i = JsEngine.findRef(mr, m)
      if (i >= 0) {
        ;(mr as number[])[i + 1] = slot
        movedRefs = mr as number[]
        movedAt = i
      }
    }
    const r = this.refs[a] as number[]
    const i = JsEngine.findRef(r, m)
    if (i >= 0) r.splice(i, 2)
    const undo = this.store.undo
    if (undo !== null) {
      // Undone in reverse order, so every index here is valid again when this runs.
      const last = col.len
      undo.push(() => {
        if (i >= 0) r.splice(i, 0, m, slot)
        if (movedRefs !== null) movedRefs[movedAt + 1] = last
        col.unswapRemove(slot, saved as SavedRow)
      })
    }
  }

  /**
   * Write a batch of positions (open, replace, or remove with qty = 0). Every row is validated —
   * ids, ranges, cost basis, one row per (account, market) — before any is applied.
   */
  setPositions(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): void {
    account = u32sArg('account', account)
    market = u32sArg('market', market)
    qty = bigintsArg('qty', qty)
    price = bigintsArg('price', price)
    isolatedMargin = bigintsArg('isolatedMargin', isolatedMargin)
    flags = u8sArg('flags', flags)
    const n = account.length
    checkLengths('setPositions', [
      n,
      market.length,
      qty.length,
      price.length,
      isolatedMargin.length,
      flags.length,
    ])
    const staged = new BigInt64Array(n) // cost (the isolated margin is the row's own)
    const seen = new PairSet(n)
    for (let i = 0; i < n; i++) {
      const a = account[i] as number
      const m = market[i] as number
      const f = flags[i] as number
      const mk = this.positionRowMarket(i, a, m, f, seen)
      const q = qty[i] as bigint
      try {
        checkQty(q, 'qty')
        if (q === 0n) {
          staged[i] = 0n
          continue
        }
        staged[i] = rowCost(mk, q, price[i] as bigint, f, isolatedMargin[i] as bigint)
      } catch (e) {
        throw withContext(e, `row ${i} (account ${this.ids[a]}, market ${mk.symbol})`)
      }
    }
    checkPositionRows(this.markets, this.ids, (a) => this.heldMarkets(a), account, market, qty)
    for (let i = 0; i < n; i++) {
      const a = account[i] as number
      const m = market[i] as number
      const q = qty[i] as bigint
      this.watch.touch(a)
      if (q === 0n) {
        this.removePosition(a, m)
        continue
      }
      const iso = ((flags[i] as number) & FLAG_ISOLATED) !== 0
      const cost = staged[i] as bigint
      const im = isolatedMargin[i] as bigint
      this.writePosition(a, m, q, cost, iso, im)
    }
  }

  /** setPositions' checks of row i's ids and flags, and one row per (account, market): the
   * row's market. */
  private positionRowMarket(i: number, a: number, m: number, f: number, seen: PairSet): Market {
    try {
      this.account(a)
      const mk = this.market(m)
      if ((f & ~(FLAG_ISOLATED | FLAG_COST_BASIS)) !== 0)
        throw invalidArg(`unknown flag bits 0x${f.toString(16)}`)
      if (!seen.add(a, m))
        throw new DeleverageError(
          ErrorCode.DuplicatePosition,
          `account ${this.ids[a]} has two rows for market ${mk.symbol}`,
        )
      return mk
    } catch (e) {
      throw withContext(e, `row ${i}`)
    }
  }

  /**
   * Engine::write_position: write account a's position in market m in place, or append a row and
   * insert (m, slot) into the account's market-sorted refs. The one position write of set_positions
   * and apply_fills.
   */
  private writePosition(
    a: number,
    m: number,
    q: bigint,
    cost: bigint,
    iso: boolean,
    im: bigint,
  ): void {
    const col = this.positions[m] as MarketPositions
    const existing = this.slotOf(a, m)
    if (existing >= 0) {
      col.write(existing, q, cost, im, iso)
      return
    }
    const slot = col.push(a, q, cost, im, iso)
    const r = this.refs[a]
    if (r === undefined) {
      this.refs[a] = [m, slot]
      return
    }
    // partition_point(|(mm, _)| mm < m)
    let lo = 0
    let hi = r.length >> 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if ((r[mid * 2] as number) < m) lo = mid + 1
      else hi = mid
    }
    if (lo * 2 === r.length) r.push(m, slot)
    else r.splice(lo * 2, 0, m, slot)
  }

  /** The accounts a query covers: the given ones (checked), or every live one in index order. */
  private accountList(accounts: Uint32Array | null): Uint32Array {
    if (accounts === null || accounts === undefined) {
      const list = new Uint32Array(this.liveCount)
      let j = 0
      for (let a = 0; a < this.accountsLen; a++) if (this.alive[a] === 1) list[j++] = a
      return list
    }
    const list = u32sArg('accounts', accounts)
    for (let i = 0; i < list.length; i++) {
      try {
        this.account(list[i] as number)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
    }
    return list
  }

  /** Cross margin state of the given accounts (every live account, in index order, when null). */
  accountRows(accounts: Uint32Array | null): MarginColumns {
    const list = this.accountList(accounts)
    const n = list.length
    const out = newMarginColumns(n)
    out.market.fill(CROSS)
    const fast = fastPathsEnabled()
    const v = this.view()
    for (let j = 0; j < n; j++) {
      const a = list[j] as number
      out.account[j] = a
      writeCrossRow(v, a, out, j, fast, true)
    }
    return out
  }

  /** Wallet balances of the given accounts. */
  balances(accounts: Uint32Array): BigInt64Array {
    accounts = u32sArg('accounts', accounts)
    const out = new BigInt64Array(accounts.length)
    for (let i = 0; i < accounts.length; i++) {
      const a = accounts[i] as number
      try {
        this.account(a)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      out[i] = this.balance[a] as bigint
    }
    return out
  }

  /**
   * Full sweep (SPEC §5): every liquidatable cross account and isolated position, worst first;
   * with `warningPpm`, also those at or past that margin ratio that are not liquidatable. Returns
   * the liquidatable rows followed by the warning rows.
   */
  /** NativeEngine::sweep_async: the same checks; computed now, so it sees the state of the call. */
  sweepAsync(warningPpm: bigint | null, threads: number): Promise<MarginColumns> {
    try {
      return Promise.resolve(this.sweepParallel(warningPpm, threads))
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** NativeEngine::sweep_parallel: the same checks; the TypeScript engine sweeps on one thread. */
  sweepParallel(warningPpm: bigint | null, threads: number): MarginColumns {
    const t = u32Arg('threads', threads)
    if (t === 0 || t > 256) throw invalidArg(`threads must be within 1 and 256, got ${t}`)
    return this.sweep(warningPpm)
  }

  sweep(warningPpm: bigint | null): MarginColumns {
    const w =
      warningPpm === null || warningPpm === undefined
        ? null
        : i64Of(bigintArg('warningPpm', warningPpm), 'warningPpm')
    if (w !== null && w <= 0n) {
      throw invalidArg(`warning ratio must be positive, got ${w} ppm`)
    }
    return sweepRows(this.view(), w)
  }

  /**
   * Risk of every position of the given accounts (all live accounts when null), in account order,
   * then market order: uPnL, MM, liquidation and bankruptcy prices (SPEC §6).
   */
  positionRisks(accounts: Uint32Array | null): PositionRiskColumns {
    const list = this.accountList(accounts)
    let total = 0
    for (let i = 0; i < list.length; i++) total += (this.refs[list[i] as number]?.length ?? 0) >> 1
    const out: PositionRiskColumns = {
      account: new Uint32Array(total),
      market: new Uint32Array(total),
      qty: new BigInt64Array(total),
      cost: new BigInt64Array(total),
      isolated: new Uint8Array(total),
      isolatedMargin: new BigInt64Array(total),
      upnl: new BigInt64Array(total),
      maintenanceMargin: new BigInt64Array(total),
      liquidationPrice: new BigInt64Array(total),
      liquidationPriceNearest: new BigInt64Array(total),
      bankruptcyPrice: new BigInt64Array(total),
      bankruptcyPriceNearest: new BigInt64Array(total),
      liquidationPriceReason: new Uint8Array(total),
    }
    let j = 0
    const emit = (r: PositionRisk): void => {
      out.account[j] = r.account
      out.market[j] = r.market
      out.qty[j] = r.qty
      out.cost[j] = r.cost
      out.isolated[j] = r.isolated ? 1 : 0
      out.isolatedMargin[j] = r.isolatedMargin
      out.upnl[j] = r.upnl
      out.maintenanceMargin[j] = r.maintenanceMargin
      out.liquidationPrice[j] = r.liquidation?.conservative ?? 0n
      out.liquidationPriceNearest[j] = r.liquidation?.nearest ?? 0n
      out.bankruptcyPrice[j] = r.bankruptcy?.conservative ?? 0n
      out.bankruptcyPriceNearest[j] = r.bankruptcy?.nearest ?? 0n
      const mk = this.markets[r.market] as Market
      out.liquidationPriceReason[j] = liquidationPriceReason(mk, r.qty, r.liquidation)
      j++
    }
    for (let i = 0; i < list.length; i++) this.accountPositionRisks(list[i] as number, emit)
    return out
  }

  private accountPositionRisks(a: number, emit: (r: PositionRisk) => void): void {
    const refs = this.refs[a] ?? []
    const id = this.ids[a] as string
    const n = refs.length >> 1
    const { us, mms, crossUpnl, crossMm } = this.accountUpnlMm(a)
    for (let i = 0; i < n; i++) {
      const m = refs[2 * i] as number
      const s = refs[2 * i + 1] as number
      const mk = this.markets[m] as Market
      const col = this.positions[m] as MarketPositions
      const u = us[i] as bigint
      const mm = mms[i] as bigint
      const q = BigInt(col.qty[s] as number)
      const c = col.cost[s] as bigint
      const iso = col.isolated[s] === 1
      try {
        // base for bankruptcy: collateral + others' uPnL; for liquidation also − others' MM.
        let bkBase: bigint
        let lqBase: bigint
        if (iso) {
          bkBase = col.isolatedMargin[s] as bigint
          lqBase = bkBase
        } else {
          // Rust computes these two differences unchecked (wrapping in a release build).
          const othersU = sub(crossUpnl, u, 'uPnL of the other positions')
          const othersMm = sub(crossMm, mm, 'maintenance margin of the other positions')
          bkBase = bankruptcyBase(this.balance[a] as bigint, othersU)
          lqBase = liquidationBase(bkBase, othersMm)
        }
        emit({
          account: a,
          market: m,
          qty: q,
          cost: c,
          isolated: iso,
          isolatedMargin: col.isolatedMargin[s] as bigint,
          upnl: toI64(u, 'uPnL (does not fit i64)'),
          maintenanceMargin: toI64(mm, 'maintenance margin (does not fit i64)'),
          liquidation: liquidationPrice(mk, q, c, lqBase),
          bankruptcy: bankruptcyPrice(mk, q, c, bkBase),
        })
      } catch (e) {
        throw withContext(e, `account ${id}, market ${mk.symbol}`)
      }
    }
  }

  /**
   * Current uPnL and MM of each of account a's positions (in refs order), and the cross totals
   * to fold into each position's price base (account_position_risks' first pass).
   */
  private accountUpnlMm(a: number): {
    us: bigint[]
    mms: bigint[]
    crossUpnl: bigint
    crossMm: bigint
  } {
    const refs = this.refs[a] ?? []
    const ctxAcc = (e: unknown): unknown => withContext(e, `account ${this.ids[a] as string}`)
    const fast = fastPathsEnabled()
    const v = this.view()
    const n = refs.length >> 1
    const us: bigint[] = new Array<bigint>(n)
    const mms: bigint[] = new Array<bigint>(n)
    let crossUpnl = 0n
    let crossMm = 0n
    for (let i = 0; i < n; i++) {
      const m = refs[2 * i] as number
      const s = refs[2 * i + 1] as number
      const mk = this.markets[m] as Market
      const col = this.positions[m] as MarketPositions
      let fu = NaN
      let fm = NaN
      if (fast) {
        fu = upnlF(mk, col.qty[s] as number, col.costF[s] as number, mk.markF)
        fm = mmF(mk, col.qty[s] as number, col.costF[s] as number, mk.markF)
      }
      const [u, mm] = exactUpnlMm(v, m, s, fu, fm, ctxAcc)
      if (col.isolated[s] !== 1) {
        try {
          crossUpnl = add(crossUpnl, u, 'account uPnL')
          crossMm = add(crossMm, mm, 'account maintenance margin')
        } catch (e) {
          throw ctxAcc(e)
        }
      }
      us[i] = u
      mms[i] = mm
    }
    return { us, mms, crossUpnl, crossMm }
  }

  /** The liquidation map (liq-map.ts, SPEC §18). */
  liquidationMap(market: number, from: bigint, to: bigint, buckets: number): LiquidationMapColumns {
    return liquidationMapOf(
      {
        markets: this.markets,
        positions: this.positions,
        refs: (a) => this.refs[a] ?? [],
        balance: (a) => this.balance[a] as bigint,
        id: (a) => this.ids[a] as string,
      },
      market,
      from,
      to,
      buckets,
    )
  }

  // ---------------------------------------------------------------------------------------------
  // The liquidation watch (watch.rs, SPEC §14) and batched fills (fills.ts, SPEC §15).

  private watchStore(): WatchStore {
    return {
      markets: this.markets,
      ids: this.ids,
      accountsLen: () => this.accountsLen,
      alive: (a) => this.alive[a] === 1,
      refs: (a) => this.refs[a] ?? [],
      col: (m) => this.positions[m] as MarketPositions,
      balance: (a) => this.balance[a] as bigint,
    }
  }

  /** Engine::update_marks: move marks, return the status changes since the last call. */
  updateMarks(markets: Uint32Array, marks: BigInt64Array): WatchChanges {
    this.checkMarks('updateMarks', markets, marks)
    const moves = this.moveMarks(markets, marks)
    try {
      this.watch.update(moves)
    } catch (e) {
      for (const [m, old] of moves) (this.markets[m] as Market).setMark(old)
      throw e
    }
    const ch = this.watch.report()
    return {
      account: Uint32Array.from(ch, (c) => c.account),
      market: Uint32Array.from(ch, (c) => c.market),
      liquidatable: Uint8Array.from(ch, (c) => (c.liquidatable ? 1 : 0)),
    }
  }

  /** Engine::watch_liquidatable: the sweep's liquidatable rows, from the watch. */
  liquidatable(): MarginColumns {
    if (!this.watch.isBuilt()) this.watch.build()
    this.watch.refresh()
    const rows: MarginRow[] = []
    for (const [a, m] of this.watch.liq.sorted())
      rows.push(m === CROSS ? this.crossRowOf(a) : this.isolatedRowOf(a, m))
    const v = this.view()
    rows.sort((x, y) => worseFirst(v, x, y))
    // Then the scopes that overflow, as the sweep lists them.
    const over = this.watch.over.sorted().map(([a, m]) => overflowRow(a, m))
    over.sort((x, y) => worseFirst(v, x, y))
    return marginColumns(rows.concat(over))
  }

  /** Engine::cross_row: the account's cross row, with its errors. */
  private crossRowOf(a: number): MarginRow {
    const refs = this.refs[a] ?? []
    let u = 0n
    let mm = 0n
    let hasCross = false
    try {
      for (let i = 0; i < refs.length; i += 2) {
        const m = refs[i] as number
        const s = refs[i + 1] as number
        const col = this.positions[m] as MarketPositions
        if (col.isolated[s] === 1) continue
        hasCross = true
        const mk = this.markets[m] as Market
        const q = BigInt(col.qty[s] as number)
        u = add(u, mk.upnl(q, col.cost[s] as bigint), 'account uPnL')
        mm = add(mm, mk.maintenanceMargin(q, col.cost[s] as bigint), 'account maintenance margin')
      }
      return marginRow(a, CROSS, add(this.balance[a] as bigint, u, 'equity'), mm, hasCross)
    } catch (e) {
      throw withContext(e, `account ${this.ids[a]}`)
    }
  }

  private isolatedRowOf(a: number, m: number): MarginRow {
    const mk = this.markets[m] as Market
    const col = this.positions[m] as MarketPositions
    const s = this.slotOf(a, m)
    try {
      const q = BigInt(col.qty[s] as number)
      const u = mk.upnl(q, col.cost[s] as bigint)
      const mm = mk.maintenanceMargin(q, col.cost[s] as bigint)
      return marginRow(a, m, add(col.isolatedMargin[s] as bigint, u, 'isolated equity'), mm, true)
    } catch (e) {
      throw withContext(e, `account ${this.ids[a]}, market ${mk.symbol}`)
    }
  }

  /** Engine::apply_fills (fills.ts), after the binding's conversions. */
  applyFills(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
  ): void {
    account = u32sArg('account', account)
    market = u32sArg('market', market)
    qty = bigintsArg('qty', qty)
    price = bigintsArg('price', price)
    applyFills(this.fillStore, account, market, qty, price)
  }

  private makeFillStore(): FillStore {
    return {
      markets: this.markets,
      ids: this.ids, // both arrays only grow in place
      wf: this.wf,
      account: (a) => this.account(a),
      market: (m) => this.market(m),
      col: (m) => this.positions[m] as MarketPositions,
      slotOf: (a, m) => this.slotOf(a, m),
      balance: (a) => this.balance[a] as bigint,
      heldMarkets: (a) => this.heldMarkets(a),
      touch: (a) => this.watch.touch(a),
      removePosition: (a, m) => this.removePosition(a, m),
      writePosition: (a, m, q, cost, iso, im) => this.writePosition(a, m, q, cost, iso, im),
      writeBalance: (a, v) => this.writeBalance(a, v),
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The waterfall (waterfall.rs, adl.rs, planner.rs), with crates/node's argument handling.

  /** The columns as the sweep reads them (sweep.ts): the current arrays, taken per call. */
  private view(): StoreView {
    return {
      markets: this.markets,
      positions: this.positions,
      ids: this.ids,
      refs: this.refs,
      balance: this.balance,
      balanceF: this.balanceF,
      alive: this.alive,
      accountsLen: this.accountsLen,
    }
  }

  /** What the waterfall's store adapter reaches of the engine (position-store.ts). */
  private storeHost(): StoreHost {
    return {
      markets: this.markets,
      ids: this.ids, // both arrays only grow in place
      view: () => this.view(),
      market: (m) => this.market(m),
      account: (a) => this.account(a),
      col: (m) => this.positions[m] as MarketPositions,
      refs: (a) => this.refs[a] ?? [],
      slotOf: (a, m) => this.slotOf(a, m),
      balance: (a) => this.balance[a] as bigint,
      writeBalance: (a, v) => this.writeBalance(a, v),
      removePosition: (a, m) => this.removePosition(a, m),
      touch: (a) => this.watch.touch(a),
      events: () => this.wf.events,
    }
  }

  private writeBalance(a: number, v: bigint): void {
    this.balance[a] = v
    this.balanceF[a] = Number(v)
  }

  configureWaterfall(config: WaterfallInit): void {
    // napi object conversion (field order), then crates/node's checks in its order.
    config = waterfallInitArg(config)
    const feeRate = bigintArg('feeRate', config.feeRate)
    const bufferRate = bigintArg('bufferRate', config.bufferRate)
    const ranking = u32Arg('ranking', config.ranking)
    const adlAtMark = boolArg('adlAtMark', config.adlAtMark)
    const policy = u32Arg('policy', config.policy)
    const triggerPpm = bigintArg('triggerPpm', config.triggerPpm)
    const stopPpm = bigintArg('stopPpm', config.stopPpm)
    const window = bigintArg('window', config.window)
    const c: WaterfallConfig = {
      feeRate: 0n,
      bufferRate: 0n,
      ranking: 0,
      adlAtMark,
      policy: Exhausted,
      triggerPpm: 0n,
      stopPpm: 0n,
      window: 0n,
    }
    if (policy === 1) {
      c.policy = Drawdown
      c.triggerPpm = i64Of(triggerPpm, 'triggerPpm')
      c.stopPpm = i64Of(stopPpm, 'stopPpm')
      c.window = u64Of(window, 'window')
    } else if (policy === 2) {
      c.policy = Socialise
    } else if (policy !== 0) {
      throw invalidArg(
        `fund policy must be 0 (exhausted), 1 (drawdown) or 2 (socialise), got ${policy}`,
      )
    }
    c.feeRate = i64Of(feeRate, 'feeRate')
    c.bufferRate = i64Of(bufferRate, 'bufferRate')
    c.ranking = rankingFromCode(ranking)
    this.wf.configure(c)
  }

  depositFund(amount: bigint, now: bigint): void {
    const a = i64Of(bigintArg('amount', amount), 'amount')
    const t = u64Of(bigintArg('now', now), 'now')
    this.wf.depositFund(a, t)
  }

  runWaterfall(model: number, ppmPerLot: bigint, capPpm: bigint, now: bigint): bigint {
    const mdl = u32Arg('model', model)
    bigintArg('ppmPerLot', ppmPerLot)
    bigintArg('capPpm', capPpm)
    bigintArg('now', now)
    let fill: FillModel
    if (mdl === 0) {
      fill = { impact: false, ppmPerLot: 0n, capPpm: 0n }
    } else if (mdl === 1) {
      const k = i64Of(ppmPerLot, 'ppmPerLot')
      const cap = i64Of(capPpm, 'capPpm')
      if (k < 0n || !(cap >= 0n && cap < RATIO_SCALE)) {
        throw invalidArg(`impact needs ppmPerLot ≥ 0 and 0 ≤ capPpm < 1000000, got ${k} and ${cap}`)
      }
      fill = { impact: true, ppmPerLot: k, capPpm: cap }
    } else {
      throw invalidArg(`fill model must be 0 (mark) or 1 (impact), got ${mdl}`)
    }
    const t = u64Of(now, 'now')
    const from = this.wf.events.len
    const r = this.wf.runWaterfall(fill, t)
    this.pretrade.cancelLiquidated(this.wf, from)
    return r
  }

  planLiquidation(account: number, isolatedMarket: number): PlanColumns {
    const a = u32Arg('account', account)
    const im = u32Arg('isolatedMarket', isolatedMarket)
    const p = this.wf.planLiquidation(a, iso(im))
    return {
      takeover: p.takeover,
      market: Uint32Array.from(p.orders, (o) => o[0]),
      qty: BigInt64Array.from(p.orders, (o) => o[1]),
    }
  }

  settleLiquidationFill(
    account: number,
    isolatedMarket: number,
    market: number,
    qty: bigint,
    price: bigint,
  ): void {
    const a = u32Arg('account', account)
    const im = u32Arg('isolatedMarket', isolatedMarket)
    const m = u32Arg('market', market)
    const q = i64Of(bigintArg('qty', qty), 'qty')
    const p = i64Of(bigintArg('price', price), 'price')
    const from = this.wf.events.len
    this.wf.settleLiquidationFill(a, iso(im), m, q, p)
    this.pretrade.cancelLiquidated(this.wf, from)
  }

  takeOver(account: number, isolatedMarket: number): void {
    const a = u32Arg('account', account)
    const im = u32Arg('isolatedMarket', isolatedMarket)
    const from = this.wf.events.len
    this.wf.takeOver(a, iso(im))
    this.pretrade.cancelLiquidated(this.wf, from)
  }

  settleLiquidatorFill(market: number, qty: bigint, price: bigint): void {
    const m = u32Arg('market', market)
    const q = i64Of(bigintArg('qty', qty), 'qty')
    const p = i64Of(bigintArg('price', price), 'price')
    this.wf.settleLiquidatorFill(m, q, p)
  }

  /** @deprecated Renamed `settleLiquidatorFill`. */
  settleEngineFill(market: number, qty: bigint, price: bigint): void {
    this.settleLiquidatorFill(market, qty, price)
  }

  autoDeleverage(market: number): void {
    const m = u32Arg('market', market)
    this.wf.autoDeleverage(m)
  }

  settleAdlFill(account: number, market: number, qty: bigint, price: bigint): void {
    const a = u32Arg('account', account)
    const m = u32Arg('market', market)
    const q = i64Of(bigintArg('qty', qty), 'qty')
    const p = i64Of(bigintArg('price', price), 'price')
    settleAdlFill(this.wf, a, m, q, p)
  }

  socialiseLoss(market: number, amount: bigint, beneficiary: number): void {
    const m = u32Arg('market', market)
    const a = bigintArg('amount', amount)
    const b = u32Arg('beneficiary', beneficiary)
    const amt = i64Of(a, 'amount')
    this.wf.socialiseLoss(m, amt, b)
  }

  settleFunding(market: number, rate: bigint): void {
    const m = u32Arg('market', market)
    const r = i64Of(bigintArg('rate', rate), 'rate')
    this.wf.settleFunding(m, r)
  }

  /** Events with seq ≥ fromSeq. */
  events(fromSeq: bigint): EventColumns {
    const from = u64Of(bigintArg('fromSeq', fromSeq), 'fromSeq')
    const ev = this.wf.events
    const lo =
      from <= BigInt(ev.base) ? 0 : from < BigInt(ev.next) ? Number(from) - ev.base : ev.len
    const n = ev.len - lo
    const seq = new BigInt64Array(n)
    for (let i = 0; i < n; i++) seq[i] = BigInt(ev.base + lo + i)
    return {
      seq,
      kind: ev.kind.slice(lo, ev.len),
      account: ev.account.slice(lo, ev.len),
      market: ev.market.slice(lo, ev.len),
      counterparty: ev.counterparty.slice(lo, ev.len),
      qty: ev.qty.slice(lo, ev.len),
      price: ev.price.slice(lo, ev.len),
      amount: ev.amount.slice(lo, ev.len),
    }
  }

  ledger(): Ledger {
    const w = this.wf
    return {
      insuranceFund: w.fund,
      settlement: w.settlement,
      residue: w.residue,
      cashTotal: w.cashTotal(),
      adlMode: w.adlMode,
      nextSeq: BigInt(w.events.next),
    }
  }

  /** The sequence number the next event will get (O(1); `ledger()` also sums the cash). */
  nextSeq(): bigint {
    return BigInt(this.wf.events.next)
  }

  /** Drop the events with seq < beforeSeq; numbering goes on (SPEC §8.6). */
  trimEvents(beforeSeq: bigint): void {
    this.wf.events.trim(u64Of(bigintArg('beforeSeq', beforeSeq), 'beforeSeq'))
  }

  /** The liquidator's open position in a market: [qty, cost basis]. */
  liquidatorPosition(market: number): BigInt64Array {
    const m = u32Arg('market', market)
    this.market(m)
    const [q, c] = this.wf.liquidatorPosition(m)
    return BigInt64Array.of(q, c)
  }

  /** @deprecated Renamed `liquidatorPosition`. */
  enginePosition(market: number): BigInt64Array {
    return this.liquidatorPosition(market)
  }

  /** The ranked ADL queue of one side (1 long, -1 short) with indicator lights. */
  adlQueue(market: number, side: number, ranking: number): QueueColumns {
    const m = u32Arg('market', market)
    const sd = i32Arg('side', side)
    const rk = u32Arg('ranking', ranking)
    if (sd !== 1 && sd !== -1) throw invalidArg(`side must be 1 (long) or -1 (short), got ${sd}`)
    const r = rankingFromCode(rk)
    const q = adlQueue(this.store, m, sd, r)
    return {
      account: Uint32Array.from(q, (c) => c.account),
      qty: BigInt64Array.from(q, (c) => c.qty),
      lights: indicator(q, true),
      lightsByCount: indicator(q, false),
      scoreNum: q.map((c) => c.num),
      scoreDen: q.map((c) => c.den),
    }
  }

  /**
   * Smallest reductions reaching a target: kind 0 margin ratio, 1 leverage (ppm), 2 distance of
   * `market`'s liquidation price from mark (ppm).
   */
  planDeleveraging(
    account: number,
    kind: number,
    targetPpm: bigint,
    market: number,
    feeRate: bigint,
  ): DeleveragePlanColumns {
    const a = u32Arg('account', account)
    const k = u32Arg('kind', kind)
    bigintArg('targetPpm', targetPpm)
    const m = u32Arg('market', market)
    bigintArg('feeRate', feeRate)
    const ppm = i64Of(targetPpm, 'targetPpm')
    if (k > 2) {
      throw invalidArg(
        `target kind must be 0 (margin ratio), 1 (leverage) or 2 (liquidation distance), got ${k}`,
      )
    }
    const target: DeleverageTarget = { kind: k, ppm, market: m }
    const fee = i64Of(feeRate, 'feeRate')
    const p = planDeleveraging(this.store, a, target, fee)
    return {
      reached: p.reached,
      fees: p.fees,
      equity: p.equity,
      maintenanceMargin: p.maintenanceMargin,
      notional: p.notional,
      orderMarket: Uint32Array.from(p.orders, (o) => o[0]),
      orderQty: BigInt64Array.from(p.orders, (o) => o[1]),
      positionMarket: Uint32Array.from(p.positions, (o) => o[0]),
      positionQty: BigInt64Array.from(p.positions, (o) => o[1]),
      liquidationPrice: BigInt64Array.from(p.positions, (o) => o[2]?.conservative ?? 0n),
    }
  }

  // ---------------------------------------------------------------------------------------------
  // State hash, snapshot and restore (crates/core/src/snapshot.rs; SPEC §12): the same bytes as
  // the Rust core for the same state, so either engine restores the other's snapshots.

  /** Engine::state_bytes: the canonical encoding of the whole state. */
  stateBytes(): Uint8Array {
    return encodeState({
      quoteDecimals: this.quoteDecimals,
      markets: this.markets,
      accountsLen: this.accountsLen,
      ids: this.ids,
      alive: this.alive,
      balance: this.balance,
      positions: this.positions,
      wf: this.wf,
      reported: this.watch.reportedScopes(),
      pretrade: encodePretrade(this.pretrade),
    })
  }

  /** SHA-256 of the canonical state, 64 hex digits. */
  stateHash(): string {
    return stateHashOf(this.stateBytes())
  }

  /** A versioned, checksummed snapshot of the whole state. */
  snapshot(): Uint8Array {
    return sealSnapshot(this.stateBytes())
  }

  /** A new engine from a snapshot (decode_snapshot: validated like the API, SNAPSHOT_* errors). */
  static restore(bytes: Uint8Array): JsEngine {
    const st = decodeSnapshot(bytes)
    const e = new JsEngine(st.quoteDecimals)
    for (let m = 0; m < st.markets.length; m++) {
      const mk = st.markets[m] as Market
      e.markets.push(mk)
      e.marketBySymbol.set(mk.symbol, m)
      e.positions.push(new MarketPositions())
    }
    const na = st.ids.length
    let cap = 16
    while (cap < na) cap *= 2
    e.balance = new BigInt64Array(cap)
    e.balanceF = new Float64Array(cap)
    e.alive = new Uint8Array(cap)
    for (let a = 0; a < na; a++) {
      const id = st.ids[a] as string
      e.ids.push(id)
      e.refs.push(undefined)
      e.writeBalance(a, st.balances[a] as bigint)
      if (st.alive[a]) {
        e.alive[a] = 1
        e.accountById.set(id, a)
        e.liveCount++
      }
    }
    e.accountsLen = na
    // Markets ascending, so every account's (market, slot) pairs come out sorted by market.
    for (let m = 0; m < st.positions.length; m++) {
      const col = e.positions[m] as MarketPositions
      for (const p of st.positions[m] as (typeof st.positions)[number]) {
        const slot = col.push(p.account, p.qty, p.cost, p.isolatedMargin, p.isolated)
        const r = e.refs[p.account]
        if (r === undefined) e.refs[p.account] = [m, slot]
        else r.push(m, slot)
      }
    }
    const w = e.wf
    w.config = st.config
    w.fund = st.fund
    w.settlement = st.settlement
    w.residue = st.residue
    w.adlMode = st.adlMode
    w.now = st.now
    w.liqQ = st.liqQ
    w.liqC = st.liqC
    w.events.base = st.firstSeq
    w.histT = st.histT
    w.histF = st.histF
    w.histHead = 0
    for (const [k, a, m, c, q, p, amt] of st.events) w.events.push(k, a, m, c, q, p, amt)
    e.watch.restoreReport(st.reported)
    if (st.pretrade !== null) restorePretrade(e.pretrade, st.pretrade)
    return e
  }

  // Pre-trade risk (SPEC §17): the logic is in pretrade.ts.
  private preTradeHost() {
    return {
      market: (m: number) => this.market(m),
      markets: () => this.markets,
      account: (a: number) => this.account(a),
      accountIdOf: (a: number) => this.ids[a] as string,
      balanceOf: (a: number) => this.balance[a] as bigint,
      positionsOf: (a: number) => {
        const refs = this.refs[a] ?? []
        const out: Array<[number, Pos]> = []
        for (let i = 0; i < refs.length; i += 2) {
          const m = refs[i] as number
          const s = refs[i + 1] as number
          const c = this.positions[m] as MarketPositions
          const pos: Pos = [
            BigInt(c.qty[s] as number),
            c.cost[s] as bigint,
            c.isolated[s] === 1,
            c.isolatedMargin[s] as bigint,
          ]
          out.push([m, pos])
        }
        return out
      },
      sideLots: (m: number, buy: boolean) =>
        (this.positions[m] as MarketPositions).openInterest(buy),
      applyFills: (a: Uint32Array, m: Uint32Array, q: BigInt64Array, p: BigInt64Array) =>
        this.applyFills(a, m, q, p),
    }
  }

  configurePreTrade(market: number, config: PreTradeInit): void {
    // As crates/node/src/pretrade.rs converts them: every amount must fit i64.
    this.pretrade.configure(market, {
      defaultLeverage: BigInt(config.defaultLeverage),
      priceBandPpm: i64Of(config.priceBandPpm, 'priceBandPpm'),
      maxOpenInterest: i64Of(config.maxOpenInterest, 'maxOpenInterest'),
      maxAccountPosition: i64Of(config.maxAccountPosition, 'maxAccountPosition'),
      excludeProfit: config.excludeProfit,
      orderCostFeeRate: i64Of(config.orderCostFeeRate, 'orderCostFeeRate'),
    })
  }

  leverage(account: number, market: number): number {
    return Number(this.pretrade.getLeverage(account, market))
  }

  setLeverage(account: number, market: number, leverage: number): number {
    return this.pretrade.setLeverage(account, market, BigInt(leverage))
  }

  private orderRequests(
    a: Uint32Array,
    m: Uint32Array,
    q: BigInt64Array,
    p: BigInt64Array,
    ro: Uint8Array,
  ) {
    checkLengths('checkOrders', [a.length, m.length, q.length, p.length, ro.length])
    return Array.from(a, (account, i) => ({
      id: 0n,
      account,
      market: m[i] as number,
      qty: q[i] as bigint,
      price: p[i] as bigint,
      reduceOnly: ro[i] !== 0,
    }))
  }

  private static orderColumns(v: OrderVerdict[], ids: bigint[]): OrderCheckColumns {
    const col = (f: (x: OrderVerdict) => bigint) => BigInt64Array.from(v, f)
    return {
      verdict: Uint8Array.from(v, (x) => x.verdict),
      openQty: col((x) => x.openQty),
      initialMargin: col((x) => x.initialMargin),
      openLoss: col((x) => x.openLoss),
      fee: col((x) => x.fee),
      available: col((x) => x.available),
      id: BigInt64Array.from(ids),
    }
  }

  checkOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
    sequential: boolean,
  ): OrderCheckColumns {
    const o = this.orderRequests(account, market, qty, price, reduceOnly)
    return JsEngine.orderColumns(this.pretrade.check(o, sequential), [])
  }

  checkOrder(
    account: number,
    market: number,
    qty: bigint,
    price: bigint,
    reduceOnly: boolean,
  ): BigInt64Array {
    // Converted as the binding converts them (i64_of), so the same values are refused alike.
    const o = { id: 0n, account, market, reduceOnly }
    const order = { ...o, qty: i64Of(qty, 'qty'), price: i64Of(price, 'price') }
    const v = this.pretrade.check([order], false)[0] as OrderVerdict
    return BigInt64Array.of(
      BigInt(v.verdict),
      v.openQty,
      v.initialMargin,
      v.openLoss,
      v.fee,
      v.available,
    )
  }

  placeOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
  ): OrderCheckColumns {
    const o = this.orderRequests(account, market, qty, price, reduceOnly)
    const r = this.pretrade.place(o)
    return JsEngine.orderColumns(
      r.map((x) => x[0]),
      r.map((x) => x[1]),
    )
  }

  cancelOrders(ids: BigInt64Array): void {
    this.pretrade.cancel(Array.from(ids, (x) => BigInt.asUintN(64, x)))
  }

  fillOrders(ids: BigInt64Array, qty: BigInt64Array, price: BigInt64Array): void {
    checkLengths('fillOrders', [ids.length, qty.length, price.length])
    this.pretrade.fill(
      Array.from(ids, (x) => BigInt.asUintN(64, x)),
      qty,
      price,
    )
  }

  maxOrderQty(
    account: number,
    market: number,
    buy: boolean,
    price: bigint,
    reduceOnly: boolean,
  ): bigint {
    return this.pretrade.maxOrderQty(account, market, buy, price, reduceOnly)
  }

  accountMargin(account: number): BigInt64Array {
    return BigInt64Array.from(accountMarginRow(this.pretrade.accountMargin(account)))
  }

  openOrders(account: number): BigInt64Array {
    const v: bigint[] = []
    for (const o of this.pretrade.ordersOf(account)) {
      v.push(o.id, BigInt(o.market), o.qty, o.price, o.reduceOnly ? 1n : 0n)
    }
    return BigInt64Array.from(v)
  }

  whatIf(account: number, market: Uint32Array, qty: BigInt64Array, price: BigInt64Array) {
    checkLengths('whatIf', [market.length, qty.length, price.length])
    const o = Array.from(market, (m, i) => ({
      id: 0n,
      account,
      market: m,
      qty: qty[i] as bigint,
      price: price[i] as bigint,
      reduceOnly: false,
    }))
    const w = this.pretrade.whatIf(account, o)
    const v: bigint[] = [...accountMarginRow(w.before), ...accountMarginRow(w.after)]
    v.push(w.marginRatioPpm ?? -1n, BigInt(w.positions.length))
    for (const p of w.positions) {
      v.push(BigInt(p.market), p.qty, p.cost, p.isolated ? 1n : 0n)
      v.push(p.liquidation?.conservative ?? 0n, p.liquidation?.nearest ?? 0n)
      v.push(p.bankruptcy?.conservative ?? 0n, p.bankruptcy?.nearest ?? 0n)
      v.push(BigInt(p.liquidationReason))
    }
    return BigInt64Array.from(v)
  }
}
