#!/usr/bin/env node
// postinstall for `deleverage`.
//
// 1. Native module: if `cargo` is on PATH, build the napi-rs module in release
//    mode. In a dev clone that is `npm run build:native` (@napi-rs/cli, which
//    also regenerates index.js / index.d.ts); in an installed copy without the
//    CLI it is a plain `cargo build --release` whose cdylib is copied to
//    deleverage.<platform>.node next to the shipped index.js (one line before and after, also
//    on the terminal since npm hides script output; the cargo target/ is removed). If cargo is
//    missing or the build fails, print ONE line and carry on: the package runs
//    on its TypeScript implementation. Never fails the install.
//    DELEVERAGE_SKIP_NATIVE_BUILD=1 skips this step.
//    In an installed copy a prebuilt binary comes first: when the loader
//    (index.js) already loads one (the platform package npm installed from
//    optionalDependencies, e.g. @deleverage/binding-linux-x64-gnu), nothing is built.
//    DELEVERAGE_BUILD_FROM_SOURCE=1 builds anyway; the loader tries the local
//    deleverage.<platform>.node before the platform package, so it wins.
// 2. TypeScript: `npm run build:ts` when typescript is installed (dev clone);
//    a published package ships dist/ prebuilt, so skip when dist/ exists and
//    typescript is not installed.
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const FALLBACK = 'will run on its TypeScript implementation (slower, same results)'
// A git checkout has the TS sources and build configs; a published tarball
// ships dist/, index.js and the Rust sources only.
const isDevClone =
  fs.existsSync(path.join(root, 'src')) && fs.existsSync(path.join(root, 'tsconfig.build.json'))

function canResolve(id) {
  try {
    require.resolve(id, { paths: [root] })
    return true
  } catch {
    return false
  }
}

function hasCargo() {
  const r = spawnSync('cargo', ['--version'], {
    stdio: 'ignore',
    shell: process.platform === 'win32',
  })
  return !r.error && r.status === 0
}

function npmRun(script) {
  const npmCli = process.env.npm_execpath
  const r =
    npmCli && /\.[cm]?js$/.test(npmCli)
      ? spawnSync(process.execPath, [npmCli, 'run', script], { cwd: root, stdio: 'inherit' })
      : spawnSync('npm', ['run', script], {
          cwd: root,
          stdio: 'inherit',
          shell: process.platform === 'win32',
        })
  return !r.error && r.status === 0
}

// File suffix napi-rs uses for `--platform` builds (matches the generated index.js).
function napiPlatformSuffix() {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'linux') {
    const header = process.report?.getReport().header
    const musl = !header?.glibcVersionRuntime
    if (arch === 'arm') return `linux-arm-${musl ? 'musleabihf' : 'gnueabihf'}`
    return `linux-${arch}-${musl ? 'musl' : 'gnu'}`
  }
  return `${platform}-${arch}`
}

// npm (7+) runs install scripts in the background and shows their output only when they fail
// (or with --foreground-scripts). A minute of silent compiling looks like a hang, so the start
// and end of a source build also go to the terminal when there is one.
function progress(line) {
  console.log(line)
  if (process.env.npm_config_foreground_scripts === 'true' || process.platform === 'win32') return
  try {
    const fd = fs.openSync('/dev/tty', 'w')
    fs.writeSync(fd, `${line}\n`)
    fs.closeSync(fd)
  } catch {
    // no terminal (CI, Docker build): the log above is all there is
  }
}

