//! Node.js binding for `deleverage-core` (napi-rs v3): conversion only. Typed arrays in and out,
//! no JS object per position; core errors become JS errors whose message starts with the stable
//! code ("UNKNOWN_MARKET: ..."), which the TypeScript layer turns into `DeleverageError.code`.
//! Every export carries `catch_unwind`, so a panic becomes a JS exception, never an abort.

use std::sync::{Arc, Weak};

use deleverage_core as core;
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

mod col;
mod watch;

use col::Col;

/// Version of the native binding crate.
#[napi(catch_unwind)]
pub fn core_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

fn err(e: core::Error) -> Error {
    Error::new(Status::GenericFailure, format!("{}: {}", e.code.as_str(), e.message))
}

fn invalid(msg: String) -> Error {
    err(core::Error::new(core::ErrorCode::InvalidArgument, msg))
}

fn i64_of(b: &BigInt, what: &str) -> Result<i64> {
    match b.get_i64() {
        (v, true) => Ok(v),
        _ => Err(invalid(format!("{what} does not fit a 64-bit integer"))),
    }
}

/// Market definition in integer units (docs/SPEC.md §2, §4).
#[napi(object, object_to_js = false)]
pub struct MarketInit {
    pub symbol: String,
    /// 0 = linear, 1 = inverse
    pub kind: u32,
    pub price_decimals: u32,
    pub qty_decimals: u32,
    pub contract_size: BigInt,
    /// 0 = mark, 1 = entry
    pub basis: u32,
    /// 0 = deduction, 1 = step
    pub form: u32,
    #[napi(ts_type = "BigInt64Array")]
    pub floors: Col<i64>,
    #[napi(ts_type = "BigInt64Array")]
    pub mmr: Col<i64>,
    #[napi(ts_type = "BigInt64Array")]
    pub imr: Col<i64>,
    pub maint_amount: Option<Vec<BigInt>>,
    pub mark: BigInt,
    /// Price grid in ticks (SPEC §2.5); omitted: 1.
    pub tick_size: Option<BigInt>,
    /// Settlement asset (SPEC §5.4); omitted: "quote" for linear, the symbol for inverse.
    pub settle_asset: Option<String>,
    /// Taker fee rate (10^-8) counted in the liquidation condition (SPEC §19); omitted: 0.
    pub taker_fee: Option<BigInt>,
}

/// Margin rows: cross accounts (market = 0xffffffff) and isolated positions.
#[napi(object)]
pub struct MarginColumns {
    pub account: Uint32Array,
    pub market: Uint32Array,
    pub equity: BigInt64Array,
    pub maintenance_margin: BigInt64Array,
    /// ppm rounded up; -1 when equity ≤ 0
    pub margin_ratio_ppm: BigInt64Array,
    pub liquidatable: Uint8Array,
    /// 0 ok; 1 OVERFLOW: the scope's equity or MM leaves i64 (equity, MM 0, ratio -1; SPEC §5.5)
    pub status: Uint8Array,
}

/// Per-position risk; prices in ticks, 0 = none in range.
#[napi(object)]
pub struct PositionRiskColumns {
    pub account: Uint32Array,
    pub market: Uint32Array,
    pub qty: BigInt64Array,
    pub cost: BigInt64Array,
    pub isolated: Uint8Array,
    pub isolated_margin: BigInt64Array,
    pub upnl: BigInt64Array,
    pub maintenance_margin: BigInt64Array,
    pub liquidation_price: BigInt64Array,
    pub liquidation_price_nearest: BigInt64Array,
    pub bankruptcy_price: BigInt64Array,
    pub bankruptcy_price_nearest: BigInt64Array,
    /// Why no liquidation price: a code of the core's LIQUIDATION_PRICE_REASONS (0 = has one).
    pub liquidation_price_reason: Uint8Array,
}

fn margin_columns(rows: &[core::MarginRow]) -> MarginColumns {
    MarginColumns {
        account: rows.iter().map(|r| r.account).collect::<Vec<_>>().into(),
        market: rows.iter().map(|r| r.market).collect::<Vec<_>>().into(),
        equity: rows.iter().map(|r| r.equity).collect::<Vec<_>>().into(),
        maintenance_margin: rows.iter().map(|r| r.maintenance_margin).collect::<Vec<_>>().into(),
        margin_ratio_ppm: rows
            .iter()
            .map(|r| r.margin_ratio_ppm.unwrap_or(-1))
            .collect::<Vec<_>>()
            .into(),
        liquidatable: rows.iter().map(|r| r.liquidatable as u8).collect::<Vec<_>>().into(),
        status: rows.iter().map(|r| r.overflow as u8).collect::<Vec<_>>().into(),
    }
}

