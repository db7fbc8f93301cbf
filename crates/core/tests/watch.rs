//! The liquidation watch (SPEC §14) against the full sweep on random books and random price paths
//! (small ticks and big jumps), interleaved with fills, position and balance writes, removals and
//! waterfall steps: after every step the watch's liquidatable rows equal the sweep's, and the
//! changes `update_marks` reports are exactly the difference from the previous report — also
//! across a snapshot and restore (the report is part of the state, SPEC §12.1).
//! Also batched fills (SPEC §15): conservation of cash and all-or-nothing batches.

use std::collections::BTreeSet;

use deleverage_core::watch::CROSS;
use deleverage_core::*;

mod common;
use common::Rng;

fn random_market(rng: &mut Rng, symbol: &str, q: u32) -> MarketSpec {
    let kind = rng.pick(&[ContractKind::Linear, ContractKind::Linear, ContractKind::Inverse]);
    let n = rng.range(1, 4) as usize;
    let mut floors = vec![0i64];
    let mut mmr = vec![rng.range(200_000, 2_000_000)];
    for i in 1..n {
        let e = rng.range(3, 10) as u32;
        floors.push(floors[i - 1] + rng.range(1, 10i64.pow(e)));
        mmr.push(mmr[i - 1] + rng.range(0, 5_000_000));
    }
    let imr = mmr.iter().map(|m| (m * 2).min(100_000_000)).collect();
    let price_decimals = rng.range(0, 3) as u32;
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals: if kind == ContractKind::Inverse {
            price_decimals.min(12 - q)
        } else {
            price_decimals
        },
        qty_decimals: if kind == ContractKind::Inverse { 0 } else { rng.range(0, 3) as u32 },
        contract_size: if kind == ContractKind::Inverse { rng.pick(&[1, 10, 100]) } else { 1 },
        basis: rng.pick(&[MarginBasis::Mark, MarginBasis::Mark, MarginBasis::Entry]),
        form: rng.pick(&[TierForm::Deduction, TierForm::Step]),
        floors,
        mmr,
        imr,
        maint_amount: None,
        mark: rng.range(1_000, 10_000_000),
    }
}

/// A random position row for (a, m) near the mark; qty 0 one time in `remove`.
fn random_row(e: &Engine, rng: &mut Rng, m: u32, remove: i64) -> (i64, i64, i64, u8) {
    let mk = &e.markets()[m as usize];
    if rng.range(0, remove) == 0 {
        return (0, 0, 0, 0);
    }
    let entry = (mk.mark + rng.range(-mk.mark / 10, mk.mark / 10)).max(1);
    let qty = rng.range(1, 10i64.pow(mk.qty_decimals + 3)) * rng.pick(&[1, -1]);
    let iso = rng.range(0, 4) == 0;
    let value =
        e.markets()[m as usize].value_atoms(qty, entry).unwrap_or(0).min(i64::MAX as i128 / 4)
            as i64;
    // margin around 2–20 % of the value: many rows near liquidation
    let im = if iso { value / rng.range(5, 50) } else { 0 };
    (qty, entry, im, if iso { FLAG_ISOLATED } else { 0 })
}

fn sweep_set(e: &Engine) -> Option<BTreeSet<(u32, u32)>> {
    e.sweep(None).ok().map(|r| r.liquidatable.iter().map(|x| (x.account, x.market)).collect())
}

fn move_price(rng: &mut Rng, p: i64) -> i64 {
    let step = match rng.range(0, 9) {
        0 => p / 3, // a crash or a squeeze
        1 => p / 20,
        2 | 3 => p / 200,
        _ => (p / 5_000).max(1), // a typical tick or a few
    };
    (p + rng.range(-step, step)).clamp(1, 10i64.pow(12))
}

#[test]
fn the_watch_always_agrees_with_the_full_sweep() {
    agree(8, false);
}

/// The same at quoteDecimals 12 with balances up to i64::MAX / 2: scopes leave i64 and come back
/// as marks move (SPEC §5.5), and the watch reports them as the sweep does.
#[test]
fn the_watch_agrees_with_the_sweep_on_scopes_that_overflow() {
    let over = agree(12, true);
    assert!(over > 50, "too few overflowing scopes seen: {over}");
}

