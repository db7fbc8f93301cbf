// Install from packed tarballs, as a user would get deleverage from the registry:
// `npm pack` the main package (shaped as `napi prepublish` leaves it: with
// optionalDependencies on every platform package) and the host's platform
// package, install them OFFLINE into an empty directory, and check the native
// engine loads there; then the main tarball alone, without Rust, must run on the
// TypeScript fallback and say once, actionably, why.
//
// Needs dist/ and the host's release module (deleverage.<suffix>.node), which
// `npm install` / `npm test` build. ~10 s: three `npm pack`, two offline installs.

import { spawnSync } from 'node:child_process'
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeLoadFailure, napiPlatformSuffix, rustTargetTriple } from '../src/native.js'

interface PackReport {
  file: string
  size: number
  unpackedSize: number
  entryCount: number
  files: Array<{ path: string }>
}
interface Target {
  triple: string
  suffix: string
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const req = createRequire(import.meta.url)
const pack = req('../scripts/pack.js') as {
  npmEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv
  packMain(o: { out: string; release?: boolean }): PackReport
  packPlatform(o: { out: string; suffix?: string; binary?: string }): PackReport
}
const platformPackages = req('../scripts/platform-packages.js') as {
  hostSuffix(): string
  targets(): Target[]
  check(o?: { release?: boolean }): string[]
  rootPackage(): { name: string; version: string }
  packageName(pkg: { name: string }, suffix: string): string
}
const { smoke } = req('../scripts/smoke-installed.js') as {
  smoke(
    dir: string,
    expect: 'native' | 'js',
  ): { problems: string[]; summary: { warning: string | null } }
}

const { version } = platformPackages.rootPackage()
const suffix = platformPackages.hostSuffix()
/** The host's platform package, e.g. @deleverage/binding-linux-x64-gnu. */
const binding = platformPackages.packageName(platformPackages.rootPackage(), suffix)
const hostTarget = platformPackages.targets().find((t) => t.suffix === suffix)
const binary = join(root, `deleverage.${suffix}.node`)
const isWindows = process.platform === 'win32'

function consumer(name: string): string {
  const dir = join(work, name)
  mkdirSync(dir)
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true }),
  )
  return dir
}

/** `npm install --offline` of local tarballs; returns npm's output (postinstall included). */
function npmInstall(dir: string, tarballs: string[], env: NodeJS.ProcessEnv = {}): string {
  const r = spawnSync(
    'npm',
    ['install', '--offline', '--no-audit', '--no-fund', '--foreground-scripts', ...tarballs],
    {
      cwd: dir,
      env: pack.npmEnv(env),
      encoding: 'utf8',
      shell: isWindows,
    },
  )
  const output = `${r.stdout}\n${r.stderr}`
  expect(r.status, output).toBe(0)
  return output
}

/** Installed packages (node_modules entries other than .bin, .package-lock.json; @scope/name). */
function packagesIn(dir: string): string[] {
  const nm = join(dir, 'node_modules')
  return readdirSync(nm)
    .filter((f) => !f.startsWith('.'))
    .flatMap((f) => (f.startsWith('@') ? readdirSync(join(nm, f)).map((g) => `${f}/${g}`) : [f]))
    .sort()
}

/** PATH without the directories that hold cargo (kept when they also hold node). */
function pathWithoutCargo(): { PATH: string; cargoHidden: boolean } {
  const exe = (d: string, c: string) => existsSync(join(d, isWindows ? `${c}.exe` : c))
  const dirs = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((d) => !exe(d, 'cargo') || exe(d, 'node'))
  return { PATH: dirs.join(delimiter), cargoHidden: !dirs.some((d) => exe(d, 'cargo')) }
}

let work: string
let main: PackReport
let platform: PackReport | null = null

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'deleverage-pack-'))
  const out = join(work, 'tarballs')
  main = pack.packMain({ out, release: true })
  if (hostTarget && existsSync(binary)) platform = pack.packPlatform({ out, suffix })
  console.log(
    `tarballs: ${main.file.split(/[\\/]/).pop()} ${main.size} B (${main.entryCount} files, ${main.unpackedSize} B unpacked)` +
      (platform
        ? `; ${platform.file.split(/[\\/]/).pop()} ${platform.size} B (${platform.unpackedSize} B unpacked)`
        : ''),
  )
})

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('platform packages (npm/)', () => {
  it('match napi.targets, and optionalDependencies are left to napi prepublish', () => {
    expect(platformPackages.check()).toEqual([])
  })

  it('the host has a platform package and a built native module', () => {
    expect(hostTarget, `no napi target for ${suffix}`).toBeDefined()
    expect(existsSync(binary), `${binary} missing: run npm run build:native`).toBe(true)
    expect(hostTarget!.triple).toBe(rustTargetTriple())
    expect(suffix).toBe(napiPlatformSuffix())
  })
})

