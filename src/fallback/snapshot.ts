// Mirror of crates/core/src/snapshot.rs: the canonical state bytes, the SHA-256 state hash and
// versioned, checksummed snapshots (SPEC §12). Both engines write the same bytes for the same
// state and read each other's; the decoder validates like the API, with the same codes and
// messages. The encoder reads the engine through `StateView`; the decoder returns validated plain
// data that JsEngine.restore adopts.

import { decodePretrade, type PretradeSection } from './pretrade-snapshot.js'
import { createHash } from 'node:crypto'
import type { WaterfallInit } from '../core.js'
import { rankingFromCode } from './adl.js'
import { DeleverageError, ErrorCode } from './errors.js'
import { domain } from './liq.js'
import { Linear, Market, checkQty, isValidId, type MarketSpec } from './market.js'
import { mismatch } from './settlement.js'
import { Floor, MAX_QUOTE_DECIMALS, U32_MAX, scale, toI64 } from './num.js'
import { Drawdown, Exhausted, Socialise, Waterfall, type PositionStore } from './waterfall/index.js'
import { EVENT_KINDS, NONE, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC } from '../generated/tables.js'

export { SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC }
const HEADER = 20
const CHECKSUM = 32
const EVENT_BYTES = 37n
const MAGIC_BYTES = new TextEncoder().encode(SNAPSHOT_MAGIC)
const UTF8 = new TextEncoder()
const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** What the encoder reads (JsEngine provides it). */
export interface StateView {
  quoteDecimals: number
  markets: readonly Market[]
  accountsLen: number
  ids: readonly string[]
  alive: Uint8Array
  balance: BigInt64Array
  positions: ReadonlyArray<{
    len: number
    account: Uint32Array
    qty: Float64Array
    cost: BigInt64Array
    isolated: Uint8Array
    isolatedMargin: BigInt64Array
  }>
  wf: Waterfall
  /** The liquidation watch's last report, (account, market) ascending (SPEC §14). */
  reported: ReadonlyArray<readonly [number, number]>
  /** The pre-trade section (SPEC §17.8), empty when unused. */
  pretrade?: Uint8Array
}

class Writer {
  buf = new Uint8Array(256)
  view = new DataView(this.buf.buffer)
  len = 0

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return
    let cap = this.buf.length * 2
    while (cap < this.len + n) cap *= 2
    const b = new Uint8Array(cap)
    b.set(this.buf.subarray(0, this.len))
    this.buf = b
    this.view = new DataView(b.buffer)
  }
  u8(v: number): void {
    this.room(1)
    this.buf[this.len++] = v
  }
  u32(v: number): void {
    this.room(4)
    this.view.setUint32(this.len, v, true)
    this.len += 4
  }
  u64(v: bigint): void {
    this.room(8)
    this.view.setBigUint64(this.len, v, true)
    this.len += 8
  }
  i64(v: bigint): void {
    this.room(8)
    this.view.setBigInt64(this.len, v, true)
    this.len += 8
  }
  i128(v: bigint): void {
    this.room(16)
    this.view.setBigUint64(this.len, BigInt.asUintN(64, v), true)
    this.view.setBigInt64(this.len + 8, BigInt.asIntN(64, v >> 64n), true)
    this.len += 16
  }
  /** Ids and symbols: one length byte, then 1–64 bytes of UTF-8. */
  id(s: string): void {
    const b = UTF8.encode(s)
    this.u8(b.length)
    this.room(b.length)
    this.buf.set(b, this.len)
    this.len += b.length
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len)
  }
}

