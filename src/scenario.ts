// Scenario files (docs/SCENARIO.md): a JSON document of markets, accounts and positions with every
// amount as a decimal string. Loading checks the shape first and names the exact field on error
// (`accounts[3].positions[0].entry: ...`), then builds an Engine in one all-or-nothing step.

import { readFileSync } from 'node:fs'
import { describe } from './decimal.js'
import {
  Engine,
  type AccountInput,
  type EngineOptions,
  type FillModel,
  type MarketConfig,
  type TierConfig,
  type WaterfallOptions,
} from './engine.js'
import { DeleverageError } from './fallback/errors.js'
import { ADL_RANKINGS, FUND_POLICIES } from './generated/tables.js'
import { knownMarkets } from './text.js'
import { applyPreTrade, parsePreTrade, type PreTradeScenario } from './scenario-pretrade.js'

export interface Scenario {
  quoteDecimals?: number
  /** Margin-call level for `check`, e.g. "0.8" (80 % of equity used by maintenance margin). */
  warningRatio?: string
  markets: MarketConfig[]
  accounts: AccountInput[]
  /** Opening balance of the insurance fund. */
  insuranceFund?: string
  waterfall?: WaterfallOptions
  /** How `liquidate` fills the engine's orders (default: at mark). */
  fill?: FillModel
  /** Pre-trade settings, leverage and open orders (src/scenario-pretrade.ts). */
  preTrade?: PreTradeScenario
}

type Json = unknown

function fail(path: string, problem: string): never {
  throw new DeleverageError('INVALID_SCENARIO', `${path}: ${problem}`)
}

/** A field that is not there: say so, rather than "got undefined". */
function present(v: Json, path: string, what: string): void {
  if (v === undefined) fail(path, `missing (expected ${what})`)
}

function obj(v: Json, path: string): Record<string, Json> {
  present(v, path, 'an object')
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    fail(path, `expected an object, got ${describe(v)}`)
  return v as Record<string, Json>
}

function arr(v: Json, path: string): Json[] {
  present(v, path, 'an array')
  if (!Array.isArray(v)) fail(path, `expected an array, got ${describe(v)}`)
  return v
}

function str(v: Json, path: string): string {
  present(v, path, 'a string')
  if (typeof v !== 'string') fail(path, `expected a string, got ${describe(v)}`)
  return v
}

/** Amounts are decimal strings in files (never JSON numbers, which may already have lost digits). */
function amount(v: Json, path: string): string {
  present(v, path, 'a decimal string such as "1.5"')
  if (typeof v !== 'string')
    fail(path, `expected a decimal string such as "1.5", got ${describe(v)}`)
  if (!/^[+-]?\d+(\.\d+)?$/.test(v.trim()))
    fail(path, `${JSON.stringify(v)} is not a decimal number`)
  return v
}

function int(v: Json, path: string): number {
  present(v, path, 'a non-negative integer')
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    fail(path, `expected a non-negative integer, got ${describe(v)}`)
  return v
}

/** A decimals count: the engines take it as a u32 (and the native binding would wrap a larger one). */
function decimals(v: Json, path: string): number {
  if (int(v, path) > 0xffffffff) fail(path, `expected a number of decimals, got ${describe(v)}`)
  return v as number
}

function only(o: Record<string, Json>, path: string, keys: string[]): void {
  for (const k of Object.keys(o))
    if (!keys.includes(k))
      fail(`${path}.${k}`, `unknown field (expected one of ${keys.join(', ')})`)
}

function opt<T>(
  o: Record<string, Json>,
  k: string,
  f: (v: Json, p: string) => T,
  path: string,
): T | undefined {
  return o[k] === undefined ? undefined : f(o[k], `${path}.${k}`)
}

function oneOf<T extends string>(allowed: readonly T[]) {
  return (v: Json, path: string): T => {
    if (typeof v !== 'string' || !allowed.includes(v as T))
      fail(
        path,
        `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}, got ${describe(v)}`,
      )
    return v as T
  }
}

