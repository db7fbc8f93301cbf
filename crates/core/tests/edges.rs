//! Edge cases at the limits of SPEC §2.3: positions that cannot be valued, ratios that do not fit.

use deleverage_core::*;

fn market(symbol: &str, kind: ContractKind, p: u32, d: u32, tiers: usize) -> MarketSpec {
    MarketSpec {
        symbol: symbol.into(),
        kind,
        price_decimals: p,
        qty_decimals: d,
        contract_size: if kind == ContractKind::Inverse { 100 } else { 1 },
        basis: MarginBasis::Mark,
        form: TierForm::Deduction,
        floors: (0..tiers as i64).map(|t| t * 1_000_000).collect(),
        mmr: (0..tiers as i64).map(|t| 500_000 * (t + 1)).collect(),
        imr: (0..tiers as i64).map(|t| 1_000_000 * (t + 1)).collect(),
        maint_amount: None,
        mark: 100,
    }
}

fn row<'a>(
    a: &'a [u32],
    m: &'a [u32],
    q: &'a [i64],
    p: &'a [i64],
    f: &'a [u8],
) -> PositionRows<'a> {
    PositionRows { account: a, market: m, qty: q, price: p, isolated_margin: &[0], flags: f }
}

#[test]
fn a_position_worth_more_than_i64_atoms_at_every_price_is_refused_as_cost_basis_too() {
    // quote 18 decimals, price 2, qty 0: one tick of 923 lots is 923·10^16 atoms > i64::MAX.
    let mut e = Engine::new(18).unwrap();
    e.add_market(market("WIDE", ContractKind::Linear, 2, 0, 3)).unwrap();
    e.add_accounts(&["a".into()], &[0]).unwrap();
    for flags in [0u8, FLAG_COST_BASIS] {
        let err = e.set_positions(&row(&[0], &[0], &[923], &[1], &[flags])).unwrap_err();
        assert_eq!(err.code, ErrorCode::Overflow, "{err}");
        assert!(err.message.contains("worth more than i64 atoms at every price"), "{err}");
    }
    // 922 lots fit at one tick: accepted, and its prices are computed without looping.
    e.set_positions(&row(&[0], &[0], &[922], &[1], &[0])).unwrap();
    e.set_marks(&[0], &[1]).unwrap();
    let r = e.position_risks(None).unwrap();
    assert_eq!(r.len(), 1);
}

#[test]
fn an_empty_price_domain_gives_no_prices() {
    let mut spec = market("INV", ContractKind::Inverse, 4, 0, 3);
    spec.contract_size = 1_000_000_000;
    let m = Market::new(spec, 8).unwrap();
    // |q|·size·10^t / i64::MAX > 10^15 ticks: no price keeps the value inside i64 atoms.
    let q = 1_000_000_000_000_000;
    let (lo, hi) = liq::domain(&m, q, 0).unwrap();
    assert!(lo > hi, "domain {lo}..={hi} should be empty");
    assert_eq!(liq::liquidation_price(&m, q, 1, 0).unwrap(), None);
    assert_eq!(liq::bankruptcy_price(&m, q, 1, 0).unwrap(), None);
}

#[test]
fn a_margin_ratio_beyond_i64_ppm_saturates_instead_of_failing_the_sweep() {
    let mut e = Engine::new(0).unwrap();
    let mut spec = market("BIG", ContractKind::Linear, 0, 0, 1);
    spec.mark = 1_000_000_000_000_000;
    e.add_market(spec).unwrap();
    // MM = 0.5 % of 10^15·10^3 = 5·10^15 atoms; equity 5·10^15 + 1 keeps it healthy by one atom
    // while equity 1 would make the ratio 5·10^21 ppm, beyond i64.
    e.add_accounts(&["tiny".into()], &[1]).unwrap();
    e.set_positions(&row(&[0], &[0], &[1000], &[1_000_000_000_000_000], &[0])).unwrap();
    let rows = e.account_rows(None).unwrap();
    assert_eq!(rows[0].margin_ratio_ppm, Some(i64::MAX));
    assert!(rows[0].liquidatable);
    assert_eq!(e.sweep(Some(800_000)).unwrap().liquidatable.len(), 1);
}

#[test]
fn accounts_added_with_a_rejected_position_leave_no_trace() {
    let mut e = Engine::new(18).unwrap();
    e.add_market(market("WIDE", ContractKind::Linear, 2, 0, 3)).unwrap();
    e.add_accounts(&["a".into()], &[5]).unwrap();
    let before = e.state_hash();
    let ids = ["b".to_string(), "c".to_string()];
    // Row 1 is worth more than i64 atoms: only the core can tell, after the accounts exist.
    let rows = PositionRows {
        account: &[0, 1],
        market: &[0, 0],
        qty: &[1, 923],
        price: &[1, 1],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    };
    assert_eq!(
        e.add_accounts_with_positions(&ids, &[1, 2], &rows).unwrap_err().code,
        ErrorCode::Overflow
    );
    assert_eq!(e.state_hash(), before, "no account index consumed, nothing half-added");
    let outside = PositionRows {
        account: &[2],
        market: &[0],
        qty: &[1],
        price: &[1],
        isolated_margin: &[0],
        flags: &[0],
    };
    assert_eq!(
        e.add_accounts_with_positions(&ids, &[1, 2], &outside).unwrap_err().code,
        ErrorCode::UnknownAccount
    );
    assert_eq!(e.state_hash(), before);
    // The same batch without the bad row lands whole, at the next index.
    let good = PositionRows {
        account: &[0, 1],
        market: &[0, 0],
        qty: &[1, 922],
        price: &[1, 1],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    };
    assert_eq!(e.add_accounts_with_positions(&ids, &[1, 2], &good).unwrap(), 1);
    assert_eq!(e.position_count(), 2);
    // A removed account keeps its id for the history.
    e.remove_accounts(&[1]).unwrap();
    assert_eq!(e.account_id(1).unwrap(), "b");
    assert_eq!(e.account_id(3).unwrap_err().code, ErrorCode::UnknownAccount);
}
