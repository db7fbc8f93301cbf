// Mirror of crates/core/src/engine.rs: the position store (columnar per market) and the margin
// state read from it — account equity, maintenance margin, the full sweep and per-position risk.
// Mutations validate every row first and only then commit, so a rejected batch leaves the engine
// untouched. JsEngine also performs the argument conversions the napi binding does before it
// calls Rust (typed-array kinds, u32 numbers, i64/i128 ranges), with the same error codes.
// The waterfall (waterfall.ts, adl.ts, planner.ts) reaches the store through `book`; writes it
// makes inside a transaction are recorded in `undo` and reverted if the transaction fails.

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
import { adlQueue, cmpBytes, indicator, rankingFromCode } from './adl.js'
import { settleAdlFill } from './waterfall/adl-fill.js'
import { planDeleveraging, type DeleverageTarget } from './planner.js'
import { Watch, type WatchStore } from './watch.js'
import {
  Drawdown,
  Exhausted,
  Socialise,
  Waterfall,
  type PositionStore,
  type Columns,
  type FillModel,
  type WaterfallConfig,
} from './waterfall/index.js'
import { DeleverageError, ErrorCode, overflow, rustDebugCut, withContext } from './errors.js'
import { PreTrade, type AccountMargin, type OrderVerdict, type Pos } from './pretrade.js'
import { encodePretrade, restorePretrade } from './pretrade-snapshot.js'
import { decodeSnapshot, encodeState, sealSnapshot, stateHashOf } from './snapshot.js'
import { PairSet, ceilDivF, entryInDomainF, fastPathsEnabled, mmF, upnlF } from './fast.js'
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
import { foldTakerFee } from './taker-fee.js'
import { Linear, Market, SAFE, checkPrice, checkQty, isValidId, type MarketSpec } from './market.js'
import { checkPositionRows, firstOther, mismatch, oneAsset } from './settlement.js'
import {
  Floor,
  I128_MAX,
  I128_MIN,
  I64_MAX,
  I64_MIN,
  MAX_QUOTE_DECIMALS,
  RATIO_SCALE,
  PRICE_MAX_TICKS,
  U32_MAX,
  add,
  cmpBig,
  divCeil,
  scale,
  sub,
  toI64,
} from './num.js'

/** 2^63: |x| below it fits i64. */
const I64_BOUND_F = 2 ** 63
/** RATIO_SCALE as a double, for the ratios of the float fast paths. */
const RATIO_SCALE_F = Number(RATIO_SCALE)

// ---------------------------------------------------------------------------------------------
// napi-layer argument conversions (done in crates/node before the core is called).

function invalidArg(message: string): DeleverageError {
  return new DeleverageError(ErrorCode.InvalidArgument, message)
}

/** A value as an error message shows it: strings quoted and cut (rustDebugCut), others by kind. */
export function shown(v: unknown): string {
  if (typeof v === 'string') return rustDebugCut(v)
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'number' || typeof v === 'boolean' || v === undefined || v === null)
    return String(v)
  if (typeof v === 'symbol') return 'a symbol'
  if (typeof v === 'function') return 'a function'
  if (Array.isArray(v)) return 'an array'
  return typedArrayKind(v) ?? 'an object'
}

export function u32Arg(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > U32_MAX) {
    throw invalidArg(`${name} must be a non-negative integer (u32), got ${shown(v)}`)
  }
  return v
}

function bigintArg(name: string, v: unknown): bigint {
  if (typeof v !== 'bigint') throw invalidArg(`${name} must be a bigint, got ${shown(v)}`)
  return v
}

/** crates/node i64_of: a BigInt that must fit i64. */
function i64Of(v: bigint, what: string): bigint {
  if (v > I64_MAX || v < I64_MIN) throw invalidArg(`${what} does not fit a 64-bit integer`)
  return v
}

const U64_MAX = (1n << 64n) - 1n

/** crates/node u64_of: a BigInt that must be a non-negative 64-bit integer. */
function u64Of(v: bigint, what: string): bigint {
  if (v < 0n || v > U64_MAX) throw invalidArg(`${what} must be a non-negative 64-bit integer`)
  return v
}

export function i32Arg(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw invalidArg(`${name} must be an integer (i32), got ${shown(v)}`)
  }
  return v
}

function boolArg(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidArg(`${name} must be a boolean, got ${shown(v)}`)
  return v
}

/** crates/node iso(): CROSS means the cross account, anything else an isolated market. */
function iso(market: number): number | null {
  return market === CROSS ? null : market
}

// Brand checks through the intrinsic getters: a Proxy or an object faking Symbol.toStringTag or
// `buffer` is not a typed array, and a typed array from another realm still is one.
const TYPED_ARRAY_PROTO = Object.getPrototypeOf(Uint8Array.prototype) as object
const TAG_OF = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, Symbol.toStringTag)!.get! as (
  this: unknown,
) => string | undefined
const BUFFER_OF = Object.getOwnPropertyDescriptor(TYPED_ARRAY_PROTO, 'buffer')!.get! as (
  this: unknown,
) => ArrayBufferLike
const AB_LENGTH = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, 'byteLength')!.get! as (
  this: unknown,
) => number
const SAB_LENGTH =
  typeof SharedArrayBuffer === 'undefined'
    ? null
    : (Object.getOwnPropertyDescriptor(SharedArrayBuffer.prototype, 'byteLength')!.get! as (
        this: unknown,
      ) => number)

function typedArrayKind(v: unknown): string | undefined {
  return TAG_OF.call(v)
}

/** ArrayBuffer's own byteLength getter throws for anything else (a SharedArrayBuffer among them):
 * the common case, a plain buffer, returns without an exception (a throw per argument cost ≈ 10 µs
 * of stack capture per call). */
function isShared(buffer: ArrayBufferLike): boolean {
  if (SAB_LENGTH === null) return false
  try {
    AB_LENGTH.call(buffer)
    return false
  } catch {
    return true
  }
}

/**
 * A typed-array argument of one kind. One on a SharedArrayBuffer is copied first: another thread
 * may write it while the call runs, and what was validated must be what is used (the binding
 * copies every column for the same reason, crates/node/src/col.rs).
 */
