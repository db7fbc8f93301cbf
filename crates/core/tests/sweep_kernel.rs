//! The sweep's integer kernel (sweep.rs) against the straightforward i128 sweep it replaced
//! (`sweep_reference`): the same rows (OVERFLOW rows included), or the same error, on random books that reach every tier
//! of linear and inverse markets (mark and entry basis, deduction and step tiers, more tiers than
//! the kernel's arrays hold), every sign of the unit exponent (divisions by 10^k or none), and
//! positions near the limits, where the i64 fast path must fall back.

use deleverage_core::*;

mod common;
use common::Rng;

/// A market whose tier floors are spread geometrically over the values the positions take, so
/// every tier is reached.
fn market(rng: &mut Rng, symbol: &str, q: u32) -> MarketSpec {
    let kind = if rng.range(0, 3) == 0 { ContractKind::Inverse } else { ContractKind::Linear };
    let (mut p, mut d) = (rng.range(0, 6) as u32, rng.range(0, 6) as u32);
    if kind == ContractKind::Inverse {
        d = 0;
        p = p.min(12 - q.min(12));
    } else {
        // SPEC §2.3: P + D ≤ Q + 10.
        while p + d > q + 10 {
            p = p.saturating_sub(1);
            d = d.saturating_sub(1);
        }
    }
    let n = if rng.range(0, 6) == 0 { rng.range(17, 20) } else { rng.range(1, 6) } as usize;
    let step = rng.range(2, 12);
    let mut floors = vec![0i64];
    let mut mmr = vec![rng.range(100_000, 1_000_000)];
    for i in 1..n {
        let f = (floors[i - 1].max(rng.range(1, 10i64.pow(p + d + 2))))
            .saturating_mul(step)
            .min(10i64.pow(17) + i as i64);
        if f <= floors[i - 1] {
            break;
        }
        floors.push(f);
        mmr.push((mmr[i - 1] + rng.range(0, 2_000_000)).min(90_000_000));
    }
    mmr.truncate(floors.len());
    let imr = mmr.iter().map(|m| (m * 2).min(100_000_000)).collect();
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals: p,
        qty_decimals: d,
        contract_size: if kind == ContractKind::Inverse { rng.pick(&[1, 10, 100]) } else { 1 },
        basis: rng.pick(&[MarginBasis::Mark, MarginBasis::Entry]),
        form: rng.pick(&[TierForm::Deduction, TierForm::Step]),
        floors,
        mmr,
        imr,
        maint_amount: None,
        mark: rng.range(1, 10i64.pow(p + 4)),
    }
}

