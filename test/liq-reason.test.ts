// "No liquidation price" has one form (SPEC §6.4): liquidationPrice null and a reason, 'never'
// (no mark in range liquidates the position) or 'always' (every mark in range does), coming from
// the core on both engines; the CLI prints the reason; the two engines agree on random books.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { Engine, type AccountInput } from '../src/index.js'
import { IMPLEMENTATIONS } from './helpers.js'

const root = fileURLToPath(new URL('..', import.meta.url))

const market = {
  symbol: 'BTCUSDT',
  priceDecimals: 2,
  qtyDecimals: 3,
  tiers: [{ floor: '0', mmr: '0.005', maxLeverage: '100' }],
  mark: '30000',
}

const eth = {
  symbol: 'ETHUSDT',
  priceDecimals: 2,
  qtyDecimals: 3,
  tiers: [
    { floor: '0', mmr: '0.005', maxLeverage: '100' },
    { floor: '50000', mmr: '0.01', maxLeverage: '50' },
    { floor: '250000', mmr: '0.025', maxLeverage: '20' },
  ],
  mark: '2000',
}

// safe: a long backed by far more than its notional cannot fall far enough (prices are > 0).
// doomed: a short whose account owes more than the short can ever earn (30 000 at a price of 0):
// liquidatable at every price down to the lowest tick. alice: the isolated long of
// liq-map.test.ts, 3000 + (L − 30000) = 0.005·L, L = 27135.678…, trigger 27135.67, nearest .68.
const accounts: AccountInput[] = [
  { id: 'safe', balance: '100000', positions: [{ symbol: 'BTCUSDT', qty: '1', entry: '30000' }] },
  {
    id: 'doomed',
    balance: '-40000',
    positions: [{ symbol: 'BTCUSDT', qty: '-1', entry: '30000' }],
  },
  {
    id: 'alice',
    balance: '0',
    positions: [{ symbol: 'BTCUSDT', qty: '1', entry: '30000', isolatedMargin: '3000' }],
  },
]

function book(implementation: 'native' | 'js', units = false): Engine {
  const e = new Engine({ quoteDecimals: 8, implementation, units })
  e.addMarket(market)
  e.addAccounts(accounts)
  return e
}

describe.each(IMPLEMENTATIONS)('liquidationPriceReason (%s)', (impl) => {
  it('says never, always, or gives the price', () => {
    const rows = book(impl).positions()
    const by = Object.fromEntries(rows.map((r) => [r.account, r]))
    expect(by.safe).toMatchObject({ liquidationPrice: null, liquidationPriceReason: 'never' })
    expect(by.safe!.liquidationPriceNearest).toBeNull()
    expect(by.doomed).toMatchObject({ liquidationPrice: null, liquidationPriceReason: 'always' })
    expect(by.doomed!.liquidationPriceNearest).toBeNull()
    expect(by.alice).toMatchObject({
      liquidationPrice: '27135.67',
      liquidationPriceNearest: '27135.68',
      liquidationPriceReason: null,
    })
    // A bankruptcy price is unaffected: the doomed short is insolvent at every price, too.
    expect(by.alice!.bankruptcyPrice).toBe('27000.00')
  })

  it('gives null units where the decimal price is null', () => {
    const rows = book(impl, true).positions()
    const by = Object.fromEntries(rows.map((r) => [r.account, r.units!]))
    expect(by.doomed!.liquidationPrice).toBeNull()
    expect(by.safe!.liquidationPrice).toBeNull()
    expect(by.alice!.liquidationPrice).toBe(2713567n)
  })
})

describe.each(IMPLEMENTATIONS)('whatIf liquidationPriceReason (%s)', (impl) => {
  it('says never, always, or gives the price after the orders', () => {
    const e = book(impl)
    const after = (id: string, side: 'buy' | 'sell') =>
      e.whatIf(id, [{ symbol: 'BTCUSDT', side, qty: '0.5' }]).positions[0]
    // Half the safe long, half the doomed short bought back at 30 000 (no PnL realised):
    // −40 000 + 0.5·30 000 < 0 at every price still.
    expect(after('safe', 'sell')).toMatchObject({
      qty: '0.500',
      liquidationPrice: null,
      liquidationPriceNearest: null,
      liquidationPriceReason: 'never',
    })
    expect(after('doomed', 'buy')).toMatchObject({
      qty: '-0.500',
      liquidationPrice: null,
      liquidationPriceNearest: null,
      liquidationPriceReason: 'always',
    })
    const w = e.whatIf('safe', [{ symbol: 'BTCUSDT', side: 'buy', qty: '100' }]).positions[0]!
    expect(w.liquidationPriceReason).toBeNull()
    expect(w.liquidationPrice).not.toBeNull()
  })
})

