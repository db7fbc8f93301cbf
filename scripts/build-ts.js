#!/usr/bin/env node
// Compiles src/ twice: ESM -> dist/esm (tsconfig.build.json) and
// CJS -> dist/cjs (tsconfig.build.cjs.json), then writes a package.json
// "type" marker into each so Node picks the right module format regardless
// of the root package.json.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dist = path.join(root, 'dist')
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })

fs.rmSync(dist, { recursive: true, force: true })

for (const [project, outDir, type] of [
  ['tsconfig.build.json', 'esm', 'module'],
  ['tsconfig.build.cjs.json', 'cjs', 'commonjs'],
]) {
  const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) {
    console.error(`deleverage: tsc -p ${project} failed`)
    process.exit(r.status ?? 1)
  }
  fs.writeFileSync(path.join(dist, outDir, 'package.json'), `${JSON.stringify({ type })}\n`)
}
