// The public, ergonomic API: decimal strings (or bigint units) in, decimal strings out. It adds
// units and names, never semantics: every number is computed by the core engine underneath,
// native (Rust via napi-rs) or the TypeScript fallback, which agree bit for bit.

import {
  CROSS,
  EVENT_KINDS,
  FLAG_COST_BASIS,
  FLAG_ISOLATED,
  type CoreEngine,
  type EventKind,
  type MarginColumns,
  type MarketInit,
  type WaterfallInit,
} from './core.js'
import { formatRatio, formatUnits, parseUnits, describe, type Amount } from './decimal.js'
import * as pt from './pretrade-api.js'
import { DeleverageError, type ErrorCode } from './fallback/errors.js'
import { ADL_RANKINGS, FUND_POLICIES, LIQUIDATION_PRICE_REASONS } from './generated/tables.js'
import { JsEngine } from './fallback/engine.js'
import { checkCoreArgs, shown, u32Arg, u8sArg } from './fallback/napi-args.js'
import { snapshotMarkets } from './fallback/snapshot.js'
import { PRICE_MAX_TICKS } from './fallback/num.js'
import { knownMarkets } from './text.js'
import { JournalRecorder, JournaledCore, decodeJournal, replayEntries } from './journal.js'
import { loadNative } from './native.js'

export type ContractType = 'linear' | 'inverse'
export type MarginBasis = 'mark' | 'entry'
export type TierForm = 'deduction' | 'step'
export type Implementation = 'native' | 'js'

export interface TierConfig {
  /** Lowest position value of the tier: quote (linear) or margin asset (inverse). First tier: 0. */
  floor: Amount
  /** Maintenance margin rate, e.g. "0.004". */
  mmr: Amount
  /** Initial margin rate; or give maxLeverage. Default: min(2 × mmr, 1). */
  imr?: Amount
  maxLeverage?: Amount
  /** Maintenance amount (Binance `cum`); derived from the floors when omitted on every tier. */
  maintAmount?: Amount
}

export interface MarketConfig {
  symbol: string
  type?: ContractType
  priceDecimals: number
  qtyDecimals: number
  /** Inverse only: quote units per contract (integer). */
  contractSize?: Amount
  /** What the maintenance rate applies to: notional at mark (Binance) or value at entry (Bybit, BitMEX). */
  marginBasis?: MarginBasis
  tierForm?: TierForm
  tiers: TierConfig[]
  mark: Amount
  /** Price grid as a decimal in price units, e.g. '0.5' (BitMEX XBTUSD); default one tick
   * (10^-priceDecimals). Marks must lie on it; liquidation and bankruptcy prices land on it. */
  tickSize?: Amount
  /** The asset the market settles in (SPEC §5.4); default 'quote' for linear markets (the
   * engine's quote asset) and the market's own symbol for inverse ones. An account holds
   * markets of one settlement asset only. */
  settleAsset?: string
  /** OKX and Gate count the taker fee in the liquidation condition: (margin + uPnL) =
   * notional × (mmr + fee). A rate such as '0.0005', added to every tier's maintenance rate
   * (SPEC §19), so margin ratios, maintenance margins and liquidation prices include it. */
  takerFeeRate?: Amount
}

export interface PositionInput {
  account: string
  symbol: string
  /** Signed: long > 0, short < 0; 0 removes the position. */
  qty: Amount
  /** Entry price; or give `cost` (exact cost basis: quote for linear, margin atoms for inverse). */
  entry?: Amount
  cost?: Amount
  /** Present (even "0") makes the position isolated with this margin. */
  isolatedMargin?: Amount
}

export interface AccountInput {
  id: string
  balance: Amount
  positions?: Array<Omit<PositionInput, 'account'>>
}

/** Margin state of a cross account (symbol null) or an isolated position. */
export interface MarginStatus {
  account: string
  symbol: string | null
  equity: string
  maintenanceMargin: string
  /** MM / equity, 6 decimals rounded up; null when equity ≤ 0. */
  marginRatio: string | null
  /** MM − equity (positive when liquidatable). */
  shortfall: string
  liquidatable: boolean
  /** 'OVERFLOW' when the scope's equity or MM leaves i64 (numbers then "0", ratio null; SPEC §5.5). */
  status: 'ok' | 'OVERFLOW'
  /** With `units: true` (EngineOptions): the same numbers as integers (atoms; ratio in ppm). */
  units?: MarginUnits
}

/** A margin scope's numbers as integers: money in atoms of 10^-quoteDecimals, the ratio in ppm. */
export interface MarginUnits {
  equity: bigint
  maintenanceMargin: bigint
  shortfall: bigint
  marginRatioPpm: bigint | null
}

export interface SweepReport {
  liquidatable: MarginStatus[]
  warnings: MarginStatus[]
  /** Scopes whose equity or MM leaves i64: reported, never liquidated (SPEC §5.5). */
  overflow: MarginStatus[]
}

/**
 * The sweep as the core returns it — typed-array columns of integer units, no string per row —
 * for hosts on the typed-array path. Rows are in `sweep()`'s order: the liquidatable ones worst
 * first, then (with a warning ratio) the warning rows. Ids, symbols and decimal rows are made
 * only for the rows asked for.
 */
export interface SweepColumns extends MarginColumns {
  /** Rows 0 … liquidatableCount − 1 are liquidatable; the rest are warnings. */
  liquidatableCount: number
  /** Decimals of `equity` and `maintenanceMargin` (atoms); `marginRatioPpm` has 6. */
  quoteDecimals: number
  /** Account id of row i (looked up on first use, then cached by the engine). */
  accountId(row: number): string
  /** Symbol of row i's isolated market; null for a cross account's row. */
  symbol(row: number): string | null
  /** Row i as `sweep()` returns it, formatted on this call. */
  row(row: number): MarginStatus
}

export interface PositionReport {
  symbol: string
  qty: string
  /** Exact cost basis (linear: quote; inverse: margin asset). */
  cost: string
  /** Average entry for display, rounded half-up to priceDecimals + 4. */
  entryPrice: string
  isolated: boolean
  isolatedMargin: string | null
  unrealizedPnl: string
  maintenanceMargin: string
  /** Conservative trigger tick (SPEC §6.1); null when there is none: see the reason. */
  liquidationPrice: string | null
  /** Nearest tick to the exact crossing, as venues display it (SPEC §6.3). */
  liquidationPriceNearest: string | null
  /** Why the liquidation price is null (SPEC §6.4): 'never' (no mark in range liquidates the
   * position), 'always' (every mark in range does); null when there is a price. */
  liquidationPriceReason: LiquidationPriceReason | null
  bankruptcyPrice: string | null
  bankruptcyPriceNearest: string | null
  /** With `units: true` (EngineOptions): the same numbers as integers. */
  units?: PositionUnits
}

/** Why a position has no liquidation price (SPEC §6.4). */
export type LiquidationPriceReason = 'never' | 'always'

/** A position's numbers as integers: qty in lots, prices in ticks (null: none), money in atoms,
 * cost in the market's tier units (its notional units). */
export interface PositionUnits {
  qty: bigint
  cost: bigint
  isolatedMargin: bigint | null
  unrealizedPnl: bigint
  maintenanceMargin: bigint
  liquidationPrice: bigint | null
  liquidationPriceNearest: bigint | null
  bankruptcyPrice: bigint | null
  bankruptcyPriceNearest: bigint | null
}

export interface AccountStatus extends MarginStatus {
  balance: string
  /** With `units: true` (EngineOptions): the scope's numbers and the balance, in atoms. */
  units?: MarginUnits & { balance: bigint }
}

export interface AccountReport extends AccountStatus {
  positions: PositionReport[]
}

/** A cross account (symbol null) or isolated position whose liquidatable status changed. */
export interface WatchChange {
  account: string
  symbol: string | null
  /** true: newly liquidatable; false: no longer liquidatable (or gone). */
  liquidatable: boolean
}

/** A trade from the host's matching engine: qty signed (> 0 bought), at price. */
export interface FillInput {
  account: string
  symbol: string
  qty: Amount
  price: Amount
}

/** 'bitmex' | 'binance' | 'hyperliquid' | 'prorata' (src/generated/tables.ts, by code). */
export type AdlRanking = (typeof ADL_RANKINGS)[number]
const RANKINGS: readonly AdlRanking[] = ADL_RANKINGS

export interface WaterfallOptions {
  /** Liquidation (clearance) fee on the closed value, e.g. "0.005"; goes to the insurance fund. */
  liquidationFee?: Amount
  /** Partial liquidation restores equity ≥ MM × (1 + buffer), e.g. "0.02" (Drift). */
  buffer?: Amount
  ranking?: AdlRanking
  /** Price ADL closes at: the bankrupt position's bankruptcy price (default) or the mark. */
  adlPrice?: 'bankruptcy' | 'mark'
  /**
   * "exhausted" (default), Bybit-like drawdown hysteresis over a window of `now` units, or
   * "socialise": never ADL, what the fund lacks is charged to the market's positions (SPEC).
   */
  fundPolicy?:
    | { kind: 'exhausted' }
    | { kind: 'drawdown'; trigger: Amount; stop: Amount; window: number | bigint }
    | { kind: 'socialise' }
}

