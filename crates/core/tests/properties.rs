//! Properties of the margin state on random accounts (no external crates: a seeded xorshift).
//! The central one (SPEC §6.3): at the reported liquidation price the account is liquidatable and
//! one tick better it is not; at the bankruptcy price equity is ≥ 0 and one tick worse it is < 0.

use deleverage_core::*;

mod common;
use common::Rng;

fn random_market(rng: &mut Rng, symbol: &str, quote_decimals: u32) -> MarketSpec {
    let kind = rng.pick(&[ContractKind::Linear, ContractKind::Inverse]);
    let price_decimals = rng.range(0, 4) as u32;
    let qty_decimals = rng.range(0, 4) as u32;
    let n = rng.range(1, 5) as usize;
    let mut floors = vec![0i64];
    let mut mmr = vec![rng.range(100_000, 2_000_000)];
    for i in 1..n {
        floors.push(floors[i - 1] + rng.range(1, 1_000_000_000));
        mmr.push(mmr[i - 1] + rng.range(0, 5_000_000));
    }
    let imr = mmr.iter().map(|m| (m * 2).min(100_000_000)).collect();
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals,
        qty_decimals,
        contract_size: if kind == ContractKind::Inverse { rng.pick(&[1, 10, 100]) } else { 1 },
        basis: rng.pick(&[MarginBasis::Mark, MarginBasis::Entry]),
        form: rng.pick(&[TierForm::Deduction, TierForm::Step]),
        floors,
        mmr,
        imr,
        maint_amount: None,
        mark: rng.range(1, 10_000_000),
    }
    .tap(quote_decimals)
}

trait Tap {
    fn tap(self, q: u32) -> Self;
}
impl Tap for MarketSpec {
    /// Keep random decimals inside the unit limits of SPEC §2.3.
    fn tap(mut self, q: u32) -> Self {
        if self.kind == ContractKind::Inverse {
            self.qty_decimals = 0;
            self.price_decimals = self.price_decimals.min(12 - q);
        }
        self
    }
}

/// Random positions for `accounts` accounts in every market: each skipped one time in `skip`,
/// isolated one time in `iso` with a margin below `max_margin`, entries within ±1/3 of mark.
/// Rows the engine refuses (worth less than an atom) are left out: that error is tested elsewhere.
fn random_positions(
    e: &mut Engine,
    rng: &mut Rng,
    accounts: u32,
    skip: i64,
    iso: i64,
    max_margin: i64,
) {
    for a in 0..accounts {
        for m in 0..e.markets().len() as u32 {
            if rng.range(0, skip) == 0 {
                continue;
            }
            let mark = e.markets()[m as usize].mark;
            let entry = (mark + rng.range(-mark / 3, mark / 3)).max(1);
            let qty = rng.range(1, 10i64.pow(e.markets()[m as usize].qty_decimals + 3))
                * rng.pick(&[1, -1]);
            let isolated = rng.range(0, iso) == 0;
            let im = if isolated { rng.range(0, max_margin) } else { 0 };
            let flags = if isolated { FLAG_ISOLATED } else { 0 };
            let _ = e.set_positions(&PositionRows {
                account: &[a],
                market: &[m],
                qty: &[qty],
                price: &[entry],
                isolated_margin: &[im],
                flags: &[flags],
            });
        }
    }
}

fn cross_row(e: &Engine, a: u32) -> MarginRow {
    e.account_rows(Some(&[a])).unwrap()[0]
}

fn set_mark(e: &mut Engine, m: u32, p: i64) {
    e.set_marks(&[m], &[p]).unwrap();
}

/// Is the position's account (cross) or the position itself (isolated) liquidatable now?
fn liquidatable_now(e: &Engine, r: &PositionRisk) -> bool {
    if r.isolated {
        e.sweep(None)
            .unwrap()
            .liquidatable
            .iter()
            .any(|x| x.account == r.account && x.market == r.market)
    } else {
        cross_row(e, r.account).liquidatable
    }
}

fn equity_now(e: &Engine, r: &PositionRisk) -> i64 {
    if r.isolated {
        let pr = e.position_risks(Some(&[r.account])).unwrap();
        let p = pr.iter().find(|p| p.market == r.market).unwrap();
        p.isolated_margin + p.upnl
    } else {
        cross_row(e, r.account).equity
    }
}

