// Plain-text output shared by the CLI and the demo.

import type { Writable } from 'node:stream'

const CHUNK_CHARS = 1 << 16

/**
 * Output written as it is produced: text is gathered into chunks of about 64 KiB, and the producer
 * awaits `flush()` when `write` says a chunk is full, so the writer waits for 'drain' (backpressure)
 * and a book's output never exists as one string (V8 strings stop at 2^29 characters). A reader
 * that goes away (EPIPE: `deleverage check … | head`) ends the output quietly: `closed` turns true
 * and later writes are dropped, so producers stop. Any other stream error is thrown by `flush`.
 */
export class Output {
  closed = false
  private parts: string[] = []
  private size = 0
  private error: Error | null = null
  private waiting: (() => void) | null = null

  constructor(private readonly stream: Writable) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') this.closed = true
      else this.error ??= e
      this.waiting?.()
    })
  }

  /** Queue `s`; true when a chunk is full and the caller should `await flush()`. */
  write(s: string): boolean {
    if (this.closed) return false
    this.parts.push(s)
    this.size += s.length
    return this.size >= CHUNK_CHARS
  }

  line(s = ''): boolean {
    return this.write(`${s}\n`)
  }

  /** Hand the queued text to the stream; wait for 'drain' when its buffer is full. */
  async flush(): Promise<void> {
    if (this.error) throw this.error
    if (this.closed || this.size === 0) return
    const chunk = this.parts.join('')
    this.parts = []
    this.size = 0
    if (!this.stream.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done)
          this.waiting = null
          resolve()
        }
        this.waiting = done
        this.stream.on('drain', done)
      })
    }
    if (this.error) throw this.error
  }
}

/** The widest cell of each column (a loop: spreading a book's rows into Math.max overflows the stack). */
export function columnWidths(rows: Iterable<string[]>, widths: number[] = []): number[] {
  for (const r of rows) {
    for (let c = 0; c < r.length; c++)
      if (widths[c] === undefined || r[c]!.length > widths[c]!) widths[c] = r[c]!.length
  }
  return widths
}

/** One table line: the first column left-aligned, the rest right-aligned. */
export function tableRow(r: string[], widths: number[]): string {
  return r
    .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
    .join('  ')
}

/** Columns padded to their widest cell: the first left-aligned, the rest right-aligned. */
export function table(rows: string[][]): string {
  const widths = columnWidths(rows)
  return rows.map((r) => tableRow(r, widths)).join('\n')
}

const DECIMAL_TEXT = /^([+-]?)(\d+)(?:\.(\d+))?$/

/**
 * A decimal string for people: thousands separators, and with `decimals` rounded half away from
 * zero to that many places (an amount that rounds to zero loses its sign). Anything that is not a
 * plain decimal (a "—", a ratio with "%") is returned as it is.
 */
export function displayDecimal(s: string, decimals?: number): string {
  const m = DECIMAL_TEXT.exec(s)
  if (!m) return s
  let int = m[2]!
  let frac = m[3] ?? ''
  if (decimals !== undefined && frac.length > decimals) {
    const up = frac.charCodeAt(decimals) >= 0x35 // the first dropped digit is 5 or more
    let digits = BigInt(int + frac.slice(0, decimals))
    if (up) digits += 1n
    const text = digits.toString().padStart(decimals + 1, '0')
    int = text.slice(0, text.length - decimals)
    frac = text.slice(text.length - decimals)
  }
  const zero = /^0*$/.test(int + frac)
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',')
  return (m[1] === '-' && !zero ? '-' : '') + grouped + (frac ? '.' + frac : '')
}

/** Markets named in a message: a venue's file can hold hundreds. */
const MARKETS_LISTED = 20

/** "the markets are A, B, … (907 markets)" for an unknown-market message. */
export function knownMarkets(symbols: string[]): string {
  if (symbols.length === 0) return 'there is no market'
  const more = symbols.length > MARKETS_LISTED ? `, … (${symbols.length} markets)` : ''
  return `the markets are ${symbols.slice(0, MARKETS_LISTED).join(', ')}${more}`
}
