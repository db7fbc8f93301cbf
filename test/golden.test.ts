// Venues' published worked examples (test/fixtures/golden/venues.json, copied with sources from
// shared/golden/venues.md) checked to the tick on both engines.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { engineFromScenario, parseScenario, type PositionReport } from '../src/index.js'
import { IMPLEMENTATIONS } from './helpers.js'

interface Case {
  id: string
  source: string
  scenario: unknown
  expect: Array<{ account: string; symbol: string } & Record<string, string>>
}

function roundHalfUp(decimal: string, places: number): string {
  const [i, f = ''] = decimal.replace('-', '').split('.')
  const digits = BigInt(i! + f.padEnd(places + 1, '0').slice(0, places + 1))
  const r = (digits + 5n) / 10n
  const s = r.toString().padStart(places + 1, '0')
  return (
    (decimal.startsWith('-') ? '-' : '') +
    s.slice(0, s.length - places) +
    '.' +
    s.slice(s.length - places)
  )
}

const golden = JSON.parse(
  readFileSync(new URL('./fixtures/golden/venues.json', import.meta.url), 'utf8'),
) as { cases: Case[] }

describe.each(IMPLEMENTATIONS)('golden values on the %s engine', (implementation) => {
  it('covers G1–G5 with sources', () => {
    expect(golden.cases.map((c) => c.id)).toEqual(['G1', 'G2', 'G3', 'G4', 'G5'])
    for (const c of golden.cases) expect(c.source.length).toBeGreaterThan(40)
  })

  for (const c of golden.cases) {
    it(`${c.id}: ${c.expect.length} published values`, () => {
      const engine = engineFromScenario(parseScenario(c.scenario), { implementation })
      expect(engine.implementation).toBe(implementation)
      const positions = engine.positions()
      for (const { account, symbol, ...fields } of c.expect) {
        const p = positions.find((x) => x.account === account && x.symbol === symbol)
        expect(p, `${account} ${symbol}`).toBeDefined()
        for (const [key, published] of Object.entries(fields)) {
          // "field@N": the venue published the value rounded to N decimals.
          const [k, places] = key.split('@') as [keyof PositionReport, string | undefined]
          const actual = p![k] as string
          expect(
            places === undefined ? actual : roundHalfUp(actual, Number(places)),
            `${c.id} ${account} ${symbol} ${key}`,
          ).toBe(published)
        }
      }
    })
  }
})
