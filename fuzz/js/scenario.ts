// Coverage-guided fuzzer for the scenario decoder (src/scenario.ts), in-process on Node.
//
//   node --import tsx fuzz/js/scenario.ts [--seconds N] [--runs N] [--seed N] [--replay] [--cmin]
//
// --replay runs the corpora once through the invariant check; --cmin rewrites the committed seeds
// fuzz/corpus/scenario/ as a small subset of seeds + working corpus with the same coverage
// (greedy: smallest inputs first, each kept if it reaches a new block).
//
// Why not Jazzer.js: @jazzer.js/core 4.0.0 installs, but its prebuilt libFuzzer addon needs
// GLIBC 2.38 and GLIBCXX 3.4.32 (Debian 12 has 2.36 / 3.4.30), and the only version that builds
// from source (2.1.0) downloads compiler-rt from GitHub at build time (docs/FUZZING.md).
//
// So this is a small greybox fuzzer of the AFL kind: V8's precise block coverage (the inspector's
// Profiler.takePreciseCoverage, with call counts) is the feedback; an input that reaches a new
// (block, hit-count bucket) of the project's own sources joins the corpus. Mutations are mostly
// structural — on the parsed JSON tree: replace a value with an interesting one, drop or add a
// field, duplicate or drop an array element, splice a subtree from another input — and sometimes
// byte-level on the text, so the JSON error path is fuzzed too. Each input is checked by
// checkScenario (fuzz/js/scenario-harness.ts); a violation is written to
// fuzz/artifacts/scenario/ and counted. A watchdog thread writes the running input there and
// kills the process if one input runs for more than --hang-seconds (a hang).

import { createHash } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { Session } from 'node:inspector'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { checkScenario, nativeLoaded, Violation } from './scenario-harness.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..', '..')
const args = process.argv.slice(2)
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt
}
const seconds = Number(opt('--seconds', '60'))
const maxRuns = Number(opt('--runs', 'Infinity'))
const hangSeconds = Number(opt('--hang-seconds', '10'))
const replay = args.includes('--replay')
const cmin = args.includes('--cmin')
let rngState = BigInt(opt('--seed', String(Date.now())))

const seedDir = join(root, 'fuzz', 'corpus', 'scenario')
const workDir = join(root, 'fuzz', 'corpus-work', 'scenario')
const artifactDir = join(root, 'fuzz', 'artifacts', 'scenario')
const scratch = join(
  existsSync('/dev/shm') ? '/dev/shm' : root,
  `deleverage-fuzz-scenario-${process.pid}.json`,
)

