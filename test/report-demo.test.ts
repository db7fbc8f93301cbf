// `deleverage demo`'s report in a real headless browser: the demo keeps the primary run's events
// (summed in its worker thread), so the per-market and who-paid tables are filled — they said
// "This run kept no events" before. Chromium as in test/report.test.ts.
import { spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { launchChromium, requireChromium } from './browser.js'

const root = fileURLToPath(new URL('..', import.meta.url))

describe('the demo report in headless chromium', () => {
  it('fills the per-market and who-paid tables from the primary run', async () => {
    const found = requireChromium()
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-demo-report-'))
    const report = join(dir, 'report.html')
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'bin/deleverage.js'),
        'demo',
        '--positions',
        '8000',
        '--accounts',
        '2000',
        '--report',
        report,
      ],
      { encoding: 'utf8' },
    )
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const browser = await launchChromium(found)
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('pageerror', (e) => errors.push(e.message))
      await page.goto(pathToFileURL(report).href)
      await page.waitForSelector('body[data-rendered="true"]')
      const t = (await page.evaluate(`(() => {
        const rows = (id) => Array.from(document.querySelectorAll('#' + id + ' tr'), (tr) => Array.from(tr.children, (c) => c.textContent))
        return {
          markets: rows('markets'),
          paid: rows('paid'),
          losers: rows('losers'),
          marketsNote: document.getElementById('markets-note').textContent,
          paidNote: document.getElementById('paid-note').textContent,
          mapNote: document.getElementById('map-note').textContent,
          mapBars: document.querySelectorAll('[data-chart="map"] rect').length,
          ratioLegend: Array.from(document.querySelectorAll('#chart-ratio .legend span'), (e) => e.textContent),
        }
      })()`)) as {
        markets: string[][]
        paid: string[][]
        losers: string[][]
        marketsNote: string
        paidNote: string
        mapNote: string
        mapBars: number
        ratioLegend: string[]
      }
      expect(errors).toEqual([])
      expect(t.marketsNote).not.toContain('kept no events')
      expect(t.paidNote).not.toContain('kept no events')
      // the demo's eight perpetuals, each with liquidations in the crash
      expect(t.markets.slice(1).map((row) => row[0])).toHaveLength(8)
      expect(t.markets.slice(1).every((row) => row[1] !== '0')).toBe(true)
      // at this size the fund covers every deficit (no ADL: the note says so); the largest
      // losers of the liquidations are listed
      expect(t.paidNote).toMatch(/accounts were deleveraged|Nobody/)
      expect(t.losers.length).toBeGreaterThan(5)
      // the liquidation map of the first market at the start marks: a chart, two bars a bucket
      expect(t.mapNote).not.toContain('Not computed')
      expect(t.mapBars).toBe(60)
      // counts in legends with thousands separators, as in the tables
      expect(t.ratioLegend[0]).toMatch(/^before \(\d{1,3}(,\d{3})+ accounts with positions;/)
    } finally {
      await browser.close()
    }
  }, 180_000)
})