/** Engine::state_bytes: the canonical encoding of the whole state (SPEC §12.1). */
export function encodeState(v: StateView): Uint8Array {
  const w = new Writer()
  w.u8(v.quoteDecimals)
  w.u32(v.markets.length)
  for (const mk of v.markets) {
    w.id(mk.symbol)
    w.u8(mk.kind)
    w.u8(mk.priceDecimals)
    w.u8(mk.qtyDecimals)
    w.i64(mk.contractSize)
    w.u8(mk.basis)
    w.u8(mk.form)
    w.i64(mk.mark)
    w.i64(mk.tickSize)
    w.id(mk.settleAsset)
    w.u32(mk.floors.length)
    for (let t = 0; t < mk.floors.length; t++) {
      w.i64(mk.floors[t] as bigint)
      w.i64(mk.mmr[t] as bigint)
      w.i64(mk.imr[t] as bigint)
      w.i128(mk.maintAmount[t] as bigint)
    }
  }
  w.u32(v.accountsLen)
  for (let a = 0; a < v.accountsLen; a++) {
    w.id(v.ids[a] as string)
    const alive = v.alive[a] as number
    w.u8(alive)
    // A removed account's balance can never be read or used again: canonically 0.
    w.i64(alive === 1 ? (v.balance[a] as bigint) : 0n)
  }
  for (const col of v.positions) {
    w.u32(col.len)
    for (let s = 0; s < col.len; s++) {
      w.u32(col.account[s] as number)
      w.i64(BigInt(col.qty[s] as number))
      w.i64(col.cost[s] as bigint)
      w.u8(col.isolated[s] as number)
      w.i64(col.isolatedMargin[s] as bigint)
    }
  }
  const wf = v.wf
  const c = wf.config
  w.i64(c.feeRate)
  w.i64(c.bufferRate)
  w.u8(c.ranking)
  w.u8(c.adlAtMark ? 1 : 0)
  w.u8(c.policy)
  w.i64(c.policy === Drawdown ? c.triggerPpm : 0n)
  w.i64(c.policy === Drawdown ? c.stopPpm : 0n)
  w.u64(c.policy === Drawdown ? c.window : 0n)
  w.i64(wf.fund)
  w.i128(wf.settlement)
  w.i64(wf.residue)
  w.u8(wf.adlMode ? 1 : 0)
  w.u64(wf.now)
  for (let m = 0; m < v.markets.length; m++) {
    const [q, cost] = wf.liquidatorPosition(m)
    w.i64(q)
    w.i64(cost)
  }
  w.u32(wf.histT.length - wf.histHead)
  for (let i = wf.histHead; i < wf.histT.length; i++) {
    w.u64(wf.histT[i] as bigint)
    w.i64(wf.histF[i] as bigint)
  }
  const ev = wf.events
  w.u64(BigInt(ev.len))
  for (let i = 0; i < ev.len; i++) {
    w.u8(ev.kind[i] as number)
    w.u32(ev.account[i] as number)
    w.u32(ev.market[i] as number)
    w.u32(ev.counterparty[i] as number)
    w.i64(ev.qty[i] as bigint)
    w.i64(ev.price[i] as bigint)
    w.i64(ev.amount[i] as bigint)
  }
  // The liquidation watch's last report (SPEC §14): what the next updateMarks diffs against.
  w.u32(v.reported.length)
  for (const [a, m] of v.reported) {
    w.u32(a)
    w.u32(m)
  }
  // Added after version 1 without a bump: the seq of the first event kept, only once events
  // were trimmed, so an untrimmed state's bytes and hash are as before.
  for (const x of v.pretrade ?? []) w.u8(x)
  if (ev.base > 0) w.u64(BigInt(ev.base))
  return w.bytes()
}

export function sha256(b: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(b).digest())
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')
}

/** Engine::state_hash_hex */
export function stateHashOf(body: Uint8Array): string {
  return hex(sha256(body))
}

/** Engine::snapshot: header, the state bytes, their SHA-256 (SPEC §12.2). */
export function sealSnapshot(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER + body.length + CHECKSUM)
  const dv = new DataView(out.buffer)
  out.set(MAGIC_BYTES, 0)
  dv.setUint32(8, SNAPSHOT_FORMAT_VERSION, true)
  dv.setBigUint64(12, BigInt(body.length), true)
  out.set(body, HEADER)
  out.set(sha256(body), HEADER + body.length)
  return out
}

function invalid(msg: string): DeleverageError {
  return new DeleverageError(ErrorCode.SnapshotInvalid, msg)
}

