// report.html in a real headless browser (Chromium through playwright-core, no network): it
// renders, every chart has the simulation's data, the largest-events table matches, no console
// errors, and a screenshot is taken. The browser is the system's /usr/bin/chromium when present,
// else the one in the dev dependency @sparticuz/chromium (scripts/chromium.mjs says which).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium } from 'playwright-core'
import { describe, expect, it } from 'vitest'
import { makeMarketBook, scenarioFromBook } from '../src/market-sim.js'

const root = fileURLToPath(new URL('..', import.meta.url))

interface FoundChromium {
  executablePath: string | null
  env?: Record<string, string>
  source?: string
  reason?: string
}
// Plain JS (also run by scripts/test.sh before vitest): imported by URL, typed here.
const { findChromium, CHROMIUM_ARGS } = (await import(
  pathToFileURL(join(root, 'scripts/chromium.mjs')).href
)) as {
  findChromium: () => FoundChromium
  CHROMIUM_ARGS: string[]
}

describe('report.html in headless chromium', () => {
  it('renders every chart with the simulation data and takes a screenshot', async () => {
    const found = findChromium()
    expect(found.executablePath, `no Chromium for the browser test: ${found.reason}`).not.toBeNull()
    console.log(`report.test: Chromium from ${found.source}`)
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-report-'))
    const scenario = join(dir, 'market.json')
    writeFileSync(scenario, JSON.stringify(scenarioFromBook(makeMarketBook(3000, 800, 5), '5000')))
    const csv = join(dir, 'prices.csv')
    // a fall with a rebound, BTC and ETH only (the other markets keep their marks)
    writeFileSync(
      csv,
      'step,BTCUSDT,ETHUSDT\n' +
        [64000, 62500, 60000, 61500, 59000, 57000, 58500, 56000]
          .map((p, i) => `${i + 1},${p}.0,${((p * 34) / 650).toFixed(2)}`)
          .join('\n') +
        '\n',
    )
    const report = join(dir, 'report.html')
    const r = spawnSync(
      process.execPath,
      [
        join(root, 'bin/deleverage.js'),
        'simulate',
        scenario,
        '--path',
        csv,
        '--policy',
        'all',
        '--report',
        report,
        '--json',
      ],
      { encoding: 'utf8', maxBuffer: 1 << 28 },
    )
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout) as {
      results: Array<{
        policy: string
        steps: unknown[]
        largestEvents: Array<{ kind: string; size: string }>
        marginRatios: { before: { counts: number[] } }
      }>
    }
    const steps = out.results[0]!.steps.length
    expect(steps).toBe(8)
    expect(readFileSync(report, 'utf8')).not.toMatch(
      /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
    )

    // a fresh profile each run (playwright passes it as --user-data-dir)
    const browser = await chromium.launchPersistentContext(
      mkdtempSync(join(tmpdir(), 'deleverage-chromium-')),
      {
        executablePath: found.executablePath!,
        env: { ...process.env, ...found.env } as Record<string, string>,
        headless: true,
        args: CHROMIUM_ARGS,
        viewport: { width: 1280, height: 900 },
      },
    )
    try {
      const page = await browser.newPage()
      const errors: string[] = []
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
      page.on('pageerror', (e) => errors.push(e.message))
      const requests: string[] = []
      page.on('request', (q) => requests.push(q.url()))
      await page.goto(pathToFileURL(report).href)
      await page.waitForSelector('body[data-rendered="true"]')
      // Runs in the page (a string: the test build has no DOM types).
      const counts = (await page.evaluate(`(() => {
        const pts = (sel) => Array.from(document.querySelectorAll(sel), (e) => (e.getAttribute('points') || '').trim().split(/\\s+/).length)
        return {
          mark: pts('[data-chart="mark"] polyline.mark-line'),
          path: pts('[data-chart="mark"] polyline.path-line'),
          bars: Array.from(document.querySelectorAll('[data-chart="liq"] rect.bar'), (e) => e.getAttribute('data-value')),
          fund: pts('[data-chart="fund"] polyline.fund-line'),
          adl: pts('[data-chart="adl"] polyline.adl-line'),
          before: Array.from(document.querySelectorAll('[data-chart="ratio"] rect.bar-before'), (e) => Number(e.getAttribute('data-value'))),
          policies: document.querySelectorAll('#policies tr').length,
          events: Array.from(document.querySelectorAll('#events tr'), (tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent)),
        }
      })()`)) as {
        mark: number[]
        path: number[]
        bars: string[]
        fund: number[]
        adl: number[]
        before: number[]
        policies: number
        events: string[][]
      }
      // every chart has one point (or bar) per step (lines from the start price: steps + 1)
      expect(counts.mark).toEqual(new Array(8).fill(steps + 1))
      expect(counts.path).toEqual([steps + 1])
      expect(counts.bars.length).toBe(steps)
      expect(counts.bars.some((v) => Number(v) > 0)).toBe(true)
      expect(counts.fund).toEqual(new Array(5).fill(steps + 1))
      expect(counts.adl).toEqual(new Array(5).fill(steps))
      expect(counts.before).toEqual(out.results[0]!.marginRatios.before.counts)
      expect(counts.policies).toBe(1 + out.results.length)
      const largest = out.results[0]!.largestEvents
      expect(largest.length).toBeGreaterThan(0)
      // sizes as displayed: thousands separators, 2 decimals truncated
      const shown = (x: string) => {
        const [i, f = ''] = x.split('.')
        return i!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (f ? `.${(`${f}00`).slice(0, 2)}` : '')
      }
      expect(counts.events.slice(1).map((row) => [row[2], row[8]])).toEqual(
        largest.map((e) => [e.kind, shown(e.size)]),
      )
      expect(errors).toEqual([])
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([])
      const shot = join(dir, 'report.png')
      await page.screenshot({ path: shot, fullPage: true })
      const png = readFileSync(shot)
      expect(png.subarray(0, 8)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      )
      expect(statSync(shot).size).toBeGreaterThan(30_000)
    } finally {
      await browser.close()
    }
  })
})
