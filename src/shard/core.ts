// One risk shard, without Kafka (docs/SCALE-OUT.md §3): a pure function of its partition's log.
// `handle(offset, message)` applies one input message and returns what to publish: outputs (ids
// "partition:offset:index") and messages for the ADL coordinator. Everything it does depends only
// on the log, so restoring a snapshot and replaying from its offset reproduces every output.
//
// The ADL barrier: after a mark's liquidations the shard reports to the coordinator and holds
// every other message until the coordinator's `adlDone` for that mark arrives in its log; held
// messages are then applied in log order. So each shard's effective order is "mark, its ADL,
// then what followed", exactly what one engine fed the same events does.

import { formatUnits, parseUnits } from '../decimal.js'
import {
  Engine,
  type AdlRanking,
  type MarginStatus,
  type WaterfallEvent,
  type WatchChange,
} from '../engine.js'
import { DeleverageError } from '../fallback/errors.js'
import { topOfQueue } from '../partition.js'
import * as orders from './orders.js'
import * as prorata from './prorata.js'
import {
  partitionOf,
  type AdlAllocMessage,
  type AdlCallMessage,
  type AdlTopicMessage,
  type OutputBody,
  type InputMessage,
  type MarkMessage,
  type OutputMessage,
  type SetupMessage,
} from './protocol.js'
import { statusOutputs } from './status.js'

export interface Effects {
  outputs: OutputMessage[]
  toCoordinator: AdlTopicMessage[]
}

/** Runner state besides the engine, carried in snapshots (JSON). */
interface RunnerState {
  nextOffset: string
  lastMark: number
  lastFunding: number
  marks: Record<string, string>
  /** The liquidator's position per market, lots signed, as decimal strings. */
  enginePositions: Record<string, string>
  setup: SetupMessage | null
  /** Scopes not healthy, by scopeKey (status.ts). */
  statuses: Record<string, 'warning' | 'liquidatable'>
  /** Open orders: the host's refs ↔ the engine's ids (orders.ts). */
  orders: orders.OrderRefs
  lastPreTrade: number
}

function initialState(): RunnerState {
  return {
    nextOffset: '0',
    lastMark: 0,
    lastFunding: 0,
    marks: {},
    enginePositions: {},
    setup: null,
    statuses: {},
    orders: { refs: {}, byId: {} },
    lastPreTrade: 0,
  }
}

export interface ShardSnapshot {
  v: 1
  partition: number
  partitions: number
  stateHash: string
  state: RunnerState
  /** Engine snapshot (SPEC §12.2), base64. */
  engine: string
  /** The output partition's end offset when the snapshot was taken (for de-duplication). */
  outputEnd?: string
}

type Out = OutputBody

export class ShardCore {
  engine: Engine | null = null
  state: RunnerState = initialState()
  /** While the ADL phase of a mark is open: that mark and the messages held meanwhile. */
  held: { mark: number; buffer: Array<[bigint, InputMessage]>; applied: string[] } | null = null

  /**
   * `localAdl`: one shard holding every account (partitions = 1) deleverages with the engine's own
   * autoDeleverage right after the liquidations, with no coordinator — the reference the tests
   * hold the sharded run against, and a single-node deployment.
   */
  constructor(
    readonly partition: number,
    readonly partitions: number,
    private readonly implementation: 'native' | 'js' | 'auto' = 'auto',
    private readonly localAdl = false,
  ) {}

  static restore(s: ShardSnapshot, implementation: 'native' | 'js' | 'auto' = 'auto'): ShardCore {
    const c = new ShardCore(s.partition, s.partitions, implementation)
    c.state = { ...initialState(), ...structuredClone(s.state) }
    if (s.state.setup) {
      c.engine = Engine.restore(Buffer.from(s.engine, 'base64'), { implementation })
      if (c.engine.stateHash() !== s.stateHash)
        throw new Error(`snapshot of partition ${s.partition}: state hash mismatch`)
    }
    return c
  }

  /** Snapshots are taken between ADL phases only, so no held message is ever lost. */
  snapshot(): ShardSnapshot {
    if (this.held) throw new Error('no snapshot inside an ADL phase')
    return {
      v: 1,
      partition: this.partition,
      partitions: this.partitions,
      stateHash: this.stateHash(),
      state: structuredClone(this.state),
      engine: this.engine ? Buffer.from(this.engine.snapshot()).toString('base64') : '',
    }
  }

