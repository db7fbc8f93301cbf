// Mirror of crates/core/src/market.rs: market rules — contract type, units, maintenance-margin
// tiers and the value they apply to. Every formula is written once in docs/SPEC.md (§ numbers).
// All methods here are the exact BigInt reference; src/fallback/fast.ts holds the number fast
// paths, which read the number mirrors kept on Market.

import { DeleverageError, ErrorCode, rustDebugStr, withContext } from './errors.js'
import { DEFAULT_LINEAR_ASSET } from '../generated/tables.js'
import {
  CONTRACT_SIZE_MAX,
  I128_MAX,
  I128_MIN,
  Ceil,
  Floor,
  MAX_PRICE_DECIMALS,
  MAX_QTY_DECIMALS,
  PRICE_MAX_TICKS,
  QTY_MAX_LOTS,
  RATE_DECIMALS,
  RATE_SCALE,
  add,
  divCeil,
  divFloor,
  mul,
  pow10,
  ratio,
  scale,
  sub,
  toI64,
  type Round,
} from './num.js'

/** ContractKind. Linear: PnL in the quote (margin) asset, qty × (mark − entry). */
export const Linear = 0
/** ContractKind. Inverse (coin-margined): PnL = contracts × size × (1/entry − 1/mark). */
export const Inverse = 1
/** MarginBasis (SPEC §4): what the maintenance rate applies to. Binance values at mark... */
export const Mark = 0
/** ...Bybit/BitMEX at entry. */
export const Entry = 1
/** TierForm. MM = value × mmr(tier) − maintAmount(tier) (Binance, Bybit, OKX, Hyperliquid). */
export const Deduction = 0
/** TierForm. MM = value × mmr(tier), one rate for the whole position (BitMEX risk limits). */
export const Step = 1

/** A market as supplied by the host, before validation (Rust MarketSpec). */
export interface MarketSpec {
  symbol: string
  kind: number
  priceDecimals: number
  qtyDecimals: number
  /** Inverse only: quote units per contract (1 for BitMEX XBTUSD, 100 for BTCUSD on others). */
  contractSize: bigint
  basis: number
  form: number
  floors: bigint[]
  mmr: bigint[]
  imr: bigint[]
  /** Given maintenance amounts, or null to derive them from the floors (SPEC §4.2). */
  maintAmount: bigint[] | null
  mark: bigint
  /** Price grid in ticks (SPEC §2.5); absent or 0 means 1 (Rust MarketTerms). */
  tickSize?: bigint
  /** Settlement asset (SPEC §5.4); absent/null: 'quote' for linear, the symbol for inverse. */
  settleAsset?: string | null
}

/** The settlement asset of a linear market that names none: the engine's quote asset. */
export { DEFAULT_LINEAR_ASSET }

/** A mark must lie on the market's price grid (SPEC §2.5); the message gives the tick size as a
 * decimal (P price decimals) and in price units. */
export function checkOnGrid(
  p: bigint,
  tickSize: bigint,
  priceDecimals: number,
  what: string,
): void {
  if (p % tickSize !== 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidPrice,
      `${what} must be a multiple of the tick size ${decimal(tickSize, priceDecimals)} (${tickSize} price units), got ${decimal(p, priceDecimals)} (${p} price units)`,
    )
  }
}

/** v · 10^-p as a decimal string without trailing zeros (v > 0): 5n, 1 → "0.5"; 25n, 0 → "25". */
export function decimal(v: bigint, p: number): string {
  const d = pow10(p)
  const frac = (v % d).toString().padStart(p, '0').replace(/0+$/, '')
  return frac === '' ? `${v / d}` : `${v / d}.${frac}`
}

/** v · 10^-p as the user writes it (any sign, any p, trailing zeros dropped): tier messages show
 * rates, floors and amounts in the units of the input (crates/core market.rs `written`). */
export function written(v: bigint, p: number): string {
  const digits = (v < 0n ? -v : v).toString().padStart(p + 1, '0')
  const int = digits.slice(0, digits.length - p)
  const frac = digits.slice(digits.length - p).replace(/0+$/, '')
  return (v < 0n ? '-' : '') + int + (frac ? `.${frac}` : '')
}

