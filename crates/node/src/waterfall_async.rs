//! `runWaterfallAsync`: the whole waterfall on the libuv pool. Unlike `sweepAsync` (which reads a
//! shared generation while writes go on), the waterfall writes, so the task takes the engine
//! itself: `NativeEngine` keeps an empty placeholder and a `Parked` slot that the task fills when
//! it is done. Until the engine is back, every write is refused with `ENGINE_BUSY` (the TypeScript
//! layer refuses every call, reads included, before it reaches here); `finishAsync` — or the next
//! write after the task settled — puts the engine back. Conversion only: the waterfall is the
//! core's `run_waterfall`.

use std::sync::{Arc, Mutex};

use deleverage_core as core;
use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use crate::{err, fill_model, u64_of, NativeEngine};

/// Where the task leaves the engine when it has run (None while it runs).
pub(crate) type Parked = Arc<Mutex<Option<core::Engine>>>;

fn busy() -> Error {
    err(core::Error::new(
        core::ErrorCode::EngineBusy,
        "runWaterfallAsync is running on this engine; wait for its promise",
    ))
}

pub struct WaterfallTask {
    engine: Option<core::Engine>,
    parked: Parked,
    model: core::waterfall::FillModel,
    now: u64,
}

impl WaterfallTask {
    /// Hands the engine back to the slot (whatever the outcome: a failed waterfall changed
    /// nothing, as the sync call).
    fn park(&mut self) {
        if let Some(e) = self.engine.take() {
            if let Ok(mut slot) = self.parked.lock() {
                *slot = Some(e);
            }
        }
    }
}

impl Task for WaterfallTask {
    type Output = u64;
    type JsValue = BigInt;

    fn compute(&mut self) -> Result<Self::Output> {
        let (m, t) = (self.model, self.now);
        let r = match &mut self.engine {
            // No panic may cross into Node, from this thread either.
            Some(e) => {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| e.run_waterfall(m, t)))
                    .unwrap_or_else(|_| {
                        Err(core::Error::new(core::ErrorCode::Internal, "the waterfall panicked"))
                    })
            }
            None => {
                Err(core::Error::new(core::ErrorCode::Internal, "waterfall task without an engine"))
            }
        };
        self.park();
        r.map_err(err)
    }

    fn resolve(&mut self, _env: Env, first: Self::Output) -> Result<Self::JsValue> {
        Ok(BigInt::from(first))
    }

    fn finally(mut self, _env: Env) -> Result<()> {
        // A task dropped without compute (the pool shut down) still gives the engine back.
        self.park();
        Ok(())
    }
}

impl NativeEngine {
    /// Puts a parked engine back; `ENGINE_BUSY` while its waterfall still runs.
    pub(crate) fn unpark(&mut self) -> Result<()> {
        let Some(p) = &self.parked else { return Ok(()) };
        let back = p.lock().map_err(|_| busy())?.take();
        match back {
            Some(e) => {
                self.inner = Arc::new(e);
                self.parked = None;
                self.report_memory();
                Ok(())
            }
            None => Err(busy()),
        }
    }
}

#[napi]
impl NativeEngine {
    /// The whole waterfall on the libuv pool, as `run_waterfall`; resolves to the first new
    /// event's seq. The engine is this task's until it settles: call `finishAsync` then.
    #[napi(catch_unwind, ts_return_type = "Promise<bigint>")]
    pub fn run_waterfall_async(
        &mut self,
        env: Env,
        model: u32,
        ppm_per_lot: BigInt,
        cap_ppm: BigInt,
        now: BigInt,
    ) -> Result<PromiseRaw<'static, BigInt>> {
        self.unpark()?;
        let m = fill_model(model, &ppm_per_lot, &cap_ppm)?;
        let t = u64_of(&now, "now")?;
        let empty = core::Engine::new(self.inner.quote_decimals()).map_err(err)?;
        let shared = std::mem::replace(&mut self.inner, Arc::new(empty));
        // Pending async sweeps keep their own generation; the task then works on a copy.
        let engine = Arc::try_unwrap(shared).unwrap_or_else(|a| (*a).clone());
        let parked: Parked = Arc::new(Mutex::new(None));
        self.parked = Some(Arc::clone(&parked));
        let work = env.spawn(WaterfallTask { engine: Some(engine), parked, model: m, now: t })?;
        Ok(work.promise_object())
    }

    /// Takes the engine back after `runWaterfallAsync` settled (`ENGINE_BUSY` before).
    #[napi(catch_unwind)]
    pub fn finish_async(&mut self) -> Result<()> {
        self.unpark()
    }
}
