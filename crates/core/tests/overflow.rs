//! Issue 12 item 5: one account whose equity leaves i64 must not stop the book. At quoteDecimals
//! 12 (i64 holds ≈ 9.2M units) a whale's balance plus profit leaves i64 after a mark move; the
//! underwater account beside it is still swept, watched and liquidated, and the whale is
//! reported with status OVERFLOW (SPEC §5.5). Before, every call failed with OVERFLOW.

use deleverage_core::waterfall::FillModel;
use deleverage_core::*;

const WHALE: u32 = 0;
const UNDER: u32 = 1;

fn book() -> Engine {
    let mut e = Engine::new(12).unwrap();
    e.add_market(MarketSpec::one_tier("BTCUSDT", 500_000, 3_000_000)).unwrap();
    let units = 10i64.pow(12);
    let ids: Vec<String> = ["whale", "under", "fine"].iter().map(|s| s.to_string()).collect();
    e.add_accounts(&ids, &[9_000_000 * units, 1_000 * units, 100_000 * units]).unwrap();
    // whale long 100 BTC, under short 1 BTC, fine short 0.5 BTC isolated with 10k margin, all at 30,000.
    e.set_positions(&PositionRows {
        account: &[0, 1, 2],
        market: &[0, 0, 0],
        qty: &[100_000, -1_000, -500],
        price: &[3_000_000; 3],
        isolated_margin: &[0, 0, 10_000 * units],
        flags: &[0, 0, FLAG_ISOLATED],
    })
    .unwrap();
    e
}

#[test]
fn an_overflowing_account_is_reported_and_the_others_still_swept() {
    let mut e = book();
    // 30,000 → 40,000: the whale's equity is 9M + 1M units, past i64; `under` has lost 10k of 1k.
    e.set_marks(&[0], &[4_000_000]).unwrap();
    let r = e.sweep(Some(500_000)).unwrap();
    assert_eq!(
        r.liquidatable.iter().map(|x| (x.account, x.market)).collect::<Vec<_>>(),
        [(UNDER, u32::MAX)]
    );
    assert_eq!(r.overflow, [MarginRow::overflowed(WHALE, u32::MAX)]);
    assert!(r.overflow[0].overflow && !r.overflow[0].liquidatable);
    assert_eq!(e.sweep_threads(Some(500_000), 2).unwrap(), r);
    let rows = e.account_rows(None).unwrap();
    assert!(
        rows[WHALE as usize].overflow
            && !rows[UNDER as usize].overflow
            && rows[UNDER as usize].liquidatable
    );
}

#[test]
fn the_watch_and_the_waterfall_go_on_beside_it() {
    let mut e = book();
    assert!(e.update_marks(&[0], &[3_000_000]).unwrap().is_empty());
    let ch = e.update_marks(&[0], &[4_000_000]).unwrap();
    assert_eq!(
        ch.iter().map(|c| (c.account, c.market, c.liquidatable)).collect::<Vec<_>>(),
        [(UNDER, u32::MAX, true)]
    );
    let rows = e.watch_liquidatable().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].account == UNDER && rows[0].liquidatable && !rows[0].overflow);
    assert_eq!(rows[1], MarginRow::overflowed(WHALE, u32::MAX));
    // The waterfall liquidates `under` and leaves the whale alone (no exact plan for it).
    e.run_waterfall(FillModel::AtMark, 0).unwrap();
    assert!(e.accounts()[UNDER as usize].positions.is_empty());
    assert_eq!(e.positions(0).qty[e.accounts()[WHALE as usize].positions[0].1 as usize], 100_000);
    assert!(e.sweep(None).unwrap().liquidatable.is_empty());
    // Back to 30,000: the whale fits again and the watch re-checks it on that move.
    e.update_marks(&[0], &[3_000_000]).unwrap();
    assert!(e.watch_liquidatable().unwrap().is_empty());
    assert!(e.sweep(None).unwrap().overflow.is_empty());
}