/** Largest magnitude below which every integer is exact as a double. */
export const SAFE = 2 ** 53

/** market.rs check_price: a price in ticks of a market of `priceDecimals`; messages give the
 * limit and the value as prices, as the user wrote them, and in ticks. */
export function checkPrice(p: bigint, priceDecimals: number, what: string): void {
  if (p <= 0n || p > PRICE_MAX_TICKS) {
    const px = (x: bigint) => written(x, priceDecimals)
    throw new DeleverageError(
      ErrorCode.InvalidPrice,
      `${what} must be within 1..=${PRICE_MAX_TICKS} ticks (at most ${px(PRICE_MAX_TICKS)}), got ${px(p)} (${p} ticks)`,
    )
  }
}

export function checkQty(q: bigint, what: string): void {
  if ((q < 0n ? -q : q) > QTY_MAX_LOTS) {
    throw new DeleverageError(
      ErrorCode.InvalidQuantity,
      `${what} must be within ±${QTY_MAX_LOTS} lots, got ${q}`,
    )
  }
}

/** The rule for market symbols, settlement assets and account ids (Rust `valid_name`): 1–64 bytes
 * of UTF-8, no space and no control character (U+0000–U+0020, U+007F–U+009F); a lone surrogate
 * is not UTF-8. Compared bytewise (`cmpBytes`). */
export function isValidId(s: string): boolean {
  if (s.length === 0) return false
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c <= 0x20 || (c >= 0x7f && c <= 0x9f)) return false
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1)
      if (!(d >= 0xdc00 && d <= 0xdfff)) return false
      bytes += 4
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) return false
    else bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : 3
    if (bytes > 64) return false
  }
  return true
}

/** Market::continuous_mm: entry basis, one tier, or deduction tiers with the derived amounts. */
function continuousMm(spec: MarketSpec, tiers: Tiers): boolean {
  if (spec.basis === Entry || tiers.floors.length === 1) return true
  if (spec.form !== Deduction) return false
  for (let i = 1; i < tiers.floors.length; i++) {
    // checked in Rust: a product beyond i128 is not a match
    const derived =
      (tiers.floors[i] as bigint) * ((tiers.mmr[i] as bigint) - (tiers.mmr[i - 1] as bigint)) +
      (tiers.maint[i - 1] as bigint)
    if (derived > I128_MAX || derived < I128_MIN || derived !== tiers.maint[i]) return false
  }
  return true
}

export class Market {
  readonly symbol: string
  readonly kind: number
  readonly priceDecimals: number
  readonly qtyDecimals: number
  readonly contractSize: bigint
  readonly basis: number
  readonly form: number
  /** Tier columns: floor (tier units), mmr and imr (1e-8), maintenance amount (tier units × 1e-8). */
  readonly floors: bigint[]
  readonly mmr: bigint[]
  readonly imr: bigint[]
  readonly maintAmount: bigint[]
  mark: bigint
  /** Price grid in ticks, ≥ 1 (SPEC §2.5). */
  readonly tickSize: bigint
  /** Settlement asset (SPEC §5.4), resolved. */
  readonly settleAsset: string
  /** Exponent s with linear value units × 10^s = atoms: Q − P − D. */
  readonly linAtomsExp: number
  /** Exponent t with inverse value in atoms = qty·size·10^t / price: P − D + Q. */
  readonly invValueExp: number
  /** Maintenance margin is continuous in the price (entry basis, one tier, or deduction tiers
   * with the derived amounts): the liquidation watch keeps one band end (watch.ts). */
  readonly continuousMm: boolean

  // Number mirrors for the fast paths (fast.ts). Exact where finite; NaN marks "not exact".
  /** The mark as a number (≤ 10^15, always exact). */
  markF: number
  readonly sizeF: number
  readonly floorsF: Float64Array
  readonly mmrF: Float64Array
  /** Exponent of the maintenance-margin scaling at grid 0: linear s − 8, inverse −8. */
  readonly mmExp: number
  /** mmExp ≥ 0: the maintenance amount; mmExp < 0: its quotient and remainder by 10^−mmExp. */
  readonly cumF: Float64Array
  readonly cumHiF: Float64Array
  readonly cumLoF: Float64Array

