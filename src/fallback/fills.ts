// Mirror of crates/core/src/fills.rs: batched fills (SPEC §15), trades from the host's matching
// engine applied to positions in one call. A fill against the position's side closes first
// (SPEC §8.1: cost basis share and realised PnL rounded against the account, the PnL's
// counter-entry in settlement, an isolated position closed in full returning its margin to the
// balance); what is left opens or increases the position at the fill price (SPEC §3.1). The batch
// is applied in order and validated whole first: a rejected batch changes nothing.

import { checkLengths } from './napi-args.js'
import { DeleverageError, ErrorCode, withContext } from './errors.js'
import { domain } from './liq.js'
import { checkPrice, checkQty, type Market } from './market.js'
import { add, sub, toI64 } from './num.js'
import { firstOther, mismatch, oneAsset } from './settlement.js'
import type { Columns } from './waterfall/index.js'

/** A position as the batch leaves it: (qty, cost basis, isolated, isolated margin). */
type Staged = [bigint, bigint, boolean, bigint]

/** What a batch of fills reads and writes of the engine (JsEngine's store, outside a transaction). */
export interface FillStore {
  readonly markets: readonly Market[]
  readonly ids: readonly string[]
  /** The waterfall's ledger: the counter-entry of realised PnL goes to its settlement account. */
  readonly wf: { settlement: bigint }
  /** Engine::account: UNKNOWN_ACCOUNT unless a is live. */
  account(a: number): void
  /** Engine::market: the market, or UNKNOWN_MARKET. */
  market(m: number): Market
  col(m: number): Columns
  /** Slot of account a's position in market m, or -1. */
  slotOf(a: number, m: number): number
  balance(a: number): bigint
  /** The markets account a holds a position in, in market order. */
  heldMarkets(a: number): number[]
  /** Marks account a for the liquidation watch's re-check. */
  touch(a: number): void
  removePosition(a: number, m: number): void
  writePosition(a: number, m: number, q: bigint, cost: bigint, iso: boolean, im: bigint): void
  writeBalance(a: number, v: bigint): void
}

/**
 * Engine::apply_fills: account[i] traded qty[i] lots (signed) of market[i] at price[i]. Against
 * the position's side it closes first (SPEC §8.1), the rest opens or increases at the price
 * (SPEC §3.1); validated whole before anything changes.
 */
export function applyFills(
  st: FillStore,
  account: Uint32Array,
  market: Uint32Array,
  qty: BigInt64Array,
  price: BigInt64Array,
): void {
  const n = account.length
  checkLengths('applyFills', [n, market.length, qty.length, price.length])
  const pos = new Map<string, Staged>()
  const order: Array<[number, number]> = []
  const bal = new Map<number, bigint>()
  let settlement = st.wf.settlement
  // Markets each account opened in this batch, kept only where assets can mix (SPEC §5.4).
  const mixed = !oneAsset(st.markets)
  const opened = new Map<number, number[]>()
  for (let i = 0; i < n; i++) {
    const a = account[i] as number
    const m = market[i] as number
    const dq = qty[i] as bigint
    const p = price[i] as bigint
    let mk: Market
    try {
      st.account(a)
      mk = st.market(m)
    } catch (e) {
      throw withContext(e, `row ${i}`)
    }
    try {
      if (dq === 0n)
        throw new DeleverageError(
          ErrorCode.InvalidQuantity,
          'a fill must trade a non-zero quantity',
        )
      checkQty(dq, 'qty')
      checkPrice(p, mk.priceDecimals, 'fill price')
      const key = `${a}:${m}`
      let cur = pos.get(key)
      if (cur === undefined) {
        order.push([a, m])
        cur = stagedPosition(st, a, m)
      }
      let b = bal.get(a) ?? st.balance(a)
      let rest: bigint
      ;[cur, b, settlement, rest] = closePart(mk, cur, b, settlement, dq, p)
      if (rest !== 0n && cur[0] === 0n && mixed) {
        // A position opens: the account's other positions, as the batch leaves them so far,
        // must settle in this market's asset.
        const held = (o: number): boolean => o !== m && (pos.get(`${a}:${o}`)?.[0] ?? 1n) !== 0n
        const others = st
          .heldMarkets(a)
          .filter(held)
          .concat((opened.get(a) ?? []).filter(held))
        const other = firstOther(st.markets, m, others)
        if (other >= 0) throw mismatch(st.markets, st.ids[a] as string, m, other)
        const l = opened.get(a)
        if (l === undefined) opened.set(a, [m])
        else l.push(m)
      }
      if (rest !== 0n) cur = openPart(mk, cur, rest, p)
      pos.set(key, cur)
      bal.set(a, b)
    } catch (e) {
      throw withContext(e, `row ${i} (account ${st.ids[a]}, market ${mk.symbol})`)
    }
  }
  commitFills(st, order, pos, bal, settlement)
}

