//! The liquidator's rounding loss at ADL (SPEC §22). ADL closes the
//! liquidator's position at its average entry rounded to the tick in its own disfavour, and every
//! close rounds against the closer (§8.1; an inverse position opened and closed at one price
//! loses an atom), so the liquidator's PnL at ADL is a small loss by construction. ADL runs because
//! the fund cannot absorb the unwind, so the fund is often empty: what it cannot pay of that
//! rounding goes to the residue sink instead of taking the fund below zero.

use crate::engine::Engine;
use crate::error::Result;
use crate::num::to_i64;
use crate::waterfall::{EventKind, NONE};

impl Engine {
    /// After the ADL fills of market `m`, which started with the fund at `fund_before`: when the
    /// liquidator's closes took the fund below `min(fund_before, 0)`, the difference moves to the
    /// residue sink (a `residue` event with a negative amount). Not under ADL at the mark, where
    /// the liquidator's loss is the mark's distance from its entry and the fund takes it (§8.4).
    pub(crate) fn absorb_adl_rounding(&mut self, m: u32, fund_before: i64) -> Result<()> {
        let floor = fund_before.min(0);
        let fund = self.waterfall.fund;
        if self.waterfall.config.adl_at_mark || fund >= floor {
            return Ok(());
        }
        let excess = i128::from(floor) - i128::from(fund);
        self.waterfall.residue = to_i64(i128::from(self.waterfall.residue) - excess, "residue")?;
        self.move_fund(excess)?;
        self.emit(EventKind::Residue, NONE, m, NONE, 0, 0, to_i64(-excess, "residue")?);
        Ok(())
    }
}