/// Random operations on random books; the watch's rows and reports checked against the sweep
/// after each. Returns how many OVERFLOW rows were compared.
fn agree(q: u32, big: bool) -> usize {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut checked = 0;
    let mut flips = 0;
    let mut over = 0;
    for round in 0..12 {
        let mut e = Engine::new(q).unwrap();
        let nm = rng.range(1, 4) as u32;
        for i in 0..nm {
            e.add_market(random_market(&mut rng, &format!("M{i}"), q)).unwrap();
        }
        let na = 120u32;
        let ids: Vec<String> = (0..na).map(|i| format!("a{i:03}")).collect();
        let balances: Vec<i64> = ids
            .iter()
            .map(|_| {
                let e = rng.range(4, 11) as u32;
                let big_e = rng.range(12, 18) as u32;
                let top = if rng.range(0, 1) == 0 { i64::MAX / 2 } else { 10i64.pow(big_e) };
                if big {
                    rng.range(0, top)
                } else {
                    rng.range(0, 10i64.pow(e))
                }
            })
            .collect();
        e.add_accounts(&ids, &balances).unwrap();
        for a in 0..na {
            for m in 0..nm {
                let (qty, entry, im, f) = random_row(&e, &mut rng, m, 3);
                if qty != 0 {
                    let _ = e.set_positions(&PositionRows {
                        account: &[a],
                        market: &[m],
                        qty: &[qty],
                        price: &[entry],
                        isolated_margin: &[im],
                        flags: &[f],
                    });
                }
            }
        }
        let mut reported: BTreeSet<(u32, u32)> = BTreeSet::new();
        for step in 0..400 {
            if step % 37 == 36 {
                // Through a snapshot now and then: the restored engine (index rebuilt on first
                // use) must report exactly what this one would have.
                let h = e.state_hash();
                e = Engine::restore(&e.snapshot()).unwrap();
                assert_eq!(e.state_hash(), h);
            }
            let op = rng.range(0, 99);
            let mut update = None;
            if op < 60 {
                let k = rng.range(1, 3) as usize;
                let ms: Vec<u32> = (0..k).map(|_| rng.range(0, nm as i64 - 1) as u32).collect();
                let mut ps: Vec<i64> = ms
                    .iter()
                    .map(|&m| move_price(&mut rng, e.markets()[m as usize].mark))
                    .collect();
                if big && rng.range(0, 9) == 0 {
                    // A rally or a collapse by a factor: profits past i64 and back.
                    let f = rng.range(2, 30);
                    ps[0] = if rng.range(0, 1) == 0 {
                        ps[0].saturating_mul(f).min(10i64.pow(12))
                    } else {
                        (ps[0] / f).max(1)
                    };
                }
                update = Some(e.update_marks(&ms, &ps));
            } else if op < 68 {
                let m = rng.range(0, nm as i64 - 1) as u32;
                let p = move_price(&mut rng, e.markets()[m as usize].mark);
                e.set_marks(&[m], &[p]).unwrap();
            } else if op < 80 {
                let k = rng.range(1, 6) as usize;
                let (mut acc, mut mkt, mut qty, mut px) = (vec![], vec![], vec![], vec![]);
                for _ in 0..k {
                    let m = rng.range(0, nm as i64 - 1) as u32;
                    let mark = e.markets()[m as usize].mark;
                    acc.push(rng.range(0, na as i64 - 1) as u32);
                    mkt.push(m);
                    qty.push(rng.range(1, 2_000) * rng.pick(&[1, -1]));
                    px.push((mark + rng.range(-mark / 50, mark / 50)).max(1));
                }
                let cash = e.cash_total();
                if e.apply_fills(&acc, &mkt, &qty, &px).is_ok() {
                    assert_eq!(e.cash_total(), cash, "fills conserve cash");
                }
            } else if op < 86 {
                let a = rng.range(0, na as i64 - 1) as u32;
                let b = rng.range(-10i64.pow(6), 10i64.pow(10));
                let _ = e.set_balances(&[a], &[b]);
            } else if op < 93 {
                let a = rng.range(0, na as i64 - 1) as u32;
                let m = rng.range(0, nm as i64 - 1) as u32;
                let (qty, entry, im, f) = random_row(&e, &mut rng, m, 4);
                let _ = e.set_positions(&PositionRows {
                    account: &[a],
                    market: &[m],
                    qty: &[qty],
                    price: &[entry],
                    isolated_margin: &[im],
                    flags: &[f],
                });
            } else if op < 95 {
                let a = rng.range(0, na as i64 - 1) as u32;
                let _ = e.remove_accounts(&[a]);
            } else if op < 97 {
                let m = rng.range(0, nm as i64 - 1) as u32;
                let _ = e.settle_funding(m, rng.range(-100_000, 100_000));
            } else {
                let _ = e.run_waterfall(waterfall::FillModel::AtMark, step as u64);
            }
            let Some(now) = sweep_set(&e) else { continue };
            match update {
                Some(Ok(changes)) => {
                    // Exactly the difference from the last report, in (account, market) order.
                    let expect: Vec<(u32, u32, bool)> = now
                        .symmetric_difference(&reported)
                        .map(|&(a, m)| (a, m, now.contains(&(a, m))))
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    let got: Vec<(u32, u32, bool)> =
                        changes.iter().map(|c| (c.account, c.market, c.liquidatable)).collect();
                    assert_eq!(got, expect, "round {round} step {step}: reported changes");
                    flips += got.len();
                    reported = now.clone();
                }
                Some(Err(err)) => panic!(
                    "round {round} step {step}: update failed while the sweep did not: {err}"
                ),
                None => {}
            }
            let rows = e.watch_liquidatable().unwrap();
            let r = e.sweep(None).unwrap();
            over += r.overflow.len();
            let want = [r.liquidatable, r.overflow].concat();
            if rows != want {
                for x in want.iter().filter(|x| !rows.contains(x)) {
                    let acc = &e.accounts()[x.account as usize];
                    eprintln!("missing {x:?} balance {} last op {op}", acc.balance);
                    for &(m, s) in &acc.positions {
                        let mk = &e.markets()[m as usize];
                        let c = e.positions(m);
                        eprintln!(
                            "  m{m} {:?} {:?} P{} D{} mark {} qty {} cost {} iso {} im {}",
                            mk.kind,
                            mk.basis,
                            mk.price_decimals,
                            mk.qty_decimals,
                            mk.mark,
                            c.qty[s as usize],
                            c.cost[s as usize],
                            c.isolated[s as usize],
                            c.isolated_margin[s as usize]
                        );
                    }
                }
            }
            assert_eq!(rows, want, "round {round} step {step}: liquidatable and overflow rows");
            checked += 1;
        }
    }
    assert!(checked > 3000, "too few steps compared: {checked}");
    assert!(flips > 200, "the paths must flip statuses often enough to mean something: {flips}");
    over
}