  private constructor(
    spec: MarketSpec,
    tiers: Tiers,
    quoteDecimals: number,
    tickSize: bigint,
    settleAsset: string,
  ) {
    const q = quoteDecimals
    const p = spec.priceDecimals
    const d = spec.qtyDecimals
    this.symbol = spec.symbol
    this.kind = spec.kind
    this.priceDecimals = p
    this.qtyDecimals = d
    this.contractSize = spec.contractSize
    this.basis = spec.basis
    this.form = spec.form
    this.floors = tiers.floors
    this.mmr = tiers.mmr
    this.imr = tiers.imr
    this.maintAmount = tiers.maint
    this.mark = spec.mark
    this.tickSize = tickSize
    this.settleAsset = settleAsset
    this.linAtomsExp = q - p - d
    this.invValueExp = p - d + q
    this.continuousMm = continuousMm(spec, tiers)

    this.markF = Number(spec.mark)
    this.sizeF = Number(spec.contractSize)
    const n = tiers.floors.length
    this.floorsF = new Float64Array(n)
    this.mmrF = new Float64Array(n)
    this.cumF = new Float64Array(n)
    this.cumHiF = new Float64Array(n)
    this.cumLoF = new Float64Array(n)
    this.mmExp = spec.kind === Linear ? this.linAtomsExp - RATE_DECIMALS : -RATE_DECIMALS
    const big = BigInt(SAFE)
    for (let i = 0; i < n; i++) {
      const cum = tiers.maint[i] as bigint
      this.floorsF[i] = Number(tiers.floors[i])
      this.mmrF[i] = Number(tiers.mmr[i])
      this.cumF[i] = cum >= 0n && cum < big ? Number(cum) : NaN
      if (this.mmExp < 0) {
        const D = pow10(-this.mmExp)
        const hi = divFloor(cum, D)
        const lo = cum - hi * D
        const ok = cum >= 0n && hi < big && lo < big
        this.cumHiF[i] = ok ? Number(hi) : NaN
        this.cumLoF[i] = ok ? Number(lo) : NaN
      } else {
        this.cumHiF[i] = NaN
        this.cumLoF[i] = NaN
      }
    }
  }

  /** Market::new: validate the spec (units, terms, mark, tiers). */
  static create(spec: MarketSpec, quoteDecimals: number): Market {
    checkUnits(spec, quoteDecimals)
    const sym = spec.symbol
    const [tickSize, settleAsset] = resolveTerms(spec)
    try {
      checkPrice(spec.mark, spec.priceDecimals, 'mark')
      checkOnGrid(spec.mark, tickSize, spec.priceDecimals, 'mark')
    } catch (e) {
      throw withContext(e, `market ${sym}`)
    }
    let tiers: Tiers
    try {
      tiers = buildTiers(spec, quoteDecimals)
    } catch (e) {
      throw withContext(e, `market ${sym}`)
    }
    return new Market(spec, tiers, quoteDecimals, tickSize, settleAsset)
  }

  /** A mark for this market: within range and on the price grid (SPEC §2.5). */
  checkMark(p: bigint): void {
    checkPrice(p, this.priceDecimals, 'mark')
    checkOnGrid(p, this.tickSize, this.priceDecimals, 'mark')
  }

  /**
   * Cost basis of a new position opened at `entry` ticks (SPEC §3): linear qty·entry exactly
   * (lots·ticks); inverse floor(qty·size·10^t / entry) atoms, rounded down so uPnL never flatters.
   */
  costBasis(qty: bigint, entry: bigint): bigint {
    const cb =
      this.kind === Linear
        ? mul(qty, entry, 'cost basis (qty × entry)')
        : ratio(
            mul(qty, this.contractSize, 'cost basis (qty × contract size)'),
            this.invValueExp,
            entry,
            Floor,
            'cost basis (inverse)',
          )
    return toI64(cb, 'cost basis (does not fit i64)')
  }

