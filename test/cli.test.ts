// The CLI as users run it: the built bin, a scenario file, text and JSON output, exit codes.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadScenarioFile } from '../src/scenario.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const book = join(root, 'test/fixtures/scenarios/small-book.json')

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, 'bin/deleverage.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

function scenarioFile(doc: unknown): string {
  const f = join(mkdtempSync(join(tmpdir(), 'deleverage-')), 'scenario.json')
  writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc))
  return f
}

const crash = join(root, 'test/fixtures/scenarios/crash.json')
const isolatedBook = join(root, 'test/fixtures/scenarios/isolated-liquidatable.json')

describe('deleverage liquidate and plan', () => {
  it('runs the waterfall and prints events, final state and the ledger', () => {
    const r = cli(['liquidate', crash])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/takeover +whale/)
    expect(r.out).toMatch(/adlFill +bear/)
    expect(r.out).toMatch(/insurance fund [0-9.]+.*cash total/)
  })

  it('gives identical JSON on both engines, with cash conserved', () => {
    const a = JSON.parse(cli(['liquidate', crash, '--json']).out)
    const b = JSON.parse(cli(['liquidate', crash, '--json'], { DELEVERAGE_FORCE_JS: '1' }).out)
    expect(b.events).toEqual(a.events)
    expect(b.ledger).toEqual(a.ledger)
    expect(b.accounts).toEqual(a.accounts)
    const before = JSON.parse(cli(['check', crash, '--json']).out)
    const cash = (x: {
      accounts: Array<{ balance: string; positions: Array<{ isolatedMargin: string | null }> }>
    }) =>
      x.accounts.reduce(
        (s, acc) =>
          s +
          Number(acc.balance) +
          acc.positions.reduce((t, p) => t + Number(p.isolatedMargin ?? 0), 0),
        0,
      )
    // The deposit of the opening fund came through settlement (+1500 fund, −1500 settlement), so
    // balances + margins + fund + settlement + residue after equal the balances + margins before.
    // (Exact conservation is asserted in integers elsewhere; this checks the CLI's JSON adds up.)
    expect(
      cash(a) +
        Number(a.ledger.insuranceFund) +
        Number(a.ledger.settlement) +
        Number(a.ledger.residue),
    ).toBeCloseTo(cash(before), 6)
  })

  it('plans a manual deleveraging to a target', () => {
    const r = cli([
      'plan',
      book,
      '--account',
      'hodler',
      '--target',
      'leverage=0.1',
      '--fee',
      '0.0005',
      '--json',
    ])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.out)
    expect(out.plan.reached).toBe(true)
    expect(out.plan.orders[0].symbol).toBe('BTCUSDT')
    expect(cli(['plan', book, '--account', 'hodler']).code).toBe(2)
  })
})

