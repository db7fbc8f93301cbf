// The cascade simulator (docs/SIMULATE.md): a price path drives marks → the waterfall
// (liquidations with price impact, takeovers, the insurance fund, ADL or loss socialisation), and
// the liquidation flow moves the mark further before the next round. Every step is recorded.
// All money is exact (bigint atoms, decimal strings in the result); floats appear only in the
// chart-ready series. The engine is used through its public integer interface (`engine.core`):
// it does all the accounting (the socialised rule is its socialise fund policy); the simulator
// only moves the marks and reads what happened from the events and the ledger.

import { CROSS, EVENT_KINDS, type EventColumns } from './core.js'
import { formatUnits } from './decimal.js'
import type { AdlRanking, Engine, WaterfallOptions } from './engine.js'
import { DeleverageError } from './fallback/errors.js'

/**
 * Who bears what the insurance fund cannot pay (loss allocation): an ADL ranking, or
 * `socialised` — the engine's socialise fund policy (SPEC), which charges the market's positions.
 */
export type LossRule = AdlRanking | 'socialised'
export const LOSS_RULES: readonly LossRule[] = [
  'bitmex',
  'binance',
  'hyperliquid',
  'prorata',
  'socialised',
]

/** What the simulator needs to know about a market (integer units, SPEC §2). */
export interface SimMarket {
  index: number
  symbol: string
  priceDecimals: number
  qtyDecimals: number
  inverse: boolean
  contractSize: bigint
  /** Book depth: liquidation flow (margin-asset atoms) that moves the mark by 1 % (10,000 ppm). */
  depth: bigint
}

/** A freshly loaded engine (marks at the start prices, no fund yet) and its markets. */
export interface SimSetup {
  engine: Engine
  markets: SimMarket[]
}

export interface FeedbackModel {
  /** Most rounds of waterfall → mark impact → waterfall within one step (≥ 1). */
  maxRounds: number
  /** Share of the mark displacement that the book recovers each step, ppm (500000 = half). */
  resiliencePpm: number
  /** Largest mark move one round's flow may cause, ppm. */
  capPpm: number
}

export interface SimOptions {
  /** Path prices in ticks, [step][market index]. */
  path: bigint[][]
  lossRule: LossRule
  /** Fee, buffer, ADL price, fund policy; the ranking (and for `socialised` the fund policy) is the loss rule's. */
  waterfall?: Omit<WaterfallOptions, 'ranking'>
  /** Opening insurance fund, atoms. */
  insuranceFund: bigint
  /** The engine's fill model for liquidation orders (SPEC §8.3 Impact). */
  fill: { ppmPerLot: bigint; capPpm: bigint }
  feedback?: Partial<FeedbackModel>
  /** Keep every event (decoded, with step and round) in the result. */
  keepEvents?: boolean
  /** How many of the largest events to keep (default 20). */
  topEvents?: number
  onProgress?: (done: number, total: number) => void
}

export const DEFAULT_FEEDBACK: FeedbackModel = {
  maxRounds: 3,
  resiliencePpm: 500_000,
  capPpm: 30_000,
}

export interface SimEvent {
  step: number
  round: number
  seq: number
  kind: string
  account: string | null
  symbol: string | null
  counterparty: string | null
  qty: string | null
  price: string | null
  /** Realised PnL, fee, payment or loss share, in the margin asset. */
  amount: string
  /** Notional (trades) or amount (payments) in the margin asset, ≥ 0: what "largest" ranks by. */
  size: string
}

export interface StepRecord {
  step: number
  rounds: number
  /** Path price and the mark at the end of the step (after the liquidation flow's impact), per market. */
  path: string[]
  mark: string[]
  /** The marks each waterfall round of the step ran at. */
  roundMarks: string[][]
  partialFills: number
  takeovers: number
  engineFills: number
  adlFills: number
  socialised: number
  /** Liquidation volume in the margin asset: partial fills + takeovers (at bankruptcy) + engine fills. */
  liquidationVolume: string
  adlVolume: string
  fees: string
  /** The insurance fund at the end of the step (the ledger's). */
  insuranceFund: string
  /** Taken from traders this step: ADL give-ups against mark, or socialised shares. */
  taken: string
  /** Bankrupt losses at mark this step that the fund could not cover. */
  required: string
  overshoot: string
  badDebt: string
  /** Cash (balances + margins + fund + residue + settlement) before and after: equal. */
  cashBefore: string
  cashAfter: string
}