function typedArg<T extends Uint32Array | BigInt64Array | Uint8Array>(
  name: string,
  v: unknown,
  kind: string,
  make: (src: T) => T,
): T {
  if (typedArrayKind(v) !== kind) throw invalidArg(`${name} must be a ${kind}, got ${shown(v)}`)
  return isShared(BUFFER_OF.call(v)) ? make(v as T) : (v as T)
}

export function bigintsArg(name: string, v: unknown): BigInt64Array {
  return typedArg<BigInt64Array>(name, v, 'BigInt64Array', (a) => new BigInt64Array(a))
}

export function u32sArg(name: string, v: unknown): Uint32Array {
  return typedArg<Uint32Array>(name, v, 'Uint32Array', (a) => new Uint32Array(a))
}

export function u8sArg(name: string, v: unknown): Uint8Array {
  return typedArg<Uint8Array>(name, v, 'Uint8Array', (a) => new Uint8Array(a))
}

function stringArg(name: string, v: unknown): string {
  if (typeof v !== 'string') throw invalidArg(`${name} must be a string, got ${shown(v)}`)
  return v
}

/** An array of strings, read once into a fresh array (a Proxy or getter cannot change it later). */
function stringsArg(name: string, v: unknown): string[] {
  if (!Array.isArray(v)) throw invalidArg(`${name} must be an array of strings, got ${shown(v)}`)
  const n = v.length
  const out = new Array<string>(n)
  for (let i = 0; i < n; i++) {
    const x: unknown = v[i]
    if (typeof x !== 'string') throw invalidArg(`${name}[${i}] must be a string, got ${shown(x)}`)
    out[i] = x
  }
  return out
}

function maintArg(v: unknown): bigint[] | null {
  if (v === null || v === undefined) return null
  if (!Array.isArray(v))
    throw invalidArg(`maintAmount must be an array of bigint or null, got ${shown(v)}`)
  const n = v.length
  const out = new Array<bigint>(n)
  for (let i = 0; i < n; i++) {
    const x: unknown = v[i]
    if (typeof x !== 'bigint')
      throw invalidArg(`maintAmount[${i}] must be a bigint, got ${shown(x)}`)
    out[i] = x
  }
  return out
}

function objectArg(name: string, v: unknown): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalidArg(`${name} must be an object, got ${shown(v)}`)
  return v as Record<string, unknown>
}

/** MarketInit read once, field by field in the binding's order, into a fresh object. */
function marketInitArg(v: unknown): MarketInit {
  const o = objectArg('spec', v)
  const out: MarketInit = {
    symbol: stringArg('symbol', o.symbol),
    kind: u32Arg('kind', o.kind),
    priceDecimals: u32Arg('priceDecimals', o.priceDecimals),
    qtyDecimals: u32Arg('qtyDecimals', o.qtyDecimals),
    contractSize: bigintArg('contractSize', o.contractSize),
    basis: u32Arg('basis', o.basis),
    form: u32Arg('form', o.form),
    floors: new BigInt64Array(bigintsArg('floors', o.floors)),
    mmr: new BigInt64Array(bigintsArg('mmr', o.mmr)),
    imr: new BigInt64Array(bigintsArg('imr', o.imr)),
    mark: 0n,
  }
  const maint = maintArg(o.maintAmount)
  out.mark = bigintArg('mark', o.mark)
  if (maint !== null) out.maintAmount = maint
  // Optional market terms (SPEC §2.5, §5.4): absent or null means the default, as in the binding.
  if (o.tickSize !== undefined && o.tickSize !== null)
    out.tickSize = bigintArg('tickSize', o.tickSize)
  if (o.settleAsset !== undefined && o.settleAsset !== null)
    out.settleAsset = stringArg('settleAsset', o.settleAsset)
  if (o.takerFee !== undefined && o.takerFee !== null)
    out.takerFee = bigintArg('takerFee', o.takerFee)
  return out
}

/** PreTradeInit read once, in the binding's field order, into a fresh object. */
function preTradeInitArg(v: unknown): PreTradeInit {
  const o = objectArg('config', v)
  return {
    defaultLeverage: u32Arg('defaultLeverage', o.defaultLeverage),
    priceBandPpm: bigintArg('priceBandPpm', o.priceBandPpm),
    maxOpenInterest: bigintArg('maxOpenInterest', o.maxOpenInterest),
    maxAccountPosition: bigintArg('maxAccountPosition', o.maxAccountPosition),
    excludeProfit: boolArg('excludeProfit', o.excludeProfit),
    // takerFeeRate: the deprecated name (journals written before the rename replay).
    orderCostFeeRate: bigintArg(
      'orderCostFeeRate',
      deprecatedAlias(o, 'orderCostFeeRate', 'takerFeeRate', 'config'),
    ),
  }
}

/** `o[name]`, or the value under its deprecated `alias` when only that is given (both: refused). */
export function deprecatedAlias(
  o: Record<string, unknown>,
  name: string,
  alias: string,
  where: string,
): unknown {
  if (o[alias] === undefined) return o[name]
  if (o[name] !== undefined)
    throw invalidArg(`${where}: give ${name} or its deprecated alias ${alias}, not both`)
  return o[alias]
}

/** WaterfallInit read once, in the binding's field order, into a fresh object. */
function waterfallInitArg(v: unknown): WaterfallInit {
  const o = objectArg('config', v)
  return {
    feeRate: bigintArg('feeRate', o.feeRate),
    bufferRate: bigintArg('bufferRate', o.bufferRate),
    ranking: u32Arg('ranking', o.ranking),
    adlAtMark: boolArg('adlAtMark', o.adlAtMark),
    policy: u32Arg('policy', o.policy),
    triggerPpm: bigintArg('triggerPpm', o.triggerPpm),
    stopPpm: bigintArg('stopPpm', o.stopPpm),
    window: bigintArg('window', o.window),
  }
}

type ArgCheck = (name: string, v: unknown) => unknown
const optBig: ArgCheck = (n, v) => (v === null || v === undefined ? null : bigintArg(n, v))
const optU32s: ArgCheck = (n, v) => (v === null || v === undefined ? null : u32sArg(n, v))
const U32 = u32Arg as ArgCheck
const BIG = bigintArg as ArgCheck
const U32S = u32sArg as ArgCheck
const I64S = bigintsArg as ArgCheck
const U8S = u8sArg as ArgCheck
const STR = stringArg as ArgCheck
const STRS = stringsArg as ArgCheck
const BOOL = boolArg as ArgCheck
const POSITION_COLUMNS: Array<[string, ArgCheck]> = [
  ['account', U32S],
  ['market', U32S],
  ['qty', I64S],
  ['price', I64S],
  ['isolatedMargin', I64S],
  ['flags', U8S],
]

