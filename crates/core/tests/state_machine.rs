//! State-machine tests (proptest): random sequences of every mutating operation, valid and not,
//! on a small book of a linear and an inverse market. After every step:
//! - a rejected operation leaves the state byte for byte unchanged (the canonical state bytes);
//! - cash (balances + isolated margins + fund + residue + settlement) moves only by what the
//!   host's own writes add or remove (accounts, balances, isolated margins), never by the waterfall;
//! - the insurance fund stays ≥ 0 under the exhausted policy while only the engine decides
//!   (less the netting losses no decision can avoid, SPEC §8.4) with no host-reported engine
//!   fills and ADL at the bankruptcy price;
//!
//! and over the whole sequence:
//! - snapshot → restore gives the same state hash, and the restored engine given the rest of the
//!   operations ends in the same state as the original (the snapshot holds everything that
//!   decides future outputs);
//! - replaying the operation journal from the starting snapshot reproduces every outcome and the
//!   final state hash.

use deleverage_core::adl::AdlRanking;
use deleverage_core::waterfall::{EventKind, FillModel, FundPolicy, WaterfallConfig};
use deleverage_core::*;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const USD: i64 = 100_000_000;

fn linear() -> MarketSpec {
    MarketSpec {
        symbol: "BTC-PERP".into(),
        kind: ContractKind::Linear,
        price_decimals: 1,
        qty_decimals: 3,
        contract_size: 1,
        basis: MarginBasis::Mark,
        form: TierForm::Deduction,
        floors: vec![0, 50_000_000],
        mmr: vec![500_000, 1_000_000],
        imr: vec![1_000_000, 2_000_000],
        maint_amount: None,
        mark: 300_000, // 30000.0
    }
}

fn inverse() -> MarketSpec {
    MarketSpec {
        symbol: "XBTUSD".into(),
        kind: ContractKind::Inverse,
        price_decimals: 1,
        qty_decimals: 0,
        contract_size: 1,
        basis: MarginBasis::Entry,
        form: TierForm::Step,
        floors: vec![0, 20 * USD],
        mmr: vec![350_000, 850_000],
        imr: vec![1_000_000, 1_500_000],
        maint_amount: None,
        mark: 300_000,
    }
}

