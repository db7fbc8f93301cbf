//! The liquidation map (SPEC §18) against its definition: every position's conservative
//! liquidation price as `position_risks` reports it, bucketed by the written rule.

use deleverage_core::liq_map::bucket_of;
use deleverage_core::*;

mod common;
use common::Rng;

/// `n` random tiers: floors from 0, each up to 10^d above the last (d drawn within `digits`);
/// rates from `first`, each up to `step` above the last.
fn random_tiers(
    rng: &mut Rng,
    n: usize,
    first: i64,
    digits: (i64, i64),
    step: i64,
) -> (Vec<i64>, Vec<i64>) {
    let (mut floors, mut mmr) = (vec![0i64], vec![first]);
    for t in 1..n {
        let d = rng.range(digits.0, digits.1) as u32;
        floors.push(floors[t - 1] + rng.range(1, 10i64.pow(d)));
        mmr.push(mmr[t - 1] + rng.range(0, step));
    }
    (floors, mmr)
}

/// Add `spec` with the tiers `(floors, mmr)` (IM twice the MM rate) in a form drawn from `rng`,
/// on a grid of `tick` ticks.
fn add_tiered(
    e: &mut Engine,
    rng: &mut Rng,
    spec: MarketSpec,
    (floors, mmr): (Vec<i64>, Vec<i64>),
    tick: i64,
) -> Result<u32> {
    let spec = MarketSpec {
        form: rng.pick(&[TierForm::Deduction, TierForm::Step]),
        imr: mmr.iter().map(|m| m * 2).collect(),
        floors,
        mmr,
        ..spec
    };
    e.add_market_with(spec, MarketTerms { tick_size: tick, settle_asset: None })
}

/// Tiered linear mark-basis markets (the closed-form tier runs) beside entry-basis and inverse
/// ones, with tick sizes; a mark near 30 000.
fn book(rng: &mut Rng) -> Engine {
    let mut e = Engine::new(8).unwrap();
    for (i, kind) in
        [ContractKind::Linear, ContractKind::Linear, ContractKind::Inverse].into_iter().enumerate()
    {
        let p = rng.range(0, 2) as u32;
        let g = rng.pick(&[1, 5, 25]);
        let mark = 30_000 * 10i64.pow(p) / g * g;
        let n = rng.range(1, 5) as usize;
        let first = rng.range(100_000, 1_000_000);
        let tiers = random_tiers(rng, n, first, (4, 10), 2_000_000);
        let spec = MarketSpec {
            kind,
            price_decimals: p,
            qty_decimals: if kind == ContractKind::Linear { 3 } else { 0 },
            contract_size: if kind == ContractKind::Linear { 1 } else { 100 },
            basis: if i == 1 && rng.range(0, 1) == 0 {
                MarginBasis::Entry
            } else {
                MarginBasis::Mark
            },
            ..MarketSpec::one_tier(&format!("M{i}"), 0, mark)
        };
        add_tiered(&mut e, rng, spec, tiers, g).unwrap();
    }
    let ids: Vec<String> = (0..60).map(|a| format!("a{a}")).collect();
    let bal: Vec<i64> = (0..60)
        .map(|_| {
            let d = rng.range(6, 12) as u32;
            rng.range(0, 10i64.pow(d))
        })
        .collect();
    e.add_accounts(&ids, &bal).unwrap();
    for a in 0..60u32 {
        for m in 0..3u32 {
            if rng.range(0, 3) == 0 {
                continue;
            }
            let mark = e.markets()[m as usize].mark;
            let g = e.markets()[m as usize].tick_size;
            let entry = (mark + rng.range(-mark / 4, mark / 4)) / g * g;
            let d = rng.range(1, 6) as u32;
            let qty = rng.range(1, 10i64.pow(d)) * rng.pick(&[1, -1]);
            let iso = rng.range(0, 4) == 0;
            let _ = e.set_positions(&PositionRows {
                account: &[a],
                market: &[m],
                qty: &[qty],
                price: &[entry.max(g)],
                isolated_margin: &[if iso { rng.range(0, 10i64.pow(9)) } else { 0 }],
                flags: &[if iso { FLAG_ISOLATED } else { 0 }],
            });
        }
    }
    e
}

