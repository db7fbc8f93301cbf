// Price paths for `deleverage simulate`: a CSV file (one row per step, one column per market) or
// a uniform shock over N steps. Prices become integer ticks; errors name the file, line and column.

import { readFileSync } from 'node:fs'
import { parseUnits } from './decimal.js'
import { DeleverageError } from './fallback/errors.js'
import { RATIO_SCALE } from './generated/tables.js'

export interface PathMarket {
  symbol: string
  priceDecimals: number
  /** Start mark in ticks (markets without a column keep it). */
  mark: bigint
}

/**
 * CSV: a header `step,BTCUSDT,ETHUSDT,...` (the first column is a label: step number or time,
 * not read), then one row per step with a mark price per listed market. Blank lines and lines
 * starting with `#` are skipped. Markets without a column keep their scenario mark.
 */
export function parsePathCsv(text: string, file: string, markets: PathMarket[]): bigint[][] {
  const bad = (line: number, what: string) =>
    new DeleverageError('INVALID_PATH', `${file} line ${line}: ${what}`)
  const lines = text.split(/\r?\n/)
  let header: string[] | null = null
  let cols: number[] = []
  const out: bigint[][] = []
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!.trim()
    if (raw === '' || raw.startsWith('#')) continue
    const cells = raw.split(',').map((c) => c.trim())
    if (header === null) {
      header = cells
      if (cells.length < 2)
        throw bad(
          n + 1,
          'the header needs a label column and at least one market column, e.g. "step,BTCUSDT"',
        )
      cols = cells.slice(1).map((sym, k) => {
        const i = markets.findIndex((m) => m.symbol === sym)
        if (i < 0)
          throw bad(
            n + 1,
            `column ${k + 2} "${sym}" is not a market of the scenario (markets: ${markets.map((m) => m.symbol).join(', ')})`,
          )
        if (cells.indexOf(sym, 1) !== k + 1) throw bad(n + 1, `column "${sym}" appears twice`)
        return i
      })
      continue
    }
    if (cells.length !== header.length)
      throw bad(n + 1, `${cells.length} cells, the header has ${header.length}`)
    const row = markets.map((m) =>
      out.length ? out[out.length - 1]![markets.indexOf(m)]! : m.mark,
    )
    cols.forEach((i, k) => {
      const m = markets[i]!
      try {
        row[i] = parseUnits(cells[k + 1]!, m.priceDecimals, `column ${m.symbol}`, {
          positive: 'INVALID_PRICE',
        })
      } catch (e) {
        throw bad(n + 1, (e as Error).message)
      }
    })
    out.push(row)
  }
  if (header === null)
    throw new DeleverageError(
      'INVALID_PATH',
      `${file}: empty; expected a header such as "step,BTCUSDT" and one row per step`,
    )
  if (out.length === 0)
    throw new DeleverageError('INVALID_PATH', `${file}: no steps after the header`)
  return out
}

export function readPathCsv(file: string, markets: PathMarket[]): bigint[][] {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new DeleverageError('INVALID_PATH', `${file}: cannot read (${(e as Error).message})`)
  }
  return parsePathCsv(text, file, markets)
}

/** "-20%" or "-0.2" → ppm (−200000). */
export function parseShock(text: string): bigint {
  const pct = /^([+-]?\d+(?:\.\d+)?)%$/.exec(text.trim())
  const ppm = pct ? parseUnits(pct[1]!, 4, '--shock') : parseUnits(text, 6, '--shock')
  if (ppm <= -RATIO_SCALE)
    throw new DeleverageError('INVALID_ARGUMENT', `--shock must be above −100 %, got ${text}`)
  return ppm
}

/** Every mark moves linearly to mark·(1 + shock) over `steps` steps (floored, at least a tick). */
export function shockPath(markets: PathMarket[], shockPpm: bigint, steps: number): bigint[][] {
  return Array.from({ length: steps }, (_, k) =>
    markets.map((m) => {
      const p =
        (m.mark * (RATIO_SCALE * BigInt(steps) + shockPpm * BigInt(k + 1))) /
        (RATIO_SCALE * BigInt(steps))
      return p < 1n ? 1n : p
    }),
  )
}