/** How the engine fills its own liquidation orders: at mark, or with linear price impact. */
export type FillModel = 'mark' | { ppmPerLot: number | bigint; capPpm: number | bigint }

export interface WaterfallEvent {
  seq: number
  kind: EventKind
  account: string | null
  symbol: string | null
  counterparty: string | null
  qty: string | null
  price: string | null
  /** Realised PnL, fee, payment or loss share, in the margin asset. */
  amount: string
  /** With `units: true` (EngineOptions): qty in lots, price in ticks, amount in atoms. */
  units?: { qty: bigint | null; price: bigint | null; amount: bigint }
}

export type DeleverageTarget =
  | { marginRatio: Amount }
  | { leverage: Amount }
  | { liquidationDistance: Amount; symbol: string }

export interface DeleveragePlanReport {
  reached: boolean
  orders: Array<{ symbol: string; qty: string }>
  fees: string
  equity: string
  maintenanceMargin: string
  notional: string
  positions: Array<{ symbol: string; qty: string; liquidationPrice: string | null }>
}

export interface AdlQueueEntry {
  account: string
  qty: string
  lights: number
  lightsByCount: number
  /** The exact score is scoreNum / scoreDen (integers as strings, scoreDen > 0). */
  scoreNum: string
  scoreDen: string
}

export interface LedgerReport {
  insuranceFund: string
  settlement: string
  residue: string
  /** Balances + isolated margins + fund + residue + settlement: constant under the waterfall. */
  cashTotal: string
  adlMode: boolean
  /** With `units: true` (EngineOptions): the same amounts in atoms. */
  units?: { insuranceFund: bigint; settlement: bigint; residue: bigint; cashTotal: bigint }
}

interface MarketMeta {
  index: number
  symbol: string
  type: ContractType
  priceDecimals: number
  qtyDecimals: number
  contractSize: bigint
  /** Decimals of tier floors: P + D (linear value units) or Q (inverse atoms). */
  tierDecimals: number
}

/** Row i of sweep columns, checked: a bad index is an error, not an undefined read. */
function rowIndex(c: MarginColumns, i: number): number {
  if (!Number.isInteger(i) || i < 0 || i >= c.account.length)
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `row ${describe(i)} is not within 0..${c.account.length - 1}`,
    )
  return i
}

const RATE_DECIMALS = 8
const RATE_SCALE = 10n ** 8n

export interface EngineOptions {
  /** Decimals of the margin asset's atoms (default 8). */
  quoteDecimals?: number
  /**
   * Reports (sweep rows, accounts, positions, events, ledger, order verdicts, open orders, account
   * margin, what-if, liquidation map) also carry their numbers as integer units in a `units`
   * field, beside the decimal strings, for hosts that compute further.
   */
  units?: boolean
  /** 'auto' (default): native when it loads, else the TypeScript engine. */
  implementation?: Implementation | 'auto'
}

/** Which engine `new Engine()` uses by default, and why native is not used when it is not. */
export function defaultImplementation(): {
  implementation: Implementation
  loadError: Error | null
} {
  const { binding, error } = loadNative()
  return { implementation: binding ? 'native' : 'js', loadError: error }
}

/** A new core engine, or (with `from`) one restored from a snapshot. */
function createCore(
  impl: Implementation | 'auto',
  quoteDecimals: number,
  from?: Uint8Array,
): { core: CoreEngine; implementation: Implementation } {
  if (impl !== 'auto' && impl !== 'native' && impl !== 'js')
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `implementation must be "native", "js" or "auto", got ${shown(impl)}`,
    )
  // A snapshot on shared memory is read once, here (it is checksummed, then decoded).
  if (from !== undefined) from = u8sArg('snapshot', from)
  if (impl !== 'js') {
    const { binding, error } = loadNative()
    if (binding) {
      // napi coerces a u32 argument modulo 2^32 (2^32 + 8 would be 8): check it as the TypeScript
      // engine does, and map the constructor's own errors like every other call's.
      if (from === undefined) u32Arg('quoteDecimals', quoteDecimals)
      try {
        const native =
          from === undefined
            ? new binding.NativeEngine(quoteDecimals)
            : binding.NativeEngine.restore(from)
        return { core: native, implementation: 'native' }
      } catch (e) {
        throw toDeleverageError(e)
      }
    }
    if (impl === 'native') {
      throw new DeleverageError(
        'NATIVE_UNAVAILABLE',
        'the native engine is not available' +
          (error ? `: ${error.message}` : ' (DELEVERAGE_FORCE_JS=1)'),
        { cause: error ?? undefined },
      )
    }
  }
  return {
    core: from === undefined ? new JsEngine(quoteDecimals) : JsEngine.restore(from),
    implementation: 'js',
  }
}

/**
 * Every CoreEngine call of either engine goes through here: the arguments are converted and
 * checked first by one table (`CORE_ARGS`: typed-array kinds, u32/i32 ranges — napi would wrap −1
 * to CROSS —, bigints, objects), so both engines refuse a bad argument with the same code and
 * message, and a journal holding the refused call replays on either. Shared or proxied inputs
 * are copied before anything reads them. Native errors become DeleverageError; `onMarket` hears
 * of every market the core adds, whoever added it.
 */
function guardCore(
  core: CoreEngine,
  native: boolean,
  onMarket: (index: number, spec: MarketInit) => void,
  busy: Busy = { running: false },
): CoreEngine {
  // One wrapper per method, made on first use: a call costs the checks plus a try/catch, not a
  // Proxy trap and a fresh closure every time (the bulk path calls these per batch).
  const wrapped = new Map<PropertyKey, unknown>()
  return new Proxy(core, {
    get(target, prop) {
      const cached = wrapped.get(prop)
      if (cached !== undefined) return cached
      const v = Reflect.get(target, prop, target)
      if (typeof v !== 'function') return v
      const f = (...raw: unknown[]) => {
        if (busy.running && !BUSY_EXEMPT.has(prop)) throw engineBusy()
        const args = checkCoreArgs(prop, raw)
        let r: unknown
        try {
          r = v.apply(target, args)
        } catch (e) {
          throw native ? toDeleverageError(e) : e
        }
        if (prop === 'addMarket') onMarket(r as number, args[0] as MarketInit)
        // async methods (sweepAsync) reject with the same mapping
        return native && r instanceof Promise
          ? r.catch((e: unknown) => Promise.reject(toDeleverageError(e)))
          : r
      }
      wrapped.set(prop, f)
      return f
    },
  })
}

/** napi-rs statuses for arguments the binding could not convert (wrong type or typed-array kind). */
const NAPI_ARGUMENT_STATUSES = new Set([
  'InvalidArg',
  'ObjectExpected',
  'StringExpected',
  'NameExpected',
  'FunctionExpected',
  'NumberExpected',
  'BooleanExpected',
  'ArrayExpected',
  'BigintExpected',
  'DateExpected',
  'ArrayBufferExpected',
  'DetachableArraybufferExpected',
])

/**
 * The binding reports core errors as "CODE: message" (crates/node); unconvertible arguments come
 * with a napi status; a caught panic has neither. All become DeleverageError.
 */
export function toDeleverageError(e: unknown): unknown {
  if (e instanceof DeleverageError || !(e instanceof Error)) return e
  const coded = /^([A-Z][A-Z_]+): ([\s\S]*)$/.exec(e.message)
  if (coded) return new DeleverageError(coded[1] as ErrorCode, coded[2]!)
  const status = (e as { code?: unknown }).code
  if (typeof status === 'string' && NAPI_ARGUMENT_STATUSES.has(status))
    return new DeleverageError('INVALID_ARGUMENT', e.message)
  return new DeleverageError('INTERNAL', `native engine failed: ${e.message}`)
}

export class Engine {
  readonly implementation: Implementation
  readonly quoteDecimals: number
  /** Whether reports carry integer `units` beside the decimal strings (EngineOptions.units). */
  readonly withUnits: boolean
  /** The integer-level engine (typed arrays in and out) for bulk paths. */
  readonly core: CoreEngine
  private readonly markets = new Map<string, MarketMeta>()
  /** Account ids by index, read from the core once each: indices are dense and never reused, and a
   * removed account keeps its id (SPEC §5), so the cache never goes stale. */
  private readonly ids: string[] = []
  private accountIdOf(i: number): string {
    this.ids[i] ??= this.core.accountId(i)
    return this.ids[i]
  }
  private readonly marketList: MarketMeta[] = []

  /** Journals mutating calls while a journal is open (src/journal.ts); `core` is this. */
  private readonly journaled: JournaledCore
  /** Set while `runWaterfallAsync` holds the engine: every core call is refused meanwhile. */
  private readonly busy: Busy = { running: false }