  /** Unrealised PnL in atoms at price `x` on the grid of 10^-(P+k) (k = 0: ticks). Rounded down (SPEC §3.2). */
  upnlAt(qty: bigint, cost: bigint, x: bigint, k: number): bigint {
    if (this.kind === Linear) {
      const v = mul(qty, x, 'uPnL (qty × price)')
      const c = mul(cost, pow10(k), 'uPnL (cost basis scaled)')
      return scale(sub(v, c, 'uPnL (value − cost)'), this.linAtomsExp - k, Floor, 'uPnL (to atoms)')
    }
    const value = this.inverseValue(qty, x, k)
    return sub(cost, value, 'uPnL (inverse)')
  }

  /** Signed value of an inverse position at grid price x, in atoms, rounded up. */
  inverseValue(qty: bigint, x: bigint, k: number): bigint {
    const n = mul(qty, this.contractSize, 'inverse value (qty × contract size)')
    return ratio(n, this.invValueExp + k, x, Ceil, 'inverse value')
  }

  /** Position value the tier and rate apply to, in tier units (× 10^k for linear at grid k). */
  marginValueAt(qty: bigint, cost: bigint, x: bigint, k: number): bigint {
    const aq = qty < 0n ? -qty : qty
    if (this.basis === Entry) {
      const ac = cost < 0n ? -cost : cost
      return this.kind === Linear ? mul(ac, pow10(k), 'position value (entry)') : ac
    }
    return this.kind === Linear
      ? mul(aq, x, 'position value (qty × mark)')
      : this.inverseValue(aq, x, k)
  }

  /** The tier whose floor is the highest not above `value` (value in tier units × 10^k). */
  tierIndex(value: bigint, k: number): number {
    const f = this.kind === Linear ? pow10(k) : 1n
    const floors = this.floors
    let n = 0
    for (let i = 1; i < floors.length; i++) {
      if ((floors[i] as bigint) * f <= value) n = i
      else break
    }
    return n
  }

  /** Maintenance margin in atoms, rounded up (SPEC §4). */
  maintenanceMarginAt(qty: bigint, cost: bigint, x: bigint, k: number): bigint {
    const v = this.marginValueAt(qty, cost, x, k)
    const t = this.tierIndex(v, k)
    let cum: bigint, exp: number
    if (this.kind === Linear) {
      cum = mul(this.maintAmount[t] as bigint, pow10(k), 'maintenance amount scaled')
      exp = this.linAtomsExp - k - RATE_DECIMALS
    } else {
      cum = this.maintAmount[t] as bigint
      exp = -RATE_DECIMALS
    }
    const fine = sub(
      mul(v, this.mmr[t] as bigint, 'maintenance margin (value × rate)'),
      cum,
      'maintenance margin (− amount)',
    )
    return scale(fine, exp, Ceil, 'maintenance margin (to atoms)')
  }

  /**
   * A rate (10^-8 units) of the position's value at price x (ticks), in atoms rounded up: the
   * liquidation fee (SPEC §8.2). Linear: ceil(|q|·x·rate·10^(s−8)); inverse: ceil(value·rate/10^8).
   */
  rateOfValue(qty: bigint, x: bigint, rate: bigint): bigint {
    return this.rateOfValueRounded(qty, x, rate, Ceil)
  }

  /** `rateOfValue` with the rounding given (funding receivers round down, SPEC §10). */
  rateOfValueRounded(qty: bigint, x: bigint, rate: bigint, round: Round): bigint {
    const aq = qty < 0n ? -qty : qty
    if (this.kind === Linear) {
      const v = mul(aq, x, 'fee (qty × price)')
      return scale(
        mul(v, rate, 'fee (value × rate)'),
        this.linAtomsExp - RATE_DECIMALS,
        round,
        'fee (to atoms)',
      )
    }
    const v = this.inverseValue(aq, x, 0)
    return scale(mul(v, rate, 'fee (value × rate)'), -RATE_DECIMALS, round, 'fee (to atoms)')
  }

