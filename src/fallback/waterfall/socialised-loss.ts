// Mirror of crates/core/src/waterfall/socialised_loss.rs: loss socialisation (SPEC §9.4 and §21)
// — a loss shared by every open position of a market, both sides, pro rata by size
// (the §9.3 rule over atoms). Used by the host's `socialiseLoss` (to a beneficiary account) and by
// the socialise fund policy, which raises what the insurance fund lacks from the market instead of
// deleveraging it.

import { candidate, prorataAmount, type Candidate } from '../adl.js'
import { EventKindCode, FundPolicyCode, NONE } from '../../generated/tables.js'
import { abs, toI64 } from '../num.js'
import type { PositionStore, Waterfall } from './index.js'
import { moveFund } from './insurance-fund.js'

/**
 * Charge `amount` atoms to the open positions of `m` by size, each from its collateral (balance,
 * or isolated margin), one `SocialisedLoss` event each naming `payee` (an account, or NONE for the
 * fund). Returns false, charging nothing, when `m` has no open position. The caller credits the
 * payee.
 */
export function chargeLossShares(
  wf: Waterfall,
  store: PositionStore,
  m: number,
  amount: bigint,
  payee: number,
): boolean {
  const col = store.col(m)
  const cands: Candidate[] = []
  let total = 0n
  for (let s = 0; s < col.len; s++) {
    const q = BigInt(col.qty[s] as number)
    cands.push(candidate(col.account[s] as number, q, 0n, 1n))
    total += abs(q)
  }
  if (total === 0n) return false
  for (const [i, pay] of prorataAmount(cands, amount, total, store.ids)) {
    // Candidates were taken in slot order and paying moves no row: the slot is i.
    const acc = (cands[i] as Candidate).account
    const s = i
    if (col.isolated[s] === 1) {
      store.setIsolatedMargin(
        m,
        s,
        toI64((col.isolatedMargin[s] as bigint) - pay, 'isolated margin'),
      )
    } else {
      store.setBalance(acc, toI64(store.balance(acc) - pay, 'balance'))
    }
    wf.emit(EventKindCode.SocialisedLoss, acc, m, payee, 0n, 0n, toI64(pay, 'share'))
  }
  return true
}

/**
 * Under the socialise fund policy, before the fund pays a loss of `loss` atoms arising in market
 * `m`: the fund advances what it lacks (`loss − max(fund, 0)`), so it then pays the whole loss,
 * and `m`'s open positions repay it once at the end of the operation (`chargeSocialised`). A
 * market with no open position, or no market, leaves the fund short (the usual bad debt or ADL
 * path follows). Other policies: nothing.
 */
export function socialiseShortfall(
  wf: Waterfall,
  store: PositionStore,
  m: number,
  loss: bigint,
): void {
  // NONE: a scope that held no position (a host takeover of a bare deficit) names no market.
  if (wf.config.policy !== FundPolicyCode.Socialise || m === NONE) return
  const short = loss - (wf.fund > 0n ? wf.fund : 0n)
  if (short <= 0n || store.col(m).len === 0) return
  const p = wf.socialisePending.find((x) => x[0] === m)
  if (p) p[1] += short
  else wf.socialisePending.push([m, short])
  moveFund(wf, short)
}

/**
 * At the end of an operation: each market's advanced shortfall is charged to its open positions
 * then, in market order, into the fund; a market left with no position cannot repay, and the fund
 * keeps the loss (it may go below zero).
 */
export function chargeSocialised(wf: Waterfall, store: PositionStore): void {
  const pending = wf.socialisePending
  wf.socialisePending = []
  pending.sort((a, b) => a[0] - b[0])
  for (const [m, amount] of pending)
    if (!chargeLossShares(wf, store, m, amount, NONE)) moveFund(wf, -amount)
}
