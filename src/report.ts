// report.html: one self-contained file (no network, no libraries). The simulation's data is
// embedded as JSON; a small inline script draws the charts as SVG. Amounts stay exact decimal
// strings in the data (sums below are exact, in BigInt); the script turns them into floats only
// to draw.

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Engine, LiquidationMapReport } from './engine.js'
import { findPackageRoot } from './native.js'
import type { Histogram, SimEvent, SimResult } from './simulate.js'

export interface ReportInput {
  title: string
  /** One line per setting, shown under the title. */
  settings: string[]
  /** The first result is the primary run (its path, liquidations, margin ratios and events). */
  results: SimResult[]
  /** The margin asset's name; 'quote' (the engine's default asset) is replaced by the markets'
   * common quote suffix (BTCUSDT, ETHUSDT: USDT) when they have one. */
  quote: string
  /** What one step of the path is (x-axis title); default 'step'. */
  stepUnit?: string
  /** The scenario file, named and hashed in the provenance line. */
  scenarioFile?: string
  /** The liquidation map of the first market at the start marks (`startLiquidationMap`). */
  liquidationMap?: LiquidationMapReport
  /** The primary run's per-market and who-paid tables, when they were computed where its events
   * were kept (`eventTables`; the demo's worker threads send these, not the events). */
  eventTables?: EventTables
}

/** The tables the report derives from a run's events (null without events). */
export interface EventTables {
  perMarket: MarketBreakdown[] | null
  whoPaid: WhoPaid | null
}

/** The per-market and who-paid tables of a run that kept its events. */
export function eventTables(r: SimResult): EventTables {
  return { perMarket: perMarket(r), whoPaid: whoPaid(r) }
}

/** Sums of one market over the primary run's events. */
export interface MarketBreakdown {
  symbol: string
  liquidations: number
  liquidationNotional: string
  adlFills: number
  adlNotional: string
  lossShares: number
  lossShared: string
}

/** Who paid, from the primary run's events: what each account gave up (ADL notional and loss
 * shares) and what the liquidated accounts lost (realised PnL of their fills and takeovers). */
export interface WhoPaid {
  total: string
  accounts: number
  top: Array<{ account: string; amount: string; sharePct: string }>
  losers: Array<{ account: string; loss: string }>
}

export interface ReportData {
  title: string
  settings: string[]
  quote: string
  stepUnit: string
  markets: string[]
  steps: number[]
  /** Primary run: path and mark of each market per step. */
  path: string[][]
  mark: string[][]
  start: string[]
  liquidationVolume: string[]
  adlVolume: string[]
  policies: Array<{
    policy: string
    fund: string[]
    adlVolume: string[]
    taken: string[]
    totals: SimResult['totals']
  }>
  marginRatios: { before: Histogram; after: Histogram }
  largestEvents: SimEvent[]
  /** null when the primary run kept no events. */
  perMarket: MarketBreakdown[] | null
  whoPaid: WhoPaid | null
  liquidationMap: LiquidationMapReport | null
  provenance: { version: string; scenario: string; scenarioSha256: string; generated: string }
}

/** A market's liquidation map over its mark ± 30 % in 30 buckets, at the engine's current marks. */
export function startLiquidationMap(
  engine: Engine,
  symbol: string,
  mark: bigint,
  priceDecimals: number,
): LiquidationMapReport {
  const at = (num: bigint) => {
    const x = (mark * num) / 10n
    return shift(x > 0n ? x : 1n, priceDecimals)
  }
  return engine.liquidationMap(symbol, { from: at(7n), to: at(13n), buckets: 30 })
}

/** x units at `decimals` as a decimal string (x ≥ 0). */
function shift(x: bigint, decimals: number): string {
  if (decimals === 0) return x.toString()
  const s = x.toString().padStart(decimals + 1, '0')
  return `${s.slice(0, -decimals)}.${s.slice(-decimals)}`
}

/** Exact sums of decimal strings that share one number of decimals (the run's money). */
class Sum {
  private units = 0n
  constructor(private readonly decimals: number) {}
  add(s: string): this {
    const [i, f = ''] = s.replace('-', '').split('.')
    const v = BigInt(i! + f.padEnd(this.decimals, '0').slice(0, this.decimals))
    this.units += s.startsWith('-') ? -v : v
    return this
  }
  get value(): bigint {
    return this.units
  }
  toString(): string {
    const neg = this.units < 0n
    return (neg ? '-' : '') + shift(neg ? -this.units : this.units, this.decimals)
  }
}

