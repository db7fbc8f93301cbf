// Mirror of crates/core/src/num.rs: checked integer arithmetic with a named place for every
// overflow, and the two rounding directions the spec uses. Every Rust i128 intermediate is a
// BigInt here, checked against the i128 range at exactly the same operations.

import { overflow } from './errors.js'

// Limits and scales (SPEC §2.3), generated from the Rust core's num.rs.
export {
  CONTRACT_SIZE_MAX,
  MAX_PRICE_DECIMALS,
  MAX_QTY_DECIMALS,
  MAX_QUOTE_DECIMALS,
  PRICE_MAX_TICKS,
  QTY_MAX_LOTS,
  RATE_DECIMALS,
  RATE_SCALE,
  RATIO_SCALE,
} from '../generated/tables.js'

export const I128_MAX = (1n << 127n) - 1n
export const I128_MIN = -(1n << 127n)
export const I64_MAX = (1n << 63n) - 1n
export const I64_MIN = -(1n << 63n)
export const U32_MAX = 0xffffffff

export function mul(a: bigint, b: bigint, at: string): bigint {
  const r = a * b
  if (r > I128_MAX || r < I128_MIN) throw overflow(at)
  return r
}

export function add(a: bigint, b: bigint, at: string): bigint {
  const r = a + b
  if (r > I128_MAX || r < I128_MIN) throw overflow(at)
  return r
}

export function sub(a: bigint, b: bigint, at: string): bigint {
  const r = a - b
  if (r > I128_MAX || r < I128_MIN) throw overflow(at)
  return r
}

const POW10: bigint[] = []
for (let e = 0, p = 1n; e <= 38; e++, p *= 10n) POW10.push(p)

/** 10^e for 0 <= e <= 38. */
export function pow10(e: number): bigint {
  return POW10[e] ?? 10n ** BigInt(e)
}

// BigInt `/` truncates toward zero and `%` takes the dividend's sign, exactly like Rust's i128
// `/` and `%`, so the corrections below are the Rust ones verbatim.

/** floor(a / b), b > 0. */
export function divFloor(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a < 0n ? q - 1n : q
}

/** ceil(a / b), b > 0. */
export function divCeil(a: bigint, b: bigint): bigint {
  const q = a / b
  return a % b !== 0n && a > 0n ? q + 1n : q
}

export const Floor = 0
export const Ceil = 1
export type Round = typeof Floor | typeof Ceil

/** x · 10^exp rounded in the given direction (exp may be negative). */
export function scale(x: bigint, exp: number, round: Round, at: string): bigint {
  if (exp >= 0) return mul(x, pow10(exp), at)
  const d = pow10(-exp)
  return round === Floor ? divFloor(x, d) : divCeil(x, d)
}

/** num · 10^exp / den rounded in the given direction, den > 0. */
export function ratio(num: bigint, exp: number, den: bigint, round: Round, at: string): bigint {
  let n: bigint, d: bigint
  if (exp >= 0) {
    n = mul(num, pow10(exp), at)
    d = den
  } else {
    n = num
    d = mul(den, pow10(-exp), at)
  }
  return round === Floor ? divFloor(n, d) : divCeil(n, d)
}

export function toI64(x: bigint, at: string): bigint {
  if (x > I64_MAX || x < I64_MIN) throw overflow(at)
  return x
}

/** |x| */
export function abs(x: bigint): bigint {
  return x < 0n ? -x : x
}

/** Three-way comparison of bigints. */
export function cmpBig(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0
}
