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
        e.add_market(MarketSpec {
            symbol: "M".into(), kind: ContractKind::Linear, price_decimals: 2, qty_decimals: 3, contract_size: 1,
            basis: MarginBasis::Mark, form: TierForm::Deduction, floors: vec![0], mmr: vec![500_000], imr: vec![1_000_000],
            maint_amount: None, mark: 1_000_000,
        }).unwrap();
        let n = rng.range(0, 400) as usize;
        let ids: Vec<String> = (0..n).map(|i| format!("acc{:04}", rng.range(0, 99_999) * 10_000 + i as i64)).collect();
        // few distinct balances, sizes and entries: many equal scores and sizes
        let bal: Vec<i64> = (0..n).map(|_| rng.pick(&[10i64.pow(9), 10i64.pow(10), 5 * 10i64.pow(10)])).collect();
        e.add_accounts(&ids, &bal).unwrap();
        let acc: Vec<u32> = (0..n as u32).collect();
        let qty: Vec<i64> = (0..n).map(|_| rng.pick(&[1_000i64, 2_000, 5_000]) * rng.pick(&[1, -1])).collect();
        let px: Vec<i64> = (0..n).map(|_| rng.pick(&[900_000i64, 1_000_000, 1_100_000])).collect();
        e.set_positions(&PositionRows { account: &acc, market: &vec![0; n], qty: &qty, price: &px, isolated_margin: &vec![0; n], flags: &vec![0; n] }).unwrap();
        for ranking in [AdlRanking::Bitmex, AdlRanking::Binance, AdlRanking::Hyperliquid] {
            for side in [1i64, -1] {
                let cands = e.adl_candidates(0, side, ranking, None).unwrap();
                let full = e.adl_queue(0, side, ranking).unwrap();
                let total: u64 = full.iter().map(|c| c.qty.unsigned_abs()).sum();
                for need in [0, 1, total / 3, total.saturating_sub(1), total, total + 1, rng.range(0, total as i64 + 10) as u64] {
                    let mut sum = 0u64;
                    let mut k = full.len();
                    for (i, c) in full.iter().enumerate() {
                        sum += c.qty.unsigned_abs();
                        if sum >= need {
                            k = i + 1;
                            break;
                        }
                    }
                    assert_eq!(e.adl_select(cands.clone(), need), full[..k].to_vec(), "round {round}, need {need}");
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 1000);
}
