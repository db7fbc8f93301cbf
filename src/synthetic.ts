// A deterministic synthetic book (benchmarks, demo): markets with Binance-like brackets, accounts
// with a spread of leverage, in integer units (typed arrays) ready for the bulk API.
import type { MarketInit } from './core.js'
import type { Engine } from './engine.js'

export interface Book {
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
  return (n: number) => ((s = (s * 48271) % 2147483647), s % n)
}

const P = 2 // price decimals (cents)
const D = 3 // qty decimals
const Q = 8 // quote atoms

export function makeBook(positions: number, accounts: number, markets: number, seed = 104729): Book {
  const rand = lcg(seed)
  const ms: MarketInit[] = []
  for (let m = 0; m < markets; m++) {
    const tiers = 3 + (m % 3) // 3–5 brackets
    const floors: bigint[] = [0n]
    const mmr: bigint[] = [400_000n + BigInt(rand(4)) * 100_000n] // 0.4 %–0.7 %
    for (let t = 1; t < tiers; t++) {
      floors.push(floors[t - 1]! * 5n + 50_000n * 10n ** BigInt(P + D) * BigInt(t))
      mmr.push(mmr[t - 1]! * 2n)
    }
    ms.push({
      symbol: `M${m}-PERP`,
      kind: 0,
      priceDecimals: P,
      qtyDecimals: D,
      contractSize: 1n,
      basis: 0,
      form: 0,
      floors: BigInt64Array.from(floors),
      mmr: BigInt64Array.from(mmr),
      imr: BigInt64Array.from(mmr, (x) => x * 2n),
      mark: BigInt(1_000 + rand(5_000_000)) * 10n ** BigInt(P), // 10 .. 50,000 quote
    })
  }
  const balances = BigInt64Array.from({ length: accounts }, () => BigInt(100 + rand(50_000)) * 10n ** BigInt(Q))
  const account = new Uint32Array(positions)
  const market = new Uint32Array(positions)
  const qty = new BigInt64Array(positions)
  const entry = new BigInt64Array(positions)
  const isolatedMargin = new BigInt64Array(positions)
  const flags = new Uint8Array(positions)
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
  return { quoteDecimals: Q, markets: ms, balances, account, market, qty, entry, isolatedMargin, flags }
}

/** Load a book through the bulk path: markets in integer units, then typed-array columns. */
export function load(engine: Engine, book: Book): void {
  for (const m of book.markets) engine.addMarketUnits(m)
  engine.core.addAccounts(Array.from({ length: book.balances.length }, (_, i) => `acct-${i}`), book.balances)
  engine.core.setPositions(book.account, book.market, book.qty, book.entry, book.isolatedMargin, book.flags)
}