#[derive(Clone, Debug)]
enum Op {
    AddAccount {
        id: u8,
        balance: i64,
    },
    RemoveAccount {
        a: u32,
    },
    SetBalance {
        a: u32,
        balance: i64,
    },
    /// entry_pct: entry as a percentage of mark; iso: isolated margin in 1/100 USD.
    SetPosition {
        a: u32,
        m: u32,
        qty: i64,
        entry_pct: i64,
        iso: Option<i64>,
        cost_basis: bool,
    },
    /// New mark as a percentage of the current one (0 or huge: rejected).
    Mark {
        m: u32,
        pct: i64,
    },
    Deposit {
        amount: i64,
        now: u64,
    },
    Run {
        impact: bool,
        now: u64,
    },
    /// Close `frac`/4 of the position at price_pct of mark.
    Fill {
        a: u32,
        iso: bool,
        m: u32,
        frac: i64,
        price_pct: i64,
    },
    TakeOver {
        a: u32,
        iso: Option<u32>,
    },
    EngineFill {
        m: u32,
        frac: i64,
        price_pct: i64,
    },
    Adl {
        m: u32,
    },
    Socialise {
        m: u32,
        amount: i64,
        a: u32,
    },
    Funding {
        m: u32,
        rate: i64,
    },
    Configure {
        fee: i64,
        buffer: i64,
        ranking: u32,
        at_mark: bool,
        drawdown: Option<(i64, i64, u64)>,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let a = 0u32..7; // some indices beyond the accounts that exist: rejected
    let m = 0u32..3; // market 2 does not exist
    prop_oneof![
        3 => (0u8..8, prop_oneof![-10 * USD..1_000 * USD, 1_000 * USD..100_000 * USD]).prop_map(|(id, balance)| Op::AddAccount { id, balance }),
        1 => a.clone().prop_map(|a| Op::RemoveAccount { a }),
        2 => (a.clone(), -1_000 * USD..50_000 * USD).prop_map(|(a, balance)| Op::SetBalance { a, balance }),
        6 => (a.clone(), m.clone(), -20_000i64..20_000, prop_oneof![Just(100i64), 50i64..150, Just(0)], prop::option::of(0i64..2_000_000), any::<bool>())
            .prop_map(|(a, m, qty, entry_pct, iso, cost_basis)| Op::SetPosition { a, m, qty, entry_pct, iso, cost_basis }),
        6 => (m.clone(), prop_oneof![4 => 96i64..104, 2 => 80i64..120, 1 => 40i64..160, 1 => Just(0)]).prop_map(|(m, pct)| Op::Mark { m, pct }),
        2 => (-USD..1_000 * USD, 0u64..50).prop_map(|(amount, now)| Op::Deposit { amount, now }),
        4 => (any::<bool>(), 0u64..50).prop_map(|(impact, now)| Op::Run { impact, now }),
        2 => (a.clone(), any::<bool>(), m.clone(), 0i64..6, 50i64..150).prop_map(|(a, iso, m, frac, price_pct)| Op::Fill { a, iso, m, frac, price_pct }),
        2 => (a.clone(), prop::option::of(0u32..3)).prop_map(|(a, iso)| Op::TakeOver { a, iso }),
        1 => (m.clone(), 0i64..6, 50i64..150).prop_map(|(m, frac, price_pct)| Op::EngineFill { m, frac, price_pct }),
        1 => m.clone().prop_map(|m| Op::Adl { m }),
        1 => (m.clone(), -USD..100 * USD, a.clone()).prop_map(|(m, amount, a)| Op::Socialise { m, amount, a }),
        2 => (m.clone(), -2_000_000i64..2_000_000).prop_map(|(m, rate)| Op::Funding { m, rate }),
        1 => (0i64..3_000_000, 0i64..5_000_000, 0u32..5, any::<bool>(), prop::option::of((0i64..1_000_001, 0i64..1_000_000, 0u64..20)))
            .prop_map(|(fee, buffer, ranking, at_mark, drawdown)| Op::Configure { fee, buffer, ranking, at_mark, drawdown }),
    ]
}

fn pct(x: i64, p: i64) -> i64 {
    (x as i128 * p as i128 / 100) as i64
}

/// Cash the host's own write adds (+) or removes (−); None for operations that must conserve it.
fn host_cash_delta(e: &Engine, op: &Op) -> Option<i128> {
    let im_of = |a: u32, m: u32| -> i128 {
        e.position_risks(Some(&[a]))
            .ok()
            .and_then(|r| {
                r.iter().find(|p| p.market == m && p.isolated).map(|p| p.isolated_margin as i128)
            })
            .unwrap_or(0)
    };
    match *op {
        Op::AddAccount { balance, .. } => Some(balance as i128),
        Op::SetBalance { a, balance } => {
            Some(balance as i128 - e.balances(&[a]).map_or(0, |b| b[0] as i128))
        }
        Op::RemoveAccount { a } => {
            let b = e.balances(&[a]).map_or(0, |b| b[0] as i128);
            let ims: i128 = e.position_risks(Some(&[a])).map_or(0, |r| {
                r.iter().filter(|p| p.isolated).map(|p| p.isolated_margin as i128).sum()
            });
            Some(-(b + ims))
        }
        Op::SetPosition { a, m, qty, iso, .. } => {
            Some(if qty != 0 { iso.unwrap_or(0) as i128 * 1_000_000 } else { 0 } - im_of(a, m))
        }
        _ => None,
    }
}

/// Apply one operation; Err carries the error code.
fn apply(e: &mut Engine, op: &Op) -> std::result::Result<(), ErrorCode> {
    let mark = |e: &Engine, m: u32| e.market(m).map(|mk| mk.mark).unwrap_or(1);
    let qty_of = |e: &Engine, a: u32, m: u32| -> i64 {
        e.position_risks(Some(&[a]))
            .ok()
            .and_then(|r| r.iter().find(|p| p.market == m).map(|p| p.qty))
            .unwrap_or(1)
    };
    let r = match *op {
        Op::AddAccount { id, balance } => {
            e.add_accounts(&[format!("acct-{id}")], &[balance]).map(|_| ())
        }
        Op::RemoveAccount { a } => e.remove_accounts(&[a]),
        Op::SetBalance { a, balance } => e.set_balances(&[a], &[balance]),
        Op::SetPosition { a, m, qty, entry_pct, iso, cost_basis } => {
            let entry = pct(mark(e, m), entry_pct);
            // A cost basis at entry_pct of the linear value (lots·ticks); garbage for inverse, rejected or not.
            let price = if cost_basis { qty.saturating_mul(entry.max(1)) } else { entry };
            let flags = if iso.is_some() { FLAG_ISOLATED } else { 0 }
                | if cost_basis { FLAG_COST_BASIS } else { 0 };
            let im = iso.map_or(0, |x| x * 1_000_000);
            e.set_positions(&PositionRows {
                account: &[a],
                market: &[m],
                qty: &[qty],
                price: &[price],
                isolated_margin: &[im],
                flags: &[flags],
            })
        }
        Op::Mark { m, pct: p } => e.set_marks(&[m], &[pct(mark(e, m), p)]),
        Op::Deposit { amount, now } => e.deposit_fund(amount, now),
        Op::Run { impact, now } => {
            let model = if impact {
                FillModel::Impact { ppm_per_lot: 3, cap_ppm: 50_000 }
            } else {
                FillModel::AtMark
            };
            e.run_waterfall(model, now).map(|_| ())
        }
        Op::Fill { a, iso, m, frac, price_pct } => {
            let q = qty_of(e, a, m);
            let d = q / 4 * frac + if frac == 4 { q % 4 } else { 0 };
            e.settle_liquidation_fill(a, iso.then_some(m), m, d, pct(mark(e, m), price_pct))
        }
        Op::TakeOver { a, iso } => e.take_over(a, iso),
        Op::EngineFill { m, frac, price_pct } => {
            let q = if m < 2 { e.liquidator_position(m).0 } else { 1 };
            e.settle_liquidator_fill(
                m,
                q / 4 * frac + if frac == 4 { q % 4 } else { 0 },
                pct(mark(e, m), price_pct),
            )
        }
        Op::Adl { m } => e.auto_deleverage(m),
        Op::Socialise { m, amount, a } => e.socialise_loss(m, amount, a),
        Op::Funding { m, rate } => e.settle_funding(m, rate),
        Op::Configure { fee, buffer, ranking, at_mark, drawdown } => {
            match AdlRanking::from_code(ranking) {
                Err(x) => Err(x),
                Ok(ranking) => {
                    let policy = drawdown.map_or(
                        FundPolicy::Exhausted,
                        |(trigger_ppm, stop_ppm, window)| FundPolicy::Drawdown {
                            trigger_ppm,
                            stop_ppm,
                            window,
                        },
                    );
                    e.configure_waterfall(WaterfallConfig {
                        fee_rate: fee,
                        buffer_rate: buffer,
                        ranking,
                        adl_at_mark: at_mark,
                        policy,
                    })
                }
            }
        }
    };
    r.map_err(|x| x.code)
}

/// The running open interest per market side (kept by every position write, read by the
/// pre-trade cap) equals a count of the rows: after liquidations, roll-backs, removals, restores.
fn open_interest_in_step(e: &Engine) -> bool {
    (0..e.markets().len() as u32).all(|m| {
        let col = e.positions(m);
        [true, false].iter().all(|&buy| {
            let rows: i128 = col
                .qty
                .iter()
                .filter(|&&q| q != 0 && (q > 0) == buy)
                .map(|&q| i128::from(q.unsigned_abs()))
                .sum();
            col.open_interest(buy) == rows
        })
    })
}

fn start() -> Engine {
    let mut e = Engine::new(8).unwrap();
    e.add_market(linear()).unwrap();
    // Both markets declared in one settlement asset (SPEC §5.4), so the book is the one this
    // test always ran: each account holds both. (Splitting the inverse market into accounts of
    // its own exposes a one-atom fund loss of the waterfall's inverse round trip, reported
    // with issue 12, which is not this test's subject.)
    e.add_market_with(inverse(), MarketTerms { tick_size: 1, settle_asset: Some("quote".into()) })
        .unwrap();
    e.add_accounts(&["whale".into(), "minnow".into()], &[1_000_000 * USD, 50 * USD]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0, 1, 0, 1],
        market: &[0, 0, 1, 1],
        qty: &[-5_000, 5_000, 200_000, -200_000],
        price: &[300_000; 4],
        isolated_margin: &[0; 4],
        flags: &[0; 4],
    })
    .unwrap();
    e.deposit_fund(10 * USD, 0).unwrap();
    e
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96), failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))), ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(ops in prop::collection::vec(op(), 1..48), cut in 0usize..48) {
        let mut e = start();
        let initial = e.snapshot();
        let mut outcomes = Vec::with_capacity(ops.len());
        let mut engine_decides = true; // exhausted policy, ADL at the bankruptcy price, no host engine fills
        // Always inside the sequence, so the restored engine has at least one op left to replay.
        let cut = cut % ops.len();
        let mut at_cut = None;
        for (i, op) in ops.iter().enumerate() {
            if i == cut {
                at_cut = Some(e.snapshot());
            }
            let before = e.state_bytes();
            let cash = e.cash_total();
            let fund_before = e.insurance_fund();
            let first_event = e.events().len();
            let delta = host_cash_delta(&e, op);
            let r = apply(&mut e, op);
            match &r {
                Err(code) => {
                    prop_assert!(e.state_bytes() == before, "step {i} {op:?} was rejected ({code:?}) but changed the state");
                    prop_assert_eq!(e.cash_total(), cash);
                }
                Ok(()) => {
                    prop_assert_eq!(e.cash_total(), cash + delta.unwrap_or(0), "step {} {:?} moved cash", i, op);
                    if let Op::EngineFill { .. } = op { engine_decides = false; }
                    let c = e.waterfall_config();
                    if c.adl_at_mark || c.policy != FundPolicy::Exhausted { engine_decides = false; }
                }
            }
            if engine_decides {
                // Netting two bankrupt positions inside the engine is a loss no decision can
                // avoid (SPEC §8.4); a payment the engine decides never takes the fund below 0,
                // and none is made from a negative fund. So, per step: fund ≥ min(fund before, 0)
                // + this step's netting losses.
                let forced: i64 = e.events()[first_event..].iter().filter(|x| x.kind == EventKind::EngineNetting && x.amount < 0).map(|x| x.amount).sum();
                let floor = fund_before.min(0) + forced;
                prop_assert!(e.insurance_fund() >= floor, "step {i} {op:?}: fund {} below {floor} (before {fund_before}, netting losses {forced}) under the exhausted policy", e.insurance_fund());
            }
            prop_assert!(open_interest_in_step(&e), "step {i} {op:?}: open interest out of step");
            outcomes.push(r);
        }
        let hash = e.state_hash();

        // Snapshot round trip.
        let back = decode_snapshot(&e.snapshot()).unwrap();
        prop_assert!(back.state_bytes() == e.state_bytes());
        prop_assert!(open_interest_in_step(&back), "open interest after restore");

        // Restore at the cut and continue with the rest: the same end state.
        let mut resumed = decode_snapshot(&at_cut.expect("the cut is inside the sequence")).unwrap();
        for (op, want) in ops[cut..].iter().zip(&outcomes[cut..]) {
            prop_assert_eq!(&apply(&mut resumed, op), want);
        }
        prop_assert_eq!(resumed.state_hash(), hash);

        // Journal replay from the start: every outcome, and the final hash.
        let mut replay = decode_snapshot(&initial).unwrap();
        for (op, want) in ops.iter().zip(&outcomes) {
            prop_assert_eq!(&apply(&mut replay, op), want);
        }
        prop_assert_eq!(replay.state_hash(), hash);
    }
}

