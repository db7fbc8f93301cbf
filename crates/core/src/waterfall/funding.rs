//! Funding (SPEC §10): a rate settled on every position of a market by its value at mark, payers
//! rounded up, receivers down, the difference to the residue sink or settlement.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::num::*;

use super::math::funding_flow;
use super::{money, rate_text, EventKind, NONE};

impl Engine {
    /// Settle a funding rate (10^-8 units, > 0: longs pay shorts) on every position of `m` by its
    /// value at mark. Payers pay rounded up, receivers get rounded down; the difference (and any
    /// open-interest imbalance with the rest of the market) goes to settlement, rounding to the
    /// residue sink — conserved exactly (SPEC §10).
    pub fn settle_funding(&mut self, m: u32, rate: i64) -> Result<()> {
        self.market(m)?;
        if rate.unsigned_abs() >= RATE_SCALE as u64 {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("funding rate must be within ±1, got {}", rate_text(rate)),
            ));
        }
        self.transaction(|e| {
            let mk = e.markets[m as usize].clone();
            let n = e.positions[m as usize].qty.len();
            let (mut paid, mut received, mut net_qty) = (0i128, 0i128, 0i128);
            for s in 0..n {
                let (acc, q, iso) = {
                    let c = &e.positions[m as usize];
                    (c.account[s], c.qty[s], c.isolated[s])
                };
                let flow = funding_flow(&mk, q, rate)?;
                if flow < 0 {
                    paid -= flow;
                } else {
                    received += flow;
                }
                net_qty += q as i128;
                if flow == 0 {
                    continue;
                }
                if iso {
                    let im = money(
                        e.positions[m as usize].isolated_margin[s] as i128 + flow,
                        "isolated margin",
                    )?;
                    e.put_isolated_margin(m, s, im);
                } else {
                    let b = money(e.accounts[acc as usize].balance as i128 + flow, "balance")?;
                    e.put_balance(acc, b);
                }
                e.emit(EventKind::Funding, acc, m, NONE, q, mk.mark, money(flow, "funding")?);
            }
            // paid − received: with balanced open interest both sides' exact totals are equal, so
            // the difference is rounding, kept in the residue sink; otherwise part of the other
            // side is outside the engine and the difference settles with it.
            let diff = paid - received;
            if diff != 0 {
                if net_qty == 0 {
                    e.waterfall.residue = money(e.waterfall.residue as i128 + diff, "residue")?;
                    e.emit(EventKind::Residue, NONE, m, NONE, 0, 0, money(diff, "residue")?);
                } else {
                    e.waterfall.settlement = add(e.waterfall.settlement, diff, "settlement")?;
                }
            }
            Ok(())
        })
    }
}
