//! The deleveraging waterfall (SPEC §8–§10): liquidation (partial orders or takeover at the
//! bankruptcy price), the insurance fund and its ADL trigger, auto-deleveraging, loss
//! socialisation and funding. Every money movement is an event and a double entry: cash moves
//! between balances, isolated margins, the insurance fund, the rounding residue and the
//! settlement account (the counter-entry of every realised PnL), and their sum never changes.

use std::collections::VecDeque;

use crate::adl::{prorata_shares, AdlRanking};
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::liq::bankruptcy_price;
use crate::market::check_price;
use crate::num::*;

pub const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FundPolicy {
    /// ADL when the fund cannot absorb a loss (BitMEX, Binance).
    Exhausted,
    /// Bybit-like hysteresis: ADL mode starts when the fund's drawdown from its peak within the
    /// window reaches `trigger_ppm`, and ends when it is back at or below `stop_ppm`.
    Drawdown { trigger_ppm: i64, stop_ppm: i64, window: u64 },
    /// Never ADL: what the fund lacks for a loss is charged to the market's open positions, both
    /// sides, by size (SPEC "The socialise fund policy"; Drift's loss socialisation).
    Socialise,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaterfallConfig {
    /// Liquidation (clearance) fee on the closed value, 10^-8 units; goes to the insurance fund.
    pub fee_rate: i64,
    /// Partial liquidation restores equity ≥ MM × (1 + buffer); 10^-8 units (Drift: 2 %).
    pub buffer_rate: i64,
    pub ranking: AdlRanking,
    /// ADL at the mark instead of the bankruptcy price; the fund takes the difference.
    pub adl_at_mark: bool,
    pub policy: FundPolicy,
}

impl Default for WaterfallConfig {
    fn default() -> Self {
        WaterfallConfig {
            fee_rate: 500_000,
            buffer_rate: 2_000_000,
            ranking: AdlRanking::Bitmex,
            adl_at_mark: false,
            policy: FundPolicy::Exhausted,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    /// A liquidation order filled on the account: qty closed at price, amount = realised PnL.
    LiquidationFill = 0,
    /// Fee from the account to the insurance fund.
    LiquidationFee = 1,
    /// The position moved to the liquidation engine at the bankruptcy price; amount = realised PnL.
    Takeover = 2,
    /// The insurance fund paid an account's deficit (amount > 0).
    FundPayment = 3,
    /// The liquidation engine closed in the book; amount = its PnL, booked to the fund.
    EngineFill = 4,
    /// ADL: `account` (the counterparty) closed qty at price; amount = its realised PnL.
    AdlFill = 5,
    /// `account` paid amount towards `counterparty`'s bad debt (loss socialisation).
    SocialisedLoss = 6,
    /// A deficit no one covered: the account's balance stays negative by amount.
    BadDebt = 7,
    AdlModeOn = 8,
    AdlModeOff = 9,
    /// Funding: amount > 0 received, < 0 paid.
    Funding = 10,
    /// The fund was credited (amount > 0) or debited by the host.
    FundDeposit = 11,
    /// ADL could not find enough opposite quantity: qty lots stay with the liquidation engine.
    AdlShortfall = 12,
    /// Rounding residue (funding) moved to the residue sink.
    Residue = 13,
    /// The liquidation engine took over a position opposite to one it held: qty of its own closed
    /// at price inside the engine (no book trade), amount = its PnL, to the fund.
    EngineNetting = 14,
    /// The account was liquidated: its open order `amount` (the id) of qty at price was cancelled
    /// (SPEC §17.9).
    OrderCancelled = 15,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub seq: u64,
    pub kind: EventKind,
    pub account: u32,
    pub market: u32,
    pub counterparty: u32,
    pub qty: i64,
    pub price: i64,
    pub amount: i64,
}

#[derive(Clone, Debug, Default)]
pub struct WaterfallState {
    pub config: WaterfallConfig,
    pub fund: i64,
    /// Counter-entry of every realised PnL and funding imbalance (the rest of the market).
    pub settlement: i128,
    pub residue: i64,
    /// Positions held by the liquidation engine after takeovers, per market: (qty, cost basis).
    pub engine_positions: Vec<(i64, i64)>,
    pub adl_mode: bool,
    /// (time, fund) after each fund movement, for the drawdown window.
    pub fund_history: VecDeque<(u64, i64)>,
    pub now: u64,
    pub events: Vec<Event>,
    pub next_seq: u64,
    /// Socialise policy: shortfalls the fund advanced in this operation, per market (empty
    /// between operations, so not part of the state bytes).
    pub socialise_pending: Vec<(u32, i128)>,
}

/// How the engine fills its own orders (simulation, or hosts without a book).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillModel {
    AtMark,
    /// Price moves against the order by min(cap, ppm_per_lot × |qty|) parts per million of mark.
    Impact {
        ppm_per_lot: i64,
        cap_ppm: i64,
    },
}

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

/// What a liquidation would do (SPEC §8.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiquidationPlan {
    pub account: u32,
    /// Some(market) for an isolated position.
    pub isolated_market: Option<u32>,
    /// Takeover at the bankruptcy price: no partial close restores the account.
    pub takeover: bool,
    /// (market, qty to close) in the order to execute; the sign is the position's.
    pub orders: Vec<(u32, i64)>,
}

fn money(x: i128, at: &'static str) -> Result<i64> {
    to_i64(x, at)
}

impl Engine {
    pub fn waterfall_config(&self) -> WaterfallConfig {
        self.waterfall.config
    }

    pub fn configure_waterfall(&mut self, c: WaterfallConfig) -> Result<()> {
        let bad = |m: String| Err(Error::new(ErrorCode::InvalidArgument, m));
        if !(0..RATE_SCALE).contains(&c.fee_rate) {
            return bad(format!("fee rate must be within 0 and 1, got {}e-8", c.fee_rate));
        }
        if !(0..=RATE_SCALE * 10).contains(&c.buffer_rate) {
            return bad(format!("buffer must be within 0 and 10, got {}e-8", c.buffer_rate));
        }
        if let FundPolicy::Drawdown { trigger_ppm, stop_ppm, window } = c.policy {
            if !(0 < stop_ppm && stop_ppm < trigger_ppm && trigger_ppm <= RATIO_SCALE)
                || window == 0
            {
                return bad(format!("drawdown policy needs 0 < stop < trigger ≤ 1 and a window > 0, got stop {stop_ppm} ppm, trigger {trigger_ppm} ppm, window {window}"));
            }
        }
        self.waterfall.config = c;
        Ok(())
    }

    pub fn insurance_fund(&self) -> i64 {
        self.waterfall.fund
    }
    pub fn settlement(&self) -> i128 {
        self.waterfall.settlement
    }
    pub fn residue(&self) -> i64 {
        self.waterfall.residue
    }
    pub fn events(&self) -> &[Event] {
        &self.waterfall.events
    }
    pub fn next_seq(&self) -> u64 {
        self.waterfall.next_seq
    }
    /// The seq of the oldest event kept (= next_seq when none is): events before it were trimmed.
    pub fn first_seq(&self) -> u64 {
        self.waterfall.events.first().map_or(self.waterfall.next_seq, |e| e.seq)
    }

    /// Drop the events with seq < `before_seq` (SPEC §8.6): the log is the host's to archive, the
    /// engine need not keep it for ever. Numbering goes on (the next event keeps its seq); a seq
    /// not yet given out is refused, one already trimmed is a no-op.
    pub fn trim_events(&mut self, before_seq: u64) -> Result<()> {
        if before_seq > self.waterfall.next_seq {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "beforeSeq {before_seq} is beyond the next event's seq {}",
                    self.waterfall.next_seq
                ),
            ));
        }
        let ev = &mut self.waterfall.events;
        let n = ev.partition_point(|e| e.seq < before_seq);
        ev.drain(..n);
        // Give the memory back once most of the log is gone (a trim is rare, a reallocation cheap).
        if ev.capacity() > 2 * ev.len() + 1024 {
            ev.shrink_to_fit();
        }
        Ok(())
    }
    pub fn adl_mode(&self) -> bool {
        self.waterfall.adl_mode
    }
    pub fn engine_position(&self, m: u32) -> (i64, i64) {
        self.waterfall.engine_positions.get(m as usize).copied().unwrap_or((0, 0))
    }

    /// Every unit of money the engine holds: balances, isolated margins, fund, residue and the
    /// settlement counter-entry. Every waterfall operation keeps it constant (SPEC §8.5); only the
    /// host's own balance and margin writes (set_balances, set_positions) change it.
    pub fn cash_total(&self) -> i128 {
        let mut t: i128 = self.accounts.iter().filter(|a| a.alive).map(|a| a.balance as i128).sum();
        for col in &self.positions {
            t += col
                .isolated_margin
                .iter()
                .zip(&col.isolated)
                .filter(|(_, &i)| i)
                .map(|(&m, _)| m as i128)
                .sum::<i128>();
        }
        t + self.waterfall.fund as i128 + self.waterfall.residue as i128 + self.waterfall.settlement
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn emit(
        &mut self,
        kind: EventKind,
        account: u32,
        market: u32,
        counterparty: u32,
        qty: i64,
        price: i64,
        amount: i64,
    ) {
        let seq = self.waterfall.next_seq;
        self.waterfall.next_seq += 1;
        self.waterfall.events.push(Event {
            seq,
            kind,
            account,
            market,
            counterparty,
            qty,
            price,
            amount,
        });
    }

    /// Run `f` all or nothing (DESIGN §5): every write it makes to the book (balances, position
    /// rows, removals) goes to an undo log, the waterfall's own state is kept aside (its event log
    /// only grows: its length is kept), and a failing step — an error or a panic — is rolled back,
    /// so the engine is exactly as before. No copy of the book (a clone cost ≈ 30–50 ms at 1M
    /// positions per call). Nested calls run inside the outer transaction.
    fn transaction<T>(&mut self, f: impl FnOnce(&mut Engine) -> Result<T>) -> Result<T> {
        if self.undo.is_some() {
            return f(self);
        }
        let events = std::mem::take(&mut self.waterfall.events);
        let saved = self.waterfall.clone();
        self.waterfall.events = events;
        let first = self.waterfall.events.len();
        self.undo = Some(Vec::new());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let v = f(self)?;
            self.charge_socialised()?;
            Ok(v)
        }));
        let log = self.undo.take().unwrap_or_default();
        let v = match r {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.roll_back_transaction(log, saved, first);
                return Err(e);
            }
            Err(panic) => {
                self.roll_back_transaction(log, saved, first);
                std::panic::resume_unwind(panic);
            }
        };
        // Every account a waterfall step changes is named in one of its events (as the account,
        // or as the beneficiary of a socialised loss): the watch re-checks exactly those.
        for i in first..self.waterfall.events.len() {
            let (a, c) = (self.waterfall.events[i].account, self.waterfall.events[i].counterparty);
            for x in [a, c] {
                if x != NONE {
                    self.watch.touch(x);
                }
            }
        }
        Ok(v)
    }

    fn roll_back_transaction(
        &mut self,
        log: Vec<crate::engine::Undo>,
        saved: WaterfallState,
        first: usize,
    ) {
        self.roll_back(log);
        let mut events = std::mem::take(&mut self.waterfall.events);
        events.truncate(first);
        self.waterfall = saved;
        self.waterfall.events = events;
    }

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
    fn record_fund(&mut self) {
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
    fn update_adl_mode(&mut self) {
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
        // drawdown ≥ x ⇔ (peak − fund)·10^6 ≥ x·peak (cross-multiplied)
        let dd = |x: i64| peak > 0 && (peak - fund) * RATIO_SCALE as i128 >= x as i128 * peak;
        if !self.waterfall.adl_mode && dd(trigger_ppm) {
            self.waterfall.adl_mode = true;
            self.emit(EventKind::AdlModeOn, NONE, NONE, NONE, 0, 0, self.waterfall.fund);
        } else if self.waterfall.adl_mode && !dd(stop_ppm + 1) {
            self.waterfall.adl_mode = false;
            self.emit(EventKind::AdlModeOff, NONE, NONE, NONE, 0, 0, self.waterfall.fund);
        }
    }

    /// Whether the fund may take a loss of `loss` atoms now (SPEC §8.4).
    fn fund_can_absorb(&self, loss: i128) -> bool {
        !self.waterfall.adl_mode && self.waterfall.fund as i128 >= loss
    }

    pub(crate) fn move_fund(&mut self, delta: i128) -> Result<()> {
        self.waterfall.fund = money(self.waterfall.fund as i128 + delta, "insurance fund")?;
        self.record_fund();
        Ok(())
    }

    /// A liquidation scope must exist: the account, and for an isolated scope a market in which the
    /// account holds an isolated position.
    fn check_scope(&self, a: u32, iso: Option<u32>) -> Result<()> {
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

    /// A close of `delta` lots at `price` must reduce an existing position without flipping it.
    fn check_close(&self, a: u32, m: u32, delta: i64, price: i64) -> Result<()> {
        self.market(m)?;
        let Some(s) = self.slot_of(a, m) else {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "account {} has no position in market {}",
                    self.accounts[a as usize].id, self.markets[m as usize].symbol
                ),
            ));
        };
        let q = self.positions[m as usize].qty[s as usize];
        if delta == 0 || delta.signum() != q.signum() || delta.unsigned_abs() > q.unsigned_abs() {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "cannot close {delta} lots of a position of {q} lots (account {}, market {})",
                    self.accounts[a as usize].id, self.markets[m as usize].symbol
                ),
            ));
        }
        check_price(price, "fill price")
    }

    /// Equity and MM of the liquidation scope: the cross account, or one isolated position.
    fn scope_state(&self, a: u32, iso: Option<u32>) -> Result<(i128, i128)> {
        match iso {
            None => {
                let r = self.cross_row(a)?;
                Ok((r.equity as i128, r.maintenance_margin as i128))
            }
            Some(m) => {
                let s = self.slot_of(a, m).ok_or_else(|| {
                    Error::new(
                        ErrorCode::InvalidArgument,
                        format!(
                            "account {} has no position in market {}",
                            self.accounts[a as usize].id, self.markets[m as usize].symbol
                        ),
                    )
                })? as usize;
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
    fn scope_positions(&self, a: u32, iso: Option<u32>) -> Result<Vec<(u32, i64, i128)>> {
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
        let target = |eq: i128, mm: i128| {
            eq * RATE_SCALE as i128 >= mm * (RATE_SCALE + c.buffer_rate) as i128
        };
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

    /// Close `delta` lots of a position at `price`: realised PnL into its collateral (balance,
    /// or isolated margin), the counter-entry into settlement. An isolated position closed in
    /// full returns what is left of its margin to the balance (the second value).
    fn close_position(
        &mut self,
        a: u32,
        m: u32,
        delta: i64,
        price: i64,
    ) -> Result<(i128, Option<i128>)> {
        let s = self.slot_of(a, m).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "account {} has no position in market {}",
                    self.accounts[a as usize].id, self.markets[m as usize].symbol
                ),
            )
        })? as usize;
        let (q, cost, iso, im) = {
            let col = &self.positions[m as usize];
            (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s])
        };
        if delta == 0 || delta.signum() != q.signum() || delta.unsigned_abs() > q.unsigned_abs() {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "cannot close {delta} lots of a position of {q} lots (account {}, market {})",
                    self.accounts[a as usize].id, self.markets[m as usize].symbol
                ),
            ));
        }
        check_price(price, "fill price")?;
        let (closed, realised) = self.markets[m as usize].close_at(q, cost, delta, price)?;
        self.waterfall.settlement = sub(self.waterfall.settlement, realised, "settlement")?;
        let mut returned = None;
        if iso {
            let im2 = im as i128 + realised;
            if delta == q {
                let b = money(self.accounts[a as usize].balance as i128 + im2, "balance")?;
                self.remove_position(a, m);
                self.put_balance(a, b);
                returned = Some(im2);
            } else {
                self.put_row(m, s, q - delta, cost - closed, money(im2, "isolated margin")?);
            }
        } else {
            let b = money(self.accounts[a as usize].balance as i128 + realised, "balance")?;
            self.put_balance(a, b);
            if delta == q {
                self.remove_position(a, m);
            } else {
                self.put_row(m, s, q - delta, cost - closed, im);
            }
        }
        Ok((realised, returned))
    }

    /// What the scope has left after a close: Some(equity) while it still holds positions (the
    /// cross account's equity, or the isolated position's), or Done(leftover) once it holds none:
    /// the cross balance, or what the closed isolated position returned to the balance.
    fn scope_left(&self, a: u32, iso: Option<u32>, returned: Option<i128>) -> Result<(i128, bool)> {
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
    fn charge_fee(&mut self, a: u32, iso: Option<u32>, amount: i128) -> Result<()> {
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
    fn settle_scope(
        &mut self,
        a: u32,
        iso: Option<u32>,
        returned: Option<i128>,
        fee_full: i128,
        m: u32,
    ) -> Result<()> {
        let (left, _) = self.scope_left(a, iso, returned)?;
        self.charge_fee(a, iso, fee_full.min(left.max(0)))?;
        let (left, holds) =
            self.scope_left(a, iso, returned.map(|r| r - fee_full.min(r.max(0))))?;
        if left < 0 && !holds {
            self.socialise_shortfall(m, -left)?;
            self.cover_deficit(a, -left)?;
        }
        Ok(())
    }

    /// A liquidation fill on the account (reported by the host or made by the fill model).
    fn liquidation_fill(
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

    /// The fund pays an account's deficit if policy lets it; what it cannot pay stays as bad debt
    /// (the balance remains negative by that much).
    fn cover_deficit(&mut self, a: u32, deficit: i128) -> Result<()> {
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

    /// Move the scope's positions to the liquidation engine at their bankruptcy prices, largest
    /// MM first, each solved with the others at mark (SPEC §8.3); then the fee, capped by what is
    /// left, and a deficit to the fund or bad debt.
    fn takeover(&mut self, a: u32, iso: Option<u32>) -> Result<()> {
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
                let mut b = acc.balance as i128;
                for &(m2, s2) in &acc.positions {
                    let c2 = &self.positions[m2 as usize];
                    if m2 != m && !c2.isolated[s2 as usize] {
                        b = add(
                            b,
                            self.markets[m2 as usize]
                                .upnl(c2.qty[s2 as usize], c2.cost[s2 as usize])?,
                            "bankruptcy base",
                        )?;
                    }
                }
                b
            };
            let price = bankruptcy_price(mk, q, cost, base)?.map_or(mk.mark, |p| p.conservative);
            fee_full += mk.rate_of_value(q, price, self.waterfall.config.fee_rate)?;
            let (realised, r) = self.close_position(a, m, q, price)?;
            returned = r;
            self.emit(EventKind::Takeover, a, m, NONE, q, price, money(realised, "realised PnL")?);
            self.engine_take(m, q, price)?;
        }
        self.settle_scope(a, iso, returned, fee_full, last)
    }

    /// The liquidation engine takes `q` at `price` (SPEC §8.4). Against an opposite engine
    /// position the two net inside the engine at `price` — one account holding both, as at a
    /// venue — with the engine's PnL to the fund (an `engineNetting` event, no book trade). The
    /// rest opens at `price`.
    fn engine_take(&mut self, m: u32, q: i64, price: i64) -> Result<()> {
        let ep = &mut self.waterfall.engine_positions;
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
            let pnl = self.engine_close(m, delta, price)?;
            self.emit(
                EventKind::EngineNetting,
                NONE,
                m,
                NONE,
                delta,
                price,
                money(pnl, "engine PnL")?,
            );
            open = q + delta;
        }
        if open != 0 {
            let cost = self.markets[m as usize].cost_basis(open, price)?;
            let (held, held_cost) = self.engine_position(m);
            self.waterfall.engine_positions[m as usize] = (
                money(held as i128 + open as i128, "engine position")?,
                money(held_cost as i128 + cost as i128, "engine cost basis")?,
            );
        }
        Ok(())
    }

    /// Close `delta` of the liquidation engine's position in `m` at `price`; its PnL goes to the
    /// fund. Returns that PnL.
    fn engine_close(&mut self, m: u32, delta: i64, price: i64) -> Result<i128> {
        let (q, cost) = self.engine_position(m);
        let (closed, pnl) = self.markets[m as usize].close_at(q, cost, delta, price)?;
        self.waterfall.engine_positions[m as usize] = (q - delta, cost - closed);
        self.waterfall.settlement = sub(self.waterfall.settlement, pnl, "settlement")?;
        self.move_fund(pnl)?;
        Ok(pnl)
    }

    /// The price the engine's position is deleveraged at: its bankruptcy price (the average entry
    /// of what it took over, rounded to the tick in its own disfavour so the fund never gains
    /// from rounding at the counterparties' expense) or the mark, by policy.
    fn adl_price(&self, m: u32) -> i64 {
        let mk = &self.markets[m as usize];
        let (q, cost) = self.engine_position(m);
        if self.waterfall.config.adl_at_mark || q == 0 {
            return mk.mark;
        }
        if cost == 0 {
            return mk.mark; // an inverse position worth less than an atom at entry: no entry price
        }
        // Divide with both operands made positive so the rounding direction is the intended one.
        let (n, d) = match mk.kind {
            // entry = cost / q ticks
            crate::market::ContractKind::Linear => (cost as i128, q as i128),
            // entry = q·size·10^t / cost
            crate::market::ContractKind::Inverse => {
                let t = mk.inverse_exp();
                let n = (q as i128 * mk.contract_size as i128).checked_mul(pow10(t.max(0) as u32));
                let d = (cost as i128).checked_mul(pow10((-t).max(0) as u32));
                match (n, d) {
                    (Some(n), Some(d)) => (n, d),
                    _ => return mk.mark,
                }
            }
        };
        let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
        // a long engine sells at ≤ entry (floor), a short buys at ≥ entry (ceil)
        let p = if q > 0 { div_floor(n, d) } else { div_ceil(n, d) };
        p.clamp(1, PRICE_MAX_TICKS as i128) as i64
    }

    /// Unwind the liquidation engine's position in `m`: in the book at the model's price when
    /// the fund can absorb the result, else by ADL against the opposite side (SPEC §8.4, §9).
    fn unwind(&mut self, m: u32, model: FillModel) -> Result<()> {
        let (q, cost) = self.engine_position(m);
        if q == 0 {
            return Ok(());
        }
        let mk = &self.markets[m as usize];
        let price = model.price(mk.mark, q);
        let (_, pnl) = mk.close_at(q, cost, q, price)?;
        self.update_adl_mode();
        self.socialise_shortfall(m, -pnl)?;
        if pnl >= 0 || self.fund_can_absorb(-pnl) {
            let pnl = self.engine_close(m, q, price)?;
            self.emit(EventKind::EngineFill, NONE, m, NONE, q, price, money(pnl, "engine PnL")?);
            return Ok(());
        }
        self.deleverage(m)
    }

    /// Liquidate one account (or isolated position) now: plan, fill the orders with the model,
    /// and take over what partial closes cannot save (unwound once per market by run_waterfall).
    fn liquidate_scope(&mut self, a: u32, iso: Option<u32>, model: FillModel) -> Result<()> {
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

    /// The whole waterfall at the current marks: sweep, then every liquidatable account and
    /// isolated position worst first (re-checked when its turn comes), liquidated with the fill
    /// model; then the liquidation engine unwinds what it holds, once per market in market order
    /// (one fill or one ADL for all of a market's takeovers), the fund and ADL as policy says.
    /// All or nothing. Returns the first new event's seq.
    pub fn run_waterfall(&mut self, model: FillModel, now: u64) -> Result<u64> {
        let first = self.waterfall.next_seq;
        let from = self.waterfall.events.len();
        let r = self.transaction(|e| {
            e.waterfall.now = e.waterfall.now.max(now);
            let rows = e.sweep(None)?.liquidatable;
            for r in rows {
                let iso = (r.market != u32::MAX).then_some(r.market);
                if iso.is_some_and(|m| e.slot_of(r.account, m).is_none()) {
                    continue; // closed by an earlier ADL
                }
                let (eq, mm) = e.scope_state(r.account, iso)?;
                if mm > 0 && eq <= mm {
                    e.liquidate_scope(r.account, iso, model).map_err(|x| {
                        x.context(format!(
                            "liquidating account {}",
                            e.accounts[r.account as usize].id
                        ))
                    })?;
                }
            }
            for m in 0..e.markets.len() as u32 {
                e.unwind(m, model).map_err(|x| {
                    x.context(format!(
                        "unwinding the liquidation engine in market {}",
                        e.markets[m as usize].symbol
                    ))
                })?;
            }
            Ok(first)
        })?;
        self.cancel_liquidated_orders(from);
        Ok(r)
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

    /// Host path: move the account's (or isolated position's) positions to the liquidation engine
    /// at their bankruptcy prices.
    pub fn take_over(&mut self, a: u32, iso: Option<u32>) -> Result<()> {
        self.check_scope(a, iso)?;
        let from = self.waterfall.events.len();
        self.transaction(|e| e.takeover(a, iso))?;
        self.cancel_liquidated_orders(from);
        Ok(())
    }

    /// Host path: the liquidation engine's own order in `m` filled in the book.
    pub fn settle_engine_fill(&mut self, m: u32, delta: i64, price: i64) -> Result<()> {
        self.market(m)?;
        check_price(price, "fill price")?;
        let (q, _) = self.engine_position(m);
        if delta == 0 || delta.signum() != q.signum() || delta.unsigned_abs() > q.unsigned_abs() {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "cannot close {delta} lots of the liquidation engine's {q} lots in market {}",
                    self.markets[m as usize].symbol
                ),
            ));
        }
        self.transaction(|e| {
            let pnl = e.engine_close(m, delta, price)?;
            e.emit(EventKind::EngineFill, NONE, m, NONE, delta, price, money(pnl, "engine PnL")?);
            Ok(())
        })
    }

    /// ADL the liquidation engine's whole position in `m` against the opposite side, ranked or
    /// pro rata; exactly the engine's quantity, never more (SPEC §9.2).
    pub fn auto_deleverage(&mut self, m: u32) -> Result<()> {
        self.market(m)?;
        self.transaction(|e| e.deleverage(m))
    }

    fn deleverage(&mut self, m: u32) -> Result<()> {
        let (q, _) = self.engine_position(m);
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
            self.engine_close(m, q.signum() * take as i64, price)?;
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

    /// Socialise `amount` of `beneficiary`'s bad debt over every open position in `m`, both sides,
    /// in proportion to size (Drift's cumulative funding bump, G6): exact shares, largest
    /// remainder first, paid from each position's collateral to the beneficiary's balance.
    pub fn socialise_loss(&mut self, m: u32, amount: i64, beneficiary: u32) -> Result<()> {
        self.market(m)?;
        self.account(beneficiary)?;
        if amount <= 0 {
            return Err(Error::new(
                ErrorCode::InvalidAmount,
                format!("loss to socialise must be positive, got {amount}"),
            ));
        }
        self.transaction(|e| {
            if !e.charge_loss_shares(m, amount as i128, beneficiary)? {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "market {} has no open positions to share a loss",
                        e.markets[m as usize].symbol
                    ),
                ));
            }
            let b = money(
                e.accounts[beneficiary as usize].balance as i128 + amount as i128,
                "balance",
            )?;
            e.put_balance(beneficiary, b);
            Ok(())
        })
    }

    /// Settle a funding rate (10^-8 units, > 0: longs pay shorts) on every position of `m` by its
    /// value at mark. Payers pay rounded up, receivers get rounded down; the difference (and any
    /// open-interest imbalance with the rest of the market) goes to settlement, rounding to the
    /// residue sink — conserved exactly (SPEC §10).
    pub fn settle_funding(&mut self, m: u32, rate: i64) -> Result<()> {
        self.market(m)?;
        if rate.unsigned_abs() >= RATE_SCALE as u64 {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("funding rate must be within ±1, got {rate}e-8"),
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
                // Longs pay when rate > 0. Payers round up, receivers down.
                let pays = (q > 0) == (rate > 0);
                let flow = if pays {
                    let v = mk.rate_of_value(q, mk.mark, rate.abs())?;
                    paid += v;
                    -v
                } else {
                    let v = mk.rate_of_value_rounded(q, mk.mark, rate.abs(), Round::Floor)?;
                    received += v;
                    v
                };
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

// Executing one merged ADL fill inside a shard (SPEC §16).
mod adl_fill;
