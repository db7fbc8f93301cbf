#!/usr/bin/env node
// Packs the tarballs a release publishes, without publishing anything.
//
//   node scripts/pack.js main --out DIR [--release]
//       `npm pack` of the main package (needs dist/, i.e. `npm run build:ts`).
//       --release packs it as `napi prepublish` leaves it before `npm publish`:
//       with optionalDependencies on every platform package at this version
//       (from a staged copy; the repo's package.json is not touched).
//   node scripts/pack.js platform --out DIR [--suffix linux-x64-gnu] [--binary FILE]
//       `npm pack` of npm/<suffix> with the native module copied in
//       (default suffix: this machine's; default binary: ./deleverage.<suffix>.node,
//       the file `npm run build:native` or `napi build --platform` writes).
//
// Prints one JSON line per tarball: { file, name, version, size, unpackedSize, entryCount }.
// Refuses a main tarball that contains a .node file (the platform packages
// carry the binaries; a stray one would hide a broken optionalDependency).
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const platformPackages = require('./platform-packages.js')

const { root } = platformPackages

/** The environment for a nested npm: without the npm_* variables of an outer `npm run`. */
function npmEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v
  return { ...env, ...extra }
}

function npm(args, cwd, extraEnv) {
  const r = spawnSync('npm', args, {
    cwd,
    env: npmEnv(extraEnv),
    encoding: 'utf8',
    shell: process.platform === 'win32',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.error || r.status !== 0) {
    throw new Error(
      `npm ${args.join(' ')} (in ${cwd}) failed: ${r.error ? r.error.message : `exit ${r.status}`}\n${r.stderr}`,
    )
  }
  return r.stdout
}

/** `npm pack --json` of `dir` into `out`; returns npm's report for the one tarball. */
function npmPack(dir, out) {
  fs.mkdirSync(out, { recursive: true })
  const report = JSON.parse(
    npm(['pack', '--json', '--ignore-scripts', '--pack-destination', path.resolve(out)], dir),
  )[0]
  return { ...report, file: path.join(path.resolve(out), report.filename) }
}

function summary(report) {
  const { file, name, version, size, unpackedSize, entryCount } = report
  return { file, name, version, size, unpackedSize, entryCount }
}

function packMain({ out, release = false }) {
  if (
    !fs.existsSync(path.join(root, 'dist', 'cjs')) ||
    !fs.existsSync(path.join(root, 'dist', 'esm'))
  ) {
    throw new Error('dist/ is missing; run `npm run build:ts` first')
  }
  let report
  if (!release) {
    report = npmPack(root, out)
  } else {
    // Stage exactly the files `npm pack` would take, then add the
    // optionalDependencies `napi prepublish` writes, and pack the stage.
    const listed = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], root))[0]
      .files
    const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'deleverage-stage-'))
    try {
      for (const { path: rel } of listed) {
        fs.mkdirSync(path.dirname(path.join(stage, rel)), { recursive: true })
        fs.copyFileSync(path.join(root, rel), path.join(stage, rel))
      }
      const pkg = platformPackages.rootPackage()
      pkg.optionalDependencies = {
        ...pkg.optionalDependencies,
        ...platformPackages.releaseOptionalDependencies(pkg),
      }
      fs.writeFileSync(path.join(stage, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
      report = npmPack(stage, out)
    } finally {
      fs.rmSync(stage, { recursive: true, force: true })
    }
  }
  const stray = report.files.map((f) => f.path).filter((p) => p.endsWith('.node'))
  if (stray.length)
    throw new Error(
      `the main tarball contains native modules (${stray.join(', ')}); fix "files" in package.json`,
    )
  return report
}

function packPlatform({ out, suffix = platformPackages.hostSuffix(), binary }) {
  const pkgDir = path.join(platformPackages.npmDir, suffix)
  if (!fs.existsSync(path.join(pkgDir, 'package.json'))) {
    throw new Error(
      `no platform package npm/${suffix} (napi.targets has no target for this platform)`,
    )
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'))
  const src = path.resolve(binary || path.join(root, manifest.main))
  if (!fs.existsSync(src)) {
    throw new Error(
      `native module ${src} not found; build it with \`npm run build:native\` (or pass --binary)`,
    )
  }
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'deleverage-stage-'))
  try {
    for (const f of fs.readdirSync(pkgDir)) {
      if (!f.endsWith('.node')) fs.copyFileSync(path.join(pkgDir, f), path.join(stage, f))
    }
    fs.copyFileSync(src, path.join(stage, manifest.main))
    const report = npmPack(stage, out)
    if (!report.files.some((f) => f.path === manifest.main))
      throw new Error(`${report.filename} lacks ${manifest.main}`)
    return report
  } finally {
    fs.rmSync(stage, { recursive: true, force: true })
  }
}

module.exports = { npmEnv, packMain, packPlatform }

if (require.main === module) {
  const [kind, ...args] = process.argv.slice(2)
  const opt = (name) => {
    const i = args.indexOf(name)
    return i >= 0 ? args[i + 1] : undefined
  }
  const out = opt('--out') || process.cwd()
  try {
    let report
    if (kind === 'main') report = packMain({ out, release: args.includes('--release') })
    else if (kind === 'platform')
      report = packPlatform({ out, suffix: opt('--suffix'), binary: opt('--binary') })
    else {
      console.error(
        'usage: node scripts/pack.js main --out DIR [--release] | platform --out DIR [--suffix S] [--binary FILE]',
      )
      process.exit(2)
    }
    console.log(JSON.stringify(summary(report)))
  } catch (e) {
    console.error(`pack: ${e.message}`)
    process.exit(1)
  }
}
