//! The waterfall on named scenarios (dYdX style: prime prices, table-driven) with a zero-sum
//! check after every operation (exchange-core style): cash_total never moves except by deposits.
//! Scenarios whose expectations are values (the venues' G6, G7, takeover, ADL, funding) are
//! shared vectors in test/vectors/ (tests/vectors.rs); these need more than values can say.

use deleverage_core::adl::AdlRanking;
use deleverage_core::waterfall::{EventKind, FillModel, FundPolicy, WaterfallConfig};
use deleverage_core::*;

mod common;
use common::Rng;

const USD: i64 = 100_000_000; // one quote unit in atoms (Q = 8)

struct Book {
    e: Engine,
    cash: i128,
}

impl Book {
    fn new(markets: Vec<MarketSpec>, config: WaterfallConfig, fund: i64) -> Book {
        let mut e = Engine::new(8).unwrap();
        for m in markets {
            e.add_market(m).unwrap();
        }
        e.configure_waterfall(config).unwrap();
        if fund > 0 {
            e.deposit_fund(fund, 0).unwrap();
        }
        let cash = e.cash_total();
        Book { e, cash }
    }
    fn account(
        &mut self,
        id: &str,
        balance: i64,
        positions: &[(u32, i64, i64, Option<i64>)],
    ) -> u32 {
        let a = self.e.add_accounts(&[id.to_string()], &[balance]).unwrap();
        for &(m, q, entry, iso) in positions {
            let rows = PositionRows {
                account: &[a],
                market: &[m],
                qty: &[q],
                price: &[entry],
                isolated_margin: &[iso.unwrap_or(0)],
                flags: &[if iso.is_some() { FLAG_ISOLATED } else { 0 }],
            };
            self.e.set_positions(&rows).unwrap();
        }
        self.cash +=
            balance as i128 + positions.iter().map(|p| p.3.unwrap_or(0) as i128).sum::<i128>();
        a
    }
    /// The zero-sum assertion after every operation.
    fn check(&self) {
        assert_eq!(self.e.cash_total(), self.cash, "cash is not conserved");
    }
    fn mark(&mut self, m: u32, p: i64) {
        self.e.set_marks(&[m], &[p]).unwrap();
    }
    fn run(&mut self, model: FillModel) -> Vec<deleverage_core::waterfall::Event> {
        let first = self.e.run_waterfall(model, 0).unwrap();
        self.check();
        self.e.events().iter().filter(|x| x.seq >= first).copied().collect()
    }
    fn qty(&self, a: u32, m: u32) -> i64 {
        self.e
            .position_risks(Some(&[a]))
            .unwrap()
            .iter()
            .find(|r| r.market == m)
            .map_or(0, |r| r.qty)
    }
    fn row(&self, a: u32) -> MarginRow {
        self.e.account_rows(Some(&[a])).unwrap()[0]
    }
}

fn cfg(fee: i64, buffer: i64) -> WaterfallConfig {
    WaterfallConfig { fee_rate: fee, buffer_rate: buffer, ..Default::default() }
}

#[test]
fn partial_liquidation_closes_the_smallest_quantity_that_restores_mm_plus_buffer() {
    let mut b = Book::new(
        vec![MarketSpec::one_tier("BTC", 1_000_000, 3_001_100)],
        cfg(500_000, 2_000_000),
        0,
    );
    // long 10 @ 30011, mark moves to 29 011: uPnL −10 000; balance 12 000: equity 2 000 < MM 2 901.1
    let a = b.account("alice", 12_000 * USD, &[(0, 10_000, 3_001_100, None)]);
    b.mark(0, 2_901_100);
    assert!(b.row(a).liquidatable);
    let plan = b.e.plan_liquidation(a, None).unwrap();
    assert!(!plan.takeover);
    let (m, d) = plan.orders[0];
    assert_eq!(m, 0);
    let events = b.run(FillModel::AtMark);
    assert!(events.iter().any(|x| x.kind == EventKind::LiquidationFill && x.qty == d));
    let r = b.row(a);
    // restored: equity ≥ MM × 1.02 (cross-multiplied), and one lot less would not have done it
    assert!(r.equity as i128 * 100 >= r.maintenance_margin as i128 * 102, "{r:?}");
    assert_eq!(b.qty(a, 0), 10_000 - d);
    let mut less = Book::new(
        vec![MarketSpec::one_tier("BTC", 1_000_000, 3_001_100)],
        cfg(500_000, 2_000_000),
        0,
    );
    let a2 = less.account("alice", 12_000 * USD, &[(0, 10_000, 3_001_100, None)]);
    less.mark(0, 2_901_100);
    less.e.settle_liquidation_fill(a2, None, 0, d - 1, 2_901_100).unwrap();
    let r2 = less.row(a2);
    assert!(
        (r2.equity as i128) * 100 < r2.maintenance_margin as i128 * 102,
        "one lot less also restores: {r2:?}"
    );
}

