//! The deleveraging waterfall (SPEC §8–§10): liquidation (partial orders or takeover at the
//! bankruptcy price), the insurance fund and its ADL trigger, auto-deleveraging, loss
//! socialisation and funding. Every money movement is an event and a double entry: cash moves
//! between balances, isolated margins, the insurance fund, the rounding residue and the
//! settlement account (the counter-entry of every realised PnL), and their sum never changes.
//!
//! This module holds what every stage shares: the types, the configuration, the event log, the
//! transaction, the position close and `run_waterfall`, which runs the stages in order. Each stage
//! is one submodule (an `impl Engine` block), with the same stem as its TypeScript twin in
//! `src/fallback/waterfall/`: `liquidation`, `insurance_fund`, `adl` (execution; the ranking is
//! `crate::adl`), `socialise`, `funding`, `adl_fill`.

use std::collections::VecDeque;

use crate::adl::AdlRanking;
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
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
    /// sides, by size (SPEC §21; Drift's loss socialisation).
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
    /// The position moved to the liquidator at the bankruptcy price; amount = realised PnL.
    Takeover = 2,
    /// The insurance fund paid an account's deficit (amount > 0).
    FundPayment = 3,
    /// The liquidator closed in the book; amount = its PnL, booked to the fund.
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
    /// ADL could not find enough opposite quantity: qty lots stay with the liquidator.
    AdlShortfall = 12,
    /// Rounding residue (funding) moved to the residue sink.
    Residue = 13,
    /// The liquidator took over a position opposite to one it held: qty of its own closed
    /// at price inside the liquidator (no book trade), amount = its PnL, to the fund.
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
    /// Positions held by the liquidator after takeovers, per market: (qty, cost basis).
    pub liquidator_positions: Vec<(i64, i64)>,
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

/// A rate (10^-8 units) as the user wrote it, for messages.
fn rate_text(rate: i64) -> String {
    crate::market::written(i128::from(rate), RATE_DECIMALS)
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
            return bad(format!("fee rate must be within 0 and 1, got {}", rate_text(c.fee_rate)));
        }
        if !(0..=RATE_SCALE * 10).contains(&c.buffer_rate) {
            return bad(format!(
                "buffer must be within 0 and 10, got {}",
                rate_text(c.buffer_rate)
            ));
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

    pub fn liquidator_position(&self, m: u32) -> (i64, i64) {
        self.waterfall.liquidator_positions.get(m as usize).copied().unwrap_or((0, 0))
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

    /// A close of `delta` lots at `price` must reduce an existing position without flipping it.
    fn check_close(&self, a: u32, m: u32, delta: i64, price: i64) -> Result<()> {
        self.market(m)?;
        self.reducible_slot(a, m, delta, price).map(|_| ())
    }

    /// `m` is a valid market index here (the callers checked it).
    fn no_position(&self, a: u32, m: u32) -> Error {
        Error::new(
            ErrorCode::InvalidArgument,
            format!(
                "account {} has no position in market {}",
                self.accounts[a as usize].id, self.markets[m as usize].symbol
            ),
        )
    }

    /// The slot of account `a`'s position in `m` if closing `delta` lots of it at `price` reduces
    /// it without flipping it (the checks of check_close, in its order, past the market's).
    fn reducible_slot(&self, a: u32, m: u32, delta: i64, price: i64) -> Result<usize> {
        let s = self.slot_of(a, m).ok_or_else(|| self.no_position(a, m))? as usize;
        let q = self.positions[m as usize].qty[s];
        if delta == 0 || delta.signum() != q.signum() || delta.unsigned_abs() > q.unsigned_abs() {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!(
                    "cannot close {delta} lots of a position of {q} lots (account {}, market {})",
                    self.accounts[a as usize].id, self.markets[m as usize].symbol
                ),
            ));
        }
        check_price(price, self.markets[m as usize].price_decimals, "fill price")?;
        Ok(s)
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
        let s = self.reducible_slot(a, m, delta, price)?;
        let (q, cost, iso, im) = {
            let col = &self.positions[m as usize];
            (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s])
        };
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

    /// The whole waterfall at the current marks: sweep, then every liquidatable account and
    /// isolated position worst first (re-checked when its turn comes), liquidated with the fill
    /// model; then the liquidator unwinds what it holds, once per market in market order
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
                        "unwinding the liquidator in market {}",
                        e.markets[m as usize].symbol
                    ))
                })?;
            }
            Ok(first)
        })?;
        self.cancel_liquidated_orders(from);
        Ok(r)
    }
}

mod adl;
// Executing one merged ADL fill inside a shard (SPEC §16).
mod adl_fill;
mod adl_rounding;
mod funding;
mod insurance_fund;
mod liquidation;
pub mod math;
mod socialise;
mod socialised_loss;
