import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import type * as Generated from '../index.js'
import { causeChain, describeLoadFailure, loadNative, type NativeBinding } from '../src/native.js'

// Type-level check: the napi-rs generated typings must satisfy NativeBinding.
const _generatedSatisfiesInterface = (g: typeof Generated): NativeBinding => g
void _generatedSatisfiesInterface

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const crateVersion = /^version\s*=\s*"([^"]+)"/m.exec(
  readFileSync(join(root, 'crates/node/Cargo.toml'), 'utf8'),
)?.[1]

type Probe = { native: boolean; version: string | null; error: string | null }

/** Runs loadNative() from a dist build in a fresh Node process. */
function probe(build: 'cjs' | 'esm', env: Record<string, string> = {}) {
  const body =
    'const r = m.loadNative();' +
    'console.log(JSON.stringify({ native: r.binding !== null,' +
    ' version: r.binding ? r.binding.coreVersion() : null,' +
    ' error: r.error ? r.error.message : null }));'
  const args =
    build === 'cjs'
      ? ['-e', `const m = require('./dist/cjs/index.js');${body}`]
      : ['--input-type=module', '-e', `import * as m from './dist/esm/index.js';${body}`]
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env }
  if (!('DELEVERAGE_FORCE_JS' in env)) delete childEnv.DELEVERAGE_FORCE_JS
  const r = spawnSync(process.execPath, args, { cwd: root, env: childEnv, encoding: 'utf8' })
  expect(r.status, r.stderr).toBe(0)
  return { result: JSON.parse(r.stdout.trim()) as Probe, stderr: r.stderr }
}

describe('native loader (src, in process)', () => {
  it('loads the native binding when not forced', () => {
    const { binding, error } = loadNative()
    expect(error).toBeNull()
    expect(binding).not.toBeNull()
    expect(binding!.coreVersion()).toBe(crateVersion)
  })

  it('describes a failure with platform, expected package, cause chain and fix', () => {
    const inner = new Error('Cannot find module ./deleverage.linux-x64-gnu.node')
    const err = new Error('Cannot find native binding.', {
      cause: new Error('second', { cause: inner }),
    })
    expect(causeChain(err)).toEqual([
      'Error: Cannot find native binding.',
      '  Error: second',
      '    Error: Cannot find module ./deleverage.linux-x64-gnu.node',
    ])
    const text = describeLoadFailure(err)
    expect(text).toContain(`${process.platform} ${process.arch}`)
    expect(text).toMatch(/@deleverage\/binding-(linux|darwin|win32|freebsd|android)-/)
    expect(text).toContain('Cannot find module ./deleverage.linux-x64-gnu.node')
    expect(text).toContain('DELEVERAGE_FORCE_JS=1')
  })
})

describe.each(['cjs', 'esm'] as const)('native loader (dist/%s, child process)', (build) => {
  it.skipIf(!existsSync(join(root, 'dist', build)))('loads native when not forced', () => {
    const { result } = probe(build)
    expect(result).toEqual({ native: true, version: crateVersion, error: null })
  })

  it.skipIf(!existsSync(join(root, 'dist', build)))(
    'returns null with DELEVERAGE_FORCE_JS=1',
    () => {
      const { result, stderr } = probe(build, { DELEVERAGE_FORCE_JS: '1' })
      expect(result).toEqual({ native: false, version: null, error: null })
      expect(stderr).not.toContain('DeleverageWarning')
    },
  )

  it.skipIf(!existsSync(join(root, 'dist', build)))(
    'captures a load failure and warns once',
    () => {
      // Point the generated loader at a missing file to force a failure.
      const { result, stderr } = probe(build, {
        NAPI_RS_NATIVE_LIBRARY_PATH: join(root, 'missing.node'),
      })
      expect(result.native).toBe(false)
      expect(result.error).toMatch(/Cannot find native binding/)
      expect(stderr.match(/DeleverageWarning/g)).toHaveLength(1)
      expect(stderr).toContain('missing.node')
    },
  )

  it.skipIf(!existsSync(join(root, 'dist', build)))(
    'warns in one line; DELEVERAGE_DEBUG=1 adds the cause chain',
    () => {
      const missing = { NAPI_RS_NATIVE_LIBRARY_PATH: join(root, 'missing.node') }
      const { stderr } = probe(build, missing)
      // Node's own hint about --trace-warnings may follow; ours is the one warning line.
      const ours = stderr
        .split('\n')
        .filter((l) => l.trim() !== '' && !l.startsWith('(Use `node --trace-warnings'))
      expect(ours).toHaveLength(1)
      expect(ours[0]).toMatch(
        /DeleverageWarning: deleverage: native module not loaded for \S+, using the TypeScript engine/,
      )
      expect(ours[0]).toContain('DELEVERAGE_FORCE_JS=1')
      expect(ours[0]).toContain('DELEVERAGE_DEBUG=1')
      expect(stderr).not.toContain('cause chain:')

      const debug = probe(build, { ...missing, DELEVERAGE_DEBUG: '1' }).stderr
      expect(debug.match(/DeleverageWarning/g)).toHaveLength(1)
      expect(debug).toContain('cause chain:')
      expect(debug).toContain('Cannot find native binding')
      expect(debug).toContain(`platform: ${process.platform} ${process.arch}`)
    },
  )
})