/// Waterfall configuration in integer units (docs/SPEC.md §8).
#[napi(object)]
pub struct WaterfallInit {
    /// Liquidation fee rate, 1e-8 units.
    pub fee_rate: BigInt,
    /// Buffer over maintenance margin for partial liquidation, 1e-8 units.
    pub buffer_rate: BigInt,
    /// 0 bitmex, 1 binance, 2 hyperliquid, 3 prorata
    pub ranking: u32,
    pub adl_at_mark: bool,
    /// 0 exhausted, 1 drawdown
    pub policy: u32,
    pub trigger_ppm: BigInt,
    pub stop_ppm: BigInt,
    pub window: BigInt,
}

/// Events from a sequence number on (docs/SPEC.md §8; kinds in src/core.ts).
#[napi(object)]
pub struct EventColumns {
    pub seq: BigInt64Array,
    pub kind: Uint8Array,
    pub account: Uint32Array,
    pub market: Uint32Array,
    pub counterparty: Uint32Array,
    pub qty: BigInt64Array,
    pub price: BigInt64Array,
    pub amount: BigInt64Array,
}

/// Where the money is: fund, settlement counter-entry, residue, and their total with balances.
#[napi(object)]
pub struct Ledger {
    pub insurance_fund: BigInt,
    pub settlement: BigInt,
    pub residue: BigInt,
    pub cash_total: BigInt,
    pub adl_mode: bool,
    /// The seq the next event will get.
    pub next_seq: BigInt,
}

/// A liquidation plan: orders (market, qty to close) or a takeover.
#[napi(object)]
pub struct PlanColumns {
    pub takeover: bool,
    pub market: Uint32Array,
    pub qty: BigInt64Array,
}

/// The ADL queue of one side of a market, in rank order, with indicator lights.
#[napi(object)]
pub struct QueueColumns {
    pub account: Uint32Array,
    pub qty: BigInt64Array,
    pub lights: Uint8Array,
    pub lights_by_count: Uint8Array,
    /// Exact scores num/den (den > 0): what partitions exchange to merge their queues.
    pub score_num: Vec<BigInt>,
    pub score_den: Vec<BigInt>,
}

/// A manual deleveraging plan (docs/SPEC.md §11): orders, then the state after them.
#[napi(object)]
pub struct DeleveragePlanColumns {
    pub reached: bool,
    pub fees: BigInt,
    pub equity: BigInt,
    pub maintenance_margin: BigInt,
    pub notional: BigInt,
    pub order_market: Uint32Array,
    pub order_qty: BigInt64Array,
    pub position_market: Uint32Array,
    pub position_qty: BigInt64Array,
    /// Conservative liquidation price after the plan; 0 = none in range.
    pub liquidation_price: BigInt64Array,
}

fn big(x: i128) -> BigInt {
    BigInt::from(x)
}

fn iso(market: u32) -> Option<u32> {
    (market != u32::MAX).then_some(market)
}

fn fill_model(
    model: u32,
    ppm_per_lot: &BigInt,
    cap_ppm: &BigInt,
) -> Result<core::waterfall::FillModel> {
    Ok(match model {
        0 => core::waterfall::FillModel::AtMark,
        1 => {
            let k = i64_of(ppm_per_lot, "ppmPerLot")?;
            let cap = i64_of(cap_ppm, "capPpm")?;
            if k < 0 || !(0..core::num::RATIO_SCALE).contains(&cap) {
                return Err(invalid(format!(
                    "impact needs ppmPerLot ≥ 0 and 0 ≤ capPpm < 1000000, got {k} and {cap}"
                )));
            }
            core::waterfall::FillModel::Impact { ppm_per_lot: k, cap_ppm: cap }
        }
        m => return Err(invalid(format!("fill model must be 0 (mark) or 1 (impact), got {m}"))),
    })
}

fn u64_of(b: &BigInt, what: &str) -> Result<u64> {
    match b.get_u64() {
        (false, v, true) => Ok(v),
        _ => Err(invalid(format!("{what} must be a non-negative 64-bit integer"))),
    }
}