fn book(rng: &mut Rng, near_limit: bool) -> Engine {
    let q = rng.range(0, 18) as u32;
    let mut e = Engine::new(q).unwrap();
    let nm = rng.range(1, 6);
    for i in 0..nm {
        // Markets that break the unit limits are refused: skip them.
        let _ = e.add_market(market(rng, &format!("M{i}"), q));
    }
    let na = 60u32;
    let ids: Vec<String> = (0..na).map(|i| format!("a{i:02}")).collect();
    let big = if near_limit { i64::MAX / 2 } else { 10i64.pow(q.min(15) + 3) };
    let balances: Vec<i64> = ids.iter().map(|_| rng.range(-big / 8, big)).collect();
    e.add_accounts(&ids, &balances).unwrap();
    let nm = e.markets().len() as u32;
    for a in 0..na {
        for m in 0..nm {
            if rng.range(0, 2) == 0 {
                continue;
            }
            let mk = &e.markets()[m as usize];
            let mark = mk.mark;
            let entry = (mark + rng.range(-mark / 2, mark / 2)).max(1);
            let mag = if near_limit && rng.range(0, 4) == 0 {
                rng.range(12, 15)
            } else {
                rng.range(0, 7)
            };
            let qty = rng.range(1, 10i64.pow(mag as u32)).min(10i64.pow(15)) * rng.pick(&[1, -1]);
            let iso = rng.range(0, 4) == 0;
            let im = if iso { rng.range(0, big) } else { 0 };
            let flags = if iso { FLAG_ISOLATED } else { 0 };
            // Rows outside the unit limits are refused: the book keeps the others.
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
    e
}

fn same(e: &Engine, what: &str) -> (usize, usize) {
    let want = e.sweep_reference(Some(700_000), 1);
    for t in [1, 2, 3] {
        let got = e.sweep_kernel(Some(700_000), t);
        match (&want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(w, g, "{what}, {t} threads"),
            (Err(w), Err(g)) => {
                assert_eq!((w.code, &w.message), (g.code, &g.message), "{what}, {t} threads")
            }
            _ => panic!("{what}, {t} threads: reference {want:?}, kernel {got:?}"),
        }
    }
    match want {
        Ok(r) => (r.liquidatable.len() + r.warnings.len(), r.overflow.len()),
        Err(e) => panic!("{what}: {e:?}"),
    }
}

#[test]
fn the_kernel_gives_the_reference_sweep_rows_and_errors() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut rows, mut overflows) = (0, 0);
    for round in 0..300 {
        let near = round % 3 == 0;
        let mut e = book(&mut rng, near);
        let (r, x) = same(&e, &format!("round {round}"));
        rows += r;
        overflows += x;
        // Move every mark: other tiers, other signs of uPnL.
        for m in 0..e.markets().len() as u32 {
            let mark = e.markets()[m as usize].mark;
            let to = (mark + rng.range(-mark * 9 / 10, mark * 3)).clamp(1, 10i64.pow(15));
            e.set_marks(&[m], &[to]).unwrap();
        }
        let (r, x) = same(&e, &format!("round {round}, marks moved"));
        rows += r;
        overflows += x;
    }
    // The books must exercise both outcomes, or the comparison proves little.
    assert!(rows > 1_000, "{rows} rows");
    assert!(overflows > 0, "no scope overflowed");
}

/// Every tier of a linear mark-basis market is reached and priced as the general formula does,
/// including positions exactly at a tier floor (|q|·mark = floor) and one lot below it (step
/// tiers: the rate jumps there).
#[test]
fn tier_limits_are_exact_at_the_floor() {
    let mut e = Engine::new(8).unwrap();
    let floors = vec![0, 1_000_000, 7_000_000, 50_000_000, 51_000_000];
    let mmr = vec![400_000, 500_000, 1_000_000, 2_500_000, 5_000_000];
    e.add_market(MarketSpec {
        symbol: "T".into(),
        kind: ContractKind::Linear,
        price_decimals: 2,
        qty_decimals: 3,
        contract_size: 1,
        basis: MarginBasis::Mark,
        form: TierForm::Step,
        imr: mmr.iter().map(|x| x * 2).collect(),
        floors: floors.clone(),
        mmr,
        maint_amount: None,
        mark: 1_000,
    })
    .unwrap();
    let mut qty = vec![];
    for f in &floors[1..] {
        let q = f / 1_000;
        qty.extend([q - 1, q, q + 1]);
    }
    let n = qty.len();
    let ids: Vec<String> = (0..n).map(|i| format!("a{i}")).collect();
    // Balances just at and around each position's maintenance margin.
    let mm: Vec<i64> = qty
        .iter()
        .map(|&q| e.markets()[0].maintenance_margin(q, q * 1_000).unwrap() as i64)
        .collect();
    let balances: Vec<i64> = mm.iter().enumerate().map(|(i, m)| m + (i as i64 % 3) - 1).collect();
    e.add_accounts(&ids, &balances).unwrap();
    let acc: Vec<u32> = (0..n as u32).collect();
    e.set_positions(&PositionRows {
        account: &acc,
        market: &vec![0; n],
        qty: &qty,
        price: &vec![1_000; n],
        isolated_margin: &vec![0; n],
        flags: &vec![0; n],
    })
    .unwrap();
    let r = e.sweep_kernel(None, 1).unwrap();
    assert_eq!(r, e.sweep_reference(None, 1).unwrap());
    // equity = balance (entry = mark) ≤ MM exactly for the balances at MM − 1 and MM.
    assert_eq!(r.liquidatable.len(), 2 * floors[1..].len());
}