#[test]
fn a_long_and_a_short_taken_over_in_one_run_net_inside_the_engine_and_the_fund_pays_the_gap() {
    // Regression: the engine summed both takeovers' cost bases, so the flat engine kept a cost
    // of 200 that never reached the fund.
    let mut b =
        Book::new(vec![MarketSpec::one_tier("ETH", 1_000_000, 200_000)], cfg(0, 0), 1_000 * USD);
    // long 10 @ 2 100 and short 10 @ 1 900, 900 each: bankrupt at 2 010 and 1 990; mark 2 000
    b.account("long", 900 * USD, &[(0, 10_000, 210_000, None)]);
    b.account("short", 900 * USD, &[(0, -10_000, 190_000, None)]);
    let fund_before = b.e.insurance_fund();
    let events = b.run(FillModel::AtMark);
    let prices: Vec<i64> =
        events.iter().filter(|x| x.kind == EventKind::Takeover).map(|x| x.price).collect();
    assert_eq!(prices.len(), 2);
    assert!(prices.contains(&201_000) && prices.contains(&199_000), "{prices:?}");
    // The engine bought at 2 010 and sold at 1 990 (or the reverse): 10 × 20 lost, to the fund.
    let net = events
        .iter()
        .find(|x| x.kind == EventKind::EngineNetting)
        .expect("netting inside the engine");
    assert_eq!(net.qty.abs(), 10_000);
    assert_eq!(net.amount, -200 * USD);
    assert_eq!(b.e.liquidator_position(0), (0, 0), "nothing left in the engine, not even a cost");
    let fund_events: i64 = events
        .iter()
        .filter(|x| {
            matches!(
                x.kind,
                EventKind::EngineFill
                    | EventKind::EngineNetting
                    | EventKind::LiquidationFee
                    | EventKind::FundPayment
            )
        })
        .map(|x| if x.kind == EventKind::FundPayment { -x.amount } else { x.amount })
        .sum();
    assert_eq!(b.e.insurance_fund() - fund_before, fund_events);
    assert_eq!(b.e.insurance_fund() - fund_before, -200 * USD);
}

#[test]
fn netting_the_fund_cannot_pay_for_leaves_the_fund_negative_and_the_winners_untouched() {
    // As above with an empty fund: the 200 lost between the two bankruptcy prices is the
    // engine's own, no order can avoid it, so the fund bears it below zero (SPEC §8.4).
    let mut b = Book::new(vec![MarketSpec::one_tier("ETH", 1_000_000, 200_000)], cfg(0, 0), 0);
    b.account("long", 900 * USD, &[(0, 10_000, 210_000, None)]);
    b.account("short", 900 * USD, &[(0, -10_000, 190_000, None)]);
    let wl = b.account("winning-long", 10_000 * USD, &[(0, 20_000, 150_000, None)]);
    let ws = b.account("winning-short", 10_000 * USD, &[(0, -20_000, 250_000, None)]);
    let events = b.run(FillModel::AtMark);
    assert!(!events.iter().any(|x| x.kind == EventKind::AdlFill), "nothing left to deleverage");
    assert_eq!(
        events.iter().filter(|x| x.kind == EventKind::EngineNetting).map(|x| x.amount).sum::<i64>(),
        -200 * USD
    );
    assert_eq!((b.qty(wl, 0), b.qty(ws, 0)), (20_000, -20_000));
    assert_eq!(b.e.liquidator_position(0), (0, 0));
    assert_eq!(b.e.insurance_fund(), -200 * USD);
}

