// Mirror of crates/core/src/error.rs: one catalogue of error codes. The code strings are a stable
// API shared with the Rust core (ErrorCode::as_str); messages must match it byte for byte.

export const ErrorCode = {
  /** An intermediate left the i128 range or a stored value the i64 range. */
  Overflow: 'OVERFLOW',
  InvalidPrice: 'INVALID_PRICE',
  InvalidQuantity: 'INVALID_QUANTITY',
  InvalidAmount: 'INVALID_AMOUNT',
  InvalidDecimals: 'INVALID_DECIMALS',
  InvalidTiers: 'INVALID_TIERS',
  InvalidArgument: 'INVALID_ARGUMENT',
  InvalidId: 'INVALID_ID',
  UnknownMarket: 'UNKNOWN_MARKET',
  UnknownAccount: 'UNKNOWN_ACCOUNT',
  DuplicateMarket: 'DUPLICATE_MARKET',
  DuplicateAccount: 'DUPLICATE_ACCOUNT',
  DuplicatePosition: 'DUPLICATE_POSITION',
  LengthMismatch: 'LENGTH_MISMATCH',
  Internal: 'INTERNAL',
  SnapshotTruncated: 'SNAPSHOT_TRUNCATED',
  SnapshotChecksum: 'SNAPSHOT_CHECKSUM',
  SnapshotVersion: 'SNAPSHOT_VERSION',
  SnapshotInvalid: 'SNAPSHOT_INVALID',
  /** A write that would make one account's margin combine two settlement assets (SPEC §5.4). */
  SettlementMismatch: 'SETTLEMENT_MISMATCH',
  /** An order id that names no open order (SPEC §16.7). */
  UnknownOrder: 'UNKNOWN_ORDER',
  /** A leverage outside 1..=the market's maximum (SPEC §16.1). */
  InvalidLeverage: 'INVALID_LEVERAGE',
} as const

/** The codes only the API layer raises (decimal parsing, loading, scenarios, journals, the CLI). */
export const ApiErrorCode = {
  InvalidNumber: 'INVALID_NUMBER',
  TooManyDecimals: 'TOO_MANY_DECIMALS',
  NativeUnavailable: 'NATIVE_UNAVAILABLE',
  InvalidScenario: 'INVALID_SCENARIO',
  JournalInvalid: 'JOURNAL_INVALID',
  JournalMismatch: 'JOURNAL_MISMATCH',
  InvalidPath: 'INVALID_PATH',
} as const

/** Every code a DeleverageError can carry (docs/ERRORS.md lists each). */
export type ErrorCode =
  | (typeof ErrorCode)[keyof typeof ErrorCode]
  | (typeof ApiErrorCode)[keyof typeof ApiErrorCode]

/** Error thrown by the engine; `code` is one of the ErrorCode strings, `message` has no code prefix. */
export class DeleverageError extends Error {
  readonly code: ErrorCode
  override name = 'DeleverageError'

  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.code = code
  }
}

/** Overflow in a named formula (Error::overflow). */
export function overflow(at: string): DeleverageError {
  return new DeleverageError(ErrorCode.Overflow, `arithmetic overflow in ${at}`)
}

/**
 * Error::context: prefix the message with where it happened, keeping the code. Anything that is
 * not a DeleverageError (a bug, not an engine error) is passed through unchanged.
 */
export function withContext(e: unknown, ctx: string): unknown {
  if (e instanceof DeleverageError) e.message = `${ctx}: ${e.message}`
  return e
}

const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u
const GRAPHEME_EXTEND = /^\p{Grapheme_Extend}$/u

/**
 * Rust's `{:?}` for a &str: double quotes, `\0 \t \r \n \" \\` escapes, and `\u{..}` for
 * grapheme-extending and non-printable characters (core::unicode::printable: categories
 * Cc Cf Cs Co Cn Zl Zp Zs except the space). A lone surrogate is shown as U+FFFD, which is what
 * it becomes when Node converts the string to UTF-8 for the native binding.
 */
export function rustDebugStr(s: string): string {
  let out = '"'
  for (const ch of s) {
    let cp = ch.codePointAt(0) as number
    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd
    switch (cp) {
      case 0x00:
        out += '\\0'
        continue
      case 0x09:
        out += '\\t'
        continue
      case 0x0a:
        out += '\\n'
        continue
      case 0x0d:
        out += '\\r'
        continue
      case 0x22:
        out += '\\"'
        continue
      case 0x5c:
        out += '\\\\'
        continue
    }
    if (cp >= 0x20 && cp < 0x7f) {
      out += String.fromCharCode(cp)
      continue
    }
    const c = String.fromCodePoint(cp)
    if (GRAPHEME_EXTEND.test(c) || NON_PRINTABLE.test(c)) out += `\\u{${cp.toString(16)}}`
    else out += c
  }
  return out + '"'
}

/** crates/core error::debug_cut: rustDebugStr of the first 64 characters, then "…" if cut. */
export function rustDebugCut(s: string): string {
  let n = 0
  let end = 0
  for (const ch of s) {
    if (n === 64) return rustDebugStr(s.slice(0, end)) + '…'
    n++
    end += ch.length
  }
  return rustDebugStr(s)
}