describe('deleverage check', () => {
  it('prints accounts and positions as a table', () => {
    const r = cli(['check', book])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/whale .* LIQUIDATABLE/)
    expect(r.out).toMatch(/hodler .* ok/)
    expect(r.out).toMatch(/coin +BTCUSD isolated .* ok/)
    expect(r.out).toContain(
      '4 accounts, 4 positions; 4 margin scopes (3 cross, 1 isolated): 1 liquidatable, 1 margin call (engine: native',
    )
  })

  // Issue 12 item 1: check read accounts() (cross rows only), so these showed as "ok" / "0 liquidatable".
  it('shows isolated positions as scopes of their own, with what the sweep reports', () => {
    const r = cli(['check', isolatedBook])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    // Money at a display precision (2 decimals), thousands separated; --full-precision has them all.
    expect(r.out).toMatch(
      /^iso-mm +BTCUSDT isolated +100\.00 +100\.00 +200\.00 +200\.00% +LIQUIDATABLE$/m,
    )
    expect(r.out).toMatch(
      /^iso-underwater +BTCUSDT isolated +100\.00 +-2,335\.50 +200\.00 +∞ +LIQUIDATABLE$/m,
    )
    expect(cli(['check', isolatedBook, '--full-precision']).out).toMatch(
      /^iso-underwater +BTCUSDT isolated +100\.00000000 +-2,335\.50000000 +200\.00000000 +∞ +LIQUIDATABLE$/m,
    )
    expect(r.out).toMatch(/^healthy +ETHUSDT isolated .* ok$/m)
    expect(r.out).toContain(
      '4 accounts, 5 positions; 5 margin scopes (2 cross, 3 isolated): 2 liquidatable, 1 margin call',
    )

    const { engine } = loadScenarioFile(isolatedBook)
    const sweep = engine.sweep({ warningRatio: '0.8' })
    expect(sweep.liquidatable.map((s) => [s.account, s.symbol])).toEqual([
      ['iso-underwater', 'BTCUSDT'],
      ['iso-mm', 'BTCUSDT'],
    ])
    for (const impl of [{}, { DELEVERAGE_FORCE_JS: '1' }] as Array<Record<string, string>>) {
      const out = JSON.parse(cli(['check', isolatedBook, '--json'], impl).out)
      expect(out.summary).toMatchObject({ scopes: 5, liquidatable: 2, marginCall: 1 })
      // Every scope the sweep flags carries the sweep's own numbers in the JSON.
      for (const s of [...sweep.liquidatable, ...sweep.warnings]) {
        const acc = out.accounts.find((a: { account: string }) => a.account === s.account)
        const scope =
          s.symbol === null
            ? acc
            : acc.positions.find((p: { symbol: string }) => p.symbol === s.symbol)
        expect({
          equity: scope.equity,
          maintenanceMargin: scope.maintenanceMargin,
          marginRatio: scope.marginRatio,
          shortfall: scope.shortfall,
          liquidatable: scope.liquidatable,
        }).toEqual({
          equity: s.equity,
          maintenanceMargin: s.maintenanceMargin,
          marginRatio: s.marginRatio,
          shortfall: s.shortfall,
          liquidatable: s.liquidatable,
        })
        expect(scope.warning).toBe(!s.liquidatable)
      }
      const healthy = out.accounts.find((a: { account: string }) => a.account === 'healthy')
        .positions[0]
      expect(healthy).toMatchObject({
        isolated: true,
        equity: '600.00000000',
        marginRatio: '0.033334',
        liquidatable: false,
        warning: false,
      })
    }
  })

  it('gives the same numbers as JSON decimal strings, identical on both engines', () => {
    const a = cli(['check', book, '--json'])
    const b = cli(['check', book, '--json'], { DELEVERAGE_FORCE_JS: '1' })
    expect(a.code).toBe(0)
    const na = JSON.parse(a.out)
    const nb = JSON.parse(b.out)
    expect(na.implementation).toBe('native')
    expect(nb.implementation).toBe('js')
    expect(nb.accounts).toEqual(na.accounts)
    const whale = na.accounts.find((x: { account: string }) => x.account === 'whale')
    expect(whale.liquidatable).toBe(true)
    expect(typeof whale.equity).toBe('string')
    expect(whale.positions[0].liquidationPrice).toMatch(/^\d+\.\d{2}$/)
    const trader = na.accounts.find((x: { account: string }) => x.account === 'trader')
    expect(trader.warning).toBe(true)
  })

  it('names the field of a malformed file and exits 3', () => {
    const doc = JSON.parse(JSON.stringify({ markets: [], accounts: [{ id: 'x', balance: 5 }] }))
    const r = cli(['check', scenarioFile(doc)])
    expect(r.code).toBe(3)
    expect(r.err).toContain('accounts[0].balance: expected a decimal string')
    const bad = cli(['check', scenarioFile('{"markets": [')])
    expect(bad.code).toBe(3)
    expect(bad.err).toContain('not valid JSON')
    const tiers = cli([
      'check',
      scenarioFile({
        markets: [
          {
            symbol: 'X',
            priceDecimals: 2,
            qtyDecimals: 2,
            tiers: [{ floor: '0', mmr: '1.5' }],
            mark: '1',
          },
        ],
        accounts: [],
      }),
    ])
    expect(tiers.code).toBe(3)
    expect(tiers.err).toContain(
      'INVALID_TIERS: markets[0]: market X: tier 0: maintenance rate must be above 0 and below 1',
    )
  })

  it('names the account a batch load refuses, as a per-account load did', () => {
    const market = {
      symbol: 'X',
      priceDecimals: 2,
      qtyDecimals: 2,
      tiers: [{ floor: '0', mmr: '0.01' }],
      mark: '10',
    }
    const acc = (id: string, symbol = 'X') => ({
      id,
      balance: '1',
      positions: [{ symbol, qty: '1', entry: '10' }],
    })
    const unknown = cli([
      'check',
      scenarioFile({ markets: [market], accounts: [acc('a'), acc('b'), acc('c', 'Y')] }),
    ])
    expect(unknown.code).toBe(3)
    expect(unknown.err).toBe(
      'deleverage: UNKNOWN_MARKET: accounts[2].positions[0].symbol: unknown market "Y" (the markets are X)\n',
    )
    const twice = cli([
      'check',
      scenarioFile({ markets: [market], accounts: [acc('a'), acc('b'), acc('a')] }),
    ])
    expect(twice.code).toBe(3)
    expect(twice.err).toMatch(/^deleverage: DUPLICATE_ACCOUNT: accounts\[2\]: /)
  })

  it('explains usage errors with exit code 2', () => {
    expect(cli(['frobnicate']).code).toBe(2)
    expect(cli(['check']).code).toBe(2)
    for (const bad of [
      ['--limit', '0'],
      ['--limit', '5', '--all'],
      ['--json', '--ndjson'],
    ])
      expect(cli(['check', book, ...bad]).code).toBe(2)
    expect(cli(['liquidate', book, '--ndjson']).code).toBe(2)
    const two = cli(['check', crash, '--limit', '2'])
    expect(two.code).toBe(0)
    expect(two.out).toMatch(/^… [\d,]+ more rows \(--all prints every row/m)
    const help = cli(['--help'])
    expect(help.code).toBe(0)
    expect(help.out).toContain('deleverage check <scenario.json>')
  })
})