export interface Histogram {
  /** Bucket labels: "0–10 %" … "90–100 %", "≥ 100 % (liquidatable)", "equity ≤ 0". */
  labels: string[]
  counts: number[]
}

export interface SimResult {
  lossRule: LossRule
  implementation: string
  markets: string[]
  steps: StepRecord[]
  totals: {
    steps: number
    rounds: number
    events: number
    partialFills: number
    takeovers: number
    engineFills: number
    adlFills: number
    socialised: number
    liquidationVolume: string
    adlVolume: string
    fees: string
    taken: string
    required: string
    overshoot: string
    badDebt: string
    /** Distinct accounts that gave up profit (ADL) or paid a share (socialised). */
    accountsTouched: number
    insuranceFundStart: string
    insuranceFundEnd: string
    cashConserved: boolean
  }
  marginRatios: { before: Histogram; after: Histogram }
  largestEvents: SimEvent[]
  events?: SimEvent[]
}

const PPM = 1_000_000n

function divFloor(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}
function divCeil(a: bigint, b: bigint): bigint {
  return -divFloor(-a, b)
}

/** The mark after a displacement: path·(10^6 + disp)/10^6, floored, at least one tick. */
export function displaced(path: bigint, dispPpm: bigint): bigint {
  const p = (path * (PPM + dispPpm)) / PPM
  return p < 1n ? 1n : p
}

const RATIO_EDGES = [
  100_000n,
  200_000n,
  300_000n,
  400_000n,
  500_000n,
  600_000n,
  700_000n,
  800_000n,
  900_000n,
  1_000_000n,
]
const RATIO_LABELS = [
  '0–10 %',
  '10–20 %',
  '20–30 %',
  '30–40 %',
  '40–50 %',
  '50–60 %',
  '60–70 %',
  '70–80 %',
  '80–90 %',
  '90–100 %',
  '≥ 100 %',
  'equity ≤ 0',
]

/** Accounts with positions by margin ratio (MM / equity), SPEC §5.3. */
export function marginHistogram(engine: Engine): Histogram {
  const c = engine.core.accountRows(null)
  const counts = new Array<number>(RATIO_LABELS.length).fill(0)
  for (let i = 0; i < c.account.length; i++) {
    if (c.maintenanceMargin[i] === 0n) continue // no positions
    const r = c.marginRatioPpm[i]!
    let b: number
    if (r < 0n) b = 11
    else {
      b = RATIO_EDGES.findIndex((e) => r < e)
      if (b < 0) b = 10
    }
    counts[b]!++
  }
  return { labels: RATIO_LABELS.slice(), counts }
}

/** Values in the margin asset of one market (SPEC §2): what the simulator measures events by. */
export class MarketValues {
  /** linear: atoms per value unit is 10^s; inverse: 10^t factor (SPEC §2.1, §2.2) */
  private readonly e: number
  private readonly pow: bigint
  constructor(
    readonly m: SimMarket,
    quoteDecimals: number,
  ) {
    this.e = m.inverse
      ? m.priceDecimals - m.qtyDecimals + quoteDecimals
      : quoteDecimals - m.priceDecimals - m.qtyDecimals
    this.pow = 10n ** BigInt(Math.abs(this.e))
  }
  private scaleFloor(v: bigint): bigint {
    return this.e >= 0 ? v * this.pow : divFloor(v, this.pow)
  }
  /** ceil(q·size·10^t / x), signed q (inverse value in atoms). */
  private invValue(q: bigint, x: bigint): bigint {
    const n = q * this.m.contractSize
    return this.e >= 0 ? divCeil(n * this.pow, x) : divCeil(n, x * this.pow)
  }
  /** What closing d at x instead of at the mark costs the closing account (≥ 0 when x is worse). */
  giveUp(d: bigint, x: bigint, mark: bigint): bigint {
    if (!this.m.inverse) return this.scaleFloor(d * (mark - x))
    return this.invValue(d, x) - this.invValue(d, mark)
  }
  /** Unrealised PnL of (q, cost) at x in atoms (SPEC §3.2, rounded down). */
  upnl(q: bigint, cost: bigint, x: bigint): bigint {
    return this.m.inverse ? cost - this.invValue(q, x) : this.scaleFloor(q * x - cost)
  }
  /** |q| at x in atoms (volume; floor). */
  notional(q: bigint, x: bigint): bigint {
    const aq = q < 0n ? -q : q
    if (!this.m.inverse) return this.scaleFloor(aq * x)
    return -this.invValue(-aq, x) // floor(|q|·size·10^t/x)
  }
}