const decimalsOf = (s: string) => (s.split('.')[1] ?? '').length

function perMarket(r: SimResult): MarketBreakdown[] | null {
  if (!r.events) return null
  const d = decimalsOf(r.totals.taken)
  const by = new Map<string, { b: MarketBreakdown; s: [Sum, Sum, Sum] }>()
  for (const sym of r.markets) {
    const b = { symbol: sym, liquidations: 0, adlFills: 0, lossShares: 0 } as MarketBreakdown
    by.set(sym, { b, s: [new Sum(d), new Sum(d), new Sum(d)] })
  }
  for (const e of r.events) {
    const m = e.symbol === null ? undefined : by.get(e.symbol)
    if (!m) continue
    if (e.kind === 'liquidationFill' || e.kind === 'takeover') {
      m.b.liquidations++
      m.s[0].add(e.size)
    } else if (e.kind === 'adlFill') {
      m.b.adlFills++
      m.s[1].add(e.size)
    } else if (e.kind === 'socialisedLoss') {
      m.b.lossShares++
      m.s[2].add(e.size)
    }
  }
  return Array.from(by.values(), ({ b, s }) => ({
    ...b,
    liquidationNotional: s[0].toString(),
    adlNotional: s[1].toString(),
    lossShared: s[2].toString(),
  }))
}

function whoPaid(r: SimResult): WhoPaid | null {
  if (!r.events) return null
  const d = decimalsOf(r.totals.taken)
  const paid = new Map<string, Sum>()
  const lost = new Map<string, Sum>()
  const total = new Sum(d)
  const into = (m: Map<string, Sum>, k: string) => {
    let s = m.get(k)
    if (!s) {
      s = new Sum(d)
      m.set(k, s)
    }
    return s
  }
  for (const e of r.events) {
    if (e.account === null) continue
    if (e.kind === 'adlFill' || e.kind === 'socialisedLoss') {
      into(paid, e.account).add(e.size)
      total.add(e.size)
    } else if ((e.kind === 'liquidationFill' || e.kind === 'takeover') && e.amount.startsWith('-'))
      into(lost, e.account).add(e.amount)
  }
  const sorted = (m: Map<string, Sum>, sign: bigint) =>
    [...m.entries()].sort(
      (a, b) =>
        (a[1].value * sign < b[1].value * sign ? 1 : a[1].value === b[1].value ? 0 : -1) ||
        (a[0] < b[0] ? -1 : 1),
    )
  const pct = (v: bigint) => (total.value === 0n ? '0' : shift((v * 10_000n) / total.value, 2))
  return {
    total: total.toString(),
    accounts: paid.size,
    top: sorted(paid, 1n)
      .slice(0, 10)
      .map(([account, s]) => ({ account, amount: s.toString(), sharePct: pct(s.value) })),
    losers: sorted(lost, -1n)
      .slice(0, 10)
      .map(([account, s]) => ({ account, loss: s.toString() })),
  }
}

/** The markets' common quote suffix (USDT for BTCUSDT and ETHUSDT), else `quote` as given. */
function assetName(quote: string, markets: string[]): string {
  if (quote !== 'quote') return quote
  for (const q of ['USDT', 'USDC', 'FDUSD', 'BUSD', 'USD'])
    if (markets.length > 0 && markets.every((m) => m.endsWith(q) && m.length > q.length)) return q
  return 'quote units'
}

function provenance(file: string | undefined): ReportData['provenance'] {
  let version = 'unknown'
  try {
    const root = findPackageRoot()
    if (root) version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
  } catch {
    // an unreadable package.json leaves 'unknown'
  }
  return {
    version,
    scenario: file ?? 'generated (see the settings above)',
    scenarioSha256: file ? createHash('sha256').update(readFileSync(file)).digest('hex') : '',
    generated: new Date().toISOString(),
  }
}