  /** A new engine; with `from`, the engine a snapshot describes (see `Engine.restore`). */
  constructor(options: EngineOptions = {}, from?: Uint8Array) {
    options = optionsArg('options', options)
    let q = options.quoteDecimals ?? 8
    if (!Number.isInteger(q))
      throw new DeleverageError(
        'INVALID_DECIMALS',
        `quoteDecimals must be an integer, got ${describe(q)}`,
      )
    if (from !== undefined) from = u8sArg('snapshot', from)
    const { core, implementation } = createCore(options.implementation ?? 'auto', q, from)
    if (from !== undefined) q = snapshotMarkets(from).quoteDecimals
    this.quoteDecimals = q
    this.withUnits = options.units === true
    // Markets are learnt from the core as it adds them — through this API, `core` or a replay —
    // so the wrapper never decodes an index it does not know (one source of truth).
    this.journaled = new JournaledCore(
      guardCore(
        core,
        implementation === 'native',
        (index, spec) => this.addMarketMeta(index, spec, this.quoteDecimals),
        this.busy,
      ),
    )
    this.core = this.journaled
    this.implementation = implementation
    if (from !== undefined) {
      // The core accepted the snapshot: take the units of its markets from it.
      for (const [index, m] of snapshotMarkets(from).markets.entries())
        this.addMarketMeta(index, m, q)
    }
  }

  // ---- markets ---------------------------------------------------------------------------

  addMarket(config: MarketConfig): number {
    return this.addMarketUnits(this.marketInit(config))
  }

  /** Add a market already in integer units (the bulk path; see `marketInit`). */
  addMarketUnits(init: MarketInit): number {
    return this.core.addMarket(init)
  }

  private addMarketMeta(
    index: number,
    init: Pick<MarketInit, 'symbol' | 'kind' | 'priceDecimals' | 'qtyDecimals' | 'contractSize'>,
    quoteDecimals: number,
  ): void {
    const meta: MarketMeta = {
      index,
      symbol: init.symbol,
      type: init.kind === 1 ? 'inverse' : 'linear',
      priceDecimals: init.priceDecimals,
      qtyDecimals: init.qtyDecimals,
      contractSize: init.contractSize,
      tierDecimals: init.kind === 1 ? quoteDecimals : init.priceDecimals + init.qtyDecimals,
    }
    this.markets.set(init.symbol, meta)
    this.marketList[index] = meta
  }

  /** Integer-unit market definition (exposed for bulk users and tests). */
  marketInit(config: MarketConfig): MarketInit {
    if (typeof config !== 'object' || config === null)
      throw new DeleverageError(
        'INVALID_ARGUMENT',
        `market: expected an object, got ${describe(config)}`,
      )
    nameArg('market symbol', config.symbol)
    const where = `market ${config.symbol}`
    const type = marketChoice(where, 'type', config.type ?? 'linear', 'linear', 'inverse')
    const basis = marketChoice(where, 'marginBasis', config.marginBasis ?? 'mark', 'mark', 'entry')
    const form = marketChoice(
      where,
      'tierForm',
      config.tierForm ?? 'deduction',
      'deduction',
      'step',
    )
    for (const k of ['priceDecimals', 'qtyDecimals'] as const) {
      const d = config[k]
      if (!Number.isInteger(d) || d < 0 || d > 12)
        throw new DeleverageError(
          'INVALID_DECIMALS',
          `${where}: ${k} must be an integer 0..=12, got ${describe(d)}`,
        )
    }
    const P = config.priceDecimals
    const D = config.qtyDecimals
    const tierDecimals = type === 'inverse' ? this.quoteDecimals : P + D
    const { floors, mmr, imr, maint, withAmount } = marketTiers(config.tiers, where, tierDecimals)
    const size = config.contractSize
    const contractSize =
      size === undefined
        ? 1n
        : i64(parseUnits(size, 0, `${where}: contractSize`), `${where}: contractSize`, 0)
    return {
      symbol: config.symbol,
      kind: type === 'inverse' ? 1 : 0,
      priceDecimals: P,
      qtyDecimals: D,
      contractSize,
      basis: basis === 'entry' ? 1 : 0,
      form: form === 'step' ? 1 : 0,
      floors,
      mmr,
      imr,
      ...(withAmount ? { maintAmount: maint } : {}),
      mark: priceUnits(config.mark, P, `${where}: mark`),
      ...(config.tickSize === undefined
        ? {}
        : {
            tickSize: i64(
              parseUnits(config.tickSize, P, `${where}: tickSize`, {
                positive: 'INVALID_ARGUMENT',
              }),
              `${where}: tickSize`,
              P,
            ),
          }),
      ...(config.settleAsset === undefined
        ? {}
        : { settleAsset: settleAssetOf(config.settleAsset, where) }),
      ...(config.takerFeeRate === undefined
        ? {}
        : {
            takerFee: units64(config.takerFeeRate, RATE_DECIMALS, `${where}: takerFeeRate`),
          }),
    }
  }

  marketIndex(symbol: string): number {
    return this.market(symbol).index
  }

  private market(symbol: string): MarketMeta {
    const m = this.markets.get(symbol)
    if (!m)
      throw new DeleverageError(
        'UNKNOWN_MARKET',
        `unknown market ${describe(symbol)} (${knownMarkets([...this.markets.keys()])})`,
      )
    return m
  }

  /** Batch mark update: { BTCUSDT: "31967.27", ... }. All or nothing. */
  setMarks(marks: Record<string, Amount>): void {
    const { idx, px } = this.markColumns(marks)
    this.core.setMarks(idx, px)
  }

  /** Marks by symbol as the core's columns: market indices and prices in ticks. */
  private markColumns(marks: Record<string, Amount>) {
    const entries = recordArg('marks', marks)
    const idx = new Uint32Array(entries.length)
    const px = new BigInt64Array(entries.length)
    entries.forEach(([sym, v], i) => {
      const m = this.market(sym)
      idx[i] = m.index
      px[i] = priceUnits(v, m.priceDecimals, `mark of ${sym}`)
    })
    return { idx, px }
  }

  // ---- the liquidation watch and batched fills (SPEC §14, §15) -----------------------------

  /**
   * Move marks as `setMarks` does and return the cross accounts and isolated positions whose
   * liquidatable status changed since the previous call — found without a full sweep: only what
   * the move could have flipped, and what writes since touched, is re-checked (exactly). The
   * first call builds the index and reports everything liquidatable.
   */
  updateMarks(marks: Record<string, Amount>): WatchChange[] {
    const { idx, px } = this.markColumns(marks)
    const c = this.core.updateMarks(idx, px)
    return Array.from(c.account, (a, i) => ({
      account: this.accountIdOf(a),
      symbol: c.market[i] === CROSS ? null : this.marketList[c.market[i]!]!.symbol,
      liquidatable: c.liquidatable[i] === 1,
    }))
  }

  /** What is liquidatable now, worst first — the sweep's `liquidatable`, from the watch. */
  liquidatable(): MarginStatus[] {
    return this.marginStatuses(this.core.liquidatable())
  }

  /** Apply trades in one all-or-nothing batch: closes realise PnL (SPEC §8.1), the rest opens. */
  applyFills(fills: FillInput[]): void {
    fills = listArg('fills', fills)
    const n = fills.length
    const account = new Uint32Array(n)
    const market = new Uint32Array(n)
    const qty = new BigInt64Array(n)
    const price = new BigInt64Array(n)
    fills.forEach((f, i) => {
      const at = `fills[${i}]`
      if (typeof f !== 'object' || f === null)
        throw new DeleverageError(
          'INVALID_ARGUMENT',
          `${at}: expected an object, got ${describe(f)}`,
        )
      account[i] = this.accountIndex(f.account)
      const m = this.market(f.symbol)
      market[i] = m.index
      qty[i] = i64(parseUnits(f.qty, m.qtyDecimals, `${at}.qty`), `${at}.qty`, m.qtyDecimals)
      price[i] = priceUnits(f.price, m.priceDecimals, `${at}.price`)
    })
    this.core.applyFills(account, market, qty, price)
  }

  // ---- accounts and positions ------------------------------------------------------------

  /** Add accounts (and their positions) in one all-or-nothing step. */
  addAccounts(accounts: AccountInput[]): void {
    accounts = listArg('accounts', accounts)
    const ids = accounts.map((a, i) => {
      if (typeof a?.id !== 'string')
        throw new DeleverageError(
          'INVALID_ID',
          `accounts[${i}].id: expected a string, got ${describe(a?.id)}`,
        )
      return nameArg(`accounts[${i}].id`, a.id)
    })
    const balances = BigInt64Array.from(accounts, (a, i) =>
      i64(
        parseUnits(a.balance, this.quoteDecimals, `accounts[${i}].balance`),
        `accounts[${i}].balance`,
        this.quoteDecimals,
      ),
    )
    const rows: PositionInput[] = accounts.flatMap((a, i) =>
      listArg<Omit<PositionInput, 'account'>>(`accounts[${i}].positions`, a.positions ?? []).map(
        (p) => ({ ...optionsArg(`accounts[${i}] position`, p), account: a.id }),
      ),
    )
    // Positions name accounts by their place in this batch; the core adds both or neither.
    const parsed = this.parsePositions(rows, new Map(ids.map((id, i) => [id, i])))
    this.core.addAccountsWithPositions(
      ids,
      balances,
      parsed.account,
      parsed.market,
      parsed.qty,
      parsed.price,
      parsed.isolatedMargin,
      parsed.flags,
    )
  }

