//! The insurance fund (SPEC §8.4): deposits, the drawdown history and ADL mode, deficits paid or
//! left as bad debt, and the liquidator's own position (taken over, netted, unwound in the book
//! with its PnL to the fund).

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::market::check_price;
use crate::num::*;

use super::math::drawdown_reached;
use super::{money, EventKind, FillModel, FundPolicy, NONE};

impl Engine {
    pub fn deposit_fund(&mut self, amount: i64, now: u64) -> Result<()> {
        // A withdrawal must not take the fund below zero; a deposit may refill a negative fund.
        let f =
            self.waterfall.fund.checked_add(amount).filter(|&f| f >= 0 || amount >= 0).ok_or_else(
                || {
                    Error::new(
                        ErrorCode::InvalidAmount,
                        format!(
                            "insurance fund of {} cannot take a deposit of {amount}",
                            self.waterfall.fund
                        ),
                    )
                },
            )?;
        // A deposit brings money in from outside: the settlement account is its source.
        self.waterfall.settlement -= amount as i128;
        self.waterfall.fund = f;
        self.waterfall.now = self.waterfall.now.max(now);
        self.record_fund();
        self.emit(EventKind::FundDeposit, NONE, NONE, NONE, 0, 0, amount);
        // A deposit can end ADL mode (drawdown back under the stop ratio).
        self.update_adl_mode();
        Ok(())
    }

    /// Keep (time, fund) samples for the drawdown window; only the drawdown policy needs them.
    pub(super) fn record_fund(&mut self) {
        let w = &mut self.waterfall;
        let FundPolicy::Drawdown { window, .. } = w.config.policy else { return };
        w.fund_history.push_back((w.now, w.fund));
        // Samples are taken at non-decreasing times, so now − t never underflows.
        while w.fund_history.front().is_some_and(|&(t, _)| w.now - t > window)
            && w.fund_history.len() > 1
        {
            w.fund_history.pop_front();
        }
    }

    /// Update ADL mode from the drawdown (no-op under the exhausted policy).
    pub(super) fn update_adl_mode(&mut self) {
        let FundPolicy::Drawdown { trigger_ppm, stop_ppm, window } = self.waterfall.config.policy
        else {
            return;
        };
        let now = self.waterfall.now;
        let fund = self.waterfall.fund as i128;
        let peak = self
            .waterfall
            .fund_history
            .iter()
            .filter(|&&(t, _)| now - t <= window)
            .map(|&(_, f)| f as i128)
            .max()
            .unwrap_or(fund)
            .max(fund);
        let dd = |ppm: i64| drawdown_reached(peak, fund, ppm);
        if !self.waterfall.adl_mode && dd(trigger_ppm) {
            self.waterfall.adl_mode = true;
            self.emit(EventKind::AdlModeOn, NONE, NONE, NONE, 0, 0, self.waterfall.fund);
        } else if self.waterfall.adl_mode && !dd(stop_ppm + 1) {
            self.waterfall.adl_mode = false;
            self.emit(EventKind::AdlModeOff, NONE, NONE, NONE, 0, 0, self.waterfall.fund);
        }
    }

    /// Whether the fund may take a loss of `loss` atoms now (SPEC §8.4).
    pub(super) fn fund_can_absorb(&self, loss: i128) -> bool {
        !self.waterfall.adl_mode && self.waterfall.fund as i128 >= loss
    }

    pub(crate) fn move_fund(&mut self, delta: i128) -> Result<()> {
        self.waterfall.fund = money(self.waterfall.fund as i128 + delta, "insurance fund")?;
        self.record_fund();
        Ok(())
    }

    /// The fund pays an account's deficit if policy lets it; what it cannot pay stays as bad debt
    /// (the balance remains negative by that much).
    pub(super) fn cover_deficit(&mut self, a: u32, deficit: i128) -> Result<()> {
        self.update_adl_mode();
        let pay = if self.waterfall.adl_mode {
            0
        } else {
            deficit.min(self.waterfall.fund.max(0) as i128)
        };
        if pay > 0 {
            self.move_fund(-pay)?;
            let b = money(self.accounts[a as usize].balance as i128 + pay, "balance")?;
            self.put_balance(a, b);
            self.emit(EventKind::FundPayment, a, NONE, NONE, 0, 0, money(pay, "fund payment")?);
        }
        if deficit > pay {
            self.emit(EventKind::BadDebt, a, NONE, NONE, 0, 0, money(deficit - pay, "bad debt")?);
        }
        Ok(())
    }