/** Check the shape of a parsed JSON document and return it typed. */
export function parseScenario(doc: Json): Scenario {
  const root = obj(doc, '$')
  only(root, '$', [
    'quoteDecimals',
    'warningRatio',
    'markets',
    'accounts',
    'description',
    'insuranceFund',
    'waterfall',
    'fill',
    'preTrade',
  ])
  const markets = arr(root.markets, '$.markets').map((mv, i): MarketConfig => {
    const p = `markets[${i}]`
    const m = obj(mv, p)
    only(m, p, [
      'symbol',
      'type',
      'priceDecimals',
      'qtyDecimals',
      'contractSize',
      'marginBasis',
      'tierForm',
      'tiers',
      'mark',
      'tickSize',
      'settleAsset',
      'takerFeeRate',
    ])
    const tiers = arr(m.tiers, `${p}.tiers`).map((tv, j): TierConfig => {
      const tp = `${p}.tiers[${j}]`
      const t = obj(tv, tp)
      only(t, tp, ['floor', 'mmr', 'imr', 'maxLeverage', 'maintAmount'])
      const tier: TierConfig = {
        floor: amount(t.floor, `${tp}.floor`),
        mmr: amount(t.mmr, `${tp}.mmr`),
      }
      for (const k of ['imr', 'maxLeverage', 'maintAmount'] as const) {
        const v = opt(t, k, amount, tp)
        if (v !== undefined) tier[k] = v
      }
      return tier
    })
    const out: MarketConfig = {
      symbol: str(m.symbol, `${p}.symbol`),
      priceDecimals: decimals(m.priceDecimals, `${p}.priceDecimals`),
      qtyDecimals: decimals(m.qtyDecimals, `${p}.qtyDecimals`),
      tiers,
      mark: amount(m.mark, `${p}.mark`),
    }
    const type = opt(m, 'type', oneOf(['linear', 'inverse'] as const), p)
    if (type) out.type = type
    const basis = opt(m, 'marginBasis', oneOf(['mark', 'entry'] as const), p)
    if (basis) out.marginBasis = basis
    const form = opt(m, 'tierForm', oneOf(['deduction', 'step'] as const), p)
    if (form) out.tierForm = form
    const cs = opt(m, 'contractSize', amount, p)
    if (cs !== undefined) out.contractSize = cs
    const tick = opt(m, 'tickSize', amount, p)
    if (tick !== undefined) out.tickSize = tick
    const asset = opt(m, 'settleAsset', str, p)
    if (asset !== undefined) out.settleAsset = asset
    const fee = opt(m, 'takerFeeRate', amount, p)
    if (fee !== undefined) out.takerFeeRate = fee
    return out
  })
  const accounts = arr(root.accounts, '$.accounts').map((av, i): AccountInput => {
    const p = `accounts[${i}]`
    const a = obj(av, p)
    only(a, p, ['id', 'balance', 'positions'])
    const positions =
      a.positions === undefined
        ? []
        : arr(a.positions, `${p}.positions`).map((pv, j) => {
            const pp = `${p}.positions[${j}]`
            const x = obj(pv, pp)
            only(x, pp, ['symbol', 'qty', 'entry', 'cost', 'isolatedMargin'])
            const pos: NonNullable<AccountInput['positions']>[number] = {
              symbol: str(x.symbol, `${pp}.symbol`),
              qty: amount(x.qty, `${pp}.qty`),
            }
            for (const k of ['entry', 'cost', 'isolatedMargin'] as const) {
              const v = opt(x, k, amount, pp)
              if (v !== undefined) pos[k] = v
            }
            if ((pos.entry === undefined) === (pos.cost === undefined))
              fail(pp, 'give exactly one of "entry" and "cost"')
            return pos
          })
    return { id: str(a.id, `${p}.id`), balance: amount(a.balance, `${p}.balance`), positions }
  })
  knownSymbols(markets, accounts)
  const s: Scenario = { markets, accounts }
  const fund = opt(root, 'insuranceFund', amount, '$')
  if (fund !== undefined) s.insuranceFund = fund
  if (root.waterfall !== undefined) s.waterfall = parseWaterfall(root.waterfall, 'waterfall')
  if (root.fill !== undefined) s.fill = parseFill(root.fill, 'fill')
  if (root.preTrade !== undefined) s.preTrade = parsePreTrade(root.preTrade)
  const q = opt(root, 'quoteDecimals', decimals, '$')
  if (q !== undefined) s.quoteDecimals = q
  const w = opt(root, 'warningRatio', amount, '$')
  if (w !== undefined) s.warningRatio = w
  return s
}

