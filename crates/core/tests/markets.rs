//! Market terms (issue 12): the nearest liquidation/bankruptcy price from the exact crossing
//! (SPEC §6.3), tick sizes that are not powers of ten (§2.5), and one settlement asset per
//! account (§5.4).

use deleverage_core::liq::domain;
use deleverage_core::*;

mod common;
use common::Rng;

// A table row of a test: one argument per column reads better than a struct literal.
#[allow(clippy::too_many_arguments)]
fn one_tier(
    symbol: &str,
    kind: ContractKind,
    p: u32,
    d: u32,
    size: i64,
    basis: MarginBasis,
    mmr: i64,
    mark: i64,
) -> MarketSpec {
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals: p,
        qty_decimals: d,
        contract_size: size,
        basis,
        form: TierForm::Deduction,
        floors: vec![0],
        mmr: vec![mmr],
        imr: vec![mmr * 2],
        maint_amount: None,
        mark,
    }
}

fn iso(e: &mut Engine, a: u32, m: u32, q: i64, entry: i64, margin: i64) -> Result<()> {
    e.set_positions(&PositionRows {
        account: &[a],
        market: &[m],
        qty: &[q],
        price: &[entry],
        isolated_margin: &[margin],
        flags: &[FLAG_ISOLATED],
    })
}

/// The issue's case: inverse XBTUSD long 100 contracts at 40000, isolated margin 0.00025 BTC,
/// priceDecimals 1, quoteDecimals 8, mmr 0.5 % at mark. Exact crossing 100·1.005/0.00275 =
/// 36545.4545… → nearest 36545.5 (the old, atom-rounded evaluation said 36545.7). Bankruptcy:
/// 100/0.00275 = 36363.6363… → 36363.6.
#[test]
fn issue_case_nearest_is_the_exact_crossing_rounded() {
    let mut e = Engine::new(8).unwrap();
    e.add_market(one_tier(
        "XBTUSD",
        ContractKind::Inverse,
        1,
        0,
        1,
        MarginBasis::Mark,
        500_000,
        400_000,
    ))
    .unwrap();
    e.add_accounts(&["a".into()], &[0]).unwrap();
    iso(&mut e, 0, 0, 100, 400_000, 25_000).unwrap();
    let r = e.position_risks(None).unwrap()[0];
    assert_eq!(r.liquidation.unwrap().nearest, 365_455);
    assert_eq!(r.bankruptcy.unwrap().nearest, 363_636);
    // With BitMEX's tick of 0.5 the same crossings land on 36545.5 and 36363.5.
    let mut e = Engine::new(8).unwrap();
    e.add_market_with(
        one_tier("XBTUSD", ContractKind::Inverse, 1, 0, 1, MarginBasis::Mark, 500_000, 400_000),
        MarketTerms { tick_size: 5, settle_asset: Some("XBT".into()) },
    )
    .unwrap();
    e.add_accounts(&["a".into()], &[0]).unwrap();
    iso(&mut e, 0, 0, 100, 400_000, 25_000).unwrap();
    let r = e.position_risks(None).unwrap()[0];
    assert_eq!(r.liquidation.unwrap().nearest, 365_455);
    assert_eq!(r.bankruptcy.unwrap().nearest, 363_635);
    assert_eq!(r.liquidation.unwrap().conservative % 5, 0);
    assert_eq!(r.bankruptcy.unwrap().conservative % 5, 0);
}