    /// The liquidator takes `q` at `price` (SPEC §8.4). Against an opposite liquidator
    /// position the two net inside the liquidator at `price` — one account holding both, as at a
    /// venue — with the liquidator's PnL to the fund (an `engineNetting` event, no book trade). The
    /// rest opens at `price`.
    pub(super) fn liquidator_take(&mut self, m: u32, q: i64, price: i64) -> Result<()> {
        let ep = &mut self.waterfall.liquidator_positions;
        if ep.len() <= m as usize {
            ep.resize(m as usize + 1, (0, 0));
        }
        let (held, held_cost) = ep[m as usize];
        let mut open = q;
        if held != 0 && (held > 0) != (q > 0) {
            // Both at most QTY_MAX in size: no overflow.
            let delta = held.signum() * held.abs().min(q.abs());
            let (_, pnl) = self.markets[m as usize].close_at(held, held_cost, delta, price)?;
            self.socialise_shortfall(m, -pnl)?;
            let pnl = self.liquidator_close(m, delta, price)?;
            self.emit(
                EventKind::EngineNetting,
                NONE,
                m,
                NONE,
                delta,
                price,
                money(pnl, "liquidator PnL")?,
            );
            open = q + delta;
        }
        if open != 0 {
            let cost = self.markets[m as usize].cost_basis(open, price)?;
            let (held, held_cost) = self.liquidator_position(m);
            self.waterfall.liquidator_positions[m as usize] = (
                money(held as i128 + open as i128, "liquidator position")?,
                money(held_cost as i128 + cost as i128, "liquidator cost basis")?,
            );
        }
        Ok(())
    }

    /// Close `delta` of the liquidator's position in `m` at `price`; its PnL goes to the
    /// fund. Returns that PnL.
    pub(super) fn liquidator_close(&mut self, m: u32, delta: i64, price: i64) -> Result<i128> {
        let (q, cost) = self.liquidator_position(m);
        let (closed, pnl) = self.markets[m as usize].close_at(q, cost, delta, price)?;
        self.waterfall.liquidator_positions[m as usize] = (q - delta, cost - closed);
        self.waterfall.settlement = sub(self.waterfall.settlement, pnl, "settlement")?;
        self.move_fund(pnl)?;
        Ok(pnl)
    }

    /// Unwind the liquidator's position in `m`: in the book at the model's price when
    /// the fund can absorb the result, else by ADL against the opposite side (SPEC §8.4, §9).
    pub(super) fn unwind(&mut self, m: u32, model: FillModel) -> Result<()> {
        let (q, cost) = self.liquidator_position(m);
        if q == 0 {
            return Ok(());
        }
        let mk = &self.markets[m as usize];
        let price = model.price(mk.mark, q);
        let (_, pnl) = mk.close_at(q, cost, q, price)?;
        self.update_adl_mode();
        self.socialise_shortfall(m, -pnl)?;
        if pnl >= 0 || self.fund_can_absorb(-pnl) {
            let pnl = self.liquidator_close(m, q, price)?;
            self.emit(
                EventKind::EngineFill,
                NONE,
                m,
                NONE,
                q,
                price,
                money(pnl, "liquidator PnL")?,
            );
            return Ok(());
        }
        self.deleverage(m)
    }

    /// Host path: the liquidator's own order in `m` filled in the book.
    pub fn settle_liquidator_fill(&mut self, m: u32, delta: i64, price: i64) -> Result<()> {
        let price_decimals = self.market(m)?.price_decimals;
        check_price(price, price_decimals, "fill price")?;
        let (q, _) = self.liquidator_position(m);
        if delta == 0 || delta.signum() != q.signum() || delta.unsigned_abs() > q.unsigned_abs() {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "cannot close {delta} lots of the liquidator's {q} lots in market {}",
                    self.markets[m as usize].symbol
                ),
            ));
        }
        self.transaction(|e| {
            let pnl = e.liquidator_close(m, delta, price)?;
            e.emit(
                EventKind::EngineFill,
                NONE,
                m,
                NONE,
                delta,
                price,
                money(pnl, "liquidator PnL")?,
            );
            Ok(())
        })
    }
}
