#!/usr/bin/env node
// Smoke test of an INSTALLED deleverage (e.g. from the release tarballs), run
// from outside the repository by the pack test and by every release test job:
//
//   node scripts/smoke-installed.js --dir CONSUMER --expect native|js
//
// In fresh Node processes with CONSUMER as the working directory it
//  - requires 'deleverage' (CommonJS) and imports it (ESM), and checks that
//    `implementation` is the expected one in both;
//  - runs a small scenario (the README's: one market, two accounts, a price drop)
//    through Engine and checks the account is liquidatable;
//  - with --expect native, runs it again with DELEVERAGE_FORCE_JS=1 and checks
//    the TypeScript engine gives the same report (the binary agrees with the
//    spec on this platform), and that no DeleverageWarning was printed;
//  - with --expect js, checks the one warning per process and that ESM + CJS
//    in one process still warn once.
// Needs only Node (no dev dependencies). Prints one JSON line; exits 1 on failure.
'use strict'

const { spawnSync } = require('node:child_process')
const path = require('node:path')

const SCENARIO = `
  const engine = new Engine({ quoteDecimals: 8 });
  engine.addMarket({
    symbol: 'BTCUSDT', priceDecimals: 2, qtyDecimals: 3, marginBasis: 'mark',
    tiers: [
      { floor: '0', mmr: '0.004', maxLeverage: '125' },
      { floor: '50000', mmr: '0.005', maxLeverage: '100' },
      { floor: '250000', mmr: '0.01', maxLeverage: '50' },
    ],
    mark: '31967.27',
  });
  engine.addAccounts([
    { id: 'alice', balance: '1535443.01', positions: [{ symbol: 'BTCUSDT', qty: '109.488', entry: '32481.98' }] },
    { id: 'bob', balance: '50000', positions: [{ symbol: 'BTCUSDT', qty: '-1.5', entry: '30000' }] },
  ]);
  engine.setMarks({ BTCUSDT: '18000.00' }); // below alice's liquidation price (18632.58)
  const report = { sweep: engine.sweep({ warningRatio: '0.8' }), alice: engine.account('alice'), bob: engine.account('bob') };
  const out = { implementation, engine: engine.implementation, report };
  console.log(JSON.stringify(out, (k, v) => (typeof v === 'bigint' ? v.toString() : v)));
`

const CJS = `const { Engine, implementation } = require('deleverage');${SCENARIO}`
const ESM = `import { Engine, implementation } from 'deleverage';${SCENARIO}`
// Both module systems in one process: one warning, one implementation.
const BOTH = `
  import { createRequire } from 'node:module';
  import * as esm from 'deleverage';
  const cjs = createRequire(process.cwd() + '/')('deleverage');
  console.log(JSON.stringify({ esm: esm.implementation, cjs: cjs.implementation }));
`

function run(dir, args, env) {
  const childEnv = { ...process.env, ...env }
  for (const k of ['DELEVERAGE_FORCE_JS', 'NAPI_RS_NATIVE_LIBRARY_PATH'])
    if (!(k in env)) delete childEnv[k]
  const r = spawnSync(process.execPath, args, { cwd: dir, env: childEnv, encoding: 'utf8' })
  if (r.error || r.status !== 0) {
    throw new Error(
      `node ${args[0]} ... in ${dir} failed (${r.error ? r.error.message : `exit ${r.status}`}):\n${r.stderr}`,
    )
  }
  return { out: JSON.parse(r.stdout.trim().split('\n').pop()), stderr: r.stderr }
}

const countWarnings = (stderr) => (stderr.match(/DeleverageWarning/g) || []).length

function smoke(dir, expect) {
  const problems = []
  const check = (ok, msg) => ok || problems.push(msg)
  const cjs = run(dir, ['-e', CJS], {})
  const esm = run(dir, ['--input-type=module', '-e', ESM], {})
  const both = run(dir, ['--input-type=module', '-e', BOTH], {})
  for (const [name, r] of [
    ['require', cjs],
    ['import', esm],
  ]) {
    check(
      r.out.implementation === expect,
      `${name}('deleverage').implementation is ${r.out.implementation}, expected ${expect}`,
    )
    check(
      r.out.engine === expect,
      `${name}: new Engine().implementation is ${r.out.engine}, expected ${expect}`,
    )
    check(
      r.out.report.sweep.liquidatable.some((s) => s.account === 'alice'),
      `${name}: alice is not liquidatable at 18000: ${JSON.stringify(r.out.report.sweep)}`,
    )
    check(
      countWarnings(r.stderr) === (expect === 'js' ? 1 : 0),
      `${name}: ${countWarnings(r.stderr)} DeleverageWarnings:\n${r.stderr}`,
    )
  }
  check(
    JSON.stringify(cjs.out.report) === JSON.stringify(esm.out.report),
    'require and import give different reports',
  )
  check(
    both.out.esm === expect && both.out.cjs === expect,
    `ESM + CJS in one process: ${JSON.stringify(both.out)}`,
  )
  check(
    countWarnings(both.stderr) === (expect === 'js' ? 1 : 0),
    `ESM + CJS in one process: ${countWarnings(both.stderr)} warnings`,
  )
  let parity = null
  if (expect === 'native') {
    const js = run(dir, ['-e', CJS], { DELEVERAGE_FORCE_JS: '1' })
    check(
      js.out.implementation === 'js',
      `DELEVERAGE_FORCE_JS=1: implementation is ${js.out.implementation}`,
    )
    check(countWarnings(js.stderr) === 0, 'DELEVERAGE_FORCE_JS=1 printed a warning')
    parity = JSON.stringify(js.out.report) === JSON.stringify(cjs.out.report)
    check(
      parity,
      `native and TypeScript reports differ:\n${JSON.stringify(cjs.out.report)}\n${JSON.stringify(js.out.report)}`,
    )
  }
  return {
    problems,
    summary: {
      dir,
      expect,
      implementation: cjs.out.implementation,
      parity,
      warning: expect === 'js' ? cjs.stderr : null,
    },
  }
}

module.exports = { smoke }

if (require.main === module) {
  const args = process.argv.slice(2)
  const opt = (name) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const dir = path.resolve(opt('--dir') || process.cwd())
  const expect = opt('--expect')
  if (expect !== 'native' && expect !== 'js') {
    console.error('usage: node scripts/smoke-installed.js --dir CONSUMER --expect native|js')
    process.exit(2)
  }
  try {
    const { problems, summary } = smoke(dir, expect)
    if (summary.warning) process.stderr.write(summary.warning)
    console.log(JSON.stringify({ ...summary, warning: undefined, ok: problems.length === 0 }))
    for (const p of problems) console.error(`smoke: ${p}`)
    process.exitCode = problems.length ? 1 : 0
  } catch (e) {
    console.error(`smoke: ${e.message}`)
    process.exitCode = 1
  }
}