/// Exact crossing x* = n/d (d > 0) of an isolated single-tier position, solved in closed form
/// (independently of the engine's search): `with_mm` false gives the bankruptcy crossing.
fn crossing(m: &Market, q: i64, c: i64, margin: i64, with_mm: bool) -> Option<(i128, i128)> {
    let (q, c, im) = (q as i128, c as i128, margin as i128);
    let r = if with_mm { m.tiers[0].mmr as i128 } else { 0 };
    let e8 = 100_000_000i128;
    let (n, d) = match m.kind {
        ContractKind::Linear => {
            let s = m.quote_exp();
            assert!(s <= 8);
            let mm_scaled = im * 10i128.pow((8 - s) as u32);
            match m.basis {
                MarginBasis::Mark => (e8 * c - mm_scaled, e8 * q - q.abs() * r),
                MarginBasis::Entry => (e8 * c + c.abs() * r - mm_scaled, e8 * q),
            }
        }
        ContractKind::Inverse => {
            let t = m.inverse_exp();
            assert!(t >= 0);
            let s = m.contract_size as i128 * 10i128.pow(t as u32);
            match m.basis {
                MarginBasis::Mark => (s * (e8 * q + q.abs() * r), e8 * (im + c)),
                MarginBasis::Entry => (e8 * q * s, e8 * (im + c) - c.abs() * r),
            }
        }
    };
    if d == 0 {
        return None;
    }
    let (n, d) = if d < 0 { (-n, -d) } else { (n, d) };
    (n > 0).then_some((n, d))
}

fn liquidatable(m: &Market, q: i64, c: i64, margin: i64, x: i64) -> bool {
    margin as i128 + m.upnl_at(q, c, x, 0).unwrap() <= m.maintenance_margin_at(q, c, x, 0).unwrap()
}

fn solvent(m: &Market, q: i64, c: i64, margin: i64, x: i64) -> bool {
    margin as i128 + m.upnl_at(q, c, x, 0).unwrap() >= 0
}

/// For random isolated positions on random grids: the nearest price is within half a tick of the
/// exact crossing (SPEC §6.3), and the trigger price lies on the grid and flips the rounded
/// predicate between it and one grid step better (§6.1, §6.2).
#[test]
fn nearest_is_within_half_a_tick_of_the_exact_crossing() {
    let mut rng = Rng(0x5eed_1234_abcd);
    let (mut near_checked, mut flips) = (0, 0);
    for case in 0..3_000 {
        let q_dec = rng.range(4, 8) as u32;
        let kind = if rng.range(0, 1) == 0 { ContractKind::Linear } else { ContractKind::Inverse };
        let p = rng.range(0, 4) as u32;
        let d = rng.range(0, 3).min(p as i64 + q_dec as i64) as u32;
        if kind == ContractKind::Linear && q_dec as i64 - p as i64 - d as i64 > 8 {
            continue;
        }
        if kind == ContractKind::Inverse && p + q_dec - d > 10 {
            continue;
        }
        let g = rng.pick(&[1i64, 1, 2, 5, 10, 25]);
        let basis = if rng.range(0, 1) == 0 { MarginBasis::Mark } else { MarginBasis::Entry };
        let size = if kind == ContractKind::Inverse { rng.pick(&[1i64, 10, 100]) } else { 1 };
        let entry = rng.range(1_000, 2_000_000) / g * g + g;
        let spec = one_tier("M", kind, p, d, size, basis, rng.range(100_000, 5_000_000), entry);
        let mut e = Engine::new(q_dec).unwrap();
        e.add_market_with(spec, MarketTerms { tick_size: g, settle_asset: None }).unwrap();
        e.add_accounts(&["a".into()], &[0]).unwrap();
        let q = rng.range(1, 1_000_000) * if rng.range(0, 1) == 0 { 1 } else { -1 };
        let mk = e.markets()[0].clone();
        let Ok(cost) = mk.cost_basis(q, entry) else { continue };
        // Margin: somewhere between a sliver and twice the position's value at entry, in atoms.
        let value = mk.value_atoms(q, entry).unwrap().max(1);
        let margin = (value * rng.range(1, 2_000) as i128 / 1_000).min(i64::MAX as i128 / 4) as i64;
        if iso(&mut e, 0, 0, q, entry, margin).is_err() {
            continue;
        }
        let r = e.position_risks(None).unwrap()[0];
        let (lo, hi) = domain(&mk, q, 0).unwrap();
        for (solved, with_mm) in [(r.liquidation, true), (r.bankruptcy, false)] {
            let Some(sp) = solved else { continue };
            assert_eq!(sp.conservative % g, 0, "case {case}: trigger off the grid");
            assert_eq!(sp.nearest % g, 0, "case {case}: nearest off the grid");
            // The trigger flips the rounded predicate within one grid step (towards safety).
            let (t, better) = (
                sp.conservative,
                if (q > 0) == with_mm { sp.conservative + g } else { sp.conservative - g },
            );
            if better >= lo && better <= hi {
                if with_mm {
                    assert!(
                        liquidatable(&mk, q, cost, margin, t)
                            && !liquidatable(&mk, q, cost, margin, better),
                        "case {case}: liquidation trigger {t}"
                    );
                } else {
                    assert!(
                        solvent(&mk, q, cost, margin, t) && !solvent(&mk, q, cost, margin, better),
                        "case {case}: bankruptcy trigger {t}"
                    );
                }
                flips += 1;
            }
            let Some((n, dd)) = crossing(&mk, q, cost, margin, with_mm) else { continue };
            // Away from the domain's ends (where the nearest is clamped to the edge).
            if n <= (lo as i128 + g as i128) * dd || n >= (hi as i128 - g as i128) * dd {
                continue;
            }
            let off = (2 * sp.nearest as i128 * dd - 2 * n).abs();
            assert!(off <= g as i128 * dd, "case {case}: nearest {} is more than half a tick ({g}) from the crossing {n}/{dd} (q {q}, cost {cost}, margin {margin}, {kind:?} {basis:?})", sp.nearest);
            near_checked += 1;
        }
    }
    assert!(near_checked > 2_000, "only {near_checked} crossings checked");
    assert!(flips > 2_000, "only {flips} triggers checked");
}

