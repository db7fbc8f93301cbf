// `deleverage order` and the pre-trade table of `deleverage check`, on both engines.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { loadScenarioFile } from '../src/scenario.js'
import { IMPLEMENTATIONS } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const file = join(root, 'test/fixtures/scenarios/pretrade.json')

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [join(root, 'bin/deleverage.js'), ...args], {
    encoding: 'utf8',
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('scenario preTrade section', () => {
  it.each(IMPLEMENTATIONS)('loads settings, leverage and orders (%s)', (implementation) => {
    const { engine } = loadScenarioFile(file, { implementation })
    expect(engine.leverage('alice', 'BTCUSDT')).toBe(10)
    expect(engine.openOrders('alice')).toHaveLength(1)
    // 0.2 BTC at 49,500, 10x: 990 initial margin, fees 0.0006 × 9,900 × (2 − 0.1) = 11.286.
    expect(engine.accountMargin('alice').orderMargin).toBe('1001.28600000')
  })

  it('an error in an order names its field under preTrade.orders[i]', () => {
    const doc = JSON.parse(readFileSync(file, 'utf8'))
    const n = doc.preTrade.orders.length
    doc.preTrade.orders.push({ ...doc.preTrade.orders[0], account: 'nobody' })
    const bad = join(mkdtempSync(join(tmpdir(), 'deleverage-pt-')), 'bad.json')
    writeFileSync(bad, JSON.stringify(doc))
    expect(() => loadScenarioFile(bad)).toThrow(
      `preTrade.orders[${n}].account: unknown account "nobody"`,
    )
    doc.preTrade.orders[n] = { ...doc.preTrade.orders[0], qty: '0' }
    writeFileSync(bad, JSON.stringify(doc))
    expect(() => loadScenarioFile(bad)).toThrow(new RegExp(`^preTrade\\.orders\\[${n}\\]\\.qty: `))
  })
})

/** `deleverage order` on the fixture for one account and symbol BTCUSDT, then `rest`. */
const order = (account: string, side: string, qty: string, ...rest: string[]) =>
  cli([
    'order',
    file,
    '--account',
    account,
    '--symbol',
    'BTCUSDT',
    '--side',
    side,
    '--qty',
    qty,
    ...rest,
  ])

describe('deleverage order', () => {
  it('prints the verdict, the cost, the largest quantity and the what-if', () => {
    const r = order('alice', 'buy', '0.1', '--price', '50000')
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toContain('buy 0.1 BTCUSDT for alice: ACCEPTED')
    expect(r.out).toContain('if it fills:')
    const j = JSON.parse(order('alice', 'buy', '0.1', '--price', '50000', '--json').out)
    expect(j.verdict).toBe('ACCEPTED')
    expect(j.whatIf.positions[0].qty).toBe('0.600')
    const both = IMPLEMENTATIONS.map(
      (impl) => order('bob', 'sell', '1', '--json', '--impl', impl).out,
    )
    expect(JSON.parse(both[0]!).verdict).toBe('INSUFFICIENT_MARGIN')
    expect(both[0]).toBe(both[1])
  })
  it('refuses bad usage with exit code 2 and bad input with 3', () => {
    expect(cli(['order', file, '--account', 'alice']).code).toBe(2)
    expect(order('alice', 'up', '1').code).toBe(2)
    const r = order('zed', 'buy', '1')
    expect(r.code).toBe(3)
    expect(r.err).toContain('UNKNOWN_ACCOUNT')
  })
  it('check shows available balance and order margin', () => {
    const r = cli(['check', file])
    expect(r.code).toBe(0)
    expect(r.out).toContain('pre-trade:')
    expect(r.out).toMatch(/alice\s+1\s+1,001\.29/)
  })
  it("check's pre-trade table shows a coin's money at 8 decimals, like the other tables", () => {
    const doc = JSON.parse(readFileSync(join(root, 'examples/small-book.json'), 'utf8'))
    doc.accounts.find((a: { id: string }) => a.id === 'coin').balance = '1'
    doc.preTrade = {
      orders: [{ account: 'coin', symbol: 'BTCUSD', side: 'sell', qty: '100', price: '30000.0' }],
    }
    const f = join(mkdtempSync(join(tmpdir(), 'deleverage-pt-')), 'coin.json')
    writeFileSync(f, JSON.stringify(doc))
    const { engine } = loadScenarioFile(f)
    const m = engine.accountMargin('coin')
    const r = cli(['check', f])
    expect(r.code).toBe(0)
    const row = r.out
      .split('pre-trade:')[1]!
      .split('\n')
      .find((l) => l.startsWith('coin'))!
    expect(row.trim().split(/ {2,}/)).toEqual([
      'coin',
      '1',
      m.orderMargin,
      m.initialMargin,
      m.available,
    ])
    expect(m.orderMargin).toMatch(/^0\.\d{8}$/)
    expect(m.orderMargin).not.toBe('0.00000000')
  })
})
