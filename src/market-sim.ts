// A realistic synthetic market for the demo and the simulator's tests: eight USDⓈ-M perpetuals
// with Binance-shaped leverage brackets, accounts whose balances, leverage, position counts and
// entry prices are spread the way a retail-heavy venue's are, and a crash path shaped like a real
// one. Everything is drawn from a 32-bit integer generator with integer arithmetic only (no
// Math.exp/log), so a seed gives the same book and path on every machine and Node version.

import type { MarketInit } from './core.js'
import { formatUnits } from './decimal.js'
import { RATIO_SCALE } from './generated/tables.js'
import type { SyntheticMarket } from './synthetic.js'

/** mulberry32: a small 32-bit generator; integer operations only, identical everywhere. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return (t ^ (t >>> 14)) >>> 0
  }
}

/** An integer in [0, n) (n ≤ 2^32; the tiny modulo bias does not matter here). */
function below(next: () => number, n: number): number {
  return next() % n
}

/** Pick an index with integer weights. */
function pick(next: () => number, weights: readonly number[], total: number): number {
  let r = below(next, total)
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i]!
    if (r < 0) return i
  }
  return weights.length - 1
}

/** Approximately normal, mean 0, in ppm of `sd` units: Irwin–Hall sum of 4 uniforms, rescaled. */
function normalPpm(next: () => number, sdPpm: number): number {
  // Sum of 4 U(0,1) has mean 2 and variance 1/3; (sum − 2)·√3 has sd 1. Integers in 2^-16 steps.
  let s = 0
  for (let i = 0; i < 4; i++) s += next() >>> 16
  // (s/65536 − 2)·√3 ≈ (s − 131072)·1.7320508/65536; keep integer: ·17320508 / (65536·10^7)
  // Plain IEEE multiply/divide (correctly rounded everywhere), no transcendental functions.
  return Math.trunc(((s - 131072) * 17320508 * (sdPpm / Number(RATIO_SCALE))) / 655360)
}

interface Bracket {
  /** Notional floor in quote (USDT). */
  floor: number
  /** Maintenance margin rate in 10^-8. */
  mmr: number
  maxLeverage: number
}

/**
 * Bracket tables in the shape of Binance's published USDⓈ-M "leverage and margin" tables: the
 * maintenance rate doubles-ish as the notional floor grows by roughly ten times, max leverage
 * falls from 125×/100×/75×/50× to 1×, and MM is deducted (`cum`, derived by the engine exactly as
 * Binance derives it). BTC is the published BTCUSDT table's first eight brackets; ETH, the majors
 * and the alts follow their tables' shape with lower floors (rounded; venues revise them often).
 */
const BTC: Bracket[] = [
  { floor: 0, mmr: 400_000, maxLeverage: 125 },
  { floor: 50_000, mmr: 500_000, maxLeverage: 100 },
  { floor: 600_000, mmr: 1_000_000, maxLeverage: 75 },
  { floor: 3_000_000, mmr: 2_000_000, maxLeverage: 50 },
  { floor: 12_000_000, mmr: 2_500_000, maxLeverage: 20 },
  { floor: 70_000_000, mmr: 5_000_000, maxLeverage: 10 },
  { floor: 100_000_000, mmr: 10_000_000, maxLeverage: 5 },
  { floor: 230_000_000, mmr: 12_500_000, maxLeverage: 4 },
]
const ETH: Bracket[] = [
  { floor: 0, mmr: 500_000, maxLeverage: 100 },
  { floor: 50_000, mmr: 650_000, maxLeverage: 75 },
  { floor: 600_000, mmr: 1_000_000, maxLeverage: 50 },
  { floor: 3_000_000, mmr: 2_000_000, maxLeverage: 25 },
  { floor: 12_000_000, mmr: 5_000_000, maxLeverage: 10 },
  { floor: 50_000_000, mmr: 10_000_000, maxLeverage: 5 },
  { floor: 65_000_000, mmr: 12_500_000, maxLeverage: 4 },
]
const MAJOR: Bracket[] = [
  { floor: 0, mmr: 650_000, maxLeverage: 75 },
  { floor: 10_000, mmr: 1_000_000, maxLeverage: 50 },
  { floor: 80_000, mmr: 2_000_000, maxLeverage: 25 },
  { floor: 500_000, mmr: 5_000_000, maxLeverage: 10 },
  { floor: 2_000_000, mmr: 10_000_000, maxLeverage: 5 },
  { floor: 5_000_000, mmr: 12_500_000, maxLeverage: 4 },
  { floor: 10_000_000, mmr: 25_000_000, maxLeverage: 2 },
]
const ALT: Bracket[] = [
  { floor: 0, mmr: 1_000_000, maxLeverage: 50 },
  { floor: 5_000, mmr: 2_000_000, maxLeverage: 25 },
  { floor: 25_000, mmr: 2_500_000, maxLeverage: 20 },
  { floor: 100_000, mmr: 5_000_000, maxLeverage: 10 },
  { floor: 250_000, mmr: 10_000_000, maxLeverage: 5 },
  { floor: 1_000_000, mmr: 12_500_000, maxLeverage: 4 },
  { floor: 3_000_000, mmr: 25_000_000, maxLeverage: 2 },
]

