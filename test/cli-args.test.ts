// The command line's conventions (issue 17): util.parseArgs per command, strict; --version; a
// reader that goes away ends the output quietly for every command; examples shipped in the package
// and used by the help; shocks read as said; money at a display precision.
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { COMMANDS } from '../src/cli.js'
import { optionList } from '../src/cli-args.js'
import { displayDecimal } from '../src/text.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const bin = join(root, 'bin/deleverage.js')
const book = join(root, 'examples/small-book.json')
const crash = join(root, 'examples/crash.json')

function cli(args: string[], cwd = root) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** A minimal valid invocation of each command (its required options and file). */
const RUNS: Record<string, string[]> = {
  check: ['check', book],
  liquidate: ['liquidate', crash],
  plan: ['plan', book, '--account', 'whale', '--target', 'ratio=0.5'],
  simulate: ['simulate', crash, '--shock', '-20%', '--steps', '2'],
  demo: ['demo', '--positions', '400', '--accounts', '100', '--report', join(tmpdir(), 'x.html')],
  order: [
    'order',
    book,
    '--account',
    'hodler',
    '--symbol',
    'BTCUSDT',
    '--side',
    'buy',
    '--qty',
    '2',
  ],
  map: ['map', book, '--symbol', 'BTCUSDT'],
  // (needs a Kafka broker to run: only its refusals are tested here; test/shard.test.ts runs it)
  shard: ['shard', '--brokers', '127.0.0.1:1', '--partitions', '1'],
}