/** A validator of the normal API refused a value: keep its code and message inside ours. */
function refused(at: number, field: string, e: unknown): unknown {
  if (!(e instanceof DeleverageError)) return e
  return invalid(`offset ${at}: ${field}: ${e.code}: ${e.message}`)
}

class Reader {
  pos = HEADER
  private readonly dv: DataView
  constructor(
    readonly b: Uint8Array,
    readonly end: number,
  ) {
    this.dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  }
  private take(n: number, field: () => string): number {
    if (this.end - this.pos < n)
      throw invalid(`offset ${this.pos}: ${field()}: the body ends at offset ${this.end}`)
    const at = this.pos
    this.pos += n
    return at
  }
  u8(field: () => string): number {
    return this.b[this.take(1, field)] as number
  }
  u32(field: () => string): number {
    return this.dv.getUint32(this.take(4, field), true)
  }
  u64(field: () => string): bigint {
    return this.dv.getBigUint64(this.take(8, field), true)
  }
  i64(field: () => string): bigint {
    return this.dv.getBigInt64(this.take(8, field), true)
  }
  i128(field: () => string): bigint {
    const at = this.take(16, field)
    return (this.dv.getBigInt64(at + 8, true) << 64n) | this.dv.getBigUint64(at, true)
  }
  flag(field: () => string): boolean {
    const at = this.pos
    const v = this.u8(field)
    if (v === 0 || v === 1) return v === 1
    throw invalid(`offset ${at}: ${field()}: must be 0 or 1, got ${v}`)
  }
  id(field: () => string): string {
    const at = this.pos
    const n = this.u8(field)
    const from = this.take(n, field)
    let s = ''
    try {
      s = UTF8_STRICT.decode(this.b.subarray(from, from + n))
    } catch {
      s = ''
    }
    if (!isValidId(s))
      throw invalid(
        `offset ${at}: ${field()}: must be 1–64 bytes of UTF-8 without spaces or control characters`,
      )
    return s
  }
}

/** A position row as restored (storage order). */
export interface RestoredPosition {
  account: number
  qty: bigint
  cost: bigint
  isolated: boolean
  isolatedMargin: bigint
}

/** Validated state, for JsEngine.restore to adopt. */
export interface RestoredState {
  quoteDecimals: number
  markets: Market[]
  ids: string[]
  alive: boolean[]
  balances: bigint[]
  positions: RestoredPosition[][]
  config: WaterfallInit
  fund: bigint
  settlement: bigint
  residue: bigint
  adlMode: boolean
  now: bigint
  liqQ: bigint[]
  liqC: bigint[]
  histT: bigint[]
  histF: bigint[]
  events: Array<[number, number, number, number, bigint, bigint, bigint]>
  reported: Array<[number, number]>
  /** Seq of the first event kept (0 unless events were trimmed). */
  firstSeq: number
  /** The pre-trade section (SPEC §17.8), null when absent. */
  pretrade: PretradeSection | null
}

