//! Snapshots (SPEC §12): round trips after waterfall cascades, and every kind of damage rejected
//! with its code — truncation at every length, every single corrupted byte, wrong version, bad
//! magic, trailing bytes, and re-sealed bodies (valid checksum) that describe impossible states.

use deleverage_core::waterfall::{FillModel, FundPolicy, WaterfallConfig};
use deleverage_core::*;

mod common;
use common::Rng;

const USD: i64 = 100_000_000;

fn market(symbol: &str, kind: ContractKind, mark: i64) -> MarketSpec {
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals: 1,
        qty_decimals: if kind == ContractKind::Linear { 3 } else { 0 },
        contract_size: 1,
        basis: MarginBasis::Mark,
        form: TierForm::Deduction,
        floors: vec![0, 50_000_000],
        mmr: vec![500_000, 1_000_000],
        imr: vec![1_000_000, 2_000_000],
        maint_amount: None,
        mark,
    }
}

/// A book after a few waterfall runs on a falling path: takeovers, ADL, fund history, events.
fn cascaded(seed: u64) -> Engine {
    let mut rng = Rng(seed);
    let mut e = Engine::new(8).unwrap();
    e.add_market(market("BTC", ContractKind::Linear, 300_000)).unwrap();
    e.add_market(market("XBT", ContractKind::Inverse, 300_000)).unwrap();
    e.configure_waterfall(WaterfallConfig {
        policy: FundPolicy::Drawdown { trigger_ppm: 500_000, stop_ppm: 200_000, window: 10 },
        ..Default::default()
    })
    .unwrap();
    e.deposit_fund(5 * USD, 0).unwrap();
    let n = 40;
    let ids: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    let balances: Vec<i64> = (0..n).map(|_| rng.range(100, 20_000) * USD).collect();
    e.add_accounts(&ids, &balances).unwrap();
    for a in 0..n as u32 {
        // One settlement asset per account (SPEC §5.4): a third of the accounts hold the inverse
        // XBT, the rest BTC.
        for m in if a % 3 == 0 { 1..2u32 } else { 0..1 } {
            let q = rng.range(-3_000, 3_000) * if m == 0 { 10 } else { 100 };
            if q == 0 {
                continue;
            }
            let iso = rng.range(0, 3) == 0;
            let im = if iso { rng.range(1, 5_000) * USD } else { 0 };
            let rows = PositionRows {
                account: &[a],
                market: &[m],
                qty: &[q],
                price: &[rng.range(280_000, 320_000)],
                isolated_margin: &[im],
                flags: &[if iso { FLAG_ISOLATED } else { 0 }],
            };
            e.set_positions(&rows).unwrap();
        }
    }
    e.remove_accounts(&[3, 7]).unwrap();
    for step in 1..6i64 {
        e.set_marks(&[0, 1], &[300_000 - step * 12_000, 300_000 - step * 9_000]).unwrap();
        e.run_waterfall(FillModel::Impact { ppm_per_lot: 2, cap_ppm: 30_000 }, step as u64)
            .unwrap();
        e.settle_funding(0, 10_000).unwrap();
    }
    e
}

/// Put a fresh header length and checksum on an edited body (what a forger would do).
fn reseal(mut s: Vec<u8>) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    s.truncate(s.len() - 32);
    let body_len = (s.len() - 20) as u64;
    s[12..20].copy_from_slice(&body_len.to_le_bytes());
    let d = Sha256::digest(&s[20..]);
    s.extend_from_slice(&d);
    s
}

fn code(r: Result<Engine>) -> ErrorCode {
    r.err().map(|e| e.code).expect("accepted")
}