describe('deleverage simulate and per-command help', () => {
  it('prints help with examples for every command', () => {
    for (const c of ['check', 'liquidate', 'plan', 'simulate', 'demo']) {
      const r = cli([c, '--help'])
      expect(r.code).toBe(0)
      expect(r.out).toContain(`deleverage ${c}`)
      expect(r.out).toContain('Examples:')
    }
  })

  it('prints the policy table and the cash check', () => {
    const r = cli(['simulate', crash, '--shock', '-30%', '--steps', '4'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^bitmex /m)
    expect(r.out).toContain('cash conserved exactly at every step')
  })

  it('writes events as CSV and JSON that parse and agree', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-'))
    const csv = cli(['simulate', crash, '--shock', '-30%', '--steps', '4', '--csv'])
    expect(csv.code).toBe(0)
    const lines = csv.out.trim().split('\n')
    expect(lines[0]).toBe(
      'lossRule,step,round,seq,kind,account,symbol,counterparty,qty,price,amount,size',
    )
    const json = cli([
      'simulate',
      crash,
      '--shock',
      '-30%',
      '--steps',
      '4',
      '--json',
      '--events',
      join(dir, 'ev.json'),
    ])
    expect(json.code).toBe(0)
    const out = JSON.parse(json.out)
    const events = out.results[0].events
    expect(events.length).toBe(lines.length - 1)
    expect(events.length).toBeGreaterThan(0)
    expect(lines.slice(1).map((l) => l.split(',')[4])).toEqual(
      events.map((e: { kind: string }) => e.kind),
    )
    expect(JSON.parse(readFileSync(join(dir, 'ev.json'), 'utf8'))).toEqual(events)
    expect(out.results[0].totals.cashConserved).toBe(true)
  })

  it('names the line and column of a bad path CSV and exits 3', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-'))
    const f = join(dir, 'prices.csv')
    writeFileSync(f, 'step,BTCUSDT\n1,26000\n2,25k\n')
    const r = cli(['simulate', crash, '--path', f])
    expect(r.code).toBe(3)
    expect(r.err).toContain(
      `INVALID_PATH: ${f} line 3: column BTCUSDT: "25k" is not a decimal number`,
    )
    const bad = cli([
      'simulate',
      scenarioFile({ markets: [], accounts: [{ id: 'x', balance: 5 }] }),
      '--shock',
      '-10%',
    ])
    expect(bad.code).toBe(3)
    expect(bad.err).toContain('accounts[0].balance')
  })

  it('explains simulate usage errors with exit code 2', () => {
    expect(cli(['simulate', crash]).code).toBe(2)
    expect(cli(['simulate', crash, '--shock', 'lots']).code).toBe(2)
    expect(cli(['simulate', crash, '--shock', '-5%', '--policy', 'fifo']).code).toBe(2)
    expect(cli(['simulate', crash, '--shock', '-5%', '--events', 'x.txt']).code).toBe(2)
    expect(cli(['simulate', crash, '--shock', '-5%', '--loss-rule', 'fifo']).code).toBe(2)
    const both = cli(['simulate', crash, '--shock', '-5%', '--loss-rule', 'all', '--policy', 'all'])
    expect(both.code).toBe(2)
    expect(both.err).toContain('not both')
  })

  it('takes --loss-rule, and --policy as its old name', () => {
    const args = ['simulate', crash, '--shock', '-30%', '--steps', '3', '--json']
    const now = cli([...args, '--loss-rule', 'prorata'])
    const old = cli([...args, '--policy', 'prorata'])
    expect(now.code).toBe(0)
    expect(now.out).toBe(old.out)
    expect(JSON.parse(now.out).results[0].lossRule).toBe('prorata')
  })
})

describe('deleverage demo', () => {
  it('runs the five policies on worker threads on a small market and writes the report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-'))
    const report = join(dir, 'r.html')
    const r = cli(['demo', '--positions', '8000', '--accounts', '2000', '--report', report])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    for (const p of ['bitmex', 'binance', 'hyperliquid', 'prorata', 'socialised'])
      expect(r.out).toMatch(new RegExp(`^${p} `, 'm'))
    expect(r.out).toContain('cash conserved exactly at every step in every run')
    expect(readFileSync(report, 'utf8')).toContain('id="report-data"')
  })
})
