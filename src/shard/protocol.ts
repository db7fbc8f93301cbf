// The shard topics' messages, version 1 (docs/SCALE-OUT.md §2): JSON, every amount a decimal
// string, every message tagged with `v` so a reader can refuse what it does not know. Pure: no
// Kafka here, so the library, the shard, the coordinator and the tests share one definition.

import type { AdlRanking, AdlQueueEntry, MarketConfig, WaterfallOptions } from '../engine.js'
import type { OrderSide, OrderVerdictCode, PreTradeOptions } from '../pretrade-api.js'

export const SCHEMA_VERSION = 1

/** Topic names under a prefix (default "risk"): `risk.in.v1`, `risk.out.v1`, `risk.adl.v1`. */
export function topics(prefix = 'risk'): { input: string; output: string; adl: string } {
  return { input: `${prefix}.in.v1`, output: `${prefix}.out.v1`, adl: `${prefix}.adl.v1` }
}

// ---- the input topic (keyed by account; broadcasts carry their own sequence) ------------------

/** First message of every partition: the markets and the waterfall every shard runs. */
export interface SetupMessage {
  v: 1
  type: 'setup'
  quoteDecimals?: number
  markets: MarketConfig[]
  waterfall: WaterfallOptions & { ranking: AdlRanking }
  /** Deposited into each shard's fund (each shard holds its own fund: SCALE-OUT.md §4). */
  insuranceFund: string
  /** A margin ratio (MM / equity, e.g. "0.8"): scopes at or above it and not liquidatable are in
   * `warning` (SPEC §5.3). Omitted: statuses are healthy or liquidatable only. */
  warningRatio?: string
}
/** Money in (positive) or out; creates the account on its first transfer. */
export interface TransferMessage {
  v: 1
  type: 'transfer'
  account: string
  amount: string
}
/** A trade from the host's matching engine (qty signed, > 0 bought). */
export interface FillMessage {
  v: 1
  type: 'fill'
  account: string
  symbol: string
  qty: string
  price: string
}
/** Written into every partition by the mark publisher; `seq` strictly increases. */
export interface MarkMessage {
  v: 1
  type: 'mark'
  seq: number
  marks: Record<string, string>
}
export interface FundingMessage {
  v: 1
  type: 'funding'
  seq: number
  symbol: string
  rate: string
}
/** Coordinator → every partition: offer your queue on `side` of `symbol` up to `need`. */
export interface AdlCallMessage {
  v: 1
  type: 'adlCall'
  mark: number
  symbol: string
  side: 'long' | 'short'
  need: string
  /** Pro rata (prorata.ts): which of the three phases; `need` is then N = min(need, T). */
  prorata?: { phase: 'total' } | { phase: 'floors' | 'remainders'; total: string; left?: string }
}
/** Coordinator → every partition: the merged fills (qty signed as each counterparty's position,
 * in merged order) and each partition's close of its liquidator's position. */
export interface AdlAllocMessage {
  v: 1
  type: 'adlAlloc'
  mark: number
  symbol: string
  price: string
  fills: Array<{ account: string; qty: string }>
  liquidatorClose: Record<string, string>
  /** Pro rata: no fills listed; each shard gives its positions floor(N·q/T), one lot more to the
   * accounts in `bonus` (the largest remainders). */
  prorata?: { side: 'long' | 'short'; need: string; total: string; bonus: string[] }
}
/** Coordinator → every partition: the ADL phase of mark `mark` is over. */
export interface AdlDoneMessage {
  v: 1
  type: 'adlDone'
  mark: number
}

// ---- orders (SPEC §17): the pre-trade operations, keyed by account -------------------------------

/** A market's pre-trade settings, written into every partition (`maxOpenInterest` is per shard). */
export interface ConfigurePreTradeMessage {
  v: 1
  type: 'configurePreTrade'
  seq: number
  symbol: string
  options: PreTradeOptions
}
export interface SetLeverageMessage {
  v: 1
  type: 'setLeverage'
  account: string
  symbol: string
  leverage: number
}
/** Orders of one account, named by the host's own `ref` (unique among the account's open orders:
 * the engine's ids are per shard, the refs are the host's). */
export interface PlaceOrdersMessage {
  v: 1
  type: 'placeOrders'
  account: string
  orders: Array<{
    ref: string
    symbol: string
    side: OrderSide
    qty: string
    price?: string
    reduceOnly?: boolean
  }>
}
export interface CancelOrdersMessage {
  v: 1
  type: 'cancelOrders'
  account: string
  refs: string[]
}
/** Fills of open orders of one account: `qty` positive, at most what is left of the order. */
export interface FillOrdersMessage {
  v: 1
  type: 'fillOrders'
  account: string
  fills: Array<{ ref: string; qty: string; price: string }>
}

export type InputMessage =
  | SetupMessage
  | ConfigurePreTradeMessage
  | SetLeverageMessage
  | PlaceOrdersMessage
  | CancelOrdersMessage
  | FillOrdersMessage
  | TransferMessage
  | FillMessage
  | MarkMessage
  | FundingMessage
  | AdlCallMessage
  | AdlAllocMessage
  | AdlDoneMessage