  setBalances(balances: Record<string, Amount>): void {
    const entries = recordArg('balances', balances)
    this.core.setBalances(
      Uint32Array.from(entries, ([id]) => this.accountIndex(id)),
      BigInt64Array.from(entries, ([id, v]) =>
        i64(
          parseUnits(v, this.quoteDecimals, `balance of ${id}`),
          `balance of ${id}`,
          this.quoteDecimals,
        ),
      ),
    )
  }

  removeAccounts(ids: string[]): void {
    this.core.removeAccounts(
      Uint32Array.from(listArg<string>('ids', ids), (id) => this.accountIndex(id)),
    )
  }

  /** Open, replace (qty and entry are the new totals) or remove (qty 0) positions, all or nothing. */
  setPositions(rows: PositionInput[]): void {
    const p = this.parsePositions(listArg('positions', rows))
    this.core.setPositions(p.account, p.market, p.qty, p.price, p.isolatedMargin, p.flags)
  }

  accountIndex(id: string): number {
    const i = this.core.accountIndex(id)
    if (i === null) throw new DeleverageError('UNKNOWN_ACCOUNT', `unknown account ${describe(id)}`)
    return i
  }

  private parsePositions(rows: PositionInput[], pending?: Map<string, number>) {
    const n = rows.length
    const out = {
      account: new Uint32Array(n),
      market: new Uint32Array(n),
      qty: new BigInt64Array(n),
      price: new BigInt64Array(n),
      isolatedMargin: new BigInt64Array(n),
      flags: new Uint8Array(n),
    }
    rows.forEach((r, i) => {
      const f = `positions[${i}]`
      if (typeof r !== 'object' || r === null)
        throw new DeleverageError(
          'INVALID_ARGUMENT',
          `${f}: expected an object, got ${describe(r)}`,
        )
      const acc = pending ? pending.get(r.account) : undefined
      out.account[i] = acc ?? this.accountIndex(r.account)
      const m = this.market(r.symbol)
      out.market[i] = m.index
      out.qty[i] = i64(parseUnits(r.qty, m.qtyDecimals, `${f}.qty`), `${f}.qty`, m.qtyDecimals)
      let flags = 0
      if (r.isolatedMargin !== undefined) {
        flags |= FLAG_ISOLATED
        out.isolatedMargin[i] = i64(
          parseUnits(r.isolatedMargin, this.quoteDecimals, `${f}.isolatedMargin`, {
            nonNegative: 'INVALID_AMOUNT',
          }),
          `${f}.isolatedMargin`,
          this.quoteDecimals,
        )
      }
      if (out.qty[i] !== 0n) {
        if ((r.entry === undefined) === (r.cost === undefined)) {
          throw new DeleverageError('INVALID_ARGUMENT', `${f}: give exactly one of entry and cost`)
        }
        if (r.entry !== undefined) {
          out.price[i] = priceUnits(r.entry, m.priceDecimals, `${f}.entry`)
        } else {
          flags |= FLAG_COST_BASIS
          out.price[i] = i64(
            parseUnits(r.cost, m.tierDecimals, `${f}.cost`),
            `${f}.cost`,
            m.tierDecimals,
          )
        }
      }
      out.flags[i] = flags
    })
    return out
  }

  // ---- the waterfall (SPEC §8–§10) ---------------------------------------------------------

  configureWaterfall(o: WaterfallOptions): void {
    o = optionsArg('options', o)
    const rate = (v: Amount | undefined, d: bigint, f: string) =>
      v === undefined ? d : parseUnits(v, 8, f, { nonNegative: 'INVALID_ARGUMENT' })
    const ranking = RANKINGS.indexOf(o.ranking ?? 'bitmex')
    if (ranking < 0)
      throw new DeleverageError(
        'INVALID_ARGUMENT',
        `ranking must be one of ${RANKINGS.join(', ')}, got ${describe(o.ranking)}`,
      )
    const p = optionsArg<NonNullable<WaterfallOptions['fundPolicy']>>(
      'fundPolicy',
      o.fundPolicy ?? { kind: 'exhausted' },
    )
    if (p.kind !== 'exhausted' && p.kind !== 'drawdown' && p.kind !== 'socialise')
      throw invalidArgument(
        `fundPolicy.kind must be "exhausted", "drawdown" or "socialise", got ${shown((p as { kind: unknown }).kind)}`,
      )
    const adlPrice = o.adlPrice ?? 'bankruptcy'
    if (adlPrice !== 'bankruptcy' && adlPrice !== 'mark')
      throw invalidArgument(`adlPrice must be "bankruptcy" or "mark", got ${shown(adlPrice)}`)
    const init: WaterfallInit = {
      feeRate: rate(o.liquidationFee, 500_000n, 'liquidationFee'),
      bufferRate: rate(o.buffer, 2_000_000n, 'buffer'),
      ranking,
      adlAtMark: adlPrice === 'mark',
      policy: FUND_POLICIES.indexOf(p.kind),
      triggerPpm: p.kind === 'drawdown' ? parseUnits(p.trigger, 6, 'fundPolicy.trigger') : 0n,
      stopPpm: p.kind === 'drawdown' ? parseUnits(p.stop, 6, 'fundPolicy.stop') : 0n,
      window: p.kind === 'drawdown' ? intArg('fundPolicy.window', p.window, 0n, U64_MAX) : 0n,
    }
    this.core.configureWaterfall(init)
  }

  depositInsuranceFund(amount: Amount, now: number | bigint = 0): void {
    this.core.depositFund(
      i64(parseUnits(amount, this.quoteDecimals, 'amount'), 'amount', this.quoteDecimals),
      intArg('now', now, 0n, U64_MAX),
    )
  }

  /** The whole waterfall at the current marks (all or nothing); returns its events. */
  runWaterfall(options: { fill?: FillModel; now?: number | bigint } = {}): WaterfallEvent[] {
    return this.events(this.core.runWaterfall(...waterfallArgs(options)))
  }

  /**
   * `runWaterfall` off the JS thread (native: the libuv pool; TypeScript: deferred to the next
   * turn of the event loop): the same events. The engine is the call's until the promise settles:
   * any other call on it meanwhile — reads included — throws `ENGINE_BUSY` and changes nothing.
   */
  async runWaterfallAsync(
    options: { fill?: FillModel; now?: number | bigint } = {},
  ): Promise<WaterfallEvent[]> {
    const args = waterfallArgs(options)
    if (this.busy.running) throw engineBusy()
    this.busy.running = true
    let settle: () => bigint
    try {
      const first = await this.waterfallOffThread(args)
      settle = () => first
    } catch (e) {
      settle = () => {
        throw e
      }
    } finally {
      this.busy.running = false
    }
    // No await from here on: nothing runs between the engine's return and the journal entry.
    return this.events(this.journaled.recordSettled('runWaterfall', args, settle))
  }

  private async waterfallOffThread(args: WaterfallArgs): Promise<bigint> {
    const core = this.journaled.inner
    if (core.runWaterfallAsync === undefined) {
      await new Promise((resolve) => setImmediate(resolve))
      // From here the sync call runs to its end: no other call can come in between.
      this.busy.running = false
      return core.runWaterfall(...args)
    }
    try {
      return await core.runWaterfallAsync(...args)
    } finally {
      core.finishAsync!()
    }
  }

  /** What liquidating the account (or its isolated position in `symbol`) would do now. */
  planLiquidation(
    account: string,
    isolatedSymbol?: string,
  ): { takeover: boolean; orders: Array<{ symbol: string; qty: string }> } {
    const p = this.core.planLiquidation(this.accountIndex(account), this.isoIndex(isolatedSymbol))
    return {
      takeover: p.takeover,
      orders: Array.from(p.market, (m, i) => ({
        symbol: this.marketList[m]!.symbol,
        qty: formatUnits(p.qty[i]!, this.marketList[m]!.qtyDecimals),
      })),
    }
  }

  /** A liquidation order of `account` filled in the host's book. */
  settleLiquidationFill(
    account: string,
    fill: { symbol: string; qty: Amount; price: Amount; isolated?: boolean },
  ): WaterfallEvent[] {
    if (typeof fill !== 'object' || fill === null)
      throw invalidArgument(`fill must be an object, got ${shown(fill)}`)
    const m = this.market(fill.symbol)
    const from = this.nextSeq()
    this.core.settleLiquidationFill(
      this.accountIndex(account),
      fill.isolated ? m.index : CROSS,
      m.index,
      i64(parseUnits(fill.qty, m.qtyDecimals, 'qty'), 'qty', m.qtyDecimals),
      priceUnits(fill.price, m.priceDecimals, 'price'),
    )
    return this.events(from)
  }

  takeOver(account: string, isolatedSymbol?: string): WaterfallEvent[] {
    const from = this.nextSeq()
    this.core.takeOver(this.accountIndex(account), this.isoIndex(isolatedSymbol))
    return this.events(from)
  }