  /**
   * Close `delta` (same sign as qty, |delta| ≤ |qty|) of a position at price x (ticks).
   * Returns [cost basis of the closed part, realised PnL in atoms]. Both round against the
   * closing account (SPEC §8.1), and closing all of it takes exactly the whole cost basis.
   */
  closeAt(qty: bigint, cost: bigint, delta: bigint, x: bigint): [bigint, bigint] {
    const part = (round: Round): bigint => {
      if (delta === qty) return cost
      let n = mul(cost, delta, 'closed cost basis')
      let d = qty
      // n / q with q of either sign: divide by |q| after moving the sign into n.
      if (d < 0n) {
        n = -n
        d = -d
      }
      // Rust casts the quotient `as i64`: |cost·delta/qty| ≤ |cost| for |delta| ≤ |qty|, so it fits.
      return round === Floor ? divFloor(n, d) : divCeil(n, d)
    }
    if (this.kind === Linear) {
      const c = part(Ceil)
      const v = sub(mul(delta, x, 'realised PnL (qty × price)'), c, 'realised PnL')
      return [c, scale(v, this.linAtomsExp, Floor, 'realised PnL (to atoms)')]
    }
    const c = part(Floor)
    return [c, sub(c, this.inverseValue(delta, x, 0), 'realised PnL (inverse)')]
  }

  /**
   * Position value at price x in atoms, rounded down (ADL scores only): linear |q|·x·10^s,
   * inverse floor(|q|·size·10^t/x).
   */
  valueAtoms(qty: bigint, x: bigint): bigint {
    const aq = qty < 0n ? -qty : qty
    if (this.kind === Linear)
      return scale(mul(aq, x, 'value'), this.linAtomsExp, Floor, 'value (to atoms)')
    return ratio(mul(aq, this.contractSize, 'value'), this.invValueExp, x, Floor, 'value')
  }

  /** Value at entry in atoms, rounded down: linear |cost|·10^s, inverse |cost|. */
  entryValueAtoms(cost: bigint): bigint {
    const ac = cost < 0n ? -cost : cost
    if (this.kind === Linear) return scale(ac, this.linAtomsExp, Floor, 'entry value (to atoms)')
    return ac
  }

  /** s = Q − P − D: linear value units (lots·ticks) × 10^s = atoms. */
  quoteExp(): number {
    return this.linAtomsExp
  }
  /** t = P − D + Q: inverse value in atoms = qty·size·10^t / price. */
  inverseExp(): number {
    return this.invValueExp
  }

  upnl(qty: bigint, cost: bigint): bigint {
    return this.upnlAt(qty, cost, this.mark, 0)
  }
  maintenanceMargin(qty: bigint, cost: bigint): bigint {
    return this.maintenanceMarginAt(qty, cost, this.mark, 0)
  }

  setMark(mark: bigint): void {
    this.mark = mark
    this.markF = Number(mark)
  }
}

interface Tiers {
  floors: bigint[]
  mmr: bigint[]
  imr: bigint[]
  maint: bigint[]
}

/** SPEC §2: the symbol, the decimals, the contract size, and the unit limits that keep every
 * intermediate inside i128 over the whole search domain (§2.3). Market::check_units */