// ---- randomness (seeded: a run is reproducible with --seed and the same corpus) ----------------
function rand(n: number): number {
  // xorshift64*
  rngState ^= rngState >> 12n
  rngState ^= (rngState << 25n) & 0xffffffffffffffffn
  rngState ^= rngState >> 27n
  rngState &= 0xffffffffffffffffn
  return Number(((rngState * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) >> 11n) % n
}
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!

// ---- the corpus ----------------------------------------------------------------------------------
function readInputs(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
}
const seeds = [
  ...readInputs(seedDir),
  ...readInputs(join(root, 'test', 'fixtures', 'scenarios')),
  ...readInputs(workDir),
]
if (seeds.length === 0) seeds.push('{"markets":[],"accounts":[]}')

// ---- coverage feedback ---------------------------------------------------------------------------
const session = new Session()
session.connect()
function post<T>(method: string, params?: object): T {
  let out: T | undefined
  let error: Error | null = null
  // An in-process session answers synchronously.
  session.post(method, params ?? {}, (err, res) => {
    error = err
    out = res as T
  })
  if (error) throw error
  return out as T
}
interface Coverage {
  result: Array<{
    scriptId: string
    url: string
    functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>
  }>
}
const bucket = (c: number) =>
  c === 0
    ? 0
    : c === 1
      ? 1
      : c === 2
        ? 2
        : c === 3
          ? 3
          : c < 8
            ? 4
            : c < 16
              ? 5
              : c < 32
                ? 6
                : c < 128
                  ? 7
                  : 8
const seen = new Set<string>()
const blocksHit = new Set<string>()
function newFeatures(): number {
  const cov = post<Coverage>('Profiler.takePreciseCoverage')
  let fresh = 0
  for (const script of cov.result) {
    if (!script.url.includes('/src/')) continue
    for (const fn of script.functions) {
      for (const r of fn.ranges) {
        if (r.count === 0) continue
        const block = `${script.url}:${r.startOffset}:${r.endOffset}`
        blocksHit.add(block)
        // --cmin keeps block coverage only (hit counts would keep nearly every input).
        const key = cmin ? block : `${block}:${bucket(r.count)}`
        if (!seen.has(key)) {
          seen.add(key)
          fresh++
        }
      }
    }
  }
  return fresh
}

// ---- mutation ------------------------------------------------------------------------------------
const KEYS = [
  'quoteDecimals',
  'warningRatio',
  'markets',
  'accounts',
  'description',
  'insuranceFund',
  'waterfall',
  'fill',
  'symbol',
  'type',
  'priceDecimals',
  'qtyDecimals',
  'contractSize',
  'marginBasis',
  'tierForm',
  'tiers',
  'mark',
  'floor',
  'mmr',
  'imr',
  'maxLeverage',
  'maintAmount',
  'id',
  'balance',
  'positions',
  'qty',
  'entry',
  'cost',
  'isolatedMargin',
  'liquidationFee',
  'buffer',
  'ranking',
  'adlPrice',
  'fundPolicy',
  'kind',
  'trigger',
  'stop',
  'window',
  'ppmPerLot',
  'capPpm',
  '__proto__',
  'constructor',
  'toString',
]
const STRINGS = [
  '',
  '0',
  '-0',
  '+0',
  '1',
  '-1',
  '0.5',
  '1.',
  '.5',
  ' 1 ',
  '1e5',
  '0x10',
  '1_000',
  '١',
  '00001.000',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '99999999999999999999999999999999999999999',
  '0.000000000000000000000000000001',
  '1000000000000000',
  '1000000000000001',
  '100000000',
  '0.99999999',
  '125',
  'linear',
  'inverse',
  'mark',
  'entry',
  'deduction',
  'step',
  'bitmex',
  'binance',
  'hyperliquid',
  'prorata',
  'bankruptcy',
  'exhausted',
  'drawdown',
  'BTCUSDT',
  'BTCUSD',
  'whale',
  'a b',
  'x'.repeat(65),
  '\u0000',
  'é',
  '\ud800',
]
const NUMBERS = [
  0,
  1,
  -1,
  2,
  8,
  10,
  12,
  13,
  18,
  19,
  0.5,
  1e21,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  -0,
  4294967295,
  28800,
]
type J = null | boolean | number | string | J[] | { [k: string]: J }

function interesting(): J {
  switch (rand(9)) {
    case 0:
    case 1:
    case 2:
      return pick(STRINGS)
    case 3:
    case 4:
      return pick(NUMBERS)
    case 5:
      return pick([null, true, false] as J[])
    case 6:
      return []
    case 7:
      return {}
    default:
      return (
        String(rand(10) < 5 ? rand(1000) : BigInt(rand(1e9)) * 10n ** BigInt(rand(25))) +
        (rand(3) === 0 ? `.${rand(1e6)}` : '')
      )
  }
}

/** Every container in the tree with the key or index of each child: the places to mutate. */
function slots(v: J, out: Array<{ parent: J[] | { [k: string]: J }; key: string | number }> = []) {
  if (Array.isArray(v)) {
    v.forEach((c, i) => {
      out.push({ parent: v, key: i })
      slots(c, out)
    })
  } else if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      out.push({ parent: v, key: k })
      slots(v[k]!, out)
    }
  }
  return out
}
function containers(v: J, out: Array<J[] | { [k: string]: J }> = []) {
  if (Array.isArray(v)) {
    out.push(v)
    for (const c of v) containers(c, out)
  } else if (v && typeof v === 'object') {
    out.push(v)
    for (const c of Object.values(v)) containers(c, out)
  }
  return out
}
function subtree(text: string): J | undefined {
  try {
    const s = slots(JSON.parse(text) as J)
    if (s.length === 0) return undefined
    const { parent, key } = pick(s)
    return structuredClone((parent as Record<string | number, J>)[key] ?? null)
  } catch {
    return undefined
  }
}

/** Change a decimal string a little: a digit, its scale, its sign, its decimals. */
function tweakDecimal(s: string): string {
  switch (rand(6)) {
    case 0:
      return s + pick(['0', '1', '9', '.5', '000000000'])
    case 1:
      return s.startsWith('-') ? s.slice(1) : `-${s}`
    case 2:
      return s.replace(/\d/, () => String(rand(10)))
    case 3:
      return s.includes('.') ? s.split('.')[0]! : `${s}.${'0'.repeat(rand(20))}1`
    case 4:
      return s.length > 1 ? s.slice(0, -1) : '0'
    default:
      return '9'.repeat(1 + rand(25))
  }
}