/** decode_snapshot (SPEC §12.3): every check and message as in Rust, in the same order. */
export function decodeSnapshot(bytes: Uint8Array): RestoredState {
  if (!(bytes instanceof Uint8Array))
    throw new DeleverageError(ErrorCode.InvalidArgument, 'bytes must be a Uint8Array')
  const n = bytes.length
  if (n < HEADER)
    throw new DeleverageError(
      ErrorCode.SnapshotTruncated,
      `snapshot of ${n} bytes is shorter than its ${HEADER}-byte header`,
    )
  const head = bytes.subarray(0, 8)
  if (!head.every((x, i) => x === MAGIC_BYTES[i])) {
    throw invalid(
      `not a deleverage snapshot: bytes 0..8 are ${hex(head)}, expected ${hex(MAGIC_BYTES)} ("DLVGSNAP")`,
    )
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = dv.getUint32(8, true)
  if (version !== SNAPSHOT_FORMAT_VERSION) {
    throw new DeleverageError(
      ErrorCode.SnapshotVersion,
      `snapshot format version ${version} (offset 8) is not supported; this engine reads version ${SNAPSHOT_FORMAT_VERSION}`,
    )
  }
  const len = dv.getBigUint64(12, true)
  const follow = BigInt(n - HEADER)
  if (follow < len + BigInt(CHECKSUM)) {
    throw new DeleverageError(
      ErrorCode.SnapshotTruncated,
      `snapshot truncated: the header (offset 12) announces ${len} body bytes and a ${CHECKSUM}-byte checksum, ${follow} bytes follow the header`,
    )
  }
  const end = HEADER + Number(len)
  if (n > end + CHECKSUM)
    throw invalid(`${n - end - CHECKSUM} bytes after the checksum (offset ${end + CHECKSUM})`)
  const digest = sha256(bytes.subarray(HEADER, end))
  const stored = bytes.subarray(end, end + CHECKSUM)
  if (!digest.every((x, i) => x === stored[i])) {
    throw new DeleverageError(
      ErrorCode.SnapshotChecksum,
      `checksum mismatch (offset ${end}): the body hashes to ${hex(digest)}, the snapshot says ${hex(stored)}`,
    )
  }
  return decodeBody(new Reader(bytes, end))
}

function decodeBody(r: Reader): RestoredState {
  let at = r.pos
  const q = r.u8(() => 'quoteDecimals')
  if (q > MAX_QUOTE_DECIMALS) {
    throw refused(
      at,
      'quoteDecimals',
      new DeleverageError(
        ErrorCode.InvalidDecimals,
        `quoteDecimals must be 0..=${MAX_QUOTE_DECIMALS}, got ${q}`,
      ),
    )
  }
  const markets: Market[] = []
  const symbols = new Set<string>()
  const nm = r.u32(() => 'market count')
  for (let i = 0; i < nm; i++) {
    const at = r.pos
    const f = (what: string) => `market ${i} ${what}`
    const symbol = r.id(() => f('symbol'))
    const kat = r.pos
    const kind = r.u8(() => f('kind'))
    if (kind > 1)
      throw invalid(`offset ${kat}: ${f('kind')}: must be 0 (linear) or 1 (inverse), got ${kind}`)
    const priceDecimals = r.u8(() => f('priceDecimals'))
    const qtyDecimals = r.u8(() => f('qtyDecimals'))
    const contractSize = r.i64(() => f('contractSize'))
    const bat = r.pos
    const basis = r.u8(() => f('basis'))
    if (basis > 1)
      throw invalid(`offset ${bat}: ${f('basis')}: must be 0 (mark) or 1 (entry), got ${basis}`)
    const fat = r.pos
    const form = r.u8(() => f('form'))
    if (form > 1)
      throw invalid(`offset ${fat}: ${f('form')}: must be 0 (deduction) or 1 (step), got ${form}`)
    const mark = r.i64(() => f('mark'))
    const tat = r.pos
    const tickSize = r.i64(() => f('tickSize'))
    // The API reads 0 as "the default, 1"; a snapshot stores the resolved size.
    if (tickSize === 0n) throw invalid(`offset ${tat}: ${f('tickSize')}: must be at least 1, got 0`)
    const settleAsset = r.id(() => f('settleAsset'))
    const nt = r.u32(() => f('tier count'))
    const floors: bigint[] = []
    const mmr: bigint[] = []
    const imr: bigint[] = []
    const maint: bigint[] = []
    for (let t = 0; t < nt; t++) {
      const g = (what: string) => `market ${i} tier ${t} ${what}`
      floors.push(r.i64(() => g('floor')))
      mmr.push(r.i64(() => g('mmr')))
      imr.push(r.i64(() => g('imr')))
      maint.push(r.i128(() => g('maintAmount')))
    }
    const spec: MarketSpec = {
      symbol,
      kind,
      priceDecimals,
      qtyDecimals,
      contractSize,
      basis,
      form,
      floors,
      mmr,
      imr,
      maintAmount: maint,
      mark,
      tickSize,
      settleAsset,
    }
    // Engine::add_market: duplicate symbol, count, then Market::new.
    try {
      if (symbols.has(symbol))
        throw new DeleverageError(ErrorCode.DuplicateMarket, `market ${symbol} already exists`)
      if (markets.length >= U32_MAX - 1)
        throw new DeleverageError(ErrorCode.InvalidArgument, 'too many markets')
      markets.push(Market.create(spec, q))
    } catch (e) {
      throw refused(at, `market ${i}`, e)
    }
    symbols.add(symbol)
  }

  const na = r.u32(() => 'account count')
  const ids: string[] = []
  const alive: boolean[] = []
  const balances: bigint[] = []
  const live = new Map<string, number>()
  for (let a = 0; a < na; a++) {
    const at = r.pos
    const f = (what: string) => `account ${a} ${what}`
    // r.id enforces what Engine::check_id would (1–64 bytes of UTF-8, no spaces or controls).
    const id = r.id(() => f('id'))
    const isAlive = r.flag(() => f('alive'))
    const bat = r.pos
    const balance = r.i64(() => f('balance'))
    if (isAlive) {
      const other = live.get(id)
      if (other !== undefined)
        throw invalid(`offset ${at}: ${f('id')}: ${id} is also the id of live account ${other}`)
      live.set(id, a)
    } else if (balance !== 0n) {
      throw invalid(
        `offset ${bat}: ${f('balance')}: a removed account's balance must be 0, got ${balance}`,
      )
    }
    ids.push(id)
    alive.push(isAlive)
    balances.push(balance)
  }

  const positions: RestoredPosition[][] = []
  const lastMarket = new Int32Array(na).fill(-1)
  const firstMarket = new Int32Array(na).fill(-1)
  for (let m = 0; m < nm; m++) {
    const n = r.u32(() => `market ${m} position count`)
    const mk = markets[m] as Market
    const rows: RestoredPosition[] = []
    for (let s = 0; s < n; s++) {
      const at = r.pos
      const f = (what: string) => `market ${m} position ${s} ${what}`
      const a = r.u32(() => f('account'))
      const qty = r.i64(() => f('qty'))
      const cost = r.i64(() => f('cost'))
      const isolated = r.flag(() => f('isolated'))
      const im = r.i64(() => f('isolatedMargin'))
      const bad = (what: string, msg: string) => invalid(`offset ${at}: ${f(what)}: ${msg}`)
      if (a >= na || !alive[a]) throw bad('account', `no live account with index ${a}`)
      if (lastMarket[a] === m)
        throw bad('account', `account ${ids[a]} has two positions in market ${mk.symbol}`)
      // One settlement asset per account (SPEC §5.4): the first position stands for all before.
      const m0 = firstMarket[a] as number
      if (m0 >= 0 && (markets[m0] as Market).settleAsset !== mk.settleAsset) {
        throw refused(at, f('account'), mismatch(markets, ids[a] as string, m, m0))
      }
      if (m0 < 0) firstMarket[a] = m
      if (qty === 0n) throw bad('qty', 'a stored position is never 0 lots')
      let lo: bigint
      let hi: bigint
      try {
        checkQty(qty, 'qty')
        ;[lo, hi] = domain(mk, qty, 0)
      } catch (e) {
        throw refused(at, f('qty'), e)
      }
      if (lo > hi)
        throw bad('qty', `position of ${qty} lots is worth more than i64 atoms at every price`)
      if (cost !== 0n && cost > 0n !== qty > 0n)
        throw bad('cost', `cost basis must be 0 or have the sign of qty (${qty}), got ${cost}`)
      if (mk.kind === Linear) {
        try {
          toI64(scale(cost, mk.quoteExp(), Floor, 'cost basis (to atoms)'), 'cost basis (to atoms)')
        } catch (e) {
          throw refused(at, f('cost'), e)
        }
      }
      if (!isolated && im !== 0n)
        throw bad('isolatedMargin', `a cross position takes no isolated margin, got ${im}`)
      lastMarket[a] = m
      rows.push({ account: a, qty, cost, isolated, isolatedMargin: im })
    }
    positions.push(rows)
  }

  at = r.pos
  const cf = (what: string) => () => `waterfall ${what}`
  const feeRate = r.i64(cf('feeRate'))
  const bufferRate = r.i64(cf('bufferRate'))
  const rat = r.pos
  const rankingCode = r.u8(cf('ranking'))
  let ranking: number
  try {
    ranking = rankingFromCode(rankingCode)
  } catch (e) {
    throw refused(rat, 'waterfall ranking', e)
  }
  const adlAtMark = r.flag(cf('adlAtMark'))
  const pat = r.pos
  const policy = r.u8(cf('policy'))
  const triggerPpm = r.i64(cf('triggerPpm'))
  const stopPpm = r.i64(cf('stopPpm'))
  const window = r.u64(cf('window'))
  if (policy === Exhausted && !(triggerPpm === 0n && stopPpm === 0n && window === 0n)) {
    throw invalid(
      `offset ${pat}: waterfall policy: the exhausted policy takes no trigger, stop or window, got ${triggerPpm}, ${stopPpm}, ${window}`,
    )
  }
  if (policy === Socialise && !(triggerPpm === 0n && stopPpm === 0n && window === 0n)) {
    throw invalid(
      `offset ${pat}: waterfall policy: the socialise policy takes no trigger, stop or window, got ${triggerPpm}, ${stopPpm}, ${window}`,
    )
  }
  if (policy !== Exhausted && policy !== Drawdown && policy !== Socialise)
    throw invalid(
      `offset ${pat}: waterfall policy: must be 0 (exhausted), 1 (drawdown) or 2 (socialise), got ${policy}`,
    )
  const config: WaterfallInit = {
    feeRate,
    bufferRate,
    ranking,
    adlAtMark,
    policy,
    triggerPpm,
    stopPpm,
    window,
  }
  try {
    // Waterfall.configure only validates and stores the config; the book is not touched.
    new Waterfall(null as unknown as PositionStore).configure(config)
  } catch (e) {
    throw refused(at, 'waterfall config', e)
  }
  const fund = r.i64(cf('fund'))
  const settlement = r.i128(cf('settlement'))
  const residue = r.i64(cf('residue'))
  const adlMode = r.flag(cf('adlMode'))
  const now = r.u64(cf('now'))
  const liqQ: bigint[] = []
  const liqC: bigint[] = []
  for (let m = 0; m < nm; m++) {
    liqQ.push(r.i64(() => `liquidator position ${m} qty`))
    liqC.push(r.i64(() => `liquidator position ${m} cost`))
  }
  const nh = r.u32(cf('fund history count'))
  const histT: bigint[] = []
  const histF: bigint[] = []
  let prev = 0n
  for (let h = 0; h < nh; h++) {
    const at = r.pos
    const t = r.u64(() => `fund history ${h} time`)
    const fv = r.i64(() => `fund history ${h} fund`)
    if (t < prev || t > now)
      throw invalid(
        `offset ${at}: fund history ${h} time: must be within ${prev} and now (${now}), got ${t}`,
      )
    prev = t
    histT.push(t)
    histF.push(fv)
  }
  const cat = r.pos
  const ne = r.u64(cf('event count'))
  if (ne > BigInt(r.end - r.pos) / EVENT_BYTES) {
    throw invalid(
      `offset ${cat}: waterfall event count: ${ne} events do not fit the ${r.end - r.pos} bytes left`,
    )
  }
  const events: RestoredState['events'] = []
  for (let seq = 0; seq < Number(ne); seq++) {
    const at = r.pos
    const f = (what: string) => `event ${seq} ${what}`
    const k = r.u8(() => f('kind'))
    if (k >= EVENT_KINDS.length) throw invalid(`offset ${at}: ${f('kind')}: no event kind ${k}`)
    const account = r.u32(() => f('account'))
    const market = r.u32(() => f('market'))
    const counterparty = r.u32(() => f('counterparty'))
    const qty = r.i64(() => f('qty'))
    const price = r.i64(() => f('price'))
    const amount = r.i64(() => f('amount'))
    for (const [what, v, lim] of [
      ['account', account, na],
      ['market', market, nm],
      ['counterparty', counterparty, na],
    ] as const) {
      if (v !== NONE && v >= lim)
        throw invalid(`offset ${at}: ${f(what)}: index ${v} is out of range`)
    }
    events.push([k, account, market, counterparty, qty, price, amount])
  }
  const wat = r.pos
  const nr = r.u32(() => 'watch report count')
  if (nr > Math.floor((r.end - r.pos) / 8))
    throw invalid(
      `offset ${wat}: watch report count: ${nr} scopes do not fit the ${r.end - r.pos} bytes left`,
    )
  const reported: Array<[number, number]> = []
  for (let i = 0; i < nr; i++) {
    const at = r.pos
    const a = r.u32(() => `watch report ${i} account`)
    const m = r.u32(() => `watch report ${i} market`)
    if (a >= na || (m !== NONE && m >= nm))
      throw invalid(`offset ${at}: watch report ${i}: scope (${a}, ${m}) is out of range`)
    const p = reported[reported.length - 1]
    if (p !== undefined && (p[0] > a || (p[0] === a && p[1] >= m)))
      throw invalid(`offset ${at}: watch report ${i}: scopes must be strictly ascending`)
    reported.push([a, m])
  }
  let pretrade: PretradeSection | null = null
  if (r.end - r.pos !== 0 && r.end - r.pos !== 8) {
    const [sec, n] = decodePretrade(r.b, r.pos, r.end, markets, na)
    pretrade = sec
    r.pos += n
  }
  let firstSeq = 0
  if (r.pos !== r.end) {
    // The trimmed-log field: events start at this seq (present only when it is not 0).
    const at = r.pos
    const first = r.u64(() => 'first event seq')
    // Seqs reach JavaScript hosts as numbers: both engines keep them within 2^53 − 1.
    const seqMax = BigInt(Number.MAX_SAFE_INTEGER)
    const room = ne < seqMax ? seqMax - ne : 0n
    if (first === 0n || first > room)
      throw invalid(`offset ${at}: first event seq: ${first} must be within 1..=${room}`)
    firstSeq = Number(first)
  }
  if (r.pos !== r.end)
    throw invalid(`offset ${r.pos}: ${r.end - r.pos} bytes left over after the watch report`)
  return {
    quoteDecimals: q,
    markets,
    ids,
    alive,
    balances,
    positions,
    config,
    fund,
    settlement,
    residue,
    adlMode,
    now,
    liqQ,
    liqC,
    histT,
    histF,
    events,
    reported,
    firstSeq,
    pretrade,
  }
}

/** Market headers of a snapshot the core has already accepted (for the public API's unit metadata). */
export function snapshotMarkets(bytes: Uint8Array): {
  quoteDecimals: number
  markets: Array<{
    symbol: string
    kind: number
    priceDecimals: number
    qtyDecimals: number
    contractSize: bigint
    tickSize: bigint
    settleAsset: string
  }>
} {
  const r = new Reader(bytes, bytes.length - CHECKSUM)
  const quoteDecimals = r.u8(() => 'quoteDecimals')
  const n = r.u32(() => 'market count')
  const markets = []
  for (let i = 0; i < n; i++) {
    const symbol = r.id(() => 'symbol')
    const kind = r.u8(() => 'kind')
    const priceDecimals = r.u8(() => 'priceDecimals')
    const qtyDecimals = r.u8(() => 'qtyDecimals')
    const contractSize = r.i64(() => 'contractSize')
    r.u8(() => 'basis')
    r.u8(() => 'form')
    r.i64(() => 'mark')
    const tickSize = r.i64(() => 'tickSize')
    const settleAsset = r.id(() => 'settleAsset')
    const nt = r.u32(() => 'tier count')
    r.pos += nt * 40
    markets.push({ symbol, kind, priceDecimals, qtyDecimals, contractSize, tickSize, settleAsset })
  }
  return { quoteDecimals, markets }
}
