//! One merged ADL fill executed where the counterparty lives (SPEC §16): when accounts are split
//! over several engines (docs/SCALE-OUT.md), a coordinator merges the shards' ranked queues and
//! each shard closes its own counterparties' parts. The close is exactly the one `deleverage`
//! makes — fee-free, at the given ADL price, an `adlFill` event — with the counter-entry left in
//! settlement: the engine holding the taken-over position closes its side with
//! `settle_liquidator_fill`.

use super::{money, EventKind, NONE};
use crate::engine::Engine;
use crate::error::Result;

impl Engine {
    /// Close `delta` lots (signed as the position, never flipping it) of account `a`'s position
    /// in market `m` at `price`, without a fee, as an ADL counterparty. All or nothing.
    pub fn settle_adl_fill(&mut self, a: u32, m: u32, delta: i64, price: i64) -> Result<()> {
        self.account(a)?;
        self.check_close(a, m, delta, price)?;
        self.transaction(|e| {
            let (realised, _) = e.close_position(a, m, delta, price)?;
            e.emit(EventKind::AdlFill, a, m, NONE, delta, price, money(realised, "realised PnL")?);
            Ok(())
        })
    }
}
