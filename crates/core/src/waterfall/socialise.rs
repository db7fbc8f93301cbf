//! Loss socialisation (SPEC §9.4, Drift G6): a bad debt shared over every open position of a
//! market in proportion to size.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};

use super::money;

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
}
