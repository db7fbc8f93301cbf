//! `batch_ops`: the input is a program of engine calls with arbitrary, mostly invalid, columns —
//! the calls the napi binding makes from typed arrays (crates/node/src/lib.rs) — run on a small
//! seeded engine. Invariants checked after every call:
//!
//! 1. nothing panics (libFuzzer reports a panic as a crash);
//! 2. a rejected call leaves the engine exactly as it was (canonical dump before == after);
//! 3. a waterfall call that succeeds keeps the ledger's cash total (SPEC §8.5);
//! 4. the position store stays consistent: every account's (market, slot) references point at
//!    its own row, every row is referenced once by a live account, ids resolve to their index;
//! 5. an accepted `set_positions` reads back as written; an accepted `set_marks` sets the marks;
//! 6. the event log is numbered 0, 1, 2, … with `next_seq` one past the last;
//! 7. no call reports INTERNAL, and the threaded sweep equals the plain one.
//!
//! The canonical dump is built from public accessors. It cannot see the waterfall's clock and
//! fund history (crate-private); once the core has a state hash the dump should be replaced by it.

use deleverage_core::adl::AdlRanking;
use deleverage_core::planner::DeleverageTarget;
use deleverage_core::waterfall::{FillModel, FundPolicy, WaterfallConfig};
use deleverage_core::*;

use super::input::Input;

/// The seed book: three markets (linear deduction tiers at mark, inverse step tiers at entry,
/// linear with given maintenance amounts), six accounts with long and short, cross and isolated
/// positions so that liquidation, takeover and ADL all have counterparties.
pub fn seed_engine(quote_decimals: u32) -> Engine {
    let mut e = Engine::new(quote_decimals).expect("seed: quote decimals");
    e.add_market(MarketSpec {
        floors: vec![0, 5_000_000_000, 25_000_000_000],
        mmr: vec![400_000, 500_000, 1_000_000],
        imr: vec![800_000, 1_000_000, 2_000_000],
        ..MarketSpec::one_tier("BTC-PERP", 500_000, 3_000_000)
    })
    .expect("seed: BTC-PERP");
    e.add_market(MarketSpec {
        symbol: "XBTUSD".into(),
        kind: ContractKind::Inverse,
        price_decimals: 1,
        qty_decimals: 0,
        contract_size: 1,
        basis: MarginBasis::Entry,
        form: TierForm::Step,
        floors: vec![0, 20_000_000_000],
        mmr: vec![350_000, 850_000],
        imr: vec![1_000_000, 2_000_000],
        maint_amount: None,
        mark: 300_000,
    })
    .expect("seed: XBTUSD");
    e.add_market(MarketSpec {
        qty_decimals: 2,
        floors: vec![0, 1_000_000_000],
        mmr: vec![500_000, 1_000_000],
        imr: vec![1_000_000, 2_000_000],
        maint_amount: Some(vec![0, 100]),
        ..MarketSpec::one_tier("ETH-PERP", 500_000, 200_000)
    })
    .expect("seed: ETH-PERP");
    let ids: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
    let unit = 10i64.pow(quote_decimals.min(8));
    e.add_accounts(
        &ids,
        &[5_000 * unit, 6_000 * unit, 1_000 * unit, 2_000 * unit, 400 * unit, 300 * unit],
    )
    .expect("seed: accounts");
    e.set_positions(&PositionRows {
        account: &[0, 1, 2, 3, 4, 5, 0, 1],
        // a1's second position is linear like its first: one settlement asset per account
        // (SPEC §5.4); the inverse XBTUSD is held by a2 and a3 only.
        market: &[0, 0, 1, 1, 2, 2, 2, 2],
        qty: &[2_000, -2_000, 10_000, -5_000, 300, -300, -100, 400],
        price: &[2_900_000, 3_100_000, 290_000, 310_000, 190_000, 210_000, 205_000, 195_000],
        isolated_margin: &[0, 0, 1_000, 0, 0, 0, 50 * unit, 0],
        flags: &[0, 0, FLAG_ISOLATED, 0, 0, 0, FLAG_ISOLATED, 0],
    })
    .expect("seed: positions");
    e.deposit_fund(100 * unit, 0).expect("seed: fund");
    e
}