function mutateTree(doc: J): J {
  const n = 1 + rand(3)
  for (let i = 0; i < n; i++) {
    const s = slots(doc)
    const c = containers(doc)
    const op = rand(10)
    if (s.length === 0 || op === 9) {
      const box = c.length ? pick(c) : null
      if (box && !Array.isArray(box)) box[pick(KEYS)] = interesting()
      else if (box) box.push(interesting())
      else doc = { markets: [], accounts: [] }
      continue
    }
    const { parent, key } = pick(s)
    const obj = parent as Record<string | number, J>
    const cur = obj[key]!
    switch (op) {
      case 0:
      case 1:
        obj[key] = interesting()
        break
      case 2:
        if (typeof cur === 'string') obj[key] = tweakDecimal(cur)
        else obj[key] = interesting()
        break
      case 3:
        if (Array.isArray(parent)) parent.splice(key as number, 1)
        else delete obj[key]
        break
      case 4:
        if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(cur))
        else obj[pick(KEYS)] = structuredClone(cur)
        break
      case 5: {
        const t = subtree(pick(corpus))
        if (t !== undefined) obj[key] = t
        break
      }
      case 6:
        if (typeof cur === 'number') obj[key] = cur + pick([-1, 1, 1e6, -1e6, 0.5])
        else obj[key] = pick(NUMBERS)
        break
      case 7:
        if (typeof cur === 'string') obj[key] = Number(cur)
        else if (typeof cur === 'number') obj[key] = String(cur)
        else obj[key] = interesting()
        break
      default: {
        const other = pick(s)
        const o2 = other.parent as Record<string | number, J>
        const tmp = o2[other.key]!
        o2[other.key] = cur
        obj[key] = tmp
      }
    }
  }
  return doc
}

function mutateBytes(text: string): string {
  const n = 1 + rand(4)
  let t = text
  for (let i = 0; i < n; i++) {
    const at = rand(t.length + 1)
    switch (rand(6)) {
      case 0:
        t = t.slice(0, at) + t.slice(at + 1 + rand(8))
        break
      case 1:
        t =
          t.slice(0, at) +
          pick([
            '{',
            '}',
            '[',
            ']',
            '"',
            ',',
            ':',
            '0',
            '-',
            '.',
            'e',
            '\\',
            '\u0000',
            ' ',
            'null',
            '"x":1',
          ]) +
          t.slice(at)
        break
      case 2:
        t = t.slice(0, at) + String.fromCharCode(rand(256)) + t.slice(at + 1)
        break
      case 3: {
        const o = pick(corpus)
        const b = rand(o.length + 1)
        t = t.slice(0, at) + o.slice(b, b + rand(64)) + t.slice(at)
        break
      }
      case 4:
        t = t.slice(0, at)
        break
      default:
        t = t.slice(0, at) + JSON.stringify(pick(KEYS)) + t.slice(at)
    }
  }
  return t
}

function mutate(text: string): string {
  if (rand(10) < 8) {
    try {
      const doc = mutateTree(JSON.parse(text) as J)
      return JSON.stringify(doc, null, rand(4) === 0 ? 1 : undefined)
    } catch {
      // not JSON (a byte-mutated input): mutate its bytes again
    }
  }
  return mutateBytes(text)
}

// ---- findings, watchdog --------------------------------------------------------------------------
const findings = new Map<string, string>()
function record(kind: string, text: string, message: string) {
  // One artifact per kind and message shape (numbers and paths' indices folded).
  const shape = `${kind}:${message.split('\n')[0]!.replace(/\d+/g, 'N').slice(0, 160)}`
  if (findings.has(shape)) return
  const hash = createHash('sha1').update(text).digest('hex').slice(0, 16)
  mkdirSync(artifactDir, { recursive: true })
  const file = join(artifactDir, `${kind}-${hash}.json`)
  writeFileSync(file, text)
  findings.set(shape, file)
  console.log(`FINDING ${kind}: ${message.split('\n').slice(0, 4).join(' | ')}\n  input: ${file}`)
}

