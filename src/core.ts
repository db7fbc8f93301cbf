// The integer-level engine interface that both implementations provide: the Rust core through
// the napi binding (index.js) and the TypeScript engine in src/fallback. Everything here is in
// integer units (ticks, lots, atoms, rate units of 1e-8, ppm); decimal strings are handled by the
// public API in src/engine.ts. docs/SPEC.md defines every formula; the two must agree bit for bit.

import { CROSS, EVENT_KINDS, FLAG_COST_BASIS, FLAG_ISOLATED } from './generated/tables.js'

/** Market definition in integer units (SPEC §2, §4). */
export interface MarketInit {
  symbol: string
  /** 0 = linear, 1 = inverse */
  kind: number
  priceDecimals: number
  qtyDecimals: number
  /** Inverse: quote units per contract; linear: 1. */
  contractSize: bigint
  /** 0 = mark, 1 = entry */
  basis: number
  /** 0 = deduction, 1 = step */
  form: number
  /** Tier floors in tier units (linear: lots·ticks; inverse: atoms). */
  floors: BigInt64Array
  /** Maintenance rates, 1e-8 units. */
  mmr: BigInt64Array
  /** Initial rates, 1e-8 units. */
  imr: BigInt64Array
  /** Given maintenance amounts in tier units × 1e-8 (may exceed i64); omit to derive them. */
  maintAmount?: Array<bigint>
  /** Mark in ticks. */
  mark: bigint
  /** Price grid in ticks (SPEC §2.5): marks are multiples of it; omit for 1. */
  tickSize?: bigint
  /** Settlement asset (SPEC §5.4); omit for 'quote' (linear) or the market's symbol (inverse). */
  settleAsset?: string
  /** Taker fee rate, 1e-8 units, counted in the liquidation condition (OKX, Gate; SPEC §19):
   * added to every tier's maintenance rate; omit for 0. */
  takerFee?: bigint
}

/** Margin rows: cross accounts (market = CROSS) and isolated positions. */
export interface MarginColumns {
  account: Uint32Array
  /** CROSS (0xffffffff) for a cross account row, else the isolated position's market. */
  market: Uint32Array
  equity: BigInt64Array
  maintenanceMargin: BigInt64Array
  /** MM / equity in ppm rounded up; -1 when equity ≤ 0 (unbounded). */
  marginRatioPpm: BigInt64Array
  /** 1 when liquidatable (equity ≤ MM with positions), else 0. */
  liquidatable: Uint8Array
  /** 0 ok; 1 OVERFLOW: equity or MM leaves i64 (equity and MM 0, ratio -1; SPEC §5.5). */
  status: Uint8Array
}

/** Per-position risk columns (SPEC §6). Prices are ticks; 0 means none in range. */
export interface PositionRiskColumns {
  account: Uint32Array
  market: Uint32Array
  qty: BigInt64Array
  cost: BigInt64Array
  isolated: Uint8Array
  isolatedMargin: BigInt64Array
  upnl: BigInt64Array
  maintenanceMargin: BigInt64Array
  liquidationPrice: BigInt64Array
  liquidationPriceNearest: BigInt64Array
  bankruptcyPrice: BigInt64Array
  bankruptcyPriceNearest: BigInt64Array
  /** Why no liquidation price: a code of LIQUIDATION_PRICE_REASONS (0 = it has one, SPEC §6.4). */
  liquidationPriceReason: Uint8Array
}

/** Waterfall configuration in integer units (SPEC §8). */
export interface WaterfallInit {
  /** Liquidation fee rate, 1e-8 units. */
  feeRate: bigint
  /** Buffer over maintenance margin that a partial liquidation restores, 1e-8 units. */
  bufferRate: bigint
  /** 0 bitmex, 1 binance, 2 hyperliquid, 3 prorata */
  ranking: number
  adlAtMark: boolean
  /** 0 exhausted, 1 drawdown */
  policy: number
  triggerPpm: bigint
  stopPpm: bigint
  window: bigint
}

/** Event kinds (SPEC §8–§10) by code, generated from the Rust `EventKind` (src/generated). */
export { EVENT_KINDS }
export type EventKind = (typeof EVENT_KINDS)[number]

export interface EventColumns {
  seq: BigInt64Array
  kind: Uint8Array
  account: Uint32Array
  market: Uint32Array
  counterparty: Uint32Array
  qty: BigInt64Array
  price: BigInt64Array
  amount: BigInt64Array
}

export interface Ledger {
  insuranceFund: bigint
  settlement: bigint
  residue: bigint
  cashTotal: bigint
  adlMode: boolean
  /** The seq the next event will get. */
  nextSeq: bigint
}