#[test]
fn marks_must_lie_on_the_grid() {
    let mut e = Engine::new(8).unwrap();
    let spec =
        one_tier("XBTUSD", ContractKind::Inverse, 1, 0, 1, MarginBasis::Mark, 500_000, 300_003);
    let err = e
        .add_market_with(spec.clone(), MarketTerms { tick_size: 5, settle_asset: None })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidPrice);
    assert_eq!(
        err.message,
        "market XBTUSD: mark must be a multiple of the tick size 0.5 (5 price units), got 30000.3 (300003 price units)"
    );
    let err = e
        .add_market_with(spec.clone(), MarketTerms { tick_size: -5, settle_asset: None })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidArgument);
    e.add_market_with(
        MarketSpec { mark: 300_005, ..spec },
        MarketTerms { tick_size: 5, settle_asset: None },
    )
    .unwrap();
    let h = e.state_hash();
    assert_eq!(e.set_marks(&[0], &[300_007]).unwrap_err().code, ErrorCode::InvalidPrice);
    assert_eq!(e.update_marks(&[0], &[300_001]).unwrap_err().code, ErrorCode::InvalidPrice);
    assert_eq!(e.state_hash(), h);
    e.set_marks(&[0], &[300_010]).unwrap();
    // Entries are averages: any price unit is accepted (SPEC §2.5).
    e.add_accounts(&["a".into()], &[1_000_000]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0],
        market: &[0],
        qty: &[10],
        price: &[300_003],
        isolated_margin: &[0],
        flags: &[0],
    })
    .unwrap();
    e.apply_fills(&[0], &[0], &[3], &[299_999]).unwrap();
}

fn two_assets() -> Engine {
    let mut e = Engine::new(8).unwrap();
    e.add_market(one_tier(
        "BTCUSDT",
        ContractKind::Linear,
        1,
        3,
        1,
        MarginBasis::Mark,
        500_000,
        300_000,
    ))
    .unwrap();
    e.add_market(one_tier(
        "BTCUSD",
        ContractKind::Inverse,
        1,
        0,
        100,
        MarginBasis::Mark,
        500_000,
        300_000,
    ))
    .unwrap();
    e.add_market(one_tier(
        "ETHUSDT",
        ContractKind::Linear,
        2,
        2,
        1,
        MarginBasis::Mark,
        500_000,
        200_000,
    ))
    .unwrap();
    e.add_accounts(&["lin".into(), "coin".into()], &[1_000_000_000_000, 100_000_000]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0, 1],
        market: &[0, 1],
        qty: &[1_000, -50],
        price: &[300_000, 300_000],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    })
    .unwrap();
    e
}

