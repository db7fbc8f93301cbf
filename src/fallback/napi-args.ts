// The napi binding's argument conversions (crates/node), done here before the fallback engine
// runs: the JavaScript types napi-rs accepts (typed-array kinds, u32 and i32 numbers, booleans,
// strings, objects read field by field), then crates/node's own range checks (i64_of, u64_of),
// with the binding's error codes and messages. `CORE_ARGS` is the table of every CoreEngine
// method's conversions, run for both engines by src/engine.ts; the rest are the helpers JsEngine
// calls where the binding converts inside a method.

import {
  CROSS,
  type CoreEngine,
  type MarketInit,
  type PreTradeInit,
  type WaterfallInit,
} from '../core.js'
import { DeleverageError, ErrorCode, overflow, rustDebugCut } from './errors.js'
import type { AccountMargin } from './pretrade.js'
import { I64_MAX, I64_MIN, U32_MAX } from './num.js'

export function invalidArg(message: string): DeleverageError {
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

export function bigintArg(name: string, v: unknown): bigint {
  if (typeof v !== 'bigint') throw invalidArg(`${name} must be a bigint, got ${shown(v)}`)
  return v
}

/** crates/node i64_of: a BigInt that must fit i64. */
export function i64Of(v: bigint, what: string): bigint {
  if (v > I64_MAX || v < I64_MIN) throw invalidArg(`${what} does not fit a 64-bit integer`)
  return v
}

const U64_MAX = (1n << 64n) - 1n

/** crates/node u64_of: a BigInt that must be a non-negative 64-bit integer. */
export function u64Of(v: bigint, what: string): bigint {
  if (v < 0n || v > U64_MAX) throw invalidArg(`${what} must be a non-negative 64-bit integer`)
  return v
}

export function i32Arg(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
    throw invalidArg(`${name} must be an integer (i32), got ${shown(v)}`)
  }
  return v
}

export function boolArg(name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidArg(`${name} must be a boolean, got ${shown(v)}`)
  return v
}

/** crates/node iso(): CROSS means the cross account, anything else an isolated market. */
export function iso(market: number): number | null {
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

export function stringArg(name: string, v: unknown): string {
  if (typeof v !== 'string') throw invalidArg(`${name} must be a string, got ${shown(v)}`)
  return v
}

/** An array of strings, read once into a fresh array (a Proxy or getter cannot change it later). */
export function stringsArg(name: string, v: unknown): string[] {
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

export function maintArg(v: unknown): bigint[] | null {
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
export function marketInitArg(v: unknown): MarketInit {
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
export function waterfallInitArg(v: unknown): WaterfallInit {
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

/** crates/node/src/pretrade.rs margin_row: the account margin as 7 i64 (liquidating 0/1). */
export function accountMarginRow(r: AccountMargin): bigint[] {
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

/** The columns of one call have one length (the binding's LENGTH_MISMATCH). */
export function checkLengths(what: string, lens: number[]): void {
  if (lens.some((l) => l !== lens[0])) {
    throw new DeleverageError(
      ErrorCode.LengthMismatch,
      `${what}: columns differ in length [${lens.join(', ')}]`,
    )
  }
}
