// The published types, as consumers see them: @arethetypeswrong/cli on the
// packed tarball (`npm run check:types`), then real TypeScript consumers that
// install the tarball and compile against it: ESM (.mts) and CJS (.cts) under
// nodenext, and an app under bundler resolution. `@ts-expect-error` lines make
// sure the types are real (an `any` would make them unused, which is an error).

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const req = createRequire(import.meta.url)
const pack = req('../scripts/pack.js') as {
  npmEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv
  packMain(o: { out: string; release?: boolean }): { file: string }
}
const tsc = req.resolve('typescript/bin/tsc')

interface AttwResolution {
  resolution?: { fileName: string }
}
interface AttwReport {
  analysis: {
    problems: unknown[]
    entrypoints: Record<string, { resolutions: Record<string, AttwResolution> }>
  }
}

const USAGE = `
const engine = new Engine({ quoteDecimals: 8 })
engine.addMarket({
  symbol: 'BTCUSDT', priceDecimals: 2, qtyDecimals: 3,
  tiers: [{ floor: '0', mmr: '0.004', maxLeverage: '125' }], mark: '30000',
})
const report: SweepReport = engine.sweep({ warningRatio: '0.8' })
const impl: Implementation = implementation
const why: Error | null = nativeLoadError
export const out: [number, Implementation, string | undefined] = [report.liquidatable.length, impl, why?.message]
// @ts-expect-error quoteDecimals is a number
new Engine({ quoteDecimals: '8' })
// @ts-expect-error implementation is 'native' | 'js'
export const bad: Implementation = 'wasm'
`
const NAMES = 'Engine, implementation, nativeLoadError, type Implementation, type SweepReport'

let work: string
let consumer: string

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'deleverage-types-'))
  const { file } = pack.packMain({ out: join(work, 'tarballs'), release: true })
  consumer = join(work, 'consumer')
  mkdirSync(consumer)
  writeFileSync(
    join(consumer, 'package.json'),
    JSON.stringify({ name: 'types-consumer', version: '1.0.0', private: true }),
  )
  // Types only: no install scripts, no platform packages needed.
  const r = spawnSync(
    'npm',
    ['install', '--offline', '--ignore-scripts', '--no-audit', '--no-fund', file],
    {
      cwd: consumer,
      env: pack.npmEnv(),
      encoding: 'utf8',
      shell: process.platform === 'win32',
    },
  )
  expect(r.status, r.stderr).toBe(0)
})

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

function compile(
  name: string,
  compilerOptions: Record<string, unknown>,
  files: Record<string, string>,
) {
  const dir = join(consumer, name)
  mkdirSync(dir)
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text)
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        lib: ['ES2022'],
        types: [],
        skipLibCheck: false,
        ...compilerOptions,
      },
      files: Object.keys(files),
    }),
  )
  const r = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], {
    cwd: dir,
    encoding: 'utf8',
  })
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

describe('published types', () => {
  it('@arethetypeswrong/cli finds no problem; require gets dist/cjs types, import dist/esm', () => {
    const r = spawnSync(process.execPath, [join(root, 'scripts', 'check-types.js'), '--json'], {
      cwd: root,
      encoding: 'utf8',
    })
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0)
    const report = JSON.parse(r.stdout) as AttwReport
    expect(report.analysis.problems).toEqual([])
    const main = report.analysis.entrypoints['.']!.resolutions
    expect(main.node10?.resolution?.fileName).toBe('/node_modules/deleverage/dist/cjs/index.d.ts')
    expect(main['node16-cjs']?.resolution?.fileName).toBe(
      '/node_modules/deleverage/dist/cjs/index.d.ts',
    )
    expect(main['node16-esm']?.resolution?.fileName).toBe(
      '/node_modules/deleverage/dist/esm/index.d.ts',
    )
    expect(main.bundler?.resolution?.fileName).toBe('/node_modules/deleverage/dist/esm/index.d.ts')
  })

  it('an ESM (.mts) and a CJS (.cts) consumer compile under nodenext, without @types/node', () => {
    const r = compile(
      'nodenext',
      { module: 'nodenext', moduleResolution: 'nodenext' },
      {
        'app.mts': `import { ${NAMES} } from 'deleverage'\n${USAGE}`,
        'app.cts':
          `import deleverage = require('deleverage')\nconst { Engine, implementation, nativeLoadError } = deleverage\n` +
          `type Implementation = deleverage.Implementation\ntype SweepReport = deleverage.SweepReport\n${USAGE}`,
      },
    )
    expect(r.output).toBe('')
    expect(r.status).toBe(0)
  })

  it('an app compiles under bundler resolution', () => {
    const r = compile(
      'bundler',
      { module: 'preserve', moduleResolution: 'bundler' },
      {
        'app.ts': `import { ${NAMES} } from 'deleverage'\n${USAGE}`,
      },
    )
    expect(r.output).toBe('')
    expect(r.status).toBe(0)
  })
})

describe('one implementation behind import and require', () => {
  it('a DeleverageError thrown through either entry is instanceof the class of the other', () => {
    const script = `
import { createRequire } from 'node:module'
import * as esm from 'deleverage'
const cjs = createRequire(process.cwd() + '/')('deleverage')
const thrown = (m) => {
  try { new m.Engine().setMarks({ NOPE: '1' }) } catch (e) { return e }
}
const fromCjs = thrown(cjs)
const fromEsm = thrown(esm)
console.log(JSON.stringify({
  code: fromCjs.code,
  cjsIsEsm: fromCjs instanceof esm.DeleverageError,
  esmIsCjs: fromEsm instanceof cjs.DeleverageError,
  sameEngine: esm.Engine === cjs.Engine,
}))`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: consumer,
      env: { ...process.env, DELEVERAGE_FORCE_JS: '1' },
      encoding: 'utf8',
    })
    expect(r.status, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({
      code: 'UNKNOWN_MARKET',
      cjsIsEsm: true,
      esmIsCjs: true,
      sameEngine: true,
    })
  })
})