/// Every write that could open a second settlement asset in an account is refused with
/// SETTLEMENT_MISMATCH naming the account and both markets, and changes nothing (SPEC §5.4).
#[test]
fn mixing_settlement_assets_is_refused() {
    let mut e = two_assets();
    let h = e.state_hash();
    let rows = |a: &'static [u32],
                m: &'static [u32],
                q: &'static [i64],
                f: &'static [u8],
                im: &'static [i64]| PositionRows {
        account: a,
        market: m,
        qty: q,
        price: &[300_000, 300_000][..a.len()],
        isolated_margin: im,
        flags: f,
    };
    // A cross position, and an isolated one (it draws on the same wallet).
    for (flags, im) in [(&[0u8][..], &[0i64][..]), (&[FLAG_ISOLATED][..], &[1_000i64][..])] {
        let err = e.set_positions(&rows(&[0], &[1], &[10], flags, im)).unwrap_err();
        assert_eq!(err.code, ErrorCode::SettlementMismatch);
        assert_eq!(err.message, "row 0: account lin cannot hold BTCUSD (settles in BTCUSD) beside BTCUSDT (settles in quote): one account's margin combines markets of one settlement asset (a linear market without settleAsset settles in \"quote\": give it the asset the other names)");
    }
    let err = e.apply_fills(&[1, 1], &[1, 2], &[10, 5], &[300_000, 200_000]).unwrap_err();
    assert_eq!(err.code, ErrorCode::SettlementMismatch);
    assert!(err.message.starts_with("row 1 (account coin, market ETHUSDT): account coin cannot hold ETHUSDT (settles in quote) beside BTCUSD"), "{}", err.message);
    let err = e
        .add_accounts_with_positions(
            &["new".into()],
            &[5],
            &rows(&[0, 0], &[0, 1], &[1, 1], &[0, 0], &[0, 0]),
        )
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::SettlementMismatch);
    assert!(err.message.contains("account new cannot hold BTCUSD"), "{}", err.message);
    assert_eq!(e.state_hash(), h, "a refused write changes nothing");
    // Replacing within one batch is fine: close the linear position and open the inverse one.
    e.set_positions(&rows(&[0, 0], &[0, 1], &[0, 10], &[0, 0], &[0, 0])).unwrap();
    // ... and so is a fill batch that closes first, then opens the other asset.
    e.apply_fills(&[1, 1], &[1, 2], &[50, 5], &[300_000, 200_000]).unwrap();
    // Same asset: a linear account may hold two linear markets.
    let mut e = two_assets();
    e.apply_fills(&[0], &[2], &[5], &[200_000]).unwrap();
}

/// A market may name its asset: two inverse markets of one coin share the account.
#[test]
fn named_assets_combine() {
    let mut e = Engine::new(8).unwrap();
    let btc = || MarketTerms { tick_size: 5, settle_asset: Some("BTC".into()) };
    e.add_market_with(
        one_tier("XBTUSD", ContractKind::Inverse, 1, 0, 1, MarginBasis::Mark, 500_000, 300_000),
        btc(),
    )
    .unwrap();
    e.add_market_with(
        one_tier("XBTM26", ContractKind::Inverse, 1, 0, 1, MarginBasis::Mark, 500_000, 300_000),
        btc(),
    )
    .unwrap();
    e.add_market(one_tier(
        "ETHUSD",
        ContractKind::Inverse,
        2,
        0,
        1,
        MarginBasis::Mark,
        500_000,
        300_000,
    ))
    .unwrap();
    assert_eq!(
        e.markets()[2].settle_asset,
        "ETHUSD",
        "an inverse market naming none settles in its own coin"
    );
    e.add_accounts(&["a".into()], &[100_000_000]).unwrap();
    e.set_positions(&PositionRows {
        account: &[0, 0],
        market: &[0, 1],
        qty: &[10, -10],
        price: &[300_000, 300_000],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    })
    .unwrap();
    assert_eq!(
        e.apply_fills(&[0], &[2], &[1], &[300_000]).unwrap_err().code,
        ErrorCode::SettlementMismatch
    );
}