/** Every position's market is one of the file's: else UNKNOWN_MARKET naming the field and the
 * markets the file has. */
function knownSymbols(markets: MarketConfig[], accounts: AccountInput[]): void {
  const known = new Set(markets.map((m) => m.symbol))
  for (const [i, a] of accounts.entries()) {
    for (const [j, p] of (a.positions ?? []).entries()) {
      if (!known.has(p.symbol))
        throw new DeleverageError(
          'UNKNOWN_MARKET',
          `accounts[${i}].positions[${j}].symbol: unknown market ${JSON.stringify(p.symbol)} (${knownMarkets([...known])})`,
        )
    }
  }
}

function parseWaterfall(v: Json, p: string): WaterfallOptions {
  const w = obj(v, p)
  only(w, p, ['liquidationFee', 'buffer', 'ranking', 'adlPrice', 'fundPolicy'])
  const out: WaterfallOptions = {}
  const fee = opt(w, 'liquidationFee', amount, p)
  if (fee !== undefined) out.liquidationFee = fee
  const buffer = opt(w, 'buffer', amount, p)
  if (buffer !== undefined) out.buffer = buffer
  const ranking = opt(w, 'ranking', oneOf(ADL_RANKINGS), p)
  if (ranking) out.ranking = ranking
  const adlPrice = opt(w, 'adlPrice', oneOf(['bankruptcy', 'mark'] as const), p)
  if (adlPrice) out.adlPrice = adlPrice
  if (w.fundPolicy !== undefined) {
    const fp = obj(w.fundPolicy, `${p}.fundPolicy`)
    const kind = oneOf(FUND_POLICIES)(fp.kind, `${p}.fundPolicy.kind`)
    if (kind !== 'drawdown') {
      only(fp, `${p}.fundPolicy`, ['kind'])
      out.fundPolicy = { kind }
    } else {
      only(fp, `${p}.fundPolicy`, ['kind', 'trigger', 'stop', 'window'])
      out.fundPolicy = {
        kind,
        trigger: amount(fp.trigger, `${p}.fundPolicy.trigger`),
        stop: amount(fp.stop, `${p}.fundPolicy.stop`),
        window: int(fp.window, `${p}.fundPolicy.window`),
      }
    }
  }
  return out
}

function parseFill(v: Json, p: string): FillModel {
  if (v === 'mark') return 'mark'
  const f = obj(v, p)
  only(f, p, ['ppmPerLot', 'capPpm'])
  return { ppmPerLot: int(f.ppmPerLot, `${p}.ppmPerLot`), capPpm: int(f.capPpm, `${p}.capPpm`) }
}