  stateHash(): string {
    return this.engine?.stateHash() ?? ''
  }

  /** Apply the message at `offset` of this partition; returns what to publish. */
  handle(offset: bigint, m: InputMessage): Effects {
    const fx: Effects = { outputs: [], toCoordinator: [] }
    this.state.nextOffset = (offset + 1n).toString()
    if (this.held && !this.isAdl(m)) {
      this.held.buffer.push([offset, m])
      return fx
    }
    this.apply(offset, m, fx)
    // The ADL phase ended: apply what was held, in log order (a held mark may open a new phase,
    // which then holds the rest).
    let i = 0
    while (!this.held && i < this.pending.length) {
      const [o, h] = this.pending[i++]!
      this.apply(o, h, fx)
    }
    const opened = this.held as ShardCore['held']
    if (opened && i < this.pending.length) opened.buffer.push(...this.pending.slice(i))
    this.pending = []
    return fx
  }

  private pending: Array<[bigint, InputMessage]> = []

  private isAdl(m: InputMessage): boolean {
    return m.type === 'adlCall' || m.type === 'adlAlloc' || m.type === 'adlDone'
  }

  private apply(offset: bigint, m: InputMessage, fx: Effects): void {
    let index = 0
    const emit = (o: Out) => {
      // A liquidation's cancelled orders are named by the host's refs.
      if (o.type === 'event' && o.kind === 'orderCancelled')
        o = orders.cancelledByLiquidation(
          this.state.orders,
          o,
          this.state.setup!.quoteDecimals ?? 8,
        )
      fx.outputs.push({ v: 1, id: `${this.partition}:${offset}:${index++}`, ...o } as OutputMessage)
    }
    if (m.type === 'setup') {
      this.setup(m, emit)
      return
    }
    const e = this.engine
    if (!e) {
      emit(reject(m, 'NOT_SET_UP', 'no setup message yet'))
      return
    }
    try {
      switch (m.type) {
        case 'transfer':
          this.transfer(e, m.account, m.amount)
          break
        case 'fill':
          e.applyFills([{ account: m.account, symbol: m.symbol, qty: m.qty, price: m.price }])
          break
        case 'configurePreTrade':
          if (m.seq <= this.state.lastPreTrade) return
          e.configurePreTrade(m.symbol, m.options)
          this.state.lastPreTrade = m.seq
          break
        case 'setLeverage':
        case 'placeOrders':
        case 'cancelOrders':
        case 'fillOrders':
          for (const o of orders.handle(e, this.state.orders, m)) emit(o)
          break
        case 'funding':
          if (m.seq <= this.state.lastFunding) return
          this.state.lastFunding = m.seq
          this.events(e.settleFunding(m.symbol, m.rate), emit)
          break
        case 'mark':
          this.mark(e, m, emit, fx)
          break
        case 'adlCall':
          if (m.prorata) this.proRataOffer(e, m, fx)
          else this.offer(e, m.mark, m.symbol, m.side, m.need, fx)
          break
        case 'adlAlloc':
          this.allocate(e, m, emit)
          break
        case 'adlDone':
          if (this.held?.mark === m.mark) {
            this.pending = this.held.buffer
            this.held = null
          }
          return
      }
    } catch (err) {
      if (!(err instanceof DeleverageError) || m.type === 'mark' || this.isAdl(m)) throw err
      emit(reject(m, err.code, err.message))
    }
  }

  private setup(m: SetupMessage, emit: (o: Out) => void): void {
    if (this.state.setup) return void emit(reject(m, 'ALREADY_SET_UP', 'setup applies once'))
    const e = new Engine({
      quoteDecimals: m.quoteDecimals ?? 8,
      implementation: this.implementation,
    })
    for (const mk of m.markets) e.addMarket(mk)
    // ADL at the mark: the price every shard and one engine agree on (SCALE-OUT.md §4).
    e.configureWaterfall({ ...m.waterfall, adlPrice: 'mark' })
    e.depositInsuranceFund(m.insuranceFund)
    this.engine = e
    this.state.setup = m
    for (const mk of m.markets) this.state.marks[mk.symbol] = String(mk.mark)
  }

