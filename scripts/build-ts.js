#!/usr/bin/env node
// Compiles src/ once, to CommonJS in dist/cjs (tsconfig.build.cjs.json), and writes dist/esm as a
// thin ESM entry that re-exports that build. One implementation behind two entry points: an
// application (or a dependency of it) that imports 'deleverage' while another part requires it
// gets the same classes, so a DeleverageError thrown through one is `instanceof` the other's class,
// and the native module and its one load warning are shared. Each dist directory gets a
// package.json "type" marker so Node picks the module format regardless of the root package.json.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const dist = path.join(root, 'dist')
const tsc = require.resolve('typescript/bin/tsc', { paths: [root] })

fs.rmSync(dist, { recursive: true, force: true })

const project = 'tsconfig.build.cjs.json'
const r = spawnSync(process.execPath, [tsc, '-p', project], { cwd: root, stdio: 'inherit' })
if (r.status !== 0) {
  console.error(`deleverage: tsc -p ${project} failed`)
  process.exit(r.status ?? 1)
}
fs.writeFileSync(
  path.join(dist, 'cjs', 'package.json'),
  JSON.stringify({ type: 'commonjs' }) + '\n',
)

/** The value exports of dist/cjs/index (not type-only ones), read from its declarations. */
function valueExports() {
  const ts = require(require.resolve('typescript', { paths: [root] }))
  const file = path.join(dist, 'cjs', 'index.d.ts')
  const program = ts.createProgram([file], { noEmit: true, skipLibCheck: true })
  const checker = program.getTypeChecker()
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(file))
  return checker
    .getExportsOfModule(moduleSymbol)
    .filter((s) => {
      const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s
      return (target.flags & ts.SymbolFlags.Value) !== 0
    })
    .map((s) => s.name)
    .sort()
}

const names = valueExports()
if (!names.includes('Engine') || !names.includes('DeleverageError')) {
  console.error(`deleverage: unexpected exports of dist/cjs/index: ${names.join(', ')}`)
  process.exit(1)
}
const esm = path.join(dist, 'esm')
fs.mkdirSync(esm)
fs.writeFileSync(path.join(esm, 'package.json'), JSON.stringify({ type: 'module' }) + '\n')
fs.writeFileSync(
  path.join(esm, 'index.js'),
  `// ESM entry: the CommonJS build (dist/cjs) re-exported, so import and require share one copy.
import cjs from '../cjs/index.js'

export const {\n${names.map((n) => `  ${n},\n`).join('')}} = cjs
`,
)
fs.writeFileSync(
  path.join(esm, 'index.d.ts'),
  `// ESM entry types: those of the CommonJS build this entry re-exports.
export * from '../cjs/index.js'
`,
)
