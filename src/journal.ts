// The operation journal (SPEC §13): every mutating CoreEngine call — its arguments, what the
// engine decided (its result, or the error code and message it rejected the call with) and the
// events it emitted — in one canonical binary encoding, between the state hash it started from
// and the state hash it ended at. Replaying it on the starting snapshot, with either engine,
// must reproduce every decision, every event and the final hash; anything else is
// JOURNAL_MISMATCH. It lives over CoreEngine, so it is the same for both engines.

import type {
  CoreEngine,
  WatchChanges,
  DeleveragePlanColumns,
  EventColumns,
  Ledger,
  LiquidationMapColumns,
  MarginColumns,
  MarketInit,
  OrderCheckColumns,
  PreTradeInit,
  PlanColumns,
  PositionRiskColumns,
  QueueColumns,
  WaterfallInit,
} from './core.js'
import { DeleverageError } from './fallback/errors.js'
import { hex, sha256 } from './fallback/snapshot.js'

const MAGIC = 'DLVGJRNL'
const VERSION = 1

/** The mutating CoreEngine methods, by opcode (append only: the codes are part of the format). */
export const JOURNAL_OPS = [
  'addMarket',
  'setMarks',
  'addAccounts',
  'setBalances',
  'removeAccounts',
  'setPositions',
  'configureWaterfall',
  'depositFund',
  'runWaterfall',
  'settleLiquidationFill',
  'takeOver',
  'settleLiquidatorFill',
  'autoDeleverage',
  'socialiseLoss',
  'settleFunding',
  'addAccountsWithPositions',
  'updateMarks',
  'applyFills',
  'trimEvents',
  'settleAdlFill',
  'configurePreTrade',
  'setLeverage',
  'placeOrders',
  'cancelOrders',
  'fillOrders',
] as const
export type JournalOp = (typeof JOURNAL_OPS)[number]

/** One journalled call. */
export interface JournalEntry {
  op: JournalOp
  args: unknown[]
  /** The call's result (ok), or the error it was rejected with. */
  outcome: { ok: unknown } | { code: string; message: string }
  /** Events the call emitted: seq of the first, then the columns. */
  firstSeq: bigint
  events: EventColumns
}

export interface DecodedJournal {
  baseHash: string
  finalHash: string
  entries: JournalEntry[]
}

function journalError(code: 'JOURNAL_INVALID' | 'JOURNAL_MISMATCH', msg: string): DeleverageError {
  return new DeleverageError(code, msg)
}

// ---- the value encoding: a tag byte, then the value ----------------------------------------------

const T_NULL = 0
const T_U32S = 1
const T_I64S = 2
const T_U8S = 3
const T_BOOL = 4
const T_NUM = 5
const T_BIG = 6
const T_UNDEF = 7
const T_STR = 8
const T_ARR = 9
const T_OBJ = 10

class Out {
  parts: Uint8Array[] = []
  private scratch = new DataView(new ArrayBuffer(8))
  u8(v: number): void {
    this.parts.push(Uint8Array.of(v))
  }
  u32(v: number): void {
    this.scratch.setUint32(0, v, true)
    this.parts.push(new Uint8Array(this.scratch.buffer.slice(0, 4)))
  }
  u64(v: bigint): void {
    this.scratch.setBigUint64(0, v, true)
    this.parts.push(new Uint8Array(this.scratch.buffer.slice(0, 8)))
  }
  f64(v: number): void {
    this.scratch.setFloat64(0, v, true)
    this.parts.push(new Uint8Array(this.scratch.buffer.slice(0, 8)))
  }
  raw(b: Uint8Array): void {
    this.parts.push(b.slice())
  }
  str(s: string): void {
    this.u32(s.length)
    const b = new Uint8Array(s.length * 2)
    const dv = new DataView(b.buffer)
    for (let i = 0; i < s.length; i++) dv.setUint16(i * 2, s.charCodeAt(i), true)
    this.parts.push(b)
  }
  bytes(): Uint8Array {
    let n = 0
    for (const p of this.parts) n += p.length
    const out = new Uint8Array(n)
    let o = 0
    for (const p of this.parts) {
      out.set(p, o)
      o += p.length
    }
    return out
  }
}