export interface SimMarketSpec {
  symbol: string
  /** Start price in ticks. */
  price: bigint
  priceDecimals: number
  qtyDecimals: number
  brackets: Bracket[]
  /** Share of positions (weights). */
  weight: number
  /** How far it falls relative to BTC in the crash (percent: 100 = as much as BTC). */
  beta: number
}

/**
 * The eight markets. Ticks follow the venue's; lots are finer than the venue's minimum order so
 * that one lot is worth a few USDT in every market (the engine's impact model is per lot).
 */
export const SIM_MARKETS: SimMarketSpec[] = [
  {
    symbol: 'BTCUSDT',
    price: 650_000n,
    priceDecimals: 1,
    qtyDecimals: 4,
    brackets: BTC,
    weight: 30,
    beta: 100,
  },
  {
    symbol: 'ETHUSDT',
    price: 340_000n,
    priceDecimals: 2,
    qtyDecimals: 3,
    brackets: ETH,
    weight: 22,
    beta: 115,
  },
  {
    symbol: 'SOLUSDT',
    price: 160_000n,
    priceDecimals: 3,
    qtyDecimals: 2,
    brackets: MAJOR,
    weight: 13,
    beta: 135,
  },
  {
    symbol: 'BNBUSDT',
    price: 58_000n,
    priceDecimals: 2,
    qtyDecimals: 2,
    brackets: MAJOR,
    weight: 8,
    beta: 90,
  },
  {
    symbol: 'LTCUSDT',
    price: 8_200n,
    priceDecimals: 2,
    qtyDecimals: 1,
    brackets: ALT,
    weight: 6,
    beta: 120,
  },
  {
    symbol: 'AVAXUSDT',
    price: 31_500n,
    priceDecimals: 3,
    qtyDecimals: 1,
    brackets: ALT,
    weight: 7,
    beta: 145,
  },
  {
    symbol: 'LINKUSDT',
    price: 14_800n,
    priceDecimals: 3,
    qtyDecimals: 1,
    brackets: ALT,
    weight: 8,
    beta: 140,
  },
  {
    symbol: 'DOTUSDT',
    price: 6_900n,
    priceDecimals: 3,
    qtyDecimals: 0,
    brackets: ALT,
    weight: 6,
    beta: 130,
  },
]

const Q = 8 // USDT atoms

function marketInit(s: SimMarketSpec): MarketInit {
  const vd = 10n ** BigInt(s.priceDecimals + s.qtyDecimals) // linear value units per USDT
  return {
    symbol: s.symbol,
    kind: 0,
    priceDecimals: s.priceDecimals,
    qtyDecimals: s.qtyDecimals,
    contractSize: 1n,
    basis: 0,
    form: 0,
    floors: BigInt64Array.from(s.brackets, (b) => BigInt(b.floor) * vd),
    mmr: BigInt64Array.from(s.brackets, (b) => BigInt(b.mmr)),
    // imr = 1 / max leverage, rounded up (as Engine.marketInit does for maxLeverage)
    imr: BigInt64Array.from(
      s.brackets,
      (b) => (10n ** 8n + BigInt(b.maxLeverage) - 1n) / BigInt(b.maxLeverage),
    ),
    mark: s.price,
  }
}

// Leverage per account (×): most between 3× and 20×, a tail at 50–100× (clipped to the bracket).
const LEVERAGE = [1, 2, 3, 5, 8, 10, 12, 15, 20, 25, 50, 75, 100]
const LEVERAGE_W = [140, 200, 200, 160, 100, 70, 40, 30, 20, 15, 15, 6, 4]
// Wallet balance per account (USDT): heavy-tailed, most small, a few whales.
const BALANCE = [50, 200, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 500_000, 2_000_000]
const BALANCE_W = [120, 180, 180, 150, 120, 90, 70, 50, 30, 8, 2]
// Positions per account: 1–8, mean 4.
const COUNT_W = [6, 12, 16, 24, 16, 12, 8, 6]