  settleLiquidatorFill(symbol: string, qty: Amount, price: Amount): WaterfallEvent[] {
    const m = this.market(symbol)
    const from = this.nextSeq()
    this.core.settleLiquidatorFill(
      m.index,
      i64(parseUnits(qty, m.qtyDecimals, 'qty'), 'qty', m.qtyDecimals),
      priceUnits(price, m.priceDecimals, 'price'),
    )
    return this.events(from)
  }

  /** @deprecated Renamed `settleLiquidatorFill` (the venue's liquidation engine is the liquidator). */
  settleEngineFill(symbol: string, qty: Amount, price: Amount): WaterfallEvent[] {
    return this.settleLiquidatorFill(symbol, qty, price)
  }

  autoDeleverage(symbol: string): WaterfallEvent[] {
    const from = this.nextSeq()
    this.core.autoDeleverage(this.market(symbol).index)
    return this.events(from)
  }

  /** Share `amount` of `beneficiary`'s bad debt over every position of `symbol` by size (G6). */
  socialiseLoss(symbol: string, amount: Amount, beneficiary: string): WaterfallEvent[] {
    const from = this.nextSeq()
    this.core.socialiseLoss(
      this.market(symbol).index,
      i64(parseUnits(amount, this.quoteDecimals, 'amount'), 'amount', this.quoteDecimals),
      this.accountIndex(beneficiary),
    )
    return this.events(from)
  }

  /** Settle a funding rate (e.g. "0.0001"; positive: longs pay shorts) by value at mark. */
  settleFunding(symbol: string, rate: Amount): WaterfallEvent[] {
    const from = this.nextSeq()
    this.core.settleFunding(this.market(symbol).index, parseUnits(rate, 8, 'rate'))
    return this.events(from)
  }

  /** Events from sequence number `fromSeq` on, decoded. */
  events(fromSeq: number | bigint = 0): WaterfallEvent[] {
    const c = this.core.events(intArg('fromSeq', fromSeq, 0n, U64_MAX))
    const q = this.quoteDecimals
    const id = (i: number) => (i === CROSS ? null : this.accountIdOf(i))
    return Array.from(c.seq, (seq, i) => {
      const m = c.market[i] === CROSS ? null : this.marketList[c.market[i]!]!
      const hasTrade = m !== null && c.price[i] !== 0n
      return {
        seq: Number(seq),
        kind: EVENT_KINDS[c.kind[i]!]!,
        account: id(c.account[i]!),
        symbol: m?.symbol ?? null,
        counterparty: id(c.counterparty[i]!),
        qty:
          hasTrade || c.qty[i] !== 0n ? (m ? formatUnits(c.qty[i]!, m.qtyDecimals) : null) : null,
        price: hasTrade ? formatUnits(c.price[i]!, m!.priceDecimals) : null,
        amount: formatUnits(c.amount[i]!, q),
        ...(this.withUnits
          ? {
              units: {
                qty: m && (hasTrade || c.qty[i] !== 0n) ? c.qty[i]! : null,
                price: hasTrade ? c.price[i]! : null,
                amount: c.amount[i]!,
              },
            }
          : {}),
      }
    })
  }

  /**
   * Drop the events with seq < beforeSeq (archive them first: `events()`); numbering goes on, the
   * snapshot and state hash keep where the log now starts, and a journal records the trim.
   */
  trimEvents(beforeSeq: number | bigint): void {
    this.core.trimEvents(intArg('beforeSeq', beforeSeq, 0n, U64_MAX))
  }

  ledger(): LedgerReport {
    const l = this.core.ledger()
    const q = this.quoteDecimals
    return {
      insuranceFund: formatUnits(l.insuranceFund, q),
      settlement: formatUnits(l.settlement, q),
      residue: formatUnits(l.residue, q),
      cashTotal: formatUnits(l.cashTotal, q),
      adlMode: l.adlMode,
      ...(this.withUnits
        ? {
            units: {
              insuranceFund: l.insuranceFund,
              settlement: l.settlement,
              residue: l.residue,
              cashTotal: l.cashTotal,
            },
          }
        : {}),
    }
  }

  /**
   * The ADL queue of one side of a market in rank order, with indicator lights (1–5) and the exact
   * score (num/den as integer strings) that partitions exchange to merge queues (src/partition.ts).
   */
  adlQueue(symbol: string, side: 'long' | 'short', ranking?: AdlRanking): AdlQueueEntry[] {
    const m = this.market(symbol)
    if (side !== 'long' && side !== 'short')
      throw invalidArgument(`side must be "long" or "short", got ${shown(side)}`)
    const r = RANKINGS.indexOf(ranking ?? 'bitmex')
    if (r < 0)
      throw new DeleverageError(
        'INVALID_ARGUMENT',
        `ranking must be one of ${RANKINGS.join(', ')}, got ${describe(ranking)}`,
      )
    const c = this.core.adlQueue(m.index, side === 'long' ? 1 : -1, r)
    return Array.from(c.account, (a, i) => ({
      account: this.accountIdOf(a),
      qty: formatUnits(c.qty[i]!, m.qtyDecimals),
      lights: c.lights[i]!,
      lightsByCount: c.lightsByCount[i]!,
      scoreNum: c.scoreNum[i]!.toString(),
      scoreDen: c.scoreDen[i]!.toString(),
    }))
  }

  /**
   * Manual deleveraging (SPEC §11): the smallest reductions of `account`'s cross positions, at
   * mark with `fee` (a taker fee rate, default 0), that reach the target.
   */
  planDeleveraging(
    account: string,
    target: DeleverageTarget,
    options: { fee?: Amount } = {},
  ): DeleveragePlanReport {
    let kind: number
    let ppm: bigint
    let market = CROSS
    if (typeof target !== 'object' || target === null)
      throw invalidArgument(`target must be an object, got ${shown(target)}`)
    options = optionsArg('options', options)
    if (!('marginRatio' in target) && !('leverage' in target) && !('liquidationDistance' in target))
      throw invalidArgument('target must give marginRatio, leverage or liquidationDistance')
    if ('marginRatio' in target)
      [kind, ppm] = [
        0,
        parseUnits(target.marginRatio, 6, 'marginRatio', { positive: 'INVALID_ARGUMENT' }),
      ]
    else if ('leverage' in target)
      [kind, ppm] = [
        1,
        parseUnits(target.leverage, 6, 'leverage', { positive: 'INVALID_ARGUMENT' }),
      ]
    else {
      kind = 2
      ppm = parseUnits(target.liquidationDistance, 6, 'liquidationDistance', {
        nonNegative: 'INVALID_ARGUMENT',
      })
      market = this.market(target.symbol).index
    }
    const fee =
      options.fee === undefined
        ? 0n
        : parseUnits(options.fee, 8, 'fee', { nonNegative: 'INVALID_ARGUMENT' })
    const p = this.core.planDeleveraging(this.accountIndex(account), kind, ppm, market, fee)
    const q = this.quoteDecimals
    const sym = (m: number) => this.marketList[m]!
    return {
      reached: p.reached,
      orders: Array.from(p.orderMarket, (m, i) => ({
        symbol: sym(m).symbol,
        qty: formatUnits(p.orderQty[i]!, sym(m).qtyDecimals),
      })),
      fees: formatUnits(p.fees, q),
      equity: formatUnits(p.equity, q),
      maintenanceMargin: formatUnits(p.maintenanceMargin, q),
      notional: formatUnits(p.notional, q),
      positions: Array.from(p.positionMarket, (m, i) => ({
        symbol: sym(m).symbol,
        qty: formatUnits(p.positionQty[i]!, sym(m).qtyDecimals),
        liquidationPrice:
          p.liquidationPrice[i] === 0n
            ? null
            : formatUnits(p.liquidationPrice[i]!, sym(m).priceDecimals),
      })),
    }
  }

  private isoIndex(symbol: string | undefined): number {
    return symbol === undefined ? CROSS : this.market(symbol).index
  }

  private nextSeq(): bigint {
    return this.core.nextSeq()
  }

  // ---- reading the margin state ----------------------------------------------------------

  /** Full sweep: liquidatable accounts and isolated positions, worst first (SPEC §5). */
  sweep(options: { warningRatio?: Amount } = {}): SweepReport {
    options = optionsArg('options', options)
    const w =
      options.warningRatio === undefined
        ? null
        : parseUnits(options.warningRatio, 6, 'warningRatio', { positive: 'INVALID_ARGUMENT' })
    const cols = this.core.sweep(w)
    return this.sweepReport(cols)
  }

