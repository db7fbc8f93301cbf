// Mirror of crates/core/src/waterfall/adl.rs: auto-deleveraging execution (SPEC §9.2), the
// liquidator's position closed against the opposite side at the ADL price. The ranking itself (who
// is deleveraged first) is ../adl.ts.

import { adlCandidates, adlSelect, ProRata, prorataShares, type Candidate } from '../adl.js'
import type { Market } from '../market.js'
import { abs } from '../num.js'
import { AdlFill, AdlShortfall, NONE, money, sign, type Waterfall } from './index.js'
import { adlEntryPrice } from './math.js'
import { liquidatorClose } from './insurance-fund.js'
import { absorbAdlRounding } from './adl-rounding.js'

/**
 * The price the liquidator's position is deleveraged at: its bankruptcy price (its average entry,
 * `adlEntryPrice`) or the mark, by policy; the mark too when it has no entry.
 */
export function adlPrice(w: Waterfall, m: number): bigint {
  const mk = w.store.markets[m] as Market
  const [q, cost] = w.liquidatorPosition(m)
  if (w.config.adlAtMark || q === 0n) return mk.mark
  return adlEntryPrice(mk, q, cost) ?? mk.mark
}

export function autoDeleverage(w: Waterfall, m: number): void {
  w.store.market(m)
  w.transaction(() => deleverage(w, m))
}

/**
 * ADL the liquidator's whole position in `m` against the opposite side, ranked or pro
 * rata; exactly the liquidator's quantity, never more (SPEC §9.2).
 */
export function deleverage(w: Waterfall, m: number): void {
  const [q] = w.liquidatorPosition(m)
  if (q === 0n) return
  const price = adlPrice(w, m)
  const ranking = w.config.ranking
  const sq = sign(q)
  const ids = w.store.ids
  const cands = adlCandidates(w.store, m, -Number(sq), ranking)
  const need = abs(q)
  const fills: Array<[number, bigint]> = []
  if (ranking === ProRata) {
    for (const [i, n] of prorataShares(cands, need, ids))
      fills.push([(cands[i] as Candidate).account, n])
  } else {
    let left = need
    for (const c of adlSelect(cands, need, ids)) {
      const aq = abs(c.qty)
      const take = left < aq ? left : aq
      left -= take
      if (take > 0n) fills.push([c.account, take])
    }
  }
  let done = 0n
  const fundBefore = w.fund
  for (const [acc, take] of fills) {
    // The counterparty closes `take` of its (opposite) position at the ADL price.
    const delta = -sq * take
    const [realised] = w.closePosition(acc, m, delta, price)
    w.emit(AdlFill, acc, m, NONE, delta, price, money(realised, 'realised PnL'))
    liquidatorClose(w, m, sq * take, price)
    done += take
  }
  absorbAdlRounding(w, m, fundBefore)
  if (done < need) w.emit(AdlShortfall, NONE, m, NONE, sq * (need - done), price, 0n)
}