/** Encode a call argument or result; false when it is not a value the journal can hold. */
function encodeValue(o: Out, v: unknown): boolean {
  if (v === null) o.u8(T_NULL)
  else if (v === undefined) o.u8(T_UNDEF)
  else if (typeof v === 'boolean') {
    o.u8(T_BOOL)
    o.u8(v ? 1 : 0)
  } else if (typeof v === 'number') {
    o.u8(T_NUM)
    o.f64(v)
  } else if (typeof v === 'bigint') {
    o.u8(T_BIG)
    o.u8(v < 0n ? 1 : 0)
    let m = v < 0n ? -v : v
    const bytes: number[] = []
    while (m > 0n) {
      bytes.push(Number(m & 0xffn))
      m >>= 8n
    }
    if (bytes.length > 255) return false
    o.u8(bytes.length)
    o.raw(Uint8Array.from(bytes))
  } else if (typeof v === 'string') {
    o.u8(T_STR)
    o.str(v)
  } else if (v instanceof Uint32Array || v instanceof BigInt64Array || v instanceof Uint8Array) {
    o.u8(v instanceof Uint32Array ? T_U32S : v instanceof BigInt64Array ? T_I64S : T_U8S)
    o.u32(v.length)
    o.raw(new Uint8Array(v.buffer, v.byteOffset, v.byteLength))
  } else if (Array.isArray(v)) {
    o.u8(T_ARR)
    o.u32(v.length)
    for (const x of v) if (!encodeValue(o, x)) return false
  } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
    // Plain objects (MarketInit, WaterfallInit): keys sorted, so the bytes do not depend on the
    // order the caller wrote them in.
    const keys = Object.keys(v).sort()
    o.u8(T_OBJ)
    o.u32(keys.length)
    for (const k of keys) {
      o.str(k)
      if (!encodeValue(o, (v as Record<string, unknown>)[k])) return false
    }
  } else return false
  return true
}

class In {
  pos = 0
  private readonly dv: DataView
  constructor(readonly b: Uint8Array) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  }
  need(n: number): number {
    if (this.b.length - this.pos < n)
      throw journalError(
        'JOURNAL_INVALID',
        `journal truncated at offset ${this.pos} (${n} bytes needed)`,
      )
    const at = this.pos
    this.pos += n
    return at
  }
  u8(): number {
    return this.b[this.need(1)] as number
  }
  u32(): number {
    return this.dv.getUint32(this.need(4), true)
  }
  u64(): bigint {
    return this.dv.getBigUint64(this.need(8), true)
  }
  f64(): number {
    return this.dv.getFloat64(this.need(8), true)
  }
  str(): string {
    const n = this.u32()
    const at = this.need(n * 2)
    let s = ''
    for (let i = 0; i < n; i++) s += String.fromCharCode(this.dv.getUint16(at + i * 2, true))
    return s
  }
  /** A copy of n bytes, aligned, for typed-array views. */
  copy(n: number): ArrayBuffer {
    const at = this.need(n)
    return this.b.slice(at, at + n).buffer
  }
}

