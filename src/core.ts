// The integer-level engine interface that both implementations provide: the Rust core through
// the napi binding (index.js) and the TypeScript engine in src/fallback. Everything here is in
// integer units (ticks, lots, atoms, rate units of 1e-8, ppm); decimal strings are handled by the
// public API in src/engine.ts. docs/SPEC.md defines every formula; the two must agree bit for bit.

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
}

export const CROSS = 0xffffffff
export const FLAG_ISOLATED = 1
export const FLAG_COST_BASIS = 2

/** What the Rust binding's `NativeEngine` and the TypeScript `JsEngine` both implement. */
export interface CoreEngine {
  addMarket(spec: MarketInit): number
  setMarks(markets: Uint32Array, marks: BigInt64Array): void
  /** Returns the index of the first new account; indices are dense and never reused. */
  addAccounts(ids: Array<string>, balances: BigInt64Array): number
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
}
