// report.html: one self-contained file (no network, no libraries). The simulation's data is
// embedded as JSON; a small inline script draws the charts as SVG. Amounts stay exact decimal
// strings in the data; the script turns them into floats only to draw.

import type { Histogram, SimEvent, SimResult } from './simulate.js'

export interface ReportInput {
  title: string
  /** One line per setting, shown under the title. */
  settings: string[]
  /** The first result is the primary run (its path, liquidations, margin ratios and events). */
  results: SimResult[]
  quote: string
}

export interface ReportData {
  title: string
  settings: string[]
  quote: string
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
}

export function reportData(input: ReportInput, start: string[]): ReportData {
  const p = input.results[0]!
  return {
    title: input.title,
    settings: input.settings,
    quote: input.quote,
    markets: p.markets,
    steps: p.steps.map((s) => s.step),
    path: p.steps.map((s) => s.path),
    mark: p.steps.map((s) => s.mark),
    start,
    liquidationVolume: p.steps.map((s) => s.liquidationVolume),
    adlVolume: p.steps.map((s) => s.adlVolume),
    policies: input.results.map((r) => ({
      policy: r.policy,
      fund: [r.totals.insuranceFundStart, ...r.steps.map((s) => s.insuranceFund)],
      adlVolume: r.steps.map((s) => (r.policy === 'socialised' ? s.taken : s.adlVolume)),
      taken: r.steps.map((s) => s.taken),
      totals: r.totals,
    })),
    marginRatios: p.marginRatios,
    largestEvents: p.largestEvents,
  }
}

