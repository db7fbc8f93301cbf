//! The taker fee in the liquidation condition (OKX, Gate: (margin + uPnL) = notional × (mmr +
//! fee), SPEC §19): a market setting folded into every tier's maintenance rate at registration,
//! so the sweep, the watch and the liquidation prices use mmr + fee with no other change.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::market::{written, MarketSpec, MarketTerms};
use crate::num::RATE_SCALE;

impl Engine {
    /// `add_market_with` with a taker fee rate (10^-8 units, 0 ≤ fee < 1) added to each tier's
    /// maintenance rate before the tiers are validated (an imr below mmr + fee is refused).
    /// Derived maintenance amounts are unchanged by it (they depend on rate differences).
    pub fn add_market_with_fee(
        &mut self,
        mut spec: MarketSpec,
        terms: MarketTerms,
        taker_fee: i64,
    ) -> Result<u32> {
        let sym = spec.symbol.clone();
        if !(0..RATE_SCALE).contains(&taker_fee) {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "market {sym}: takerFeeRate must be at least 0 and below 1, got {}",
                    written(i128::from(taker_fee), 8)
                ),
            ));
        }
        for m in spec.mmr.iter_mut() {
            *m = m.saturating_add(taker_fee);
        }
        self.add_market_with(spec, terms)
    }
}
