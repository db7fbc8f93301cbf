// The shared vectors (test/vectors/*.json: venues' published examples and named scenarios) on
// both engines through the public API. crates/core/tests/vectors.rs runs the same files on the
// Rust core, so a rule's expected values are written once (format: test/vectors/README.md).
import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  engineFromScenario,
  parseScenario,
  type Engine,
  type FillModel,
  type PositionReport,
  type WaterfallEvent,
  type WaterfallOptions,
} from '../src/index.js'
import { IMPLEMENTATIONS } from './helpers.js'

type Fields = Record<string, string>
interface Step {
  do?: string
  [arg: string]: unknown
  expectEvents?: Fields[]
  expectNoEvents?: Fields[]
  expectEventSums?: Fields[]
  expectPositions?: Array<{ account: string; symbol: string } & Fields>
  expectAccounts?: Record<string, Fields>
  expectLedger?: Fields
  expectPlan?: unknown
}
/** The operations' arguments (test/vectors/README.md). */
interface Args {
  marks: Record<string, string>
  config: WaterfallOptions
  amount: string
  fill?: FillModel
  symbol: string
  beneficiary: string
  rate: string
  account: string
}
interface Case {
  id: string
  source: string
  scenario: unknown
  steps: Step[]
}

const dir = new URL('./vectors/', import.meta.url)
const files = readdirSync(dir).filter((f) => f.endsWith('.json'))

/** Units of a decimal string at `places` decimals (exact; the vectors never need more). */
function units(decimal: string, places: number): bigint {
  const neg = decimal.startsWith('-')
  const [i, f = ''] = decimal.replace('-', '').split('.')
  if (f.length > places) throw new Error(`${decimal} has more than ${places} decimals`)
  const u = BigInt(i! + f.padEnd(places, '0'))
  return neg ? -u : u
}

/** `actual` rounded half-up to `places` decimals, as the venue published it. */
function roundHalfUp(actual: string, places: number): string {
  const [i, f = ''] = actual.replace('-', '').split('.')
  const digits = BigInt(i! + f.padEnd(places + 1, '0').slice(0, places + 1))
  const s = ((digits + 5n) / 10n).toString().padStart(places + 1, '0')
  return `${actual.startsWith('-') ? '-' : ''}${s.slice(0, s.length - places)}.${s.slice(s.length - places)}`
}

function decimals(s: string): number {
  return s.split('.')[1]?.length ?? 0
}

const matches = (e: WaterfallEvent, want: Fields) =>
  Object.entries(want).every(([k, v]) => e[k as keyof WaterfallEvent] === v)

function act(e: Engine, s: Step): WaterfallEvent[] {
  const a = s as unknown as Args
  switch (s.do) {
    case undefined:
      return []
    case 'setMarks':
      e.setMarks(a.marks)
      return []
    case 'configureWaterfall': {
      // A fund policy without parameters is named by a string in the vectors.
      const { fundPolicy, ...rest } = a.config as { fundPolicy?: 'exhausted' | 'socialise' }
      e.configureWaterfall(fundPolicy ? { ...rest, fundPolicy: { kind: fundPolicy } } : rest)
      return []
    }
    case 'depositInsuranceFund':
      e.depositInsuranceFund(a.amount)
      return []
    case 'runWaterfall':
      return e.runWaterfall(a.fill ? { fill: a.fill } : {})
    case 'socialiseLoss':
      return e.socialiseLoss(a.symbol, a.amount, a.beneficiary)
    case 'settleFunding':
      return e.settleFunding(a.symbol, a.rate)
    case 'planLiquidation':
      expect(e.planLiquidation(a.account)).toEqual(s.expectPlan)
      return []
  }
  throw new Error(`unknown step ${s.do}`)
}

function checkEvents(events: WaterfallEvent[], s: Step, at: string): void {
  for (const want of s.expectEvents ?? [])
    expect(
      events.some((x) => matches(x, want)),
      `${at}: ${JSON.stringify(want)}`,
    ).toBe(true)
  for (const want of s.expectNoEvents ?? [])
    expect(
      events.some((x) => matches(x, want)),
      `${at}: no ${JSON.stringify(want)}`,
    ).toBe(false)
  for (const { kind, account, ...sums } of s.expectEventSums ?? []) {
    const hit = events.filter((x) => x.kind === kind && (!account || x.account === account))
    for (const [k, total] of Object.entries(sums)) {
      const d = decimals(total)
      const sum = hit.reduce((t, x) => t + units(x[k as 'qty']!, d), 0n)
      expect(sum, `${at}: Σ ${kind} ${account ?? ''} ${k}`).toBe(units(total, d))
    }
  }
}

function checkState(e: Engine, s: Step, at: string): void {
  const positions = e.positions()
  for (const { account, symbol, ...fields } of s.expectPositions ?? []) {
    const p = positions.find((x) => x.account === account && x.symbol === symbol)
    for (const [key, want] of Object.entries(fields)) {
      // "field@N": the venue published the value rounded to N decimals.
      const [k, places] = key.split('@') as [keyof PositionReport, string | undefined]
      if (k === 'qty' && p === undefined && units(want, decimals(want)) === 0n) continue
      expect(p, `${at}: ${account} ${symbol}`).toBeDefined()
      const actual = p![k] as string
      expect(
        places === undefined ? actual : roundHalfUp(actual, Number(places)),
        `${at}: ${key}`,
      ).toBe(want)
    }
  }
  for (const [id, fields] of Object.entries(s.expectAccounts ?? {})) {
    const r = e.account(id)
    for (const [k, want] of Object.entries(fields)) {
      if (k === 'equityMin') {
        const d = decimals(r.equity)
        expect(units(r.equity, d) >= units(want, d), `${at}: ${id} equity ${r.equity}`).toBe(true)
      } else expect(r[k as 'balance'], `${at}: ${id} ${k}`).toBe(want)
    }
  }
  const ledger = e.ledger() as unknown as Fields
  for (const [k, want] of Object.entries(s.expectLedger ?? {}))
    expect(ledger[k], `${at}: ledger ${k}`).toBe(want)
}

it('the vectors hold every venue example, G1–G7', () => {
  const cases = files.flatMap(
    (f) => (JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as { cases: Case[] }).cases,
  )
  const venues = cases.map((c) => c.id).filter((id) => /^G\d$/.test(id))
  expect(venues.sort()).toEqual(['G1', 'G2', 'G3', 'G4', 'G5', 'G6', 'G7'])
})

describe.each(IMPLEMENTATIONS)('shared vectors on the %s engine', (implementation) => {
  for (const file of files) {
    const { cases } = JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as { cases: Case[] }
    for (const c of cases) {
      it(`${file} ${c.id}`, () => {
        expect(c.source.length, 'every vector cites its source or derivation').toBeGreaterThan(40)
        const e = engineFromScenario(parseScenario(c.scenario), { implementation })
        expect(e.implementation).toBe(implementation)
        c.steps.forEach((s, i) => {
          const at = `${c.id} step ${i}`
          const cash = e.ledger().cashTotal
          checkEvents(act(e, s), s, at)
          expect(e.ledger().cashTotal, `${at}: cash total`).toBe(cash)
          checkState(e, s, at)
        })
      })
    }
  }
})