function decodeValue(i: In, depth = 0): unknown {
  if (depth > 8) throw journalError('JOURNAL_INVALID', `values nested too deep at offset ${i.pos}`)
  const at = i.pos
  const tag = i.u8()
  switch (tag) {
    case T_NULL:
      return null
    case T_UNDEF:
      return undefined
    case T_BOOL:
      return i.u8() === 1
    case T_NUM:
      return i.f64()
    case T_BIG: {
      const neg = i.u8() === 1
      const n = i.u8()
      let m = 0n
      const at2 = i.need(n)
      for (let k = n - 1; k >= 0; k--) m = (m << 8n) | BigInt(i.b[at2 + k] as number)
      return neg ? -m : m
    }
    case T_STR:
      return i.str()
    case T_U32S: {
      const n = i.u32()
      return new Uint32Array(i.copy(n * 4))
    }
    case T_I64S: {
      const n = i.u32()
      return new BigInt64Array(i.copy(n * 8))
    }
    case T_U8S: {
      const n = i.u32()
      return new Uint8Array(i.copy(n))
    }
    case T_ARR: {
      const n = i.u32()
      const out: unknown[] = []
      for (let k = 0; k < n; k++) out.push(decodeValue(i, depth + 1))
      return out
    }
    case T_OBJ: {
      const n = i.u32()
      const out: Record<string, unknown> = {}
      for (let k = 0; k < n; k++) {
        const key = i.str()
        out[key] = decodeValue(i, depth + 1)
      }
      return out
    }
    default:
      throw journalError('JOURNAL_INVALID', `unknown value tag ${tag} at offset ${at}`)
  }
}

const EVENT_FIELDS = [
  'seq',
  'kind',
  'account',
  'market',
  'counterparty',
  'qty',
  'price',
  'amount',
] as const

function encodeEvents(o: Out, ev: EventColumns): void {
  o.u32(ev.kind.length)
  for (const f of EVENT_FIELDS.slice(1)) {
    const col = ev[f]
    o.raw(new Uint8Array(col.buffer, col.byteOffset, col.byteLength))
  }
}

function decodeEvents(i: In, firstSeq: bigint): EventColumns {
  const n = i.u32()
  const kind = new Uint8Array(i.copy(n))
  const account = new Uint32Array(i.copy(n * 4))
  const market = new Uint32Array(i.copy(n * 4))
  const counterparty = new Uint32Array(i.copy(n * 4))
  const qty = new BigInt64Array(i.copy(n * 8))
  const price = new BigInt64Array(i.copy(n * 8))
  const amount = new BigInt64Array(i.copy(n * 8))
  const seq = BigInt64Array.from({ length: n }, (_, k) => firstSeq + BigInt(k))
  return { seq, kind, account, market, counterparty, qty, price, amount }
}

function hexToBytes(h: string): Uint8Array {
  return Uint8Array.from(Buffer.from(h, 'hex'))
}

// ---- recording -------------------------------------------------------------------------------------

/** A journal being written: entries encoded as they happen. */
export class JournalRecorder {
  private readonly out = new Out()
  private count = 0
  /** A call whose arguments could not be encoded was accepted by the engine: the journal is incomplete. */
  broken: string | null = null

  constructor(
    readonly baseHash: string,
    /** The seq the next event will get. */
    public nextSeq: bigint,
  ) {}

  /** Run `call` (one mutating core method) and record it with its outcome and events. */
  record<T>(core: CoreEngine, op: JournalOp, args: unknown[], call: () => T): T {
    const entry = new Out()
    entry.u8(JOURNAL_OPS.indexOf(op))
    entry.u8(args.length)
    let encodable = true
    for (const a of args) if (!encodeValue(entry, a)) encodable = false
    let result: T
    try {
      result = call()
    } catch (e) {
      if (encodable) {
        const err = e as { code?: unknown; message?: unknown }
        entry.u8(1)
        entry.str(typeof err.code === 'string' ? err.code : 'UNCODED')
        entry.str(typeof err.message === 'string' ? err.message : String(e))
        this.finish(entry, core)
      }
      throw e
    }
    if (!encodable) {
      this.broken ??= `${op} was accepted with arguments the journal cannot encode`
      return result
    }
    entry.u8(0)
    encodeValue(entry, result)
    this.finish(entry, core)
    return result
  }

  private finish(entry: Out, core: CoreEngine): void {
    const ev = core.events(this.nextSeq)
    entry.u64(this.nextSeq)
    encodeEvents(entry, ev)
    this.nextSeq += BigInt(ev.kind.length)
    this.out.parts.push(entry.bytes())
    this.count++
  }