  private transfer(e: Engine, account: string, amount: string): void {
    const q = this.state.setup!.quoteDecimals ?? 8
    let balance: string
    try {
      balance = e.account(account).balance
    } catch (err) {
      if ((err as DeleverageError).code !== 'UNKNOWN_ACCOUNT') throw err
      return void e.addAccounts([{ id: account, balance: amount }])
    }
    const b = parseUnits(balance, q, 'balance') + parseUnits(amount, q, 'amount')
    e.setBalances({ [account]: formatUnits(b, q) })
  }

  private mark(e: Engine, m: MarkMessage, emit: (o: Out) => void, fx: Effects): void {
    if (m.seq <= this.state.lastMark) return // a publisher's retry
    this.state.lastMark = m.seq
    Object.assign(this.state.marks, m.marks)
    const status = (changes: WatchChange[], liq: MarginStatus[]) => {
      const w = this.state.setup!.warningRatio
      for (const o of statusOutputs(e, this.state.statuses, changes, liq, w))
        emit({ ...o, mark: m.seq })
    }
    const taken = liquidateAtMark(e, m.marks, this.state.marks, emit, m.seq, status)
    for (const [sym, q] of taken) addLots(this.state.enginePositions, sym, q)
    const setup = this.state.setup!
    if (this.localAdl) {
      for (const { symbol } of setup.markets) {
        if (!this.state.enginePositions[symbol]) continue
        for (const v of e.autoDeleverage(symbol)) {
          emit(eventOutput(v, m.seq))
          if (v.kind === 'adlFill') addLots(this.state.enginePositions, symbol, v.qty!)
        }
      }
      return void emit({ type: 'markDone', seq: m.seq, stateHash: e.stateHash() })
    }
    this.held = { mark: m.seq, buffer: [], applied: [] }
    fx.toCoordinator.push({
      v: 1,
      type: 'report',
      partition: this.partition,
      partitions: this.partitions,
      mark: m.seq,
      ranking: setup.waterfall.ranking,
      symbols: setup.markets.map((x) => x.symbol),
      marks: { ...this.state.marks },
      enginePositions: { ...this.state.enginePositions },
    })
    emit({ type: 'markDone', seq: m.seq, stateHash: e.stateHash() })
  }

  private offer(
    e: Engine,
    mark: number,
    symbol: string,
    side: 'long' | 'short',
    need: string,
    fx: Effects,
  ): void {
    if (this.held?.mark !== mark) return // a coordinator's retry of a finished phase
    const ranking = this.state.setup!.waterfall.ranking
    const entries = topOfQueue(e.adlQueue(symbol, side, ranking), need)
    fx.toCoordinator.push({ v: 1, type: 'offer', partition: this.partition, mark, symbol, entries })
  }

  /** Lots of `symbol` from a decimal quantity (its market's decimals). */
  private lots(symbol: string): (q: string) => bigint {
    const d = this.state.setup!.markets.find((x) => x.symbol === symbol)!.qtyDecimals
    return (q) => parseUnits(q, d, 'qty')
  }

  /** The three phases of a pro-rata round (prorata.ts): the side's total, Σ floors, and the best
   * `left` remainders. */
  private proRataOffer(e: Engine, m: AdlCallMessage, fx: Effects): void {
    if (this.held?.mark !== m.mark) return // a coordinator's retry of a finished phase
    const queue = e.adlQueue(m.symbol, m.side, 'prorata')
    const lots = this.lots(m.symbol)
    const offer = { v: 1, type: 'offer', partition: this.partition, mark: m.mark, symbol: m.symbol }
    const p = m.prorata!
    if (p.phase === 'total') {
      const total = prorata.sideTotal(queue, lots).toString()
      return void fx.toCoordinator.push({ ...offer, type: 'offer', v: 1, entries: [], total })
    }
    const [need, total] = [lots(m.need), BigInt(p.total)]
    if (p.phase === 'floors') {
      const floors = prorata.floorSum(queue, need, total, lots).toString()
      return void fx.toCoordinator.push({ ...offer, type: 'offer', v: 1, entries: [], floors })
    }
    const entries = prorata.bestRemainders(queue, need, total, BigInt(p.left ?? '0'), lots)
    fx.toCoordinator.push({ ...offer, type: 'offer', v: 1, entries })
  }

