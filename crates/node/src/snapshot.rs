//! State hash, snapshot and restore (docs/SPEC.md §12), and the test-only panic hook. Conversion
//! only: the encoding and every check live in deleverage-core (snapshot.rs).

use std::sync::Arc;

use deleverage_core as core;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::{err, invalid, Col, MarginColumns, NativeEngine, SweepTask};

#[napi]
impl NativeEngine {
    /// SHA-256 of the canonical state, 64 hex digits; equal in both engines for equal states.
    #[napi(catch_unwind)]
    pub fn state_hash(&self) -> String {
        self.inner.state_hash_hex()
    }

    /// A versioned, checksummed snapshot of the whole state (readable by both engines).
    #[napi(catch_unwind)]
    pub fn snapshot(&self) -> Uint8Array {
        self.inner.snapshot().into()
    }

    /// A new engine from a snapshot; SNAPSHOT_* errors name the offset and field.
    #[napi(factory, catch_unwind)]
    pub fn restore(
        env: Env,
        #[napi(ts_arg_type = "Uint8Array")] bytes: Col<u8>,
    ) -> Result<NativeEngine> {
        Ok(NativeEngine::wrap(&env, core::decode_snapshot(&bytes).map_err(err)?))
    }

    /// Test-only (needs DELEVERAGE_TEST_HOOKS=1 at call time): panic inside this export
    /// (`where` = "sync") or inside the compute of an off-thread sweep ("sweepAsync"), to show
    /// that the guards turn a panic into a JS error and the process and the engine live on.
    #[napi(js_name = "__testPanic", catch_unwind, ts_return_type = "Promise<MarginColumns> | void")]
    pub fn test_panic(
        &self,
        env: Env,
        at: String,
    ) -> Result<Option<PromiseRaw<'static, MarginColumns>>> {
        if std::env::var("DELEVERAGE_TEST_HOOKS").as_deref() != Ok("1") {
            return Err(invalid("test hooks are disabled (set DELEVERAGE_TEST_HOOKS=1)".into()));
        }
        match at.as_str() {
            "sync" => panic!("forced by the test hook inside a synchronous export"),
            "sweepAsync" => {
                let task = SweepTask {
                    engine: Some(Arc::clone(&self.inner)),
                    done: None,
                    warning: None,
                    threads: 1,
                    panic_for_test: true,
                };
                Ok(Some(env.spawn(task)?.promise_object()))
            }
            _ => Err(invalid(format!(
                "__testPanic: where must be \"sync\" or \"sweepAsync\", got {at:?}"
            ))),
        }
    }
}
