// A deterministic synthetic market (benchmarks, demo): markets with Binance-like brackets, accounts
// with a spread of leverage, in integer units (typed arrays) ready for the bulk API.
import type { MarketInit } from './core.js'
import type { Engine } from './engine.js'

/** Accounts and positions over several markets: no order book (issue 14: "Book" named one). */
export interface SyntheticMarket {
  quoteDecimals: number
  markets: MarketInit[]
  balances: BigInt64Array
  account: Uint32Array
  market: Uint32Array
  qty: BigInt64Array
  entry: BigInt64Array
  isolatedMargin: BigInt64Array
  flags: Uint8Array
}

/** Park–Miller LCG: small, deterministic, identical everywhere. */
export function lcg(seed: number) {
  let s = seed
  return (n: number) => {
    s = (s * 48271) % 2147483647
    return s % n
  }
}

const P = 2 // price decimals (cents)
const D = 3 // qty decimals
const Q = 8 // quote atoms

/**
 * A linear mark-basis market with deduction tiers at `floors` (tier units): MM rates from
 * 0.4–0.7 %, doubling each tier, IM twice MM, the mark 10–50 000 quote. Draws the rate, then
 * the mark.
 */
function tieredMarket(rand: (n: number) => number, symbol: string, floors: bigint[]): MarketInit {
  const mmr: bigint[] = [400_000n + BigInt(rand(4)) * 100_000n]
  for (let t = 1; t < floors.length; t++) mmr.push(mmr[t - 1]! * 2n)
  return {
    symbol,
    kind: 0,
    priceDecimals: P,
    qtyDecimals: D,
    contractSize: 1n,
    basis: 0,
    form: 0,
    floors: BigInt64Array.from(floors),
    mmr: BigInt64Array.from(mmr),
    imr: BigInt64Array.from(mmr, (x) => x * 2n),
    mark: BigInt(1_000 + rand(5_000_000)) * 10n ** BigInt(P),
  }
}

/** Zeroed position columns of a synthetic book, in SyntheticMarket's order. */
function positionColumns(n: number) {
  return {
    account: new Uint32Array(n),
    market: new Uint32Array(n),
    qty: new BigInt64Array(n),
    entry: new BigInt64Array(n),
    isolatedMargin: new BigInt64Array(n),
    flags: new Uint8Array(n),
  }
}

export function makeSyntheticMarket(
  positions: number,
  accounts: number,
  markets: number,
  seed = 104729,
): SyntheticMarket {
  const rand = lcg(seed)
  const ms: MarketInit[] = []
  for (let m = 0; m < markets; m++) {
    const tiers = 3 + (m % 3) // 3–5 brackets
    const floors: bigint[] = [0n]
    for (let t = 1; t < tiers; t++)
      floors.push(floors[t - 1]! * 5n + 50_000n * 10n ** BigInt(P + D) * BigInt(t))
    ms.push(tieredMarket(rand, `M${m}-PERP`, floors))
  }
  const balances = BigInt64Array.from(
    { length: accounts },
    () => BigInt(100 + rand(50_000)) * 10n ** BigInt(Q),
  )
  const cols = positionColumns(positions)
  const { account, market, qty, entry, isolatedMargin, flags } = cols
  const perAccount = positions / accounts
  for (let i = 0; i < positions; i++) {
    const a = Math.floor(i / perAccount)
    // distinct markets within an account: consecutive offsets from a random start
    const m = (a * 7 + (i % perAccount)) % markets
    account[i] = a
    market[i] = m
    const mark = ms[m]!.mark
    // leverage 1x–25x on the account balance, split over its positions; entry within ±4 % of mark
    const lev = BigInt(1 + rand(25))
    const notionalAtoms = (balances[a]! * lev) / BigInt(perAccount)
    let q = (notionalAtoms * 10n ** BigInt(D + P)) / (mark * 10n ** BigInt(Q))
    if (q === 0n) q = 1n
    qty[i] = rand(2) ? q : -q
    entry[i] = (mark * BigInt(960 + rand(80))) / 1000n
    if (rand(10) === 0) {
      flags[i] = 1
      isolatedMargin[i] = notionalAtoms / lev
    }
  }
  return { quoteDecimals: Q, markets: ms, balances, ...cols }
}

/** Load a book through the bulk path: markets in integer units, then typed-array columns. */
export function load(engine: Engine, book: SyntheticMarket): void {
  for (const m of book.markets) engine.addMarketUnits(m)
  engine.core.addAccounts(
    Array.from({ length: book.balances.length }, (_, i) => `acct-${i}`),
    book.balances,
  )
  engine.core.setPositions(
    book.account,
    book.market,
    book.qty,
    book.entry,
    book.isolatedMargin,
    book.flags,
  )
}

/** Options of `makeRaggedMarket` (every field has a default). */
export interface RaggedOptions {
  markets?: number
  /** Share of cross accounts and isolated positions made liquidatable, in percent (0.1, 3). */
  liquidatablePct?: number
  /** Share of positions that are isolated, in percent. */
  isolatedPct?: number
  /** Accounts holding one position near the engine's limits (value ≈ 10^16 lots·ticks). */
  nearLimit?: number
  seed?: number
}

/** Maintenance tiers of the ragged book, in quote: floors and rates (× 10^-8) per tier. */
const FLOORS_QUOTE = [0, 50_000, 250_000, 1_000_000, 5_000_000]

