//! The liquidation map (docs/SPEC.md §18). Conversion only: the map lives in deleverage-core
//! (liq_map.rs).

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{err, i64_of, NativeEngine};

/// `edges`: buckets + 1 ticks; the other columns buckets + 2 rows: [0] below `from`,
/// [1..=buckets] the buckets, [buckets + 1] at or above `to`.
#[napi(object)]
pub struct LiquidationMapColumns {
    pub edges: BigInt64Array,
    pub long_qty: BigInt64Array,
    pub long_notional: BigInt64Array,
    pub long_count: Uint32Array,
    pub short_qty: BigInt64Array,
    pub short_notional: BigInt64Array,
    pub short_count: Uint32Array,
}

#[napi]
impl NativeEngine {
    /// Long and short quantity, notional and count whose liquidation price lies in each bucket.
    #[napi(catch_unwind)]
    pub fn liquidation_map(
        &self,
        market: u32,
        from: BigInt,
        to: BigInt,
        buckets: u32,
    ) -> Result<LiquidationMapColumns> {
        let (from, to) = (i64_of(&from, "from")?, i64_of(&to, "to")?);
        let r = self.inner.liquidation_map(market, from, to, buckets).map_err(err)?;
        Ok(LiquidationMapColumns {
            edges: r.edges.into(),
            long_qty: r.long_qty.into(),
            long_notional: r.long_notional.into(),
            long_count: r.long_count.into(),
            short_qty: r.short_qty.into(),
            short_notional: r.short_notional.into(),
            short_count: r.short_count.into(),
        })
    }
}
