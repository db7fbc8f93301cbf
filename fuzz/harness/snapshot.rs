//! `snapshot`: the snapshot decoder (`decode_snapshot`, SPEC §12) on arbitrary bytes. Seeds are
//! real snapshots (fuzz/corpus/snapshot/), so mutations get past the header; the checksum is
//! recomputed over a mutated body half of the time, so the body's own validation is fuzzed too.
//!
//! Invariants: never panic; a rejected snapshot is an error with a stable SNAPSHOT_* code (never
//! INTERNAL); an accepted one is an engine whose store is consistent (the same
//! `check_consistency` as batch_ops: a hostile snapshot must not plant dangling (market, slot)
//! references that panic later), on which the read-only calls neither panic nor report INTERNAL,
//! and whose own snapshot decodes to the same state hash (the encoding is canonical).

use deleverage_core::*;

use crate::harness::batch_ops::check_consistency;

pub fn run(data: &[u8]) {
    check(data);
    // The same body re-sealed with a valid checksum: past the header, into the body's checks.
    if data.len() > 52 && data[data.len() - 1] & 1 == 1 {
        let body = &data[20..data.len() - 32];
        check(&deleverage_core::snapshot::seal_snapshot(body));
    }
}

fn check(data: &[u8]) {
    let e = match decode_snapshot(data) {
        Err(err) => {
            assert!(
                matches!(
                    err.code,
                    ErrorCode::SnapshotTruncated
                        | ErrorCode::SnapshotChecksum
                        | ErrorCode::SnapshotVersion
                        | ErrorCode::SnapshotInvalid
                ),
                "decode_snapshot: {err}"
            );
            return;
        }
        Ok(e) => e,
    };
    check_consistency(&e);
    for r in [e.sweep(None).err(), e.account_rows(None).err(), e.position_risks(None).err()]
        .into_iter()
        .flatten()
    {
        assert_ne!(r.code, ErrorCode::Internal, "query on a decoded snapshot: {r}");
    }
    let again = decode_snapshot(&e.snapshot())
        .expect("an accepted snapshot re-encodes to one that decodes");
    assert_eq!(again.state_hash(), e.state_hash(), "snapshot round trip changed the state");
}