#[test]
fn round_trip_after_cascades() {
    for seed in [1, 7, 42, 1234, 99_999] {
        let e = cascaded(seed);
        assert!(e.events().len() > 10, "the cascade did something");
        let s = e.snapshot();
        let back = decode_snapshot(&s).unwrap();
        assert_eq!(back.state_hash(), e.state_hash());
        assert_eq!(back.snapshot(), s, "byte-identical re-snapshot");
        // The restored engine answers the same questions.
        assert_eq!(back.sweep(Some(800_000)).unwrap(), e.sweep(Some(800_000)).unwrap());
        assert_eq!(back.position_risks(None).unwrap(), e.position_risks(None).unwrap());
        assert_eq!(back.cash_total(), e.cash_total());
        assert_eq!(back.events(), e.events());
        // And continues the same way.
        let (mut a, mut b) = (e.clone(), back);
        for x in [&mut a, &mut b] {
            x.set_marks(&[0, 1], &[200_000, 210_000]).unwrap();
            x.run_waterfall(FillModel::AtMark, 9).unwrap();
            x.settle_funding(1, -30_000).unwrap();
        }
        assert_eq!(a.state_hash(), b.state_hash());
    }
}

#[test]
fn the_hash_sees_every_part_of_the_state() {
    let e = cascaded(5);
    let h = e.state_hash();
    let mut x = e.clone();
    x.set_marks(&[1], &[x.market(1).unwrap().mark + 1]).unwrap();
    assert_ne!(x.state_hash(), h, "mark");
    let mut x = e.clone();
    x.set_balances(&[0], &[x.balances(&[0]).unwrap()[0] + 1]).unwrap();
    assert_ne!(x.state_hash(), h, "balance");
    let mut x = e.clone();
    x.deposit_fund(1, 0).unwrap();
    assert_ne!(x.state_hash(), h, "fund and event log");
    let mut x = e.clone();
    x.configure_waterfall(WaterfallConfig { fee_rate: 1, ..x.waterfall_config() }).unwrap();
    assert_ne!(x.state_hash(), h, "config");
    let mut x = e.clone();
    x.add_accounts(&["new".into()], &[0]).unwrap();
    assert_ne!(x.state_hash(), h, "accounts");
    assert_eq!(e.clone().state_hash(), h);
}

#[test]
fn every_truncation_is_rejected() {
    let s = cascaded(3).snapshot();
    for n in 0..s.len() {
        let c = code(decode_snapshot(&s[..n]));
        assert!(c == ErrorCode::SnapshotTruncated, "length {n}: {c:?}");
    }
}

#[test]
fn every_corrupted_byte_is_rejected() {
    let s = Engine::restore(&cascaded(11).snapshot()).unwrap().snapshot();
    for i in 0..s.len() {
        for bit in [0x01u8, 0x80] {
            let mut t = s.clone();
            t[i] ^= bit;
            let c = code(decode_snapshot(&t));
            let want = match i {
                0..=7 => vec![ErrorCode::SnapshotInvalid],
                8..=11 => vec![ErrorCode::SnapshotVersion],
                // a longer announced body is a truncation, a shorter one leaves trailing bytes
                12..=19 => vec![ErrorCode::SnapshotTruncated, ErrorCode::SnapshotInvalid],
                _ => vec![ErrorCode::SnapshotChecksum],
            };
            assert!(want.contains(&c), "byte {i} ^ {bit:#x}: {c:?}");
        }
    }
}

#[test]
fn header_errors_name_what_is_wrong() {
    let s = cascaded(2).snapshot();
    let mut t = s.clone();
    t[0] = b'X';
    let e = decode_snapshot(&t).err().unwrap();
    assert_eq!(e.code, ErrorCode::SnapshotInvalid);
    assert!(e.message.contains("not a deleverage snapshot"), "{}", e.message);
    let mut t = s.clone();
    t[8..12].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(decode_snapshot(&t).err().unwrap().to_string(), "SNAPSHOT_VERSION: snapshot format version 3 (offset 8) is not supported; this engine reads version 2");
    // Version 1 (before tick sizes and settlement assets) is refused, not guessed (SPEC §12.2).
    t[8..12].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(code(decode_snapshot(&t)), ErrorCode::SnapshotVersion);
    let mut t = s.clone();
    t.push(0);
    assert_eq!(code(decode_snapshot(&t)), ErrorCode::SnapshotInvalid);
    let e = decode_snapshot(&s[..s.len() - 1]).err().unwrap();
    assert!(e.message.contains("announces"), "{}", e.message);
    let mut t = s.clone();
    let at = t.len() - 40;
    t[at] ^= 1;
    assert!(decode_snapshot(&t).err().unwrap().message.starts_with("checksum mismatch"));
}

