//! Loss socialisation (SPEC §9.4 and §21): a loss shared by every open
//! position of a market, both sides, pro rata by size (the §9.3 rule over atoms). Used by the
//! host's `socialiseLoss` (to a beneficiary account) and by the socialise fund policy, which
//! raises what the insurance fund lacks from the market instead of deleveraging it.

use crate::adl::{prorata_shares, Candidate};
use crate::engine::Engine;
use crate::error::Result;
use crate::num::to_i64 as money;
use crate::waterfall::{EventKind, FundPolicy, NONE};

impl Engine {
    /// Charge `amount` atoms to the open positions of `m` by size, each from its collateral
    /// (balance, or isolated margin), one `SocialisedLoss` event each naming `payee` (an account,
    /// or `NONE` for the fund). Returns false, charging nothing, when `m` has no open position.
    /// The caller credits the payee.
    pub(crate) fn charge_loss_shares(&mut self, m: u32, amount: i128, payee: u32) -> Result<bool> {
        let col = &self.positions[m as usize];
        let cands: Vec<Candidate> = (0..col.qty.len())
            .map(|s| Candidate { account: col.account[s], qty: col.qty[s], num: 0, den: 1 })
            .collect();
        if cands.is_empty() {
            return Ok(false);
        }
        for (i, pay) in prorata_shares(self, &cands, amount as u128) {
            // Candidates were taken in slot order and paying moves no row: the slot is i.
            let (acc, s) = (cands[i].account, i);
            let col = &self.positions[m as usize];
            if col.isolated[s] {
                let im = money(col.isolated_margin[s] as i128 - pay as i128, "isolated margin")?;
                self.put_isolated_margin(m, s, im);
            } else {
                let b =
                    money(self.accounts[acc as usize].balance as i128 - pay as i128, "balance")?;
                self.put_balance(acc, b);
            }
            self.emit(EventKind::SocialisedLoss, acc, m, payee, 0, 0, money(pay as i128, "share")?);
        }
        Ok(true)
    }

    /// Under the socialise fund policy, before the fund pays a loss of `loss` atoms arising in
    /// market `m`: the fund advances what it lacks (`loss − max(fund, 0)`), so it then pays the
    /// whole loss, and `m`'s open positions repay it once at the end of the operation
    /// (`charge_socialised`: one charge per market, not one pass over the market per deficit). A
    /// market with no open position, or no market, leaves the fund short (the usual bad debt or
    /// ADL path follows). Other policies: nothing.
    pub(crate) fn socialise_shortfall(&mut self, m: u32, loss: i128) -> Result<()> {
        // NONE: a scope that held no position (a host takeover of a bare deficit) names no market.
        if self.waterfall.config.policy != FundPolicy::Socialise || m == NONE {
            return Ok(());
        }
        let short = loss - i128::from(self.waterfall.fund.max(0));
        if short <= 0 || self.positions[m as usize].qty.is_empty() {
            return Ok(());
        }
        let pending = &mut self.waterfall.socialise_pending;
        match pending.iter_mut().find(|p| p.0 == m) {
            Some(p) => p.1 += short,
            None => pending.push((m, short)),
        }
        self.move_fund(short)
    }

    /// At the end of an operation: each market's advanced shortfall is charged to its open
    /// positions then, in market order, into the fund; a market left with no position cannot
    /// repay, and the fund keeps the loss (it may go below zero).
    pub(crate) fn charge_socialised(&mut self) -> Result<()> {
        let mut pending = std::mem::take(&mut self.waterfall.socialise_pending);
        pending.sort_unstable_by_key(|p| p.0);
        for (m, amount) in pending {
            if !self.charge_loss_shares(m, amount, NONE)? {
                self.move_fund(-amount)?;
            }
        }
        Ok(())
    }
}
