// Mirror of crates/core/src/taker_fee.rs: the taker fee in the liquidation condition (OKX, Gate:
// (margin + uPnL) = notional × (mmr + fee), SPEC §19), folded into every tier's maintenance rate
// at registration, before the tiers are validated.

import { DeleverageError, ErrorCode } from './errors.js'
import { type MarketSpec, written } from './market.js'
import { I64_MAX, RATE_SCALE } from './num.js'

/** Engine::add_market_with_fee's fold: 0 ≤ fee < 1 (1e-8 units), mmr + fee saturating at i64. */
export function foldTakerFee(spec: MarketSpec, fee: bigint): void {
  if (fee < 0n || fee >= RATE_SCALE) {
    throw new DeleverageError(
      ErrorCode.InvalidArgument,
      `market ${spec.symbol}: takerFeeRate must be at least 0 and below 1, got ${written(fee, 8)}`,
    )
  }
  spec.mmr = spec.mmr.map((m) => (m + fee > I64_MAX ? I64_MAX : m + fee))
}