/// Everything a rejected call must not change, read through public accessors.
pub fn dump(e: &Engine) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "q={} markets={:?}", e.quote_decimals(), e.markets());
    for (m, mk) in e.markets().iter().enumerate() {
        let _ = writeln!(
            s,
            "m{m} idx={:?} cols={:?} engine={:?}",
            e.market_index(&mk.symbol),
            e.positions(m as u32),
            e.liquidator_position(m as u32)
        );
    }
    for (a, acc) in e.accounts().iter().enumerate() {
        let _ = writeln!(s, "a{a} {:?} idx={:?}", acc, e.account_index(&acc.id));
    }
    let _ = write!(
        s,
        "live={} cfg={:?} fund={} settlement={} residue={} adl={} next={} events={:?}",
        e.live_account_count(),
        e.waterfall_config(),
        e.insurance_fund(),
        e.settlement(),
        e.residue(),
        e.adl_mode(),
        e.next_seq(),
        e.events()
    );
    s
}

/// Invariants 4 and 6: the store's cross references and the event numbering.
pub fn check_consistency(e: &Engine) {
    let accounts = e.accounts();
    let mut live = 0;
    for (a, acc) in accounts.iter().enumerate() {
        if !acc.alive {
            assert!(
                acc.positions.is_empty(),
                "removed account {a} still has positions {:?}",
                acc.positions
            );
            continue;
        }
        live += 1;
        assert_eq!(
            e.account_index(&acc.id),
            Some(a as u32),
            "id {} does not resolve to its index",
            acc.id
        );
        for w in acc.positions.windows(2) {
            assert!(
                w[0].0 < w[1].0,
                "account {a}: position refs not sorted by market: {:?}",
                acc.positions
            );
        }
        for &(m, s) in &acc.positions {
            let col = e.positions(m);
            assert_eq!(
                col.account.get(s as usize),
                Some(&(a as u32)),
                "account {a}: ref ({m}, {s}) points at another row"
            );
            assert_ne!(
                col.qty[s as usize], 0,
                "account {a}: zero-quantity position kept in market {m}"
            );
        }
    }
    assert_eq!(live, e.live_account_count(), "live account count");
    let mut rows = 0;
    for (m, mk) in e.markets().iter().enumerate() {
        assert_eq!(
            e.market_index(&mk.symbol),
            Some(m as u32),
            "market {} does not resolve to its index",
            mk.symbol
        );
        let col = e.positions(m as u32);
        let n = col.qty.len();
        assert!(
            col.account.len() == n
                && col.cost.len() == n
                && col.isolated.len() == n
                && col.isolated_margin.len() == n,
            "market {m}: columns differ in length"
        );
        for s in 0..n {
            let acc = &accounts[col.account[s] as usize];
            assert!(acc.alive, "market {m} slot {s}: row of a removed account");
            assert!(
                acc.positions.contains(&(m as u32, s as u32)),
                "market {m} slot {s}: row not referenced by its account"
            );
        }
        rows += n;
    }
    assert_eq!(rows, e.position_count());
    // Events are numbered on from the first kept one (trimEvents, SPEC §8.6).
    let first = e.first_seq();
    for (i, ev) in e.events().iter().enumerate() {
        assert_eq!(ev.seq, first + i as u64, "event {i} numbered {}", ev.seq);
    }
    assert_eq!(e.next_seq(), first + e.events().len() as u64, "next_seq");
}

fn no_internal<T>(r: &Result<T>, what: &str) {
    if let Err(err) = r {
        assert_ne!(err.code, ErrorCode::Internal, "{what}: {err}");
    }
}

fn fill_model(inp: &mut Input) -> FillModel {
    if inp.bool() {
        FillModel::AtMark
    } else {
        // The binding's domain (crates/node fill_model): ppmPerLot ≥ 0, 0 ≤ cap < 10^6.
        let k = inp.i64_near(100).max(0);
        let cap = inp.i64_near(50_000).clamp(0, 999_999);
        FillModel::Impact { ppm_per_lot: k, cap_ppm: cap }
    }
}

