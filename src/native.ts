// Loader for the napi-rs native module.
//
// The generated loader `index.js` sits in the package root (next to
// package.json). It is located by walking up from this file's directory to the
// `deleverage` package.json, which works from src/ (vitest, tsx), dist/esm/,
// dist/cjs/ and an installed node_modules/deleverage/dist/*.

import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { moduleDir, nativeRequire } from './native-require.cjs'
import type { CoreEngine } from './core.js'

/**
 * Shape of the native binding. Kept in sync with the napi-rs generated
 * index.d.ts by a type-level assertion in test/loader.test.ts.
 */
export interface NativeBinding {
  coreVersion(): string
  /** The Rust engine; implements the integer-level CoreEngine interface of src/core.ts. */
  NativeEngine: {
    new (quoteDecimals: number): CoreEngine
    /** A new engine from a snapshot (SPEC §12). */
    restore(bytes: Uint8Array): CoreEngine
  }
}

export interface NativeLoadResult {
  /** The native binding, or null when forced off or when loading failed. */
  binding: NativeBinding | null
  /** Why loading failed; null when it succeeded or was forced off. */
  error: Error | null
}

const PACKAGE_NAME = 'deleverage'

let cached: NativeLoadResult | undefined
let warned = false

export function isForcedJs(): boolean {
  return process.env.DELEVERAGE_FORCE_JS === '1'
}

/** Directory of the `deleverage` package root, or null if not found. */
export function findPackageRoot(start: string = moduleDir): string | null {
  let dir = start
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME)
          return dir
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  return null
}

/**
 * Loads the native binding once (cached). With DELEVERAGE_FORCE_JS=1 nothing
 * is loaded and `{ binding: null, error: null }` is returned. A load failure
 * is returned (never thrown) and reported once via process.emitWarning.
 */
export function loadNative(): NativeLoadResult {
  if (isForcedJs()) return { binding: null, error: null }
  if (cached) return cached
  try {
    const root = findPackageRoot()
    if (root === null) {
      throw new Error(
        `could not find the ${PACKAGE_NAME} package root (package.json) above ${moduleDir}`,
      )
    }
    const binding = nativeRequire(join(root, 'index.js')) as NativeBinding
    cached = { binding, error: null }
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e))
    cached = { binding: null, error }
    warnOnce(error)
  }
  return cached
}

// Once per process, not per module instance: an application that loads both
// dist/esm and dist/cjs (an ESM import plus a require) gets one warning.
const WARNED = Symbol.for('deleverage.nativeLoadWarningShown')

function warnOnce(error: Error): void {
  const g = globalThis as { [WARNED]?: boolean }
  if (warned || g[WARNED]) return
  warned = true
  g[WARNED] = true
  // One line by default; DELEVERAGE_DEBUG=1 adds platform, cause chain and every fix as detail.
  process.emitWarning(summarizeLoadFailure(error), {
    type: 'DeleverageWarning',
    code: 'DELEVERAGE_NATIVE_UNAVAILABLE',
    ...(process.env.DELEVERAGE_DEBUG === '1' ? { detail: describeLoadFailure(error) } : {}),
  })
}

type ReportHeader = { glibcVersionRuntime?: string }

function reportHeader(): ReportHeader | undefined {
  try {
    return (process.report?.getReport() as { header?: ReportHeader } | undefined)?.header
  } catch {
    return undefined
  }
}

function detectLibc(): 'glibc' | 'musl' | 'unknown' {
  const header = reportHeader()
  if (!header) return 'unknown'
  return header.glibcVersionRuntime ? 'glibc' : 'musl'
}

/** The `<platform>-<arch>[-<abi>]` suffix napi-rs uses for this process. */
export function napiPlatformSuffix(): string {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'android') return arch === 'arm' ? 'android-arm-eabi' : `android-${arch}`
  if (platform === 'linux') {
    const musl = detectLibc() === 'musl'
    if (arch === 'arm') return `linux-arm-${musl ? 'musleabihf' : 'gnueabihf'}`
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  return `${platform}-${arch}`
}

const RUST_ARCH: Record<string, string> = {
  x64: 'x86_64',
  arm64: 'aarch64',
  ia32: 'i686',
  arm: 'armv7',
  riscv64: 'riscv64gc',
  ppc64: 'powerpc64le',
  s390x: 's390x',
  loong64: 'loongarch64',
}