/** Float margin of one position as the book generator sees it: (uPnL, MM) in quote. */
function floatMargin(ms: MarketInit[], m: number, q: bigint, entry: bigint): [number, number] {
  const mk = ms[m]!
  const x = Number(mk.mark) / 10 ** P
  const qf = Number(q) / 10 ** D
  const v = Math.abs(qf) * x
  let t = 0
  while (t + 1 < mk.floors.length && Number(mk.floors[t + 1]!) / 10 ** (P + D) <= v) t++
  let cum = 0
  for (let i = 1; i <= t; i++)
    cum += (Number(mk.floors[i]!) / 10 ** (P + D)) * (Number(mk.mmr[i]! - mk.mmr[i - 1]!) / 1e8)
  return [qf * (x - Number(entry) / 10 ** P), (v * Number(mk.mmr[t]!)) / 1e8 - cum]
}

/**
 * One position of a ragged account in market `mk`: sized log-uniformly inside a random tier (or
 * near the i64 limit when `near`), long or short, isolated by `isolatedPct` %, its entry within
 * ±4 % of the mark (against the position when it must be liquidatable, so the balance stays
 * positive). Draws from `rand` in a fixed order.
 */
function raggedPosition(
  rand: (n: number) => number,
  mk: MarketInit,
  near: boolean,
  bad: boolean,
  isolatedPct: number,
  liqP: number,
): { sq: bigint; e: bigint; iso: boolean; isoBad: boolean } {
  const unit = () => rand(1_000_000) / 1_000_000
  const tiers = mk.floors.length
  const t = rand(tiers)
  const lo = FLOORS_QUOTE[t]! || 2_000
  const hi = t + 1 < tiers ? FLOORS_QUOTE[t + 1]! : 2 * lo
  // notional in quote, log-uniform inside the tier; near-limit: 2–4·10^10 quote, whose value
  // in atoms (2–4·10^18) is near i64::MAX
  const notional = near ? 2e10 * (1 + unit()) : lo * (hi / lo) ** unit()
  let q = BigInt(Math.floor((notional * 10 ** D) / (Number(mk.mark) / 10 ** P)))
  if (q === 0n) q = 1n
  const long = rand(2) === 1
  const iso = !near && unit() * 100 < isolatedPct
  const isoBad = iso && unit() < liqP
  // losing entries for what must be liquidatable, so the balance stays positive
  const adverse = (iso ? isoBad : bad) ? 1 : rand(2) ? 1 : -1
  const dev = BigInt(rand(400) * adverse) // ±4 % in 0.01 % steps
  const e = (mk.mark * (10_000n + (long ? dev : -dev))) / 10_000n
  return { sq: long ? q : -q, e, iso, isoBad }
}

/**
 * A book that is not easy: ragged accounts (1–7 positions in distinct markets), positions sized
 * into every maintenance tier (3–5 per market), `isolatedPct` % isolated, `liquidatablePct` % of
 * the cross accounts and of the isolated positions liquidatable (by 2–60 % of their MM, so a float
 * evaluation agrees), about 5 % of healthy accounts within 10 % of their MM, and `nearLimit`
 * accounts with one position near the limits (so an i64 fast path has to fall back for them).
 * Linear markets, mark basis, deduction tiers; positions come account by account.
 */
export function makeRaggedMarket(positions: number, opts: RaggedOptions = {}): SyntheticMarket {
  const {
    markets = 64,
    liquidatablePct = 0.1,
    isolatedPct = 10,
    nearLimit = 16,
    seed = 7919,
  } = opts
  const rand = lcg(seed)
  const unit = () => rand(1_000_000) / 1_000_000
  const ms: MarketInit[] = []
  for (let m = 0; m < markets; m++) {
    const floors = FLOORS_QUOTE.slice(0, 3 + (m % 3)).map((f) => BigInt(f) * 10n ** BigInt(P + D))
    ms.push(tieredMarket(rand, `R${m}-PERP`, floors))
  }
  const cols = positionColumns(positions)
  const { account, market, qty, entry, isolatedMargin, flags } = cols
  const balances = new BigInt64Array(positions)
  const liqP = liquidatablePct / 100
  const atoms = (quote: number) =>
    BigInt(Math.max(0, Math.round(quote * 1e4))) * 10n ** BigInt(Q - 4)
  const nearEvery = nearLimit > 0 ? Math.max(1, Math.floor(positions / 4 / nearLimit)) : Infinity
  let i = 0
  let a = 0
  for (; i < positions; a++) {
    const near = a % nearEvery === nearEvery - 1 && a / nearEvery < nearLimit
    const n = near ? 1 : Math.min(1 + rand(7), positions - i)
    const start = rand(markets)
    const bad = unit() < liqP
    let upnl = 0
    let mm = 0
    for (let k = 0; k < n; k++) {
      const m = (start + k) % markets
      const { sq, e, iso, isoBad } = raggedPosition(rand, ms[m]!, near, bad, isolatedPct, liqP)
      const [u, pm] = floatMargin(ms, m, sq, e)
      account[i] = a
      market[i] = m
      qty[i] = sq
      entry[i] = e
      if (iso) {
        flags[i] = 1
        const margin = isoBad
          ? pm - u - pm * (0.02 + 0.58 * unit())
          : pm - u + pm * (0.1 + 20 * unit())
        isolatedMargin[i] = atoms(Math.max(margin, 0))
      } else {
        upnl += u
        mm += pm
      }
      i++
    }
    const warn = unit() < 0.05
    // (near-limit accounts: at most 2× MM, so the balance stays far inside i64)
    const extra = bad
      ? -mm * (0.02 + 0.58 * unit())
      : mm * (warn ? 0.02 + 0.08 * unit() : near ? 0.1 + unit() : 0.1 + 20 * unit())
    balances[a] = atoms(mm - upnl + extra)
  }
  return { quoteDecimals: Q, markets: ms, balances: balances.slice(0, a), ...cols }
}