fn market_spec(inp: &mut Input, n: usize) -> MarketSpec {
    let base = 1 + inp.byte() as usize % 4;
    let tiers = inp.len_like(base);
    let col = |inp: &mut Input, base: i64, step: i64| -> Vec<i64> {
        let len = inp.len_like(tiers);
        (0..len as i64)
            .map(|t| if inp.byte() < 200 { base + t * step } else { inp.i64_near(base) })
            .collect()
    };
    let floors = col(inp, 0, 1_000_000_000);
    let mmr = col(inp, 500_000, 500_000);
    let imr = col(inp, 1_000_000, 1_000_000);
    let maint_amount = match inp.byte() % 4 {
        0 => {
            let len = inp.len_like(tiers);
            Some(
                (0..len)
                    .map(|_| inp.i64_near(0) as i128 * if inp.bool() { 1 } else { 1 << 64 })
                    .collect(),
            )
        }
        _ => None,
    };
    let kind = if inp.bool() { ContractKind::Inverse } else { ContractKind::Linear };
    MarketSpec {
        symbol: match inp.byte() % 8 {
            0 => "BTC-PERP".into(), // duplicate
            1 => String::new(),
            2 => "bad symbol".into(),
            _ => format!("M{}", n + inp.byte() as usize % 3),
        },
        kind,
        price_decimals: inp.byte() as u32 % 15,
        qty_decimals: inp.byte() as u32 % 15,
        contract_size: if inp.bool() {
            (kind == ContractKind::Inverse) as i64 * 99 + 1
        } else {
            inp.i64_near(100)
        },
        basis: if inp.bool() { MarginBasis::Entry } else { MarginBasis::Mark },
        form: if inp.bool() { TierForm::Step } else { TierForm::Deduction },
        floors,
        mmr,
        imr,
        maint_amount,
        mark: inp.i64_near(100_000),
    }
}

/// Calls that move money only between the ledger's accounts: the cash total must not change.
const CONSERVING: &[u8] = &[7, 8, 9, 10, 11, 12, 13, 14];