describe('liquidationPriceReason parity', () => {
  it('agrees between the engines on random books, and null goes with a reason', () => {
    let s = 0x2545f491
    const rnd = (n: number) => {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0
      return s % n
    }
    const seen = new Set<string | null>()
    for (let round = 0; round < 20; round++) {
      const list: AccountInput[] = []
      for (let a = 0; a < 40; a++) {
        const lots = 1 + rnd(10_000)
        const qty = `${rnd(2) ? '' : '-'}${Math.floor(lots / 1000)}.${`${lots % 1000}`.padStart(3, '0')}`
        const positions = [{ symbol: 'BTCUSDT', qty, entry: `${20_000 + rnd(20_000)}` }]
        // Half the accounts also hold a tiered market, cross or isolated.
        if (rnd(2))
          positions.push({
            symbol: 'ETHUSDT',
            qty: `${rnd(2) ? '' : '-'}${1 + rnd(200)}`,
            entry: `${1000 + rnd(2000)}`,
            ...(rnd(3) ? {} : { isolatedMargin: `${rnd(50_000)}` }),
          })
        list.push({ id: `a${a}`, balance: `${rnd(800_000) - 400_000}`, positions })
      }
      const rows = IMPLEMENTATIONS.map((impl) => {
        const e = new Engine({ quoteDecimals: 8, implementation: impl })
        e.addMarket(market)
        e.addMarket(eth)
        e.addAccounts(list)
        return e.positions()
      })
      expect(rows[1]).toEqual(rows[0])
      for (const r of rows[0]!) {
        seen.add(r.liquidationPriceReason)
        expect(r.liquidationPrice === null).toBe(r.liquidationPriceReason !== null)
      }
    }
    expect([...seen].sort()).toEqual(['always', 'never', null].sort())
  })
})

describe('deleverage check', () => {
  it('prints the reason where there is no price, in text and JSON', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'deleverage-')), 'scenario.json')
    writeFileSync(f, JSON.stringify({ quoteDecimals: 8, markets: [market], accounts }))
    const run = (args: string[]) =>
      spawnSync(process.execPath, [join(root, 'bin/deleverage.js'), 'check', f, ...args], {
        encoding: 'utf8',
      })
    const text = run([])
    expect(text.stderr).toBe('')
    expect(text.stdout).toMatch(/safe +BTCUSDT .* never /)
    expect(text.stdout).toMatch(/doomed +BTCUSDT .* always /)
    expect(text.stdout).toMatch(/alice +BTCUSDT .* 27,135\.68 /)
    const json = JSON.parse(run(['--json']).stdout)
    const reasons = JSON.stringify(json).match(/"liquidationPriceReason":("\w+"|null)/g)
    expect(reasons?.sort()).toEqual([
      '"liquidationPriceReason":"always"',
      '"liquidationPriceReason":"never"',
      '"liquidationPriceReason":null',
    ])
  })
})

describe('deleverage order', () => {
  it('prints the reason in the what-if table', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'deleverage-')), 'scenario.json')
    writeFileSync(f, JSON.stringify({ quoteDecimals: 8, markets: [market], accounts }))
    const args = ['order', f, '--symbol', 'BTCUSDT', '--side', 'buy', '--qty', '0.5']
    const run = (account: string) =>
      spawnSync(
        process.execPath,
        [join(root, 'bin/deleverage.js'), ...args, '--account', account],
        {
          encoding: 'utf8',
        },
      )
    expect(run('doomed').stdout).toMatch(/BTCUSDT +-0\.5(00)? +always +always /)
    expect(run('safe').stdout).toMatch(/BTCUSDT +1\.5(00)? +never +never /)
  })
})