#[test]
fn liquidation_and_bankruptcy_prices_are_where_the_predicates_flip() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = (0, 0);
    for round in 0..60 {
        let q = rng.range(4, 10) as u32;
        let mut e = Engine::new(q).unwrap();
        let nm = rng.range(1, 3);
        for i in 0..nm {
            e.add_market(random_market(&mut rng, &format!("M{i}"), q)).unwrap();
        }
        let ids: Vec<String> = (0..8).map(|i| format!("acct-{round}-{i}")).collect();
        let balances: Vec<i64> = ids.iter().map(|_| rng.range(0, 10i64.pow(q + 5))).collect();
        e.add_accounts(&ids, &balances).unwrap();
        random_positions(&mut e, &mut rng, 8, 3, 2, 10i64.pow(q + 4));
        let risks = e.position_risks(None).unwrap();
        for r in &risks {
            let m = r.market;
            let before = e.markets()[m as usize].mark;
            let better = if r.qty > 0 { 1 } else { -1 };
            if let Some(lp) = r.liquidation {
                set_mark(&mut e, m, lp.conservative);
                assert!(
                    liquidatable_now(&e, r),
                    "round {round}: not liquidatable at its liquidation price {lp:?}: {r:?}"
                );
                let next = lp.conservative + better;
                if (1..=num::PRICE_MAX_TICKS).contains(&next) && liquidation::in_domain(&e, r, next)
                {
                    set_mark(&mut e, m, next);
                    assert!(
                        !liquidatable_now(&e, r),
                        "round {round}: still liquidatable one tick better than {lp:?}: {r:?}"
                    );
                }
                assert!((lp.nearest - lp.conservative).abs() <= 1);
                checked.0 += 1;
            }
            if let Some(bp) = r.bankruptcy {
                set_mark(&mut e, m, bp.conservative);
                assert!(
                    equity_now(&e, r) >= 0,
                    "round {round}: equity negative at bankruptcy price {bp:?}: {r:?}"
                );
                set_mark(&mut e, m, bp.conservative - better);
                assert!(
                    equity_now(&e, r) < 0,
                    "round {round}: equity not negative one tick past bankruptcy {bp:?}: {r:?}"
                );
                checked.1 += 1;
            }
            set_mark(&mut e, m, before);
        }
    }
    // The generator must actually produce prices to check, or this test proves nothing.
    assert!(checked.0 > 200 && checked.1 > 200, "too few prices checked: {checked:?}");
}

mod liquidation {
    use super::*;
    /// The next tick may lie outside the position's i64 value domain (SPEC §2.3).
    pub fn in_domain(e: &Engine, r: &PositionRisk, x: i64) -> bool {
        let (lo, hi) =
            deleverage_core::liq::domain(&e.markets()[r.market as usize], r.qty, 0).unwrap();
        (lo..=hi).contains(&x)
    }
}

/// The parallel sweep gives the single-thread sweep's output for any thread count.
#[test]
fn parallel_sweep_equals_the_single_thread_sweep() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for _ in 0..10 {
        let q = 8;
        let mut e = Engine::new(q).unwrap();
        let nm = rng.range(1, 9);
        for i in 0..nm {
            e.add_market(random_market(&mut rng, &format!("M{i}"), q)).unwrap();
        }
        let ids: Vec<String> = (0..300).map(|i| format!("a{i}")).collect();
        let balances: Vec<i64> =
            ids.iter().map(|_| rng.range(-10i64.pow(9), 10i64.pow(12))).collect();
        e.add_accounts(&ids, &balances).unwrap();
        random_positions(&mut e, &mut rng, 300, 2, 3, 10i64.pow(11));
        let one = e.sweep_threads(Some(500_000), 1).unwrap();
        assert!(!one.liquidatable.is_empty(), "the book must have liquidatable rows to compare");
        for t in [2, 3, 7, 64] {
            assert_eq!(e.sweep_threads(Some(500_000), t).unwrap(), one, "{t} threads");
        }
    }
}