/// Run one program. Panics (a finding) on any broken invariant.
pub fn run(data: &[u8]) {
    let mut inp = Input::new(data);
    let quote = [8u32, 6, 4, 10][inp.byte() as usize % 4];
    let mut e = seed_engine(quote);
    check_consistency(&e);
    let mut steps = 0;
    while !inp.is_empty() && steps < 64 {
        steps += 1;
        // A copy, dumped only if the call is rejected (formatting every step would halve the speed).
        let before = e.clone();
        let cash = e.cash_total();
        let op = inp.byte() % 16;
        let na = e.accounts().len();
        let nm = e.markets().len();
        let r: Result<()> = match op {
            0 => {
                let n = inp.byte() as usize % 5;
                let markets: Vec<u32> = (0..n).map(|_| inp.index(nm)).collect();
                let marks: Vec<i64> = (0..inp.len_like(n)).map(|_| inp.i64_near(250_000)).collect();
                let r = e.set_marks(&markets, &marks);
                if r.is_ok() {
                    for &m in &markets {
                        // Rows apply in order: the last row for a market wins.
                        let last = markets.iter().rposition(|&x| x == m).unwrap();
                        assert_eq!(
                            e.markets()[m as usize].mark,
                            marks[last],
                            "set_marks: mark of market {m} not written"
                        );
                    }
                }
                r
            }
            1 => {
                let n = inp.byte() as usize % 4;
                let ids: Vec<String> = (0..n).map(|_| inp.id()).collect();
                let balances: Vec<i64> =
                    (0..inp.len_like(n)).map(|_| inp.i64_near(1_000_000)).collect();
                e.add_accounts(&ids, &balances).map(|first| {
                    assert_eq!(first as usize, na, "add_accounts: first index");
                    for (i, id) in ids.iter().enumerate() {
                        assert_eq!(e.account_index(id), Some(first + i as u32));
                        assert_eq!(e.balances(&[first + i as u32]).unwrap()[0], balances[i]);
                    }
                })
            }
            2 => {
                let n = inp.byte() as usize % 4;
                let accounts: Vec<u32> = (0..n).map(|_| inp.index(na)).collect();
                let balances: Vec<i64> =
                    (0..inp.len_like(n)).map(|_| inp.i64_near(1_000_000)).collect();
                e.set_balances(&accounts, &balances)
            }
            3 => {
                let n = inp.byte() as usize % 3;
                let accounts: Vec<u32> = (0..n).map(|_| inp.index(na)).collect();
                e.remove_accounts(&accounts).map(|()| {
                    for &a in &accounts {
                        assert!(e.account(a).is_err(), "remove_accounts: account {a} still live");
                    }
                })
            }
            4 => {
                let n = inp.byte() as usize % 5;
                let account: Vec<u32> = (0..n).map(|_| inp.index(na)).collect();
                let market: Vec<u32> = (0..inp.len_like(n)).map(|_| inp.index(nm)).collect();
                let qty: Vec<i64> = (0..inp.len_like(n)).map(|_| inp.i64_near(1_000)).collect();
                let price: Vec<i64> = (0..inp.len_like(n)).map(|_| inp.i64_near(250_000)).collect();
                let isolated_margin: Vec<i64> = (0..inp.len_like(n))
                    .map(|_| if inp.byte() < 128 { 0 } else { inp.i64_near(10_000) })
                    .collect();
                let flags: Vec<u8> = (0..inp.len_like(n))
                    .map(|_| if inp.byte() < 240 { inp.byte() % 4 } else { inp.byte() })
                    .collect();
                let rows = PositionRows {
                    account: &account,
                    market: &market,
                    qty: &qty,
                    price: &price,
                    isolated_margin: &isolated_margin,
                    flags: &flags,
                };
                let r = e.set_positions(&rows);
                if r.is_ok() {
                    for i in 0..n {
                        let (a, m) = (account[i], market[i]);
                        let slot = e.accounts()[a as usize]
                            .positions
                            .iter()
                            .find(|p| p.0 == m)
                            .map(|p| p.1 as usize);
                        match slot {
                            None => {
                                assert_eq!(qty[i], 0, "set_positions row {i}: position missing")
                            }
                            Some(s) => {
                                let col = e.positions(m);
                                assert_eq!(col.qty[s], qty[i], "set_positions row {i}: qty");
                                assert_eq!(
                                    col.isolated[s],
                                    flags[i] & FLAG_ISOLATED != 0,
                                    "set_positions row {i}: isolated flag"
                                );
                                assert_eq!(
                                    col.isolated_margin[s], isolated_margin[i],
                                    "set_positions row {i}: isolated margin"
                                );
                                if flags[i] & FLAG_COST_BASIS != 0 {
                                    assert_eq!(
                                        col.cost[s], price[i],
                                        "set_positions row {i}: cost basis"
                                    );
                                } else {
                                    assert_eq!(
                                        Ok(col.cost[s]),
                                        e.markets()[m as usize].cost_basis(qty[i], price[i]),
                                        "set_positions row {i}: cost from entry"
                                    );
                                }
                            }
                        }
                    }
                }
                r
            }
            5 => {
                let spec = market_spec(&mut inp, nm);
                e.add_market(spec).map(|m| assert_eq!(m as usize, nm))
            }
            6 => {
                let policy = if inp.bool() {
                    FundPolicy::Exhausted
                } else {
                    FundPolicy::Drawdown {
                        trigger_ppm: inp.i64_near(300_000),
                        stop_ppm: inp.i64_near(100_000),
                        window: inp.u64_near(3_600),
                    }
                };
                let ranking = AdlRanking::from_code(inp.byte() as u32 % 5);
                match ranking {
                    Err(err) => Err(err),
                    Ok(ranking) => e.configure_waterfall(WaterfallConfig {
                        fee_rate: inp.i64_near(500_000),
                        buffer_rate: inp.i64_near(2_000_000),
                        ranking,
                        adl_at_mark: inp.bool(),
                        policy,
                    }),
                }
            }
            7 => {
                let amount = inp.i64_near(1_000_000);
                let now = inp.u64_near(0);
                e.deposit_fund(amount, now)
            }
            8 => {
                let model = fill_model(&mut inp);
                let now = inp.u64_near(10);
                e.run_waterfall(model, now).map(|_| ())
            }
            9 => {
                let a = inp.index(na);
                let iso = if inp.bool() { None } else { Some(inp.index(nm)) };
                let m = inp.index(nm);
                let q = inp.i64_near(500);
                let p = inp.i64_near(250_000);
                e.settle_liquidation_fill(a, iso, m, q, p)
            }
            10 => {
                let a = inp.index(na);
                let iso = if inp.bool() { None } else { Some(inp.index(nm)) };
                e.take_over(a, iso)
            }
            11 => {
                let m = inp.index(nm);
                let q = inp.i64_near(500);
                let p = inp.i64_near(250_000);
                e.settle_liquidator_fill(m, q, p)
            }
            12 => {
                let m = inp.index(nm);
                e.auto_deleverage(m)
            }
            13 => {
                let m = inp.index(nm);
                let amount = inp.i64_near(1_000);
                let b = inp.index(na);
                e.socialise_loss(m, amount, b)
            }
            14 => {
                let m = inp.index(nm);
                let rate = inp.i64_near(10_000);
                e.settle_funding(m, rate)
            }
            _ => {
                queries(&e, &mut inp, na, nm);
                Ok(())
            }
        };
        no_internal(&r, "call");
        match r {
            // The canonical state bytes (SPEC §12.1) see everything, the clock and fund history
            // included; the readable dump only says what differs.
            Err(_) => {
                if before.state_bytes() != e.state_bytes() {
                    assert_eq!(
                        dump(&before),
                        dump(&e),
                        "op {op} was rejected ({r:?}) but changed the engine"
                    );
                    panic!("op {op} was rejected ({r:?}) but changed state the dump does not show");
                }
            }
            Ok(()) if CONSERVING.contains(&op) => {
                assert_eq!(cash, e.cash_total(), "op {op} succeeded but moved the cash total")
            }
            Ok(()) => {}
        }
        check_consistency(&e);
    }
}

