// Decimal strings ⇄ integer units at the API boundary (DESIGN §2). Exact: a string is parsed
// digit by digit into a bigint, never through a float. A JS number is accepted only where its
// shortest decimal form is exact (a finite, safe value without exponent).

import { DeleverageError, rustDebugCut, type ErrorCode } from './fallback/errors.js'

const UNITS = Symbol.for('deleverage.units')

/**
 * Integer units (ticks, lots, atoms of 10^-decimals) marked as such: `units(2600000n)` is a mark
 * of 26000.00 on a 2-decimal market. A plain bigint is refused by the decimal API (BIGINT_AMOUNT)
 * because a reader cannot tell `26000n` from 26000. The mark is a registered symbol, so values
 * made by the ESM and the CJS entry (or two copies of the package) are both recognised.
 */
export interface Units {
  readonly [UNITS]: bigint
}

/** Mark `value` as integer units for the decimal API (see `Units`). */
export function units(value: bigint): Units {
  if (typeof value !== 'bigint')
    throw new DeleverageError(
      'INVALID_NUMBER',
      `units(): expected a bigint, got ${describe(value)}`,
    )
  return Object.freeze({ [UNITS]: value })
}

function unitsOf(value: unknown): bigint | undefined {
  if (typeof value !== 'object' || value === null || !(UNITS in value)) return undefined
  const v = (value as Units)[UNITS]
  return typeof v === 'bigint' ? v : undefined
}

/** A decimal amount: a decimal string ("1535443.01"), an exact number, or `units(n)`. */
export type Amount = string | number | Units

const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/
/** Longest decimal string parsed: sign, 39 integer digits, point, trailing zeros and padding. */
const MAX_DECIMAL_CHARS = 128

export interface ParseRules {
  /** Reject values ≤ 0 (prices) with this code. */
  positive?: ErrorCode
  /** Reject values < 0 with this code. */
  nonNegative?: ErrorCode
}

/** A decimal amount given as a string or number, as text to parse: a number only where it
 * converts exactly, a string only up to MAX_DECIMAL_CHARS (INVALID_NUMBER otherwise). */
function decimalText(value: unknown, field: string): string {
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
      `${field}: expected a decimal string, number or units(bigint), got ${describe(value)}`,
    )
  }
  return text
}

/**
 * Parse `value` into integer units of 10^-decimals. Strings and numbers are decimal amounts;
 * `units(n)` is integer units already; a plain bigint is refused (BIGINT_AMOUNT).
 * `field` names the value in error messages.
 */
export function parseUnits(
  value: unknown,
  decimals: number,
  field: string,
  rules: ParseRules = {},
): bigint {
  let units: bigint
  const marked = unitsOf(value)
  if (marked !== undefined) {
    units = marked
  } else if (typeof value === 'bigint') {
    throw new DeleverageError(
      'BIGINT_AMOUNT',
      `${field}: a bigint is ambiguous here; pass a decimal string ("${formatUnits(value, decimals)}" if ${value}n is integer units) or units(${value}n) (engine.core takes units)`,
    )
  } else {
    const text = decimalText(value, field)
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
  if (v === undefined) return 'nothing (missing)'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'string') return rustDebugCut(v)
  if (typeof v === 'object') return 'an object'
  return `${typeof v} ${String(v)}`
}