describe('strict options per command', () => {
  it('every command is in the table, has a run above, and is listed by --help from its entry', () => {
    expect(COMMANDS.map((c) => c.name).sort()).toEqual(Object.keys(RUNS).sort())
    const help = cli(['--help']).out
    for (const c of COMMANDS) {
      expect(help).toContain(`\n  ${c.help.split('\n', 1)[0]}\n`)
      expect(help).toContain(`\n  ${c.name.padEnd(10)} ${c.summary.split('\n', 1)[0]}`)
    }
  })

  for (const command of COMMANDS) {
    it(`${command.name}: an option it does not take is exit 2, naming its options`, () => {
      const r = cli([...RUNS[command.name]!, '--bogus'])
      expect(r.code).toBe(2)
      expect(r.out).toBe('')
      expect(r.err).toBe(
        `deleverage: ${command.name} does not take --bogus; its options: ${optionList(command.options)}\n` +
          `Run 'deleverage ${command.name} --help' for usage.\n`,
      )
    })
  }

  it('check --csv and check --report x.html are refused (they were ignored, exit 0)', () => {
    for (const extra of [['--csv'], ['--report', 'x.html']]) {
      const r = cli(['check', book, ...extra])
      expect(r.code).toBe(2)
      expect(r.err).toContain(`check does not take ${extra[0]}; its options: --json, --ndjson,`)
    }
  })

  it('a missing value, a value for a flag and a stray file are usage errors', () => {
    expect(cli(['check', book, '--limit']).err).toContain('--limit takes a value: --limit N')
    expect(cli(['check', book, '--json=yes']).err).toContain('--json takes no value')
    expect(cli(['check', book, book]).err).toContain('check takes one <scenario.json>')
    expect(cli(['demo', book]).err).toContain('demo takes no file')
    expect(cli(['--json', 'check', book]).err).toContain('give the command first')
  })

  it('order, map and shard: required options, help generated from their table entries', () => {
    expect(cli(['order', book, '--account', 'hodler']).err).toContain(
      'order needs --symbol, --side, --qty',
    )
    expect(cli(['map', book]).err).toContain('map needs --symbol')
    for (const c of COMMANDS.filter((x) => ['order', 'map', 'shard'].includes(x.name))) {
      const help = cli([c.name, '--help'])
      expect(help.code).toBe(0)
      for (const [name, o] of Object.entries(c.options)) {
        expect(o.help, `${c.name} --${name}`).toBeTruthy()
        expect(help.out).toMatch(
          new RegExp(
            `\\n  --${name}\\b.* {2}${o.help!.split('\n')[0]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
          ),
        )
      }
    }
  })

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    const r = cli(['--version'])
    expect(r).toEqual({ code: 0, out: `deleverage ${pkg.version}\n`, err: '' })
  })
})

describe('a reader that goes away (EPIPE) ends every command quietly', () => {
  // `| true`: the reader exits before the CLI writes its first byte, so every write is EPIPE.
  const { shard: _needsKafka, ...runnable } = RUNS
  const runs = {
    ...runnable,
    help: ['--help'],
    version: ['--version'],
    'check --help': ['check', '-h'],
  }
  for (const [name, args] of Object.entries(runs)) {
    it(name, () => {
      const quoted = args.map((a) => `'${a}'`).join(' ')
      const r = spawnSync(
        'bash',
        ['-c', `"${process.execPath}" "${bin}" ${quoted} | true; echo "\${PIPESTATUS[0]}"`],
        { encoding: 'utf8' },
      )
      expect(r.stderr).toBe('')
      expect(r.stdout).toBe('0\n')
    })
  }
})

describe('example scenarios shipped in the package', () => {
  it('package.json ships examples/, and every examples/ file a help names exists', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] }
    expect(pkg.files).toContain('examples')
    const helps = [cli(['--help']).out, ...COMMANDS.map((c) => c.help)].join('\n')
    const named = [...new Set(helps.match(/examples\/[\w.-]+/g))]
    expect(named.length).toBeGreaterThanOrEqual(3)
    for (const f of named) expect(existsSync(join(root, f)), f).toBe(true)
    expect(helps).not.toContain('test/fixtures')
  })

  it('examples/… is found in the package from any directory', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'deleverage-cwd-'))
    const r = cli(['check', 'examples/crash.json'], cwd)
    expect(r.err).toBe('')
    expect(r.out).toMatch(/whale +cross .* LIQUIDATABLE/)
    // A file of that name in the current directory wins.
    mkdirSync(join(cwd, 'examples'))
    cpSync(book, join(cwd, 'examples', 'crash.json'))
    expect(cli(['check', 'examples/crash.json'], cwd).out).toMatch(/^4 accounts, 4 positions/m)
  })

  it('order and map find examples/… in the package too, as their help examples promise', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'deleverage-cwd-'))
    for (const c of COMMANDS.filter((x) => x.name === 'order' || x.name === 'map')) {
      const lines = c.help
        .split('\n')
        .filter((l) => l.startsWith('  deleverage ') && l.includes('examples/'))
      expect(lines.length, c.name).toBeGreaterThan(0)
      for (const line of lines) {
        const r = cli(line.trim().split(/ +/).slice(1), cwd)
        expect(r.err, line).toBe('')
        expect(r.code, line).toBe(0)
      }
    }
  })

  it('the help examples run', () => {
    const r = cli(['simulate', 'examples/crash.json', '--path', 'examples/prices.csv'])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(cli(['liquidate', 'examples/crash.json', '--fill', 'impact:20:50000']).code).toBe(0)
    for (const c of COMMANDS.filter((x) => x.name === 'order' || x.name === 'map'))
      for (const line of c.help.split('\n').filter((l) => l.startsWith('  deleverage ')))
        if (line.includes('examples/'))
          expect(cli(line.trim().split(/ +/).slice(1)).code, line).toBe(0)
  })
})

describe('shock and money as people read them', () => {
  it('--shock -20% and -0.2 give the same path and say how they were read; -20 is refused', () => {
    const pct = cli(['simulate', crash, '--shock', '-20%', '--steps', '3'])
    const frac = cli(['simulate', crash, '--shock', '-0.2', '--steps', '3'])
    expect(pct.out).toMatch(/^shock -20 % over 3 steps$/m)
    expect(frac.out).toMatch(/^shock -20 % \(-0\.2 read as a fraction\) over 3 steps$/m)
    expect(frac.out.split('\n').slice(1)).toEqual(pct.out.split('\n').slice(1))
    const bare = cli(['simulate', crash, '--shock', '-20'])
    expect(bare.code).toBe(2)
    expect(bare.err).toContain(
      '--shock -20 is a fraction (-20 = -2000 %); write -20% for -20 %, or a fraction such as -0.2',
    )
  })

  it('displayDecimal groups thousands and rounds half away from zero', () => {
    expect(displayDecimal('250000.00000000', 2)).toBe('250,000.00')
    expect(displayDecimal('-1234567.125', 2)).toBe('-1,234,567.13')
    expect(displayDecimal('-1234567.124', 2)).toBe('-1,234,567.12')
    expect(displayDecimal('-0.004', 2)).toBe('0.00')
    expect(displayDecimal('999.995', 2)).toBe('1,000.00')
    expect(displayDecimal('12.3', 2)).toBe('12.3')
    expect(displayDecimal('1234.56789')).toBe('1,234.56789')
    expect(displayDecimal('—')).toBe('—')
  })

  it('tables show money at 2 decimals (8 for a coin-settled market), --full-precision all', () => {
    const r = cli(['check', book])
    expect(r.out).toMatch(/^hodler +cross +100,000\.00 +103,004\.42 +121\.04 +0\.11% +ok$/m)
    expect(r.out).toMatch(/^coin +BTCUSD isolated +0\.50000000 +0\.50246643 /m)
    expect(cli(['check', book, '--full-precision']).out).toMatch(
      /^hodler +cross +100,000\.00000000 +103,004\.41858000 +121\.03572508 /m,
    )
    const json = JSON.parse(cli(['check', book, '--json']).out)
    expect(json.accounts.find((a: { account: string }) => a.account === 'hodler').balance).toBe(
      '100000.00000000',
    )
  })

  it("the report's settings line shows the fund at the display precision", () => {
    const html = join(mkdtempSync(join(tmpdir(), 'deleverage-rep-')), 'report.html')
    const run = (...more: string[]) =>
      cli(['simulate', crash, '--shock', '-20%', '--steps', '2', '--report', html, ...more])
    expect(run().code).toBe(0)
    expect(readFileSync(html, 'utf8')).toMatch(/over 2 steps; fund 1,500\.00; fills/)
    expect(run('--full-precision').code).toBe(0)
    expect(readFileSync(html, 'utf8')).toMatch(/over 2 steps; fund 1,500\.00000000; fills/)
  })

  it("the report's axes name the scenario's settlement asset", () => {
    const doc = JSON.parse(readFileSync(crash, 'utf8'))
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-asset-'))
    const usdc = join(dir, 'usdc.json')
    doc.markets = doc.markets.filter((m: { type: string }) => m.type !== 'inverse')
    doc.markets[0].symbol = 'BTC-PERP'
    doc.markets[0].settleAsset = 'USDC'
    doc.accounts = doc.accounts.filter((x: { positions?: Array<{ symbol: string }> }) =>
      (x.positions ?? []).every((q) => q.symbol === 'BTCUSDT'),
    )
    for (const x of doc.accounts) for (const q of x.positions ?? []) q.symbol = 'BTC-PERP'
    writeFileSync(usdc, JSON.stringify(doc))
    const html = join(dir, 'report.html')
    const r = cli(['simulate', usdc, '--shock', '-20%', '--steps', '2', '--report', html])
    expect(r.err).toBe('')
    expect(readFileSync(html, 'utf8')).toMatch(/"quote":"USDC"/)
    // crash.json settles in USDT and BTC: no one asset to name
    cli(['simulate', crash, '--shock', '-20%', '--steps', '2', '--report', html])
    expect(readFileSync(html, 'utf8')).toMatch(/"quote":"quote units"/)
  })
})

describe('messages that say what is wrong', () => {
  const doc = JSON.parse(readFileSync(book, 'utf8')) as {
    markets: Array<Record<string, unknown>>
    accounts: Array<{ positions: Array<Record<string, unknown>> }>
  }
  const file = (text: string) => {
    const f = join(mkdtempSync(join(tmpdir(), 'deleverage-msg-')), 'scenario.json')
    writeFileSync(f, text)
    return f
  }
  const edited = (edit: (d: typeof doc) => void) => {
    const d = structuredClone(doc)
    edit(d)
    return file(JSON.stringify(d, null, 1))
  }

  it('a missing field says "missing"', () => {
    const r = cli(['check', edited((d) => delete d.accounts[0]!.positions[0]!.qty)])
    expect(r.code).toBe(3)
    expect(r.err).toBe(
      'deleverage: INVALID_SCENARIO: accounts[0].positions[0].qty: missing (expected a decimal string such as "1.5")\n',
    )
  })

  it('an amount too large for the engine is shown as written, with the largest allowed', () => {
    const r = cli([
      'check',
      edited((d) => (d.accounts[0]!.positions[0]!.qty = '99999999999999999')),
    ])
    expect(r.code).toBe(3)
    expect(r.err).toBe(
      'deleverage: OVERFLOW: accounts[0]: positions[0].qty: 99999999999999999.000 is beyond ±9223372036854775.807, the most a 64-bit integer of 3-decimal units holds\n',
    )
  })

  it('an unknown symbol names the field and lists the markets', () => {
    const r = cli(['check', edited((d) => (d.accounts[1]!.positions[0]!.symbol = 'ETHUSDT'))])
    expect(r.code).toBe(3)
    expect(r.err).toBe(
      'deleverage: UNKNOWN_MARKET: accounts[1].positions[0].symbol: unknown market "ETHUSDT" (the markets are BTCUSDT, BTCUSD)\n',
    )
  })

  it('a JSON syntax error gives its line and column', () => {
    const f = file('{\n "markets": [\n  {"symbol": "X",}\n ]\n}\n')
    expect(cli(['check', f]).err).toBe(
      `deleverage: INVALID_SCENARIO: ${f} line 3 column 18: not valid JSON (Expected double-quoted property name)\n`,
    )
    const cut = file('{"markets": [],\n "accounts": [')
    expect(cli(['check', cut]).err).toBe(
      `deleverage: INVALID_SCENARIO: ${cut} line 2 column 15: not valid JSON (Unexpected end of JSON input)\n`,
    )
  })
})