const sumW = (w: readonly number[]) => w.reduce((a, b) => a + b, 0)

/** Positions per account (1–8), drawn, then adjusted one at a time until they total `positions`. */
function positionCounts(next: () => number, accounts: number, positions: number): Uint8Array {
  const cntTotal = sumW(COUNT_W)
  const count = new Uint8Array(accounts)
  let total = 0
  for (let a = 0; a < accounts; a++) total += count[a] = 1 + pick(next, COUNT_W, cntTotal)
  for (let a = 0; total !== positions; a = (a + 1) % accounts) {
    if (total < positions && count[a]! < 8) {
      count[a]!++
      total++
    } else if (total > positions && count[a]! > 1) {
      count[a]!--
      total--
    }
  }
  return count
}

/** The leverage and notional (atoms) of a position taking `part`/`partsTotal` of an account's
 * `lev`× balance, the leverage lowered to the bracket the notional falls in (whales get less). */
function bracketNotional(
  spec: SimMarketSpec,
  balance: bigint,
  lev: number,
  part: number,
  partsTotal: number,
): [number, bigint] {
  const atoms = 10n ** BigInt(Q)
  let l = Math.min(lev, spec.brackets[0]!.maxLeverage)
  let notional = (balance * BigInt(l) * BigInt(part)) / BigInt(partsTotal)
  for (;;) {
    const usdt = notional / atoms
    let b = spec.brackets[0]!
    for (const x of spec.brackets) if (BigInt(x.floor) <= usdt) b = x
    if (b.maxLeverage >= l) return [l, notional]
    l = b.maxLeverage
    notional = (balance * BigInt(l) * BigInt(part)) / BigInt(partsTotal)
  }
}

/** An entry's offset from the price in ppm: N(0, 2.5 %), but at most 40 % of the margin (1/l)
 * against the position (a long loses when entry > price, a short when entry < price). */
function entryOffsetPpm(next: () => number, long: boolean, l: number): number {
  let off = normalPpm(next, 25_000)
  const maxAgainst = Math.floor(400_000 / l)
  if (long && off > maxAgainst) off = maxAgainst - below(next, 1 + Math.floor(maxAgainst / 2))
  if (!long && -off > maxAgainst) off = -(maxAgainst - below(next, 1 + Math.floor(maxAgainst / 2)))
  return off
}

/**
 * The demo book: `positions` positions over `accounts` accounts (positions/accounts must be
 * between 1 and 8 on average) in the eight markets. 55 % of accounts lean long (a crash hurts
 * the crowded side); 8 % are isolated. Entries are spread around the start price (sd 2.5 %),
 * never so far against the position that it starts below maintenance margin.
 */
export function makeSimMarket(
  positions: number,
  accounts: number,
  seed = 20240805,
): SyntheticMarket {
  if (positions < accounts || positions > accounts * 8)
    throw new RangeError('makeSimMarket: 1 to 8 positions per account')
  const next = rng(seed)
  const markets = SIM_MARKETS.map(marketInit)
  const levTotal = sumW(LEVERAGE_W)
  const balTotal = sumW(BALANCE_W)
  const mktW = SIM_MARKETS.map((m) => m.weight)
  const mktTotal = sumW(mktW)
  const count = positionCounts(next, accounts, positions)
  const balances = new BigInt64Array(accounts)
  const account = new Uint32Array(positions)
  const market = new Uint32Array(positions)
  const qty = new BigInt64Array(positions)
  const entry = new BigInt64Array(positions)
  const isolatedMargin = new BigInt64Array(positions)
  const flags = new Uint8Array(positions)
  const atoms = 10n ** BigInt(Q)
  let i = 0
  const used = new Uint8Array(SIM_MARKETS.length)
  for (let a = 0; a < accounts; a++) {
    const bucket = pick(next, BALANCE_W, balTotal)
    const lo = BALANCE[bucket]!
    const hi = BALANCE[bucket + 1] ?? lo * 4
    const balance =
      BigInt(lo) * atoms +
      BigInt(below(next, hi - lo)) * atoms +
      BigInt(below(next, 100)) * (atoms / 100n)
    balances[a] = balance
    const lev = LEVERAGE[pick(next, LEVERAGE_W, levTotal)]!
    const n = count[a]!
    used.fill(0)
    // split the account's notional over its positions with integer weights 1..4
    const parts: number[] = []
    for (let k = 0; k < n; k++) parts.push(1 + below(next, 4))
    const partsTotal = parts.reduce((x, y) => x + y, 0)
    const long = below(next, 100) < 55 // one view per account: most accounts lean one way
    for (let k = 0; k < n; k++) {
      let m = pick(next, mktW, mktTotal)
      while (used[m]) m = (m + 1) % SIM_MARKETS.length
      used[m] = 1
      const spec = SIM_MARKETS[m]!
      const [l, notional] = bracketNotional(spec, balance, lev, parts[k]!, partsTotal)
      // lots = notional / price, in units: atoms·10^(P+D) / (ticks·10^Q)
      let q =
        (notional * 10n ** BigInt(spec.priceDecimals + spec.qtyDecimals)) / (spec.price * atoms)
      if (q < 1n) q = 1n
      const side = below(next, 100) < 85 ? long : !long
      const off = entryOffsetPpm(next, side, l)
      account[i] = a
      market[i] = m
      qty[i] = side ? q : -q
      entry[i] = (spec.price * (RATIO_SCALE + BigInt(off))) / RATIO_SCALE
      if (below(next, 100) < 8) {
        flags[i] = 1
        isolatedMargin[i] = notional / BigInt(l)
      }
      i++
    }
  }
  return { quoteDecimals: Q, markets, balances, account, market, qty, entry, isolatedMargin, flags }
}