const esc = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** The whole page. `</` inside the JSON is escaped so the data cannot end the script element. */
export function renderReport(data: ReportData): string {
  const json = JSON.stringify(data).replace(/</g, '\\u003c')
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
  section { background: #fff; border: 1px solid var(--grid); border-radius: 8px; padding: 14px 16px; margin-bottom: 16px; }
  svg { width: 100%; height: auto; display: block; }
  svg text { font-size: 11px; fill: var(--muted); }
  svg .title { font-size: 12px; fill: var(--fg); }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 13px; }
  section { overflow-x: auto; }
  th, td { text-align: right; padding: 4px 8px; border-bottom: 1px solid var(--grid); white-space: nowrap; }
  th:first-child, td:first-child { text-align: left; }
  th { color: var(--muted); font-weight: 600; }
  .legend { display: flex; gap: 14px; flex-wrap: wrap; color: var(--muted); font-size: 12px; margin-top: 4px; }
  .legend i { display: inline-block; width: 12px; height: 3px; vertical-align: middle; margin-right: 4px; }
  .note { color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<main>
<h1>${esc(data.title)}</h1>
<ul class="settings">${data.settings.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<section><h2>Policies compared</h2><table id="policies"></table>
<p class="note">Taken: profit given up by ADL'd winners against the mark (ranked and pro-rata ADL), or loss shares paid (socialised).
Required: bankrupt losses at mark that the insurance fund (with the fees of the same round) could not cover.
Overshoot = taken − required. Exact values; see docs/SIMULATE.md.</p></section>
<div class="grid">
<section><h2>Mark price along the path</h2><div id="chart-mark"></div></section>
<section><h2>Liquidation volume per step</h2><div id="chart-liq"></div></section>
<section><h2>Insurance fund</h2><div id="chart-fund"></div></section>
<section><h2>Taken from traders per step (ADL volume or socialised loss)</h2><div id="chart-adl"></div></section>
<section><h2>Accounts by margin ratio, before and after</h2><div id="chart-ratio"></div></section>
</div>
<section><h2>Largest events</h2><table id="events"></table><p class="note">Ranked by size: notional at the fill price for trades, the amount for payments. Account — is the liquidation engine. Amounts shown to 2 decimals; the JSON output has every digit.</p></section>
</main>
<script type="application/json" id="report-data">${json}</script>
<script>
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('report-data').textContent);
  var NS = 'http://www.w3.org/2000/svg';
  var COLORS = ['#2f6fde', '#e0662b', '#2aa876', '#9b51e0', '#d64550', '#8a6d3b', '#1aa3b8', '#7a7f8c'];
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
  function num(s) { return Number(s); }
  function fmt(v) {
    var a = Math.abs(v);
    if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'B';
    if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (v / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return String(Math.round(v * 100) / 100);
  }
  function ticks(lo, hi, n) {
    if (hi === lo) { hi = lo + 1; }
    var step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
    var err = (hi - lo) / n / step;
    step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
    var out = [];
    for (var t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
    return out;
  }
  // A chart frame: x over steps (or categories), y linear; returns scales and the svg.
  function frame(host, opts) {
    var W = 560, H = 260, L = 64, R = 12, T = 14, B = 38;
    var svg = el('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': opts.label, 'data-chart': opts.id }, null);
    host.appendChild(svg);
    var lo = Math.min(0, opts.min), hi = opts.max;
    if (opts.fit) { var pad = (opts.max - opts.min) * 0.05 || 1; lo = opts.min - pad; hi = opts.max + pad; }
    if (hi <= lo) hi = lo + 1;
    var ys = ticks(lo, hi, 5); lo = Math.min(lo, ys[0]); hi = Math.max(hi, ys[ys.length - 1]);
    function y(v) { return T + (H - T - B) * (1 - (v - lo) / (hi - lo)); }
    function x(i) { return L + (W - L - R) * (opts.n <= 1 ? 0.5 : i / (opts.n - 1)); }
    ys.forEach(function (t) {
      el('line', { x1: L, x2: W - R, y1: y(t), y2: y(t), stroke: '#e3e6ec' }, svg);
      el('text', { x: L - 6, y: y(t) + 4, 'text-anchor': 'end' }, svg, fmt(t));
    });
    el('line', { x1: L, x2: W - R, y1: y(lo), y2: y(lo), stroke: '#9aa1ad' }, svg);
    el('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle', 'class': 'title' }, svg, opts.xTitle);
    el('text', { x: 12, y: (T + H - B) / 2, transform: 'rotate(-90 12 ' + (T + H - B) / 2 + ')', 'text-anchor': 'middle', 'class': 'title' }, svg, opts.yTitle);
    return { svg: svg, x: x, y: y, W: W, H: H, L: L, R: R, T: T, B: B };
  }
  function xLabels(f, labels) {
    var every = Math.max(1, Math.ceil(labels.length / 12));
    labels.forEach(function (lab, i) {
      if (i % every === 0 || i === labels.length - 1) el('text', { x: f.x(i), y: f.H - f.B + 14, 'text-anchor': 'middle' }, f.svg, String(lab));
    });
  }
  function line(f, values, color, cls, dash) {
    var pts = values.map(function (v, i) { return f.x(i).toFixed(1) + ',' + f.y(v).toFixed(1); }).join(' ');
    var a = { points: pts, fill: 'none', stroke: color, 'stroke-width': 2, 'class': cls, 'data-n': values.length };
    if (dash) a['stroke-dasharray'] = '5 4';
    return el('polyline', a, f.svg);
  }
  function legend(host, items) {
    var d = document.createElement('div'); d.className = 'legend';
    items.forEach(function (it) { var s = document.createElement('span'); s.innerHTML = '<i style="background:' + it[1] + '"></i>'; s.appendChild(document.createTextNode(it[0])); d.appendChild(s); });
    host.appendChild(d);
  }
  var stepLabels = [0].concat(D.steps);

  // 1. Mark price: every market in % of its start price; the path of the first market dashed.
  (function () {
    var host = document.getElementById('chart-mark');
    var series = D.markets.map(function (m, j) {
      var s0 = num(D.start[j]);
      return [0].concat(D.mark.map(function (row) { return (num(row[j]) / s0 - 1) * 100; }));
    });
    var path0 = [0].concat(D.path.map(function (row) { return (num(row[0]) / num(D.start[0]) - 1) * 100; }));
    var all = [].concat.apply(path0, series);
    var f = frame(host, { id: 'mark', label: 'mark price path', n: stepLabels.length, min: lo(all), max: hi(all), fit: true, xTitle: 'step (minutes)', yTitle: 'change from start (%)' });
    xLabels(f, stepLabels);
    line(f, path0, '#7a7f8c', 'path-line', true);
    series.forEach(function (s, j) { line(f, s, COLORS[j % COLORS.length], 'mark-line'); });
    legend(host, [[D.markets[0] + ' path (before impact)', '#7a7f8c']].concat(D.markets.map(function (m, j) { return [m + ' mark', COLORS[j % COLORS.length]]; })));
  })();

  // 2. Liquidation volume per step (bars).
  (function () {
    var host = document.getElementById('chart-liq');
    var v = D.liquidationVolume.map(num);
    var f = frame(host, { id: 'liq', label: 'liquidation volume per step', n: v.length, min: 0, max: hi(v.concat([1])), xTitle: 'step (minutes)', yTitle: 'volume (' + D.quote + ')' });
    var bw = Math.max(2, (f.W - f.L - f.R) / v.length * 0.7);
    v.forEach(function (val, i) {
      var r = el('rect', { x: f.x(i) - bw / 2, y: f.y(val), width: bw, height: Math.max(0, f.y(0) - f.y(val)), fill: '#d64550', 'class': 'bar', 'data-value': D.liquidationVolume[i] }, f.svg);
      el('title', {}, r, 'step ' + D.steps[i] + ': ' + D.liquidationVolume[i] + ' ' + D.quote);
    });
    xLabels(f, D.steps);
    legend(host, [['partial fills + takeovers (at bankruptcy price) + engine fills, ' + D.policies[0].policy + ' run', '#d64550']]);
  })();

  // 3. Insurance fund per policy.
  (function () {
    var host = document.getElementById('chart-fund');
    var series = D.policies.map(function (p) { return p.fund.map(num); });
    var all = [].concat.apply([], series);
    var f = frame(host, { id: 'fund', label: 'insurance fund', n: stepLabels.length, min: lo(all), max: hi(all), xTitle: 'step (minutes)', yTitle: 'fund (' + D.quote + ')' });
    xLabels(f, stepLabels);
    series.forEach(function (s, k) { line(f, s, COLORS[k % COLORS.length], 'fund-line'); });
    legend(host, D.policies.map(function (p, k) { return [p.policy, COLORS[k % COLORS.length]]; }));
  })();

  // 4. ADL volume (notional) per policy; for the socialised policy, the loss shared.
  (function () {
    var host = document.getElementById('chart-adl');
    var series = D.policies.map(function (p) { return p.taken.map(num); });
    var all = [].concat.apply([0], series);
    var f = frame(host, { id: 'adl', label: 'taken per step', n: D.steps.length, min: lo(all), max: hi(all), xTitle: 'step (minutes)', yTitle: 'taken (' + D.quote + ')' });
    xLabels(f, D.steps);
    series.forEach(function (s, k) { line(f, s, COLORS[k % COLORS.length], 'adl-line'); });
    legend(host, D.policies.map(function (p, k) { return [p.policy + ' (ADL notional ' + fmt(p.adlVolume.map(num).reduce(function (a, b) { return a + b; }, 0)) + ')', COLORS[k % COLORS.length]]; }));
  })();

  // 5. Margin ratio histogram before / after (grouped bars).
  (function () {
    var host = document.getElementById('chart-ratio');
    var b = D.marginRatios.before, a = D.marginRatios.after;
    var max = hi(b.counts.concat(a.counts, [1]));
    var f = frame(host, { id: 'ratio', label: 'margin ratio distribution', n: b.labels.length, min: 0, max: max, xTitle: 'margin ratio = maintenance margin / equity', yTitle: 'accounts' });
    var w = (f.W - f.L - f.R) / (b.labels.length) * 0.36;
    b.labels.forEach(function (lab, i) {
      el('rect', { x: f.x(i) - w, y: f.y(b.counts[i]), width: w, height: f.y(0) - f.y(b.counts[i]), fill: '#2f6fde', 'class': 'bar-before', 'data-value': b.counts[i] }, f.svg);
      el('rect', { x: f.x(i), y: f.y(a.counts[i]), width: w, height: f.y(0) - f.y(a.counts[i]), fill: '#e0662b', 'class': 'bar-after', 'data-value': a.counts[i] }, f.svg);
      el('text', { x: f.x(i), y: f.H - f.B + 14, 'text-anchor': 'middle' }, f.svg, lab.replace(' %', '').replace(' (liquidatable)', ''));
    });
    legend(host, [['before the path (' + b.counts.reduce(function (x, y) { return x + y; }, 0) + ' accounts with positions)', '#2f6fde'], ['after (' + a.counts.reduce(function (x, y) { return x + y; }, 0) + ')', '#e0662b']]);
  })();

  // Display only: thousands separators, 2 decimals (truncated); the data keeps every digit.
  function dec(s) {
    var neg = s.charAt(0) === '-', t = neg ? s.slice(1) : s, parts = t.split('.');
    return (neg ? '−' : '') + parts[0].replace(/\\B(?=(\\d{3})+(?!\\d))/g, ',') + (parts[1] ? '.' + (parts[1] + '00').slice(0, 2) : '');
  }
  function table(id, head, rows) {
    var t = document.getElementById(id);
    var tr = t.insertRow();
    head.forEach(function (h) { var th = document.createElement('th'); th.textContent = h; tr.appendChild(th); });
    rows.forEach(function (r) { var row = t.insertRow(); r.forEach(function (c) { row.insertCell().textContent = c; }); });
  }
  table('policies', ['policy', 'ADL fills', 'loss shares', 'accounts touched', 'taken', 'required', 'overshoot', 'fund at end', 'liquidation volume', 'bad debt left'],
    D.policies.map(function (p) { var t = p.totals; return [p.policy, t.adlFills.toLocaleString('en'), t.socialised.toLocaleString('en'), t.accountsTouched.toLocaleString('en'), dec(t.taken), dec(t.required), dec(t.overshoot), dec(t.insuranceFundEnd), dec(t.liquidationVolume), dec(t.badDebt)]; }));
  table('events', ['step', 'round', 'event', 'account', 'market', 'qty', 'price', 'amount', 'size (' + D.quote + ')'],
    D.largestEvents.map(function (e) { return [String(e.step), String(e.round), e.kind, e.account || '—', e.symbol || '', e.qty || '', e.price || '', dec(e.amount), dec(e.size)]; }));
  document.body.setAttribute('data-rendered', 'true');
})();
</script>
</body>
</html>
`
}
