//! Loss socialisation (SPEC §9.4, Drift G6): a bad debt shared over every open position of a
//! market in proportion to size.

use crate::adl::prorata_shares;
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};

use super::{money, EventKind};

impl Engine {
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
            let col = &e.positions[m as usize];
            let cands: Vec<crate::adl::Candidate> = (0..col.qty.len())
                .map(|s| crate::adl::Candidate {
                    account: col.account[s],
                    qty: col.qty[s],
                    num: 0,
                    den: 1,
                })
                .collect();
            if cands.is_empty() {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "market {} has no open positions to share a loss",
                        e.markets[m as usize].symbol
                    ),
                ));
            }
            let shares = prorata_shares(e, &cands, amount as u128);
            for (i, pay) in shares {
                // Candidates were taken in slot order and paying moves no row: the slot is i.
                let (acc, s) = (cands[i].account, i);
                let col = &e.positions[m as usize];
                if col.isolated[s] {
                    let im =
                        money(col.isolated_margin[s] as i128 - pay as i128, "isolated margin")?;
                    e.put_isolated_margin(m, s, im);
                } else {
                    let b =
                        money(e.accounts[acc as usize].balance as i128 - pay as i128, "balance")?;
                    e.put_balance(acc, b);
                }
                e.emit(EventKind::SocialisedLoss, acc, m, beneficiary, 0, 0, pay as i64);
            }
            let b = money(
                e.accounts[beneficiary as usize].balance as i128 + amount as i128,
                "balance",
            )?;
            e.put_balance(beneficiary, b);
            Ok(())
        })
    }
}
