//! Snapshot decoder (fuzz/harness/snapshot.rs): built only with `--features snapshot`, which
//! scripts/fuzz.sh passes once the core has `decode_snapshot`.
#![no_main]

#[path = "../harness/mod.rs"]
mod harness;

#[path = "../harness/snapshot.rs"]
mod snapshot;

libfuzzer_sys::fuzz_target!(|data: &[u8]| snapshot::run(data));