  /** This shard's fills of an allocation: listed (ranked), or its pro-rata shares. */
  private fillsOf(e: Engine, m: AdlAllocMessage): Array<{ account: string; qty: string }> {
    const p = m.prorata
    if (!p) return m.fills.filter((f) => partitionOf(f.account, this.partitions) === this.partition)
    const lots = this.lots(m.symbol)
    const d = this.state.setup!.markets.find((x) => x.symbol === m.symbol)!.qtyDecimals
    const sign = p.side === 'long' ? 1n : -1n
    const queue = e.adlQueue(m.symbol, p.side, 'prorata')
    return prorata
      .shares(queue, lots(p.need), BigInt(p.total), new Set(p.bonus), lots)
      .map((s) => ({ account: s.entry.account, qty: formatUnits(sign * s.take, d) }))
  }

  private allocate(e: Engine, m: AdlAllocMessage, emit: (o: Out) => void): void {
    // A coordinator that restarted re-sends what it sent: apply each market's allocation once.
    if (this.held?.mark !== m.mark || this.held.applied.includes(m.symbol)) return
    this.held.applied.push(m.symbol)
    for (const f of this.fillsOf(e, m))
      this.events(e.settleAdlFill(f.account, m.symbol, f.qty, m.price), emit, m.mark)
    const close = m.liquidatorClose[String(this.partition)]
    if (close && !/^-?0(\.0*)?$/.test(close)) {
      this.events(e.settleLiquidatorFill(m.symbol, close, m.price), emit, m.mark)
      addLots(this.state.enginePositions, m.symbol, negate(close))
    }
  }

  private events(evs: WaterfallEvent[], emit: (o: Out) => void, mark?: number): void {
    for (const v of evs) emit(eventOutput(v, mark))
  }
}

function eventOutput(v: WaterfallEvent, mark?: number): Out {
  const { kind, account, symbol, qty, price, amount } = v
  return { type: 'event', kind, account, symbol, qty, price, amount, ...(mark ? { mark } : {}) }
}

function reject(m: InputMessage, code: string, message: string): Out {
  return { type: 'rejected', input: m.type, code, message }
}

function negate(q: string): string {
  return q.startsWith('-') ? q.slice(1) : `-${q}`
}

function addLots(pos: Record<string, string>, symbol: string, q: string): void {
  const dec = decimalsOf(q, pos[symbol])
  const sum = parseUnits(pos[symbol] ?? '0', dec, 'qty') + parseUnits(q, dec, 'qty')
  if (sum === 0n) delete pos[symbol]
  else pos[symbol] = formatUnits(sum, dec)
}

function decimalsOf(...qs: Array<string | undefined>): number {
  return Math.max(...qs.map((q) => q?.split('.')[1]?.length ?? 0))
}

/**
 * A mark's liquidations, the same in a shard and in one engine: every liquidatable account (and
 * isolated position), worst first, gets its liquidation order (published) and is filled at the
 * mark — partial orders by settleLiquidationFill, a takeover by takeOver (the liquidator
 * takes the position; ADL unwinds it). `status` first sees the watch's transitions and the
 * liquidatable rows. Returns the quantities taken over, per market.
 */
export function liquidateAtMark(
  e: Engine,
  moved: Record<string, string>,
  marks: Record<string, string>,
  emit: (o: Out) => void,
  seq: number,
  status?: (changes: WatchChange[], liquidatable: MarginStatus[]) => void,
): Array<[string, string]> {
  const changes = e.updateMarks(moved)
  const liquidatable = e.liquidatable()
  status?.(changes, liquidatable)
  const taken: Array<[string, string]> = []
  for (const s of liquidatable) {
    const iso = s.symbol ?? undefined
    const plan = e.planLiquidation(s.account, iso)
    emit({ type: 'liquidationOrder', account: s.account, symbol: s.symbol, mark: seq, ...plan })
    const evs: WaterfallEvent[] = []
    if (plan.takeover) evs.push(...e.takeOver(s.account, iso))
    else
      for (const o of plan.orders)
        evs.push(
          ...e.settleLiquidationFill(s.account, {
            symbol: o.symbol,
            qty: o.qty,
            price: marks[o.symbol]!,
            isolated: iso !== undefined,
          }),
        )
    for (const v of evs) {
      emit(eventOutput(v, seq))
      if (v.kind === 'takeover') taken.push([v.symbol!, v.qty!])
    }
  }
  return taken
}

export type { AdlRanking }