/** The Rust target triple of this process, e.g. x86_64-unknown-linux-gnu (what `napi.targets` lists). */
export function rustTargetTriple(): string {
  const { platform, arch } = process
  const a = RUST_ARCH[arch] ?? arch
  if (platform === 'win32') return `${a}-pc-windows-msvc`
  if (platform === 'darwin') return `${a}-apple-darwin`
  if (platform === 'android')
    return arch === 'arm' ? 'armv7-linux-androideabi' : `${a}-linux-android`
  if (platform === 'freebsd') return `${a}-unknown-freebsd`
  if (platform === 'linux') {
    const musl = detectLibc() === 'musl'
    if (arch === 'arm') return `armv7-unknown-linux-${musl ? 'musleabihf' : 'gnueabihf'}`
    return `${a}-unknown-linux-${musl ? 'musl' : 'gnu'}`
  }
  return `${a}-${platform}`
}

/** Flattens an error's cause chain (Error causes, arrays, AggregateError). */
export function causeChain(err: unknown): string[] {
  const lines: string[] = []
  const seen = new Set<unknown>()
  const visit = (e: unknown, depth: number): void => {
    const indent = '  '.repeat(depth)
    // napi-rs's createLoadErrorChain() ends its chain with `cause: null`.
    if (e === null || e === undefined || seen.has(e) || depth > 20) return
    if (e !== null && typeof e === 'object') seen.add(e)
    if (Array.isArray(e)) {
      for (const item of e) visit(item, depth)
      return
    }
    if (e instanceof Error) {
      const code = (e as NodeJS.ErrnoException).code
      // First line only: Node appends a multi-line "Require stack:" to messages.
      const message = e.message.split('\n', 1)[0] ?? ''
      lines.push(`${indent}${e.name}${code ? ` [${code}]` : ''}: ${message}`)
      if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1)
      if (e.cause !== undefined) visit(e.cause, depth + 1)
      return
    }
    lines.push(`${indent}${String(e).split('\n', 1)[0] ?? ''}`)
  }
  visit(err, 0)
  return lines
}

interface PackageFacts {
  version: string | null
  /** Rust target triples with a published prebuilt package (`napi.targets`); null if unknown. */
  targets: string[] | null
  /** Minimum Rust version for a source build (workspace `rust-version`), if the sources are shipped. */
  rustVersion: string | null
  /** What the platform packages are named after (`napi.packageName`): `<prefix>-<suffix>`. */
  bindingPrefix: string
}

function packageFacts(root: string | null): PackageFacts {
  const facts: PackageFacts = {
    version: null,
    targets: null,
    rustVersion: null,
    bindingPrefix: PACKAGE_NAME,
  }
  if (root === null) return facts
  try {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      version?: string
      napi?: { targets?: string[]; packageName?: string }
    }
    facts.version = pkg.version ?? null
    facts.bindingPrefix = pkg.napi?.packageName ?? PACKAGE_NAME
    facts.targets = pkg.napi?.targets ?? null
  } catch {
    // keep nulls
  }
  try {
    facts.rustVersion =
      /^rust-version\s*=\s*"([^"]+)"/m.exec(readFileSync(join(root, 'Cargo.toml'), 'utf8'))?.[1] ??
      null
  } catch {
    // no Rust sources shipped
  }
  return facts
}

