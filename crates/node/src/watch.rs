//! Binding of the liquidation watch (docs/SPEC.md §14), batched fills (§15) and the ADL selection
//! timing used by the benchmark: one more `impl NativeEngine` block, conversion only.

use deleverage_core as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::{err, invalid, margin_columns, Col, MarginColumns, NativeEngine};

/// Scopes whose liquidatable status changed since the last report (market = 0xffffffff: cross).
#[napi(object)]
pub struct WatchChanges {
    pub account: Uint32Array,
    pub market: Uint32Array,
    /// 1 newly liquidatable, 0 no longer liquidatable.
    pub liquidatable: Uint8Array,
}

#[napi]
impl NativeEngine {
    /// Move marks and return the status changes since the last call (the first call builds the
    /// index and reports every liquidatable scope).
    #[napi(catch_unwind)]
    pub fn update_marks(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] markets: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] marks: Col<i64>,
    ) -> Result<WatchChanges> {
        let ch = self.write(|e| e.update_marks(&markets, &marks))?;
        Ok(WatchChanges {
            account: ch.iter().map(|c| c.account).collect::<Vec<_>>().into(),
            market: ch.iter().map(|c| c.market).collect::<Vec<_>>().into(),
            liquidatable: ch.iter().map(|c| c.liquidatable as u8).collect::<Vec<_>>().into(),
        })
    }

    /// The liquidatable rows worst first, as `sweep(null)` returns them, from the watch.
    #[napi(catch_unwind)]
    pub fn liquidatable(&mut self) -> Result<MarginColumns> {
        let rows = self.write(|e| e.watch_liquidatable())?;
        Ok(margin_columns(&rows))
    }

    /// Apply a batch of fills (signed qty at a price), all or nothing.
    #[napi(catch_unwind)]
    pub fn apply_fills(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] account: Col<u32>,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
    ) -> Result<()> {
        self.write(|e| e.apply_fills(&account, &market, &qty, &price))
    }

    /// Bytes held by the watch's index (0 until it is built).
    #[napi(catch_unwind)]
    pub fn watch_index_bytes(&self) -> f64 {
        self.inner.watch_index_bytes() as f64
    }

    /// How many accounts the last `updateMarks` re-checked exactly (the rest it did not visit).
    #[napi(catch_unwind)]
    pub fn watch_last_rechecked(&self) -> u32 {
        self.inner.watch_last_rechecked() as u32
    }

    /// For the benchmark: score one side of a market, select the shortest queue prefix reaching
    /// `need` lots, and fully sort the same scored side, in the same call. Returns nanoseconds
    /// [scoring, selection, full sort], the prefix length, the side's size, and 1 if the prefix
    /// equals the head of the full sort.
    #[napi(catch_unwind)]
    pub fn adl_selection_timing(
        &self,
        market: u32,
        side: i32,
        ranking: u32,
        need: BigInt,
    ) -> Result<BigInt64Array> {
        if side != 1 && side != -1 {
            return Err(invalid(format!("side must be 1 (long) or -1 (short), got {side}")));
        }
        let need = match need.get_u64() {
            (false, v, true) => v,
            _ => return Err(invalid("need must be a non-negative 64-bit integer".into())),
        };
        let r = core::adl::AdlRanking::from_code(ranking).map_err(err)?;
        let e = &self.inner;
        let t0 = std::time::Instant::now();
        let cands = e.adl_candidates(market, side as i64, r, None).map_err(err)?;
        let input = cands.clone();
        let t1 = std::time::Instant::now();
        let top = e.adl_select(input, need);
        let t2 = std::time::Instant::now();
        let mut all = cands;
        e.sort_queue(&mut all);
        let t3 = std::time::Instant::now();
        let same = all.len() >= top.len() && all[..top.len()] == top[..];
        let ns = |a: std::time::Instant, b: std::time::Instant| (b - a).as_nanos() as i64;
        Ok(vec![
            ns(t0, t1),
            ns(t1, t2),
            ns(t2, t3),
            top.len() as i64,
            all.len() as i64,
            same as i64,
        ]
        .into())
    }
}
