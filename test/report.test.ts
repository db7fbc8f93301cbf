// report.html in a real headless browser (Chromium through playwright-core, no network): it
// renders, every chart has the simulation's data, the largest-events table matches, no console
// errors, and a screenshot is taken. The browser is the system's /usr/bin/chromium when present,
// else the one in the dev dependency @sparticuz/chromium (scripts/chromium.mjs says which).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { launchChromium, requireChromium } from './browser.js'
import { describe, expect, it } from 'vitest'
import { makeSimMarket, scenarioFromMarket } from '../src/market-sim.js'

const root = fileURLToPath(new URL('..', import.meta.url))

describe('report.html in headless chromium', () => {
  it('renders every chart with the simulation data and takes a screenshot', async () => {
    const found = requireChromium()
    console.log(`report.test: Chromium from ${found.source}`)
    const dir = mkdtempSync(join(tmpdir(), 'deleverage-report-'))
    const scenario = join(dir, 'market.json')
    writeFileSync(scenario, JSON.stringify(scenarioFromMarket(makeSimMarket(3000, 800, 5), '5000')))
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
        markets: string[]
        steps: unknown[]
        largestEvents: Array<{
          kind: string
          size: string
          qty: string | null
          price: string | null
        }>
        marginRatios: { before: { counts: number[] } }
      }>
    }
    const steps = out.results[0]!.steps.length
    expect(steps).toBe(8)
    expect(readFileSync(report, 'utf8')).not.toMatch(
      /<script[^>]+src=|<link[^>]+href=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/,
    )

    const browser = await launchChromium(found, { width: 1280, height: 900 })
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
      // prices with every tick decimal and thousands separators (64,000.0, not 64000.0)
      const grouped = (x: string | null) =>
        x === null ? '' : x.replace(/^(-?\d+)/, (i) => i.replace(/\B(?=(\d{3})+(?!\d))/g, ','))
      expect(counts.events.slice(1).map((row) => [row[5], row[6]])).toEqual(
        largest.map((e) => [grouped(e.qty), grouped(e.price)]),
      )
      expect(largest.some((e) => e.price !== null && Number(e.price) >= 1000)).toBe(true)
      // The axes, measured in the page: every label inside its chart (nothing clipped), of a
      // visible size, tick labels not overlapping each other or the axis titles, no bar over a
      // y label; counts tick in whole numbers; the asset named; colours not reused.
      const axes = (await page.evaluate(`(() => {
        const box = (e) => { const r = e.getBoundingClientRect(); return { l: r.left, r: r.right, t: r.top, b: r.bottom, w: r.width, h: r.height } }
        const meet = (a, b) => a.l < b.r - 0.5 && b.l < a.r - 0.5 && a.t < b.b - 0.5 && b.t < a.b - 0.5
        const charts = {}
        for (const svg of document.querySelectorAll('svg[data-chart]')) {
          const s = box(svg)
          const texts = Array.from(svg.querySelectorAll('text'))
          const labels = texts.map((t) => ({ cls: t.getAttribute('class') || '', text: t.textContent, ...box(t), hidden: getComputedStyle(t).visibility !== 'visible' || Number(getComputedStyle(t).opacity) === 0 }))
          const clipped = labels.filter((b) => b.l < s.l - 0.5 || b.r > s.r + 0.5 || b.t < s.t - 0.5 || b.b > s.b + 0.5).map((b) => b.text)
          const invisible = labels.filter((b) => b.hidden || b.w < 1 || b.h < 1).map((b) => b.text)
          const overlaps = []
          for (let i = 0; i < labels.length; i++)
            for (let j = i + 1; j < labels.length; j++)
              if (meet(labels[i], labels[j])) overlaps.push(labels[i].text + ' / ' + labels[j].text)
          const bars = Array.from(svg.querySelectorAll('rect')).map(box)
          const underBars = labels.filter((b) => b.cls === 'ytick' && bars.some((r) => r.w > 0 && r.h > 0 && meet(r, b))).map((b) => b.text)
          charts[svg.getAttribute('data-chart')] = {
            clipped, invisible, overlaps, underBars,
            yticks: labels.filter((b) => b.cls === 'ytick').map((b) => b.text),
            xticks: labels.filter((b) => b.cls === 'xtick').length,
            xtickTexts: labels.filter((b) => b.cls === 'xtick').map((b) => b.text),
            titles: labels.filter((b) => b.cls.includes('axis-title')).map((b) => b.text),
            bars: svg.querySelectorAll('rect').length,
          }
        }
        const stroke = (sel) => Array.from(document.querySelectorAll(sel), (e) => e.getAttribute('stroke') + ' ' + (e.getAttribute('stroke-dasharray') || ''))
        return {
          charts,
          markStrokes: stroke('[data-chart="mark"] polyline.mark-line'),
          pathStroke: stroke('[data-chart="mark"] polyline.path-line')[0],
          legends: Array.from(document.querySelectorAll('#chart-adl .legend span'), (e) => e.textContent),
          fundLegends: Array.from(document.querySelectorAll('#chart-fund .legend span'), (e) => e.textContent),
          fundWidths: Array.from(document.querySelectorAll('[data-chart="fund"] polyline.fund-line'), (e) => Number(e.getAttribute('stroke-width'))),
          zeroDash: Array.from(document.querySelectorAll('line.zero'), (e) => e.getAttribute('stroke-dasharray')),
          markets: Array.from(document.querySelectorAll('#markets tr'), (tr) => tr.children[0].textContent),
          paid: document.querySelectorAll('#paid tr').length,
          losers: document.querySelectorAll('#losers tr').length,
          paidNote: document.getElementById('paid-note').textContent,
          provenance: document.getElementById('provenance').textContent,
        }
      })()`)) as {
        charts: Record<
          string,
          {
            clipped: string[]
            invisible: string[]
            overlaps: string[]
            underBars: string[]
            yticks: string[]
            xticks: number
            xtickTexts: string[]
            titles: string[]
            bars: number
          }
        >
        markStrokes: string[]
        pathStroke: string
        legends: string[]
        fundLegends: string[]
        fundWidths: number[]
        zeroDash: Array<string | null>
        markets: string[]
        paid: number
        losers: number
        paidNote: string
        provenance: string
      }
      expect(Object.keys(axes.charts).sort()).toEqual([
        'adl',
        'fund',
        'liq',
        'map',
        'mark',
        'ratio',
      ])
      for (const [id, c] of Object.entries(axes.charts)) {
        expect({ id, clipped: c.clipped, invisible: c.invisible }).toEqual({
          id,
          clipped: [],
          invisible: [],
        })
        expect({ id, overlaps: c.overlaps, underBars: c.underBars }).toEqual({
          id,
          overlaps: [],
          underBars: [],
        })
        expect(c.yticks.length, id).toBeGreaterThanOrEqual(2)
        expect(c.xticks, id).toBeGreaterThanOrEqual(2)
      }
      // counts: whole ticks (a log axis: 0, 1, 10, …)
      for (const t of axes.charts.ratio!.yticks) expect(t).toMatch(/^(0|1|10|100|1k|10k|100k|1M)$/)
      // one tick label per bucket of the histogram, the last one included
      expect(axes.charts.ratio!.xticks).toBe(out.results[0]!.marginRatios.before.counts.length)
      // the x axis says what a step is, the y axes the scenario's asset
      expect(axes.charts.mark!.titles[0]).toBe('step')
      expect(axes.charts.liq!.titles[1]).toBe('volume (USDT)')
      expect(axes.charts.fund!.titles[1]).toBe('fund (USDT)')
      // 8 markets, 8 distinct colours, none the path's
      expect(new Set(axes.markStrokes).size).toBe(8)
      expect(axes.markStrokes).not.toContain(axes.pathStroke)
      // the socialised policy's legend speaks of loss shares, never of ADL
      const soc = axes.legends.find((l) => l.startsWith('socialised'))!
      expect(soc).not.toMatch(/ADL/)
      // runs that share a fund path stay visible: drawn widest first, and the legend says so
      const runs = JSON.parse(
        readFileSync(report, 'utf8').match(/id="report-data">(.*?)<\/script>/s)![1]!,
      ) as { policies: Array<{ policy: string; fund: string[] }> }
      const widths = axes.fundWidths
      expect(widths.length).toBe(runs.policies.length)
      for (let k = 1; k < widths.length; k++) expect(widths[k]).toBeLessThan(widths[k - 1]!)
      runs.policies.forEach((p, k) => {
        const j = runs.policies.findIndex((q) => q.fund.join() === p.fund.join())
        const note = j < k ? ` — same path as ${runs.policies[j]!.policy}` : ''
        expect(axes.fundLegends[k]).toBe(p.policy + note)
      })
      for (const d of axes.zeroDash) expect(d).toBe('1 3')
      // the liquidation map: two bars per bucket
      expect(axes.charts.map!.bars).toBe(60)
      // each bucket labelled with its exact start price (no two alike, none rounded)
      const data = JSON.parse(
        readFileSync(report, 'utf8').match(/id="report-data">(.*?)<\/script>/s)![1]!,
      ) as { liquidationMap: { buckets: Array<{ from: string }> } }
      const starts = data.liquidationMap.buckets.map((b) => Number(b.from))
      expect(axes.charts.map!.xtickTexts.map((t) => Number(t.replaceAll(',', '')))).toEqual(starts)
      // per market, who paid, provenance
      expect(axes.markets.slice(1)).toEqual(out.results[0]!.markets)
      expect(axes.paidNote).toMatch(/accounts were deleveraged|Nobody/)
      expect(axes.losers).toBeGreaterThan(1)
      const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
      expect(axes.provenance).toContain(`deleverage ${version}`)
      const sha = createHash('sha256').update(readFileSync(scenario)).digest('hex')
      expect(axes.provenance).toContain(sha)
      expect(errors).toEqual([])
      expect(requests.filter((u) => !u.startsWith('file:'))).toEqual([])
      const shot = join(dir, 'report.png')
      await page.screenshot({ path: shot, fullPage: true })
      const png = readFileSync(shot)
      expect(png.subarray(0, 8)).toEqual(
        Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      )
      expect(statSync(shot).size).toBeGreaterThan(30_000)
      // DELEVERAGE_UPDATE_SCREENSHOT=1 refreshes the README's picture from this run.
      if (process.env.DELEVERAGE_UPDATE_SCREENSHOT === '1')
        copyFileSync(shot, join(root, 'docs/report.png'))
    } finally {
      await browser.close()
    }
  })
})