/// Offsets of the fixed-layout parts of a small engine's body, to forge.
fn small() -> Engine {
    let mut e = Engine::new(8).unwrap();
    e.add_market(market("BTC", ContractKind::Linear, 300_000)).unwrap();
    e.add_accounts(&["a".into(), "b".into()], &[USD, USD]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0],
        market: &[0],
        qty: &[1_000],
        price: &[300_000],
        isolated_margin: &[0],
        flags: &[0],
    })
    .unwrap();
    e.remove_accounts(&[1]).unwrap();
    e.deposit_fund(USD, 3).unwrap();
    e
}

#[test]
fn forged_bodies_are_validated_like_api_input() {
    let s = small().snapshot();
    // Layout of `small`: header 20; q 1; market count 4; symbol 1+3; kind, P, D 3; size 8;
    // basis, form 2; mark 8; tickSize 8; settleAsset 1+5; tier count 4; 2 tiers × 40; account
    // count 4; "a" 2+1+8; "b" 2+1+8;
    // position count 4; position (account 4, qty 8, cost 8, isolated 1, margin 8) ...
    let market_at = 20 + 1 + 4;
    let mark_at = market_at + 4 + 3 + 8 + 2;
    let tick_at = mark_at + 8;
    let tiers_at = tick_at + 8 + 6 + 4;
    let accounts_at = tiers_at + 80;
    let b_alive = accounts_at + 4 + 2 + 1 + 8 + 2;
    let pos_at = accounts_at + 4 + 11 + 11 + 4;
    let forge = |at: usize, bytes: &[u8]| {
        let mut t = s.clone();
        t[at..at + bytes.len()].copy_from_slice(bytes);
        decode_snapshot(&reseal(t))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "accepted".into())
    };
    assert_eq!(forge(0, b"DLVGSNAP"), "accepted"); // the unforged snapshot, re-sealed
    assert!(forge(mark_at, &0i64.to_le_bytes()).contains("INVALID_PRICE"));
    assert!(forge(tick_at, &0i64.to_le_bytes()).contains("tickSize: must be at least 1"));
    assert!(
        forge(tick_at, &7i64.to_le_bytes())
            .contains("multiple of the tick size 0.7 (7 price units)"),
        "the mark 300000 is off a grid of 7"
    );
    assert_eq!(forge(tick_at, &5i64.to_le_bytes()), "accepted", "300000 is on a grid of 5");
    assert!(forge(tick_at + 9, b"q o").contains("bytes of UTF-8"), "settleAsset");
    assert!(
        forge(tiers_at + 40 + 8, &200_000i64.to_le_bytes()).contains("INVALID_TIERS"),
        "mmr decreasing"
    );
    assert!(forge(market_at + 1, b"b c").contains("bytes of UTF-8"));
    assert!(forge(b_alive, &[2]).contains("must be 0 or 1"));
    assert_eq!(
        forge(b_alive, &[1]),
        "accepted",
        "a removed account brought back with balance 0 is a valid state"
    );
    assert!(forge(b_alive + 1, &5i64.to_le_bytes()).contains("removed account's balance must be 0"));
    assert!(forge(pos_at, &1u32.to_le_bytes()).contains("no live account with index 1"));
    assert!(forge(pos_at + 4, &0i64.to_le_bytes()).contains("never 0 lots"));
    assert!(forge(pos_at + 4, &(QTY_LIMIT + 1).to_le_bytes()).contains("INVALID_QUANTITY"));
    assert!(forge(pos_at + 12, &(-5i64).to_le_bytes()).contains("sign of qty"));
    assert!(
        forge(pos_at + 20, &[1]).contains("accepted"),
        "an isolated position with margin 0 is a valid state"
    );
    assert!(
        forge(pos_at + 21, &7i64.to_le_bytes()).contains("cross position takes no isolated margin")
    );
    let wf_at = pos_at + 29;
    assert!(forge(wf_at, &(-1i64).to_le_bytes()).contains("fee rate"));
    assert!(forge(wf_at + 16, &[9]).contains("ADL ranking"));
    assert!(forge(wf_at + 18, &[0, 1]).contains("exhausted policy takes no trigger"));
    let fund_at = wf_at + 18 + 1 + 24;
    let now_at = fund_at + 8 + 16 + 8 + 1;
    assert!(
        forge(now_at, &1u64.to_le_bytes()).contains("accepted"),
        "no fund history under exhausted"
    );
    let hist_at = now_at + 8 + 16;
    assert!(
        forge(hist_at, &5u32.to_le_bytes()).contains("fund history 1 time: must be within"),
        "times must not run backwards or past now"
    );
    let ev_at = hist_at + 4;
    assert!(forge(ev_at, &1_000u64.to_le_bytes()).contains("do not fit"));
    assert!(forge(ev_at + 8, &[16]).contains("no event kind 16"));
    assert!(forge(ev_at + 9, &5u32.to_le_bytes()).contains("index 5 is out of range"));
    // Never a panic, whatever the body says: random re-sealed garbage after a valid header. A
    // rejection is a SNAPSHOT_INVALID (the header and checksum are right); what is accepted is a
    // state of its own, whose snapshot decodes back to the same state.
    let mut rng = Rng(77);
    let (mut rejected, mut accepted) = (0, 0);
    for _ in 0..2_000 {
        let mut t = s.clone();
        for _ in 0..rng.range(1, 4) {
            let i = rng.range(20, t.len() as i64 - 33) as usize;
            t[i] = rng.next() as u8;
        }
        match decode_snapshot(&reseal(t)) {
            Err(err) => {
                assert_eq!(err.code, ErrorCode::SnapshotInvalid, "{err}");
                rejected += 1;
            }
            Ok(e) => {
                assert_eq!(decode_snapshot(&e.snapshot()).unwrap().state_hash(), e.state_hash());
                accepted += 1;
            }
        }
    }
    assert!(
        rejected > 100 && accepted > 100,
        "both ways reached: {rejected} rejected, {accepted} accepted"
    );
}

