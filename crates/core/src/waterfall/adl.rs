//! Auto-deleveraging execution (SPEC §9.2): the liquidator's position closed against the opposite
//! side at the ADL price. The ranking itself (who is deleveraged first) is `crate::adl`.

use crate::adl::{prorata_shares, AdlRanking};
use crate::engine::Engine;
use crate::error::Result;

use super::math::adl_entry_price;
use super::{money, EventKind, NONE};

impl Engine {
    /// The price the liquidator's position is deleveraged at: its bankruptcy price (its average
    /// entry, `math::adl_entry_price`) or the mark, by policy; the mark too when it has no entry.
    pub(super) fn adl_price(&self, m: u32) -> i64 {
        let mk = &self.markets[m as usize];
        let (q, cost) = self.liquidator_position(m);
        if self.waterfall.config.adl_at_mark || q == 0 {
            return mk.mark;
        }
        adl_entry_price(mk, q, cost).unwrap_or(mk.mark)
    }

    /// ADL the liquidator's whole position in `m` against the opposite side, ranked or
    /// pro rata; exactly the liquidator's quantity, never more (SPEC §9.2).
    pub fn auto_deleverage(&mut self, m: u32) -> Result<()> {
        self.market(m)?;
        self.transaction(|e| e.deleverage(m))
    }

    pub(super) fn deleverage(&mut self, m: u32) -> Result<()> {
        let (q, _) = self.liquidator_position(m);
        if q == 0 {
            return Ok(());
        }
        let price = self.adl_price(m);
        let ranking = self.waterfall.config.ranking;
        let cands = self.adl_candidates(m, -q.signum(), ranking, None)?;
        let need = q.unsigned_abs();
        let fills: Vec<(u32, u64)> = if ranking == AdlRanking::ProRata {
            // Lots beyond the side's total cannot be placed: cap at it (the rest is a shortfall).
            let side: u128 = cands.iter().map(|c| c.qty.unsigned_abs() as u128).sum();
            prorata_shares(self, &cands, (need as u128).min(side))
                .into_iter()
                .map(|(i, n)| (cands[i].account, n as u64))
                .collect()
        } else {
            let mut left = need;
            self.adl_select(cands, need)
                .into_iter()
                .map(|c| {
                    let take = left.min(c.qty.unsigned_abs());
                    left -= take;
                    (c.account, take)
                })
                .filter(|f| f.1 > 0)
                .collect()
        };
        let mut done = 0u64;
        let fund_before = self.waterfall.fund;
        for (acc, take) in fills {
            // The counterparty closes `take` of its (opposite) position at the ADL price.
            let delta = -q.signum() * take as i64;
            let (realised, _) = self.close_position(acc, m, delta, price)?;
            self.emit(
                EventKind::AdlFill,
                acc,
                m,
                NONE,
                delta,
                price,
                money(realised, "realised PnL")?,
            );
            self.liquidator_close(m, q.signum() * take as i64, price)?;
            done += take;
        }
        self.absorb_adl_rounding(m, fund_before)?;
        if done < need {
            self.emit(
                EventKind::AdlShortfall,
                NONE,
                m,
                NONE,
                q.signum() * (need - done) as i64,
                price,
                0,
            );
        }
        Ok(())
    }
}