/// The flake seen once in CI ("fund below floor" at ADL), found again with 20,000 cases (SM_CASES):
/// an inverse position taken over, then deleveraged, left the fund 1 atom below zero. The minimal
/// sequence proptest shrank it to, kept here so it runs on every `cargo test`.
#[test]
fn inverse_takeover_then_adl_leaves_the_fund_at_or_above_zero() {
    let set = |a, m, qty, entry_pct, cost_basis| Op::SetPosition {
        a,
        m,
        qty,
        entry_pct,
        iso: None,
        cost_basis,
    };
    let run = Op::Run { impact: false, now: 0 };
    let ops = [
        set(0, 0, 10_966, 50, false),
        Op::AddAccount { id: 0, balance: 0 },
        run.clone(),
        set(1, 0, -12_894, 0, true),
        Op::AddAccount { id: 1, balance: 0 },
        set(3, 0, 5_759, 100, false),
        Op::Mark { m: 0, pct: 101 },
        run.clone(),
        Op::AddAccount { id: 0, balance: 0 },
        set(3, 1, -1_096, 100, false),
        run,
    ];
    let mut e = start();
    for (i, op) in ops.iter().enumerate() {
        let fund_before = e.insurance_fund();
        let _ = apply(&mut e, op);
        assert!(
            e.insurance_fund() >= fund_before.min(0),
            "step {i} {op:?}: fund {} (before {fund_before})",
            e.insurance_fund()
        );
    }
    // The rounding went to the residue sink, as an event.
    assert!(e.events().iter().any(|x| x.kind == EventKind::Residue && x.amount < 0));
}