/// The engine over the Rust core; method for method the `CoreEngine` interface of src/core.ts.
///
/// The core sits behind an `Arc`: an async sweep works on the state as it was when it was called,
/// and the first write while one is pending copies the engine (copy-on-write; later writes
/// change the copy). So JS never waits and never sees a half-applied batch. Each such copy is a
/// generation kept alive by its pending sweeps; at most `MAX_PENDING_GENERATIONS` of them are
/// (see `sweep_async`), so a host flooding sweeps and writes holds a bounded number of copies.
///
/// The heap the engine holds is reported to V8 as external memory (and given back when the
/// object is collected), so the collector sees what a dropped engine would free.
#[napi(custom_finalize)]
pub struct NativeEngine {
    inner: Arc<core::Engine>,
    /// Generations handed to pending async sweeps (dead ones are pruned on the next sweepAsync).
    pending: Vec<Weak<core::Engine>>,
    /// Bytes last reported to V8 (napi_adjust_external_memory).
    reported: i64,
    /// The env this object lives in: every call comes on its JS thread.
    env: napi::sys::napi_env,
    /// While `runWaterfallAsync` runs: where its task puts the engine back (waterfall_async.rs).
    parked: Option<waterfall_async::Parked>,
}

/// Older generations that pending async sweeps may keep alive beside the current state.
const MAX_PENDING_GENERATIONS: usize = 4;

impl NativeEngine {
    fn wrap(env: &Env, engine: core::Engine) -> Self {
        let mut e = NativeEngine {
            inner: Arc::new(engine),
            pending: Vec::new(),
            reported: 0,
            env: env.raw(),
            parked: None,
        };
        e.report_memory();
        e
    }

    /// A write: on the shared state's own copy if a pending sweep still holds it (copy-on-write),
    /// then the new size reported to V8.
    fn write<R>(&mut self, f: impl FnOnce(&mut core::Engine) -> core::Result<R>) -> Result<R> {
        self.unpark()?;
        let r = f(Arc::make_mut(&mut self.inner)).map_err(err);
        self.report_memory();
        r
    }

    fn report_memory(&mut self) {
        let now = self.inner.heap_bytes().min(i64::MAX as usize) as i64;
        if now != self.reported {
            // Advisory: a failure only means V8 schedules collection as if nothing changed.
            let _ = Env::from_raw(self.env).adjust_external_memory(now - self.reported);
            self.reported = now;
        }
    }

    /// Whether an async sweep taken now may share the current state (it is already shared with a
    /// pending one, or few older generations are alive) rather than be computed right away.
    fn may_defer_sweep(&mut self) -> bool {
        self.pending.retain(|w| w.strong_count() > 0);
        if Arc::strong_count(&self.inner) > 1 {
            return true;
        }
        let mut gens: Vec<*const core::Engine> = self.pending.iter().map(|w| w.as_ptr()).collect();
        gens.sort();
        gens.dedup();
        gens.len() < MAX_PENDING_GENERATIONS
    }
}

impl ObjectFinalize for NativeEngine {
    fn finalize(self, env: Env) -> Result<()> {
        let _ = env.adjust_external_memory(-self.reported);
        Ok(())
    }
}

/// `sweepAsync`: the sweep on the libuv pool, off the JS thread.
pub struct SweepTask {
    engine: Option<Arc<core::Engine>>,
    /// The result, when it was computed at the call (too many generations pending).
    done: Option<core::SweepResult>,
    warning: Option<i64>,
    threads: usize,
    /// Panic inside the guarded compute (the `__testPanic` hook of snapshot.rs), to prove the guard.
    panic_for_test: bool,
}

impl Task for SweepTask {
    type Output = core::SweepResult;
    type JsValue = MarginColumns;

    fn compute(&mut self) -> Result<Self::Output> {
        if let Some(r) = self.done.take() {
            return Ok(r);
        }
        let (w, t, p) = (self.warning, self.threads, self.panic_for_test);
        let Some(e) = &self.engine else {
            return Err(err(core::Error::new(
                core::ErrorCode::Internal,
                "sweep task without a state",
            )));
        };
        // No panic may cross into Node, from this thread either.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if p {
                panic!("forced by the test hook inside sweepAsync");
            }
            e.sweep_threads(w, t)
        })) {
            Ok(r) => r.map_err(err),
            Err(_) => Err(err(core::Error::new(core::ErrorCode::Internal, "the sweep panicked"))),
        }
    }

    fn resolve(&mut self, _env: Env, out: Self::Output) -> Result<Self::JsValue> {
        let mut rows = out.liquidatable;
        rows.extend(out.warnings);
        rows.extend(out.overflow);
        Ok(margin_columns(&rows))
    }
}