  /**
   * The sweep as typed-array columns (see `SweepColumns`): the same rows as `sweep()`, without
   * formatting a decimal string per row. `threads` > 1 runs the native sweep in parallel (same
   * rows for any count).
   */
  sweepColumns(options: { warningRatio?: Amount; threads?: number } = {}): SweepColumns {
    const w =
      options.warningRatio === undefined
        ? null
        : parseUnits(options.warningRatio, 6, 'warningRatio', { positive: 'INVALID_ARGUMENT' })
    const threads = options.threads ?? 1
    const cols = threads === 1 ? this.core.sweep(w) : this.core.sweepParallel(w, threads)
    let n = 0
    while (n < cols.liquidatable.length && cols.liquidatable[n] === 1) n++
    return {
      ...cols,
      liquidatableCount: n,
      quoteDecimals: this.quoteDecimals,
      accountId: (i) => this.accountIdOf(cols.account[rowIndex(cols, i)]!),
      symbol: (i) =>
        cols.market[rowIndex(cols, i)] === CROSS ? null : this.marketList[cols.market[i]!]!.symbol,
      row: (i) => this.marginStatus(cols, rowIndex(cols, i)),
    }
  }

  /** The sweep off the JS thread (native) on the state as it is now; see `sweep`. */
  async sweepAsync(
    options: { warningRatio?: Amount; threads?: number } = {},
  ): Promise<SweepReport> {
    options = optionsArg('options', options)
    const w =
      options.warningRatio === undefined
        ? null
        : parseUnits(options.warningRatio, 6, 'warningRatio', { positive: 'INVALID_ARGUMENT' })
    const cols = await this.core.sweepAsync(w, options.threads ?? 1)
    return this.sweepReport(cols)
  }

  private sweepReport(cols: MarginColumns): SweepReport {
    const rows = this.marginStatuses(cols)
    const ok = rows.filter((r) => r.status === 'ok')
    return {
      liquidatable: ok.filter((r) => r.liquidatable),
      warnings: ok.filter((r) => !r.liquidatable),
      overflow: rows.filter((r) => r.status !== 'ok'),
    }
  }

  /** Cross margin state of every account, in the order they were added. */
  accounts(): AccountStatus[] {
    const c = this.core.accountRows(null)
    const balances = this.core.balances(c.account)
    return this.marginStatuses(c).map((r, i) => this.withBalance(r, balances[i]!))
  }

  /** One account: its cross margin state and every position with prices (SPEC §6). */
  account(id: string): AccountReport {
    const a = Uint32Array.of(this.accountIndex(id))
    const [status] = this.marginStatuses(this.core.accountRows(a))
    return {
      ...this.withBalance(status!, this.core.balances(a)[0]!),
      positions: this.positionReports(a),
    }
  }

  /** A cross scope with its account's balance (in `units` too, when reports carry them). */
  private withBalance(r: MarginStatus, balance: bigint): AccountStatus {
    const { units, ...rest } = r
    return {
      ...rest,
      balance: formatUnits(balance, this.quoteDecimals),
      ...(units ? { units: { ...units, balance } } : {}),
    }
  }

  /** Every position of the given accounts (all when omitted), account by account. */
  positions(ids?: string[]): Array<PositionReport & { account: string }> {
    const sel =
      ids === undefined
        ? null
        : Uint32Array.from(listArg<string>('ids', ids), (id) => this.accountIndex(id))
    return this.positionReports(sel, true) as Array<PositionReport & { account: string }>
  }

  private positionReports(accounts: Uint32Array | null, withAccount = false): PositionReport[] {
    const c = this.core.positionRisks(accounts)
    const q = this.quoteDecimals
    const out: PositionReport[] = []
    for (let i = 0; i < c.account.length; i++) {
      const m = this.marketList[c.market[i]!]!
      const P = m.priceDecimals
      const price = (x: bigint) => (x === 0n ? null : formatUnits(x, P))
      const why = c.liquidationPriceReason[i]!
      // 'always': the solver's edge tick is no price to show; 'never' already reads 0.
      const liq = (x: bigint) => (why === 0 ? x : 0n)
      const report: PositionReport & { account?: string } = {
        symbol: m.symbol,
        qty: formatUnits(c.qty[i]!, m.qtyDecimals),
        cost: formatUnits(c.cost[i]!, m.tierDecimals),
        entryPrice: entryPrice(m, c.qty[i]!, c.cost[i]!, q),
        isolated: c.isolated[i] === 1,
        isolatedMargin: c.isolated[i] === 1 ? formatUnits(c.isolatedMargin[i]!, q) : null,
        unrealizedPnl: formatUnits(c.upnl[i]!, q),
        maintenanceMargin: formatUnits(c.maintenanceMargin[i]!, q),
        liquidationPrice: price(liq(c.liquidationPrice[i]!)),
        liquidationPriceNearest: price(liq(c.liquidationPriceNearest[i]!)),
        liquidationPriceReason:
          why === 0 ? null : (LIQUIDATION_PRICE_REASONS[why] as LiquidationPriceReason),
        bankruptcyPrice: price(c.bankruptcyPrice[i]!),
        bankruptcyPriceNearest: price(c.bankruptcyPriceNearest[i]!),
      }
      if (withAccount) report.account = this.accountIdOf(c.account[i]!)
      if (this.withUnits) {
        const tick = (x: bigint) => (x === 0n ? null : x)
        report.units = {
          qty: c.qty[i]!,
          cost: c.cost[i]!,
          isolatedMargin: c.isolated[i] === 1 ? c.isolatedMargin[i]! : null,
          unrealizedPnl: c.upnl[i]!,
          maintenanceMargin: c.maintenanceMargin[i]!,
          liquidationPrice: tick(liq(c.liquidationPrice[i]!)),
          liquidationPriceNearest: tick(liq(c.liquidationPriceNearest[i]!)),
          bankruptcyPrice: tick(c.bankruptcyPrice[i]!),
          bankruptcyPriceNearest: tick(c.bankruptcyPriceNearest[i]!),
        }
      }
      out.push(report)
    }
    return out
  }

  private marginStatuses(c: MarginColumns): MarginStatus[] {
    const out: MarginStatus[] = []
    for (let i = 0; i < c.account.length; i++) out.push(this.marginStatus(c, i))
    return out
  }

  private marginStatus(c: MarginColumns, i: number): MarginStatus {
    const q = this.quoteDecimals
    const eq = c.equity[i]!
    const mm = c.maintenanceMargin[i]!
    const ppm = c.marginRatioPpm[i]!
    return {
      account: this.accountIdOf(c.account[i]!),
      symbol: c.market[i] === CROSS ? null : this.marketList[c.market[i]!]!.symbol,
      equity: formatUnits(eq, q),
      maintenanceMargin: formatUnits(mm, q),
      marginRatio: ppm < 0n ? null : formatUnits(ppm, 6),
      shortfall: formatUnits(mm - eq, q),
      liquidatable: c.liquidatable[i] === 1,
      status: c.status[i] === 1 ? 'OVERFLOW' : 'ok',
      ...(this.withUnits
        ? {
            units: {
              equity: eq,
              maintenanceMargin: mm,
              shortfall: mm - eq,
              marginRatioPpm: ppm < 0n ? null : ppm,
            },
          }
        : {}),
    }
  }

  // ---- state hash, snapshots and the operation journal (docs/SPEC.md §12–§13) -----------------

  /** SHA-256 of the whole engine state (64 hex digits); the same in both engines for the same state. */
  stateHash(): string {
    return this.core.stateHash()
  }

  /** A versioned, checksummed binary snapshot of the whole state; `Engine.restore` reads it on either engine. */
  snapshot(): Uint8Array {
    return this.core.snapshot()
  }

  /**
   * The engine a snapshot describes, on the implementation asked for (either reads the other's).
   * A truncated, corrupted, unknown-version or inconsistent snapshot is a DeleverageError
   * (SNAPSHOT_TRUNCATED, SNAPSHOT_CHECKSUM, SNAPSHOT_VERSION, SNAPSHOT_INVALID) naming the offset.
   */
  static restore(
    bytes: Uint8Array,
    options: { implementation?: Implementation | 'auto'; units?: boolean } = {},
  ): Engine {
    const o = optionsArg('options', options)
    return new Engine({ implementation: o.implementation, units: o.units }, bytes)
  }

  /**
   * Start journalling at the current state: from now on every mutating call (through this API or
   * `core`) is recorded with what the engine decided and the events it emitted. Take a
   * `snapshot()` at the same moment to be able to replay it.
   */
  startJournal(): void {
    this.journaled.recorder = new JournalRecorder(this.core.stateHash(), this.core.nextSeq())
  }

  /** The journal so far, ending at the current state hash (checksummed, canonical bytes). */
  journal(): Uint8Array {
    const r = this.journaled.recorder
    if (r === null)
      throw new DeleverageError('INVALID_ARGUMENT', 'no journal is open: call startJournal() first')
    return r.seal(this.core.stateHash())
  }

  /** The journal, and stop journalling. */
  stopJournal(): Uint8Array {
    const j = this.journal()
    this.journaled.recorder = null
    return j
  }