#[test]
fn drawdown_policy_starts_adl_at_the_trigger_and_stops_above_the_stop_ratio() {
    let policy = FundPolicy::Drawdown { trigger_ppm: 300_000, stop_ppm: 100_000, window: 1_000 };
    let mut b = Book::new(
        vec![MarketSpec::one_tier("ETH", 1_000_000, 200_300)],
        WaterfallConfig { policy, ..cfg(0, 0) },
        1_000 * USD,
    );
    let _s = b.account("s", 50_000 * USD, &[(0, -500_000, 200_300, None)]);
    // Each: long 100 ETH @ 2003 with 900: bankrupt at 1 994; at 1 990 the engine loses 400.
    b.mark(0, 199_000);
    b.account("b1", 900 * USD, &[(0, 100_000, 200_300, None)]);
    let ev = b.run(FillModel::AtMark);
    assert!(ev.iter().any(|x| x.kind == EventKind::EngineFill), "the fund absorbs the first loss");
    assert_eq!(b.e.insurance_fund(), 600 * USD);
    // Drawdown is now 40 % ≥ 30 %: ADL mode starts at the next check and the fund pays nothing.
    b.account("b2", 900 * USD, &[(0, 100_000, 200_300, None)]);
    let ev = b.run(FillModel::AtMark);
    assert!(ev.iter().any(|x| x.kind == EventKind::AdlModeOn));
    assert_eq!(
        ev.iter().filter(|x| x.kind == EventKind::AdlFill).map(|x| x.qty).sum::<i64>(),
        -100_000
    );
    assert_eq!(b.e.insurance_fund(), 600 * USD);
    // A deposit brings the drawdown back to 0 ≤ 10 %: ADL mode ends with it.
    b.e.deposit_fund(400 * USD, 10).unwrap(); // from outside, through settlement: cash unchanged
    b.check();
    assert!(!b.e.adl_mode());
    assert_eq!(b.e.events().last().unwrap().kind, EventKind::AdlModeOff);
    b.account("b3", 900 * USD, &[(0, 100_000, 200_300, None)]);
    let ev = b.run(FillModel::AtMark);
    assert!(ev.iter().any(|x| x.kind == EventKind::EngineFill), "the fund pays again: {ev:?}");
}

#[test]
fn inverse_market_takeover_and_adl() {
    let spec = MarketSpec {
        kind: ContractKind::Inverse,
        price_decimals: 1,
        qty_decimals: 0,
        contract_size: 100,
        ..MarketSpec::one_tier("BTCUSD", 500_000, 300_110)
    };
    let mut b = Book::new(vec![spec], cfg(500_000, 0), 0);
    // 1 009 contracts × 100 USD long at 30 011, isolated margin 0.3 BTC
    let a = b.account("inv", 0, &[(0, 1_009, 300_110, Some(30_000_000))]);
    let s = b.account("short", 10 * USD, &[(0, -2_003, 310_070, None)]);
    b.mark(0, 230_030);
    let events = b.run(FillModel::AtMark);
    assert!(events.iter().any(|x| x.kind == EventKind::Takeover && x.account == a));
    assert_eq!(
        events.iter().filter(|x| x.kind == EventKind::AdlFill).map(|x| x.qty).sum::<i64>(),
        -1_009
    );
    assert_eq!(b.qty(s, 0), -994);
    assert!(b.e.accounts()[a as usize].balance >= 0);
}