/**
 * A crash shaped like a real one (e.g. 2021-05-19 or 2024-08-05 intraday): a first leg down, a
 * dead-cat bounce, a second sharper leg, a relief rally, capitulation, and a partial recovery —
 * `steps` one-minute steps, BTC falling `depthPct` % at the low; each market moves by its beta,
 * with seeded noise. Returns path prices in ticks: [step][market].
 */
export function crashPath(
  markets: readonly SimMarketSpec[],
  steps = 30,
  depthPct = 25,
  seed = 7,
): bigint[][] {
  const next = rng(seed)
  // (fraction of the run, fraction of the full depth) anchors; linear in between.
  const anchors: Array<[number, number]> = [
    [0, 0],
    [0.2, 0.34],
    [0.3, 0.2],
    [0.5, 0.62],
    [0.6, 0.46],
    [0.8, 1],
    [1, 0.76],
  ]
  const out: bigint[][] = []
  for (let s = 1; s <= steps; s++) {
    const x = s / steps
    let k = 1
    while (anchors[k]![0] < x) k++
    const [x0, y0] = anchors[k - 1]!
    const [x1, y1] = anchors[k]!
    const y = y0 + ((y1 - y0) * (x - x0)) / (x1 - x0)
    // BTC's fall in ppm; noise of ±0.4 % per step
    const fallPpm = Math.round(y * depthPct * 10_000) + normalPpm(next, 4_000)
    out.push(
      markets.map((m) => {
        const f = BigInt(Math.max(0, Math.min(900_000, Math.round((fallPpm * m.beta) / 100))))
        const p = (m.price * (RATIO_SCALE - f)) / RATIO_SCALE
        return p < 1n ? 1n : p
      }),
    )
  }
  return out
}

/** The book as a scenario document (docs/SCENARIO.md), e.g. to run `deleverage simulate` on it. */
export function scenarioFromMarket(
  book: SyntheticMarket,
  insuranceFund: string,
): Record<string, unknown> {
  const f = formatUnits
  const Qd = book.quoteDecimals
  const accounts = Array.from(book.balances, (b, a) => ({
    id: `acct-${a}`,
    balance: f(b, Qd),
    positions: [] as Array<Record<string, string>>,
  }))
  for (let i = 0; i < book.qty.length; i++) {
    const m = book.markets[book.market[i]!]!
    const p: Record<string, string> = {
      symbol: m.symbol,
      qty: f(book.qty[i]!, m.qtyDecimals),
      entry: f(book.entry[i]!, m.priceDecimals),
    }
    if (book.flags[i]! & 1) p.isolatedMargin = f(book.isolatedMargin[i]!, Qd)
    accounts[book.account[i]!]!.positions.push(p)
  }
  return {
    description: 'the demo market (src/market-sim.ts)',
    quoteDecimals: Qd,
    insuranceFund,
    markets: book.markets.map((m) => ({
      symbol: m.symbol,
      priceDecimals: m.priceDecimals,
      qtyDecimals: m.qtyDecimals,
      marginBasis: 'mark',
      tierForm: 'deduction',
      tiers: Array.from(m.floors, (fl, t) => ({
        floor: f(fl, m.priceDecimals + m.qtyDecimals),
        mmr: f(m.mmr[t]!, 8),
        imr: f(m.imr[t]!, 8),
      })),
      mark: f(m.mark, m.priceDecimals),
    })),
    accounts,
  }
}
