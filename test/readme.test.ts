// The README's API tour runs, on both engines, and prints what the README says it prints.
//
// Every ```js block of the "API tour" section runs in order in one scope (the import line becomes a
// destructuring of the package). A code line followed by `// → …` comment lines (continued with
// `//   `) is an expression whose value, shown by util.inspect as Node's REPL would, must be
// exactly those lines. `README_UPDATE=1 npx vitest run test/readme.test.ts` rewrites the `// →`
// lines from a run (then read the diff: the test is only as honest as that review).
import { readFileSync, writeFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import * as deleverage from '../src/index.js'
import { IMPLEMENTATIONS } from './helpers.js'

const readmePath = new URL('../README.md', import.meta.url)
const SECTION = '## API tour'
const ARROW = '// → '
const MORE = '//   '

function shown(value: unknown): string {
  return inspect(value, { depth: 6, breakLength: 96, compact: 3 })
}

interface Expectation {
  /** Line index in the README of the expression, and of the first and last `// →` line. */
  line: number
  from: number
  to: number
  text: string
}

/** The tour's code lines (README line numbers kept) and its expectations. */
function tour(readme: string[]): { code: Array<[number, string]>; expects: Expectation[] } {
  const start = readme.indexOf(SECTION)
  const end = readme.findIndex((l, i) => i > start && l.startsWith('## '))
  const code: Array<[number, string]> = []
  const expects: Expectation[] = []
  let inBlock = false
  for (let i = start; i < end; i++) {
    const l = readme[i]!
    if (l.startsWith('```')) {
      inBlock = !inBlock && l === '```js'
      continue
    }
    if (!inBlock) continue
    if (l.startsWith(ARROW)) {
      let to = i
      while (readme[to + 1]?.startsWith(MORE)) to++
      const text = readme
        .slice(i, to + 1)
        .map((x) => x.slice(ARROW.length))
        .join('\n')
      expects.push({ line: code[code.length - 1]![0], from: i, to, text })
      i = to
      continue
    }
    code.push([i, l])
  }
  return { code, expects }
}

/** Run the tour with `implementation`; the value of each expectation's expression, in order. */
async function run(readme: string[], implementation: 'native' | 'js'): Promise<string[]> {
  const { code, expects } = tour(readme)
  const marked = new Set(expects.map((e) => e.line))
  const body = code
    .map(([i, l]) => {
      const imp = /^import \{([^}]*)\} from 'deleverage'/.exec(l)
      if (imp) return `const {${imp[1]}} = deleverage`
      return marked.has(i) ? `__show(${l.replace(/;\s*$/, '')}\n)` : l
    })
    .join('\n')
  const values: string[] = []
  class Engine extends deleverage.Engine {
    constructor(o: deleverage.EngineOptions = {}) {
      super({ ...o, implementation })
    }
  }
  const AsyncFunction = (async () => {}).constructor as new (
    ...a: string[]
  ) => (...v: unknown[]) => Promise<void>
  await new AsyncFunction('deleverage', '__show', body)({ ...deleverage, Engine }, (v: unknown) =>
    values.push(shown(v)),
  )
  return values
}

describe("the README's API tour", () => {
  const readme = readFileSync(readmePath, 'utf8').split('\n')
  const { expects } = tour(readme)

  it('has examples with their output', () => {
    expect(expects.length).toBeGreaterThanOrEqual(8)
  })

  for (const implementation of IMPLEMENTATIONS) {
    it(`runs on the ${implementation} engine and prints what it shows`, async () => {
      const values = await run(readme, implementation)
      expect(values.length).toBe(expects.length)
      if (process.env.README_UPDATE === '1' && implementation === 'native') {
        for (const [k, e] of [...expects.entries()].reverse()) {
          const lines = values[k]!.split('\n').map((x, j) => (j === 0 ? ARROW : MORE) + x)
          readme.splice(e.from, e.to - e.from + 1, ...lines)
        }
        writeFileSync(readmePath, readme.join('\n'))
        return
      }
      for (const [k, e] of expects.entries())
        expect(values[k], `README.md line ${e.line + 1}: ${readme[e.line]}`).toBe(e.text)
    })
  }

  it('shows what liquidates, what is taken over and what is deleveraged', () => {
    const text = expects.map((e) => e.text).join('\n')
    for (const kind of ['liquidationFill', 'takeover', 'engineFill', 'adlFill'])
      expect(text, kind).toContain(`'${kind}'`)
  })
})