#[test]
fn an_operation_that_fails_half_way_is_rolled_back_to_the_byte() {
    // Loss shares execute largest position first; the smallest holder's balance cannot take its
    // share (i64 overflow), after the others have paid theirs: the whole call is taken back.
    let mut b = Book::new(vec![MarketSpec::one_tier("SOL", 1_000_000, 10_000)], cfg(0, 0), 0);
    let bankrupt = b.account("bankrupt", -100 * USD, &[]);
    b.account("big", 1_000 * USD, &[(0, 5_000, 10_000, None)]);
    b.account("mid", 1_000 * USD, &[(0, -3_000, 10_000, Some(50 * USD))]);
    b.account("small", i64::MIN + 5, &[(0, -2_000, 10_000, None)]);
    let before = b.e.state_bytes();
    let err = b.e.socialise_loss(0, 100 * USD, bankrupt).unwrap_err();
    assert_eq!(err.code, ErrorCode::Overflow, "{err}");
    assert_eq!(b.e.state_bytes(), before, "the shares already paid are taken back, the events too");
    b.check();
}

#[test]
fn rejected_operations_change_nothing() {
    let mut b = Book::new(vec![MarketSpec::one_tier("ETH", 1_000_000, 200_300)], cfg(0, 0), 0);
    let a = b.account("a", 1_000 * USD, &[(0, 1_000, 200_300, None)]);
    let before = b.e.state_bytes();
    assert_eq!(
        b.e.settle_liquidation_fill(a, None, 0, 2_000, 200_300).unwrap_err().code,
        ErrorCode::InvalidQuantity
    );
    assert_eq!(
        b.e.settle_liquidation_fill(a, None, 0, -1, 200_300).unwrap_err().code,
        ErrorCode::InvalidQuantity
    );
    assert_eq!(
        b.e.settle_liquidation_fill(a, None, 0, 1, 0).unwrap_err().code,
        ErrorCode::InvalidPrice
    );
    assert_eq!(b.e.socialise_loss(0, -5, a).unwrap_err().code, ErrorCode::InvalidAmount);
    assert!(b.e.state_bytes() == before, "the whole state, not just the positions");
    b.check();
    assert!(b.e.events().is_empty());
}

type Spec = (String, i64, Vec<(u32, i64, i64, Option<i64>)>);

fn random_book(rng: &mut Rng, n: usize) -> Vec<Spec> {
    (0..n)
        .map(|i| {
            let markets: Vec<u32> = (0..2u32).filter(|_| rng.range(0, 3) > 0).collect();
            let positions = markets
                .into_iter()
                .map(|m| {
                    let q = rng.range(1, 50_000) * if rng.range(0, 1) == 0 { 1 } else { -1 };
                    let entry = 200_300 + rng.range(-20_000, 20_000);
                    let iso = (rng.range(0, 4) == 0).then(|| rng.range(0, 2_000) * USD);
                    (m, q, entry, iso)
                })
                .collect();
            (format!("acct-{i:03}"), rng.range(0, 3_000) * USD, positions)
        })
        .collect()
}

fn build(specs: &[Spec], ranking: AdlRanking, fund: i64) -> Book {
    let config = WaterfallConfig { ranking, ..cfg(700_000, 2_000_000) };
    let mut b = Book::new(
        vec![
            MarketSpec::one_tier("ETH", 1_000_000, 200_300),
            MarketSpec::one_tier("SOL", 2_000_000, 200_300),
        ],
        config,
        fund,
    );
    for (id, bal, pos) in specs {
        b.account(id, *bal, pos);
    }
    b
}