#[napi]
impl NativeEngine {
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, quote_decimals: u32) -> Result<Self> {
        Ok(NativeEngine::wrap(&env, core::Engine::new(quote_decimals).map_err(err)?))
    }

    /// Drop the events with seq < beforeSeq; numbering goes on (docs/SPEC.md §8.6).
    #[napi(catch_unwind)]
    pub fn trim_events(&mut self, before_seq: BigInt) -> Result<()> {
        let before = u64_of(&before_seq, "beforeSeq")?;
        self.write(|e| e.trim_events(before))
    }

    /// Heap bytes the engine holds, as reported to V8 (an estimate from its containers' capacities).
    #[napi(catch_unwind)]
    pub fn heap_bytes(&self) -> f64 {
        self.inner.heap_bytes() as f64
    }

    #[napi(catch_unwind)]
    pub fn add_market(&mut self, spec: MarketInit) -> Result<u32> {
        let kind = match spec.kind {
            0 => core::ContractKind::Linear,
            1 => core::ContractKind::Inverse,
            k => {
                return Err(invalid(format!(
                    "market kind must be 0 (linear) or 1 (inverse), got {k}"
                )))
            }
        };
        let basis = match spec.basis {
            0 => core::MarginBasis::Mark,
            1 => core::MarginBasis::Entry,
            b => {
                return Err(invalid(format!("margin basis must be 0 (mark) or 1 (entry), got {b}")))
            }
        };
        let form = match spec.form {
            0 => core::TierForm::Deduction,
            1 => core::TierForm::Step,
            f => {
                return Err(invalid(format!(
                    "tier form must be 0 (deduction) or 1 (step), got {f}"
                )))
            }
        };
        let maint_amount = match &spec.maint_amount {
            None => None,
            Some(v) => Some(
                v.iter()
                    .map(|b| match b.get_i128() {
                        (x, true) => Ok(x),
                        _ => Err(err(core::Error::overflow(
                            "maintenance amount (does not fit i128)",
                        ))),
                    })
                    .collect::<Result<Vec<i128>>>()?,
            ),
        };
        let s = core::MarketSpec {
            symbol: spec.symbol,
            kind,
            price_decimals: spec.price_decimals,
            qty_decimals: spec.qty_decimals,
            contract_size: i64_of(&spec.contract_size, "contractSize")?,
            basis,
            form,
            floors: spec.floors.0,
            mmr: spec.mmr.0,
            imr: spec.imr.0,
            maint_amount,
            mark: i64_of(&spec.mark, "mark")?,
        };
        let terms = core::MarketTerms {
            tick_size: match &spec.tick_size {
                Some(t) => i64_of(t, "tickSize")?,
                None => 0,
            },
            settle_asset: spec.settle_asset,
        };
        let fee = spec.taker_fee.as_ref().map(|f| i64_of(f, "takerFee")).transpose()?.unwrap_or(0);
        self.write(|e| e.add_market_with_fee(s, terms, fee))
    }

    #[napi(catch_unwind)]
    pub fn set_marks(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] markets: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] marks: Col<i64>,
    ) -> Result<()> {
        self.write(|e| e.set_marks(&markets, &marks))
    }

    #[napi(catch_unwind)]
    pub fn add_accounts(
        &mut self,
        ids: Vec<String>,
        #[napi(ts_arg_type = "BigInt64Array")] balances: Col<i64>,
    ) -> Result<u32> {
        self.write(|e| e.add_accounts(&ids, &balances))
    }

    /// addAccounts + setPositions all or nothing; `account` indexes the batch (0 = ids[0]).
    #[napi(catch_unwind)]
    #[allow(clippy::too_many_arguments)]
    pub fn add_accounts_with_positions(
        &mut self,
        ids: Vec<String>,
        #[napi(ts_arg_type = "BigInt64Array")] balances: Col<i64>,
        #[napi(ts_arg_type = "Uint32Array")] account: Col<u32>,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] isolated_margin: Col<i64>,
        #[napi(ts_arg_type = "Uint8Array")] flags: Col<u8>,
    ) -> Result<u32> {
        let rows = core::PositionRows {
            account: &account,
            market: &market,
            qty: &qty,
            price: &price,
            isolated_margin: &isolated_margin,
            flags: &flags,
        };
        self.write(|e| e.add_accounts_with_positions(&ids, &balances, &rows))
    }

    #[napi(catch_unwind)]
    pub fn set_balances(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] accounts: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] balances: Col<i64>,
    ) -> Result<()> {
        self.write(|e| e.set_balances(&accounts, &balances))
    }

    #[napi(catch_unwind)]
    pub fn remove_accounts(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] accounts: Col<u32>,
    ) -> Result<()> {
        self.write(|e| e.remove_accounts(&accounts))
    }

    #[napi(catch_unwind)]
    pub fn set_positions(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] account: Col<u32>,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] isolated_margin: Col<i64>,
        #[napi(ts_arg_type = "Uint8Array")] flags: Col<u8>,
    ) -> Result<()> {
        let rows = core::PositionRows {
            account: &account,
            market: &market,
            qty: &qty,
            price: &price,
            isolated_margin: &isolated_margin,
            flags: &flags,
        };
        self.write(|e| e.set_positions(&rows))
    }

    /// Liquidatable rows worst first, then (with a warning ratio) the warning rows.
    #[napi(catch_unwind)]
    pub fn sweep(&self, warning_ppm: Option<BigInt>) -> Result<MarginColumns> {
        let w = warning_ppm.as_ref().map(|b| i64_of(b, "warningPpm")).transpose()?;
        let r = self.inner.sweep(w).map_err(err)?;
        let mut rows = r.liquidatable;
        rows.extend(r.warnings);
        rows.extend(r.overflow);
        Ok(margin_columns(&rows))
    }

    /// The sweep off the JS thread, on the state as it is now; resolves to the sweep's columns.
    /// Spawned rather than returned as an AsyncTask so that the engine is not held borrowed until
    /// the promise settles: writes may go on meanwhile (the task owns its own `Arc` of the state).
    #[napi(catch_unwind, ts_return_type = "Promise<MarginColumns>")]
    pub fn sweep_async(
        &mut self,
        env: Env,
        warning_ppm: Option<BigInt>,
        threads: u32,
    ) -> Result<PromiseRaw<'static, MarginColumns>> {
        if threads == 0 || threads > 256 {
            return Err(invalid(format!("threads must be within 1 and 256, got {threads}")));
        }
        let warning = warning_ppm.as_ref().map(|b| i64_of(b, "warningPpm")).transpose()?;
        let done = if self.may_defer_sweep() {
            self.pending.push(Arc::downgrade(&self.inner));
            None
        } else {
            // Enough older generations are pending: sweep now on this thread (same result) rather
            // than keep one more copy of the engine alive until the pool gets to it.
            Some(self.inner.sweep_threads(warning, threads as usize).map_err(err)?)
        };
        let engine = done.is_none().then(|| Arc::clone(&self.inner));
        let work = env.spawn(SweepTask {
            engine,
            done,
            warning,
            threads: threads as usize,
            panic_for_test: false,
        })?;
        Ok(work.promise_object())
    }

    /// The sweep on `threads` threads (1 = the plain sweep); identical output for any count.
    #[napi(catch_unwind)]
    pub fn sweep_parallel(
        &self,
        warning_ppm: Option<BigInt>,
        threads: u32,
    ) -> Result<MarginColumns> {
        if threads == 0 || threads > 256 {
            return Err(invalid(format!("threads must be within 1 and 256, got {threads}")));
        }
        let w = warning_ppm.as_ref().map(|b| i64_of(b, "warningPpm")).transpose()?;
        let r = self.inner.sweep_threads(w, threads as usize).map_err(err)?;
        let mut rows = r.liquidatable;
        rows.extend(r.warnings);
        rows.extend(r.overflow);
        Ok(margin_columns(&rows))
    }

    #[napi(catch_unwind)]
    pub fn account_rows(
        &self,
        #[napi(ts_arg_type = "Uint32Array | null | undefined")] accounts: Option<Col<u32>>,
    ) -> Result<MarginColumns> {
        let rows = self.inner.account_rows(accounts.as_ref().map(|c| &c.0[..])).map_err(err)?;
        Ok(margin_columns(&rows))
    }

    #[napi(catch_unwind)]
    pub fn balances(
        &self,
        #[napi(ts_arg_type = "Uint32Array")] accounts: Col<u32>,
    ) -> Result<BigInt64Array> {
        Ok(self.inner.balances(&accounts).map_err(err)?.into())
    }

    #[napi(catch_unwind)]
    pub fn position_risks(
        &self,
        #[napi(ts_arg_type = "Uint32Array | null | undefined")] accounts: Option<Col<u32>>,
    ) -> Result<PositionRiskColumns> {
        let r = self.inner.position_risks(accounts.as_ref().map(|c| &c.0[..])).map_err(err)?;
        let price = |p: Option<core::SolvedPrice>, nearest: bool| {
            p.map(|s| if nearest { s.nearest } else { s.conservative }).unwrap_or(0)
        };
        Ok(PositionRiskColumns {
            account: r.iter().map(|x| x.account).collect::<Vec<_>>().into(),
            market: r.iter().map(|x| x.market).collect::<Vec<_>>().into(),
            qty: r.iter().map(|x| x.qty).collect::<Vec<_>>().into(),
            cost: r.iter().map(|x| x.cost).collect::<Vec<_>>().into(),
            isolated: r.iter().map(|x| x.isolated as u8).collect::<Vec<_>>().into(),
            isolated_margin: r.iter().map(|x| x.isolated_margin).collect::<Vec<_>>().into(),
            upnl: r.iter().map(|x| x.upnl).collect::<Vec<_>>().into(),
            maintenance_margin: r.iter().map(|x| x.maintenance_margin).collect::<Vec<_>>().into(),
            liquidation_price: r
                .iter()
                .map(|x| price(x.liquidation, false))
                .collect::<Vec<_>>()
                .into(),
            liquidation_price_nearest: r
                .iter()
                .map(|x| price(x.liquidation, true))
                .collect::<Vec<_>>()
                .into(),
            liquidation_price_reason: r
                .iter()
                .map(|x| x.liquidation_reason)
                .collect::<Vec<_>>()
                .into(),
            bankruptcy_price: r
                .iter()
                .map(|x| price(x.bankruptcy, false))
                .collect::<Vec<_>>()
                .into(),
            bankruptcy_price_nearest: r
                .iter()
                .map(|x| price(x.bankruptcy, true))
                .collect::<Vec<_>>()
                .into(),
        })
    }

    #[napi(catch_unwind)]
    pub fn account_index(&self, id: String) -> Option<u32> {
        self.inner.account_index(&id)
    }

    #[napi(catch_unwind)]
    pub fn account_id(&self, index: u32) -> Result<String> {
        Ok(self.inner.account_id(index).map_err(err)?.to_string())
    }

    #[napi(catch_unwind)]
    pub fn market_index(&self, symbol: String) -> Option<u32> {
        self.inner.market_index(&symbol)
    }

    #[napi(catch_unwind)]
    pub fn account_count(&self) -> u32 {
        self.inner.live_account_count() as u32
    }

    #[napi(catch_unwind)]
    pub fn position_count(&self) -> u32 {
        self.inner.position_count() as u32
    }

    #[napi(catch_unwind)]
    pub fn configure_waterfall(&mut self, c: WaterfallInit) -> Result<()> {
        let policy = match c.policy {
            0 => core::waterfall::FundPolicy::Exhausted,
            1 => core::waterfall::FundPolicy::Drawdown {
                trigger_ppm: i64_of(&c.trigger_ppm, "triggerPpm")?,
                stop_ppm: i64_of(&c.stop_ppm, "stopPpm")?,
                window: u64_of(&c.window, "window")?,
            },
            2 => core::waterfall::FundPolicy::Socialise,
            p => {
                return Err(invalid(format!(
                    "fund policy must be 0 (exhausted), 1 (drawdown) or 2 (socialise), got {p}"
                )))
            }
        };
        let cfg = core::waterfall::WaterfallConfig {
            fee_rate: i64_of(&c.fee_rate, "feeRate")?,
            buffer_rate: i64_of(&c.buffer_rate, "bufferRate")?,
            ranking: core::adl::AdlRanking::from_code(c.ranking).map_err(err)?,
            adl_at_mark: c.adl_at_mark,
            policy,
        };
        self.write(|e| e.configure_waterfall(cfg))
    }

    #[napi(catch_unwind)]
    pub fn deposit_fund(&mut self, amount: BigInt, now: BigInt) -> Result<()> {
        let (a, t) = (i64_of(&amount, "amount")?, u64_of(&now, "now")?);
        self.write(|e| e.deposit_fund(a, t))
    }

    /// Run the whole waterfall at the current marks; returns the first new event's seq.
    #[napi(catch_unwind)]
    pub fn run_waterfall(
        &mut self,
        model: u32,
        ppm_per_lot: BigInt,
        cap_ppm: BigInt,
        now: BigInt,
    ) -> Result<BigInt> {
        let m = fill_model(model, &ppm_per_lot, &cap_ppm)?;
        let t = u64_of(&now, "now")?;
        Ok(BigInt::from(self.write(|e| e.run_waterfall(m, t))?))
    }

    #[napi(catch_unwind)]
    pub fn plan_liquidation(&self, account: u32, isolated_market: u32) -> Result<PlanColumns> {
        let p = self.inner.plan_liquidation(account, iso(isolated_market)).map_err(err)?;
        Ok(PlanColumns {
            takeover: p.takeover,
            market: p.orders.iter().map(|o| o.0).collect::<Vec<_>>().into(),
            qty: p.orders.iter().map(|o| o.1).collect::<Vec<_>>().into(),
        })
    }

    #[napi(catch_unwind)]
    pub fn settle_liquidation_fill(
        &mut self,
        account: u32,
        isolated_market: u32,
        market: u32,
        qty: BigInt,
        price: BigInt,
    ) -> Result<()> {
        let (q, p) = (i64_of(&qty, "qty")?, i64_of(&price, "price")?);
        self.write(|e| e.settle_liquidation_fill(account, iso(isolated_market), market, q, p))
    }

    #[napi(catch_unwind)]
    pub fn take_over(&mut self, account: u32, isolated_market: u32) -> Result<()> {
        self.write(|e| e.take_over(account, iso(isolated_market)))
    }

    #[napi(catch_unwind)]
    pub fn settle_liquidator_fill(
        &mut self,
        market: u32,
        qty: BigInt,
        price: BigInt,
    ) -> Result<()> {
        let (q, p) = (i64_of(&qty, "qty")?, i64_of(&price, "price")?);
        self.write(|e| e.settle_liquidator_fill(market, q, p))
    }

    /// @deprecated Renamed `settleLiquidatorFill` (the venue's liquidation engine is the liquidator).
    #[napi(catch_unwind)]
    pub fn settle_engine_fill(&mut self, market: u32, qty: BigInt, price: BigInt) -> Result<()> {
        self.settle_liquidator_fill(market, qty, price)
    }

    #[napi(catch_unwind)]
    pub fn auto_deleverage(&mut self, market: u32) -> Result<()> {
        self.write(|e| e.auto_deleverage(market))
    }

    #[napi(catch_unwind)]
    pub fn socialise_loss(&mut self, market: u32, amount: BigInt, beneficiary: u32) -> Result<()> {
        let a = i64_of(&amount, "amount")?;
        self.write(|e| e.socialise_loss(market, a, beneficiary))
    }

    #[napi(catch_unwind)]
    pub fn settle_funding(&mut self, market: u32, rate: BigInt) -> Result<()> {
        let r = i64_of(&rate, "rate")?;
        self.write(|e| e.settle_funding(market, r))
    }

    /// Events with seq ≥ fromSeq.
    #[napi(catch_unwind)]
    pub fn events(&self, from_seq: BigInt) -> Result<EventColumns> {
        let from = u64_of(&from_seq, "fromSeq")?;
        let ev = self.inner.events();
        let ev = &ev[ev.partition_point(|e| e.seq < from)..];
        Ok(EventColumns {
            seq: ev.iter().map(|e| e.seq as i64).collect::<Vec<_>>().into(),
            kind: ev.iter().map(|e| e.kind as u8).collect::<Vec<_>>().into(),
            account: ev.iter().map(|e| e.account).collect::<Vec<_>>().into(),
            market: ev.iter().map(|e| e.market).collect::<Vec<_>>().into(),
            counterparty: ev.iter().map(|e| e.counterparty).collect::<Vec<_>>().into(),
            qty: ev.iter().map(|e| e.qty).collect::<Vec<_>>().into(),
            price: ev.iter().map(|e| e.price).collect::<Vec<_>>().into(),
            amount: ev.iter().map(|e| e.amount).collect::<Vec<_>>().into(),
        })
    }

    #[napi(catch_unwind)]
    pub fn ledger(&self) -> Ledger {
        Ledger {
            insurance_fund: big(self.inner.insurance_fund() as i128),
            settlement: big(self.inner.settlement()),
            residue: big(self.inner.residue() as i128),
            cash_total: big(self.inner.cash_total()),
            adl_mode: self.inner.adl_mode(),
            next_seq: BigInt::from(self.inner.next_seq()),
        }
    }

    /// The sequence number the next event will get (O(1); `ledger()` also sums the cash).
    #[napi(catch_unwind)]
    pub fn next_seq(&self) -> BigInt {
        BigInt::from(self.inner.next_seq())
    }

    /// The liquidator's open position in a market: [qty, cost basis].
    #[napi(catch_unwind)]
    pub fn liquidator_position(&self, market: u32) -> Result<BigInt64Array> {
        self.inner.market(market).map_err(err)?;
        let (q, c) = self.inner.liquidator_position(market);
        Ok(vec![q, c].into())
    }

    /// @deprecated Renamed `liquidatorPosition`.
    #[napi(catch_unwind)]
    pub fn engine_position(&self, market: u32) -> Result<BigInt64Array> {
        self.liquidator_position(market)
    }

    /// The ranked ADL queue of one side (1 long, -1 short) with indicator lights.
    #[napi(catch_unwind)]
    pub fn adl_queue(&self, market: u32, side: i32, ranking: u32) -> Result<QueueColumns> {
        if side != 1 && side != -1 {
            return Err(invalid(format!("side must be 1 (long) or -1 (short), got {side}")));
        }
        let r = core::adl::AdlRanking::from_code(ranking).map_err(err)?;
        let q = self.inner.adl_queue(market, side as i64, r).map_err(err)?;
        Ok(QueueColumns {
            account: q.iter().map(|c| c.account).collect::<Vec<_>>().into(),
            qty: q.iter().map(|c| c.qty).collect::<Vec<_>>().into(),
            lights: core::adl::indicator(&q, true).into(),
            lights_by_count: core::adl::indicator(&q, false).into(),
            score_num: q.iter().map(|c| BigInt::from(c.num)).collect(),
            score_den: q.iter().map(|c| BigInt::from(c.den)).collect(),
        })
    }

    /// Smallest reductions reaching a target: kind 0 margin ratio, 1 leverage (ppm), 2 distance of
    /// `market`'s liquidation price from mark (ppm).
    #[napi(catch_unwind)]
    pub fn plan_deleveraging(
        &self,
        account: u32,
        kind: u32,
        target_ppm: BigInt,
        market: u32,
        fee_rate: BigInt,
    ) -> Result<DeleveragePlanColumns> {
        use core::planner::DeleverageTarget as T;
        let ppm = i64_of(&target_ppm, "targetPpm")?;
        let target = match kind {
            0 => T::MarginRatio(ppm),
            1 => T::Leverage(ppm),
            2 => T::LiquidationDistance { market, ppm },
            k => return Err(invalid(format!("target kind must be 0 (margin ratio), 1 (leverage) or 2 (liquidation distance), got {k}"))),
        };
        let p = self
            .inner
            .plan_deleveraging(account, target, i64_of(&fee_rate, "feeRate")?)
            .map_err(err)?;
        Ok(DeleveragePlanColumns {
            reached: p.reached,
            fees: big(p.fees as i128),
            equity: big(p.equity as i128),
            maintenance_margin: big(p.maintenance_margin as i128),
            notional: big(p.notional as i128),
            order_market: p.orders.iter().map(|o| o.0).collect::<Vec<_>>().into(),
            order_qty: p.orders.iter().map(|o| o.1).collect::<Vec<_>>().into(),
            position_market: p.positions.iter().map(|o| o.0).collect::<Vec<_>>().into(),
            position_qty: p.positions.iter().map(|o| o.1).collect::<Vec<_>>().into(),
            liquidation_price: p
                .positions
                .iter()
                .map(|o| o.2.map_or(0, |x| x.conservative))
                .collect::<Vec<_>>()
                .into(),
        })
    }
}

// After NativeEngine: napi-rs expands an impl block only once it has seen the struct.
mod liq_map;
mod pretrade;
mod snapshot;

// Executing one merged ADL fill inside a shard (SPEC §16).
mod adl_fill;

// The waterfall off the JS thread, holding the engine exclusively (SPEC: async waterfall).
mod waterfall_async;
