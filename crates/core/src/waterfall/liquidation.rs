//! Liquidation (SPEC §8.1–§8.3): the scope (a cross account or one isolated position), the plan
//! (the smallest closes at mark that restore the buffer, or a takeover), liquidation fills with
//! their fee, and the takeover at the bankruptcy price; the host's entry points for both.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::liq::{bankruptcy_base, bankruptcy_price};
use crate::num::*;

use super::math::{capped_fee, meets_buffer};
use super::{money, EventKind, FillModel, LiquidationPlan, NONE};

impl Engine {
    /// A liquidation scope must exist: the account, and for an isolated scope a market in which the
    /// account holds an isolated position.
    pub(super) fn check_scope(&self, a: u32, iso: Option<u32>) -> Result<()> {
        self.account(a)?;
        if let Some(m) = iso {
            self.market(m)?;
            let isolated =
                self.slot_of(a, m).is_some_and(|s| self.positions[m as usize].isolated[s as usize]);
            if !isolated {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "account {} has no isolated position in market {}",
                        self.accounts[a as usize].id, self.markets[m as usize].symbol
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Equity and MM of the liquidation scope: the cross account, or one isolated position.
    pub(super) fn scope_state(&self, a: u32, iso: Option<u32>) -> Result<(i128, i128)> {
        match iso {
            None => {
                let r = self.cross_row(a)?;
                Ok((r.equity as i128, r.maintenance_margin as i128))
            }
            Some(m) => {
                let s = self.slot_of(a, m).ok_or_else(|| self.no_position(a, m))? as usize;
                let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
                let u = mk.upnl(col.qty[s], col.cost[s])?;
                Ok((
                    add(col.isolated_margin[s] as i128, u, "isolated equity")?,
                    mk.maintenance_margin(col.qty[s], col.cost[s])?,
                ))
            }
        }
    }

    /// Positions of a scope, largest maintenance margin first (then market index): the order in
    /// which liquidation reduces them (SPEC §8.3).
    pub(super) fn scope_positions(
        &self,
        a: u32,
        iso: Option<u32>,
    ) -> Result<Vec<(u32, i64, i128)>> {
        let mut v = Vec::new();
        for &(m, s) in &self.accounts[a as usize].positions {
            let col = &self.positions[m as usize];
            let s = s as usize;
            let in_scope = match iso {
                None => !col.isolated[s],
                Some(im) => im == m,
            };
            if in_scope {
                v.push((
                    m,
                    col.qty[s],
                    self.markets[m as usize].maintenance_margin(col.qty[s], col.cost[s])?,
                ));
            }
        }
        v.sort_by(|x, y| y.2.cmp(&x.2).then(x.0.cmp(&y.0)));
        Ok(v)
    }

    /// Plan the liquidation of a liquidatable account (or isolated position): the smallest closes
    /// at mark, fees included, that restore equity ≥ MM × (1 + buffer); a takeover when equity
    /// ≤ 0 or when closing everything would leave it negative (SPEC §8.3).
    pub fn plan_liquidation(&self, a: u32, iso: Option<u32>) -> Result<LiquidationPlan> {
        self.check_scope(a, iso)?;
        let (mut eq, mut mm) = self.scope_state(a, iso)?;
        let mut plan = LiquidationPlan {
            account: a,
            isolated_market: iso,
            takeover: false,
            orders: Vec::new(),
        };
        if mm == 0 || eq > mm {
            return Ok(plan); // nothing to liquidate
        }
        if eq <= 0 {
            plan.takeover = true;
            return Ok(plan);
        }
        let c = self.waterfall.config;
        let target = |eq: i128, mm: i128| meets_buffer(eq, mm, c.buffer_rate);
        for (m, q, mm_i) in self.scope_positions(a, iso)? {
            let mk = &self.markets[m as usize];
            let s = self.slot_of(a, m).unwrap() as usize;
            let cost = self.positions[m as usize].cost[s];
            // State after closing |d| lots at mark: equity − fee, MM with the rest of the position.
            let after = |d: i64| -> Result<(i128, i128)> {
                let fee = mk.rate_of_value(d, mk.mark, c.fee_rate)?;
                let mm_rest = if d == q {
                    0
                } else {
                    let (closed, _) = mk.close_at(q, cost, d, mk.mark)?;
                    mk.maintenance_margin(q - d, cost - closed)?
                };
                // Closing at mark turns uPnL into cash: equity moves by the fee only (the plan
                // ignores the sub-atom split of the rounding; execution is exact).
                Ok((eq - fee, mm - mm_i + mm_rest))
            };
            let (e_all, m_all) = after(q)?;
            if !target(e_all, m_all) {
                plan.orders.push((m, q));
                eq = e_all;
                mm = m_all;
                continue;
            }
            // Smallest |d| in 1..=|q| meeting the target: bisection with target(lo) false.
            let sign = q.signum();
            let (mut lo, mut hi) = (0u64, q.unsigned_abs());
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                let (e1, m1) = after(sign * mid as i64)?;
                if target(e1, m1) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            plan.orders.push((m, sign * hi as i64));
            return Ok(plan);
        }
        if eq < 0 {
            plan.takeover = true;
            plan.orders.clear();
        }
        Ok(plan)
    }

    /// What the scope has left after a close: Some(equity) while it still holds positions (the
    /// cross account's equity, or the isolated position's), or Done(leftover) once it holds none:
    /// the cross balance, or what the closed isolated position returned to the balance.
    pub(super) fn scope_left(
        &self,
        a: u32,
        iso: Option<u32>,
        returned: Option<i128>,
    ) -> Result<(i128, bool)> {
        match iso {
            Some(m) => match (self.slot_of(a, m), returned) {
                (Some(_), _) => Ok((self.scope_state(a, iso)?.0, true)),
                (None, Some(r)) => Ok((r, false)),
                (None, None) => Ok((0, false)),
            },
            None => {
                let r = self.cross_row(a)?;
                let has = self.accounts[a as usize]
                    .positions
                    .iter()
                    .any(|&(m, s)| !self.positions[m as usize].isolated[s as usize]);
                Ok((r.equity as i128, has))
            }
        }
    }

    /// Take `amount` (≥ 0) from the scope's collateral into the fund, as the liquidation fee.
    pub(super) fn charge_fee(&mut self, a: u32, iso: Option<u32>, amount: i128) -> Result<()> {
        if amount <= 0 {
            return Ok(());
        }
        match iso.and_then(|m| self.slot_of(a, m).map(|s| (m, s))) {
            Some((m, s)) => {
                let im = money(
                    self.positions[m as usize].isolated_margin[s as usize] as i128 - amount,
                    "isolated margin",
                )?;
                self.put_isolated_margin(m, s as usize, im);
            }
            None => {
                let b = money(self.accounts[a as usize].balance as i128 - amount, "balance")?;
                self.put_balance(a, b);
            }
        }
        self.move_fund(amount)?;
        self.emit(
            EventKind::LiquidationFee,
            a,
            iso.unwrap_or(NONE),
            NONE,
            0,
            0,
            money(amount, "liquidation fee")?,
        );
        Ok(())
    }

    /// After a close: the fee, capped by what the scope has left, and a deficit (once the scope
    /// holds nothing) to the fund or bad debt (SPEC §8.2, §8.4).
    pub(super) fn settle_scope(
        &mut self,
        a: u32,
        iso: Option<u32>,
        returned: Option<i128>,
        fee_full: i128,
        m: u32,
    ) -> Result<()> {
        let (left, _) = self.scope_left(a, iso, returned)?;
        self.charge_fee(a, iso, capped_fee(fee_full, left))?;
        let (left, holds) =
            self.scope_left(a, iso, returned.map(|r| r - capped_fee(fee_full, r)))?;
        if left < 0 && !holds {
            self.socialise_shortfall(m, -left)?;
            self.cover_deficit(a, -left)?;
        }
        Ok(())
    }

    /// A liquidation fill on the account (reported by the host or made by the fill model).
    pub(super) fn liquidation_fill(
        &mut self,
        a: u32,
        iso: Option<u32>,
        m: u32,
        delta: i64,
        price: i64,
    ) -> Result<()> {
        self.check_close(a, m, delta, price)?;
        let fee_full =
            self.markets[m as usize].rate_of_value(delta, price, self.waterfall.config.fee_rate)?;
        let (realised, returned) = self.close_position(a, m, delta, price)?;
        self.emit(
            EventKind::LiquidationFill,
            a,
            m,
            NONE,
            delta,
            price,
            money(realised, "realised PnL")?,
        );
        self.settle_scope(a, iso, returned, fee_full, m)
    }

    /// Move the scope's positions to the liquidator at their bankruptcy prices, largest
    /// MM first, each solved with the others at mark (SPEC §8.3); then the fee, capped by what is
    /// left, and a deficit to the fund or bad debt.
    pub(super) fn takeover(&mut self, a: u32, iso: Option<u32>) -> Result<()> {
        let mut fee_full = 0i128;
        let mut returned = None;
        let mut last = NONE; // the market a deficit is socialised in: the last taken over
        for (m, q, _) in self.scope_positions(a, iso)? {
            last = m;
            let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
            let s = self.slot_of(a, m).unwrap() as usize;
            let cost = col.cost[s];
            // Bankruptcy base (SPEC §6): collateral + the other cross positions' uPnL at mark.
            let base = if iso.is_some() {
                col.isolated_margin[s] as i128
            } else {
                let acc = &self.accounts[a as usize];
                let mut others_upnl = 0i128;
                for &(m2, s2) in &acc.positions {
                    let c2 = &self.positions[m2 as usize];
                    if m2 != m && !c2.isolated[s2 as usize] {
                        others_upnl = add(
                            others_upnl,
                            self.markets[m2 as usize]
                                .upnl(c2.qty[s2 as usize], c2.cost[s2 as usize])?,
                            "bankruptcy base",
                        )?;
                    }
                }
                bankruptcy_base(acc.balance as i128, others_upnl)?
            };
            let price = bankruptcy_price(mk, q, cost, base)?.map_or(mk.mark, |p| p.conservative);
            fee_full += mk.rate_of_value(q, price, self.waterfall.config.fee_rate)?;
            let (realised, r) = self.close_position(a, m, q, price)?;
            returned = r;
            self.emit(EventKind::Takeover, a, m, NONE, q, price, money(realised, "realised PnL")?);
            self.liquidator_take(m, q, price)?;
        }
        self.settle_scope(a, iso, returned, fee_full, last)
    }

    /// Liquidate one account (or isolated position) now: plan, fill the orders with the model,
    /// and take over what partial closes cannot save (unwound once per market by run_waterfall).
    pub(super) fn liquidate_scope(
        &mut self,
        a: u32,
        iso: Option<u32>,
        model: FillModel,
    ) -> Result<()> {
        let plan = self.plan_liquidation(a, iso)?;
        if !plan.takeover {
            for &(m, delta) in &plan.orders {
                let price = model.price(self.markets[m as usize].mark, delta);
                self.liquidation_fill(a, iso, m, delta, price)?;
            }
        }
        // Orders filled worse than planned can leave the scope bankrupt: take over the rest.
        let still_open = match iso {
            Some(m) => self.slot_of(a, m).is_some(),
            None => self.accounts[a as usize]
                .positions
                .iter()
                .any(|&(m, s)| !self.positions[m as usize].isolated[s as usize]),
        };
        if still_open {
            let (eq, _) = self.scope_state(a, iso)?;
            if plan.takeover || eq <= 0 {
                self.takeover(a, iso)?;
            }
        }
        Ok(())
    }

    /// Host path: plan the liquidation of one account (cross) or isolated position.
    /// (See plan_liquidation.) Settle one liquidation fill reported by the host's book.
    pub fn settle_liquidation_fill(
        &mut self,
        a: u32,
        iso: Option<u32>,
        m: u32,
        delta: i64,
        price: i64,
    ) -> Result<()> {
        self.check_scope(a, iso)?;
        self.market(m)?;
        if iso.is_some_and(|im| im != m) {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                "an isolated liquidation fills only its own market",
            ));
        }
        if iso.is_none()
            && self.slot_of(a, m).is_some_and(|s| self.positions[m as usize].isolated[s as usize])
        {
            return Err(Error::new(ErrorCode::InvalidArgument, format!("the position of account {} in market {} is isolated: name its market as the scope", self.accounts[a as usize].id, self.markets[m as usize].symbol)));
        }
        self.check_close(a, m, delta, price)?;
        let from = self.waterfall.events.len();
        self.transaction(|e| e.liquidation_fill(a, iso, m, delta, price))?;
        self.cancel_liquidated_orders(from);
        Ok(())
    }

    /// Host path: move the account's (or isolated position's) positions to the liquidator
    /// at their bankruptcy prices.
    pub fn take_over(&mut self, a: u32, iso: Option<u32>) -> Result<()> {
        self.check_scope(a, iso)?;
        let from = self.waterfall.events.len();
        self.transaction(|e| e.takeover(a, iso))?;
        self.cancel_liquidated_orders(from);
        Ok(())
    }
}