/// Random cascades: a falling then rebounding path, the waterfall at every step. After every
/// step cash is conserved, open interest moves only by fills into the book (ADL and takeovers
/// are internal, so nothing is closed beyond the bankrupt quantity), and the outcome does not
/// depend on the order in which accounts were added.
#[test]
fn random_cascades_conserve_cash_never_overshoot_and_ignore_input_order() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut adl_events = 0;
    for round in 0..60 {
        let specs = random_book(&mut rng, 40);
        let ranking =
            [AdlRanking::Bitmex, AdlRanking::Binance, AdlRanking::Hyperliquid, AdlRanking::ProRata]
                [round % 4];
        let fund = rng.range(0, 200) * USD;
        let mut fwd = build(&specs, ranking, fund);
        let mut rev_specs = specs.clone();
        rev_specs.reverse();
        let mut rev = build(&rev_specs, ranking, fund);
        let path: Vec<i64> =
            (1..=8).map(|k| 200_300 - 4_001 * k.min(6) + 2_003 * (k - 6).max(0)).collect();
        for (step, &p) in path.iter().enumerate() {
            let oi = |b: &Book, m: u32| -> i64 {
                b.e.position_risks(None)
                    .unwrap()
                    .iter()
                    .filter(|r| r.market == m)
                    .map(|r| r.qty)
                    .sum::<i64>()
                    + b.e.liquidator_position(m).0
            };
            let before = [oi(&fwd, 0), oi(&fwd, 1)];
            for b in [&mut fwd, &mut rev] {
                b.mark(0, p);
                b.mark(1, p + 3_001);
            }
            let ev = fwd.run(FillModel::Impact { ppm_per_lot: 1, cap_ppm: 30_000 });
            rev.run(FillModel::Impact { ppm_per_lot: 1, cap_ppm: 30_000 });
            adl_events += ev.iter().filter(|x| x.kind == EventKind::AdlFill).count();
            for m in 0..2u32 {
                let to_book: i64 = ev
                    .iter()
                    .filter(|x| {
                        x.market == m
                            && matches!(x.kind, EventKind::LiquidationFill | EventKind::EngineFill)
                    })
                    .map(|x| x.qty)
                    .sum();
                assert_eq!(oi(&fwd, m), before[m as usize] - to_book, "round {round} step {step} market {m}: open interest moved beyond the book fills");
            }
            // Same outcome by account id, whatever the insertion order.
            let state = |b: &Book| {
                type AccountState = (String, i64, Vec<(u32, i64, i64)>);
                let mut v: Vec<AccountState> =
                    b.e.accounts()
                        .iter()
                        .enumerate()
                        .filter(|(_, a)| a.alive)
                        .map(|(i, a)| {
                            let pos =
                                b.e.position_risks(Some(&[i as u32]))
                                    .unwrap()
                                    .iter()
                                    .map(|r| (r.market, r.qty, r.cost))
                                    .collect();
                            (a.id.clone(), a.balance, pos)
                        })
                        .collect();
                v.sort();
                (v, b.e.insurance_fund(), b.e.liquidator_position(0), b.e.liquidator_position(1))
            };
            assert_eq!(
                state(&fwd),
                state(&rev),
                "round {round} step {step}: input order changed the outcome"
            );
        }
    }
    assert!(
        adl_events > 20,
        "the cascades must reach ADL to prove anything about it: {adl_events}"
    );
}

mod planner {
    use super::*;
    use deleverage_core::planner::DeleverageTarget;

    /// G7 through the manual planner: reaching margin ratio ≤ 100 % from a $10 shortage.
    #[test]
    fn g7_through_the_planner() {
        for (fee, lots) in
            [(0i64, 1_000_000_000i64), (1_000_000, 1_111_111_112), (2_000_000, 1_250_000_000)]
        {
            let mut spec = MarketSpec::one_tier("SOL", 10_000_000, 10_000);
            spec.qty_decimals = 9;
            let mut b = Book::new(vec![spec], cfg(0, 0), 0);
            let a = b.account("drift", 90 * USD, &[(0, 10_000_000_000, 10_000, None)]);
            let plan =
                b.e.plan_deleveraging(a, DeleverageTarget::MarginRatio(1_000_000), fee).unwrap();
            assert!(plan.reached);
            assert_eq!(plan.orders, vec![(0, lots)], "fee {fee}");
            assert!(plan.maintenance_margin <= plan.equity);
        }
    }