/// A random write: open, replace or close a position (sometimes a near-limit one, given as a
/// cost basis above 2^56 atoms, which the sweep keeps in its side list), or move a balance.
fn write(rng: &mut Rng, e: &mut Engine) {
    let na = e.accounts().len() as u32;
    let a = rng.range(0, na as i64 - 1) as u32;
    if e.account(a).is_err() {
        return;
    }
    if rng.range(0, 4) == 0 {
        let _ = e.set_balances(&[a], &[rng.range(-10i64.pow(12), 10i64.pow(15))]);
        return;
    }
    let m = rng.range(0, e.markets().len() as i64 - 1) as u32;
    let mark = e.markets()[m as usize].mark;
    let side = rng.pick(&[1, -1]);
    let (qty, price, flags) = match rng.range(0, 9) {
        0 => (0, 1, 0),
        1 => {
            let cost = rng.range(1 << 57, 1 << 61);
            (side * rng.range(1, 10i64.pow(6)), side * cost, FLAG_COST_BASIS)
        }
        _ => {
            let entry = (mark + rng.range(-mark / 2, mark / 2)).max(1);
            let mag = rng.range(0, 7) as u32;
            (side * rng.range(1, 10i64.pow(mag)), entry, 0)
        }
    };
    let iso = qty != 0 && rng.range(0, 5) == 0;
    let im = if iso { rng.range(0, 10i64.pow(14)) } else { 0 };
    let _ = e.set_positions(&PositionRows {
        account: &[a],
        market: &[m],
        qty: &[qty],
        price: &[price],
        isolated_margin: &[im],
        flags: &[flags | if iso { FLAG_ISOLATED } else { 0 }],
    });
}

/// Books of several blocks of accounts (the sweep's layout keeps 1024 per block), changed by
/// writes between sweeps: every change reaches the layout (the debug build also checks each
/// block against a fresh build on every sweep), near-limit positions sit in the side list, and
/// the rows stay the reference's at every thread count.
#[test]
fn the_blocked_layout_follows_writes_across_blocks() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let (mut rows, mut near) = (0, 0);
    for round in 0..6 {
        let mut e = book(&mut rng, round % 2 == 0);
        let ids: Vec<String> = (0..2_600).map(|i| format!("b{round}-{i}")).collect();
        let balances: Vec<i64> = ids.iter().map(|_| rng.range(0, 10i64.pow(13))).collect();
        e.add_accounts(&ids, &balances).unwrap();
        for _ in 0..6_000 {
            write(&mut rng, &mut e);
        }
        rows += same(&e, &format!("round {round}")).0;
        for step in 0..40 {
            // Mostly one write between sweeps, so other blocks stay clean.
            for _ in 0..rng.pick(&[1, 1, 1, 2, 100]) {
                write(&mut rng, &mut e);
            }
            match step {
                10 => {
                    let dead: Vec<u32> = (0..40).map(|i| 1_000 + i * 7).collect();
                    e.remove_accounts(&dead).unwrap();
                }
                20 => {
                    let more: Vec<String> = (0..700).map(|i| format!("c{round}-{i}")).collect();
                    e.add_accounts(&more, &vec![10i64.pow(9); 700]).unwrap();
                }
                _ => {}
            }
            if step % 4 == 0 {
                let mark = e.markets()[0].mark;
                e.set_marks(&[0], &[(mark + rng.range(-mark / 3, mark / 3)).max(1)]).unwrap();
            }
            rows += same(&e, &format!("round {round}, step {step}")).0;
        }
        near += (0..e.markets().len() as u32)
            .map(|m| e.positions(m).cost.iter().filter(|c| c.unsigned_abs() > 1 << 56).count())
            .sum::<usize>();
    }
    assert!(rows > 1_000, "{rows} rows");
    assert!(near > 100, "{near} near-limit positions");
}

