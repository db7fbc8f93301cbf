//! Snapshot decoder (fuzz/harness/snapshot.rs): `decode_snapshot` on arbitrary bytes.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::snapshot::run(data));
