#!/usr/bin/env node
// Checks one native module file against the venues' golden vectors and against the TypeScript
// engine, through the built package (dist/cjs), without vitest: small enough to run under qemu
// (scripts/test-arm64.sh) or on any Node binary.
//
//   node scripts/native-check.js [path/to/module.node|.so]   (default: what index.js loads)
//
// The module is loaded through the napi-rs loader's NAPI_RS_NATIVE_LIBRARY_PATH override, and the
// check fails unless every engine it builds reports implementation === 'native' from that file.
'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const t0 = Date.now()

if (process.argv[2]) {
  // require() picks the loader by extension: a cargo .so must be named .node.
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'deleverage-native-check-'))
  const file = path.join(tmp, 'deleverage.node')
  fs.copyFileSync(path.resolve(process.argv[2]), file)
  process.env.NAPI_RS_NATIVE_LIBRARY_PATH = file
  process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))
}
delete process.env.DELEVERAGE_FORCE_JS

const dist = (m) => require(path.join(root, 'dist', 'cjs', m))
const { Engine, engineFromScenario, parseScenario, loadNative } = dist('index.js')
const { makeSimMarket, crashPath, SIM_MARKETS } = dist('market-sim.js')
const { depthFromMarket, DEMO } = dist('demo.js')
const { simulate, POLICIES } = dist('simulate.js')
const { load } = dist('synthetic.js')

const { binding, error } = loadNative()
if (!binding) {
  console.error('native-check: the native module did not load:', error?.message)
  process.exit(1)
}
const loaded = Object.values(require.cache).find((m) => m.filename.endsWith('.node'))
const wanted = process.env.NAPI_RS_NATIVE_LIBRARY_PATH
if (wanted && (!loaded || loaded.filename !== wanted)) {
  console.error(`native-check: loaded ${loaded?.filename}, not ${wanted}`)
  process.exit(1)
}
console.log(
  `native-check: node ${process.version} ${process.platform}-${process.arch} (napi ${process.versions.napi}), core ${binding.coreVersion()}, module ${process.argv[2] || loaded?.filename}`,
)

let failures = 0
function check(ok, what) {
  if (!ok) {
    failures++
    console.error(`  FAIL ${what}`)
  }
}

function expectNative(engine, what) {
  if (engine.implementation !== 'native')
    throw new Error(`${what}: engine is ${engine.implementation}, not native`)
  return engine
}

// Same rounding as test/vectors.test.ts: "field@N" is the venue's value rounded half-up to N places.
function roundHalfUp(decimal, places) {
  const [i, f = ''] = decimal.replace('-', '').split('.')
  const digits = BigInt(i + f.padEnd(places + 1, '0').slice(0, places + 1))
  const s = ((digits + 5n) / 10n).toString().padStart(places + 1, '0')
  return (
    (decimal.startsWith('-') ? '-' : '') +
    s.slice(0, s.length - places) +
    '.' +
    s.slice(s.length - places)
  )
}

function golden() {
  const { cases } = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/venues.json'), 'utf8'))
  let values = 0
  for (const implementation of ['native', 'js']) {
    for (const c of cases) {
      const engine = engineFromScenario(parseScenario(c.scenario), { implementation })
      check(engine.implementation === implementation, `${c.id}: engine is ${engine.implementation}`)
      const positions = engine.positions()
      for (const { account, symbol, ...fields } of c.steps[0].expectPositions) {
        const p = positions.find((x) => x.account === account && x.symbol === symbol)
        if (!p) {
          check(false, `${implementation} ${c.id} ${account} ${symbol}: no position`)
          continue
        }
        for (const [key, published] of Object.entries(fields)) {
          const [k, places] = key.split('@')
          const actual = places === undefined ? p[k] : roundHalfUp(p[k], Number(places))
          check(
            actual === published,
            `${implementation} ${c.id} ${account} ${symbol} ${key}: ${actual}, published ${published}`,
          )
          values++
        }
      }
    }
  }
  console.log(
    `  golden: ${cases.length} venue cases (${cases.map((c) => c.id).join(', ')}), ${values} published values on both engines`,
  )
}

// The cascade simulator on a seeded market, every policy, both engines: liquidations, takeovers,
// ADL and socialised losses; the whole result and the final state hash must be identical.
function simulateOn(implementation, policy, positions, accounts) {
  const book = makeSimMarket(positions, accounts, 11)
  const engine = new Engine({ quoteDecimals: book.quoteDecimals, implementation })
  if (implementation === 'native') expectNative(engine, 'parity')
  load(engine, book)
  const depth = depthFromMarket(book, DEMO.depthDivisor)
  const markets = book.markets.map((m, j) => ({
    index: j,
    symbol: m.symbol,
    priceDecimals: m.priceDecimals,
    qtyDecimals: m.qtyDecimals,
    inverse: false,
    contractSize: 1n,
    depth: depth[j],
  }))
  const result = simulate(
    { engine, markets },
    {
      path: crashPath(SIM_MARKETS, 12, 20, 3),
      policy,
      waterfall: DEMO.waterfall,
      insuranceFund: 20_000n * 10n ** 8n,
      fill: DEMO.fill,
      feedback: { maxRounds: 2 },
      keepEvents: true,
    },
  )
  return {
    result: JSON.stringify({ ...result, implementation: undefined }, (_, v) =>
      typeof v === 'bigint' ? v.toString() : v,
    ),
    hash: engine.stateHash(),
  }
}

function parity(positions, accounts) {
  let takeovers = 0
  for (const policy of POLICIES) {
    const n = simulateOn('native', policy, positions, accounts)
    const j = simulateOn('js', policy, positions, accounts)
    check(n.hash === j.hash, `parity ${policy}: state hash ${n.hash} (native) != ${j.hash} (js)`)
    check(n.result === j.result, `parity ${policy}: simulation results differ`)
    takeovers += JSON.parse(n.result).totals.takeovers
  }
  console.log(
    `  parity: ${POLICIES.length} policies x 12-step crash on ${positions} positions / ${accounts} accounts, ${takeovers} takeovers, results and state hashes equal`,
  )
}

golden()
parity(
  Number(process.env.DELEVERAGE_CHECK_POSITIONS || 2000),
  Number(process.env.DELEVERAGE_CHECK_ACCOUNTS || 500),
)
if (failures) {
  console.error(`native-check: ${failures} failure(s)`)
  process.exit(1)
}
console.log(`native-check: ok (${((Date.now() - t0) / 1000).toFixed(1)} s)`)
