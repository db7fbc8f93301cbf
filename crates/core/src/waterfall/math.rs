//! The waterfall's pure formulas (SPEC §8–§10): numbers (and a market's terms) in, numbers out —
//! no engine state, no writes, no events. The stage modules read the state, call these, then write
//! and emit. Twin: `src/fallback/waterfall/math.ts`, the same functions by the same names.

use crate::error::Result;
use crate::market::{ContractKind, Market};
use crate::num::*;

use super::FillModel;

impl FillModel {
    /// Fill price of closing `delta` (a long closes by selling: lower; a short by buying: higher).
    pub fn price(&self, mark: i64, delta: i64) -> i64 {
        match *self {
            FillModel::AtMark => mark,
            FillModel::Impact { ppm_per_lot, cap_ppm } => {
                let slip =
                    (ppm_per_lot as i128 * delta.unsigned_abs() as i128).min(cap_ppm as i128);
                let (m, one) = (mark as i128, RATIO_SCALE as i128);
                let p = if delta > 0 {
                    div_floor(m * (one - slip), one)
                } else {
                    div_ceil(m * (one + slip), one)
                };
                p.clamp(1, PRICE_MAX_TICKS as i128) as i64
            }
        }
    }
}

/// The target of a partial liquidation (SPEC §8.3): equity ≥ MM × (1 + buffer), cross-multiplied.
pub fn meets_buffer(equity: i128, mm: i128, buffer_rate: i64) -> bool {
    equity * RATE_SCALE as i128 >= mm * (RATE_SCALE + buffer_rate) as i128
}

/// The liquidation fee actually charged (SPEC §8.2): the full fee, capped by what the scope has
/// left (nothing when that is negative).
pub fn capped_fee(fee_full: i128, left: i128) -> i128 {
    fee_full.min(left.max(0))
}

/// Whether the fund's drawdown from `peak` has reached `ppm` (SPEC §8.4):
/// (peak − fund)·10^6 ≥ ppm·peak, cross-multiplied; never with no peak.
pub fn drawdown_reached(peak: i128, fund: i128, ppm: i64) -> bool {
    peak > 0 && (peak - fund) * RATIO_SCALE as i128 >= ppm as i128 * peak
}

/// The liquidator's average entry, rounded to the tick in its own disfavour (SPEC §9.2): a long
/// sells at ≤ entry (floor), a short buys at ≥ entry (ceil), so the fund never gains from
/// rounding at the counterparties' expense. None when there is no entry price: a cost basis of 0
/// (an inverse position worth less than an atom at entry) or inverse products beyond i128.
pub fn adl_entry_price(mk: &Market, q: i64, cost: i64) -> Option<i64> {
    if cost == 0 {
        return None;
    }
    let (n, d) = match mk.kind {
        // entry = cost / q ticks
        ContractKind::Linear => (cost as i128, q as i128),
        // entry = q·size·10^t / cost
        ContractKind::Inverse => {
            let t = mk.inverse_exp();
            let n = (q as i128 * mk.contract_size as i128).checked_mul(pow10(t.max(0) as u32))?;
            let d = (cost as i128).checked_mul(pow10((-t).max(0) as u32))?;
            (n, d)
        }
    };
    // Divide with both operands made positive so the rounding direction is the intended one.
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    let p = if q > 0 { div_floor(n, d) } else { div_ceil(n, d) };
    Some(p.clamp(1, PRICE_MAX_TICKS as i128) as i64)
}

/// One position's funding at the mark (SPEC §10): < 0 paid, > 0 received. Longs pay when the
/// rate is > 0; payers round up, receivers down.
pub fn funding_flow(mk: &Market, q: i64, rate: i64) -> Result<i128> {
    if (q > 0) == (rate > 0) {
        Ok(-mk.rate_of_value(q, mk.mark, rate.abs())?)
    } else {
        mk.rate_of_value_rounded(q, mk.mark, rate.abs(), Round::Floor)
    }
}