const shared = new SharedArrayBuffer(8 + (1 << 20))
const beat = new BigInt64Array(shared, 0, 1)
const bytes = new Uint8Array(shared, 8)
function publish(text: string) {
  const b = Buffer.from(text)
  const n = Math.min(b.length, bytes.length - 4)
  new DataView(shared, 8, 4).setUint32(0, n, true)
  bytes.set(b.subarray(0, n), 4)
  Atomics.add(beat, 0, 1n)
}
if (!replay) {
  const watchdog = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads'); const fs = require('node:fs');
     const { shared, limit, dir, pid } = workerData; const beat = new BigInt64Array(shared, 0, 1);
     let last = -1n, since = Date.now();
     setInterval(() => { const b = Atomics.load(beat, 0);
       if (b !== last) { last = b; since = Date.now(); return }
       if (Date.now() - since > limit * 1000) {
         const n = new DataView(shared, 8, 4).getUint32(0, true);
         fs.mkdirSync(dir, { recursive: true }); const f = dir + '/hang-' + Date.now() + '.json';
         fs.writeFileSync(f, Buffer.from(new Uint8Array(shared, 12, n)));
         process.stderr.write('FINDING hang: one input ran for more than ' + limit + ' s\\n  input: ' + f + '\\n');
         process.kill(pid, 'SIGKILL') } }, 250).unref()`,
    { eval: true, workerData: { shared, limit: hangSeconds, dir: artifactDir, pid: process.pid } },
  )
  watchdog.unref()
}

function execute(text: string): boolean {
  publish(text)
  try {
    checkScenario(text, scratch)
    return true
  } catch (e) {
    if (e instanceof Violation) record(e.kind, text, e.message)
    else record('harness', text, String((e as Error)?.stack ?? e))
    return false
  }
}

// ---- main loop -----------------------------------------------------------------------------------
const corpus: string[] = []
const t0 = performance.now()
if (replay) {
  for (const s of seeds) execute(s)
  console.log(`scenario replay: ${seeds.length} inputs, ${findings.size} findings`)
  process.exit(findings.size ? 1 : 0)
}

post('Profiler.enable')
post('Profiler.startPreciseCoverage', { callCount: true, detailed: true })
newFeatures() // discard what loading the modules covered
for (const s of seeds) {
  execute(s)
  if (newFeatures() > 0) corpus.push(s)
}
if (cmin) {
  post('Profiler.takePreciseCoverage')
  seen.clear()
  const kept: string[] = []
  for (const s of [...new Set(seeds)].sort((a, b) => a.length - b.length)) {
    execute(s)
    if (newFeatures() > 0) kept.push(s)
  }
  mkdirSync(seedDir, { recursive: true })
  for (const f of readdirSync(seedDir)) rmSync(join(seedDir, f))
  for (const k of kept)
    writeFileSync(
      join(seedDir, `${createHash('sha1').update(k).digest('hex').slice(0, 16)}.json`),
      k,
    )
  console.log(
    `scenario cmin: ${seeds.length} inputs -> ${kept.length} in ${seedDir} (${kept.reduce((a, k) => a + k.length, 0)} bytes), ${seen.size} features`,
  )
  process.exit(0)
}
if (corpus.length === 0) corpus.push(seeds[0]!)
mkdirSync(workDir, { recursive: true })
let runs = 0
let lastReport = t0
const deadline = t0 + seconds * 1000
console.log(
  `scenario: ${seeds.length} seeds, ${corpus.length} kept, ${seen.size} features; native engine ${nativeLoaded ? 'loaded (parity checked)' : 'NOT loaded (TypeScript only)'}`,
)
while (runs < maxRuns) {
  const now = performance.now()
  if (now >= deadline) break
  const text = mutate(pick(corpus))
  if (text.length > 64 * 1024) continue
  runs++
  execute(text)
  if (newFeatures() > 0) {
    corpus.push(text)
    writeFileSync(join(workDir, createHash('sha1').update(text).digest('hex')), text)
  }
  if (now - lastReport > 10_000) {
    lastReport = now
    const s = (now - t0) / 1000
    console.log(
      `#${runs} corpus ${corpus.length} features ${seen.size} blocks ${blocksHit.size} exec/s ${Math.round(runs / s)} findings ${findings.size}`,
    )
  }
}
const secs = (performance.now() - t0) / 1000
console.log(
  `Done ${runs} runs in ${Math.round(secs)} second(s): exec/s ${Math.round(runs / secs)}, corpus ${corpus.length}, features ${seen.size}, blocks ${blocksHit.size}, findings ${findings.size}`,
)
for (const f of findings.values()) console.log(`  finding: ${f}`)
process.exit(findings.size ? 1 : 0)
