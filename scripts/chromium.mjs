#!/usr/bin/env node
// The Chromium the browser test (test/report.test.ts) drives through playwright-core, found
// without anything installed by hand:
//
//   1. DELEVERAGE_CHROMIUM=/path/to/chromium, when set;
//   2. the system's /usr/bin/chromium (Debian's package), when present;
//   3. the headless Chromium shipped in the dev dependency @sparticuz/chromium (linux x64 only),
//      unpacked once into node_modules/.cache/deleverage-chromium/<version>/ with the libraries it
//      needs (nss, nspr, expat) and a font, so it runs on a machine without any of them;
//   4. elsewhere (linux arm64, macOS), the browser playwright-core manages, when one was installed
//      (`npx playwright-core install chromium`; CI's arm64 cells do).
//
//   node scripts/chromium.mjs      unpack if needed and print which browser the test will use
//                                  (exit 1 with the reason when there is none)
import { spawnSync } from 'node:child_process'
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const SYSTEM = '/usr/bin/chromium'

/** Flags for a headless run that touches no network and keeps no state (a new profile per run). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

function executable(file) {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The @sparticuz/chromium package directory and version, or null when it is not installed. */
function sparticuz() {
  try {
    const entry = createRequire(join(root, 'package.json')).resolve('@sparticuz/chromium')
    let dir = dirname(entry)
    while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir)
    return { dir, version: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version }
  } catch {
    return null
  }
}

/** The Chromium playwright-core downloads with `playwright-core install chromium`, if present. */
function playwrightChromium() {
  try {
    const file = createRequire(join(root, 'package.json'))(
      'playwright-core',
    ).chromium.executablePath()
    return executable(file) ? file : null
  } catch {
    return null
  }
}

// Unpacks into a temporary directory, renamed into place when complete: an interrupted run never
// leaves a half-written binary that a later run would trust. The package unpacks into os.tmpdir(),
// so the child process gets TMPDIR pointed at that directory.
function unpack(pkg, dest) {
  const cache = dirname(dest)
  mkdirSync(cache, { recursive: true })
  const tmp = mkdtempSync(join(cache, '.unpack-'))
  try {
    const script = `
      const { default: Chromium, inflate } = await import(${JSON.stringify(join(pkg.dir, 'build', 'index.js'))})
      await Chromium.executablePath()
      await inflate(${JSON.stringify(join(pkg.dir, 'bin', 'al2023.tar.br'))})`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, TMPDIR: tmp },
      encoding: 'utf8',
    })
    if (r.status !== 0 || !executable(join(tmp, 'chromium'))) {
      throw new Error(
        `unpacking @sparticuz/chromium ${pkg.version} failed: ${(r.stderr || r.error?.message || '').trim()}`,
      )
    }
    // Its fonts.conf names /tmp/fonts; point fontconfig at the unpacked font (and the system's).
    writeFileSync(
      join(tmp, 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>\n  <dir>${join(dest, 'fonts')}</dir>\n  <dir>/usr/share/fonts</dir>\n  <cachedir>${join(dest, 'fonts-cache')}</cachedir>\n</fontconfig>\n`,
    )
    rmSync(dest, { recursive: true, force: true })
    renameSync(tmp, dest)
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/**
 * The browser to launch: `{ executablePath, env, source }` (env: what to add to the environment),
 * or `{ executablePath: null, reason }` when there is none.
 */
export function findChromium() {
  const override = process.env.DELEVERAGE_CHROMIUM
  if (override) {
    return executable(override)
      ? { executablePath: override, env: {}, source: `DELEVERAGE_CHROMIUM=${override}` }
      : {
          executablePath: null,
          reason: `DELEVERAGE_CHROMIUM=${override} is not an executable file`,
        }
  }
  if (executable(SYSTEM))
    return { executablePath: SYSTEM, env: {}, source: `the system's ${SYSTEM}` }
  const pkg = sparticuz()
  if (!pkg) {
    return {
      executablePath: null,
      reason: `neither ${SYSTEM} nor the dev dependency @sparticuz/chromium is installed (run npm install)`,
    }
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    const managed = playwrightChromium()
    if (managed) return { executablePath: managed, env: {}, source: `playwright-core's ${managed}` }
    return {
      executablePath: null,
      reason: `no ${SYSTEM}, and @sparticuz/chromium ships a linux-x64 build only (this is ${process.platform}-${process.arch}): install chromium, run npx playwright-core install chromium, or set DELEVERAGE_CHROMIUM`,
    }
  }
  const dest = join(root, 'node_modules', '.cache', 'deleverage-chromium', pkg.version)
  if (!executable(join(dest, 'chromium'))) unpack(pkg, dest)
  const libs = join(dest, 'al2023', 'lib')
  return {
    executablePath: join(dest, 'chromium'),
    env: {
      LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH
        ? `${libs}:${process.env.LD_LIBRARY_PATH}`
        : libs,
      FONTCONFIG_FILE: join(dest, 'fonts.conf'),
    },
    source: `@sparticuz/chromium ${pkg.version} (unpacked in ${dest})`,
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const found = findChromium()
    if (!found.executablePath) {
      console.log(`chromium: none: ${found.reason}`)
      process.exit(1)
    }
    console.log(`chromium: ${found.source}`)
  } catch (e) {
    console.log(`chromium: none: ${e instanceof Error ? e.message : String(e)}`)
    process.exit(1)
  }
}