describe('packed tarballs', () => {
  it('main: dist (ESM + CJS), the loader, the Rust sources; no .node file; every source map resolves', () => {
    const files = main.files.map((f) => f.path)
    for (const f of [
      'package.json',
      'index.js',
      'index.d.ts',
      'dist/cjs/index.js',
      'dist/cjs/index.d.ts',
      'dist/esm/index.js',
      'dist/esm/index.d.ts',
      'bin/deleverage.js',
      'scripts/install.js',
      'Cargo.toml',
      'Cargo.lock',
      'crates/node/src/lib.rs',
    ]) {
      expect(files).toContain(f)
    }
    expect(files.filter((f) => f.endsWith('.node'))).toEqual([])
    expect(files.filter((f) => /^(test|bench|npm|target|node_modules|docs)\//.test(f))).toEqual([])
    // dist/*.map point at src/*.ts (debuggers, go-to-definition): shipped, so they resolve.
    const dest = mkdtempSync(join(work, 'untar-'))
    const tar = spawnSync('tar', ['-xzf', main.file, '-C', dest], { encoding: 'utf8' })
    expect(tar.status, tar.stderr).toBe(0)
    const unpacked = join(dest, 'package')
    const maps = files.filter((f) => f.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(0)
    const missing = maps.flatMap((m) =>
      (JSON.parse(readFileSync(join(unpacked, m), 'utf8')) as { sources: string[] }).sources
        .map((src) => posix.join(posix.dirname(m), src))
        .filter((src) => !files.includes(src)),
    )
    expect(missing).toEqual([])
  })

  it('platform: package.json, README.md and the module only', () => {
    expect(platform).not.toBeNull()
    expect(platform!.files.map((f) => f.path).sort()).toEqual([
      'README.md',
      `deleverage.${suffix}.node`,
      'package.json',
    ])
  })
})

describe('offline install from the tarballs', () => {
  it('main + host platform package: the prebuilt native engine, from require and import, no source build', () => {
    expect(platform).not.toBeNull()
    const dir = consumer('native')
    const output = npmInstall(dir, [main.file, platform!.file])
    expect(output).toContain(
      `using the prebuilt native module ../${binding}/deleverage.${suffix}.node`,
    )
    expect(output).not.toMatch(/Compiling|cargo build/)
    // The binary came from the platform package, not from a build next to index.js.
    expect(
      readdirSync(join(dir, 'node_modules', 'deleverage')).filter((f) => f.endsWith('.node')),
    ).toEqual([])
    // The other six platform packages are optional and were skipped, not fatal.
    expect(packagesIn(dir)).toEqual([binding, 'deleverage'])
    const { problems } = smoke(dir, 'native')
    expect(problems).toEqual([])

    // A binary that does not load: the warning carries the loader's real error.
    const bad = join(work, `broken.${suffix}.node`)
    writeFileSync(bad, 'not a shared library')
    const r = spawnSync(
      process.execPath,
      ['-e', "console.log(require('deleverage').implementation)"],
      {
        cwd: dir,
        env: {
          ...process.env,
          DELEVERAGE_FORCE_JS: '',
          DELEVERAGE_DEBUG: '1',
          NAPI_RS_NATIVE_LIBRARY_PATH: bad,
        },
        encoding: 'utf8',
      },
    )
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('js')
    expect(r.stderr.match(/DeleverageWarning/g)).toHaveLength(1)
    expect(r.stderr).toContain(bad)
    if (process.platform === 'linux') expect(r.stderr).toMatch(/invalid ELF header|file too short/)
    expect(r.stderr).toContain(
      'likely cause: a native module was found but was built for another platform or is damaged',
    )
  })

  it('main tarball only, no Rust: TypeScript fallback, one warning naming target, package, causes and fixes', () => {
    const dir = consumer('fallback')
    const { PATH, cargoHidden } = pathWithoutCargo()
    const output = npmInstall(
      dir,
      [main.file],
      cargoHidden ? { PATH } : { DELEVERAGE_SKIP_NATIVE_BUILD: '1' },
    )
    expect(output).toContain(
      cargoHidden ? 'Rust toolchain (cargo) not found' : 'DELEVERAGE_SKIP_NATIVE_BUILD=1',
    )
    expect(output).toContain('will run on its TypeScript implementation')
    expect(packagesIn(dir)).toEqual(['deleverage'])

    const { problems, summary } = smoke(dir, 'js')
    expect(problems).toEqual([])
    // One line (plus Node's own --trace-warnings hint): target, cause, fix, the two switches.
    const warning = summary.warning!
    expect(warning.match(/DeleverageWarning/g)).toHaveLength(1)
    const lines = warning
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('(Use `node --trace-warnings'))
    expect(lines).toHaveLength(1)
    expect(warning).toContain(`native module not loaded for ${hostTarget!.triple}`)
    expect(warning).toContain(`${binding} is not installed`)
    expect(warning).toContain(`Fix: npm install ${binding}@${version}`)
    expect(warning).toContain('DELEVERAGE_FORCE_JS=1')
    expect(warning).toContain('DELEVERAGE_DEBUG=1')

    // DELEVERAGE_FORCE_JS=1 keeps the fallback and silences the warning.
    const r = spawnSync(
      process.execPath,
      ['-e', "console.log(require('deleverage').implementation)"],
      {
        cwd: dir,
        env: { ...process.env, DELEVERAGE_FORCE_JS: '1' },
        encoding: 'utf8',
      },
    )
    expect(r.stdout.trim()).toBe('js')
    expect(r.stderr).not.toContain('DeleverageWarning')
  })
})

describe('source build at install (main tarball only, cargo on PATH)', () => {
  // A platform without a prebuilt package: the postinstall compiles the Rust sources. It must say
  // so before the minute of compiling, and must not leave cargo's ~100 MB target/ behind.
  it.skipIf(spawnSync('cargo', ['--version'], { shell: isWindows }).status !== 0)(
    'announces the build, loads native, removes target/',
    () => {
      const dir = consumer('source')
      // The install script's behaviour is under test, not the optimiser: an unoptimised build
      // (the release profile's LTO takes minutes on two cores), crates from cargo's local cache.
      const fast = {
        CARGO_PROFILE_RELEASE_LTO: 'false',
        CARGO_PROFILE_RELEASE_OPT_LEVEL: '0',
        CARGO_PROFILE_RELEASE_CODEGEN_UNITS: '256',
      }
      const output = npmInstall(dir, [main.file], {
        ...fast,
        CARGO_NET_OFFLINE: 'true',
        CARGO_TARGET_DIR: '',
        DELEVERAGE_SKIP_NATIVE_BUILD: '',
      })
      const announce = output.indexOf('compiling it from the Rust sources with cargo')
      expect(announce, output).toBeGreaterThanOrEqual(0)
      expect(output.indexOf('Compiling deleverage-core')).toBeGreaterThan(announce)
      expect(output).toMatch(/deleverage: native module built in \d+ s\./)
      const installed = join(dir, 'node_modules', 'deleverage')
      expect(existsSync(join(installed, 'target'))).toBe(false)
      expect(readdirSync(installed).filter((f) => f.endsWith('.node'))).toEqual([
        `deleverage.${suffix}.node`,
      ])
      const r = spawnSync(
        process.execPath,
        ['-e', "console.log(require('deleverage').implementation)"],
        { cwd: dir, env: pack.npmEnv(), encoding: 'utf8' },
      )
      expect(r.stdout.trim(), r.stderr).toBe('native')
    },
    600_000,
  )
})

describe('load failure warning (describeLoadFailure)', () => {
  it('explains a glibc version error', () => {
    const lib = `/opt/app/node_modules/${binding}/deleverage.${suffix}.node`
    const err = new Error('Cannot find native binding.', {
      cause: new Error(
        `/lib/x86_64-linux-gnu/libc.so.6: version \`GLIBC_2.39' not found (required by ${lib})`,
      ),
    })
    const text = describeLoadFailure(err)
    expect(text).toContain(`target ${rustTargetTriple()}`)
    expect(text).toContain(binding)
    expect(text).toContain("version `GLIBC_2.39' not found")
    expect(text).toContain('likely cause: the native module needs glibc 2.39 or newer')
    expect(text).toContain('npm rebuild deleverage')
    expect(text).toContain('DELEVERAGE_FORCE_JS=1')
  })

  it('explains a version mismatch between deleverage and its platform package', () => {
    const err = new Error('Cannot find native binding.', {
      cause: new Error(
        `Native binding package version mismatch, expected ${version} but got 0.0.1. You can reinstall dependencies to fix this issue.`,
      ),
    })
    expect(describeLoadFailure(err)).toContain(
      `likely cause: ${binding} is installed at a different version than deleverage`,
    )
  })
})