const ORDER_COLUMNS: Array<[string, ArgCheck]> = [
  ['account', U32S],
  ['market', U32S],
  ['qty', I64S],
  ['price', I64S],
  ['reduceOnly', U8S],
]

/**
 * The argument conversions of every CoreEngine method, in parameter order: one table, one
 * message per bad argument, for both engines. `checkCoreArgs` runs it before either engine is
 * called (src/engine.ts), so a call the conversions refuse is refused alike by both — and a
 * journal holding it replays on either (SPEC §13).
 */
export const CORE_ARGS: Partial<Record<keyof CoreEngine, Array<[string, ArgCheck]>>> = {
  addMarket: [['spec', (_n, v) => marketInitArg(v)]],
  setMarks: [
    ['markets', U32S],
    ['marks', I64S],
  ],
  addAccounts: [
    ['ids', STRS],
    ['balances', I64S],
  ],
  addAccountsWithPositions: [['ids', STRS], ['balances', I64S], ...POSITION_COLUMNS],
  setBalances: [
    ['accounts', U32S],
    ['balances', I64S],
  ],
  removeAccounts: [['accounts', U32S]],
  setPositions: POSITION_COLUMNS,
  sweep: [['warningPpm', optBig]],
  sweepParallel: [
    ['warningPpm', optBig],
    ['threads', U32],
  ],
  sweepAsync: [
    ['warningPpm', optBig],
    ['threads', U32],
  ],
  accountRows: [['accounts', optU32s]],
  balances: [['accounts', U32S]],
  positionRisks: [['accounts', optU32s]],
  liquidationMap: [
    ['market', U32],
    ['from', BIG],
    ['to', BIG],
    ['buckets', U32],
  ],
  accountIndex: [['id', STR]],
  accountId: [['index', U32]],
  marketIndex: [['symbol', STR]],
  configureWaterfall: [['config', (_n, v) => waterfallInitArg(v)]],
  depositFund: [
    ['amount', BIG],
    ['now', BIG],
  ],
  runWaterfall: [
    ['model', U32],
    ['ppmPerLot', BIG],
    ['capPpm', BIG],
    ['now', BIG],
  ],
  planLiquidation: [
    ['account', U32],
    ['isolatedMarket', U32],
  ],
  settleLiquidationFill: [
    ['account', U32],
    ['isolatedMarket', U32],
    ['market', U32],
    ['qty', BIG],
    ['price', BIG],
  ],
  takeOver: [
    ['account', U32],
    ['isolatedMarket', U32],
  ],
  settleLiquidatorFill: [
    ['market', U32],
    ['qty', BIG],
    ['price', BIG],
  ],
  autoDeleverage: [['market', U32]],
  settleAdlFill: [
    ['account', U32],
    ['market', U32],
    ['qty', BIG],
    ['price', BIG],
  ],
  socialiseLoss: [
    ['market', U32],
    ['amount', BIG],
    ['beneficiary', U32],
  ],
  settleFunding: [
    ['market', U32],
    ['rate', BIG],
  ],
  events: [['fromSeq', BIG]],
  trimEvents: [['beforeSeq', BIG]],
  liquidatorPosition: [['market', U32]],
  adlQueue: [
    ['market', U32],
    ['side', i32Arg as ArgCheck],
    ['ranking', U32],
  ],
  planDeleveraging: [
    ['account', U32],
    ['kind', U32],
    ['targetPpm', BIG],
    ['market', U32],
    ['feeRate', BIG],
  ],
  updateMarks: [
    ['markets', U32S],
    ['marks', I64S],
  ],
  configurePreTrade: [
    ['market', U32],
    ['config', (_n, v) => preTradeInitArg(v)],
  ],
  leverage: [
    ['account', U32],
    ['market', U32],
  ],
  setLeverage: [
    ['account', U32],
    ['market', U32],
    ['leverage', U32],
  ],
  checkOrders: [...ORDER_COLUMNS, ['sequential', BOOL]],
  checkOrder: [
    ['account', U32],
    ['market', U32],
    ['qty', BIG],
    ['price', BIG],
    ['reduceOnly', BOOL],
  ],
  placeOrders: ORDER_COLUMNS,
  cancelOrders: [['ids', I64S]],
  fillOrders: [
    ['ids', I64S],
    ['qty', I64S],
    ['price', I64S],
  ],
  maxOrderQty: [
    ['account', U32],
    ['market', U32],
    ['buy', BOOL],
    ['price', BIG],
    ['reduceOnly', BOOL],
  ],
  accountMargin: [['account', U32]],
  openOrders: [['account', U32]],
  whatIf: [
    ['account', U32],
    ['market', U32S],
    ['qty', I64S],
    ['price', I64S],
  ],
  applyFills: [
    ['account', U32S],
    ['market', U32S],
    ['qty', I64S],
    ['price', I64S],
  ],
}

// The deprecated names convert their arguments as the new ones do.
CORE_ARGS.settleEngineFill = CORE_ARGS.settleLiquidatorFill
CORE_ARGS.enginePosition = CORE_ARGS.liquidatorPosition

