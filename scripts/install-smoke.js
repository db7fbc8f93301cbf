#!/usr/bin/env node
// Installs release tarballs into a fresh, empty project OFFLINE and smoke-tests
// the result (scripts/smoke-installed.js). What each release test job runs on
// its own platform; needs only Node and npm.
//
//   node scripts/install-smoke.js --expect native deleverage-0.1.0.tgz deleverage-binding-linux-x64-gnu-0.1.0.tgz
//   node scripts/install-smoke.js --expect js deleverage-0.1.0.tgz
//
// --offline: nothing may come from the registry; the main tarball's
// optionalDependencies on the other platforms' packages fail to resolve and
// npm skips them, as it skips the non-matching ones after a real publish.
// --expect native also requires that the postinstall used the prebuilt module
// (no source build). --expect js sets DELEVERAGE_SKIP_NATIVE_BUILD=1 (CI
// runners have cargo; a source build would hide the fallback).
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { npmEnv } = require('./pack.js')
const { smoke } = require('./smoke-installed.js')

const args = process.argv.slice(2)
const e = args.indexOf('--expect')
const expect = e >= 0 ? args[e + 1] : undefined
const tarballs = args.filter((a, i) => a !== '--expect' && i !== e + 1).map((t) => path.resolve(t))
if ((expect !== 'native' && expect !== 'js') || tarballs.length === 0) {
  console.error('usage: node scripts/install-smoke.js --expect native|js TARBALL...')
  process.exit(2)
}

// The user's environment, minus deleverage's own switches (the release
// workflow sets DELEVERAGE_SKIP_NATIVE_BUILD for its npm ci).
function installEnv() {
  const env = npmEnv()
  for (const k of Object.keys(env)) if (/^(DELEVERAGE_|NAPI_RS_)/.test(k)) delete env[k]
  if (expect === 'js') env.DELEVERAGE_SKIP_NATIVE_BUILD = '1'
  return env
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'deleverage-consumer-'))
let failed = false
try {
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }),
  )
  const r = spawnSync(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs],
    {
      cwd: dir,
      env: installEnv(),
      encoding: 'utf8',
      shell: process.platform === 'win32',
    },
  )
  const output = `${r.stdout}${r.stderr}`
  process.stdout.write(output)
  if (r.error || r.status !== 0)
    throw new Error(`npm install failed (${r.error ? r.error.message : `exit ${r.status}`})`)
  if (expect === 'native' && !output.includes('deleverage: using the prebuilt native module')) {
    throw new Error('the postinstall did not use the prebuilt native module')
  }
  const installed = fs.readdirSync(path.join(dir, 'node_modules')).filter((f) => !f.startsWith('.'))
  console.log(`installed: ${installed.join(', ')}`)
  const { problems, summary } = smoke(dir, expect)
  if (summary.warning) process.stdout.write(`warning shown to the user:\n${summary.warning}`)
  console.log(JSON.stringify({ ...summary, warning: undefined, ok: problems.length === 0 }))
  for (const p of problems) console.error(`install-smoke: ${p}`)
  failed = problems.length > 0
} catch (err) {
  console.error(`install-smoke: ${err.message}`)
  failed = true
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