  /** The journal so far, ending at `finalHash` (the engine's current state hash), checksummed. */
  seal(finalHash: string): Uint8Array {
    if (this.broken !== null)
      throw journalError('JOURNAL_INVALID', `the journal is incomplete: ${this.broken}`)
    const o = new Out()
    o.raw(new TextEncoder().encode(MAGIC))
    o.u32(VERSION)
    o.raw(hexToBytes(this.baseHash))
    o.u64(BigInt(this.count))
    o.raw(this.out.bytes())
    o.raw(hexToBytes(finalHash))
    const body = o.bytes()
    const out = new Uint8Array(body.length + 32)
    out.set(body)
    out.set(sha256(body), body.length)
    return out
  }
}

/** Decode and check a journal (magic, version, checksum, structure). */
export function decodeJournal(bytes: Uint8Array): DecodedJournal {
  if (!(bytes instanceof Uint8Array))
    throw journalError('JOURNAL_INVALID', 'a journal must be a Uint8Array')
  if (bytes.length < 8 + 4 + 32 + 8 + 32 + 32)
    throw journalError(
      'JOURNAL_INVALID',
      `journal of ${bytes.length} bytes is shorter than an empty one`,
    )
  const body = bytes.subarray(0, bytes.length - 32)
  if (hex(sha256(body)) !== hex(bytes.subarray(bytes.length - 32)))
    throw journalError('JOURNAL_INVALID', 'journal checksum mismatch: corrupted or truncated')
  const i = new In(body)
  const magic = new TextDecoder().decode(body.subarray(0, 8))
  i.need(8)
  if (magic !== MAGIC) throw journalError('JOURNAL_INVALID', 'not a deleverage journal (bad magic)')
  const version = i.u32()
  if (version !== VERSION)
    throw journalError(
      'JOURNAL_INVALID',
      `journal format version ${version} is not supported; this engine reads version ${VERSION}`,
    )
  const baseHash = hex(body.subarray(i.need(32), i.pos))
  const n = i.u64()
  const entries: JournalEntry[] = []
  for (let k = 0n; k < n; k++) {
    const at = i.pos
    const code = i.u8()
    const op = JOURNAL_OPS[code]
    if (op === undefined)
      throw journalError('JOURNAL_INVALID', `entry ${k} (offset ${at}): unknown operation ${code}`)
    const argc = i.u8()
    const args: unknown[] = []
    for (let a = 0; a < argc; a++) args.push(decodeValue(i))
    const outcome: JournalEntry['outcome'] =
      i.u8() === 0 ? { ok: decodeValue(i) } : { code: i.str(), message: i.str() }
    const firstSeq = i.u64()
    entries.push({ op, args, outcome, firstSeq, events: decodeEvents(i, firstSeq) })
  }
  const finalHash = hex(body.subarray(i.need(32), i.pos))
  if (i.pos !== body.length)
    throw journalError(
      'JOURNAL_INVALID',
      `${body.length - i.pos} bytes left over after the final hash`,
    )
  return { baseHash, finalHash, entries }
}

// ---- the journaling CoreEngine -----------------------------------------------------------------------

/**
 * CoreEngine over another one that journals every mutating call while a recorder is set. Reads
 * go straight through. `Engine.core` is one of these, so bulk writes are journalled too.
 */
export class JournaledCore implements CoreEngine {
  recorder: JournalRecorder | null = null

  constructor(readonly inner: CoreEngine) {}

  private rec<T>(op: JournalOp, args: unknown[], call: () => T): T {
    const r = this.recorder
    return r === null ? call() : r.record(this.inner, op, args, call)
  }