/** The converted arguments of a CoreEngine call (copies where the input could change under it). */
export function checkCoreArgs(method: PropertyKey, args: unknown[]): unknown[] {
  const spec = CORE_ARGS[method as keyof CoreEngine]
  if (spec === undefined) return args
  const out = args.slice(0, Math.max(args.length, spec.length))
  spec.forEach(([name, check], i) => {
    out[i] = check(name, args[i])
  })
  return out
}

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
class MarketPositions implements Columns {
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

/** Margin state of an account's cross positions (or of one isolated position). */
interface MarginRow {
  account: number
  /** CROSS for a cross account; the market of an isolated position. */
  market: number
  equity: bigint
  maintenanceMargin: bigint
  /** MM / equity in ppm rounded up; -1n when equity ≤ 0 (unbounded). */
  marginRatioPpm: bigint
  liquidatable: boolean
  /** equity and MM as exact doubles, or NaN when beyond 2^53 (for the sort comparator). */
  equityF: number
  maintenanceMarginF: number
  /** Equity or MM leaves i64: status OVERFLOW (SPEC §5.5), equity and MM 0, ratio -1. */
  overflow: boolean
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

/** Receives each isolated row: exact `r`, or null with exact number equity/MM known not to fail. */
type IsolatedSink = (
  account: number,
  market: number,
  r: MarginRow | null,
  eq: number,
  mm: number,
) => void

/** Cross totals of every account (Σ uPnL, Σ MM over cross positions). */
interface Totals {
  /** Exact sums while `big[a]` is 0 (|sum| < 2^53). */
  upnl: Float64Array
  mm: Float64Array
  /** 1: the account's sums live in bigUpnl / bigMm instead. */
  big: Uint8Array
  bigUpnl: Map<number, bigint>
  bigMm: Map<number, bigint>
}

export function checkId(id: string): void {
  if (!isValidId(id)) {
    throw new DeleverageError(
      ErrorCode.InvalidId,
      `account id must be 1–64 bytes of UTF-8 without spaces or control characters, got ${rustDebugCut(id)}`,
    )
  }
}

function checkLengths(what: string, lens: number[]): void {
  if (lens.some((l) => l !== lens[0])) {
    throw new DeleverageError(
      ErrorCode.LengthMismatch,
      `${what}: columns differ in length [${lens.join(', ')}]`,
    )
  }
}

const SAFE_BIG = BigInt(SAFE)

function exactF(x: bigint): number {
  return x < SAFE_BIG && x > -SAFE_BIG ? Number(x) : NaN
}

function marginRow(
  account: number,
  market: number,
  equity: bigint,
  mm: bigint,
  hasPositions: boolean,
): MarginRow {
  const eq = toI64(equity, 'equity (does not fit i64)')
  const maintenanceMargin = toI64(mm, 'maintenance margin (does not fit i64)')
  // Saturates at i64::MAX ppm, as the core does.
  const ratio = eq > 0n ? divCeil(mm * RATIO_SCALE, eq) : -1n
  const marginRatioPpm = ratio > I64_MAX ? I64_MAX : ratio
  return {
    account,
    market,
    equity: eq,
    maintenanceMargin,
    marginRatioPpm,
    liquidatable: hasPositions && eq <= maintenanceMargin,
    equityF: exactF(eq),
    maintenanceMarginF: exactF(maintenanceMargin),
    overflow: false,
  }
}

/** MarginRow::overflowed: the row of a scope whose equity or MM leaves i64. */
function overflowRow(account: number, market: number): MarginRow {
  return {
    account,
    market,
    equity: 0n,
    maintenanceMargin: 0n,
    marginRatioPpm: -1n,
    liquidatable: false,
    equityF: 0,
    maintenanceMarginF: 0,
    overflow: true,
  }
}

const fitsI64 = (x: bigint): boolean => x <= I64_MAX && x >= -I64_MAX - 1n

/** margin_row_or_overflow: one scope's numbers never stop the others' rows (SPEC §5.5). */
function marginRowOrOverflow(
  account: number,
  market: number,
  equity: bigint,
  mm: bigint,
  hasPositions: boolean,
): MarginRow {
  return fitsI64(equity) && fitsI64(mm)
    ? marginRow(account, market, equity, mm, hasPositions)
    : overflowRow(account, market)
}

/** marginRow for exact number equity and MM that passed rowSafeF (so it cannot fail). */
function marginRowF(
  account: number,
  market: number,
  eq: number,
  mm: number,
  hasPositions: boolean,
): MarginRow {
  let ratio = -1n
  if (eq > 0) {
    const p = mm * RATIO_SCALE_F
    ratio =
      Math.abs(p) < SAFE ? BigInt(ceilDivF(p, eq)) : divCeil(BigInt(mm) * RATIO_SCALE, BigInt(eq))
  }
  return {
    account,
    market,
    equity: BigInt(eq),
    maintenanceMargin: BigInt(mm),
    marginRatioPpm: ratio,
    liquidatable: hasPositions && eq <= mm,
    equityF: eq,
    maintenanceMarginF: mm,
    overflow: false,
  }
}

/**
 * Fast check of a margin row with exact number equity and MM: true when margin_row cannot fail
 * (|MM·10^6| < 2^63 bounds the ratio when equity ≥ 1; both values are far inside i64).
 */
function rowSafeF(eq: number, mm: number): boolean {
  return Math.abs(eq) < SAFE && (eq <= 0 || Math.abs(mm * RATIO_SCALE_F) < I64_BOUND_F)
}

function marginColumns(rows: MarginRow[]): MarginColumns {
  const n = rows.length
  const out: MarginColumns = {
    account: new Uint32Array(n),
    market: new Uint32Array(n),
    equity: new BigInt64Array(n),
    maintenanceMargin: new BigInt64Array(n),
    marginRatioPpm: new BigInt64Array(n),
    liquidatable: new Uint8Array(n),
    status: new Uint8Array(n),
  }
  for (let i = 0; i < n; i++) {
    const r = rows[i] as MarginRow
    out.status[i] = r.overflow ? 1 : 0
    out.account[i] = r.account
    out.market[i] = r.market
    out.equity[i] = r.equity
    out.maintenanceMargin[i] = r.maintenanceMargin
    out.marginRatioPpm[i] = r.marginRatioPpm
    out.liquidatable[i] = r.liquidatable ? 1 : 0
  }
  return out
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
  /** Inverse writes of the running waterfall transaction (null outside one). */
  private undo: Array<() => void> | null = null
  /** The store as the waterfall sees it (waterfall.ts). */
  private readonly store: PositionStore = this.makeStore()
  /** Waterfall state and algorithms (crates/core/src/waterfall.rs). */
  private readonly wf = new Waterfall(this.store)
  /** The liquidation watch (watch.ts), built on first use. */
  private readonly watch = new Watch(this.watchStore())
  /** Events before the running waterfall transaction (its accounts are re-checked on commit). */
  private txnFirstEvent = 0
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
    const saved = this.undo === null ? null : col.row(slot)
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
    if (this.undo !== null) {
      // Undone in reverse order, so every index here is valid again when this runs.
      const last = col.len
      this.undo.push(() => {
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
      let mk: Market
      try {
        this.account(a)
        mk = this.market(m)
        if ((f & ~(FLAG_ISOLATED | FLAG_COST_BASIS)) !== 0) {
          throw invalidArg(`unknown flag bits 0x${f.toString(16)}`)
        }
        if (!seen.add(a, m)) {
          throw new DeleverageError(
            ErrorCode.DuplicatePosition,
            `account ${this.ids[a]} has two rows for market ${mk.symbol}`,
          )
        }
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      const q = qty[i] as bigint
      try {
        checkQty(q, 'qty')
        if (q === 0n) {
          staged[i] = 0n
          continue
        }
        const p = price[i] as bigint
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
          checkPrice(p, 'entry')
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
        const im = isolatedMargin[i] as bigint
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
        staged[i] = cost
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

  /**
   * uPnL and MM of slot s of market mi at the current mark, exact. `fu`/`fm` are the fast-path
   * results (NaN when not exact); the reference computes the rest, uPnL first as in Rust.
   */
  private exactUpnlMm(
    mi: number,
    s: number,
    fu: number,
    fm: number,
    ctx: (e: unknown) => unknown,
  ): [bigint, bigint] {
    const mk = this.markets[mi] as Market
    const col = this.positions[mi] as MarketPositions
    const q = BigInt(col.qty[s] as number)
    const c = col.cost[s] as bigint
    try {
      const u = fu === fu ? BigInt(fu) : mk.upnl(q, c)
      const m = fm === fm ? BigInt(fm) : mk.maintenanceMargin(q, c)
      return [u, m]
    } catch (e) {
      throw ctx(e)
    }
  }

  /**
   * Cross totals of every account at the current marks: (Σ uPnL, Σ MM) over cross positions,
   * plus the isolated rows (checked like Rust even when `onIsolated` is null). One pass over the
   * columns, market by market, slot by slot.
   */
  private crossTotals(onIsolated: IsolatedSink | null): Totals {
    const n = this.accountsLen
    const tot: Totals = {
      upnl: new Float64Array(n),
      mm: new Float64Array(n),
      big: new Uint8Array(n),
      bigUpnl: new Map(),
      bigMm: new Map(),
    }
    const { upnl, mm, big, bigUpnl, bigMm } = tot
    const fast = fastPathsEnabled()
    for (let mi = 0; mi < this.markets.length; mi++) {
      const mk = this.markets[mi] as Market
      const col = this.positions[mi] as MarketPositions
      const x = mk.markF
      const accs = col.account
      const qty = col.qty
      const costF = col.costF
      const isolated = col.isolated
      const len = col.len
      for (let s = 0; s < len; s++) {
        const a = accs[s] as number
        let fu = NaN
        let fm = NaN
        if (fast) {
          fu = upnlF(mk, qty[s] as number, costF[s] as number, x)
          fm = mmF(mk, qty[s] as number, costF[s] as number, x)
        }
        const exact = fu === fu && fm === fm
        if (isolated[s] === 1) {
          if (exact) {
            const imF = col.isolatedMarginF[s] as number
            const eq = imF + fu
            if (Math.abs(imF) < SAFE && rowSafeF(eq, fm)) {
              // No error possible: the row is only needed when it is reported.
              if (onIsolated !== null) onIsolated(a, mi, null, eq, fm)
              continue
            }
          }
          const ctx = (e: unknown): unknown =>
            withContext(e, `account ${this.ids[a]}, market ${mk.symbol}`)
          const [u, m] = this.exactUpnlMm(mi, s, fu, fm, ctx)
          let row: MarginRow
          try {
            const eq = add(col.isolatedMargin[s] as bigint, u, 'isolated equity')
            row = marginRowOrOverflow(a, mi, eq, m, true)
          } catch (e) {
            throw ctx(e)
          }
          if (onIsolated !== null) onIsolated(a, mi, row, NaN, NaN)
          continue
        }
        let u: bigint
        let m: bigint
        if (exact) {
          if (big[a] === 0) {
            const nu = (upnl[a] as number) + fu
            const nmm = (mm[a] as number) + fm
            if (Math.abs(nu) < SAFE && Math.abs(nmm) < SAFE) {
              upnl[a] = nu
              mm[a] = nmm
              continue
            }
          }
          u = BigInt(fu)
          m = BigInt(fm)
        } else {
          const ctx = (e: unknown): unknown =>
            withContext(e, `account ${this.ids[a]}, market ${mk.symbol}`)
          ;[u, m] = this.exactUpnlMm(mi, s, fu, fm, ctx)
        }
        if (big[a] === 0) {
          big[a] = 1
          bigUpnl.set(a, BigInt(upnl[a] as number))
          bigMm.set(a, BigInt(mm[a] as number))
        }
        try {
          bigUpnl.set(a, add(bigUpnl.get(a) as bigint, u, 'account uPnL'))
          bigMm.set(a, add(bigMm.get(a) as bigint, m, 'account maintenance margin'))
        } catch (e) {
          throw withContext(e, `account ${this.ids[a]}, market ${mk.symbol}`)
        }
      }
    }
    return tot
  }

  /** The cross row of account a from the totals, exactly as Rust builds it (with its errors). */
  private crossRowExact(tot: Totals, a: number, hasPositions: boolean): MarginRow {
    const u = tot.big[a] === 1 ? (tot.bigUpnl.get(a) as bigint) : BigInt(tot.upnl[a] as number)
    const m = tot.big[a] === 1 ? (tot.bigMm.get(a) as bigint) : BigInt(tot.mm[a] as number)
    try {
      const eq = add(this.balance[a] as bigint, u, 'equity')
      return marginRowOrOverflow(a, CROSS, eq, m, hasPositions)
    } catch (e) {
      throw withContext(e, `account ${this.ids[a]}`)
    }
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
    const out: MarginColumns = {
      account: new Uint32Array(n),
      market: new Uint32Array(n),
      equity: new BigInt64Array(n),
      maintenanceMargin: new BigInt64Array(n),
      marginRatioPpm: new BigInt64Array(n),
      liquidatable: new Uint8Array(n),
      status: new Uint8Array(n),
    }
    out.market.fill(CROSS)
    const fast = fastPathsEnabled()
    for (let j = 0; j < n; j++) {
      const a = list[j] as number
      out.account[j] = a
      this.writeCrossRow(a, out, j, fast, true)
    }
    return out
  }

  /**
   * Row j of `out` (equity, MM, ratio, liquidatable, status): account_rows for account a, with its
   * errors; equity or MM outside i64 is an OVERFLOW row when `orOverflow`, else cross_row's error.
   */
  private writeCrossRow(
    a: number,
    out: MarginColumns,
    j: number,
    fast: boolean,
    orOverflow: boolean,
  ): void {
    out.status[j] = 0
    const refs = this.refs[a]
    const np = refs === undefined ? 0 : refs.length >> 1
    let hasCross = false
    // Exact number sums while `exact`; BigInt sums (with Rust's checks) from the first value
    // that is not exact or would leave the 2^53 range.
    let exact = true
    let fu = 0
    let fm = 0
    let bu = 0n
    let bm = 0n
    for (let i = 0; i < np; i++) {
      const m = (refs as number[])[2 * i] as number
      const s = (refs as number[])[2 * i + 1] as number
      const col = this.positions[m] as MarketPositions
      if (col.isolated[s] === 1) continue
      hasCross = true
      const mk = this.markets[m] as Market
      const q = col.qty[s] as number
      const c = col.costF[s] as number
      const pu = fast ? upnlF(mk, q, c, mk.markF) : NaN
      const pm = fast ? mmF(mk, q, c, mk.markF) : NaN
      if (exact && pu === pu && pm === pm) {
        const nu = fu + pu
        const nm = fm + pm
        if (Math.abs(nu) < SAFE && Math.abs(nm) < SAFE) {
          fu = nu
          fm = nm
          continue
        }
      }
      if (exact) {
        exact = false
        bu = BigInt(fu)
        bm = BigInt(fm)
      }
      try {
        // Rust order: uPnL, its sum, MM, its sum.
        bu = add(
          bu,
          pu === pu ? BigInt(pu) : mk.upnl(BigInt(q), col.cost[s] as bigint),
          'account uPnL',
        )
        bm = add(
          bm,
          pm === pm ? BigInt(pm) : mk.maintenanceMargin(BigInt(q), col.cost[s] as bigint),
          'account maintenance margin',
        )
      } catch (e) {
        throw withContext(e, `account ${this.ids[a]}`)
      }
    }
    if (exact) {
      const bal = this.balanceF[a] as number
      const eq = bal + fu
      const p = fm * RATIO_SCALE_F
      if (Math.abs(bal) < SAFE && Math.abs(eq) < SAFE && Math.abs(p) < SAFE) {
        out.equity[j] = BigInt(eq)
        out.maintenanceMargin[j] = BigInt(fm)
        out.marginRatioPpm[j] = eq > 0 ? BigInt(ceilDivF(p, eq)) : -1n
        out.liquidatable[j] = hasCross && eq <= fm ? 1 : 0
        return
      }
      bu = BigInt(fu)
      bm = BigInt(fm)
    }
    let r: MarginRow
    try {
      const eq = add(this.balance[a] as bigint, bu, 'equity')
      r = orOverflow
        ? marginRowOrOverflow(a, CROSS, eq, bm, hasCross)
        : marginRow(a, CROSS, eq, bm, hasCross)
    } catch (e) {
      throw withContext(e, `account ${this.ids[a]}`)
    }
    out.status[j] = r.overflow ? 1 : 0
    out.equity[j] = r.equity
    out.maintenanceMargin[j] = r.maintenanceMargin
    out.marginRatioPpm[j] = r.marginRatioPpm
    out.liquidatable[j] = r.liquidatable ? 1 : 0
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
    const wF = w === null ? NaN : Number(w)
    const wExact = w !== null && wF < SAFE
    const liquidatable: MarginRow[] = []
    const warnings: MarginRow[] = []
    const overflow: MarginRow[] = []
    // ratio ≥ w ⇔ MM·10^6 ≥ w·equity (cross-multiplied); equity ≤ 0 is unbounded.
    const warn = (r: MarginRow): boolean =>
      w !== null &&
      !r.liquidatable &&
      r.maintenanceMargin > 0n &&
      (r.equity <= 0n || r.maintenanceMargin * RATIO_SCALE >= w * r.equity)
    /** The same test on exact numbers of a row known not to fail (see rowSafeF). */
    const warnF = (eq: number, mm: number): boolean => {
      if (w === null || eq <= mm || mm <= 0) return false
      if (eq <= 0) return true
      const l = mm * RATIO_SCALE_F
      const r = wF * eq
      if (wExact && l < SAFE && r < SAFE) return l >= r
      return BigInt(mm) * RATIO_SCALE >= w * BigInt(eq)
    }
    const place = (r: MarginRow): void => {
      if (r.overflow) overflow.push(r)
      else if (r.liquidatable) liquidatable.push(r)
      else if (warn(r)) warnings.push(r)
    }
    // Isolated rows as the pass meets them (Rust collects them all first; placing cannot fail,
    // so the order of placement is immaterial — both lists are sorted by a total order).
    const tot = this.crossTotals((a, mi, r, eq, mm) => {
      if (r !== null) place(r)
      else if (eq <= mm || warnF(eq, mm)) place(marginRowF(a, mi, eq, mm, true))
    })
    const fast = fastPathsEnabled()
    for (let a = 0; a < this.accountsLen; a++) {
      const refs = this.refs[a]
      if (this.alive[a] !== 1 || refs === undefined || refs.length === 0) continue
      // Skip the row build for the common healthy account quickly.
      if (tot.big[a] === 0 ? tot.mm[a] === 0 : tot.bigMm.get(a) === 0n) continue // only isolated positions
      if (fast && tot.big[a] === 0) {
        const bal = this.balanceF[a] as number
        const eq = bal + (tot.upnl[a] as number)
        const mm = tot.mm[a] as number
        if (Math.abs(bal) < SAFE && rowSafeF(eq, mm)) {
          if (eq <= mm || warnF(eq, mm)) place(marginRowF(a, CROSS, eq, mm, true))
          continue
        }
      }
      place(this.crossRowExact(tot, a, true))
    }
    const cmp = (x: MarginRow, y: MarginRow): number => this.worseFirst(x, y)
    liquidatable.sort(cmp)
    warnings.sort(cmp)
    overflow.sort(cmp)
    return marginColumns(liquidatable.concat(warnings, overflow))
  }

  /**
   * Worst first: higher margin ratio (equity ≤ 0 counts as unbounded, lower equity worse), then
   * larger shortfall, then account id, then market symbol. Ratios compare by cross-multiplication,
   * never by division.
   */
  private worseFirst(a: MarginRow, b: MarginRow): number {
    let c: number
    const ae = a.equityF
    const be = b.equityF
    const am = a.maintenanceMarginF
    const bm = b.maintenanceMarginF
    // Exact doubles where every product/difference stays below 2^53, else BigInt.
    const numeric = ae === ae && be === be && am === am && bm === bm
    const ap = ae === ae ? ae > 0 : a.equity > 0n
    const bp = be === be ? be > 0 : b.equity > 0n
    if (!ap && !bp)
      c = ae === ae && be === be ? (ae < be ? -1 : ae > be ? 1 : 0) : cmpBig(a.equity, b.equity)
    else if (!ap) c = -1
    else if (!bp) c = 1
    else {
      // a worse ⇔ mm_a/eq_a > mm_b/eq_b ⇔ mm_a·eq_b > mm_b·eq_a
      const l = am * be
      const r = bm * ae
      if (numeric && Math.abs(l) < SAFE && Math.abs(r) < SAFE) c = r < l ? -1 : r > l ? 1 : 0
      else c = cmpBig(b.maintenanceMargin * a.equity, a.maintenanceMargin * b.equity)
    }
    if (c !== 0) return c
    // larger shortfall (MM − equity) first
    const sa = am - ae
    const sb = bm - be
    if (numeric && Math.abs(sa) < SAFE && Math.abs(sb) < SAFE) c = sb < sa ? -1 : sb > sa ? 1 : 0
    else c = cmpBig(b.maintenanceMargin - b.equity, a.maintenanceMargin - a.equity)
    if (c !== 0) return c
    c = cmpBytes(this.ids[a.account] as string, this.ids[b.account] as string)
    if (c !== 0) return c
    const sym = (r: MarginRow): string =>
      r.market === CROSS ? '' : (this.markets[r.market] as Market).symbol
    return cmpBytes(sym(a), sym(b))
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
      const [u, mm] = this.exactUpnlMm(m, s, fu, fm, ctxAcc)
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
  // The liquidation watch (watch.rs, SPEC §14) and batched fills (fills.rs, SPEC §15).

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
    rows.sort((x, y) => this.worseFirst(x, y))
    // Then the scopes that overflow, as the sweep lists them.
    const over = this.watch.over.sorted().map(([a, m]) => overflowRow(a, m))
    over.sort((x, y) => this.worseFirst(x, y))
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

  /**
   * Engine::apply_fills: account[i] traded qty[i] lots (signed) of market[i] at price[i]. Against
   * the position's side it closes first (SPEC §8.1), the rest opens or increases at the price
   * (SPEC §3.1); validated whole before anything changes.
   */
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
    const n = account.length
    checkLengths('applyFills', [n, market.length, qty.length, price.length])
    // (qty, cost, isolated, isolated margin) as the batch leaves each touched position
    const pos = new Map<string, [bigint, bigint, boolean, bigint]>()
    const order: Array<[number, number]> = []
    const bal = new Map<number, bigint>()
    let settlement = this.wf.settlement
    // Markets each account opened in this batch, kept only where assets can mix (SPEC §5.4).
    const mixed = !oneAsset(this.markets)
    const opened = new Map<number, number[]>()
    for (let i = 0; i < n; i++) {
      const a = account[i] as number
      const m = market[i] as number
      const dq = qty[i] as bigint
      const p = price[i] as bigint
      let mk: Market
      try {
        this.account(a)
        mk = this.market(m)
      } catch (e) {
        throw withContext(e, `row ${i}`)
      }
      try {
        if (dq === 0n)
          throw new DeleverageError(
            ErrorCode.InvalidQuantity,
            'a fill must trade a non-zero quantity',
          )
        checkQty(dq, 'qty')
        checkPrice(p, 'fill price')
        const key = `${a}:${m}`
        let cur = pos.get(key)
        if (cur === undefined) {
          order.push([a, m])
          const s = this.slotOf(a, m)
          if (s >= 0) {
            const col = this.positions[m] as MarketPositions
            cur = [
              BigInt(col.qty[s] as number),
              col.cost[s] as bigint,
              col.isolated[s] === 1,
              col.isolatedMargin[s] as bigint,
            ]
          } else {
            cur = [0n, 0n, false, 0n]
          }
        }
        let [q, c, iso, im] = cur
        let b = bal.get(a) ?? (this.balance[a] as bigint)
        let rest = dq
        if (q !== 0n && dq > 0n !== q > 0n) {
          // Close min(|dq|, |q|) of the position (the close has the position's sign).
          const close = (dq < 0n ? -dq : dq) >= (q < 0n ? -q : q) ? q : -dq
          const [closed, realised] = mk.closeAt(q, c, close, p)
          settlement = sub(settlement, realised, 'settlement')
          if (iso) {
            const im2 = add(im, realised, 'isolated margin')
            if (close === q) {
              b = toI64(add(b, im2, 'balance'), 'balance')
              im = 0n
              iso = false
            } else {
              im = toI64(im2, 'isolated margin')
            }
          } else {
            b = toI64(add(b, realised, 'balance'), 'balance')
          }
          q -= close
          c -= closed
          rest = dq + close
        }
        if (rest !== 0n && q === 0n && mixed) {
          // A position opens: the account's other positions, as the batch leaves them so far,
          // must settle in this market's asset.
          const held = (o: number): boolean => o !== m && (pos.get(`${a}:${o}`)?.[0] ?? 1n) !== 0n
          const others = this.heldMarkets(a)
            .filter(held)
            .concat((opened.get(a) ?? []).filter(held))
          const other = firstOther(this.markets, m, others)
          if (other >= 0) throw mismatch(this.markets, this.ids[a] as string, m, other)
          const l = opened.get(a)
          if (l === undefined) opened.set(a, [m])
          else l.push(m)
        }
        if (rest !== 0n) {
          // Open or increase at the fill price; a new position is a cross position.
          const nq = q + rest
          checkQty(nq, 'position qty after the fill')
          const [lo, hi] = domain(mk, nq, 0)
          if (p < lo || p > hi) {
            throw new DeleverageError(
              ErrorCode.Overflow,
              `position of ${nq} lots at ${p} ticks is worth more than i64 atoms`,
            )
          }
          const dc = mk.costBasis(rest, p)
          if (q === 0n && dc === 0n) {
            throw new DeleverageError(
              ErrorCode.InvalidQuantity,
              `position of ${rest} lots at ${p} ticks is worth less than one atom`,
            )
          }
          c = toI64(add(c, dc, 'cost basis'), 'cost basis (does not fit i64)')
          q = nq
        }
        pos.set(key, [q, c, iso, im])
        bal.set(a, b)
      } catch (e) {
        throw withContext(e, `row ${i} (account ${this.ids[a]}, market ${mk.symbol})`)
      }
    }
    // Commit in order of first appearance (slots do not depend on hashing).
    for (const [a, m] of order) {
      const [q, c, iso, im] = pos.get(`${a}:${m}`) as [bigint, bigint, boolean, bigint]
      this.watch.touch(a)
      if (q === 0n) {
        this.removePosition(a, m)
        continue
      }
      this.writePosition(a, m, q, c, iso, im)
    }
    for (const [a, b] of bal) {
      this.writeBalance(a, b)
      this.watch.touch(a)
    }
    this.wf.settlement = settlement
  }

  // ---------------------------------------------------------------------------------------------
  // The waterfall (waterfall.rs, adl.rs, planner.rs), with crates/node's argument handling.

  private makeStore(): PositionStore {
    return {
      markets: this.markets,
      ids: this.ids, // both arrays only grow in place
      market: (m) => this.market(m),
      account: (a) => this.account(a),
      col: (m) => this.positions[m] as MarketPositions,
      refs: (a) => this.refs[a] ?? [],
      slotOf: (a, m) => this.slotOf(a, m),
      balance: (a) => this.balance[a] as bigint,
      setBalance: (a, v) => {
        if (this.undo !== null) {
          const old = this.balance[a] as bigint
          this.undo.push(() => this.writeBalance(a, old))
        }
        this.writeBalance(a, v)
      },
      setQtyCost: (m, s, q, cost) => {
        const col = this.positions[m] as MarketPositions
        if (this.undo !== null) {
          const oq = BigInt(col.qty[s] as number)
          const oc = col.cost[s] as bigint
          this.undo.push(() => col.setQtyCost(s, oq, oc))
        }
        col.setQtyCost(s, q, cost)
      },
      setIsolatedMargin: (m, s, im) => {
        const col = this.positions[m] as MarketPositions
        if (this.undo !== null) {
          const old = col.isolatedMargin[s] as bigint
          this.undo.push(() => col.setIsolatedMargin(s, old))
        }
        col.setIsolatedMargin(s, im)
      },
      removePosition: (a, m) => this.removePosition(a, m),
      crossRow: (a) => {
        const out = this.rowScratch
        this.writeCrossRow(a, out, 0, fastPathsEnabled(), false)
        return [out.equity[0] as bigint, out.maintenanceMargin[0] as bigint]
      },
      crossState: (a) => {
        const out = this.rowScratch
        this.writeCrossRow(a, out, 0, fastPathsEnabled(), true)
        return out.status[0] === 1
          ? null
          : [out.equity[0] as bigint, out.maintenanceMargin[0] as bigint]
      },
      liquidatableRows: () => this.liquidatableRows(),
      collateralTotal: () => this.collateralTotal(),
      beginUndo: () => {
        this.undo = []
        this.txnFirstEvent = this.wf.events.len
      },
      commitUndo: () => {
        this.undo = null
        // Every account a waterfall step changes is named in one of its events (as the account,
        // or as the beneficiary of a socialised loss): the watch re-checks exactly those.
        const ev = this.wf.events
        for (let i = this.txnFirstEvent; i < ev.len; i++) {
          for (const x of [ev.account[i] as number, ev.counterparty[i] as number])
            if (x !== CROSS) this.watch.touch(x)
        }
      },
      rollbackUndo: () => {
        const log = this.undo as Array<() => void>
        this.undo = null
        for (let i = log.length - 1; i >= 0; i--) (log[i] as () => void)()
      },
    }
  }

  /** sweep(None).liquidatable as [account, market] pairs; OVERFLOW rows are never liquidated (SPEC §5.5). */
  private liquidatableRows(): Array<[number, number]> {
    const r = this.sweep(null)
    const rows: Array<[number, number]> = []
    for (let i = 0; i < r.account.length; i++)
      if (r.status[i] === 0) rows.push([r.account[i] as number, r.market[i] as number])
    return rows
  }

  /** Σ live balances + Σ isolated margins of isolated positions (part of Engine::cash_total). */
  private collateralTotal(): bigint {
    let t = 0n
    for (let a = 0; a < this.accountsLen; a++)
      if (this.alive[a] === 1) t += this.balance[a] as bigint
    for (const col of this.positions) {
      for (let s = 0; s < col.len; s++)
        if (col.isolated[s] === 1) t += col.isolatedMargin[s] as bigint
    }
    return t
  }

  /** One-row scratch for crossRow. */
  private readonly rowScratch: MarginColumns = {
    account: new Uint32Array(1),
    market: new Uint32Array(1),
    equity: new BigInt64Array(1),
    maintenanceMargin: new BigInt64Array(1),
    marginRatioPpm: new BigInt64Array(1),
    liquidatable: new Uint8Array(1),
    status: new Uint8Array(1),
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

/** crates/node/src/pretrade.rs margin_row: the account margin as 7 i64 (liquidating 0/1). */
function accountMarginRow(r: AccountMargin): bigint[] {
  const xs = [
    r.equity,
    r.countedEquity,
    r.initialMargin,
    r.maintenanceMargin,
    r.orderMargin,
    r.available,
  ]
  const names = [
    'equity',
    'counted equity',
    'initial margin',
    'maintenance margin',
    'order margin',
    'available',
  ]
  xs.forEach((x, i) => {
    if (x > I64_MAX || x < I64_MIN) throw overflow(names[i] as string)
  })
  return [...xs, r.liquidating ? 1n : 0n]
}