  /**
   * Replay a journal on the snapshot it started from: every call again, on the implementation
   * asked for; each outcome and its events, and the final state hash, must be what the journal
   * says (else JOURNAL_MISMATCH, naming the entry). Returns the engine in the final state.
   */
  static replay(
    snapshot: Uint8Array,
    journal: Uint8Array,
    options: { implementation?: Implementation | 'auto' } = {},
  ): Engine {
    const j = decodeJournal(journal)
    const e = Engine.restore(snapshot, optionsArg('options', options))
    const base = e.stateHash()
    if (base !== j.baseHash)
      throw new DeleverageError(
        'JOURNAL_MISMATCH',
        `the snapshot (state ${base}) is not where the journal starts (state ${j.baseHash})`,
      )
    replayEntries(e.core, j.entries, (x) =>
      (e.core[x.op] as (...a: unknown[]) => unknown)(...x.args),
    )
    const end = e.stateHash()
    if (end !== j.finalHash)
      throw new DeleverageError(
        'JOURNAL_MISMATCH',
        `the replay ends at state ${end}, the journal at ${j.finalHash}`,
      )
    return e
  }

  /**
   * One fill of a merged ADL queue executed where the counterparty lives (SPEC §16,
   * docs/SCALE-OUT.md): close `qty` (signed as the position) of `account`'s position in `symbol` at
   * `price`, without a fee, as an `adlFill` event. The engine holding the taken-over position
   * closes its side with `settleLiquidatorFill`.
   */
  settleAdlFill(account: string, symbol: string, qty: Amount, price: Amount): WaterfallEvent[] {
    const m = this.market(symbol)
    const from = this.nextSeq()
    this.core.settleAdlFill(
      this.accountIndex(account),
      m.index,
      i64(parseUnits(qty, m.qtyDecimals, 'qty'), 'qty', m.qtyDecimals),
      i64(
        parseUnits(price, m.priceDecimals, 'price', { positive: 'INVALID_PRICE' }),
        'price',
        m.priceDecimals,
      ),
    )
    return this.events(from)
  }

  // ---- pre-trade risk (SPEC §17; src/pretrade-api.ts) ----------------------------------------

  private preTradeCtx(): pt.PreTradeCtx {
    return {
      core: this.core,
      quoteDecimals: this.quoteDecimals,
      withUnits: this.withUnits,
      market: (s) => this.market(s),
      marketAt: (i) => this.marketList[i] as MarketMeta,
      accountIndex: (id) => this.accountIndex(id),
    }
  }
  /** A market's pre-trade settings: default leverage, price band, OI caps, profit rule, fees. */
  configurePreTrade(symbol: string, options: pt.PreTradeOptions): void {
    pt.configurePreTrade(this.preTradeCtx(), symbol, options)
  }
  /** The leverage in force for an account in a market. */
  leverage(account: string, symbol: string): number {
    return this.core.leverage(this.accountIndex(account), this.market(symbol).index)
  }
  /** Choose a leverage; refused (state unchanged) with RISK_LIMIT or INSUFFICIENT_MARGIN. */
  setLeverage(account: string, symbol: string, leverage: number): pt.OrderVerdictCode {
    return pt.setLeverage(this.preTradeCtx(), account, symbol, leverage)
  }
  /** Check orders without placing them; `sequential`: each accepted one reserves for the next. */
  checkOrders(orders: pt.OrderInput[], options: { sequential?: boolean } = {}) {
    return pt.checkOrders(this.preTradeCtx(), orders, options.sequential === true)
  }
  /** Check sequentially and keep the accepted orders open (id null when rejected). */
  placeOrders(orders: pt.OrderInput[]) {
    return pt.placeOrders(this.preTradeCtx(), orders)
  }
  cancelOrders(ids: Array<string | bigint>): void {
    pt.cancelOrders(this.preTradeCtx(), ids)
  }
  /** Fills of open orders: the positions change as applyFills; each order keeps what is left. */
  fillOrders(fills: Array<{ account: string; id: string | bigint; qty: Amount; price: Amount }>) {
    pt.fillOrders(this.preTradeCtx(), fills)
  }
  openOrders(account: string): pt.OpenOrder[] {
    return pt.openOrders(this.preTradeCtx(), account)
  }
  /** The largest quantity checkOrders accepts (one lot more is refused). */
  maxOrderQty(
    account: string,
    symbol: string,
    side: pt.OrderSide,
    options: { price?: Amount; reduceOnly?: boolean } = {},
  ): string {
    const c = this.preTradeCtx()
    return pt.maxOrderQty(c, account, symbol, side, options.price, options.reduceOnly === true)
  }
  /** Equity, initial and maintenance margin, order margin and available balance. */
  accountMargin(account: string): pt.AccountMarginReport {
    return pt.accountMargin(this.preTradeCtx(), account)
  }
  /** The account after the orders fill, with the prices of every position they change. */
  whatIf(account: string, orders: Array<Omit<pt.OrderInput, 'account'>>): pt.WhatIfReport {
    return pt.whatIf(this.preTradeCtx(), account, orders as pt.OrderInput[])
  }

  /**
   * The liquidation map of one market (SPEC §18): per price bucket of [from, to), the long and
   * short quantity, notional (at the liquidation price, in the market's settlement asset) and
   * count of positions whose liquidation price lies in it — cross positions with the other marks
   * fixed, isolated ones on their own margin; `below` and `above` hold the rest. Exact.
   */
  liquidationMap(symbol: string, options: LiquidationMapOptions): LiquidationMapReport {
    const m = this.market(symbol)
    const o = optionsArg('options', options) as LiquidationMapOptions
    const px = (v: Amount, what: string) =>
      i64(parseUnits(v, m.priceDecimals, what, { positive: 'INVALID_PRICE' }), what)
    const buckets = Number(intArg('buckets', o.buckets ?? 50, 1n, 100_000n))
    const c = this.core.liquidationMap(m.index, px(o.from, 'from'), px(o.to, 'to'), buckets)
    const q = this.quoteDecimals
    const side = (i: number): LiquidationMapSums => ({
      longQty: formatUnits(c.longQty[i]!, m.qtyDecimals),
      longNotional: formatUnits(c.longNotional[i]!, q),
      longCount: c.longCount[i]!,
      shortQty: formatUnits(c.shortQty[i]!, m.qtyDecimals),
      shortNotional: formatUnits(c.shortNotional[i]!, q),
      shortCount: c.shortCount[i]!,
      ...(this.withUnits
        ? {
            units: {
              longQty: c.longQty[i]!,
              longNotional: c.longNotional[i]!,
              shortQty: c.shortQty[i]!,
              shortNotional: c.shortNotional[i]!,
            },
          }
        : {}),
    })
    const bucket = (i: number) => {
      const [from, to] = [c.edges[i]!, c.edges[i + 1]!]
      const { units, ...sums } = side(i + 1)
      return {
        from: formatUnits(from, m.priceDecimals),
        to: formatUnits(to, m.priceDecimals),
        ...sums,
        ...(units ? { units: { ...units, from, to } } : {}),
      }
    }
    return {
      symbol,
      buckets: Array.from({ length: buckets }, (_, i) => bucket(i)),
      below: side(0),
      above: side(buckets + 1),
    }
  }
}

/** Average entry for display: linear cost/qty ticks; inverse qty·size·10^t/cost; half-up to P+4. */
function entryPrice(m: MarketMeta, qty: bigint, cost: bigint, quoteDecimals: number): string {
  const P = m.priceDecimals
  const tick = 10n ** BigInt(P)
  // cost and qty share their sign, so |cost| / (|qty|·10^P) is the entry in quote
  if (m.type === 'linear')
    return formatRatio(cost < 0n ? -cost : cost, (qty < 0n ? -qty : qty) * tick, P + 4)
  const t = P - m.qtyDecimals + quoteDecimals
  let num = qty * m.contractSize
  let den = cost
  if (t >= 0) num *= 10n ** BigInt(t)
  else den *= 10n ** BigInt(-t)
  den *= tick
  if (den < 0n) {
    num = -num
    den = -den
  }
  return formatRatio(num, den, P + 4)
}

const I64_MIN = -(2n ** 63n)
const I64_MAX = 2n ** 63n - 1n

/** A price in ticks: positive, and an i64. Beyond it (OVERFLOW) the message says the largest price
 * a market of these decimals holds (SPEC §2.5: 10^15 ticks). */
function priceUnits(v: unknown, decimals: number, field: string): bigint {
  const ticks = parseUnits(v, decimals, field, { positive: 'INVALID_PRICE' })
  if (ticks > I64_MAX)
    throw new DeleverageError(
      'OVERFLOW',
      `${field}: ${formatUnits(ticks, decimals)} does not fit a 64-bit integer of ticks (the largest price a market of ${decimals} price decimals allows is ${formatUnits(PRICE_MAX_TICKS, decimals)})`,
    )
  return ticks
}

/** A decimal input as i64 units at `decimals`, named `field` in its errors. */
function units64(v: Amount, decimals: number, field: string): bigint {
  return i64(parseUnits(v, decimals, field), field, decimals)
}

/** v as i64; `decimals` (of the units v was parsed at) shows it as the user wrote it. */
function i64(v: bigint, field: string, decimals?: number): bigint {
  if (v < I64_MIN || v > I64_MAX)
    throw new DeleverageError(
      'OVERFLOW',
      decimals === undefined
        ? `${field}: ${v} units do not fit a 64-bit integer`
        : `${field}: ${formatUnits(v, decimals)} is beyond ±${formatUnits(I64_MAX, decimals)}, the most a 64-bit integer of ${decimals}-decimal units holds`,
    )
  return v
}