/// The sweep's AVX-512 path (sweep_simd.rs, taken where the machine has AVX-512F/DQ) against
/// the scalar kernel and the reference, on the random books above (near-limit positions and
/// balances in every third) and warning ratios from 1 ppm to 10^12 ppm, the last of which puts
/// w·equity outside i64 so the vector filter must pass those scopes to the exact check.
#[test]
fn the_vector_kernel_gives_the_scalar_kernel_rows() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut rows = 0;
    for round in 0..200 {
        let e = book(&mut rng, round % 3 == 0);
        for w in [None, Some(1), Some(700_000), Some(10i64.pow(12))] {
            let want = e.sweep_reference(w, 1);
            for t in [1, 2] {
                let (v, s) = (e.sweep_kernel(w, t), e.sweep_kernel_scalar(w, t));
                match (&want, &v, &s) {
                    (Ok(r), Ok(v), Ok(s)) => {
                        assert_eq!(s, r, "round {round}, w {w:?}: scalar");
                        assert_eq!(v, r, "round {round}, w {w:?}: vector");
                        rows += r.liquidatable.len() + r.warnings.len() + r.overflow.len();
                    }
                    (Err(r), Err(v), Err(s)) => {
                        assert_eq!((r.code, &r.message), (v.code, &v.message), "round {round}");
                        assert_eq!((r.code, &r.message), (s.code, &s.message), "round {round}");
                    }
                    _ => panic!("round {round}: reference {want:?}, vector {v:?}, scalar {s:?}"),
                }
            }
        }
    }
    assert!(rows > 5_000, "{rows} rows");
    eprintln!("vector path on this machine: {}", Engine::sweep_simd_available());
}