/// Read-only calls (`&Engine`: they cannot change it): they may fail (OVERFLOW on extreme
/// books) but never panic and never report INTERNAL.
fn queries(e: &Engine, inp: &mut Input, na: usize, nm: usize) {
    match inp.byte() % 8 {
        0 => {
            let w = if inp.bool() { None } else { Some(inp.i64_near(800_000)) };
            let one = e.sweep(w);
            no_internal(&one, "sweep");
            let threads = 2 + inp.byte() as usize % 3;
            let many = e.sweep_threads(w, threads);
            no_internal(&many, "sweep_threads");
            if let (Ok(a), Ok(b)) = (&one, &many) {
                assert_eq!(a, b, "sweep on {threads} threads differs from the plain sweep");
            }
        }
        1 => {
            let list: Vec<u32> = (0..inp.byte() % 4).map(|_| inp.index(na)).collect();
            no_internal(
                &e.account_rows(if inp.bool() { None } else { Some(&list) }),
                "account_rows",
            );
            no_internal(&e.balances(&list), "balances");
        }
        2 => {
            let list: Vec<u32> = (0..inp.byte() % 4).map(|_| inp.index(na)).collect();
            no_internal(
                &e.position_risks(if inp.bool() { None } else { Some(&list) }),
                "position_risks",
            );
        }
        3 => {
            let a = inp.index(na);
            let iso = if inp.bool() { None } else { Some(inp.index(nm)) };
            no_internal(&e.plan_liquidation(a, iso), "plan_liquidation");
        }
        4 => {
            let a = inp.index(na);
            let target = match inp.byte() % 3 {
                0 => DeleverageTarget::MarginRatio(inp.i64_near(500_000)),
                1 => DeleverageTarget::Leverage(inp.i64_near(5_000_000)),
                _ => DeleverageTarget::LiquidationDistance {
                    market: inp.index(nm),
                    ppm: inp.i64_near(100_000),
                },
            };
            no_internal(
                &e.plan_deleveraging(a, target, inp.i64_near(500_000)),
                "plan_deleveraging",
            );
        }
        5 => {
            let m = inp.index(nm);
            let side = if inp.bool() { 1 } else { -1 };
            if let Ok(r) = AdlRanking::from_code(inp.byte() as u32 % 4) {
                let q = e.adl_queue(m, side, r);
                no_internal(&q, "adl_queue");
                if let Ok(q) = q {
                    let _ = deleverage_core::adl::indicator(&q, inp.bool());
                }
            }
        }
        _ => {
            let a = inp.index(na);
            let _ = e.account_id(a);
            let _ = e.account(a);
            let _ = e.market(inp.index(nm));
        }
    }
}