  addMarket(spec: MarketInit): number {
    return this.rec('addMarket', [spec], () => this.inner.addMarket(spec))
  }
  trimEvents(beforeSeq: bigint): void {
    this.rec('trimEvents', [beforeSeq], () => this.inner.trimEvents(beforeSeq))
  }
  setMarks(markets: Uint32Array, marks: BigInt64Array): void {
    this.rec('setMarks', [markets, marks], () => this.inner.setMarks(markets, marks))
  }
  addAccounts(ids: string[], balances: BigInt64Array): number {
    return this.rec('addAccounts', [ids, balances], () => this.inner.addAccounts(ids, balances))
  }
  addAccountsWithPositions(
    ids: string[],
    balances: BigInt64Array,
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): number {
    const args = [ids, balances, account, market, qty, price, isolatedMargin, flags]
    return this.rec('addAccountsWithPositions', args, () =>
      this.inner.addAccountsWithPositions(
        ids,
        balances,
        account,
        market,
        qty,
        price,
        isolatedMargin,
        flags,
      ),
    )
  }
  setBalances(accounts: Uint32Array, balances: BigInt64Array): void {
    this.rec('setBalances', [accounts, balances], () => this.inner.setBalances(accounts, balances))
  }
  removeAccounts(accounts: Uint32Array): void {
    this.rec('removeAccounts', [accounts], () => this.inner.removeAccounts(accounts))
  }
  setPositions(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    isolatedMargin: BigInt64Array,
    flags: Uint8Array,
  ): void {
    this.rec('setPositions', [account, market, qty, price, isolatedMargin, flags], () =>
      this.inner.setPositions(account, market, qty, price, isolatedMargin, flags),
    )
  }
  configureWaterfall(config: WaterfallInit): void {
    this.rec('configureWaterfall', [config], () => this.inner.configureWaterfall(config))
  }
  depositFund(amount: bigint, now: bigint): void {
    this.rec('depositFund', [amount, now], () => this.inner.depositFund(amount, now))
  }
  runWaterfall(model: number, ppmPerLot: bigint, capPpm: bigint, now: bigint): bigint {
    return this.rec('runWaterfall', [model, ppmPerLot, capPpm, now], () =>
      this.inner.runWaterfall(model, ppmPerLot, capPpm, now),
    )
  }
  /** A call that ran off the JS thread (`Engine.runWaterfallAsync`), journaled as its sync op
   * once it settled: `settle` returns its result or throws its error; a replay runs the sync op. */
  recordSettled<T>(op: JournalOp, args: unknown[], settle: () => T): T {
    return this.rec(op, args, settle)
  }

  settleLiquidationFill(
    account: number,
    isolatedMarket: number,
    market: number,
    qty: bigint,
    price: bigint,
  ): void {
    this.rec('settleLiquidationFill', [account, isolatedMarket, market, qty, price], () =>
      this.inner.settleLiquidationFill(account, isolatedMarket, market, qty, price),
    )
  }
  takeOver(account: number, isolatedMarket: number): void {
    this.rec('takeOver', [account, isolatedMarket], () =>
      this.inner.takeOver(account, isolatedMarket),
    )
  }
  settleLiquidatorFill(market: number, qty: bigint, price: bigint): void {
    this.rec('settleLiquidatorFill', [market, qty, price], () =>
      this.inner.settleLiquidatorFill(market, qty, price),
    )
  }

  /** @deprecated Renamed `settleLiquidatorFill`; journalled under the same opcode. */
  settleEngineFill(market: number, qty: bigint, price: bigint): void {
    this.settleLiquidatorFill(market, qty, price)
  }
  autoDeleverage(market: number): void {
    this.rec('autoDeleverage', [market], () => this.inner.autoDeleverage(market))
  }
  settleAdlFill(account: number, market: number, qty: bigint, price: bigint): void {
    this.rec('settleAdlFill', [account, market, qty, price], () =>
      this.inner.settleAdlFill(account, market, qty, price),
    )
  }
  socialiseLoss(market: number, amount: bigint, beneficiary: number): void {
    this.rec('socialiseLoss', [market, amount, beneficiary], () =>
      this.inner.socialiseLoss(market, amount, beneficiary),
    )
  }
  settleFunding(market: number, rate: bigint): void {
    this.rec('settleFunding', [market, rate], () => this.inner.settleFunding(market, rate))
  }

