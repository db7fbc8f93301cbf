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
  return JSON.stringify({ accounts: e.accounts(), positions: e.positions(), sweep: e.sweep({ warningRatio: '0.5' }) })
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
