#!/usr/bin/env node
// The per-platform npm packages of deleverage (npm/<suffix>/, one per
// `napi.targets` entry, named `<napi.packageName>-<suffix>`, e.g. npm/linux-x64-gnu ->
// @deleverage/binding-linux-x64-gnu). Scoped, as @swc/core, oxc-resolver and @node-rs/* do: only
// members of the @deleverage npm org can publish a name the loader would load.
//
//   node scripts/platform-packages.js check            npm/ agrees with package.json
//   node scripts/platform-packages.js check --release  ... and optionalDependencies are set
//                                                      (after `napi prepublish`, before `npm publish`)
//   node scripts/platform-packages.js host             this machine's suffix, e.g. linux-x64-gnu
//   node scripts/platform-packages.js optional-deps    the optionalDependencies `napi prepublish` adds
//
// The root package.json does NOT commit optionalDependencies: npm skips an
// optional dependency that 404s on `npm install`, but `npm ci` rejects the
// lockfile ("Missing: @deleverage/binding-linux-x64-gnu@ from lock file") while the
// platform packages are unpublished. `napi prepublish` writes them at publish
// time, pinned to the package version, exactly like this module computes.
//
// Usable without dev dependencies (the release test jobs have none): only
// `check` and `optional-deps` need @napi-rs/cli (for its triple parser).
'use strict'

const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(__dirname, '..')
const npmDir = path.join(root, 'npm')

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'))
}

function rootPackage() {
  return readJson(path.join(root, 'package.json'))
}

function isMusl() {
  if (process.platform !== 'linux') return false
  // Same order as the napi-rs generated loader: ldd's text, then the report.
  try {
    return fs.readFileSync('/usr/bin/ldd', 'utf8').includes('musl')
  } catch {
    const header = process.report?.getReport().header
    return !header?.glibcVersionRuntime
  }
}

/** napi-rs `platformArchABI` of this process, e.g. linux-x64-gnu, darwin-arm64, win32-x64-msvc. */
function hostSuffix() {
  const { platform, arch } = process
  if (platform === 'win32') return `win32-${arch}-msvc`
  if (platform === 'darwin') return `darwin-${arch}`
  if (platform === 'linux') {
    if (arch === 'arm') return `linux-arm-${isMusl() ? 'musleabihf' : 'gnueabihf'}`
    return `linux-${arch}-${isMusl() ? 'musl' : 'gnu'}`
  }
  return `${platform}-${arch}`
}

/** [{ triple, suffix, platform, arch, abi }] for every napi target, in package.json order. */
function targets(pkg = rootPackage()) {
  const { parseTriple } = require(require.resolve('@napi-rs/cli', { paths: [root] }))
  return pkg.napi.targets.map((t) => {
    const p = parseTriple(t)
    return {
      triple: p.triple,
      suffix: p.platformArchABI,
      platform: p.platform,
      arch: p.arch,
      abi: p.abi,
    }
  })
}

/** `napi.packageName` (what napi-rs names the platform packages after), else the package name. */
function bindingPrefix(pkg) {
  return pkg.napi?.packageName || pkg.name
}

function packageName(pkg, suffix) {
  return `${bindingPrefix(pkg)}-${suffix}`
}

/** The optionalDependencies map `napi prepublish` writes: every platform package at this version. */
function releaseOptionalDependencies(pkg = rootPackage()) {
  const deps = {}
  for (const t of targets(pkg)) deps[packageName(pkg, t.suffix)] = pkg.version
  return deps
}

