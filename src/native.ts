// Loader for the napi-rs native module.
//
// The generated loader `index.js` sits in the package root (next to
// package.json). It is located by walking up from this file's directory to the
// `deleverage` package.json, which works from src/ (vitest, tsx), dist/esm/,
// dist/cjs/ and an installed node_modules/deleverage/dist/*.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { moduleDir, nativeRequire } from './native-require.cjs';
import type { CoreEngine } from './core.js';

/**
 * Shape of the native binding. Kept in sync with the napi-rs generated
 * index.d.ts by a type-level assertion in test/loader.test.ts.
 */
export interface NativeBinding {
  coreVersion(): string;
  /** The Rust engine; implements the integer-level CoreEngine interface of src/core.ts. */
  NativeEngine: new (quoteDecimals: number) => CoreEngine;
}

export interface NativeLoadResult {
  /** The native binding, or null when forced off or when loading failed. */
  binding: NativeBinding | null;
  /** Why loading failed; null when it succeeded or was forced off. */
  error: Error | null;
}

const PACKAGE_NAME = 'deleverage';

let cached: NativeLoadResult | undefined;
let warned = false;

export function isForcedJs(): boolean {
  return process.env.DELEVERAGE_FORCE_JS === '1';
}

/** Directory of the `deleverage` package root, or null if not found. */
export function findPackageRoot(start: string = moduleDir): string | null {
  let dir = start;
  for (let i = 0; i < 6; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // unreadable package.json: keep walking
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return null;
}

/**
 * Loads the native binding once (cached). With DELEVERAGE_FORCE_JS=1 nothing
 * is loaded and `{ binding: null, error: null }` is returned. A load failure
 * is returned (never thrown) and reported once via process.emitWarning.
 */
export function loadNative(): NativeLoadResult {
  if (isForcedJs()) return { binding: null, error: null };
  if (cached) return cached;
  try {
    const root = findPackageRoot();
    if (root === null) {
      throw new Error(`could not find the ${PACKAGE_NAME} package root (package.json) above ${moduleDir}`);
    }
    const binding = nativeRequire(join(root, 'index.js')) as NativeBinding;
    cached = { binding, error: null };
  } catch (e) {
    const error = e instanceof Error ? e : new Error(String(e));
    cached = { binding: null, error };
    warnOnce(error);
  }
  return cached;
}

function warnOnce(error: Error): void {
  if (warned) return;
  warned = true;
  process.emitWarning(describeLoadFailure(error), {
    type: 'DeleverageWarning',
    code: 'DELEVERAGE_NATIVE_UNAVAILABLE',
  });
}

function detectLibc(): 'glibc' | 'musl' | 'unknown' {
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined;
    if (!report?.header) return 'unknown';
    return report.header.glibcVersionRuntime ? 'glibc' : 'musl';
  } catch {
    return 'unknown';
  }
}

/** The `<platform>-<arch>[-<abi>]` suffix napi-rs uses for this process. */
export function napiPlatformSuffix(): string {
  const { platform, arch } = process;
  if (platform === 'win32') return `win32-${arch}-msvc`;
  if (platform === 'darwin') return `darwin-${arch}`;
  if (platform === 'android') return arch === 'arm' ? 'android-arm-eabi' : `android-${arch}`;
  if (platform === 'linux') {
    const musl = detectLibc() === 'musl';
    if (arch === 'arm') return `linux-arm-${musl ? 'musleabihf' : 'gnueabihf'}`;
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`;
  }
  return `${platform}-${arch}`;
}

/** Flattens an error's cause chain (Error causes, arrays, AggregateError). */
export function causeChain(err: unknown): string[] {
  const lines: string[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    const indent = '  '.repeat(depth);
    // napi-rs's createLoadErrorChain() ends its chain with `cause: null`.
    if (e === null || e === undefined || seen.has(e) || depth > 20) return;
    if (e !== null && typeof e === 'object') seen.add(e);
    if (Array.isArray(e)) {
      for (const item of e) visit(item, depth);
      return;
    }
    if (e instanceof Error) {
      const code = (e as NodeJS.ErrnoException).code;
      // First line only: Node appends a multi-line "Require stack:" to messages.
      const message = e.message.split('\n', 1)[0] ?? '';
      lines.push(`${indent}${e.name}${code ? ` [${code}]` : ''}: ${message}`);
      if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
      if (e.cause !== undefined) visit(e.cause, depth + 1);
      return;
    }
    lines.push(`${indent}${String(e).split('\n', 1)[0] ?? ''}`);
  };
  visit(err, 0);
  return lines;
}

/** Human-readable, actionable explanation of a native load failure. */
export function describeLoadFailure(err: unknown): string {
  const suffix = napiPlatformSuffix();
  const libc = process.platform === 'linux' ? `, libc ${detectLibc()}` : '';
  const root = findPackageRoot();
  return [
    'deleverage: the native module could not be loaded; using the TypeScript implementation (same results, slower).',
    `  platform: ${process.platform} ${process.arch}${libc} (node ${process.version}, napi ${process.versions.napi ?? '?'})`,
    `  expected: ${root ? join(root, `${PACKAGE_NAME}.${suffix}.node`) : `${PACKAGE_NAME}.${suffix}.node`}` +
      ` or the npm package ${PACKAGE_NAME}-${suffix}`,
    '  cause chain:',
    ...causeChain(err).map((l) => `    ${l}`),
    '  to fix: install Rust (https://rustup.rs) and reinstall deleverage (npm rebuild deleverage) to build the native module,',
    '          or set DELEVERAGE_FORCE_JS=1 to use the TypeScript implementation without this warning.',
  ].join('\n');
}
