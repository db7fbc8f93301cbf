// Issue 12 item 11: the CLI on exchange-size books. Tables, JSON and NDJSON of a 160,000-position
// book (the table code spread 130k+ rows into Math.max: "Maximum call stack size exceeded"),
// parsed back and compared with the engine's own sweep; and a reader that closes early (EPIPE).
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import { loadScenarioFile } from '../src/scenario.js'
// @ts-expect-error: a plain .mjs script (also run by hand to make big files)
import { writeBigScenario } from './fixtures/big-scenario.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin/deleverage.js')
const dir = mkdtempSync(join(tmpdir(), 'deleverage-big-'))
const big = join(dir, 'big.json')
const small = join(dir, 'small.json')

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 30 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

interface Scope {
  account: string
  symbol: string | null
  liquidatable: boolean
  warning: boolean
}
interface Account extends Scope {
  positions: Array<{ symbol: string; isolated: boolean; liquidatable?: boolean; warning?: boolean }>
}

/** The flagged scopes of a check output, as "account symbol" → liquidatable. */
function flagged(accounts: Account[]): Map<string, boolean> {
  const out = new Map<string, boolean>()
  for (const a of accounts) {
    if (a.liquidatable || a.warning) out.set(`${a.account} null`, a.liquidatable)
    for (const p of a.positions)
      if (p.isolated && (p.liquidatable || p.warning))
        out.set(`${a.account} ${p.symbol}`, p.liquidatable!)
  }
  return out
}

let sweep: Map<string, boolean>
let counts: { liquidatable: number; marginCall: number; positions: number; accounts: number }

beforeAll(() => {
  writeBigScenario(big, 160_000, 40_000)
  writeBigScenario(small, 8_000, 2_000)
  const { engine } = loadScenarioFile(big)
  const s = engine.sweep({ warningRatio: '0.8' })
  sweep = new Map(
    [...s.liquidatable, ...s.warnings].map((r) => [`${r.account} ${r.symbol}`, r.liquidatable]),
  )
  counts = {
    liquidatable: s.liquidatable.length,
    marginCall: s.warnings.length,
    positions: engine.core.positionCount(),
    accounts: engine.core.accountCount(),
  }
  // The book must exercise both kinds of scope in both states.
  expect(
    s.liquidatable.some((r) => r.symbol === null) && s.liquidatable.some((r) => r.symbol !== null),
  ).toBe(true)
  expect(s.warnings.length).toBeGreaterThan(0)
})

describe('check on a 160,000-position book', () => {
  it('prints a capped table with the counts of the whole book', () => {
    const r = cli(['check', big, '--limit', '50'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    // Counts in tables carry thousands separators (issue 17).
    const n = (x: number) => x.toLocaleString('en')
    expect(r.out).toContain(`${n(counts.accounts)} accounts, ${n(counts.positions)} positions;`)
    expect(r.out).toContain(
      `: ${n(counts.liquidatable)} liquidatable, ${n(counts.marginCall)} margin call (engine: native`,
    )
    expect(r.out).toContain(`… ${n(counts.positions - 50)} more rows`)
    expect(r.out.split('\n').length).toBeLessThan(120)
  })

  it('gives JSON and NDJSON that parse back to the sweep, scope by scope', () => {
    const j = cli(['check', big, '--json'])
    expect(j.err).toBe('')
    expect(j.code).toBe(0)
    const doc = JSON.parse(j.out)
    expect(doc.accounts.length).toBe(counts.accounts)
    expect(doc.summary).toMatchObject({
      accounts: counts.accounts,
      positions: counts.positions,
      liquidatable: counts.liquidatable,
      marginCall: counts.marginCall,
    })
    expect(flagged(doc.accounts)).toEqual(sweep)

    // NDJSON: the same account objects, one a line, then the summary (compared as text: fast).
    const n = cli(['check', big, '--ndjson'])
    expect(n.code).toBe(0)
    const lines = n.out.trimEnd().split('\n')
    expect(JSON.parse(lines.pop()!)).toEqual({ summary: doc.summary })
    expect(lines.length).toBe(counts.accounts)
    expect(lines.join(',\n')).toBe(
      JSON.stringify(doc.accounts).slice(1, -1).replaceAll('},{"account"', '},\n{"account"'),
    )
  })
})

describe('a reader that closes early', () => {
  // `deleverage … | head`: exit 0, nothing on stderr. simulate --csv died with an unhandled
  // "write EPIPE" (exit 1) before; each output here is far more than a pipe's 64 KiB buffer.
  const cases = [
    ['check', '--ndjson'],
    ['check', '--json'],
    ['check', '--all'],
    ['liquidate', '--json'],
    ['simulate', '--shock', '-30%', '--steps', '3', '--csv'],
    ['simulate', '--shock', '-30%', '--steps', '3', '--json'],
  ]
  for (const [command, ...args] of cases) {
    it(`ends quietly: ${command} ${args.join(' ')} | head -n 2`, () => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `"${process.execPath}" "${bin}" ${command} "${small}" ${args.join(' ')} 2>"${dir}/err" | head -n 2 >/dev/null; echo "\${PIPESTATUS[0]}"; cat "${dir}/err"`,
        ],
        { encoding: 'utf8' },
      )
      expect(r.stdout).toBe('0\n')
    })
  }
})
