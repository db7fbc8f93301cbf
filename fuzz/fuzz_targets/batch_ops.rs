//! Batch decoders: a program of engine calls with arbitrary columns (fuzz/harness/batch_ops.rs).
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::batch_ops::run(data));
