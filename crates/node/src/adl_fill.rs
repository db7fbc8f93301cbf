//! Executing one merged ADL fill inside a shard (SPEC §16). Conversion only.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{i64_of, NativeEngine};

#[napi]
impl NativeEngine {
    /// Close `qty` lots (signed as the position) of the account's position in `market` at `price`,
    /// fee-free, as an ADL counterparty (an `adlFill` event).
    #[napi(catch_unwind)]
    pub fn settle_adl_fill(
        &mut self,
        account: u32,
        market: u32,
        qty: BigInt,
        price: BigInt,
    ) -> Result<()> {
        let (q, p) = (i64_of(&qty, "qty")?, i64_of(&price, "price")?);
        self.write(|e| e.settle_adl_fill(account, market, q, p))
    }
}
