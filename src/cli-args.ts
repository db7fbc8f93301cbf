// Command-line parsing for `deleverage`: Node's own `util.parseArgs`, one strict parse per command.
// A command is one entry of a table (src/cli.ts `COMMANDS`): its name, its options, its
// positional arguments, its help and its handler. An option the command does not take is a usage
// error (exit 2) naming the command's options, never silently ignored.

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Implementation } from './engine.js'
import { findPackageRoot } from './native.js'

/** A usage error: exit code 2, the message and a pointer to the command's help. */
export class UsageError extends Error {}

export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  /** The value's placeholder in messages and help: `--limit N`. */
  value?: string
  /** What it does, for help generated from the table (`commandHelp`). */
  help?: string
}

export type Options = Record<string, OptionSpec>
export type Values = Record<string, string | boolean | undefined>

export interface Parsed {
  values: Values
  positionals: string[]
}

export interface Command {
  name: string
  /** What it does, for `deleverage --help` (lines of about 85 characters). */
  summary: string
  /** The command's own options; `--help` is added to every command. */
  options: Options
  /** Names of the positional arguments, in order (['scenario.json'] or []). */
  positionals: string[]
  help: string
  run(args: Parsed): number | Promise<number>
}

/** `examples/…` names a file shipped with the package when the current directory has none. */
export function resolveExample(file: string): string {
  if (existsSync(file) || !/^examples[\\/]/.test(file)) return file
  const root = findPackageRoot()
  return root && existsSync(join(root, file)) ? join(root, file) : file
}

const HELP: Options = { help: { type: 'boolean', short: 'h' } }

/** `--limit N, --all, ...`: the options as a user types them. */
export function optionList(options: Options): string {
  return Object.entries({ ...options, ...HELP })
    .map(([name, o]) => `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`)
    .join(', ')
}

/**
 * A string option's value that starts with a dash is a negative number here (`--shock -20%`),
 * which parseArgs calls ambiguous: join it to its option (`--shock=-20%`) before parsing.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const next = argv[i + 1]
    const name = arg.startsWith('--') ? arg.slice(2) : undefined
    if (name && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else out.push(arg)
  }
  return out
}

/** Parse `argv` (what follows the command name) for `command`; null when --help was asked. */
export function parseCommand(command: Command, argv: string[]): Parsed | null {
  const options = { ...command.options, ...HELP }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({
      args: joinNegativeValues(argv, options),
      options: Object.fromEntries(
        Object.entries(options).map(([k, o]) => [
          k,
          o.short ? { type: o.type, short: o.short } : { type: o.type },
        ]),
      ),
      strict: true,
      allowPositionals: true,
    })
  } catch (e) {
    throw new UsageError(usageMessage(command, e))
  }
  if (parsed.values.help) return null
  const want = command.positionals
  if (parsed.positionals.length !== want.length) {
    const usage = `deleverage ${command.name}${want.map((p) => ` <${p}>`).join('')}`
    throw new UsageError(
      want.length === 0
        ? `${command.name} takes no file, got ${parsed.positionals.join(' ')}`
        : parsed.positionals.length < want.length
          ? `${command.name} needs ${want.map((p) => `<${p}>`).join(' ')} (usage: ${usage} [options])`
          : `${command.name} takes one ${want.map((p) => `<${p}>`).join(' ')}, got ${parsed.positionals.join(' ')}`,
    )
  }
  return { values: parsed.values as Values, positionals: parsed.positionals }
}

/** parseArgs' errors in this CLI's words: which option, and what the command takes. */
function usageMessage(command: Command, e: unknown): string {
  const err = e as { code?: string; message?: string }
  const option = /'(-[^' ]+)/.exec(err.message ?? '')?.[1] ?? ''
  const spec = command.options[option.replace(/^--?/, '')]
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `${command.name} does not take ${option}; its options: ${optionList(command.options)}`
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return spec?.type === 'string'
        ? `${option} takes a value: ${option} ${spec.value ?? 'VALUE'}`
        : `${option} takes no value`
    default:
      return err.message ?? String(e)
  }
}

/** A string option's value, if given. */
export function str(v: Values, name: string): string | undefined {
  const x = v[name]
  return typeof x === 'string' ? x : undefined
}

/** The `--impl` option of a command that loads a scenario. */
export const IMPL_OPTION: OptionSpec = {
  type: 'string',
  value: 'native|js',
  help: 'choose the engine (default: native when it loads)',
}

/** `--impl`: the engine asked for, or undefined when not given. */
export function implArg(v: Values): Implementation | undefined {
  const impl = str(v, 'impl')
  if (impl !== undefined && impl !== 'native' && impl !== 'js')
    throw new UsageError(`--impl takes native or js, got ${impl}`)
  return impl
}

/** A positive integer option (`--steps 10`). */
export function positiveInt(v: Values, name: string): number | undefined {
  const s = str(v, name)
  if (s === undefined) return undefined
  const n = Number(s)
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} takes a positive integer, got ${s}`)
  return n
}

/** A command's help generated from its table entry: the usage line (required options shown
 * bare, the rest in brackets), what it does, every option with its text, then the examples. */
export function commandHelp(h: {
  name: string
  positionals: string[]
  required: string[]
  about: string
  options: Options
  examples: string[]
}): string {
  const flag = ([name, o]: [string, OptionSpec]) =>
    `--${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`
  const entries = Object.entries(h.options)
  const usage = [
    `deleverage ${h.name}`,
    ...h.positionals.map((p) => `<${p}>`),
    ...entries.filter(([n]) => h.required.includes(n)).map(flag),
    ...entries.filter(([n]) => !h.required.includes(n)).map((e) => `[${flag(e)}]`),
  ].join(' ')
  const width = Math.max(...entries.map((e) => flag(e).length), 10) + 2
  const lines = [...entries, ['help', { type: 'boolean', short: 'h', help: 'this text' }] as const]
    .map(([n, o]) => {
      const left = (n === 'help' ? '-h, --help' : flag([n, o])).padEnd(width)
      return `  ${left}${(o.help ?? '').replaceAll('\n', `\n${' '.repeat(width + 2)}`)}`
    })
    .join('\n')
  return `${usage}\n\n${h.about}\n\nOptions:\n${lines}\n\nExamples:\n${h.examples.map((e) => `  ${e}`).join('\n')}`
}

/** Options a command cannot run without (they are in its usage line too): a usage error naming
 * them. */
export function requireOptions(command: string, v: Values, names: string[]): void {
  const missing = names.filter((n) => v[n] === undefined)
  if (missing.length > 0)
    throw new UsageError(`${command} needs ${missing.map((n) => `--${n}`).join(', ')}`)
}