export interface PlanColumns {
  takeover: boolean
  market: Uint32Array
  qty: BigInt64Array
}

export interface QueueColumns {
  account: Uint32Array
  qty: BigInt64Array
  lights: Uint8Array
  lightsByCount: Uint8Array
  /** Exact scores num/den (den > 0), i128: what partitions exchange to merge queues. */
  scoreNum: Array<bigint>
  scoreDen: Array<bigint>
}

export interface DeleveragePlanColumns {
  reached: boolean
  fees: bigint
  equity: bigint
  maintenanceMargin: bigint
  notional: bigint
  orderMarket: Uint32Array
  orderQty: BigInt64Array
  positionMarket: Uint32Array
  positionQty: BigInt64Array
  /** Conservative liquidation price after the plan; 0 = none in range. */
  liquidationPrice: BigInt64Array
}

/** Scopes whose liquidatable status changed since the last report (SPEC §14). */
export interface WatchChanges {
  account: Uint32Array
  /** CROSS for a cross account, else the isolated position's market. */
  market: Uint32Array
  /** 1 newly liquidatable, 0 no longer liquidatable. */
  liquidatable: Uint8Array
}

export { CROSS, FLAG_COST_BASIS, FLAG_ISOLATED }

/** What the Rust binding's `NativeEngine` and the TypeScript `JsEngine` both implement. */
export interface CoreEngine {
  addMarket(spec: MarketInit): number
  setMarks(markets: Uint32Array, marks: BigInt64Array): void
  /** Returns the index of the first new account; indices are dense and never reused. */
  addAccounts(ids: Array<string>, balances: BigInt64Array): number
  /** addAccounts + setPositions all or nothing; `account` indexes the batch (0 = ids[0]). */
  addAccountsWithPositions(
    ids: Array<string>,
    balances: BigInt64Array,
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): number
  setBalances(accounts: Uint32Array, balances: BigInt64Array): void
  removeAccounts(accounts: Uint32Array): void
  setPositions(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): void
  /** Liquidatable rows worst first; with warningPpm, then the warning rows (liquidatable = 0). */
  sweep(warningPpm: bigint | null): MarginColumns
  /** The sweep on `threads` threads (1–256); the output never depends on the count. The
   * TypeScript engine runs it on one. */
  sweepParallel(warningPpm: bigint | null, threads: number): MarginColumns
  /** The sweep off the JS thread (native: the libuv pool) on the state as it is at the call;
   * writes made meanwhile do not affect it. The TypeScript engine computes it before returning. */
  sweepAsync(warningPpm: bigint | null, threads: number): Promise<MarginColumns>
  /** Cross margin state of the given accounts (every live account in index order when null). */
  accountRows(accounts: Uint32Array | null): MarginColumns
  /** Wallet balances of the given accounts. */
  balances(accounts: Uint32Array): BigInt64Array
  positionRisks(accounts: Uint32Array | null): PositionRiskColumns
  accountIndex(id: string): number | null
  accountId(index: number): string
  marketIndex(symbol: string): number | null
  accountCount(): number
  positionCount(): number

  // ---- the waterfall (SPEC §8–§10); isolatedMarket = CROSS for a cross account -------------
  configureWaterfall(config: WaterfallInit): void
  depositFund(amount: bigint, now: bigint): void
  /** model 0 = at mark, 1 = impact (ppmPerLot, capPpm). Returns the first new event's seq. */
  runWaterfall(model: number, ppmPerLot: bigint, capPpm: bigint, now: bigint): bigint
  /** runWaterfall off the JS thread (native only; `Engine.runWaterfallAsync` defers the
   * TypeScript engine's sync call instead). The engine is the task's until `finishAsync`. */
  runWaterfallAsync?(model: number, ppmPerLot: bigint, capPpm: bigint, now: bigint): Promise<bigint>
  finishAsync?(): void
  planLiquidation(account: number, isolatedMarket: number): PlanColumns
  settleLiquidationFill(
    account: number,
    isolatedMarket: number,
    market: number,
    qty: bigint,
    price: bigint,
  ): void
  takeOver(account: number, isolatedMarket: number): void
  settleLiquidatorFill(market: number, qty: bigint, price: bigint): void
  /** @deprecated Renamed `settleLiquidatorFill` (the venue's liquidation engine is the liquidator). */
  settleEngineFill(market: number, qty: bigint, price: bigint): void
  autoDeleverage(market: number): void
  /** One merged ADL fill inside a shard (SPEC §16): fee-free close of `account` at `price`. */
  settleAdlFill(account: number, market: number, qty: bigint, price: bigint): void
  socialiseLoss(market: number, amount: bigint, beneficiary: number): void
  settleFunding(market: number, rate: bigint): void
  events(fromSeq: bigint): EventColumns
  ledger(): Ledger
  /** The sequence number the next event will get: O(1), where `ledger()` also sums the cash. */
  nextSeq(): bigint
  /** Drop the events with seq < beforeSeq (at most nextSeq()); numbering goes on (SPEC §8.6). */
  trimEvents(beforeSeq: bigint): void
  /** The liquidator's position: [qty, cost basis]. */
  liquidatorPosition(market: number): BigInt64Array
  /** @deprecated Renamed `liquidatorPosition`. */
  enginePosition(market: number): BigInt64Array
  adlQueue(market: number, side: number, ranking: number): QueueColumns
  /** kind 0 margin ratio, 1 leverage, 2 liquidation distance of `market` (all targets in ppm). */
  planDeleveraging(
    account: number,
    kind: number,
    targetPpm: bigint,
    market: number,
    feeRate: bigint,
  ): DeleveragePlanColumns