  // Reads: straight through.
  updateMarks(markets: Uint32Array, marks: BigInt64Array): WatchChanges {
    return this.rec('updateMarks', [markets, marks], () => this.inner.updateMarks(markets, marks))
  }
  applyFills(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
  ): void {
    this.rec('applyFills', [account, market, qty, price], () =>
      this.inner.applyFills(account, market, qty, price),
    )
  }
  /** Reads the state; building the watch's index on first use changes no state the hash sees. */
  liquidatable(): MarginColumns {
    return this.inner.liquidatable()
  }
  configurePreTrade(market: number, config: PreTradeInit): void {
    this.rec('configurePreTrade', [market, config], () =>
      this.inner.configurePreTrade(market, config),
    )
  }
  setLeverage(account: number, market: number, leverage: number): number {
    return this.rec('setLeverage', [account, market, leverage], () =>
      this.inner.setLeverage(account, market, leverage),
    )
  }
  placeOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
  ): OrderCheckColumns {
    return this.rec('placeOrders', [account, market, qty, price, reduceOnly], () =>
      this.inner.placeOrders(account, market, qty, price, reduceOnly),
    )
  }
  cancelOrders(ids: BigInt64Array): void {
    this.rec('cancelOrders', [ids], () => this.inner.cancelOrders(ids))
  }
  fillOrders(ids: BigInt64Array, qty: BigInt64Array, price: BigInt64Array): void {
    this.rec('fillOrders', [ids, qty, price], () => this.inner.fillOrders(ids, qty, price))
  }
  leverage(account: number, market: number): number {
    return this.inner.leverage(account, market)
  }
  checkOrders(
    account: Uint32Array,
    market: Uint32Array,
    qty: BigInt64Array,
    price: BigInt64Array,
    reduceOnly: Uint8Array,
    sequential: boolean,
  ): OrderCheckColumns {
    return this.inner.checkOrders(account, market, qty, price, reduceOnly, sequential)
  }
  checkOrder(account: number, market: number, qty: bigint, price: bigint, ro: boolean) {
    return this.inner.checkOrder(account, market, qty, price, ro)
  }
  maxOrderQty(account: number, market: number, buy: boolean, price: bigint, ro: boolean): bigint {
    return this.inner.maxOrderQty(account, market, buy, price, ro)
  }
  accountMargin(account: number): BigInt64Array {
    return this.inner.accountMargin(account)
  }
  openOrders(account: number): BigInt64Array {
    return this.inner.openOrders(account)
  }
  whatIf(account: number, market: Uint32Array, qty: BigInt64Array, price: BigInt64Array) {
    return this.inner.whatIf(account, market, qty, price)
  }
  sweep(warningPpm: bigint | null): MarginColumns {
    return this.inner.sweep(warningPpm)
  }
  sweepParallel(warningPpm: bigint | null, threads: number): MarginColumns {
    return this.inner.sweepParallel(warningPpm, threads)
  }
  sweepAsync(warningPpm: bigint | null, threads: number): Promise<MarginColumns> {
    return this.inner.sweepAsync(warningPpm, threads)
  }
  accountRows(accounts: Uint32Array | null): MarginColumns {
    return this.inner.accountRows(accounts)
  }
  balances(accounts: Uint32Array): BigInt64Array {
    return this.inner.balances(accounts)
  }
  positionRisks(accounts: Uint32Array | null): PositionRiskColumns {
    return this.inner.positionRisks(accounts)
  }
  liquidationMap(market: number, from: bigint, to: bigint, buckets: number): LiquidationMapColumns {
    return this.inner.liquidationMap(market, from, to, buckets)
  }
  accountIndex(id: string): number | null {
    return this.inner.accountIndex(id)
  }
  accountId(index: number): string {
    return this.inner.accountId(index)
  }
  marketIndex(symbol: string): number | null {
    return this.inner.marketIndex(symbol)
  }
  accountCount(): number {
    return this.inner.accountCount()
  }
  positionCount(): number {
    return this.inner.positionCount()
  }
  planLiquidation(account: number, isolatedMarket: number): PlanColumns {
    return this.inner.planLiquidation(account, isolatedMarket)
  }
  events(fromSeq: bigint): EventColumns {
    return this.inner.events(fromSeq)
  }
  nextSeq(): bigint {
    return this.inner.nextSeq()
  }
  ledger(): Ledger {
    return this.inner.ledger()
  }
  liquidatorPosition(market: number): BigInt64Array {
    return this.inner.liquidatorPosition(market)
  }

  /** @deprecated Renamed `liquidatorPosition`. */
  enginePosition(market: number): BigInt64Array {
    return this.liquidatorPosition(market)
  }
  adlQueue(market: number, side: number, ranking: number): QueueColumns {
    return this.inner.adlQueue(market, side, ranking)
  }
  planDeleveraging(
    account: number,
    kind: number,
    targetPpm: bigint,
    market: number,
    feeRate: bigint,
  ): DeleveragePlanColumns {
    return this.inner.planDeleveraging(account, kind, targetPpm, market, feeRate)
  }
  stateHash(): string {
    return this.inner.stateHash()
  }
  snapshot(): Uint8Array {
    return this.inner.snapshot()
  }
}