/** Counts and sums of a step (and, summed, of the run). */
interface Tally {
  rounds: number
  partialFills: number
  takeovers: number
  engineFills: number
  adlFills: number
  socialised: number
  liq: bigint
  adl: bigint
  fees: bigint
  taken: bigint
  required: bigint
  overshoot: bigint
  badDebt: bigint
}

const emptyTally = (): Tally => ({
  rounds: 0,
  partialFills: 0,
  takeovers: 0,
  engineFills: 0,
  adlFills: 0,
  socialised: 0,
  liq: 0n,
  adl: 0n,
  fees: 0n,
  taken: 0n,
  required: 0n,
  overshoot: 0n,
  badDebt: 0n,
})

function addTally(t: Tally, s: Tally): void {
  const a = t as unknown as Record<string, number | bigint>
  const b = s as unknown as Record<string, number | bigint>
  for (const k of Object.keys(a))
    a[k] = typeof a[k] === 'bigint' ? a[k] + (b[k] as bigint) : (a[k] as number) + (b[k] as number)
}

/** What one waterfall round added up to, beyond the step's tally. */
interface Round {
  /** Signed book flow per market (closing a long sells: negative), atoms. */
  flow: bigint[]
  /**
   * Bankrupt losses valued at the round's marks: deficits, plus what takeovers hand the
   * liquidator, less what it still holds at the end (valued at mark; it is counted when closed).
   */
  losses: bigint
  /** Fund at the round's start (≥ 0) plus the round's fees and liquidator gains. */
  capacity: bigint
}

/** The run: the engine, its markets and what has been recorded so far. */
class Run {
  readonly core: Engine['core']
  readonly values: MarketValues[]
  readonly pos: Map<number, number>
  readonly touched: Uint8Array
  accountsTouched = 0
  events = 0
  readonly top: Array<{ size: bigint; ev: SimEvent }> = []
  readonly kept: SimEvent[] | undefined
  constructor(
    readonly setup: SimSetup,
    readonly o: SimOptions,
  ) {
    this.core = setup.engine.core
    this.values = setup.markets.map((m) => new MarketValues(m, setup.engine.quoteDecimals))
    this.pos = new Map(setup.markets.map((m, i) => [m.index, i]))
    this.touched = new Uint8Array(this.core.accountCount() + 1)
    this.kept = o.keepEvents ? [] : undefined
  }
  fmt(x: bigint): string {
    return formatUnits(x, this.setup.engine.quoteDecimals)
  }
  touch(a: number): void {
    if (!this.touched[a]) (this.touched[a] = 1), this.accountsTouched++
  }
  /** Record event i (largest-first list and, when asked, every event). */
  record(c: EventColumns, i: number, step: number, round: number, size: bigint): void {
    const topN = this.o.topEvents ?? 20
    const top = this.top
    if (topN > 0 && size > 0n && (top.length < topN || size > top[top.length - 1]!.size)) {
      let k = top.length
      while (k > 0 && top[k - 1]!.size < size) k--
      top.splice(k, 0, { size, ev: this.decode(c, i, step, round, size) })
      if (top.length > topN) top.pop()
    }
    this.kept?.push(this.decode(c, i, step, round, size))
  }
  private decode(c: EventColumns, i: number, step: number, round: number, size: bigint): SimEvent {
    const mi = c.market[i]!
    const m = mi === CROSS ? null : this.setup.markets[this.pos.get(mi)!]!
    const trade = m !== null && c.price[i] !== 0n
    const id = (a: number) => (a === CROSS ? null : this.core.accountId(a))
    return {
      step,
      round,
      seq: Number(c.seq[i]!),
      kind: EVENT_KINDS[c.kind[i]!]!,
      account: id(c.account[i]!),
      symbol: m?.symbol ?? null,
      counterparty: id(c.counterparty[i]!),
      qty: m && (trade || c.qty[i] !== 0n) ? formatUnits(c.qty[i]!, m.qtyDecimals) : null,
      price: trade ? formatUnits(c.price[i]!, m!.priceDecimals) : null,
      amount: this.fmt(c.amount[i]!),
      size: this.fmt(size),
    }
  }
}

/**
 * One event into the step's tally and the round's sums; returns its size (what "largest" ranks
 * by: notional at the fill price for trades, the amount for payments, 0 for the rest).
 */