function checkUnits(spec: MarketSpec, quoteDecimals: number): void {
  const sym = spec.symbol
  const bad = (code: ErrorCode, msg: string): DeleverageError =>
    new DeleverageError(code, `market ${sym}: ${msg}`)
  if (!isValidId(sym)) {
    throw new DeleverageError(
      ErrorCode.InvalidId,
      `market symbol must be 1–64 bytes of UTF-8 without spaces or control characters, got ${rustDebugStr(sym)}`,
    )
  }
  if (spec.priceDecimals > MAX_PRICE_DECIMALS || spec.qtyDecimals > MAX_QTY_DECIMALS) {
    throw bad(
      ErrorCode.InvalidDecimals,
      `priceDecimals must be 0..=${MAX_PRICE_DECIMALS} and qtyDecimals 0..=${MAX_QTY_DECIMALS}, got ${spec.priceDecimals} and ${spec.qtyDecimals}`,
    )
  }
  if (spec.kind === Inverse && (spec.contractSize < 1n || spec.contractSize > CONTRACT_SIZE_MAX)) {
    throw bad(
      ErrorCode.InvalidArgument,
      `contractSize must be 1..=${CONTRACT_SIZE_MAX}, got ${spec.contractSize}`,
    )
  }
  if (spec.kind === Linear && spec.contractSize !== 1n) {
    throw bad(
      ErrorCode.InvalidArgument,
      `contractSize applies to inverse markets only, got ${spec.contractSize}`,
    )
  }
  const q = quoteDecimals
  const p = spec.priceDecimals
  const d = spec.qtyDecimals
  // Unit limits that keep every intermediate inside i128 over the whole search domain
  // (SPEC §2.3): linear value units at most 10^10 finer than atoms; inverse t ≤ 12.
  if (spec.kind === Linear && p + d > q + 10) {
    throw bad(
      ErrorCode.InvalidDecimals,
      `priceDecimals + qtyDecimals (${p + d}) may exceed quoteDecimals (${q}) by at most 10`,
    )
  }
  if (spec.kind === Inverse && (p - d + q > 12 || d - p - q > 12)) {
    throw bad(
      ErrorCode.InvalidDecimals,
      `|priceDecimals − qtyDecimals + quoteDecimals| (${p - d + q}) must be at most 12 for an inverse market`,
    )
  }
}

/** The price grid and the settlement asset of the spec's terms, defaults resolved (SPEC §2.5,
 * §5.4). Market::resolve_terms */
function resolveTerms(spec: MarketSpec): [bigint, string] {
  const sym = spec.symbol
  const bad = (code: ErrorCode, msg: string): DeleverageError =>
    new DeleverageError(code, `market ${sym}: ${msg}`)
  const tickSize = spec.tickSize === undefined || spec.tickSize === 0n ? 1n : spec.tickSize
  if (tickSize < 1n || tickSize > PRICE_MAX_TICKS) {
    throw bad(
      ErrorCode.InvalidArgument,
      `tickSize must be within 1..=${PRICE_MAX_TICKS} price units, got ${spec.tickSize}`,
    )
  }
  let settleAsset: string
  if (spec.settleAsset !== undefined && spec.settleAsset !== null) {
    if (!isValidId(spec.settleAsset)) {
      throw bad(
        ErrorCode.InvalidId,
        `settleAsset must be 1–64 bytes of UTF-8 without spaces or control characters, got ${rustDebugStr(spec.settleAsset)}`,
      )
    }
    settleAsset = spec.settleAsset
  } else {
    settleAsset = spec.kind === Linear ? DEFAULT_LINEAR_ASSET : sym
  }
  return [tickSize, settleAsset]
}

/** Validate the tiers and derive maintenance amounts (SPEC §4.2). */
function buildTiers(spec: MarketSpec, quoteDecimals: number): Tiers {
  const text = TierText.of(spec, quoteDecimals)
  checkTierColumns(spec, text)
  const out: Tiers = { floors: [], mmr: [], imr: [], maint: [] }
  for (let i = 0; i < spec.floors.length; i++) {
    checkTier(spec, i, text)
    const floor = spec.floors[i] as bigint
    const mmr = spec.mmr[i] as bigint
    const imr = spec.imr[i] as bigint
    let derived = 0n
    if (i > 0) {
      const prevMmr = out.mmr[i - 1] as bigint
      const prevMaint = out.maint[i - 1] as bigint
      derived = add(
        mul(floor, mmr - prevMmr, 'maintenance amount (derived)'),
        prevMaint,
        'maintenance amount (derived)',
      )
    }
    out.floors.push(floor)
    out.mmr.push(mmr)
    out.imr.push(imr)
    out.maint.push(maintAmountOf(spec, i, derived, text))
  }
  return out
}

/** How a market's tier values are written in messages (see `written`): floors (notional or
 * value) in the market's value decimals, rates in 10^-8, amounts in both. */
