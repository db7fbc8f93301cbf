#!/usr/bin/env node
// `npm run check:types`: are the published types right for every kind of
// consumer? Packs the main package exactly as a release would (scripts/pack.js
// main --release, needs dist/) and runs @arethetypeswrong/cli on the tarball:
// node10 (`types`/`main`), node16 from CJS (`require`), node16 from ESM
// (`import`) and bundler resolution, for "deleverage" and
// "deleverage/package.json". Exits non-zero on any problem attw reports.
//
//   node scripts/check-types.js [--json]   (--json: attw's JSON report on stdout)
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { packMain } = require('./pack.js')

const root = path.resolve(__dirname, '..')
const json = process.argv.includes('--json')

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'deleverage-attw-'))
try {
  const tarball = packMain({ out, release: true }).file
  const attwPkg = require.resolve('@arethetypeswrong/cli/package.json', { paths: [root] })
  const bin = JSON.parse(fs.readFileSync(attwPkg, 'utf8')).bin.attw
  const args = [path.join(path.dirname(attwPkg), bin), tarball, '--profile', 'strict']
  if (json) args.push('--format', 'json')
  else args.push('--no-color')
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' })
  if (r.error) throw r.error
  process.exitCode = r.status ?? 1
} catch (e) {
  console.error(`check:types: ${e.message}`)
  process.exitCode = 1
} finally {
  fs.rmSync(out, { recursive: true, force: true })
}