/** Structural equality of two outcomes/event columns (typed arrays element-wise). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a === 'number' && typeof b === 'number') return Number.isNaN(a) && Number.isNaN(b)
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor)
      return false
    const x = a as unknown as ArrayLike<unknown>
    const y = b as unknown as ArrayLike<unknown>
    if (x.length !== y.length) return false
    for (let k = 0; k < x.length; k++) if (x[k] !== y[k]) return false
    return true
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  if (ka.length !== kb.length) return false
  for (const k of ka)
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
      return false
  return true
}

/**
 * Re-apply journalled calls through `apply` (which performs one call on the engine being
 * replayed and returns its result) and check each outcome and its events against the journal.
 */
export function replayEntries(
  core: CoreEngine,
  entries: JournalEntry[],
  apply: (e: JournalEntry) => unknown,
): void {
  // Every write of the replay goes through `apply`, so the event seq advances only by what it emits.
  let firstSeq = core.nextSeq()
  for (let k = 0; k < entries.length; k++) {
    const e = entries[k] as JournalEntry
    let outcome: JournalEntry['outcome']
    try {
      outcome = { ok: apply(e) }
    } catch (x) {
      const err = x as { code?: unknown; message?: unknown }
      outcome = {
        code: typeof err.code === 'string' ? err.code : 'UNCODED',
        message: String(err.message),
      }
    }
    const where = `journal entry ${k} (${e.op})`
    if (!sameValue(outcome, e.outcome)) {
      throw journalError(
        'JOURNAL_MISMATCH',
        `${where}: the journal says ${describeOutcome(e.outcome)}, the replay gave ${describeOutcome(outcome)}`,
      )
    }
    if (firstSeq !== e.firstSeq)
      throw journalError(
        'JOURNAL_MISMATCH',
        `${where}: events start at seq ${firstSeq}, the journal says ${e.firstSeq}`,
      )
    const events = core.events(firstSeq)
    if (!sameValue(events, e.events)) {
      throw journalError(
        'JOURNAL_MISMATCH',
        `${where}: the replay emitted ${events.kind.length} events that differ from the ${e.events.kind.length} journalled`,
      )
    }
    firstSeq += BigInt(events.kind.length)
  }
}

function describeOutcome(o: JournalEntry['outcome']): string {
  return 'ok' in o
    ? `ok (${typeof o.ok === 'bigint' ? `${o.ok}n` : String(o.ok)})`
    : `${o.code}: ${o.message}`
}
