// Issue 12 item 5: one account whose equity leaves i64 must not stop the book (SPEC §5.5). At
// quoteDecimals 12 (i64 holds ≈ 9.2M units) a whale's balance plus profit leaves i64 after a mark
// move; the underwater account beside it is still swept, watched and liquidated on both engines,
// and the whale is reported with status OVERFLOW. Before, each of these calls threw OVERFLOW.
import { describe, expect, it } from 'vitest'
import { Engine, type Implementation } from '../src/index.js'
import { loadNative } from '../src/native.js'

const native = loadNative().binding !== null
const IMPLEMENTATIONS = (): Implementation[] => (native ? ['native', 'js'] : ['js'])

function book(implementation: Implementation): Engine {
  const e = new Engine({ implementation, quoteDecimals: 12 })
  e.addMarket({
    symbol: 'BTCUSDT',
    priceDecimals: 2,
    qtyDecimals: 3,
    tiers: [{ floor: '0', mmr: '0.005' }],
    mark: '30000',
  })
  e.addAccounts([
    {
      id: 'whale',
      balance: '9000000',
      positions: [{ symbol: 'BTCUSDT', qty: '100', entry: '30000' }],
    },
    { id: 'under', balance: '1000', positions: [{ symbol: 'BTCUSDT', qty: '-1', entry: '30000' }] },
  ])
  return e
}

describe.each(IMPLEMENTATIONS())('an account past i64 on the %s engine', (implementation) => {
  it('is reported as OVERFLOW while the others are swept, watched and liquidated', () => {
    const e = book(implementation)
    expect(e.updateMarks({ BTCUSDT: '30000' })).toEqual([])
    // 30,000 → 40,000: the whale holds 9M + 1M units (past i64 atoms), `under` lost 10k of 1k
    expect(e.updateMarks({ BTCUSDT: '40000' })).toEqual([
      { account: 'under', symbol: null, liquidatable: true },
    ])
    const s = e.sweep({ warningRatio: '0.5' })
    expect(s.liquidatable.map((r) => [r.account, r.status])).toEqual([['under', 'ok']])
    expect(s.warnings).toEqual([])
    expect(s.overflow).toEqual([
      {
        account: 'whale',
        symbol: null,
        equity: '0.000000000000',
        maintenanceMargin: '0.000000000000',
        marginRatio: null,
        shortfall: '0.000000000000',
        liquidatable: false,
        status: 'OVERFLOW',
      },
    ])
    expect(e.liquidatable()).toEqual([...s.liquidatable, ...s.overflow])
    expect(e.accounts().map((r) => [r.account, r.status])).toEqual([
      ['whale', 'OVERFLOW'],
      ['under', 'ok'],
    ])
    // The waterfall liquidates `under` and leaves the whale alone (no exact plan exists for it).
    e.runWaterfall()
    expect(e.sweep().liquidatable).toEqual([])
    expect(e.positions(['under'])).toEqual([])
    expect(e.positions(['whale']).map((p) => p.qty)).toEqual(['100.000'])
    // Back to 30,000 the whale fits again, and the watch re-checks it on that move.
    e.updateMarks({ BTCUSDT: '30000' })
    expect(e.liquidatable()).toEqual([])
    expect(e.sweep().overflow).toEqual([])
  })
})

it.runIf(native)('both engines give the same columns and state hash', () => {
  const [n, j] = [book('native'), book('js')]
  for (const e of [n, j]) e.setMarks({ BTCUSDT: '40000' })
  expect(n.core.sweep(null)).toEqual(j.core.sweep(null))
  expect(n.core.liquidatable()).toEqual(j.core.liquidatable())
  n.runWaterfall()
  j.runWaterfall()
  expect(n.stateHash()).toBe(j.stateHash())
})
