// `deleverage demo`: the main job on a fresh clone, with no input. A synthetic book of 1,000,000
// positions over 250,000 accounts and 64 markets is loaded through the bulk API, then every mark
// is shocked step by step and the full sweep reports who is liquidatable and in margin call; then
// the same book falls step by step through the whole waterfall: liquidations with price impact,
// takeovers, the insurance fund, auto-deleveraging. (The simulator with reports is issue 6.)

import { defaultImplementation, Engine } from './engine.js'
import { load, makeBook } from './synthetic.js'

export function demo(options: { positions?: number; implementation?: 'native' | 'js' } = {}): void {
  const positions = options.positions ?? 1_000_000
  const accounts = positions / 4
  const impl = options.implementation ?? defaultImplementation().implementation
  const t0 = performance.now()
  const book = makeBook(positions, accounts, 64)
  const engine = new Engine({ implementation: impl, quoteDecimals: book.quoteDecimals })
  load(engine, book)
  const t1 = performance.now()
  console.log(`deleverage demo — ${engine.implementation} engine`)
  console.log(`book: ${positions.toLocaleString('en')} positions, ${accounts.toLocaleString('en')} accounts, 64 markets with 3–5 brackets (built and loaded in ${(t1 - t0).toFixed(0)} ms)\n`)
  const idx = Uint32Array.from(book.markets, (_, i) => i)
  const rows: string[][] = [['shock', 'liquidatable accounts', 'isolated positions', 'margin calls (≥ 80 %)', 'worst shortfall', 'sweep ms']]
  for (const pct of [0, -2, -4, -6, -8, -10, -15, -20]) {
    engine.core.setMarks(idx, BigInt64Array.from(book.markets, (m) => (m.mark * BigInt(100 + pct)) / 100n))
    const s0 = performance.now()
    const res = engine.sweep({ warningRatio: '0.8' })
    const ms = performance.now() - s0
    const cross = res.liquidatable.filter((r) => r.symbol === null).length
    const worst = res.liquidatable[0]
    rows.push([`${pct}%`, cross.toLocaleString('en'), (res.liquidatable.length - cross).toLocaleString('en'), res.warnings.length.toLocaleString('en'), worst ? `${worst.shortfall} (${worst.account})` : '—', ms.toFixed(1)])
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)))
  for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '))
  // The waterfall along a falling path (fresh marks each step, the book carries over).
  engine.core.setMarks(idx, BigInt64Array.from(book.markets, (m) => m.mark))
  engine.configureWaterfall({ liquidationFee: '0.005', buffer: '0.02', ranking: 'bitmex' })
  engine.depositInsuranceFund('2000000')
  const cashBefore = engine.ledger().cashTotal
  console.log(`\nthe waterfall along a fall of 2 % per step (fee 0.5 %, buffer 2 %, BitMEX ranking, fund 2,000,000, impact 1 ppm per lot up to 3 %):`)
  const wf: string[][] = [['mark', 'partial fills', 'takeovers', 'engine fills', 'ADL fills', 'fees', 'insurance fund', 'run ms']]
  for (const pct of [-2, -4, -6, -8, -10]) {
    engine.core.setMarks(idx, BigInt64Array.from(book.markets, (m) => (m.mark * BigInt(100 + pct)) / 100n))
    const w0 = performance.now()
    const ev = engine.runWaterfall({ fill: { ppmPerLot: 1, capPpm: 30_000 } })
    const ms = performance.now() - w0
    const n = (k: string) => ev.filter((x) => x.kind === k).length.toLocaleString('en')
    const fees = ev.filter((x) => x.kind === 'liquidationFee').reduce((t, x) => t + Number(x.amount), 0)
    wf.push([`${pct}%`, n('liquidationFill'), n('takeover'), n('engineFill'), n('adlFill'), fees.toFixed(2), engine.ledger().insuranceFund, ms.toFixed(0)])
  }
  const w2 = wf[0]!.map((_, c) => Math.max(...wf.map((r) => r[c]!.length)))
  for (const r of wf) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(w2[c]!) : cell.padStart(w2[c]!))).join('  '))
  const cashAfter = engine.ledger().cashTotal
  console.log(`cash (balances + margins + fund + settlement + residue): ${cashBefore} before, ${cashAfter} after — ${cashAfter === cashBefore ? 'conserved exactly' : 'NOT CONSERVED'}`)
  console.log('\nEvery number is exact (integer units, conservative rounding); try `deleverage check <scenario.json>` and `deleverage liquidate <scenario.json>` on your own book.')
}