class TierText {
  private constructor(private readonly decimals: number) {}

  static of(spec: MarketSpec, quoteDecimals: number): TierText {
    return new TierText(
      spec.kind === Linear ? spec.priceDecimals + spec.qtyDecimals : quoteDecimals,
    )
  }

  floor(v: bigint): string {
    return written(v, this.decimals)
  }

  rate(v: bigint): string {
    return written(v, RATE_DECIMALS)
  }

  amount(v: bigint): string {
    return written(v, this.decimals + RATE_DECIMALS)
  }
}

function tiersError(m: string): DeleverageError {
  return new DeleverageError(ErrorCode.InvalidTiers, m)
}

/** SPEC §4.2: at least one tier, every column as long as the floors, the first floor 0. */
function checkTierColumns(spec: MarketSpec, text: TierText): void {
  const n = spec.floors.length
  if (n === 0) throw tiersError('at least one tier is required')
  const given = spec.maintAmount
  if (spec.mmr.length !== n || spec.imr.length !== n || (given !== null && given.length !== n)) {
    throw new DeleverageError(
      ErrorCode.LengthMismatch,
      `tier columns differ in length (floors ${n}, mmr ${spec.mmr.length}, imr ${spec.imr.length}, maintAmount ${given === null ? n : given.length})`,
    )
  }
  const floors = spec.floors
  if (floors[0] !== 0n)
    throw tiersError(`tier 0 must start at 0, got floor ${text.floor(floors[0]!)}`)
}

/** SPEC §4.2 for tier i: floors increase strictly, 0 < MM rate < 1 and never decreasing,
 * MM rate ≤ IM rate ≤ 1. */
function checkTier(spec: MarketSpec, i: number, text: TierText): void {
  const floors = spec.floors
  const floor = floors[i] as bigint
  const mmr = spec.mmr[i] as bigint
  const imr = spec.imr[i] as bigint
  if (i > 0 && floor <= (floors[i - 1] as bigint)) {
    throw tiersError(
      `tier ${i}: floors must increase strictly, got ${text.floor(floor)} after ${text.floor(floors[i - 1]!)}`,
    )
  }
  if (mmr <= 0n || mmr >= RATE_SCALE) {
    throw tiersError(
      `tier ${i}: maintenance rate must be above 0 and below 1, got ${text.rate(mmr)}`,
    )
  }
  if (i > 0 && mmr < (spec.mmr[i - 1] as bigint)) {
    throw tiersError(
      `tier ${i}: maintenance rates must not decrease, got ${text.rate(mmr)} after ${text.rate(spec.mmr[i - 1]!)}`,
    )
  }
  if (imr < mmr || imr > RATE_SCALE) {
    throw tiersError(
      `tier ${i}: initial rate must be within maintenance rate (${text.rate(mmr)}) and 1, got ${text.rate(imr)}`,
    )
  }
}

/** Tier i's maintenance amount (SPEC §4.2): `derived` from the floors, 0 in step form, or the
 * given one, checked against the derived. */
function maintAmountOf(spec: MarketSpec, i: number, derived: bigint, text: TierText): bigint {
  const given = spec.maintAmount
  if (given === null) return spec.form === Deduction ? derived : 0n
  const g = given[i] as bigint
  if (spec.form === Step) {
    if (g !== 0n)
      throw tiersError(
        `tier ${i}: step-form tiers take no maintenance amount, got ${text.amount(g)}`,
      )
    return 0n
  }
  if (g < 0n)
    throw tiersError(`tier ${i}: maintenance amount must not be negative, got ${text.amount(g)}`)
  if (i === 0 && g !== 0n)
    throw tiersError(`tier 0: maintenance amount must be 0, got ${text.amount(g)}`)
  // Given amounts may only make MM jump up at a floor, never down (else the predicate is
  // not monotone in the value): g ≤ derived-from-previous.
  if (g > derived) {
    throw tiersError(
      `tier ${i}: maintenance amount ${text.amount(g)} exceeds ${text.amount(derived)} derived from the floor, so maintenance margin would fall at the tier boundary`,
    )
  }
  return g
}
