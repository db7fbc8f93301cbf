// settleAdlFill (SPEC §16): one merged ADL fill executed where the counterparty lives. Both
// engines agree bit for bit on random books and random (valid and invalid) calls; and executing
// the fills of the engine's own ADL one by one — settleAdlFill for each counterparty, then
// settleLiquidatorFill for the engine's side — leaves every account, position and the ledger exactly
// where autoDeleverage leaves them, on the three ranked formulas and both ADL prices.
import { describe, expect, it } from 'vitest'
import type { AdlRanking, Engine, Implementation } from '../src/index.js'
import { IMPLEMENTATIONS, Rng, attempt, codeOf, engine } from './helpers.js'

const RANKED: AdlRanking[] = ['bitmex', 'binance', 'hyperliquid']

/** A book with one bankrupt long per market and `n` random accounts on both sides. */
function book(impl: Implementation, seed: bigint, n: number): Engine {
  const r = new Rng(seed)
  const e = engine(impl)
  e.addMarket({
    symbol: 'BTC-PERP',
    priceDecimals: 1,
    qtyDecimals: 3,
    tiers: [
      { floor: '0', mmr: '0.005' },
      { floor: '50000', mmr: '0.01' },
    ],
    mark: '30000',
  })
  e.addMarket({
    symbol: 'XBTUSD',
    type: 'inverse',
    contractSize: '1',
    priceDecimals: 1,
    qtyDecimals: 0,
    marginBasis: 'entry',
    tiers: [{ floor: '0', mmr: '0.005' }],
    mark: '30000',
    settleAsset: 'XBT',
  })
  e.addAccounts([
    {
      id: 'bankrupt',
      balance: '100',
      positions: [{ symbol: 'BTC-PERP', qty: '2', entry: '30000' }],
    },
    {
      id: 'bankruptX',
      balance: '0.01',
      positions: [{ symbol: 'XBTUSD', qty: '3000', entry: '30000' }],
    },
  ])
  for (let i = 0; i < n; i++) {
    const inverse = r.chance(0.3)
    const entry = `${r.int(25000, 35000)}.${r.int(0, 9)}`
    const qty = inverse ? `${r.int(1, 2000)}` : `${r.int(1, 900) / 1000}`
    e.addAccounts([
      {
        id: `a${String(i).padStart(3, '0')}`,
        balance: inverse ? `${r.int(1, 90) / 100}` : `${r.int(500, 90000)}`,
        positions: [
          {
            symbol: inverse ? 'XBTUSD' : 'BTC-PERP',
            qty: r.chance(0.7) ? `-${qty}` : qty,
            entry,
            ...(r.chance(0.2) ? { isolatedMargin: inverse ? '0.05' : '3000' } : {}),
          },
        ],
      },
    ])
  }
  e.setMarks({ 'BTC-PERP': '29000', XBTUSD: '29000' })
  return e
}

describe.each(IMPLEMENTATIONS)(
  'settleAdlFill (%s) executes the engine’s own ADL fill by fill',
  (impl) => {
    it.each(
      RANKED.flatMap((ranking) => (['bankruptcy', 'mark'] as const).map((p) => [ranking, p])),
    )('ranking %s at the %s price', (ranking, adlPrice) => {
      for (const seed of [1n, 2n, 3n]) {
        const [one, split] = [book(impl, seed, 40), book(impl, seed, 40)]
        for (const e of [one, split]) {
          e.configureWaterfall({ ranking: ranking as AdlRanking, adlPrice: adlPrice as 'mark' })
          e.takeOver('bankrupt')
          e.takeOver('bankruptX')
        }
        let fills = 0
        for (const symbol of ['BTC-PERP', 'XBTUSD']) {
          const adl = one.autoDeleverage(symbol).filter((v) => v.kind === 'adlFill')
          expect(adl.length).toBeGreaterThan(1)
          for (const f of adl) {
            const ev = split.settleAdlFill(f.account!, symbol, f.qty!, f.price!)
            expect(ev).toEqual([{ ...f, seq: ev[0]!.seq }])
            const engineSide = f.qty!.startsWith('-') ? f.qty!.slice(1) : `-${f.qty}`
            split.settleLiquidatorFill(symbol, engineSide, f.price!)
            fills++
          }
        }
        expect(fills).toBeGreaterThan(3)
        expect(split.accounts()).toEqual(one.accounts())
        expect(split.positions()).toEqual(one.positions())
        expect(split.ledger()).toEqual(one.ledger())
      }
    })
  },
)