function tallyEvent(run: Run, c: EventColumns, i: number, marks: bigint[], t: Tally, r: Round) {
  const kind = EVENT_KINDS[c.kind[i]!]
  const j = c.market[i] === CROSS ? -1 : run.pos.get(c.market[i]!)!
  const [d, x, amt] = [c.qty[i]!, c.price[i]!, c.amount[i]!]
  const v = run.values[j]
  const size = v && x !== 0n ? v.notional(d, x) : amt > 0n ? amt : 0n
  switch (kind) {
    case 'liquidationFill':
    case 'engineFill':
      if (kind === 'liquidationFill') t.partialFills++
      else t.engineFills++
      t.liq += size
      r.flow[j]! -= d > 0n ? size : -size // closing a long sells
      if (kind === 'engineFill' && amt > 0n) r.capacity += amt
      return size
    case 'takeover':
      t.takeovers++
      t.liq += size
      // The liquidator holds d bought at x: valued at the mark, its loss is the account's gain.
      r.losses -= v!.giveUp(d, x, marks[j]!)
      return size
    case 'engineNetting':
      if (amt > 0n) r.capacity += amt
      return 0n
    case 'liquidationFee':
      t.fees += amt
      r.capacity += amt
      return size
    case 'fundPayment':
    case 'badDebt':
      r.losses += amt
      if (kind === 'badDebt') t.badDebt += amt
      return size
    case 'adlFill':
      t.adlFills++
      t.adl += size
      t.taken += v!.giveUp(d, x, marks[j]!)
      run.touch(c.account[i]!)
      return size
    case 'socialisedLoss':
      if (amt <= 0n) return 0n
      t.socialised++
      t.taken += amt
      run.touch(c.account[i]!)
      return size
    default:
      return 0n
  }
}

/** The liquidator's positions (`liquidatorPosition`) valued at `marks`: its unrealised PnL, atoms. */
function liquidatorUpnl(run: Run, marks: bigint[]): bigint {
  let u = 0n
  run.setup.markets.forEach((m, j) => {
    const [q, cost] = run.core.liquidatorPosition(m.index)
    if (q !== 0n) u += run.values[j]!.upnl(q!, cost!, marks[j]!)
  })
  return u
}

/** One waterfall round at `marks`: the engine runs, the events are tallied. */
function runRound(run: Run, step: number, round: number, marks: bigint[], t: Tally): Round {
  const { core, o } = run
  const fund = core.ledger().insuranceFund
  const r: Round = {
    flow: marks.map(() => 0n),
    losses: 0n,
    capacity: fund > 0n ? fund : 0n,
  }
  const held = liquidatorUpnl(run, marks)
  const c = core.events(core.runWaterfall(1, o.fill.ppmPerLot, o.fill.capPpm, BigInt(step)))
  const n = c.seq.length
  run.events += n
  for (let i = 0; i < n; i++) run.record(c, i, step, round, tallyEvent(run, c, i, marks, t, r))
  r.losses += liquidatorUpnl(run, marks) - held
  const required = r.losses - r.capacity
  if (required > 0n) t.required += required
  return r
}

/**
 * The round's liquidation flow moves the marks further (linear impact against the book's depth);
 * returns whether a mark moved by a tick.
 */
function moveMarks(run: Run, path: bigint[], disp: bigint[], flow: bigint[], marks: bigint[]) {
  const fb = feedbackOf(run.o)
  const cap = BigInt(fb.capPpm)
  let moved = false
  for (let j = 0; j < disp.length; j++) {
    if (flow[j] === 0n) continue
    let shift = (flow[j]! * 10_000n) / run.setup.markets[j]!.depth
    if (shift > cap) shift = cap
    if (shift < -cap) shift = -cap
    disp[j]! += shift
    if (disp[j]! < -900_000n) disp[j] = -900_000n
    if (displaced(path[j]!, disp[j]!) !== marks[j]) moved = true
  }
  return moved
}

const feedbackOf = (o: SimOptions): FeedbackModel => ({ ...DEFAULT_FEEDBACK, ...o.feedback })

