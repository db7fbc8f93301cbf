//! `snapshot` (skeleton, compiled only with `--features snapshot`): the snapshot decoder on
//! arbitrary bytes. The decoder is written on another branch; this target does not know the
//! format and does not invent it. Once `decode_snapshot` is in the core:
//!
//! 1. adjust the two `TODO(snapshot)` lines below to its real path and signature;
//! 2. seed fuzz/corpus/snapshot/ with a few real snapshots (e.g. of `batch_ops::seed_engine` after
//!    some programs) — random bytes alone rarely pass a length/magic/checksum header;
//! 3. add a replay test (`#[path = "../../../fuzz/harness/snapshot.rs"] mod snapshot;` at the
//!    crate root, as the target does) beside
//!    `batch_ops_corpus_replays_clean` in crates/core/tests/fuzz_corpus.rs.
//!
//! Invariants: never panic; a rejected snapshot is an error with a stable code (not INTERNAL);
//! an accepted one is an engine whose store is consistent (the same `check_consistency` as
//! batch_ops: a hostile snapshot must not plant dangling (market, slot) references that panic
//! later), on which the read-only calls neither panic nor report INTERNAL, and which encodes back
//! to a snapshot that decodes to the same state (once an encoder is public).

use deleverage_core::*;

use crate::harness::batch_ops::{check_consistency, dump};

pub fn run(data: &[u8]) {
    // TODO(snapshot): the decoder's real path and signature.
    let decoded: Result<Engine> = deleverage_core::snapshot::decode_snapshot(data);
    let e = match decoded {
        Err(err) => {
            assert_ne!(err.code, ErrorCode::Internal, "decode_snapshot: {err}");
            return;
        }
        Ok(e) => e,
    };
    check_consistency(&e);
    for r in [e.sweep(None).err(), e.account_rows(None).err(), e.position_risks(None).err()].into_iter().flatten() {
        assert_ne!(r.code, ErrorCode::Internal, "query on a decoded snapshot: {r}");
    }
    // TODO(snapshot): with a public encoder, assert the round trip:
    // let again = deleverage_core::snapshot::decode_snapshot(&deleverage_core::snapshot::encode_snapshot(&e)).unwrap();
    // assert_eq!(dump(&e), dump(&again), "snapshot round trip changed the state");
    let _ = dump;
}
