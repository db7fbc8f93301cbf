//! Fuzz harnesses shared by the cargo-fuzz targets (fuzz/fuzz_targets, nightly + libFuzzer) and
//! by the stable corpus replay (crates/core/tests/fuzz_corpus.rs). Plain Rust over the public
//! core API, no dependencies: each `run(&[u8])` panics on a broken invariant.
#![allow(dead_code)]

pub mod batch_ops;
pub mod input;
pub mod snapshot;