/// Scopes exactly at the vector filter's edges: equity = MM − 1, MM, MM + 1 (liquidatable or
/// not), MM·10^6 = w·equity ± 1 (a warning or not), equity one atom past i64 either way
/// (OVERFLOW), for cross accounts and isolated scopes, 8+ rows a market so full vectors and
/// tails both occur.
#[test]
fn the_vector_filter_is_exact_at_its_edges() {
    let mut e = Engine::new(8).unwrap();
    let floors = vec![0, 1_000_000, 7_000_000, 50_000_000, 51_000_000];
    let mmr = vec![400_000, 500_000, 1_000_000, 2_500_000, 5_000_000];
    for (i, mark) in [1_000, 37_123].into_iter().enumerate() {
        e.add_market(MarketSpec {
            symbol: format!("T{i}"),
            kind: ContractKind::Linear,
            price_decimals: 2,
            qty_decimals: 3,
            contract_size: 1,
            basis: MarginBasis::Mark,
            form: TierForm::Step,
            imr: mmr.iter().map(|x| x * 2).collect(),
            floors: floors.clone(),
            mmr: mmr.clone(),
            maint_amount: None,
            mark,
        })
        .unwrap();
    }
    let w = 500_000; // a warning when MM·10^6 ≥ w·equity ⇔ equity ≤ 2·MM
    let mut rng = Rng(0x5851_F42D_4C95_7F2D);
    let (mut ids, mut bal, mut pos) = (vec![], vec![], vec![]);
    for i in 0..300u32 {
        let q = rng.range(1, 60_000) * rng.pick(&[1, -1]);
        let entry = rng.range(500, 60_000);
        let mk = &e.markets()[0];
        let (u, mm) =
            (mk.upnl(q, q * entry).unwrap(), mk.maintenance_margin(q, q * entry).unwrap());
        // The equity the scope should have, as an i128 (past i64 for the overflow cases).
        let eq = match i % 9 {
            0..=2 => mm + (i % 3) as i128 - 1,
            3..=5 => 2 * mm + (i % 3) as i128 - 1,
            6 => i64::MAX as i128 + 1,
            7 => i64::MIN as i128 - 1,
            _ => mm * 3,
        };
        let b = eq - u;
        let iso = i % 2 == 1;
        if i64::try_from(b).is_err() || (iso && b < 0) {
            continue; // the balance or isolated margin this needs cannot be stored
        }
        let a = ids.len() as u32;
        ids.push(format!("a{i}"));
        bal.push(if iso { rng.range(0, 10i64.pow(12)) } else { b as i64 });
        pos.push((a, q, entry, if iso { b as i64 } else { 0 }, iso));
    }
    e.add_accounts(&ids, &bal).unwrap();
    for &(a, q, entry, im, iso) in &pos {
        e.set_positions(&PositionRows {
            account: &[a],
            market: &[0],
            qty: &[q],
            price: &[entry],
            isolated_margin: &[im],
            flags: &[if iso { FLAG_ISOLATED } else { 0 }],
        })
        .unwrap();
    }
    let want = e.sweep_reference(Some(w), 1).unwrap();
    assert_eq!(e.sweep_kernel_scalar(Some(w), 1).unwrap(), want);
    assert_eq!(e.sweep_kernel(Some(w), 1).unwrap(), want);
    assert_eq!(e.sweep_kernel(None, 1).unwrap(), e.sweep_reference(None, 1).unwrap());
    // Every kind of edge is present in the answer.
    assert!(want.liquidatable.len() > 40, "{:?}", want.liquidatable.len());
    assert!(want.warnings.len() > 40, "{:?}", want.warnings.len());
    assert!(want.overflow.len() > 20, "{:?}", want.overflow.len());
    assert!(want.overflow.iter().any(|r| r.market == u32::MAX));
    assert!(want.overflow.iter().any(|r| r.market != u32::MAX));
}

/// An account whose Σ uPnL leaves i64 (nine near-limit shorts, each uPnL ≈ 2^61, in a block
/// that sums in i128) while the low 64 bits of the sum look healthy: the vector account check
/// must pass it to the exact check (an OVERFLOW row), not judge it by its low word.
#[test]
fn wide_sums_outside_i64_reach_the_exact_check() {
    let mut e = Engine::new(5).unwrap(); // price 2 + qty 3 decimals: uPnL = q·mark − cost
    for m in 0..9 {
        e.add_market(MarketSpec::one_tier(&format!("W{m}"), 500_000, 100)).unwrap();
    }
    let ids: Vec<String> = (0..40).map(|i| format!("w{i}")).collect();
    e.add_accounts(&ids, &vec![10i64.pow(12); 40]).unwrap();
    let (mut acc, mut mkt, mut qty, mut px) = (vec![], vec![], vec![], vec![]);
    for a in 0..40u32 {
        for m in 0..9u32 {
            acc.push(a);
            mkt.push(m);
            let (q, cost) = if a == 17 { (-1, -(1i64 << 61)) } else { (-1 - a as i64, -100) };
            qty.push(q);
            px.push(cost * -q.signum());
        }
    }
    let n = acc.len();
    let (im, fl) = (vec![0; n], vec![FLAG_COST_BASIS; n]);
    e.set_positions(&PositionRows {
        account: &acc,
        market: &mkt,
        qty: &qty,
        price: &px,
        isolated_margin: &im,
        flags: &fl,
    })
    .unwrap();
    let want = e.sweep_reference(None, 1).unwrap();
    assert_eq!(want.overflow.len(), 1, "{want:?}");
    assert_eq!((want.overflow[0].account, want.overflow[0].market), (17, u32::MAX));
    assert_eq!(e.sweep_kernel_scalar(None, 1).unwrap(), want);
    assert_eq!(e.sweep_kernel(None, 1).unwrap(), want);
}