/** A settleAsset as given: a string (the core checks its characters: INVALID_ID). */
function settleAssetOf(v: unknown, where: string): string {
  if (typeof v !== 'string')
    throw new DeleverageError(
      'INVALID_ID',
      `${where}: settleAsset must be a string, got ${describe(v)}`,
    )
  return v
}

// ---- argument shapes at the API boundary (every refusal a DeleverageError) ----------------------

function invalidArgument(msg: string): DeleverageError {
  return new DeleverageError('INVALID_ARGUMENT', msg)
}

/** An options bag: undefined means {}, anything but a plain object is refused. */
function optionsArg<T extends object>(name: string, v: T | undefined): T {
  if (v === undefined) return {} as T
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalidArgument(`${name} must be an object, got ${shown(v)}`)
  return v
}

/**
 * A record keyed by symbol or account id. Only own enumerable keys are read, so an object with
 * another prototype (`{ __proto__: {...} }`, a class instance) would lose entries silently: refused.
 */
function recordArg(name: string, v: unknown): Array<[string, unknown]> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw invalidArgument(`${name} must be an object, got ${shown(v)}`)
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null)
    throw invalidArgument(`${name} must be a plain object (its prototype is not Object.prototype)`)
  return Object.entries(v)
}

/** A list argument: an array, never a string or other iterable. */
function listArg<T>(name: string, v: unknown): T[] {
  if (!Array.isArray(v)) throw invalidArgument(`${name} must be an array, got ${shown(v)}`)
  return v as T[]
}

/** An integer given as a number (safe integer) or bigint, within [min, max]. */
function intArg(name: string, v: unknown, min: bigint, max: bigint): bigint {
  let x: bigint
  if (typeof v === 'bigint') x = v
  else if (typeof v === 'number' && Number.isSafeInteger(v)) x = BigInt(v)
  else throw invalidArgument(`${name} must be an integer (number or bigint), got ${shown(v)}`)
  if (x < min || x > max)
    throw invalidArgument(`${name} must be within ${min} and ${max}, got ${x}`)
  return x
}

const U64_MAX = 2n ** 64n - 1n

/** A name (symbol, account id) as the API takes it. `__proto__` cannot be a key of a record (an
 * object literal makes it the prototype), so setMarks/setBalances could never name it: refused. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function nameArg(what: string, v: unknown): string {
  if (typeof v !== 'string')
    throw new DeleverageError('INVALID_ID', `${what} must be a string, got ${shown(v)}`)
  if (v === '__proto__')
    throw new DeleverageError(
      'INVALID_ID',
      `${what} "__proto__" cannot be used: it is not a key a plain object can hold`,
    )
  // More than 64 UTF-16 units is more than 64 bytes of UTF-8: refused before any conversion. A
  // lone surrogate has no UTF-8 form: napi would turn it into U+FFFD, so both engines refuse it here.
  if (v.length > 64 || LONE_SURROGATE.test(v))
    throw new DeleverageError(
      'INVALID_ID',
      `${what} must be 1–64 bytes of UTF-8 without spaces or control characters, got ${shown(v)}`,
    )
  return v
}

/** Options of `Engine.liquidationMap`: prices as the market's decimals; 50 buckets by default. */
export interface LiquidationMapOptions {
  from: Amount
  to: Amount
  buckets?: number
}

/** Long and short sums of one bucket (quantities in base units or contracts, notional in the
 * market's settlement asset, valued at each position's liquidation price). */
export interface LiquidationMapSums {
  longQty: string
  longNotional: string
  longCount: number
  shortQty: string
  shortNotional: string
  shortCount: number
  /** With `units: true` (EngineOptions): quantities in lots, notional in atoms. */
  units?: LiquidationMapSumsUnits
}

export interface LiquidationMapSumsUnits {
  longQty: bigint
  longNotional: bigint
  shortQty: bigint
  shortNotional: bigint
}

export interface LiquidationMapReport {
  symbol: string
  /** Bucket i covers [from, to) (prices as decimals). */
  buckets: Array<
    LiquidationMapSums & {
      from: string
      to: string
      /** With `units: true`: the sums' units and the bucket's edges in ticks. */
      units?: LiquidationMapSumsUnits & { from: bigint; to: bigint }
    }
  >
  /** Liquidation prices below the range, and at or above its end. */
  below: LiquidationMapSums
  above: LiquidationMapSums
}

// ---- runWaterfallAsync: the engine held by one call ----------------------------------------

interface Busy {
  running: boolean
}

/** Calls the engine makes itself while it holds the busy flag (the native task and its end). */
const BUSY_EXEMPT = new Set<PropertyKey>(['runWaterfallAsync', 'finishAsync'])

/** The native binding's own `ENGINE_BUSY` says the same. */
function engineBusy(): DeleverageError {
  return new DeleverageError(
    'ENGINE_BUSY',
    'runWaterfallAsync is running on this engine; wait for its promise',
  )
}

type WaterfallArgs = [model: number, ppmPerLot: bigint, capPpm: bigint, now: bigint]

/** runWaterfall's options as the core's arguments (checked before anything runs). */
function waterfallArgs(options: { fill?: FillModel; now?: number | bigint }): WaterfallArgs {
  options = optionsArg('options', options)
  const fill = options.fill ?? 'mark'
  const now = intArg('now', options.now ?? 0, 0n, U64_MAX)
  if (fill !== 'mark' && (typeof fill !== 'object' || fill === null))
    throw invalidArgument(`fill must be "mark" or { ppmPerLot, capPpm }, got ${shown(fill)}`)
  return fill === 'mark'
    ? [0, 0n, 0n, now]
    : [
        1,
        intArg('fill.ppmPerLot', fill.ppmPerLot, I64_MIN, I64_MAX),
        intArg('fill.capPpm', fill.capPpm, I64_MIN, I64_MAX),
        now,
      ]
}

/** Engine.marketInit's tier table: each tier's floor, mmr and imr in integer units (SPEC §4.2). */
function marketTiers(
  tiers: MarketConfig['tiers'],
  where: string,
  tierDecimals: number,
): {
  floors: BigInt64Array
  mmr: BigInt64Array
  imr: BigInt64Array
  maint: bigint[]
  withAmount: boolean
} {
  if (!Array.isArray(tiers) || tiers.length === 0)
    throw new DeleverageError('INVALID_TIERS', `${where}: tiers must be a non-empty array`)
  const withAmount = tiers.filter((t) => t?.maintAmount !== undefined).length
  if (withAmount !== 0 && withAmount !== tiers.length) {
    throw new DeleverageError(
      'INVALID_TIERS',
      `${where}: give maintAmount on every tier or on none`,
    )
  }
  const n = tiers.length
  const floors = new BigInt64Array(n)
  const mmr = new BigInt64Array(n)
  const imr = new BigInt64Array(n)
  const maint: bigint[] = []
  tiers.forEach((t, i) => {
    const f = `${where}: tiers[${i}]`
    if (typeof t !== 'object' || t === null)
      throw new DeleverageError('INVALID_TIERS', `${f}: expected an object, got ${describe(t)}`)
    floors[i] = i64(
      parseUnits(t.floor, tierDecimals, `${f}.floor`, { nonNegative: 'INVALID_TIERS' }),
      `${f}.floor`,
      tierDecimals,
    )
    mmr[i] = i64(parseUnits(t.mmr, RATE_DECIMALS, `${f}.mmr`), `${f}.mmr`, RATE_DECIMALS)
    if (t.imr !== undefined && t.maxLeverage !== undefined)
      throw new DeleverageError('INVALID_TIERS', `${f}: give imr or maxLeverage, not both`)
    if (t.imr !== undefined) {
      imr[i] = i64(parseUnits(t.imr, RATE_DECIMALS, `${f}.imr`), `${f}.imr`, RATE_DECIMALS)
    } else if (t.maxLeverage !== undefined) {
      // imr = ceil(1 / leverage) in rate units; leverage parsed with up to 8 decimals.
      const lev = parseUnits(t.maxLeverage, RATE_DECIMALS, `${f}.maxLeverage`, {
        positive: 'INVALID_TIERS',
      })
      imr[i] = (RATE_SCALE * RATE_SCALE + lev - 1n) / lev
    } else {
      imr[i] = mmr[i]! * 2n < RATE_SCALE ? mmr[i]! * 2n : RATE_SCALE
    }
    if (withAmount)
      maint.push(parseUnits(t.maintAmount, tierDecimals + RATE_DECIMALS, `${f}.maintAmount`))
  })
  return { floors, mmr, imr, maint, withAmount: withAmount !== 0 }
}

/** One of a market field's two spellings, or INVALID_ARGUMENT naming both. */
function marketChoice<A extends string, B extends string>(
  where: string,
  field: string,
  value: unknown,
  a: A,
  b: B,
): A | B {
  if (value !== a && value !== b)
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `${where}: ${field} must be "${a}" or "${b}", got ${describe(value)}`,
    )
  return value as A | B
}
