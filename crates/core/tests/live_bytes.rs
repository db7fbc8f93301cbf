//! The compact account store (issue 11, live bytes): a bulk load leaves no slack in the accounts'
//! position references, and the id index finds every live account and no removed one, through
//! removals and a snapshot round trip.

use deleverage_core::*;

fn engine(accounts: usize) -> Engine {
    let mut e = Engine::new(8).unwrap();
    for m in 0..8 {
        e.add_market(MarketSpec::one_tier(&format!("M{m}-PERP"), 500_000, 100_000)).unwrap();
    }
    let ids: Vec<String> = (0..accounts).map(|i| format!("acct-{i}")).collect();
    e.add_accounts(&ids, &vec![1_000_000_000_000; accounts]).unwrap();
    e
}

/// Account i holds 1 + i % 7 positions, written in one batch.
fn load(e: &mut Engine, accounts: usize) {
    let (mut acc, mut mkt) = (vec![], vec![]);
    for a in 0..accounts {
        for m in 0..=(a % 7) {
            acc.push(a as u32);
            mkt.push(m as u32);
        }
    }
    let n = acc.len();
    e.set_positions(&PositionRows {
        account: &acc,
        market: &mkt,
        qty: &vec![1_000; n],
        price: &vec![100_000; n],
        isolated_margin: &vec![0; n],
        flags: &vec![0; n],
    })
    .unwrap();
}

#[test]
fn a_bulk_load_leaves_no_slack_in_references() {
    let mut e = engine(50);
    load(&mut e, 50);
    for (a, acc) in e.accounts().iter().enumerate() {
        assert_eq!(acc.positions.len(), 1 + a % 7);
        assert_eq!(acc.positions.capacity(), acc.positions.len(), "account {a}");
    }
}

#[test]
fn ids_resolve_through_removals_and_a_restore() {
    let n = 300;
    let mut e = engine(n);
    load(&mut e, n);
    let gone: Vec<u32> = (0..n as u32).filter(|a| a % 3 == 1).collect();
    e.remove_accounts(&gone).unwrap();
    let back = Engine::restore(&e.snapshot()).unwrap();
    for x in [&e, &back] {
        assert_eq!(x.live_account_count(), n - gone.len());
        for a in 0..n as u32 {
            let want = if a % 3 == 1 { None } else { Some(a) };
            assert_eq!(x.account_index(&format!("acct-{a}")), want, "account {a}");
        }
        assert_eq!(x.account_index("acct-x"), None);
    }
    // A removed account's id may be taken again; it gets a new index.
    let again = e.add_accounts(&["acct-1".to_string()], &[0]).unwrap();
    assert_eq!(e.account_index("acct-1"), Some(again));
    assert_eq!(again, n as u32);
}