#[test]
fn a_typical_tick_re_checks_only_what_it_crossed() {
    // 2 000 accounts with slack ≥ 1 % of their value: a one-tick move crosses no band, and the
    // index then holds no dirty account — the update re-checked nothing (watch_entries unchanged).
    let q = 8;
    let mut e = Engine::new(q).unwrap();
    let m = e
        .add_market(MarketSpec {
            price_decimals: 1,
            floors: vec![0, 50_000_000_000],
            mmr: vec![400_000, 500_000],
            imr: vec![1_000_000, 2_000_000],
            ..MarketSpec::one_tier("BTCUSDT", 500_000, 500_000)
        })
        .unwrap();
    let n = 2_000u32;
    let ids: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    e.add_accounts(&ids, &vec![10i64.pow(12); n as usize]).unwrap();
    let acc: Vec<u32> = (0..n).collect();
    let qty: Vec<i64> =
        (0..n as i64).map(|i| if i % 2 == 0 { 1_000 + i } else { -1_000 - i }).collect();
    let px = vec![500_000i64; n as usize];
    e.set_positions(&PositionRows {
        account: &acc,
        market: &vec![m; n as usize],
        qty: &qty,
        price: &px,
        isolated_margin: &vec![0; n as usize],
        flags: &vec![0; n as usize],
    })
    .unwrap();
    assert!(e.update_marks(&[m], &[500_000]).unwrap().is_empty());
    let entries = e.watch_entries();
    // Continuous maintenance margin (derived deduction amounts): only the unfavourable end of
    // each band is indexed (SPEC §14.2).
    assert_eq!(entries, n as usize, "one band end per position");
    assert!(e.update_marks(&[m], &[500_001]).unwrap().is_empty());
    assert_eq!(e.watch_entries(), entries, "nothing was crossed, so nothing was re-checked");
    // A 60 % crash leaves every band: all are re-checked, the longs become liquidatable, and the
    // heaps, holding stale ends now, stay within their compaction bound.
    let ch = e.update_marks(&[m], &[200_000]).unwrap();
    assert_eq!(ch.len(), n as usize / 2);
    assert!(ch.iter().all(|c| c.market == CROSS && c.account % 2 == 0 && c.liquidatable));
    assert!(e.watch_entries() <= 2 * (2 * n as usize + 1024));
    assert_eq!(e.watch_liquidatable().unwrap(), e.sweep(None).unwrap().liquidatable);
}

