// The cascade simulator (docs/SIMULATE.md): a price path drives marks → the waterfall
// (liquidations with price impact, takeovers, the insurance fund, ADL or loss socialisation), and
// the liquidation flow moves the mark further before the next round. Every step is recorded.
// All money is exact (bigint atoms, decimal strings in the result); floats appear only in the
// chart-ready series. The engine is used through its public integer interface (`engine.core`);
// nothing here changes what the engine computes.

import { CROSS, EVENT_KINDS, type EventColumns } from './core.js'
import { formatUnits } from './decimal.js'
import type { AdlRanking, Engine, WaterfallOptions } from './engine.js'
import { DeleverageError } from './fallback/errors.js'

export type Policy = AdlRanking | 'socialised'
export const POLICIES: readonly Policy[] = [
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
  policy: Policy
  /** Fee, buffer, ADL price, fund policy; the ranking is the policy's. */
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
  /** The insurance fund at the end of the step (for `socialised`, net of the credit line). */
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
  policy: Policy
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

// Event kinds (src/core.ts EVENT_KINDS order).
const kindCode = (k: (typeof EVENT_KINDS)[number]) => EVENT_KINDS.indexOf(k)
const K = {
  fill: kindCode('liquidationFill'),
  fee: kindCode('liquidationFee'),
  takeover: kindCode('takeover'),
  fundPayment: kindCode('fundPayment'),
  engineFill: kindCode('engineFill'),
  adlFill: kindCode('adlFill'),
  badDebt: kindCode('badDebt'),
  netting: kindCode('engineNetting'),
}

const PPM = 1_000_000n

function divFloor(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q
}
function divCeil(a: bigint, b: bigint): bigint {
  return -divFloor(-a, b)
}
const abs = (x: bigint) => (x < 0n ? -x : x)
const max0 = (x: bigint) => (x > 0n ? x : 0n)

/**
 * Position arithmetic of SPEC §3.1 and §8.1, written again here (not imported from either
 * engine) so that the simulator's own bookkeeping checks the engine's event amounts.
 */
export class Money {
  /** linear: atoms per value unit is 10^s; inverse: 10^t factor (SPEC §2.1, §2.2) */
  private readonly e: number
  /** 10^|e|, once (it is used on every event). */
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
  costBasis(q: bigint, price: bigint): bigint {
    if (!this.m.inverse) return q * price
    const n = q * this.m.contractSize
    return this.e >= 0 ? divFloor(n * this.pow, price) : divFloor(n, price * this.pow)
  }
  /** Close d of (q, cost) at x: [closed cost share, realised PnL atoms] (SPEC §8.1). */
  close(q: bigint, cost: bigint, d: bigint, x: bigint): [bigint, bigint] {
    if (!this.m.inverse) {
      const closed = d === q ? cost : divCeil(cost * d, q)
      return [closed, this.scaleFloor(d * x - closed)]
    }
    const closed = d === q ? cost : divFloor(cost * d, q)
    return [closed, closed - this.invValue(d, x)]
  }
  /** What closing d at x instead of at the mark costs the closing account (≥ 0 when x is worse). */
  giveUp(d: bigint, x: bigint, mark: bigint): bigint {
    if (!this.m.inverse) return this.scaleFloor(d * (mark - x))
    return this.invValue(d, x) - this.invValue(d, mark)
  }
  /** |q| at x in atoms (volume; floor). */
  notional(q: bigint, x: bigint): bigint {
    const aq = abs(q)
    if (!this.m.inverse) return this.scaleFloor(aq * x)
    return -this.invValue(-aq, x) // floor(|q|·size·10^t/x)
  }
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

/** Run one policy along the path on a freshly loaded engine. */
export function simulate(setup: SimSetup, o: SimOptions): SimResult {
  const { engine, markets } = setup
  const core = engine.core
  const q = engine.quoteDecimals
  const fmt = (x: bigint) => formatUnits(x, q)
  const fb: FeedbackModel = { ...DEFAULT_FEEDBACK, ...o.feedback }
  if (!(fb.maxRounds >= 1))
    throw new DeleverageError(
      'INVALID_ARGUMENT',
      `feedback.maxRounds must be ≥ 1, got ${fb.maxRounds}`,
    )
  const nm = markets.length
  const money = markets.map((m) => new Money(m, q))
  const socialised = o.policy === 'socialised'
  engine.configureWaterfall({
    ...(o.waterfall ?? {}),
    ranking: o.policy === 'socialised' ? 'prorata' : o.policy,
  })
  const before = marginHistogram(engine)
  if (o.insuranceFund > 0n) core.depositFund(o.insuranceFund, 0n)
  // Socialised loss (docs/SIMULATE.md): the fund pays what it has and the rest of a market's
  // loss is shared by every position of that market (SPEC §9.4). The engine's waterfall ADLs
  // when its fund cannot pay, so here the engine runs on a credit line deposited into its fund
  // (it then always unwinds in the book), the true fund is tracked from the events, and what it
  // could not pay is socialised into a recovery account that repays the line:
  //   engine fund = true fund + credit deposited − recovery balance   (checked every round).
  let recovery = -1
  let credit = 0n
  if (socialised) {
    recovery = core.addAccounts(['~insurance-fund-credit'], BigInt64Array.of(0n))
  }
  let fund = o.insuranceFund // the true fund
  const fundStart = fund
  const disp = new Array<bigint>(nm).fill(0n)
  const pending = new Array<bigint>(nm).fill(0n) // socialised: owed by each market this step
  const touched = new Uint8Array(core.accountCount() + 1)
  let accountsTouched = 0
  const steps: StepRecord[] = []
  const topN = o.topEvents ?? 20
  const top: Array<{ size: bigint; ev: SimEvent }> = []
  const events: SimEvent[] | undefined = o.keepEvents ? [] : undefined
  const all = Uint32Array.from(markets, (m) => m.index)
  const T = {
    rounds: 0,
    events: 0,
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
    conserved: true,
  }
  const marketPos = new Map(markets.map((m, i) => [m.index, i]))
  const idOf = (i: number) => (i === CROSS ? null : core.accountId(i))
  const decode = (
    c: EventColumns,
    i: number,
    step: number,
    round: number,
    size: bigint,
  ): SimEvent => {
    const mi = c.market[i]!
    const m = mi === CROSS ? null : markets[marketPos.get(mi)!]!
    const trade = m !== null && c.price[i] !== 0n
    return {
      step,
      round,
      seq: Number(c.seq[i]!),
      kind: EVENT_KINDS[c.kind[i]!]!,
      account: idOf(c.account[i]!),
      symbol: m?.symbol ?? null,
      counterparty: idOf(c.counterparty[i]!),
      qty: m && (trade || c.qty[i] !== 0n) ? formatUnits(c.qty[i]!, m.qtyDecimals) : null,
      price: trade ? formatUnits(c.price[i]!, m!.priceDecimals) : null,
      amount: fmt(c.amount[i]!),
      size: fmt(size),
    }
  }
  const offer = (c: EventColumns, i: number, step: number, round: number, size: bigint) => {
    if (topN > 0 && (top.length < topN || size > top[top.length - 1]!.size)) {
      const ev = decode(c, i, step, round, size)
      let k = top.length
      while (k > 0 && top[k - 1]!.size < size) k--
      top.splice(k, 0, { size, ev })
      if (top.length > topN) top.pop()
    }
  }
  for (let s = 0; s < o.path.length; s++) {
    const path = o.path[s]!
    if (path.length !== nm)
      throw new DeleverageError(
        'INVALID_ARGUMENT',
        `path step ${s + 1}: ${path.length} prices for ${nm} markets`,
      )
    for (let j = 0; j < nm; j++) disp[j] = (disp[j]! * (PPM - BigInt(fb.resiliencePpm))) / PPM
    const rec = {
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
    }
    const cashBefore = core.ledger().cashTotal
    let marks = path.map((p, j) => displaced(p, disp[j]!))
    core.setMarks(all, BigInt64Array.from(marks))
    const roundMarks: string[][] = []
    for (let r = 0; r < fb.maxRounds; r++) {
      rec.rounds++
      roundMarks.push(marks.map((p, j) => formatUnits(p, markets[j]!.priceDecimals)))
      if (socialised) {
        // Keep the line far above any round's losses; deposits come from settlement (§8.5).
        const e = core.ledger().insuranceFund
        if (e < 2n ** 61n) {
          const top = 2n ** 62n - e
          core.depositFund(top, BigInt(s + 1))
          credit += top
        }
      }
      const fundStartRound = fund
      // The engine's own position per market before the run, followed through the round's events.
      const pq = markets.map((m) => core.enginePosition(m.index)[0]!)
      const pc = markets.map((m) => core.enginePosition(m.index)[1]!)
      const first = core.runWaterfall(1, o.fill.ppmPerLot, o.fill.capPpm, BigInt(s + 1))
      const c = core.events(first)
      const n = c.seq.length
      T.events += n
      const flow = new Array<bigint>(nm).fill(0n)
      const deficit = new Array<bigint>(nm).fill(0n)
      const lastMarket = new Map<number, number>()
      let B = 0n // bankrupt losses at mark
      let capacity = max0(fundStartRound)
      let taken = 0n
      const outflow = (x: bigint, j: number) => {
        if (!socialised) {
          fund -= x
          return
        }
        const avail = max0(fund)
        const paid = x < avail ? x : avail
        fund -= paid
        deficit[j]! += x - paid
      }
      // A takeover lands in the engine after the netting it sets off against an opposite engine
      // position (SPEC §8.4, the next event); so it waits here for one event (one at a time).
      let taking: { j: number; q: bigint; x: bigint } | null = null
      const land = () => {
        if (!taking) return
        const { j, q, x } = taking
        pq[j]! += q
        pc[j]! += money[j]!.costBasis(q, x)
        taking = null
      }
      for (let i = 0; i < n; i++) {
        const kind = c.kind[i]!
        const a = c.account[i]!
        const j = c.market[i] === CROSS ? -1 : marketPos.get(c.market[i]!)!
        const d = c.qty[i]!
        const x = c.price[i]!
        const amt = c.amount[i]!
        let size = 0n
        if (taking && !(taking.j === j && kind === K.netting)) land()
        switch (kind) {
          case K.fill: {
            size = money[j]!.notional(d, x)
            rec.partialFills++
            rec.liq += size
            flow[j]! -= d > 0n ? size : -size // closing a long sells
            lastMarket.set(a, j)
            break
          }
          case K.fee:
            fund += amt
            capacity += amt
            rec.fees += amt
            size = amt
            break
          case K.takeover: {
            size = money[j]!.notional(d, x)
            rec.takeovers++
            rec.liq += size
            taking = { j, q: d, x }
            lastMarket.set(a, j)
            break
          }
          case K.netting: {
            // the engine's held position closes d at x against the takeover, no book trade
            const [closed, pnl] = money[j]!.close(pq[j]!, pc[j]!, d, x)
            if (pnl !== amt)
              throw new DeleverageError(
                'INTERNAL',
                `simulator bookkeeping: netting PnL ${amt} ≠ ${pnl} recomputed`,
              )
            B -= pnl // both legs valued at mark add up to the netting's PnL
            pq[j]! -= d
            pc[j]! -= closed
            taking!.q += d
            land()
            if (pnl >= 0n) {
              fund += pnl
              capacity += pnl
            } else outflow(-pnl, j)
            break
          }
          case K.fundPayment:
            size = amt
            B += amt
            outflow(amt, lastMarket.get(a) ?? 0)
            break
          case K.engineFill: {
            const [closed, pnl] = money[j]!.close(pq[j]!, pc[j]!, d, x)
            if (pnl !== amt)
              throw new DeleverageError(
                'INTERNAL',
                `simulator bookkeeping: engine fill PnL ${amt} ≠ ${pnl} recomputed`,
              )
            const [, atMark] = money[j]!.close(pq[j]!, pc[j]!, d, marks[j]!)
            B -= atMark
            pq[j]! -= d
            pc[j]! -= closed
            size = money[j]!.notional(d, x)
            rec.engineFills++
            rec.liq += size
            flow[j]! -= d > 0n ? size : -size
            if (pnl >= 0n) {
              fund += pnl
              capacity += pnl
            } else outflow(-pnl, j)
            break
          }
          case K.adlFill: {
            // the counterparty closes d at x; the engine closes −d at the same price
            const [closed, pnl] = money[j]!.close(pq[j]!, pc[j]!, -d, x)
            const [, atMark] = money[j]!.close(pq[j]!, pc[j]!, -d, marks[j]!)
            B -= atMark
            pq[j]! += d
            pc[j]! -= closed
            fund += pnl
            const g = money[j]!.giveUp(d, x, marks[j]!)
            taken += g
            size = money[j]!.notional(d, x)
            rec.adlFills++
            rec.adl += size
            if (!touched[a]) (touched[a] = 1), accountsTouched++
            break
          }
          case K.badDebt:
            size = amt
            B += amt
            rec.badDebt += amt
            break
        }
        if (size > 0n) offer(c, i, s + 1, r + 1, size)
        if (events) events.push(decode(c, i, s + 1, r + 1, size))
      }
      land()
      if (socialised) {
        for (let j = 0; j < nm; j++) pending[j]! += deficit[j]!
        const e = core.ledger().insuranceFund
        const rb = core.balances(Uint32Array.of(recovery))[0]!
        const owed = pending.reduce((x, y) => x + y, 0n)
        if (e !== fund + credit - rb - owed)
          throw new DeleverageError(
            'INTERNAL',
            `simulator bookkeeping: engine fund ${e} ≠ true fund ${fund} + credit ${credit} − recovered ${rb} − to socialise ${owed}`,
          )
      } else if (core.ledger().insuranceFund !== fund) {
        throw new DeleverageError(
          'INTERNAL',
          `simulator bookkeeping: fund ${core.ledger().insuranceFund} ≠ ${fund} followed through the events`,
        )
      }
      for (let j = 0; j < nm; j++) {
        const [eq, ec] = core.enginePosition(markets[j]!.index)
        if (eq !== pq[j] || ec !== pc[j])
          throw new DeleverageError(
            'INTERNAL',
            `simulator bookkeeping: engine position in ${markets[j]!.symbol} (${eq}, ${ec}) ≠ (${pq[j]}, ${pc[j]})`,
          )
      }
      const required = max0(B - capacity)
      rec.taken += taken
      rec.required += required
      // The round's liquidation flow moves the mark further (linear impact against the book's depth).
      let moved = false
      for (let j = 0; j < nm; j++) {
        if (flow[j] === 0n) continue
        let shift = (flow[j]! * 10_000n) / markets[j]!.depth
        const cap = BigInt(fb.capPpm)
        if (shift > cap) shift = cap
        if (shift < -cap) shift = -cap
        disp[j]! += shift
        if (disp[j]! < -900_000n) disp[j] = -900_000n
        const m2 = displaced(path[j]!, disp[j]!)
        if (m2 !== marks[j]) moved = true
      }
      if (!moved) break
      marks = path.map((p, j) => displaced(p, disp[j]!))
      core.setMarks(all, BigInt64Array.from(marks))
      if (r + 1 === fb.maxRounds) break // the step ends at the moved mark; the next step runs there
    }
    if (socialised) {
      // What the fund could not pay this step is shared by every position of the market, once a
      // step (one settlement a minute), into the recovery account that repays the credit line.
      for (let j = 0; j < nm; j++) {
        if (pending[j]! <= 0n) continue
        const f2 = core.nextSeq()
        core.socialiseLoss(markets[j]!.index, pending[j]!, recovery)
        pending[j] = 0n
        const c2 = core.events(f2)
        T.events += c2.seq.length
        const acc = c2.account
        const amts = c2.amount
        for (let i = 0; i < acc.length; i++) {
          const amt = amts[i]!
          if (amt <= 0n) continue
          rec.taken += amt
          rec.socialised++
          const a = acc[i]!
          if (!touched[a]) (touched[a] = 1), accountsTouched++
          offer(c2, i, s + 1, rec.rounds, amt)
          if (events) events.push(decode(c2, i, s + 1, rec.rounds, amt))
        }
      }
    }
    const cashAfter = core.ledger().cashTotal
    if (cashAfter !== cashBefore) T.conserved = false
    rec.overshoot = rec.taken - rec.required
    T.rounds += rec.rounds
    T.partialFills += rec.partialFills
    T.takeovers += rec.takeovers
    T.engineFills += rec.engineFills
    T.adlFills += rec.adlFills
    T.socialised += rec.socialised
    T.liq += rec.liq
    T.adl += rec.adl
    T.fees += rec.fees
    T.taken += rec.taken
    T.required += rec.required
    T.overshoot += rec.overshoot
    T.badDebt += rec.badDebt
    steps.push({
      step: s + 1,
      rounds: rec.rounds,
      path: path.map((p, j) => formatUnits(p, markets[j]!.priceDecimals)),
      mark: marks.map((p, j) => formatUnits(p, markets[j]!.priceDecimals)),
      roundMarks,
      partialFills: rec.partialFills,
      takeovers: rec.takeovers,
      engineFills: rec.engineFills,
      adlFills: rec.adlFills,
      socialised: rec.socialised,
      liquidationVolume: fmt(rec.liq),
      adlVolume: fmt(rec.adl),
      fees: fmt(rec.fees),
      insuranceFund: fmt(fund),
      taken: fmt(rec.taken),
      required: fmt(rec.required),
      overshoot: fmt(rec.overshoot),
      badDebt: fmt(rec.badDebt),
      cashBefore: fmt(cashBefore),
      cashAfter: fmt(cashAfter),
    })
    o.onProgress?.(s + 1, o.path.length)
  }
  const result: SimResult = {
    policy: o.policy,
    implementation: engine.implementation,
    markets: markets.map((m) => m.symbol),
    steps,
    totals: {
      steps: steps.length,
      rounds: T.rounds,
      events: T.events,
      partialFills: T.partialFills,
      takeovers: T.takeovers,
      engineFills: T.engineFills,
      adlFills: T.adlFills,
      socialised: T.socialised,
      liquidationVolume: fmt(T.liq),
      adlVolume: fmt(T.adl),
      fees: fmt(T.fees),
      taken: fmt(T.taken),
      required: fmt(T.required),
      overshoot: fmt(T.overshoot),
      badDebt: fmt(T.badDebt),
      accountsTouched,
      insuranceFundStart: fmt(fundStart),
      insuranceFundEnd: fmt(fund),
      cashConserved: T.conserved,
    },
    marginRatios: { before, after: marginHistogram(engine) },
    largestEvents: top.map((t) => t.ev),
  }
  if (events) result.events = events
  return result
}
