// Shared by the test files: both engines, and a snapshot of everything an engine reports.
import { Engine, type Implementation } from '../src/index.js'
import { loadNative } from '../src/native.js'

/** Every API test runs once per engine. CI builds the native module, so both must be present. */
export const IMPLEMENTATIONS: Implementation[] = ['native', 'js']

if (!loadNative().binding && process.env.CI) throw new Error('native module missing in CI')

export function engine(implementation: Implementation, quoteDecimals = 8): Engine {
  return new Engine({ implementation, quoteDecimals })
}

/** All observable state, for "rejected call changed nothing" and parity checks. */
export function snapshot(e: Engine): string {
  return JSON.stringify({
    accounts: e.accounts(),
    positions: e.positions(),
    sweep: e.sweep({ warningRatio: '0.5' }),
  })
}

/** Assert `fn` throws a DeleverageError with `code`, and return it. */
export function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    return (e as { code?: string }).code ?? `not a coded error: ${String(e)}`
  }
  return 'did not throw'
}

/** Seeded xorshift64* over BigInt: the same draws everywhere, for the random parity tests. */
export class Rng {
  constructor(private s: bigint) {}
  next(): bigint {
    // xorshift64*
    let x = this.s
    x ^= x >> 12n
    x ^= (x << 25n) & 0xffffffffffffffffn
    x ^= x >> 27n
    this.s = x
    return (x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn
  }
  int(lo: number, hi: number): number {
    return lo + Number(this.next() % BigInt(hi - lo + 1))
  }
  big(lo: bigint, hi: bigint): bigint {
    return lo + (this.next() % (hi - lo + 1n))
  }
  chance(p: number): boolean {
    return Number(this.next() % 1_000_000n) < p * 1_000_000
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!
  }
  /** Log-uniform in [1, 10^maxDigits]. */
  mag(maxDigits: number): bigint {
    return this.big(1n, 10n ** BigInt(this.int(0, maxDigits)))
  }
}

export type Outcome = { ok: unknown } | { code: string; message: string }

/** Value, or error code + message. The binding prefixes the code; the TypeScript engine carries
 * it on .code; a caught Rust panic arrives as napi's GenericFailure (PANIC here, so that it never
 * matches a TypeScript error); anything else uncoded is a bug either way. */
export function attempt(f: () => unknown): Outcome {
  try {
    return { ok: f() }
  } catch (e) {
    const err = e as { code?: string; message: string }
    const m = /^([A-Z_]+): ([\s\S]*)$/.exec(err.message)
    if (m) return { code: m[1]!, message: m[2]! }
    return {
      code: err.code === 'GenericFailure' ? 'PANIC' : (err.code ?? 'UNCODED'),
      message: err.message,
    }
  }
}