fn state(e: &Engine) -> (Vec<PositionRisk>, Vec<i64>, i128) {
    let live: Vec<u32> = (0..e.accounts().len() as u32).filter(|&a| e.account(a).is_ok()).collect();
    (e.position_risks(None).unwrap(), e.balances(&live).unwrap(), e.settlement())
}

#[test]
fn fills_close_then_open_and_a_bad_row_changes_nothing() {
    let q = 6;
    let mut e = Engine::new(q).unwrap();
    let m = e.add_market(MarketSpec::one_tier("ETHUSDT", 500_000, 300_000)).unwrap();
    e.add_accounts(&["x".into(), "y".into()], &[1_000_000_000, 1_000_000_000]).unwrap();
    // x buys 2 ETH at 3000.00, sells 3 at 3100.00: closes 2 (+200 USDT), opens 1 short at 3100.
    e.apply_fills(&[0, 0], &[m, m], &[2_000, -3_000], &[300_000, 310_000]).unwrap();
    let r = &e.position_risks(Some(&[0])).unwrap()[0];
    assert_eq!((r.qty, r.cost), (-1_000, -310_000_000));
    assert_eq!(e.balances(&[0]).unwrap(), vec![1_000_000_000 + 200_000_000]);
    assert_eq!(e.settlement(), -200_000_000);
    // A batch whose last row names an unknown market changes nothing, rows before it included.
    let before = state(&e);
    let err = e.apply_fills(&[1, 1], &[m, 9], &[5, 5], &[300_000, 300_000]).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnknownMarket);
    assert_eq!(state(&e), before);
    for (acc, mkt, qty, px, code) in [
        (vec![0u32], vec![m], vec![0i64], vec![1i64], ErrorCode::InvalidQuantity),
        (vec![0], vec![m], vec![1], vec![0], ErrorCode::InvalidPrice),
        (vec![7], vec![m], vec![1], vec![1], ErrorCode::UnknownAccount),
        (vec![0], vec![m], vec![2_000_000_000_000_000], vec![1], ErrorCode::InvalidQuantity),
    ] {
        assert_eq!(e.apply_fills(&acc, &mkt, &qty, &px).unwrap_err().code, code);
        assert_eq!(state(&e), before);
    }
    assert_eq!(
        e.apply_fills(&[0], &[m, m], &[1], &[1]).unwrap_err().code,
        ErrorCode::LengthMismatch
    );
    // An isolated position closed in full returns its margin with the PnL to the balance.
    e.set_positions(&PositionRows {
        account: &[1],
        market: &[m],
        qty: &[1_000],
        price: &[300_000],
        isolated_margin: &[50_000_000],
        flags: &[FLAG_ISOLATED],
    })
    .unwrap();
    let cash = e.cash_total();
    e.apply_fills(&[1], &[m], &[-1_000], &[290_000]).unwrap();
    assert!(e.position_risks(Some(&[1])).unwrap().is_empty());
    assert_eq!(e.balances(&[1]).unwrap(), vec![1_000_000_000 + 50_000_000 - 100_000_000]);
    assert_eq!(e.cash_total(), cash);
}

#[test]
fn a_band_never_reaches_past_a_maintenance_tier() {
    // Step tiers: 1 % below a value of 10 000, 10 % from it. A long of 10 at 990 with a balance
    // of 799 has slack 700; at 1000 its MM jumps from 99 to 1000 and it is liquidatable, while at
    // 1059 (where a band sized by its slack alone would end) the gain has made up for the jump.
    let mut e = Engine::new(0).unwrap();
    let m = e
        .add_market(MarketSpec {
            symbol: "STEP".into(),
            kind: ContractKind::Linear,
            price_decimals: 0,
            qty_decimals: 0,
            contract_size: 1,
            basis: MarginBasis::Mark,
            form: TierForm::Step,
            floors: vec![0, 10_000],
            mmr: vec![1_000_000, 10_000_000],
            imr: vec![2_000_000, 20_000_000],
            maint_amount: None,
            mark: 990,
        })
        .unwrap();
    e.add_accounts(&["long".into()], &[799]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0],
        market: &[m],
        qty: &[10],
        price: &[990],
        isolated_margin: &[0],
        flags: &[0],
    })
    .unwrap();
    assert!(e.update_marks(&[m], &[990]).unwrap().is_empty());
    let ch = e.update_marks(&[m], &[1_000]).unwrap();
    assert_eq!(ch, vec![watch::WatchChange { account: 0, market: CROSS, liquidatable: true }]);
    assert_eq!(
        e.update_marks(&[m], &[1_059]).unwrap(),
        vec![watch::WatchChange { account: 0, market: CROSS, liquidatable: false }]
    );
}