// Installed-package path: no @napi-rs/cli, so drive cargo directly. Its target/ (about 100 MB)
// is removed afterwards unless the user chose CARGO_TARGET_DIR.
function cargoBuildAndCopy() {
  const ownTarget = !process.env.CARGO_TARGET_DIR
  const targetDir = process.env.CARGO_TARGET_DIR || path.join(root, 'target')
  const t0 = Date.now()
  progress(
    'deleverage: no prebuilt native module for this platform; compiling it from the Rust sources with cargo ' +
      '(about a minute; cargo output: npm install --foreground-scripts; skip: DELEVERAGE_SKIP_NATIVE_BUILD=1) ...',
  )
  try {
    const r = spawnSync(
      'cargo',
      [
        'build',
        '--release',
        '--locked',
        '-p',
        'deleverage-node',
        '--manifest-path',
        path.join(root, 'Cargo.toml'),
      ],
      {
        cwd: root,
        stdio: 'inherit',
        shell: process.platform === 'win32',
        env: { ...process.env, CARGO_TARGET_DIR: targetDir },
      },
    )
    if (r.error || r.status !== 0) return false
    const libName =
      {
        win32: 'deleverage_node.dll',
        darwin: 'libdeleverage_node.dylib',
      }[process.platform] || 'libdeleverage_node.so'
    const built = path.join(targetDir, 'release', libName)
    if (!fs.existsSync(built)) return false
    fs.copyFileSync(built, path.join(root, `deleverage.${napiPlatformSuffix()}.node`))
    progress(`deleverage: native module built in ${Math.round((Date.now() - t0) / 1000)} s.`)
    return true
  } finally {
    if (ownTarget) fs.rmSync(targetDir, { recursive: true, force: true })
  }
}

// Does the generated loader load a native module as installed? Checked in a
// child process so that a crashing binary cannot take the install down.
// Returns the file or package it loaded, or null.
function prebuiltLoads() {
  const probe =
    'const b = require(process.argv[1]); b.coreVersion();' +
    'const m = Object.values(require.cache).find((x) => x.filename.endsWith(".node"));' +
    'console.log(m ? m.filename : "")'
  const r = spawnSync(process.execPath, ['-e', probe, path.join(root, 'index.js')], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '' },
  })
  return !r.error && r.status === 0 ? r.stdout.trim() || 'index.js' : null
}

function buildNative() {
  if (!isDevClone && process.env.DELEVERAGE_BUILD_FROM_SOURCE !== '1') {
    const prebuilt = prebuiltLoads()
    if (prebuilt) {
      console.log(
        `deleverage: using the prebuilt native module ${path.relative(root, prebuilt) || prebuilt}.`,
      )
      return
    }
  }
  if (process.env.DELEVERAGE_SKIP_NATIVE_BUILD === '1') {
    console.log(
      `deleverage: DELEVERAGE_SKIP_NATIVE_BUILD=1, native module not built; deleverage ${FALLBACK}.`,
    )
    return
  }
  if (!hasCargo()) {
    console.log(
      `deleverage: Rust toolchain (cargo) not found, native module not built; deleverage ${FALLBACK}. ` +
        'Install Rust (https://rustup.rs) and reinstall to get the native engine.',
    )
    return
  }
  const ok =
    isDevClone && canResolve('@napi-rs/cli/package.json')
      ? npmRun('build:native')
      : cargoBuildAndCopy()
  if (!ok) {
    console.log(
      `deleverage: native module build failed (see cargo output above); deleverage ${FALLBACK}.`,
    )
  }
}

function buildTs() {
  const hasDist =
    fs.existsSync(path.join(root, 'dist', 'cjs')) && fs.existsSync(path.join(root, 'dist', 'esm'))
  if (!isDevClone || !canResolve('typescript/package.json')) {
    if (hasDist) return // published package: dist/ is prebuilt
    console.error(
      'deleverage: dist/ is missing and typescript is not installed; cannot build the TypeScript sources.',
    )
    process.exit(1)
  }
  if (!npmRun('build:ts')) {
    console.error('deleverage: TypeScript build (npm run build:ts) failed.')
    process.exit(1)
  }
}

try {
  buildNative()
} catch (err) {
  // Belt and braces: the native step must never break the install.
  console.log(`deleverage: native module not built (${err?.message}); deleverage ${FALLBACK}.`)
}
buildTs()