#[test]
fn the_map_buckets_every_reported_liquidation_price() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut counted = 0;
    for _ in 0..40 {
        let e = book(&mut rng);
        let risks = e.position_risks(None).unwrap();
        for m in 0..3u32 {
            let mark = e.markets()[m as usize].mark;
            let (from, to) = (mark / 2, mark * 3 / 2);
            let n = rng.range(1, 40) as u32;
            let map = e.liquidation_map(m, from, to, n).unwrap();
            let k = n as usize + 2;
            let (mut lq, mut ln, mut sq, mut sn) = (vec![0; k], vec![0; k], vec![0; k], vec![0; k]);
            for r in risks.iter().filter(|r| r.market == m) {
                let Some(l) = r.liquidation else { continue };
                let x = l.conservative;
                let b = bucket_of(x, from, to, n);
                if b >= 1 && b <= n as usize {
                    assert!(map.edges[b - 1] <= x && x < map.edges[b], "edges");
                }
                let v = e.markets()[m as usize].value_atoms(r.qty, x).unwrap() as i64;
                if r.qty > 0 {
                    (lq[b], ln[b]) = (lq[b] + r.qty, ln[b] + v);
                } else {
                    (sq[b], sn[b]) = (sq[b] - r.qty, sn[b] + v);
                }
                counted += 1;
            }
            assert_eq!((map.long_qty, map.long_notional), (lq, ln));
            assert_eq!((map.short_qty, map.short_notional), (sq, sn));
            assert_eq!((map.edges[0], map.edges[n as usize]), (from, to));
        }
    }
    assert!(counted > 2_000, "{counted}");
}

#[test]
fn bad_ranges_are_refused() {
    let e = book(&mut Rng(7));
    let code =
        |r: Result<_>| r.map(|_: deleverage_core::liq_map::LiquidationMap| ()).unwrap_err().code;
    assert_eq!(code(e.liquidation_map(9, 1, 10, 1)), ErrorCode::UnknownMarket);
    assert_eq!(code(e.liquidation_map(0, 0, 10, 1)), ErrorCode::InvalidPrice);
    assert_eq!(code(e.liquidation_map(0, 10, 10, 1)), ErrorCode::InvalidArgument);
    assert_eq!(code(e.liquidation_map(0, 1, 10, 10)), ErrorCode::InvalidArgument);
    assert_eq!(code(e.liquidation_map(0, 1, 10, 0)), ErrorCode::InvalidArgument);
    assert!(e.liquidation_map(0, 1, 10, 9).is_ok());
}

/// The map's shortcut (a bound on the rounded slack that settles the predicate away from its
/// edge) against the plain search that evaluates the predicate at every step: the same price for
/// linear mark-basis positions whose base puts the edge anywhere, rounding in both directions
/// (quote decimals below and above price + qty decimals), ticks, and one to five tiers.
#[test]
fn the_slack_bound_never_changes_the_price() {
    use deleverage_core::liq_map::{liquidation_trigger, liquidation_trigger_plain};
    let mut rng = Rng(0x5eed_1234_abcd_0002);
    let mut solved = 0;
    for _ in 0..300 {
        let mut e = Engine::new(rng.range(0, 12) as u32).unwrap();
        let p = rng.range(0, 4) as u32;
        let g = rng.pick(&[1, 3, 5, 25]);
        let n = rng.range(1, 5) as usize;
        let first = rng.range(1, 5_000_000);
        let tiers = random_tiers(&mut rng, n, first, (3, 12), 3_000_000);
        let d = rng.range(1, 6) as u32;
        let mark = (rng.range(1, 10i64.pow(d)) * 10i64.pow(p)).max(g) / g * g;
        let spec = MarketSpec {
            price_decimals: p,
            qty_decimals: rng.range(0, 4) as u32,
            ..MarketSpec::one_tier("M", 0, mark)
        };
        add_tiered(&mut e, &mut rng, spec, tiers, g).unwrap();
        let m = &e.markets()[0];
        for _ in 0..40 {
            // up to 10^9 lots, and now and then near the limit (up to 10^18)
            let d = if rng.range(0, 8) == 0 { rng.range(12, 18) } else { rng.range(0, 9) } as u32;
            let qty = rng.range(1, 10i64.pow(d)) * rng.pick(&[1, -1]);
            let entry = (m.mark + rng.range(-m.mark / 2, m.mark / 2)).max(g) / g * g;
            let Ok(cost) = m.cost_basis(qty, entry) else { continue };
            // base near the maintenance margin at the mark, so the edge lands near it, plus
            // small offsets that move it by single atoms
            let mm = m.maintenance_margin_at(qty, cost, m.mark, 0).unwrap_or(0);
            let far = if rng.range(0, 8) == 0 { 30 } else { 6 };
            let scale = 10i128.pow(rng.range(0, far) as u32);
            let base =
                mm + rng.range(-1000, 1000) as i128 * scale / 1000 + rng.range(-3, 3) as i128;
            let plain = liquidation_trigger_plain(m, qty, cost, base);
            let fast = liquidation_trigger(m, qty, cost, base);
            match (&plain, &fast) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "qty {qty} cost {cost} base {base}"),
                (Err(a), Err(b)) => assert_eq!(a.code, b.code),
                _ => panic!("qty {qty} cost {cost} base {base}: {plain:?} vs {fast:?}"),
            }
            solved += usize::from(matches!(plain, Ok(Some(_))));
        }
    }
    assert!(solved > 5_000, "{solved}");
}