export function reportData(input: ReportInput, start: string[]): ReportData {
  const p = input.results[0]!
  return {
    title: input.title,
    settings: input.settings,
    quote: assetName(input.quote, p.markets),
    stepUnit: input.stepUnit ?? 'step',
    markets: p.markets,
    steps: p.steps.map((s) => s.step),
    path: p.steps.map((s) => s.path),
    mark: p.steps.map((s) => s.mark),
    start,
    liquidationVolume: p.steps.map((s) => s.liquidationVolume),
    adlVolume: p.steps.map((s) => s.adlVolume),
    policies: input.results.map((r) => ({
      policy: r.lossRule,
      fund: [r.totals.insuranceFundStart, ...r.steps.map((s) => s.insuranceFund)],
      adlVolume: r.steps.map((s) => (r.lossRule === 'socialised' ? s.taken : s.adlVolume)),
      taken: r.steps.map((s) => s.taken),
      totals: r.totals,
    })),
    marginRatios: p.marginRatios,
    largestEvents: p.largestEvents,
    ...(input.eventTables ?? eventTables(p)),
    liquidationMap: input.liquidationMap ?? null,
    provenance: provenance(input.scenarioFile),
  }
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** The whole page. `</` inside the JSON is escaped so the data cannot end the script element. */
export function renderReport(data: ReportData): string {
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
  const pv = data.provenance
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(data.title)}</title>
<style>
  :root { --fg: #1d2330; --muted: #5d6677; --grid: #e3e6ec; --bg: #fbfbfd; }
  body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
  main { max-width: 1180px; margin: 0 auto; padding: 24px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  h2 { font-size: 16px; margin: 0 0 8px; }
  .settings { color: var(--muted); margin: 0 0 16px; padding: 0; list-style: none; }
  .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(540px, 1fr)); gap: 16px; }
  section { background: #fff; border: 1px solid var(--grid); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; overflow-x: auto; }
  svg { width: 100%; height: auto; display: block; overflow: hidden; }
  svg text { font-size: 11px; fill: var(--muted); }
  svg .title { font-size: 12px; fill: var(--fg); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 13px; }
  th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--grid); white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  th { color: var(--muted); font-weight: 600; }
  .legend { display: flex; gap: 14px; flex-wrap: wrap; color: var(--muted); font-size: 12px; margin-top: 4px; }
  .legend i { display: inline-block; width: 14px; height: 3px; vertical-align: middle; margin-right: 4px; }
  .note { color: var(--muted); font-size: 12px; }
  .provenance { color: var(--muted); font-size: 12px; margin-top: 8px; }
</style>
</head>
<body>
<main>
<h1>${esc(data.title)}</h1>
<ul class="settings">${data.settings.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<section><h2>Policies compared</h2><table id="policies"></table>
<p class="note">Taken: profit given up by ADL'd winners against the mark (ranked and pro-rata ADL), or loss shares paid (socialised).
Required: bankrupt losses at mark that the insurance fund (with the fees of the same round) could not cover.
Overshoot = taken − required. Amounts in ${esc(data.quote)}; exact values in the JSON output; see docs/SIMULATE.md.</p></section>
<div class="grid">
<section><h2>Mark price along the path</h2><div id="chart-mark"></div></section>
<section><h2>Liquidation volume per step</h2><div id="chart-liq"></div></section>
<section><h2>Insurance fund</h2><div id="chart-fund"></div><p class="note" id="fund-note"></p></section>
<section><h2>Taken from traders per step (ADL volume or socialised loss)</h2><div id="chart-adl"></div></section>
<section><h2>Accounts by margin ratio, before and after</h2><div id="chart-ratio"></div><p class="note">Logarithmic count axis, so that the few accounts at or past 100 % (liquidatable) and with equity ≤ 0 stay visible beside the many healthy ones; every bar's count is in its tooltip and the legend.</p></section>
<section><h2>Liquidation map at the start marks</h2><div id="chart-map"></div><p class="note" id="map-note"></p></section>
</div>
<section><h2>Per market (${esc(data.policies[0]?.policy ?? '')} run)</h2><table id="markets"></table><p class="note" id="markets-note">Liquidations: partial fills and takeovers (notional at the fill price). ADL: fills against the opposite side (notional at the ADL price). Loss shared: socialised loss shares.</p></section>
<section><h2>Who paid (${esc(data.policies[0]?.policy ?? '')} run)</h2><p class="note" id="paid-note"></p>
<div class="grid"><div><h2>Most taken from (ADL notional or loss share)</h2><table id="paid"></table></div><div><h2>Largest losers in liquidations (realised PnL)</h2><table id="losers"></table></div></div></section>
<section><h2>Largest events</h2><table id="events"></table><p class="note">Ranked by size: notional at the fill price for trades, the amount for payments. Account — is the liquidator. Amounts shown to 2 decimals; the JSON output has every digit.</p></section>
<p class="provenance" id="provenance">deleverage ${esc(pv.version)} · scenario ${esc(pv.scenario)}${pv.scenarioSha256 ? ` (SHA-256 ${esc(pv.scenarioSha256)})` : ''} · generated ${esc(pv.generated)}</p>
</main>
<script type="application/json" id="report-data">${json}</script>
<script>
${SCRIPT}
</script>
</body>
</html>
`
}

/** The page's script: draws the charts and fills the tables from #report-data. Plain ES5, no
 * template placeholders. Layout is computed from label lengths (CH px per character); the browser
 * test measures the result (labels inside the chart, not overlapping, not under a bar). */
const SCRIPT = String.raw`(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  // Ten distinct colours (Tableau 10); past ten, a dash pattern tells the series apart.
  var COLORS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
  var DASHES = ['', '7 3', '2 3', '9 3 2 3'];
  var PATH_COLOR = '#1d2330';
  var CH = 6.8;
  function color(i) { return COLORS[i % COLORS.length]; }
  function dash(i) { return DASHES[Math.floor(i / COLORS.length) % DASHES.length]; }
  function el(name, attrs, parent, text) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  // A loop, not Math.max.apply: a path of ~100k steps would overflow the call stack.
  function lo(a) { var m = Infinity; for (var i = 0; i < a.length; i++) if (a[i] < m) m = a[i]; return m; }
  function hi(a) { var m = -Infinity; for (var i = 0; i < a.length; i++) if (a[i] > m) m = a[i]; return m; }
  function sum(a) { var s = 0; for (var i = 0; i < a.length; i++) s += a[i]; return s; }
  function num(s) { return Number(s); }
  // A price as given, with thousands separators and no trailing zeros: bucket edges are exact,
  // and fmt's 19.5k → "20k" would give neighbouring buckets the same label.
  function exact(s) {
    var p = String(s).split('.'), f = (p[1] || '').replace(/0+$/, '');
    return p[0].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (f ? '.' + f : '');
  }
  function fmt(v) {
    var a = Math.abs(v), sign = v < 0 ? '−' : '';
    function d(x, n) { var s = x.toFixed(n); return n > 0 ? s.replace(/\.?0+$/, '') : s; }
    if (a >= 1e9) return sign + d(a / 1e9, a >= 1e10 ? 0 : 1) + 'B';
    if (a >= 1e6) return sign + d(a / 1e6, a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return sign + d(a / 1e3, a >= 1e4 ? 0 : 1) + 'k';
    return sign + String(Math.round(a * 100) / 100);
  }
  function ticks(a, b, n, integer) {
    if (b === a) b = a + 1;
    var raw = (b - a) / n, step = Math.pow(10, Math.floor(Math.log10(raw))), err = raw / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    if (integer) step = Math.max(1, Math.round(step));
    var out = [];
    for (var k = Math.ceil(a / step); k * step <= b + step * 1e-9; k++) out.push(k * step);
    return out;
  }
  // A chart frame. o: id, label, n, min, max, fit, xTitle, yTitle, xLabels, band (categories,
  // each centred in its slot, so no bar touches the y labels or the right edge), integer (counts:
  // whole ticks), log (counts on log10(1 + v)).
  function frame(host, o) {
    var W = 560, R = 16, T = 14, H = 270;
    var tf = o.log ? function (v) { return Math.log10(1 + v); } : function (v) { return v; };
    var a = Math.min(0, o.min), b = o.max, ys;
    if (o.fit) { var pad = (o.max - o.min) * 0.05 || 1; a = o.min - pad; b = o.max + pad; }
    if (b <= a) b = a + 1;
    if (o.log) {
      ys = [0]; for (var p = 1; p <= Math.max(1, b) * 10; p *= 10) { ys.push(p); if (p >= b) break; }
      a = 0; b = ys[ys.length - 1];
    } else {
      ys = ticks(a, b, 5, o.integer); a = Math.min(a, ys[0]); b = Math.max(b, ys[ys.length - 1]);
    }
    var yl = ys.map(fmt);
    var L = 32 + Math.ceil(hi(yl.map(function (s) { return s.length; })) * CH);
    var xl = o.xLabels.map(String);
    var xmax = hi(xl.map(function (s) { return s.length; }).concat([1]));
    var plotW = W - L - R;
    var slot = o.band ? plotW / o.n : plotW / Math.max(1, o.n - 1);
    // Categories too wide for their slot stand upright (turned a quarter: their boxes stay
    // side by side, one per slot of at least 13 px).
    var rotate = o.band && xmax * CH + 6 > slot;
    var B = rotate ? 36 + Math.ceil(xmax * CH) : 42;
    H += B - 42;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': o.label, 'data-chart': o.id }, null);
    host.appendChild(svg);
    function y(v) { return T + (H - T - B) * (1 - (tf(v) - tf(a)) / (tf(b) - tf(a))); }
    function x(i) { return o.band ? L + plotW * (i + 0.5) / o.n : L + plotW * (o.n <= 1 ? 0.5 : i / (o.n - 1)); }
    ys.forEach(function (t, k) {
      el('line', { x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: '#e3e6ec' }, svg);
      el('text', { x: L - 6, y: y(t) + 4, 'text-anchor': 'end', 'class': 'ytick' }, svg, yl[k]);
    });
    // Zero dotted and grey, so it never reads as one of the (solid, coloured) series.
    if (a < 0) el('line', { x1: L, x2: W - R, y1: y(0), y2: y(0), stroke: '#5d6677', 'stroke-width': 1, 'stroke-dasharray': '1 3', 'class': 'zero' }, svg);
    el('line', { x1: L, x2: W - R, y1: y(a), y2: y(a), stroke: '#9aa1ad' }, svg);
    // x labels: every one in band charts (turned when they do not fit); in line charts as many
    // as fit side by side, always the first and the last.
    var by = H - B + 16;
    if (o.band) {
      var every = rotate ? Math.max(1, Math.ceil(13 / slot)) : 1;
      xl.forEach(function (lab, i) {
        if (i % every !== 0) return;
        var at = { x: x(i), y: by, 'text-anchor': rotate ? 'end' : 'middle', 'class': 'xtick' };
        if (rotate) { at.x = x(i) + 4; at.y = H - B + 6; at.transform = 'rotate(-90 ' + at.x + ' ' + at.y + ')'; }
        el('text', at, svg, lab);
      });
    } else {
      var gap = xmax * CH + 12, last = -Infinity, shown = [];
      xl.forEach(function (lab, i) { if (x(i) - last >= gap) { shown.push(i); last = x(i); } });
      if (shown[shown.length - 1] !== xl.length - 1) {
        if (shown.length > 1 && x(xl.length - 1) - x(shown[shown.length - 1]) < gap) shown.pop();
        shown.push(xl.length - 1);
      }
      shown.forEach(function (i) {
        var w = xl[i].length * CH / 2, anchor = x(i) - w < 2 ? 'start' : x(i) + w > W - 2 ? 'end' : 'middle';
        el('text', { x: x(i), y: by, 'text-anchor': anchor, 'class': 'xtick' }, svg, xl[i]);
      });
    }
    el('text', { x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', 'class': 'title axis-title' }, svg, o.xTitle);
    var my = (T + H - B) / 2;
    el('text', { x: 14, y: my, transform: 'rotate(-90 14 ' + my + ')', 'text-anchor': 'middle', 'class': 'title axis-title' }, svg, o.yTitle);
    return { svg: svg, x: x, y: y, W: W, H: H, L: L, R: R, T: T, B: B, slot: slot, lo: a };
  }
  function line(f, values, c, cls, d, width) {
    var pts = values.map(function (v, i) { return f.x(i).toFixed(1) + ',' + f.y(v).toFixed(1); }).join(' ');
    var at = { points: pts, fill: 'none', stroke: c, 'stroke-width': width || 2, 'class': cls, 'data-n': values.length };
    if (d) at['stroke-dasharray'] = d;
    return el('polyline', at, f.svg);
  }
  function bar(f, i, off, w, v, c, cls, raw, tip) {
    var y0 = f.y(Math.max(0, f.lo)), y1 = f.y(v);
    var r = el('rect', { x: f.x(i) + off, y: Math.min(y0, y1), width: w, height: Math.abs(y0 - y1), fill: c, 'class': cls, 'data-value': raw }, f.svg);
    el('title', {}, r, tip);
  }
  function legend(host, items) {
    var d = document.createElement('div'); d.className = 'legend';
    items.forEach(function (it) {
      var s = document.createElement('span');
      var i = document.createElement('i');
      i.style.background = it[2] ? 'repeating-linear-gradient(90deg,' + it[1] + ' 0 5px,transparent 5px 8px)' : it[1];
      s.appendChild(i); s.appendChild(document.createTextNode(it[0])); d.appendChild(s);
    });
    host.appendChild(d);
  }
  // Series drawn widest first, each 1.5 px narrower than the one before: where runs share a path
  // every colour still shows, as nested bands. sameAs(k): the first earlier identical series.
  function lines(f, series, cls) {
    series.forEach(function (s, k) { line(f, s, color(k), cls, dash(k), 2 + 1.5 * (series.length - 1 - k)); });
  }
  function sameAs(series, k) {
    for (var j = 0; j < k; j++) if (series[j].join() === series[k].join()) return j;
    return -1;
  }
  function sameNote(series, names, k) {
    var j = sameAs(series, k);
    return j < 0 ? '' : ' — same path as ' + names[j];
  }
  var Q = D.quote;
  var stepLabels = [0].concat(D.steps);

  // 1. Mark price: every market in % of its start price; the first market's path dashed.
  (function () {
    var host = document.getElementById('chart-mark');
    var series = D.markets.map(function (m, j) {
      var s0 = num(D.start[j]);
      return [0].concat(D.mark.map(function (row) { return (num(row[j]) / s0 - 1) * 100; }));
    });
    var path0 = [0].concat(D.path.map(function (row) { return (num(row[0]) / num(D.start[0]) - 1) * 100; }));
    var all = [].concat.apply(path0, series);
    var f = frame(host, { id: 'mark', label: 'mark price path', n: stepLabels.length, min: lo(all), max: hi(all), fit: true, xTitle: D.stepUnit, yTitle: 'change from start (%)', xLabels: stepLabels });
    line(f, path0, PATH_COLOR, 'path-line', '4 3');
    lines(f, series, 'mark-line');
    legend(host, [[D.markets[0] + ' path (before impact)', PATH_COLOR, true]].concat(D.markets.map(function (m, j) { return [m + ' mark' + sameNote(series, D.markets, j), color(j), !!dash(j)]; })));
  })();

  // 2. Liquidation volume per step (bars).
  (function () {
    var host = document.getElementById('chart-liq');
    var v = D.liquidationVolume.map(num);
    var f = frame(host, { id: 'liq', label: 'liquidation volume per step', n: v.length, min: 0, max: hi(v.concat([1])), xTitle: D.stepUnit, yTitle: 'volume (' + Q + ')', xLabels: D.steps, band: true });
    v.forEach(function (val, i) {
      var w = Math.max(2, f.slot * 0.7);
      bar(f, i, -w / 2, w, val, '#e15759', 'bar', D.liquidationVolume[i], D.stepUnit + ' ' + D.steps[i] + ': ' + D.liquidationVolume[i] + ' ' + Q);
    });
    legend(host, [['partial fills + takeovers (at bankruptcy price) + engine fills, ' + D.policies[0].policy + ' run', '#e15759']]);
  })();

  // 3. Insurance fund per policy; below zero it is explained.
  (function () {
    var host = document.getElementById('chart-fund');
    var series = D.policies.map(function (p) { return p.fund.map(num); });
    var all = [].concat.apply([], series);
    var f = frame(host, { id: 'fund', label: 'insurance fund', n: stepLabels.length, min: lo(all), max: hi(all), xTitle: D.stepUnit, yTitle: 'fund (' + Q + ')', xLabels: stepLabels });
    var names = D.policies.map(function (p) { return p.policy; });
    lines(f, series, 'fund-line');
    legend(host, D.policies.map(function (p, k) { return [p.policy + sameNote(series, names, k), color(k), !!dash(k)]; }));
    var neg = D.policies.filter(function (p) { return lo(p.fund.map(num)) < 0; }).map(function (p) { return p.policy; });
    document.getElementById('fund-note').textContent = neg.length === 0
      ? 'The fund never went below zero.'
      : 'Below zero (' + neg.join(', ') + '): when the liquidator takes over a position against its own opposite position, the two net at the bankruptcy prices and the fund bears the loss even below zero — the venue\'s own bad debt (SPEC §8). The dotted line is zero.';
  })();

  // 4. Taken per step: ADL notional for the ranked policies, loss shares for the socialised one.
  (function () {
    var host = document.getElementById('chart-adl');
    var series = D.policies.map(function (p) { return p.taken.map(num); });
    var all = [].concat.apply([0], series);
    var f = frame(host, { id: 'adl', label: 'taken per step', n: D.steps.length, min: lo(all), max: hi(all), xTitle: D.stepUnit, yTitle: 'taken (' + Q + ')', xLabels: D.steps });
    var names = D.policies.map(function (p) { return p.policy; });
    lines(f, series, 'adl-line');
    legend(host, D.policies.map(function (p, k) {
      var t = p.totals, what = p.policy === 'socialised'
        ? (t.socialised > 0 ? 'loss shared ' + fmt(num(t.taken)) + ' ' + Q : 'no loss shared')
        : (t.adlFills > 0 ? 'ADL notional ' + fmt(sum(p.adlVolume.map(num))) + ' ' + Q : 'no ADL');
      return [p.policy + ' (' + what + ')' + sameNote(series, names, k), color(k), !!dash(k)];
    }));
  })();

  // 5. Margin ratio histogram before / after (grouped bars, log count axis).
  (function () {
    var host = document.getElementById('chart-ratio');
    var b = D.marginRatios.before, a = D.marginRatios.after;
    var labels = b.labels.map(function (l) { return l.replace(' (liquidatable)', '').replace(' %', ''); });
    var f = frame(host, { id: 'ratio', label: 'margin ratio distribution', n: labels.length, min: 0, max: hi(b.counts.concat(a.counts, [1])), xTitle: 'margin ratio (%) = maintenance margin / equity', yTitle: 'accounts (log scale)', xLabels: labels, band: true, integer: true, log: true });
    var w = f.slot * 0.38;
    labels.forEach(function (lab, i) {
      bar(f, i, -w, w, b.counts[i], '#4e79a7', 'bar-before', b.counts[i], lab + ' before: ' + b.counts[i]);
      bar(f, i, 0, w, a.counts[i], '#f28e2b', 'bar-after', a.counts[i], lab + ' after: ' + a.counts[i]);
    });
    var n = b.labels.length;
    var k = function (v) { return v.toLocaleString('en'); };
    legend(host, [['before (' + k(sum(b.counts)) + ' accounts with positions; ≥ 100 %: ' + k(b.counts[n - 2]) + ', equity ≤ 0: ' + k(b.counts[n - 1]) + ')', '#4e79a7'], ['after (' + k(sum(a.counts)) + '; ≥ 100 %: ' + k(a.counts[n - 2]) + ', equity ≤ 0: ' + k(a.counts[n - 1]) + ')', '#f28e2b']]);
  })();

  // 6. Liquidation map: long and short notional per price bucket at the start marks.
  (function () {
    var host = document.getElementById('chart-map'), M = D.liquidationMap;
    var note = document.getElementById('map-note');
    if (!M) { note.textContent = 'Not computed for this report.'; return; }
    var lv = M.buckets.map(function (x) { return num(x.longNotional); });
    var sv = M.buckets.map(function (x) { return num(x.shortNotional); });
    var f = frame(host, { id: 'map', label: 'liquidation map of ' + M.symbol, n: M.buckets.length, min: 0, max: hi(lv.concat(sv, [1])), xTitle: M.symbol + ' price (bucket start)', yTitle: 'notional (' + Q + ')', xLabels: M.buckets.map(function (x) { return exact(x.from); }), band: true });
    var w = f.slot * 0.4;
    M.buckets.forEach(function (x, i) {
      bar(f, i, -w, w, lv[i], '#e15759', 'map-long', x.longNotional, x.from + '–' + x.to + ': ' + x.longCount + ' longs, ' + x.longNotional + ' ' + Q);
      bar(f, i, 0, w, sv[i], '#59a14f', 'map-short', x.shortNotional, x.from + '–' + x.to + ': ' + x.shortCount + ' shorts, ' + x.shortNotional + ' ' + Q);
    });
    legend(host, [['longs liquidated (price falls to the bucket)', '#e15759'], ['shorts liquidated (price rises to it)', '#59a14f']]);
    note.textContent = 'Exact (SPEC §18): each position at its liquidation price with the other marks fixed; notional at that price. Outside the range: ' +
      (M.below.longCount + M.below.shortCount) + ' positions below, ' + (M.above.longCount + M.above.shortCount) + ' at or above; positions that cannot be liquidated are not counted.';
  })();

  // Display only: thousands separators, 2 decimals (truncated); the data keeps every digit.
  function dec(s) {
    var neg = s.charAt(0) === '-', t = neg ? s.slice(1) : s, parts = t.split('.');
    return (neg ? '−' : '') + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (parts[1] ? '.' + (parts[1] + '00').slice(0, 2) : '');
  }
  function table(id, head, rows) {
    var t = document.getElementById(id);
    var tr = t.insertRow();
    head.forEach(function (h) { var th = document.createElement('th'); th.textContent = h; tr.appendChild(th); });
    rows.forEach(function (r) { var row = t.insertRow(); r.forEach(function (c) { row.insertCell().textContent = c; }); });
  }
  var n = function (v) { return v.toLocaleString('en'); };
  // A quantity or price with every digit as given, its integer part grouped ('' for none).
  function group(s) {
    if (!s) return '';
    var p = String(s).split('.');
    return p[0].replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (p.length > 1 ? '.' + p[1] : '');
  }
  table('policies', ['policy', 'ADL fills', 'loss shares', 'accounts touched', 'taken', 'required', 'overshoot', 'fund at end', 'liquidation volume', 'bad debt left'],
    D.policies.map(function (p) { var t = p.totals; return [p.policy, n(t.adlFills), n(t.socialised), n(t.accountsTouched), dec(t.taken), dec(t.required), dec(t.overshoot), dec(t.insuranceFundEnd), dec(t.liquidationVolume), dec(t.badDebt)]; }));
  if (D.perMarket) {
    table('markets', ['market', 'liquidations', 'liquidated notional', 'ADL fills', 'ADL notional', 'loss shares', 'loss shared'],
      D.perMarket.map(function (m) { return [m.symbol, n(m.liquidations), dec(m.liquidationNotional), n(m.adlFills), dec(m.adlNotional), n(m.lossShares), dec(m.lossShared)]; }));
  } else document.getElementById('markets-note').textContent = 'This run kept no events (run with --events to break it down).';
  var W = D.whoPaid;
  if (W) {
    var top = W.top.reduce(function (s, r) { return s + num(r.sharePct); }, 0);
    document.getElementById('paid-note').textContent = W.accounts === 0
      ? 'Nobody was deleveraged or charged a loss share in this run.'
      : W.accounts.toLocaleString('en') + ' accounts were deleveraged or charged a loss share: ' + dec(W.total) + ' ' + Q + ' of ADL notional and loss shares; the ' + W.top.length + ' largest bore ' + top.toFixed(2) + ' % of it.';
    table('paid', ['account', 'amount (' + Q + ')', 'share'], W.top.map(function (r) { return [r.account, dec(r.amount), r.sharePct + ' %']; }));
    table('losers', ['account', 'realised loss (' + Q + ')'], W.losers.map(function (r) { return [r.account, dec(r.loss)]; }));
  } else document.getElementById('paid-note').textContent = 'This run kept no events (run with --events to see who paid).';
  table('events', ['step', 'round', 'event', 'account', 'market', 'qty', 'price', 'amount', 'size (' + Q + ')'],
    D.largestEvents.map(function (e) { return [String(e.step), String(e.round), e.kind, e.account || '—', e.symbol || '', group(e.qty), group(e.price), dec(e.amount), dec(e.size)]; }));
  document.body.setAttribute('data-rendered', 'true');
})();`
