// The scenario decoder's invariant, shared by the coverage-guided fuzzer (fuzz/js/scenario.ts)
// and the corpus replay in vitest (test/fuzz-corpus.test.ts): any text given to
// `loadScenarioFile` yields an engine, or a DeleverageError with a stable code whose message
// starts with the JSON path (or the file) it is about — never another exception type — and the
// native and TypeScript engines agree on which, byte for byte.

import { writeFileSync } from 'node:fs'
import { loadNative } from '../../src/native.js'
import { loadScenarioFile } from '../../src/scenario.js'
import { DeleverageError } from '../../src/fallback/errors.js'

/** The codes of docs/ERRORS.md a scenario may raise (INTERNAL is a bug; NATIVE_UNAVAILABLE is
 *  not reachable with an explicit implementation that loaded). */
export const STABLE_CODES = new Set([
  'OVERFLOW',
  'INVALID_PRICE',
  'INVALID_QUANTITY',
  'INVALID_AMOUNT',
  'INVALID_DECIMALS',
  'INVALID_TIERS',
  'INVALID_ARGUMENT',
  'INVALID_ID',
  'UNKNOWN_MARKET',
  'UNKNOWN_ACCOUNT',
  'DUPLICATE_MARKET',
  'DUPLICATE_ACCOUNT',
  'DUPLICATE_POSITION',
  'LENGTH_MISMATCH',
  'INVALID_NUMBER',
  'TOO_MANY_DECIMALS',
  'INVALID_SCENARIO',
  'SETTLEMENT_MISMATCH',
  'INVALID_LEVERAGE',
])

/** Where an error may say it is: a JSON path of the document (`$.x`, `markets[2].tiers[0].mmr`,
 *  `accounts[1]`, `waterfall`, `fill`) or the file itself (read / JSON errors). */
const PATH = /^(\$|markets\[\d+\]|accounts\[\d+\]|waterfall|fill|preTrade)[.:[ ]/

export class Violation extends Error {
  override name = 'Violation'
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(`${kind}: ${message}`)
  }
}

const hasNative = (() => {
  try {
    return loadNative().binding !== null
  } catch {
    return false
  }
})()

function bigJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))
}

function classify(e: unknown, implementation: string, needPath: boolean, file: string): string {
  if (!(e instanceof DeleverageError)) {
    const err = e as Error
    throw new Violation(
      'foreign-exception',
      `${implementation}: ${err?.name}: ${err?.message}\n${err?.stack?.split('\n').slice(1, 6).join('\n')}`,
    )
  }
  if (!STABLE_CODES.has(e.code))
    throw new Violation('unstable-code', `${implementation}: ${e.code}: ${e.message}`)
  const fileError = e.message.startsWith(`${file}: `) || e.message.startsWith(`${file} line `)
  if (needPath && !PATH.test(e.message) && !fileError)
    throw new Violation('no-path', `${implementation}: ${e.code}: ${e.message}`)
  return `${e.code}: ${e.message}`
}

/** Load `file` with one implementation, then use it as `deleverage check` does; the outcome as a
 *  comparable string. Decoding errors must name their JSON path; errors of the use that follows
 *  (the sweep at the file's warning ratio, e.g. OVERFLOW of an extreme book) only need a stable code. */
function outcome(file: string, implementation: 'js' | 'native'): string {
  let loaded: ReturnType<typeof loadScenarioFile>
  try {
    loaded = loadScenarioFile(file, { implementation })
  } catch (e) {
    return `load ${classify(e, implementation, true, file)}`
  }
  const { scenario, engine } = loaded
  try {
    const sweep = engine.sweep(
      scenario.warningRatio === undefined ? {} : { warningRatio: scenario.warningRatio },
    )
    return `ok ${bigJson({ ledger: engine.ledger(), accounts: engine.accounts(), positions: engine.positions(), sweep })}`
  } catch (e) {
    return `use ${classify(e, implementation, false, file)}`
  }
}

/** Check one input; returns its outcome (for the corpus), throws a Violation. */
export function checkScenario(text: string, file: string): string {
  writeFileSync(file, text)
  const js = outcome(file, 'js')
  if (hasNative) {
    const native = outcome(file, 'native')
    if (native !== js)
      throw new Violation(
        'parity',
        `native and TypeScript engines disagree:\n  native: ${native.slice(0, 600)}\n  ts:     ${js.slice(0, 600)}`,
      )
  }
  return js
}

export const nativeLoaded = hasNative
