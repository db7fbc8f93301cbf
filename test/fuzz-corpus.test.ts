// The scenario fuzzer's corpus replayed in the suite: every committed input of
// fuzz/corpus/scenario/ and fuzz/regressions/scenario/ through the fuzzer's own invariant check
// (fuzz/js/scenario-harness.ts) — an engine, or a DeleverageError with a stable code and the
// JSON path, identical on both engines.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkScenario } from '../fuzz/js/scenario-harness.js'
import { parseScenario, engineFromScenario } from '../src/scenario.js'
import { DeleverageError } from '../src/fallback/errors.js'

const root = join(import.meta.dirname, '..')
const dir = mkdtempSync(join(tmpdir(), 'deleverage-fuzz-corpus-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function inputs(sub: string): string[] {
  const d = join(root, 'fuzz', sub, 'scenario')
  try {
    return readdirSync(d)
      .sort()
      .map((f) => join(d, f))
  } catch {
    return []
  }
}

describe('scenario fuzz corpus', () => {
  const files = [...inputs('corpus'), ...inputs('regressions')]

  it('is committed', () => {
    expect(files.length).toBeGreaterThan(0)
  })

  it.each(files.map((f) => [f.slice(root.length + 1), f]))(
    '%s keeps the invariant',
    (_name, file) => {
      checkScenario(readFileSync(file, 'utf8'), join(dir, 'input.json'))
    },
  )
})

describe('scenario errors found by fuzzing', () => {
  // Found by the scenario fuzzer: the native constructor's error escaped as a plain Error without
  // a path, and a quoteDecimals beyond u32 was wrapped by the binding (2^32 + 8 became 8).
  it.each([
    [19, 'INVALID_DECIMALS'],
    [1e21, 'INVALID_SCENARIO'],
    [2 ** 32 + 8, 'INVALID_SCENARIO'],
  ])('quoteDecimals %s is reported as %s at $.quoteDecimals on both engines', (q, code) => {
    for (const implementation of ['js', 'native'] as const) {
      let err: unknown
      try {
        engineFromScenario(parseScenario({ quoteDecimals: q, markets: [], accounts: [] }), {
          implementation,
        })
      } catch (e) {
        err = e
      }
      expect(err, implementation).toBeInstanceOf(DeleverageError)
      expect((err as DeleverageError).code, implementation).toBe(code)
      expect((err as DeleverageError).message, implementation).toMatch(/^\$\.quoteDecimals: /)
    }
  })
})
