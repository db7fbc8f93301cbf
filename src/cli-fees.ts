// The markets' taker fee in the liquidation condition (SPEC §19), as `deleverage check` and the
// report show it: folded into the maintenance rate at registration, it moves every liquidation
// price, so a reader must see it set (or not) next to the prices it moved.

import { formatUnits, parseUnits } from './decimal.js'
import type { MarketConfig } from './engine.js'

/** The rate and its percentage: "0.0005 (0.05 %)". */
function rateAndPercent(rate: MarketConfig['takerFeeRate'], symbol: string): string {
  const units = parseUnits(rate, 8, `${symbol}.takerFeeRate`)
  const pct = formatUnits(units * 100n, 8).replace(/\.?0+$/, '')
  return `${formatUnits(units, 8).replace(/\.?0+$/, '')} (${pct} %)`
}

/** One line: each market's fee, or that none sets one. */
export function takerFeeLine(markets: MarketConfig[]): string {
  const set = markets.filter((m) => m.takerFeeRate !== undefined)
  const head =
    'taker fee in the liquidation condition (SPEC §19, margin + uPnL ≤ notional × (mmr + fee))'
  if (set.length === 0) return `${head}: none (no market sets takerFeeRate)`
  const rest = markets.length - set.length
  return `${head}: ${set.map((m) => `${m.symbol} ${rateAndPercent(m.takerFeeRate, m.symbol)}`).join(', ')}${rest > 0 ? `; the ${rest} other market${rest > 1 ? 's' : ''} none` : ''}`
}