/** The position of account a in market m as a batch starts from it (flat when none). */
function stagedPosition(st: FillStore, a: number, m: number): Staged {
  const s = st.slotOf(a, m)
  if (s < 0) return [0n, 0n, false, 0n]
  const col = st.col(m)
  return [
    BigInt(col.qty[s] as number),
    col.cost[s] as bigint,
    col.isolated[s] === 1,
    col.isolatedMargin[s] as bigint,
  ]
}

/** Write a validated batch: positions in order of first appearance (slots do not depend on
 * hashing), then the balances and the settlement account. */
function commitFills(
  st: FillStore,
  order: Array<[number, number]>,
  pos: Map<string, Staged>,
  bal: Map<number, bigint>,
  settlement: bigint,
): void {
  for (const [a, m] of order) {
    const [q, c, iso, im] = pos.get(`${a}:${m}`) as Staged
    st.touch(a)
    if (q === 0n) {
      st.removePosition(a, m)
      continue
    }
    st.writePosition(a, m, q, c, iso, im)
  }
  for (const [a, b] of bal) {
    st.writeBalance(a, b)
    st.touch(a)
  }
  st.wf.settlement = settlement
}

/**
 * The closing part of a fill of `dq` lots at `p` against position `cur` (SPEC §8.1): min(|dq|,
 * |q|) closes at `p`, its realised PnL goes to the balance `b` (through the isolated margin,
 * which a full close returns to the balance) and its counter-entry to `settlement`. Returns the
 * position, balance and settlement after it and the lots left to open (all of `dq` when it adds
 * to the position or the position is flat).
 */
function closePart(
  mk: Market,
  cur: Staged,
  b: bigint,
  settlement: bigint,
  dq: bigint,
  p: bigint,
): [Staged, bigint, bigint, bigint] {
  let [q, c, iso, im] = cur
  if (q === 0n || dq > 0n === q > 0n) return [cur, b, settlement, dq]
  // Close min(|dq|, |q|) of the position (the close has the position's sign).
  const close = (dq < 0n ? -dq : dq) >= (q < 0n ? -q : q) ? q : -dq
  const [closed, realised] = mk.closeAt(q, c, close, p)
  settlement = sub(settlement, realised, 'settlement')
  if (iso) {
    const im2 = add(im, realised, 'isolated margin')
    if (close === q) {
      b = toI64(add(b, im2, 'balance'), 'balance')
      im = 0n
      iso = false
    } else {
      im = toI64(im2, 'isolated margin')
    }
  } else {
    b = toI64(add(b, realised, 'balance'), 'balance')
  }
  q -= close
  c -= closed
  return [[q, c, iso, im], b, settlement, dq + close]
}

/** The opening part of a fill: `rest` lots added to position `cur` at the fill price `p`
 * (SPEC §3.1); a new position is a cross position. */
function openPart(mk: Market, cur: Staged, rest: bigint, p: bigint): Staged {
  const [q, c, iso, im] = cur
  const nq = q + rest
  checkQty(nq, 'position qty after the fill')
  const [lo, hi] = domain(mk, nq, 0)
  if (p < lo || p > hi) {
    throw new DeleverageError(
      ErrorCode.Overflow,
      `position of ${nq} lots at ${p} ticks is worth more than i64 atoms`,
    )
  }
  const dc = mk.costBasis(rest, p)
  if (q === 0n && dc === 0n) {
    throw new DeleverageError(
      ErrorCode.InvalidQuantity,
      `position of ${rest} lots at ${p} ticks is worth less than one atom`,
    )
  }
  return [nq, toI64(add(c, dc, 'cost basis'), 'cost basis (does not fit i64)'), iso, im]
}