/** Problems with npm/ (empty when consistent). `release` also requires optionalDependencies. */
function check({ release = false } = {}) {
  const pkg = rootPackage()
  const binaryName = pkg.napi.binaryName
  const problems = []
  const expectedDirs = new Set()
  const loader = fs.readFileSync(path.join(root, 'index.js'), 'utf8')
  for (const t of targets(pkg)) {
    expectedDirs.add(t.suffix)
    const dir = path.join(npmDir, t.suffix)
    const file = path.join(dir, 'package.json')
    if (!fs.existsSync(file)) {
      problems.push(`npm/${t.suffix}/package.json is missing (run: npx napi create-npm-dirs)`)
      continue
    }
    const m = readJson(file)
    const node = `${binaryName}.${t.suffix}.node`
    const want = {
      name: packageName(pkg, t.suffix),
      version: pkg.version,
      main: node,
      files: [node],
      license: pkg.license,
      engines: { node: pkg.engines.node },
      os: [t.platform],
      cpu: [t.arch],
      // The registry page links back to the main package's repository; scoped names publish
      // restricted (paid, private) unless told otherwise.
      repository: pkg.repository,
      homepage: pkg.homepage,
      bugs: pkg.bugs,
      keywords: pkg.keywords,
      publishConfig: { access: 'public' },
    }
    if (t.platform === 'linux') want.libc = [t.abi === 'musl' ? 'musl' : 'glibc']
    for (const [key, value] of Object.entries(want)) {
      if (JSON.stringify(m[key]) !== JSON.stringify(value)) {
        problems.push(
          `npm/${t.suffix}/package.json: ${key} is ${JSON.stringify(m[key])}, expected ${JSON.stringify(value)}`,
        )
      }
    }
    if (!loader.includes(`require('${want.name}')`))
      problems.push(`index.js does not load ${want.name} (run: npm run build:native)`)
    if (t.platform !== 'linux' && m.libc !== undefined)
      problems.push(`npm/${t.suffix}/package.json: unexpected libc`)
    if (!fs.existsSync(path.join(dir, 'README.md')))
      problems.push(`npm/${t.suffix}/README.md is missing`)
  }
  if (fs.existsSync(npmDir)) {
    for (const entry of fs.readdirSync(npmDir)) {
      if (!expectedDirs.has(entry)) problems.push(`npm/${entry} is not in napi.targets`)
    }
  }
  // The generated loader pins the platform package version it accepts.
  if (!loader.includes(`bindingPackageVersion !== '${pkg.version}'`)) {
    problems.push(
      `index.js does not check for platform packages at version ${pkg.version} (run: npm run build:native)`,
    )
  }
  const managed = Object.keys(pkg.optionalDependencies || {}).filter((n) =>
    n.startsWith(`${bindingPrefix(pkg)}-`),
  )
  const wanted = releaseOptionalDependencies(pkg)
  if (release) {
    for (const [name, version] of Object.entries(wanted)) {
      const got = pkg.optionalDependencies?.[name]
      if (got !== version)
        problems.push(
          `optionalDependencies.${name} is ${JSON.stringify(got)}, expected "${version}" (run: npx napi prepublish -t npm)`,
        )
    }
    for (const name of managed)
      if (!(name in wanted)) problems.push(`optionalDependencies.${name} is not a napi target`)
  } else if (managed.length > 0) {
    problems.push(
      `package.json commits optionalDependencies (${managed.join(', ')}); they are added by \`napi prepublish\` at ` +
        'publish time, otherwise `npm ci` fails while the platform packages are unpublished',
    )
  }
  return problems
}

module.exports = {
  root,
  npmDir,
  rootPackage,
  hostSuffix,
  targets,
  bindingPrefix,
  packageName,
  releaseOptionalDependencies,
  check,
}

if (require.main === module) {
  const [cmd, ...rest] = process.argv.slice(2)
  if (cmd === 'host') {
    console.log(hostSuffix())
  } else if (cmd === 'optional-deps') {
    console.log(JSON.stringify(releaseOptionalDependencies(), null, 2))
  } else if (cmd === 'check') {
    const release = rest.includes('--release')
    const problems = check({ release })
    if (problems.length) {
      for (const p of problems) console.error(`platform-packages: ${p}`)
      process.exit(1)
    }
    console.log(
      `platform-packages: npm/ matches napi.targets (${targets().length} packages)${release ? ', optionalDependencies set' : ''}`,
    )
  } else {
    console.error(
      'usage: node scripts/platform-packages.js check [--release] | host | optional-deps',
    )
    process.exit(2)
  }
}
