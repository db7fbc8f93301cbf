#!/usr/bin/env node
// Lists the functions longer than a screen (CONTRIBUTING.md: ~70 lines) in the Rust crates and
// the TypeScript sources, longest first, marking the ones CONTRIBUTING.md exempts (tables and
// decoders). A guide for splitting, not a gate: it exits 0 whatever it finds.
//
//   node scripts/long-functions.mjs [--max N] [--json]
//
// The scan is by braces, not a parser: a function starts at a line that declares one (Rust `fn`,
// TypeScript `function`, a method, or a `const f = (…) =>` arrow with a block body) and ends
// where its braces close. Braces inside strings, comments and template literals are skipped.
import { readdirSync, readFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const args = process.argv.slice(2)
const max = Number(args[args.indexOf('--max') + 1]) || 70
const asJson = args.includes('--json')

/** Functions exempt from the size rule, by `path:name`, with why (CONTRIBUTING.md). */
export const EXEMPT = {
  'crates/core/src/snapshot.rs:decode_body':
    'a decoder: one read and check per field, in format order',
  'crates/core/src/snapshot.rs:state_bytes': 'an encoder: one write per field, in format order',
  'src/fallback/snapshot.ts:decodeBody': 'a decoder: one read and check per field, in format order',
  'src/fallback/snapshot.ts:encodeState': 'an encoder: one write per field, in format order',
  'src/fallback/pretrade-snapshot.ts:decodePretrade':
    'a decoder: one read and check per field of the pre-trade section, in format order',
  'src/scenario.ts:parseScenario': 'a decoder: one check per field of the scenario format',
}

const SOURCES = [
  ['crates/core/src', '.rs'],
  ['crates/node/src', '.rs'],
  ['src', '.ts'],
]

function files(dir, ext) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((d) => {
    const p = join(dir, d.name)
    if (d.isDirectory()) return d.name === 'generated' ? [] : files(p, ext)
    return d.name.endsWith(ext) ? [p] : []
  })
}

const RUST_FN = /^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:unsafe\s+)?fn\s+([A-Za-z_]\w*)/
const TS_FN = [
  /^\s*(?:export\s+)?(?:async\s+)?function\*?\s+([A-Za-z_$][\w$]*)/,
  /^\s*(?:export\s+)?(?:const|let)\s+([A-Za-z_$][\w$]*)\s*=\s*(?:async\s+)?(?:\([^)]*\)|[A-Za-z_$][\w$]*)\s*(?::[^=]*)?=>\s*\{\s*$/,
  /^\s*(?:(?:private|public|protected|static|override|async|readonly|get|set)\s+)*([A-Za-z_$][\w$]*)\s*(?:<[^>]*>)?\([^;]*$/,
]
const NOT_METHOD = new Set(['if', 'for', 'while', 'switch', 'catch', 'return', 'function', 'new'])

/** Braces of one line outside strings and comments (`depth`, its change; `peak`, the deepest it
 * reaches), and its parentheses (`parens`); `state` carries block comments/templates. */
function braces(line, state) {
  let depth = 0
  let peak = 0
  let parens = 0
  for (let i = 0; i < line.length; i++) {
    const c = line[i]
    const two = line.slice(i, i + 2)
    if (state.block) {
      if (two === '*/') {
        state.block = false
        i++
      }
      continue
    }
    if (state.quote) {
      if (c === '\\') i++
      else if (c === state.quote) state.quote = null
      continue
    }
    if (two === '//') break
    if (two === '/*') {
      state.block = true
      i++
    } else if (c === '"' || c === '`' || (c === "'" && !state.rust)) state.quote = c
    else if (c === '{') peak = Math.max(peak, ++depth)
    else if (c === '}') depth--
    else if (c === '(') parens++
    else if (c === ')') parens--
  }
  if (state.quote !== '`') state.quote = null
  return { depth, peak, parens }
}

function scan(path) {
  const rust = path.endsWith('.rs')
  const lines = readFileSync(join(root, path), 'utf8').split('\n')
  const found = []
  // { name, start line, depth and parentheses before it, whether its body has opened }
  const open = []
  const state = { block: false, quote: null, rust }
  let depth = 0
  let parens = 0
  lines.forEach((line, i) => {
    let name = null
    if (!state.block && !state.quote) {
      const m = rust ? RUST_FN.exec(line) : TS_FN.map((r) => r.exec(line)).find(Boolean)
      if (m && !NOT_METHOD.has(m[1])) name = m[1]
    }
    const before = depth
    const b = braces(line, state)
    depth += b.depth
    parens += b.parens
    if (name) open.push({ name, start: i + 1, before, parens: parens - b.parens, body: false })
    const top = open.at(-1)
    if (top && !top.body) {
      // The body opens on the signature's first line or on its last (a parameter list over
      // several lines). A signature that ends without one (a trait or interface item, an
      // overload, or a call the pattern took for a method) is no function.
      if (before + b.peak > top.before) top.body = true
      else if (rust ? /;\s*$/.test(line) : parens <= top.parens) open.pop()
      return
    }
    while (open.length && depth <= open.at(-1).before && i + 1 > open.at(-1).start) {
      const f = open.pop()
      found.push({ path, name: f.name, start: f.start, lines: i + 2 - f.start })
    }
  })
  return found
}

const all = SOURCES.flatMap(([dir, ext]) => files(dir, ext)).flatMap((f) =>
  scan(relative(root, join(root, f))),
)
const long = all
  .filter((f) => f.lines > max)
  .sort((a, b) => b.lines - a.lines)
  .map((f) => ({ ...f, exempt: EXEMPT[`${f.path}:${f.name}`] ?? null }))

if (asJson) console.log(JSON.stringify({ max, functions: long }, null, 1))
else {
  console.log(`functions over ${max} lines (${long.length}; * exempt, CONTRIBUTING.md):`)
  for (const f of long)
    console.log(
      `${String(f.lines).padStart(5)}  ${f.exempt ? '*' : ' '} ${f.path}:${f.start} ${f.name}${f.exempt ? ` (${f.exempt})` : ''}`,
    )
}