/** One step of the path: decay, up to maxRounds rounds with mark feedback, the step's record. */
function runStep(run: Run, s: number, disp: bigint[], totals: Tally): StepRecord {
  const { core, o, setup } = run
  const fb = feedbackOf(o)
  const path = o.path[s]!
  const nm = setup.markets.length
  if (path.length !== nm)
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `path step ${s + 1}: ${path.length} prices for ${nm} markets`,
    )
  for (let j = 0; j < nm; j++) disp[j] = (disp[j]! * (PPM - BigInt(fb.resiliencePpm))) / PPM
  const all = Uint32Array.from(setup.markets, (m) => m.index)
  const t = emptyTally()
  const cashBefore = core.ledger().cashTotal
  const ticks = (ps: bigint[]) => ps.map((p, j) => formatUnits(p, setup.markets[j]!.priceDecimals))
  let marks = path.map((p, j) => displaced(p, disp[j]!))
  core.setMarks(all, BigInt64Array.from(marks))
  const roundMarks: string[][] = []
  for (let r = 0; r < fb.maxRounds; r++) {
    t.rounds++
    roundMarks.push(ticks(marks))
    const { flow } = runRound(run, s + 1, r + 1, marks, t)
    if (!moveMarks(run, path, disp, flow, marks)) break
    marks = path.map((p, j) => displaced(p, disp[j]!))
    core.setMarks(all, BigInt64Array.from(marks))
  }
  const cashAfter = core.ledger().cashTotal
  t.overshoot = t.taken - t.required
  addTally(totals, t)
  const fmt = (x: bigint) => run.fmt(x)
  return {
    step: s + 1,
    rounds: t.rounds,
    path: ticks(path),
    mark: ticks(marks),
    roundMarks,
    partialFills: t.partialFills,
    takeovers: t.takeovers,
    engineFills: t.engineFills,
    adlFills: t.adlFills,
    socialised: t.socialised,
    liquidationVolume: fmt(t.liq),
    adlVolume: fmt(t.adl),
    fees: fmt(t.fees),
    insuranceFund: fmt(core.ledger().insuranceFund),
    taken: fmt(t.taken),
    required: fmt(t.required),
    overshoot: fmt(t.overshoot),
    badDebt: fmt(t.badDebt),
    cashBefore: fmt(cashBefore),
    cashAfter: fmt(cashAfter),
  }
}

/** The engine's waterfall for a loss rule: its ranking, and for `socialised` its fund policy. */
function configure(engine: Engine, o: SimOptions): void {
  const socialised = o.lossRule === 'socialised'
  engine.configureWaterfall({
    ...(o.waterfall ?? {}),
    ranking: socialised ? 'prorata' : (o.lossRule as AdlRanking),
    ...(socialised ? { fundPolicy: { kind: 'socialise' as const } } : {}),
  })
}

/** Run one loss rule along the path on a freshly loaded engine. */
export function simulate(setup: SimSetup, o: SimOptions): SimResult {
  const { engine, markets } = setup
  const fb = feedbackOf(o)
  if (!(fb.maxRounds >= 1))
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `feedback.maxRounds must be ≥ 1, got ${fb.maxRounds}`,
    )
  configure(engine, o)
  const before = marginHistogram(engine)
  if (o.insuranceFund > 0n) engine.core.depositFund(o.insuranceFund, 0n)
  const run = new Run(setup, o)
  const disp = markets.map(() => 0n)
  const totals = emptyTally()
  const steps: StepRecord[] = []
  for (let s = 0; s < o.path.length; s++) {
    steps.push(runStep(run, s, disp, totals))
    o.onProgress?.(s + 1, o.path.length)
  }
  const fmt = (x: bigint) => run.fmt(x)
  const result: SimResult = {
    lossRule: o.lossRule,
    implementation: engine.implementation,
    markets: markets.map((m) => m.symbol),
    steps,
    totals: {
      steps: steps.length,
      rounds: totals.rounds,
      events: run.events,
      partialFills: totals.partialFills,
      takeovers: totals.takeovers,
      engineFills: totals.engineFills,
      adlFills: totals.adlFills,
      socialised: totals.socialised,
      liquidationVolume: fmt(totals.liq),
      adlVolume: fmt(totals.adl),
      fees: fmt(totals.fees),
      taken: fmt(totals.taken),
      required: fmt(totals.required),
      overshoot: fmt(totals.overshoot),
      badDebt: fmt(totals.badDebt),
      accountsTouched: run.accountsTouched,
      insuranceFundStart: fmt(o.insuranceFund),
      insuranceFundEnd: fmt(engine.core.ledger().insuranceFund),
      cashConserved: steps.every((x) => x.cashAfter === x.cashBefore),
    },
    marginRatios: { before, after: marginHistogram(engine) },
    largestEvents: run.top.map((x) => x.ev),
  }
  if (run.kept) result.events = run.kept
  return result
}