// ---- the ADL topic (shards → coordinator, one partition) --------------------------------------

/** After a mark's liquidations: the shard's liquidator positions and the marks. */
export interface ReportMessage {
  v: 1
  type: 'report'
  partition: number
  partitions: number
  mark: number
  ranking: AdlRanking
  symbols: string[]
  marks: Record<string, string>
  enginePositions: Record<string, string>
}
export interface OfferMessage {
  v: 1
  type: 'offer'
  partition: number
  mark: number
  symbol: string
  entries: AdlQueueEntry[]
  /** Pro rata, phase `total`: Σ |q| of the side; phase `floors`: Σ floor(N·q/T). */
  total?: string
  floors?: string
}
export type AdlTopicMessage = ReportMessage | OfferMessage

// ---- the output topic (partition N = shard N) -------------------------------------------------

/** Every output carries `id` = "partition:inputOffset:index", unique and the same on replay. */
export type OutputMessage = { v: 1; id: string; mark?: number } & (
  | {
      type: 'liquidationOrder'
      account: string
      symbol: string | null
      takeover: boolean
      orders: Array<{ symbol: string; qty: string }>
    }
  | {
      type: 'event'
      kind: string
      account: string | null
      symbol: string | null
      qty: string | null
      price: string | null
      amount: string
    }
  | { type: 'rejected'; input: string; code: string; message: string }
  | {
      /** A scope (cross account, or isolated position) moved between statuses at a mark. */
      type: 'statusChange'
      account: string
      symbol: string | null
      from: ScopeStatus
      to: ScopeStatus
    }
  | {
      /** A scope's status got worse at a mark: the account holder's notice, with the numbers. */
      type: 'marginCall'
      account: string
      symbol: string | null
      level: Exclude<ScopeStatus, 'healthy'>
      equity: string
      maintenanceMargin: string
      marginRatio: string | null
      shortfall: string
    }
  | {
      type: 'orderVerdict'
      account: string
      ref: string
      symbol: string
      verdict: OrderVerdictCode
      cost: string
      available: string
    }
  | { type: 'leverage'; account: string; symbol: string; leverage: number; verdict: string }
  | {
      /** An open order gone: cancelled on request, or by its account's liquidation (SPEC §17.9). */
      type: 'orderCancelled'
      account: string
      ref: string
      symbol: string
      side: OrderSide
      qty: string
      price: string
      reason: 'request' | 'liquidation'
    }
  | { type: 'markDone'; seq: number; stateHash: string }
)

/** Watch statuses (SPEC §14; `warning` with the setup's `warningRatio`, SPEC §5.3). */
export type ScopeStatus = 'healthy' | 'warning' | 'liquidatable'

const INPUT_TYPES = new Set([
  'setup',
  'configurePreTrade',
  'setLeverage',
  'placeOrders',
  'cancelOrders',
  'fillOrders',
  'transfer',
  'fill',
  'mark',
  'funding',
  'adlCall',
  'adlAlloc',
  'adlDone',
])

export function encode(m: InputMessage | AdlTopicMessage | OutputMessage): Buffer {
  return Buffer.from(JSON.stringify(m))
}

/** Decode an input message; anything else (other version, unknown type) is an Error. */
export function decodeInput(b: Buffer | null): InputMessage {
  const m = JSON.parse(b?.toString() ?? 'null') as InputMessage
  if (m?.v !== SCHEMA_VERSION) throw new Error(`unsupported message version ${m?.v}`)
  if (!INPUT_TYPES.has(m.type)) throw new Error(`unknown message type ${m.type}`)
  return m
}

export function decode<T>(b: Buffer | null): T {
  const m = JSON.parse(b?.toString() ?? 'null') as { v?: number }
  if (m?.v !== SCHEMA_VERSION) throw new Error(`unsupported message version ${m?.v}`)
  return m as T
}

/**
 * Kafka's default partitioner for keyed records (murmur2 of the key's UTF-8 bytes, positive,
 * modulo the partition count): the same as the Java client's and KafkaJS's DefaultPartitioner,
 * so the partition that owns an account is computable anywhere.
 */
export function partitionOf(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}

function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995
  const n = data.length
  let h = 0x9747b28c ^ n
  const whole = n & ~3
  for (let i = 0; i < whole; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24)
    k = Math.imul(k, m)
    k ^= k >>> 24
    k = Math.imul(k, m)
    h = Math.imul(h, m) ^ k
  }
  const rest = n & 3
  if (rest === 3) h ^= data[whole + 2]! << 16
  if (rest >= 2) h ^= data[whole + 1]! << 8
  if (rest >= 1) h = Math.imul(h ^ data[whole]!, m)
  h ^= h >>> 13
  h = Math.imul(h, m)
  h ^= h >>> 15
  return h
}

/** An output before the shard gives it its `id` (and `v`). */
export type OutputBody = OutputMessage extends infer O
  ? O extends unknown
    ? Omit<O, 'id' | 'v'>
    : never
  : never