    #[test]
    fn each_target_is_reached_by_the_smallest_reduction() {
        let markets = vec![
            MarketSpec::one_tier("BTC", 500_000, 3_001_100),
            MarketSpec::one_tier("ETH", 1_000_000, 200_300),
        ];
        let mut b = Book::new(markets, cfg(0, 0), 0);
        let a = b.account(
            "t",
            20_000 * USD,
            &[(0, 5_000, 2_950_700, None), (1, -40_000, 210_100, None)],
        );
        let fee = 50_000; // 0.05 % taker fee
        for target in [
            DeleverageTarget::MarginRatio(40_000),
            DeleverageTarget::Leverage(3_000_000),
            DeleverageTarget::LiquidationDistance { market: 0, ppm: 400_000 },
        ] {
            let plan = b.e.plan_deleveraging(a, target, fee).unwrap();
            assert!(plan.reached, "{target:?}");
            assert!(!plan.orders.is_empty(), "{target:?}: the account starts above every target");
            // Execute the plan at mark on a copy and check the target there; then one lot less.
            let check = |orders: &[(u32, i64)]| -> bool {
                let mut e = b.e.clone();
                e.configure_waterfall(WaterfallConfig { fee_rate: fee, ..cfg(0, 0) }).unwrap();
                for &(m, d) in orders {
                    let mark = e.markets()[m as usize].mark;
                    e.settle_liquidation_fill(a, None, m, d, mark).unwrap();
                }
                let r = e.account_rows(Some(&[a])).unwrap()[0];
                match target {
                    DeleverageTarget::MarginRatio(p) => {
                        r.maintenance_margin as i128 * 1_000_000 <= p as i128 * r.equity as i128
                    }
                    DeleverageTarget::Leverage(l) => {
                        let n: i128 = e
                            .position_risks(Some(&[a]))
                            .unwrap()
                            .iter()
                            .map(|x| {
                                e.markets()[x.market as usize]
                                    .value_atoms(x.qty, e.markets()[x.market as usize].mark)
                                    .unwrap()
                            })
                            .sum();
                        n * 1_000_000 <= l as i128 * r.equity as i128
                    }
                    DeleverageTarget::LiquidationDistance { market, ppm } => {
                        let risks = e.position_risks(Some(&[a])).unwrap();
                        match risks.iter().find(|x| x.market == market).and_then(|x| x.liquidation)
                        {
                            None => true,
                            Some(lp) => {
                                let mark = e.markets()[market as usize].mark as i128;
                                (mark - lp.conservative as i128).abs() * 1_000_000
                                    >= ppm as i128 * mark
                            }
                        }
                    }
                }
            };
            assert!(
                check(&plan.orders),
                "{target:?}: executing the plan does not reach the target"
            );
            let mut less = plan.orders.clone();
            let last = less.last_mut().unwrap();
            last.1 -= last.1.signum();
            if last.1 == 0 {
                less.pop();
            }
            assert!(!check(&less), "{target:?}: one lot less also reaches the target");
        }
    }
}

/// Regressions found by the TypeScript port's random cascades.
mod regressions {
    use super::*;

    fn inverse_unit() -> MarketSpec {
        MarketSpec {
            kind: ContractKind::Inverse,
            price_decimals: 0,
            qty_decimals: 0,
            ..MarketSpec::one_tier("INV", 500_000, 1)
        }
    }

    #[test]
    fn a_liquidator_position_with_a_zero_cost_basis_deleverages_at_mark() {
        let mut e = Engine::new(0).unwrap();
        e.add_market(inverse_unit()).unwrap();
        e.add_accounts(&["x".into(), "y".into()], &[5, 5]).unwrap();
        e.set_positions(&PositionRows {
            account: &[0, 1],
            market: &[0, 0],
            qty: &[1, -1],
            price: &[1, 1],
            isolated_margin: &[0, 0],
            flags: &[0, 0],
        })
        .unwrap();
        e.set_marks(&[0], &[2]).unwrap();
        let cash = e.cash_total();
        e.take_over(0, None).unwrap();
        assert_eq!(
            e.liquidator_position(0),
            (1, 0),
            "a takeover at 2 of a 1-unit inverse long has cost floor(1/2) = 0"
        );
        e.auto_deleverage(0).unwrap();
        let adl = e.events().iter().find(|x| x.kind == EventKind::AdlFill).unwrap();
        assert_eq!(adl.price, 2);
        assert_eq!(e.cash_total(), cash);
    }