describe('settleAdlFill: native and TypeScript agree bit for bit', () => {
  it('on 30 random books with 40 random calls each, valid and invalid', () => {
    let ok = 0
    let rejected = 0
    for (let s = 1n; s <= 30n; s++) {
      const r = new Rng(1000n + s)
      const [n, j] = [book('native', s, 25), book('js', s, 25)]
      const ids = n.accounts().map((a) => a.account)
      for (let k = 0; k < 40; k++) {
        const id = r.chance(0.05) ? 'nobody' : r.pick(ids)
        const symbol = r.pick(['BTC-PERP', 'XBTUSD', 'ETH-PERP'])
        const pos = n.positions([ids.includes(id) ? id : ids[0]!]).find((p) => p.symbol === symbol)
        const q = pos ? BigInt(pos.qty.replace('.', '')) : 1n
        const part = r.chance(0.1) ? -q : r.chance(0.1) ? q * 2n : (q * BigInt(r.int(1, 10))) / 10n
        const dec = symbol === 'BTC-PERP' ? 3 : 0
        const qty = fmt(part, dec)
        const price = r.chance(0.05) ? '0' : `${r.int(20000, 40000)}.${r.int(0, 9)}`
        const before = n.stateHash()
        const on = attempt(() => n.settleAdlFill(id, symbol, qty, price))
        const oj = attempt(() => j.settleAdlFill(id, symbol, qty, price))
        expect(oj).toEqual(on)
        expect(j.stateHash()).toBe(n.stateHash())
        if ('ok' in on) ok++
        else {
          rejected++
          expect(n.stateHash()).toBe(before)
        }
      }
    }
    expect(ok).toBeGreaterThan(200)
    expect(rejected).toBeGreaterThan(100)
  })

  it.each(IMPLEMENTATIONS)('rejects what would not be an ADL close (%s)', (impl) => {
    const e = book(impl, 9n, 5)
    const h = e.stateHash()
    expect(codeOf(() => e.settleAdlFill('bankrupt', 'BTC-PERP', '3', '29000'))).toBe(
      'INVALID_QUANTITY',
    )
    expect(codeOf(() => e.settleAdlFill('bankrupt', 'BTC-PERP', '-1', '29000'))).toBe(
      'INVALID_QUANTITY',
    )
    expect(codeOf(() => e.settleAdlFill('bankrupt', 'BTC-PERP', '1', '0'))).toBe('INVALID_PRICE')
    expect(codeOf(() => e.settleAdlFill('bankrupt', 'XBTUSD', '1', '29000'))).toBe(
      'INVALID_ARGUMENT',
    )
    expect(codeOf(() => e.settleAdlFill('nobody', 'BTC-PERP', '1', '29000'))).toBe(
      'UNKNOWN_ACCOUNT',
    )
    expect(e.stateHash()).toBe(h)
    // No fee: the close realises exactly qty × (price − entry) into the balance.
    const ev = e.settleAdlFill('bankrupt', 'BTC-PERP', '0.5', '29000')
    expect(ev.map((v) => [v.kind, v.amount])).toEqual([['adlFill', '-500.00000000']])
    expect(e.account('bankrupt').balance).toBe('-400.00000000')
  })
})

function fmt(v: bigint, d: number): string {
  const neg = v < 0n
  const s = (neg ? -v : v).toString().padStart(d + 1, '0')
  const body = d === 0 ? s : `${s.slice(0, -d)}.${s.slice(-d)}`
  return neg ? `-${body}` : body
}