  // ---- state hash and snapshots (SPEC §12); restore is the static `restore(bytes)` of each ----
  /** SHA-256 of the canonical state bytes as 64 hex digits: equal states, equal hashes, in both engines. */
  stateHash(): string
  /** Versioned, checksummed snapshot of the whole state; either engine restores it. */
  snapshot(): Uint8Array

  // ---- the liquidation watch (SPEC §14) and batched fills (SPEC §15) ----------------------
  /** Move marks (as setMarks) and return the cross accounts / isolated positions whose
   * liquidatable status changed since the previous call, by (account, market). The first call
   * builds the index and reports every liquidatable scope. */
  updateMarks(markets: Uint32Array, marks: BigInt64Array): WatchChanges
  /** The liquidatable rows, worst first: exactly sweep(null), from the watch. */
  liquidatable(): MarginColumns
  /** Apply fills: account[i] traded qty[i] lots (signed, > 0 bought) of market[i] at price[i]
   * ticks; all or nothing. */
  applyFills(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
  ): void
  // Pre-trade risk (SPEC §17, src/pretrade-core.ts).
  configurePreTrade(market: number, config: PreTradeInit): void
  leverage(account: number, market: number): number
  /** The verdict code (0 accepted; the state changes only then). */
  setLeverage(account: number, market: number, leverage: number): number
  checkOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
    sequential: boolean,
  ): OrderCheckColumns
  /** One order checked as checkOrders does: [verdict, openQty, initialMargin, openLoss, fee,
   * available] (the single-order latency path: no columns in or out). */
  checkOrder(
    account: number,
    market: number,
    qty: bigint,
    price: bigint,
    reduceOnly: boolean,
  ): BigInt64Array
  placeOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
  ): OrderCheckColumns
  cancelOrders(ids: BigInt64Array): void
  fillOrders(ids: BigInt64Array, qty: BigInt64Array, price: BigInt64Array): void
  maxOrderQty(
    account: number,
    market: number,
    buy: boolean,
    price: bigint,
    reduceOnly: boolean,
  ): bigint
  accountMargin(account: number): BigInt64Array
  openOrders(account: number): BigInt64Array
  /** The account after the orders fill, flattened (crates/node/src/pretrade.rs what_if). */
  whatIf(
    account: number,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
  ): BigInt64Array

  // ---- the liquidation map (SPEC §18) -----------------------------------------------------
  /** Long and short quantity, notional and count whose liquidation price lies in each of
   * `buckets` buckets of [from, to) ticks of market m. */
  liquidationMap(market: number, from: bigint, to: bigint, buckets: number): LiquidationMapColumns
}

/** A market's pre-trade settings in integer units (SPEC §17.1). */
export interface PreTradeInit {
  defaultLeverage: number
  priceBandPpm: bigint
  maxOpenInterest: bigint
  maxAccountPosition: bigint
  excludeProfit: boolean
  orderCostFeeRate: bigint
}

/** Verdicts of checkOrders/placeOrders (SPEC §17.5); `id` is empty for checkOrders. */
export interface OrderCheckColumns {
  verdict: Uint8Array
  openQty: BigInt64Array
  initialMargin: BigInt64Array
  openLoss: BigInt64Array
  fee: BigInt64Array
  available: BigInt64Array
  id: BigInt64Array
}

/** The liquidation map's columns (SPEC §18): `edges` has buckets + 1 ticks; every other column
 * buckets + 2 rows — [0] below `from`, [1..=buckets] the buckets, [buckets + 1] at or above `to`. */
export interface LiquidationMapColumns {
  edges: BigInt64Array
  longQty: BigInt64Array
  longNotional: BigInt64Array
  longCount: Uint32Array
  shortQty: BigInt64Array
  shortNotional: BigInt64Array
  shortCount: Uint32Array
}