const QTY_LIMIT: i64 = 1_000_000_000_000_000;

/// A forged body whose account holds markets of two settlement assets is refused like the API
/// would refuse the write (SPEC §5.4, §12.3).
#[test]
fn forged_settlement_mix_is_refused() {
    let mut e = Engine::new(8).unwrap();
    let terms = |a: &str| MarketTerms { tick_size: 1, settle_asset: Some(a.into()) };
    e.add_market_with(market("BTC", ContractKind::Linear, 300_000), terms("USDT")).unwrap();
    e.add_market_with(market("ETH", ContractKind::Linear, 300_000), terms("USDT")).unwrap();
    e.add_accounts(&["a".into()], &[USD]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0, 0],
        market: &[0, 1],
        qty: &[1_000, 2_000],
        price: &[300_000, 300_000],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    })
    .unwrap();
    let s = e.snapshot();
    let at = s.windows(5).rposition(|w| w == b"\x04USDT").expect("ETH's settle asset") + 1;
    let mut t = s.clone();
    t[at..at + 4].copy_from_slice(b"USDC");
    let err = decode_snapshot(&reseal(t)).expect_err("refused");
    assert_eq!(err.code, ErrorCode::SnapshotInvalid);
    assert!(err.message.contains("SETTLEMENT_MISMATCH: account a cannot hold ETH (settles in USDC) beside BTC (settles in USDT)"), "{}", err.message);
}