    #[test]
    fn a_zero_fill_price_on_an_inverse_market_is_an_error_not_a_panic() {
        let mut e = Engine::new(0).unwrap();
        e.add_market(inverse_unit()).unwrap();
        e.add_accounts(&["x".into()], &[5]).unwrap();
        e.set_positions(&PositionRows {
            account: &[0],
            market: &[0],
            qty: &[3],
            price: &[1],
            isolated_margin: &[0],
            flags: &[0],
        })
        .unwrap();
        assert_eq!(
            e.settle_liquidation_fill(0, None, 0, 1, 0).unwrap_err().code,
            ErrorCode::InvalidPrice
        );
    }

    #[test]
    fn a_short_liquidator_position_deleverages_at_its_entry_rounded_up() {
        let mut b = Book::new(vec![MarketSpec::one_tier("ETH", 1_000_000, 1_000)], cfg(0, 0), 0);
        // Two shorts taken over at different bankruptcy prices (40.01 and 35.01) leave the engine
        // short 3 lots at a fractional average entry: ADL must buy at its ceiling.
        let a1 = b.account("short1", 3_001_000, &[(0, -1, 1_000, None)]);
        let a2 = b.account("short2", 5_002_000, &[(0, -2, 1_000, None)]);
        let long = b.account("long", 100 * USD, &[(0, 3, 1_000, None)]);
        b.mark(0, 5_000);
        b.e.take_over(a1, None).unwrap();
        b.e.take_over(a2, None).unwrap();
        let (q, cost) = b.e.liquidator_position(0);
        assert_eq!(q, -3);
        assert_ne!(cost % 3, 0, "the test needs a fractional entry to tell floor from ceil");
        b.e.auto_deleverage(0).unwrap();
        b.check();
        let adl = b.e.events().iter().find(|x| x.kind == EventKind::AdlFill).unwrap();
        let expected = (-cost as i128 + 2) / 3; // ceil(cost/q) with both negative
        assert_eq!(adl.price as i128, expected, "cost {cost}");
        assert_eq!(adl.account, long);
    }

    #[test]
    fn an_isolated_scope_must_name_an_isolated_position() {
        let mut b =
            Book::new(vec![MarketSpec::one_tier("ETH", 1_000_000, 200_300)], cfg(500_000, 0), 0);
        let a = b.account("a", 1_000 * USD, &[(0, 1_000, 200_300, None)]);
        let err = b.e.settle_liquidation_fill(a, Some(0), 0, 500, 200_300).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidArgument);
        assert!(err.message.contains("no isolated position"), "{err}");
        assert_eq!(b.e.plan_liquidation(a, Some(7)).unwrap_err().code, ErrorCode::UnknownMarket);
        assert_eq!(b.e.take_over(a, Some(0)).unwrap_err().code, ErrorCode::InvalidArgument);
        b.check();
        let i = b.account("i", 0, &[(0, 1_000, 200_300, Some(100 * USD))]);
        assert_eq!(
            b.e.settle_liquidation_fill(i, None, 0, 500, 200_300).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        b.e.settle_liquidation_fill(i, Some(0), 0, 500, 200_300).unwrap();
        b.check();
    }

    #[test]
    fn a_window_of_u64_max_keeps_every_peak() {
        let policy =
            FundPolicy::Drawdown { trigger_ppm: 300_000, stop_ppm: 100_000, window: u64::MAX };
        let mut b = Book::new(
            vec![MarketSpec::one_tier("ETH", 1_000_000, 200_300)],
            WaterfallConfig { policy, ..cfg(0, 0) },
            0,
        );
        b.e.deposit_fund(1_000 * USD, 5).unwrap();
        b.account("s", 50_000 * USD, &[(0, -500_000, 200_300, None)]);
        b.mark(0, 199_000);
        b.account("b1", 900 * USD, &[(0, 100_000, 200_300, None)]);
        b.e.run_waterfall(FillModel::AtMark, 7).unwrap();
        b.account("b2", 900 * USD, &[(0, 100_000, 200_300, None)]);
        b.e.run_waterfall(FillModel::AtMark, 9).unwrap();
        assert!(
            b.e.events().iter().any(|x| x.kind == EventKind::AdlModeOn),
            "the peak of t = 5 must still count"
        );
    }
}