/** Build an engine from a checked scenario. Engine errors are re-labelled with the JSON path. */
export function engineFromScenario(
  s: Scenario,
  options: Omit<EngineOptions, 'quoteDecimals'> = {},
): Engine {
  let engine: Engine
  try {
    engine = new Engine({ ...options, quoteDecimals: s.quoteDecimals ?? 8 })
  } catch (e) {
    // The only scenario field the constructor reads (NATIVE_UNAVAILABLE is about the options).
    throw e instanceof DeleverageError && e.code === 'NATIVE_UNAVAILABLE'
      ? e
      : relabel(e, '$.quoteDecimals')
  }
  s.markets.forEach((m, i) => {
    try {
      engine.addMarket(m)
    } catch (e) {
      throw relabel(e, `markets[${i}]`)
    }
  })
  try {
    if (s.waterfall) engine.configureWaterfall(s.waterfall)
    if (s.insuranceFund !== undefined) engine.depositInsuranceFund(s.insuranceFund)
  } catch (e) {
    throw relabel(e, 'waterfall')
  }
  addScenarioAccounts(engine, s.accounts)
  if (s.preTrade) applyPreTrade(engine, s.preTrade)
  return engine
}

/** Accounts per engine call when loading: one call per account cost most of a big book's load. */
const LOAD_BATCH = 16384

/**
 * Add the accounts in batches through the bulk path (`addAccounts`: typed arrays, one core call).
 * A batch is all or nothing, so when one is refused it is added again account by account, which
 * names the failing account (`accounts[i]: ...`) exactly as a per-account load would.
 */
function addScenarioAccounts(engine: Engine, accounts: AccountInput[]): void {
  for (let at = 0; at < accounts.length; at += LOAD_BATCH) {
    const batch = accounts.slice(at, at + LOAD_BATCH)
    try {
      engine.addAccounts(batch)
      continue
    } catch {
      // located below
    }
    batch.forEach((a, j) => {
      try {
        engine.addAccounts([a])
      } catch (e) {
        // A position that mixes settlement assets (SPEC §5.4): the core names its row, which is
        // the account's position index here (one account per call).
        const row =
          e instanceof DeleverageError && e.code === 'SETTLEMENT_MISMATCH'
            ? /^row (\d+): (.*)$/s.exec(e.message)
            : null
        throw row
          ? new DeleverageError(
              'SETTLEMENT_MISMATCH',
              `accounts[${at + j}].positions[${row[1]}]: ${row[2]}`,
            )
          : relabel(e, `accounts[${at + j}]`)
      }
    })
  }
}

function relabel(e: unknown, path: string): unknown {
  if (e instanceof DeleverageError) return new DeleverageError(e.code, `${path}: ${e.message}`)
  return e
}

/** Read and check a scenario file (no engine). The text and the raw document are let go as soon
 * as they are read: for a book of millions of positions each is hundreds of MB. */
export function readScenarioFile(file: string): Scenario {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new DeleverageError('INVALID_SCENARIO', `${file}: cannot read (${(e as Error).message})`)
  }
  let doc: Json
  try {
    doc = JSON.parse(text)
  } catch (e) {
    throw new DeleverageError('INVALID_SCENARIO', `${file}${jsonErrorAt(text, e as Error)}`)
  }
  text = ''
  return parseScenario(doc)
}

/** ": not valid JSON (…)" with the line and column of the error (Node 20 gives only a position). */
function jsonErrorAt(text: string, e: Error): string {
  const position = /at position (\d+)/.exec(e.message)
  let reason = e.message.replace(/ in JSON at position \d+.*$/s, '')
  const end = /^Unexpected end of JSON input/.test(reason)
  if (!position && !end) return `: not valid JSON (${reason})`
  reason = reason.replace(/ \(line \d+ column \d+\)$/, '')
  const at = position ? Number(position[1]) : text.length
  const before = text.slice(0, at)
  const line = before.split('\n').length
  const column = at - before.lastIndexOf('\n')
  return ` line ${line} column ${column}: not valid JSON (${reason})`
}

/** Read, parse and load a scenario file. */
export function loadScenarioFile(
  file: string,
  options: Omit<EngineOptions, 'quoteDecimals'> = {},
): { scenario: Scenario; engine: Engine } {
  const scenario = readScenarioFile(file)
  return { scenario, engine: engineFromScenario(scenario, options) }
}
