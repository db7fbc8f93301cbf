// The markets' taker fee in the liquidation condition (SPEC §19) is shown by `deleverage check`
// and in the report: it moves every liquidation price, so the reader sees whether it is set.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const cli = (args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, 'bin/deleverage.js'), ...args], {
    encoding: 'utf8',
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

/** examples/crash.json with BTCUSDT's taker fee set. */
function withFee(fee: string): string {
  const s = JSON.parse(readFileSync(join(root, 'examples/crash.json'), 'utf8'))
  s.markets.find((m: { symbol: string }) => m.symbol === 'BTCUSDT').takerFeeRate = fee
  const file = join(mkdtempSync(join(tmpdir(), 'deleverage-fee-')), 'fee.json')
  writeFileSync(file, JSON.stringify(s))
  return file
}

describe('the taker fee setting, shown', () => {
  it('check prints each market with a fee, and says when none sets one', () => {
    const none = cli(['check', join(root, 'examples/crash.json')])
    expect(none.code).toBe(0)
    expect(none.out).toContain('taker fee in the liquidation condition')
    expect(none.out).toContain(': none (no market sets takerFeeRate)')
    const set = cli(['check', withFee('0.0005')])
    expect(set.err).toBe('')
    expect(set.out).toMatch(
      /taker fee in the liquidation condition .*: BTCUSDT 0\.0005 \(0\.05 %\)/,
    )
  })

  it('the simulate report names it under its settings', () => {
    const report = join(mkdtempSync(join(tmpdir(), 'deleverage-fee-')), 'r.html')
    const r = cli([
      'simulate',
      withFee('0.00075'),
      '--shock',
      '-10%',
      '--steps',
      '2',
      '--report',
      report,
    ])
    expect(r.err).toBe('')
    expect(readFileSync(report, 'utf8')).toContain('BTCUSDT 0.00075 (0.075 %)')
  })
})
