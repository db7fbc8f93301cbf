//! ADL selection (SPEC §9.1): the one-pass selection returns exactly the shortest prefix of the
//! fully sorted queue whose sizes reach the needed quantity, on random sides with many ties.

use deleverage_core::adl::AdlRanking;
use deleverage_core::*;

mod common;
use common::Rng;

#[test]
fn selection_equals_the_head_of_the_full_sort() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut cases = 0;
    for round in 0..40 {
        let mut e = Engine::new(8).unwrap();
        e.add_market(MarketSpec::one_tier("M", 500_000, 1_000_000)).unwrap();
        let n = rng.range(0, 400) as usize;
        let ids: Vec<String> =
            (0..n).map(|i| format!("acc{:04}", rng.range(0, 99_999) * 10_000 + i as i64)).collect();
        // few distinct balances, sizes and entries: many equal scores and sizes
        let bal: Vec<i64> =
            (0..n).map(|_| rng.pick(&[10i64.pow(9), 10i64.pow(10), 5 * 10i64.pow(10)])).collect();
        e.add_accounts(&ids, &bal).unwrap();
        let acc: Vec<u32> = (0..n as u32).collect();
        let qty: Vec<i64> =
            (0..n).map(|_| rng.pick(&[1_000i64, 2_000, 5_000]) * rng.pick(&[1, -1])).collect();
        let px: Vec<i64> = (0..n).map(|_| rng.pick(&[900_000i64, 1_000_000, 1_100_000])).collect();
        e.set_positions(&PositionRows {
            account: &acc,
            market: &vec![0; n],
            qty: &qty,
            price: &px,
            isolated_margin: &vec![0; n],
            flags: &vec![0; n],
        })
        .unwrap();
        for ranking in [AdlRanking::Bitmex, AdlRanking::Binance, AdlRanking::Hyperliquid] {
            for side in [1i64, -1] {
                let cands = e.adl_candidates(0, side, ranking, None).unwrap();
                let full = e.adl_queue(0, side, ranking).unwrap();
                let total: u64 = full.iter().map(|c| c.qty.unsigned_abs()).sum();
                for need in [
                    0,
                    1,
                    total / 3,
                    total.saturating_sub(1),
                    total,
                    total + 1,
                    rng.range(0, total as i64 + 10) as u64,
                ] {
                    let mut sum = 0u64;
                    let mut k = full.len();
                    for (i, c) in full.iter().enumerate() {
                        sum += c.qty.unsigned_abs();
                        if sum >= need {
                            k = i + 1;
                            break;
                        }
                    }
                    assert_eq!(
                        e.adl_select(cands.clone(), need),
                        full[..k].to_vec(),
                        "round {round}, need {need}"
                    );
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 1000);
}

#[test]
fn scores_of_a_large_side_use_the_accounts_cross_state() {
    // A side of 3 000 positions (large enough for the one-pass cross state) in accounts that also
    // hold a position in a second market; every BitMEX score must be the one computed from the
    // account's own cross row (SPEC §9.1).
    let mut rng = Rng(0x1234_5678_9ABC_DEF1);
    let mut e = Engine::new(8).unwrap();
    for sym in ["A", "B"] {
        e.add_market(MarketSpec {
            floors: vec![0, 10i64.pow(12)],
            mmr: vec![500_000, 1_000_000],
            imr: vec![1_000_000, 2_000_000],
            ..MarketSpec::one_tier(sym, 500_000, 1_000_000)
        })
        .unwrap();
    }
    let n = 3_000usize;
    let ids: Vec<String> = (0..n).map(|i| format!("x{i}")).collect();
    let bal: Vec<i64> = (0..n).map(|_| rng.range(0, 10i64.pow(11))).collect();
    e.add_accounts(&ids, &bal).unwrap();
    for m in 0..2u32 {
        let acc: Vec<u32> = (0..n as u32).collect();
        let qty: Vec<i64> = (0..n).map(|_| -rng.range(1, 100_000)).collect();
        let px: Vec<i64> = (0..n).map(|_| rng.range(800_000, 1_200_000)).collect();
        let iso: Vec<u8> =
            (0..n).map(|_| if rng.range(0, 9) == 0 { FLAG_ISOLATED } else { 0 }).collect();
        let im: Vec<i64> =
            iso.iter().map(|&f| if f != 0 { rng.range(0, 10i64.pow(10)) } else { 0 }).collect();
        e.set_positions(&PositionRows {
            account: &acc,
            market: &vec![m; n],
            qty: &qty,
            price: &px,
            isolated_margin: &im,
            flags: &iso,
        })
        .unwrap();
    }
    e.set_marks(&[0, 1], &[950_000, 1_070_000]).unwrap();
    let cands = e.adl_candidates(0, -1, AdlRanking::Bitmex, None).unwrap();
    assert_eq!(cands.len(), n);
    let mk = &e.markets()[0];
    let risks = e.position_risks(None).unwrap();
    let mut cross = 0;
    for c in &cands {
        let r = risks.iter().find(|r| r.account == c.account && r.market == 0).unwrap();
        let upnl = r.upnl as i128;
        let equity = if r.isolated {
            r.isolated_margin as i128 + upnl
        } else {
            cross += 1;
            e.account_rows(Some(&[c.account])).unwrap()[0].equity as i128
        };
        let notional = mk.value_atoms(r.qty, mk.mark).unwrap().max(1);
        let entry = mk.entry_value_atoms(r.cost).unwrap().max(1);
        let eq = equity.max(1);
        let want =
            if upnl >= 0 { (upnl * notional, entry * eq) } else { (upnl * eq, entry * notional) };
        assert_eq!((c.num, c.den), want, "account {}", c.account);
    }
    assert!(cross > 2_000);
}
