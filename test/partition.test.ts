// An engine partitioned by account across processes (docs/PARTITIONING.md): each partition offers
// the top of its ADL queue, the merge orders them exactly, and the selection equals what one
// engine holding every account deleverages.
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import {
  engineFromScenario,
  mergeAdlQueues,
  parseScenario,
  topOfQueue,
  type AdlQueueEntry,
  type Scenario,
} from '../src/index.js'
import { IMPLEMENTATIONS } from './helpers.js'

const worker = fileURLToPath(new URL('./fixtures/partition-worker.mjs', import.meta.url))

function book(seed: number): Scenario {
  let s = seed
  const rand = (n: number) => {
    s = (s * 48271) % 2147483647
    return s % n
  }
  const accounts: Scenario['accounts'] = [
    {
      id: 'bankrupt',
      balance: '3000',
      positions: [{ symbol: 'ETH-PERP', qty: '30.000', entry: '2003.00' }],
    },
  ]
  for (let i = 0; i < 45; i++) {
    // shorts in profit after the fall, with a spread of size, entry and margin (some isolated)
    const pos = {
      symbol: 'ETH-PERP',
      qty: `-${1 + rand(9)}.${String(rand(1000)).padStart(3, '0')}`,
      entry: `${1850 + rand(450)}.${String(rand(100)).padStart(2, '0')}`,
    }
    accounts.push({
      id: `short-${String(i).padStart(2, '0')}`,
      balance: String(200 + rand(20000)),
      positions: [rand(5) === 0 ? { ...pos, isolatedMargin: String(100 + rand(3000)) } : pos],
    })
  }
  for (let i = 0; i < 10; i++) {
    accounts.push({
      id: `long-${i}`,
      balance: '100000',
      positions: [{ symbol: 'ETH-PERP', qty: `${1 + rand(5)}.000`, entry: '2003.00' }],
    })
  }
  return {
    quoteDecimals: 8,
    markets: [
      {
        symbol: 'ETH-PERP',
        priceDecimals: 2,
        qtyDecimals: 3,
        tiers: [
          { floor: '0', mmr: '0.01' },
          { floor: '100000', mmr: '0.02' },
        ],
        mark: '2003.00',
      },
    ],
    accounts,
  }
}

const marks = { 'ETH-PERP': '1801.00' }

function partitionOffers(
  scenario: Scenario,
  parts: number,
  implementation: string,
  ranking: string,
  need: string,
): AdlQueueEntry[][] {
  return Array.from({ length: parts }, (_, p) => {
    const mine = { ...scenario, accounts: scenario.accounts.filter((_, i) => i % parts === p) }
    const job = {
      implementation,
      scenario: mine,
      marks,
      symbol: 'ETH-PERP',
      side: 'short',
      ranking,
      need,
    }
    const r = spawnSync(process.execPath, [worker], {
      input: JSON.stringify(job),
      encoding: 'utf8',
    })
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {
      implementation: string
      pid: number
      offer: AdlQueueEntry[]
    }
    expect(out.implementation).toBe(implementation)
    expect(out.pid).not.toBe(process.pid)
    return out.offer
  })
}

describe.each(IMPLEMENTATIONS)('partitioned by account on the %s engine', (implementation) => {
  for (const ranking of ['bitmex', 'binance', 'hyperliquid'] as const) {
    it(`merges ${ranking} queues from 3 processes into what one engine deleverages`, () => {
      const scenario = book(7919 + ranking.length)
      const one = engineFromScenario(parseScenario(scenario), { implementation })
      one.configureWaterfall({ ranking, buffer: '0' })
      one.setMarks(marks)
      const queue = one.adlQueue('ETH-PERP', 'short', ranking)
      const events = one.runWaterfall()
      expect(events.some((e) => e.kind === 'takeover' && e.account === 'bankrupt')).toBe(true)
      const adl = events
        .filter((e) => e.kind === 'adlFill')
        .map((e) => ({ account: e.account, qty: e.qty!.replace('-', '') }))
      expect(adl.length).toBeGreaterThan(3)

      const offers = partitionOffers(scenario, 3, implementation, ranking, '30.000')
      expect(offers.every((o) => o.length > 0)).toBe(true)
      const merged = mergeAdlQueues(offers, '30.000')
      // The same counterparties, in the same order, for the same quantities as one engine…
      expect(merged.map((m) => ({ account: m.account, qty: m.take }))).toEqual(adl)
      // …and the merged prefix is exactly the single engine's queue prefix, scores included.
      expect(merged.map(({ take: _, ...e }) => e)).toEqual(
        topOfQueue(queue, '30.000').map((e) => ({
          ...e,
          lights: expect.any(Number),
          lightsByCount: expect.any(Number),
        })),
      )
      // `need` is a quantity, however it is written: "30" is 30.000, not 30 lots.
      expect(mergeAdlQueues(offers, '30')).toEqual(merged)
      expect(topOfQueue(queue, '30')).toEqual(topOfQueue(queue, '30.000'))
    })
  }
})
