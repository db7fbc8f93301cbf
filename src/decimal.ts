// Decimal strings ⇄ integer units at the API boundary (DESIGN §2). Exact: a string is parsed
// digit by digit into a bigint, never through a float. A JS number is accepted only where its
// shortest decimal form is exact (a finite, safe value without exponent).

import { DeleverageError, rustDebugCut, type ErrorCode } from './fallback/errors.js'

/** A decimal amount: a decimal string ("1535443.01"), a bigint of integer units, or an exact number. */
export type Amount = string | bigint | number

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/
/** Longest decimal string parsed: sign, 39 integer digits, point, trailing zeros and padding. */
const MAX_DECIMAL_CHARS = 128

export interface ParseRules {
  /** Reject values ≤ 0 (prices) with this code. */
  positive?: ErrorCode
  /** Reject values < 0 with this code. */
  nonNegative?: ErrorCode
}

/**
 * Parse `value` into integer units of 10^-decimals. Strings and numbers are decimal amounts;
 * a bigint is taken as integer units already. `field` names the value in error messages.
 */
export function parseUnits(
  value: unknown,
  decimals: number,
  field: string,
  rules: ParseRules = {},
): bigint {
  let units: bigint
  if (typeof value === 'bigint') {
    units = value
  } else {
    let text: string
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) {
        throw new DeleverageError('INVALID_NUMBER', `${field}: ${value} is not a finite number`)
      }
      text = String(value)
      if (/e/i.test(text) || (Number.isInteger(value) && !Number.isSafeInteger(value))) {
        throw new DeleverageError(
          'INVALID_NUMBER',
          `${field}: ${value} cannot be converted exactly; pass a decimal string or bigint`,
        )
      }
    } else if (typeof value === 'string') {
      // Bounded before any parsing: a string of millions of digits is refused at once, not after
      // seconds of regex and BigInt work (i128 needs 39 digits, 18 decimals at most follow).
      if (value.length > MAX_DECIMAL_CHARS) {
        throw new DeleverageError(
          'INVALID_NUMBER',
          `${field}: ${rustDebugCut(value)} (${value.length} characters) is longer than any amount (${MAX_DECIMAL_CHARS})`,
        )
      }
      text = value.trim()
    } else {
      throw new DeleverageError(
        'INVALID_NUMBER',
        `${field}: expected a decimal string, bigint or number, got ${describe(value)}`,
      )
    }
    const m = DECIMAL.exec(text)
    if (!m) {
      throw new DeleverageError(
        'INVALID_NUMBER',
        `${field}: ${rustDebugCut(text)} is not a decimal number`,
      )
    }
    const frac = (m[3] ?? '').replace(/0+$/, '')
    if (frac.length > decimals) {
      throw new DeleverageError(
        'TOO_MANY_DECIMALS',
        `${field}: ${rustDebugCut(text)} has more than ${decimals} decimals`,
      )
    }
    units = BigInt(m[2] + frac.padEnd(decimals, '0'))
    if (m[1] === '-') units = -units
  }
  if (rules.positive && units <= 0n) {
    throw new DeleverageError(
      rules.positive,
      `${field}: must be positive, got ${formatUnits(units, decimals)}`,
    )
  }
  if (rules.nonNegative && units < 0n) {
    throw new DeleverageError(
      rules.nonNegative,
      `${field}: must not be negative, got ${formatUnits(units, decimals)}`,
    )
  }
  return units
}

/** Integer units of 10^-decimals as a decimal string, trailing zeros kept to `decimals`. */
export function formatUnits(units: bigint, decimals: number): string {
  const neg = units < 0n
  const digits = (neg ? -units : units).toString().padStart(decimals + 1, '0')
  const int = digits.slice(0, digits.length - decimals)
  const frac = decimals > 0 ? `.${digits.slice(digits.length - decimals)}` : ''
  return (neg ? '-' : '') + int + frac
}

/** Round num/den (den > 0) half away from zero to `decimals` places, as a decimal string. */
export function formatRatio(num: bigint, den: bigint, decimals: number): string {
  const scaled = num * 10n ** BigInt(decimals)
  const neg = scaled < 0n
  const a = neg ? -scaled : scaled
  let q = a / den
  if ((a % den) * 2n >= den) q += 1n
  return formatUnits(neg ? -q : q, decimals)
}

export function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return rustDebugCut(v)
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}