/** What the cause chain says went wrong, in a sentence; null when it is not recognised. */
function diagnose(chain: string[], pkgName: string, glibc: string | undefined): string | null {
  const text = chain.join('\n')
  const needGlibc = /GLIBC_(\d+(?:\.\d+)+)['’]? not found/.exec(text)
  if (needGlibc) {
    return (
      `the native module needs glibc ${needGlibc[1]} or newer, this system has ${glibc ?? 'an older one'}` +
      ' (a binary built on a newer distribution than this one)'
    )
  }
  if (/version mismatch/i.test(text))
    return `${pkgName} is installed at a different version than deleverage`
  if (
    /invalid ELF header|file too short|wrong ELF class|not a valid Win32 application|mach-o file|incompatible architecture|Exec format error/i.test(
      text,
    )
  ) {
    return 'a native module was found but was built for another platform or is damaged'
  }
  if (process.env.NAPI_RS_NATIVE_LIBRARY_PATH) {
    return `NAPI_RS_NATIVE_LIBRARY_PATH=${process.env.NAPI_RS_NATIVE_LIBRARY_PATH} overrides the native module and did not load`
  }
  if (text.includes(`Cannot find module '${pkgName}'`)) {
    return (
      `${pkgName} is not installed: npm skips optional dependencies with --omit=optional / --no-optional, ` +
      'and may skip them when the lockfile was made on another platform (npm/cli#4828)'
    )
  }
  return null
}

/**
 * The warning's one line: that the TypeScript engine is used, why (the diagnosis, else the
 * innermost cause), the likeliest fix, and the switches to silence it or see the details.
 */
export function summarizeLoadFailure(err: unknown): string {
  const triple = rustTargetTriple()
  const header = process.platform === 'linux' ? reportHeader() : undefined
  const facts = packageFacts(findPackageRoot())
  const pkgName = `${facts.bindingPrefix}-${napiPlatformSuffix()}`
  const chain = causeChain(err)
  const innermost = (chain[chain.length - 1] ?? 'unknown error').trim()
  const why =
    diagnose(chain, pkgName, header?.glibcVersionRuntime) ??
    (innermost.length > 160 ? `${innermost.slice(0, 157)}...` : innermost)
  const prebuilt = facts.targets === null || facts.targets.includes(triple)
  const fix = prebuilt
    ? `npm install ${facts.version ? `${pkgName}@${facts.version}` : pkgName}`
    : `install Rust${facts.rustVersion ? ` >= ${facts.rustVersion}` : ''} and npm rebuild deleverage (no prebuilt binary for ${triple})`
  return (
    `deleverage: native module not loaded for ${triple}, using the TypeScript engine (same results, slower): ${why}. ` +
    `Fix: ${fix}; silence: DELEVERAGE_FORCE_JS=1; details: DELEVERAGE_DEBUG=1`
  )
}

/** Human-readable, actionable explanation of a native load failure (the DELEVERAGE_DEBUG=1 detail). */
export function describeLoadFailure(err: unknown): string {
  const suffix = napiPlatformSuffix()
  const triple = rustTargetTriple()
  const header = process.platform === 'linux' ? reportHeader() : undefined
  const libc =
    process.platform === 'linux'
      ? `, ${header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : detectLibc()}`
      : ''
  const root = findPackageRoot()
  const facts = packageFacts(root)
  const pkgName = `${facts.bindingPrefix}-${suffix}`
  const pkgSpec = facts.version ? `${pkgName}@${facts.version}` : pkgName
  const prebuilt = facts.targets === null ? null : facts.targets.includes(triple)
  const local = root
    ? join(root, `${PACKAGE_NAME}.${suffix}.node`)
    : `${PACKAGE_NAME}.${suffix}.node`
  const chain = causeChain(err)
  const why = diagnose(chain, pkgName, header?.glibcVersionRuntime)
  const rust = `Rust${facts.rustVersion ? ` ${facts.rustVersion} or newer` : ''} (https://rustup.rs)`
  return [
    'deleverage: the native module could not be loaded; using the TypeScript implementation (same results, slower).',
    `  platform: ${process.platform} ${process.arch}${libc} (node ${process.version}, napi ${process.versions.napi ?? '?'}),` +
      ` target ${triple}`,
    prebuilt === false
      ? `  expected: a source build at ${local}; no prebuilt package ${pkgName} is published for ${triple}`
      : `  expected: the npm package ${pkgSpec} (an optional dependency of deleverage), or a source build at ${local}`,
    '  cause chain:',
    ...chain.map((l) => `    ${l}`),
    ...(why ? [`  likely cause: ${why}`] : []),
    '  to fix, one of:',
    ...(prebuilt === false
      ? []
      : [
          `    - install the prebuilt binary: npm install ${pkgSpec} (or reinstall deleverage without --omit=optional)`,
        ]),
    `    - build from source: install ${rust}, then run: npm rebuild deleverage`,
    '    - keep the TypeScript implementation and silence this warning: set DELEVERAGE_FORCE_JS=1',
  ].join('\n')
}
