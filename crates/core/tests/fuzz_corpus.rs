//! The fuzz corpora replayed on stable: every committed input of fuzz/corpus/<target>/ and
//! fuzz/regressions/<target>/ through the same harness the cargo-fuzz target runs
//! (fuzz/harness), so an invariant a past fuzz run established cannot regress without nightly.

#[path = "../../../fuzz/harness/mod.rs"]
mod harness;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        if let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) {
            files.extend(rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let files = inputs(target);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        // Name the input that broke an invariant (the harness panics with the invariant).
        if let Err(p) = std::panic::catch_unwind(|| run(&data)) {
            panic!(
                "{target}: {} failed: {}",
                f.display(),
                p.downcast_ref::<String>()
                    .map(String::as_str)
                    .or(p.downcast_ref::<&str>().copied())
                    .unwrap_or("panic")
            );
        }
    }
    files.len()
}

#[test]
fn batch_ops_corpus_replays_clean() {
    let n = replay("batch_ops", harness::batch_ops::run);
    assert!(n > 0, "no committed batch_ops corpus found under fuzz/");
}

#[test]
fn batch_ops_harness_runs_the_empty_program_and_a_long_one() {
    // The seed engine is valid for every quote-decimals choice (first byte) and survives a
    // program that runs to the step limit.
    for q in 0..4u8 {
        harness::batch_ops::run(&[q]);
    }
    let long: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    harness::batch_ops::run(&long);
}

#[test]
fn snapshot_corpus_replays_clean() {
    let n = replay("snapshot", harness::snapshot::run);
    assert!(n > 0, "no committed snapshot corpus found under fuzz/");
}
