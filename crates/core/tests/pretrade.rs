//! Pre-trade risk (SPEC §17): the venues' published examples (the same cases as
//! test/vectors/pretrade/venues.json, which cites each source), and properties on random
//! accounts: maxOrderQty is the flip of checkOrders, a sequential batch equals placing one by
//! one, an accepted order once filled leaves the account at or above initial margin, and rejected
//! calls leave the state hash unchanged.

use deleverage_core::order_check::max_position_value;
use deleverage_core::pretrade::{Order, PreTradeConfig, Verdict};
use deleverage_core::*;

mod common;
use common::Rng;

/// Binance BTCUSDT brackets (announcement "Updates to Leverage and Margin Tiers of Binance
/// Futures Contracts (2021-03-18)"): floors in USDT, mmr and imr in %.
const BTC_TABLE: [(i64, i64, i64); 10] = [
    (0, 400_000, 800_000),
    (50_000, 500_000, 1_000_000),
    (250_000, 1_000_000, 2_000_000),
    (1_000_000, 2_500_000, 5_000_000),
    (10_000_000, 5_000_000, 10_000_000),
    (20_000_000, 10_000_000, 20_000_000),
    (50_000_000, 12_500_000, 25_000_000),
    (100_000_000, 15_000_000, 33_300_000),
    (200_000_000, 25_000_000, 50_000_000),
    (300_000_000, 50_000_000, 100_000_000),
];

/// BTCUSDT at P = 2, D = 3 (tier units 10^-5 USDT), mark in ticks.
fn btcusdt(mark: i64) -> MarketSpec {
    MarketSpec {
        floors: BTC_TABLE.iter().map(|t| t.0 * 100_000).collect(),
        mmr: BTC_TABLE.iter().map(|t| t.1).collect(),
        imr: BTC_TABLE.iter().map(|t| t.2).collect(),
        ..MarketSpec::one_tier("BTCUSDT", 500_000, mark)
    }
}

fn order(a: u32, m: u32, qty: i64, price: i64) -> Order {
    Order { id: 0, account: a, market: m, qty, price, reduce_only: false }
}

fn one(e: &Engine, o: Order) -> deleverage_core::order_check::OrderVerdict {
    e.check_orders(&[o], false).unwrap()[0]
}

/// Binance "How to Calculate Cost Required to Open a Position in Perpetual Futures Contracts":
/// 1 BTC at 9,253.30, mark 9,259.84, 20x (the default): IM = 9,253.30 / 20 = 462.665 (published
/// 462.66); open loss of the long 0, of the short 1 × |min(0, −1 × 6.54)| = 6.54.
#[test]
fn binance_order_cost() {
    let mut e = Engine::new(8).unwrap();
    e.add_market(btcusdt(925_984)).unwrap();
    e.add_accounts(&["t".into()], &[1_000_000_000_000]).unwrap();
    assert_eq!(e.leverage(0, 0).unwrap(), 20);
    let long = one(&e, order(0, 0, 1000, 925_330));
    assert_eq!((long.initial_margin, long.open_loss), (46_266_500_000, 0));
    let short = one(&e, order(0, 0, -1000, 925_330));
    assert_eq!(short.open_loss, 654_000_000);
}

/// Bybit "Order Cost (USDT Contract)": long 1 BTC at 50,000, 10x, taker fee 0.06 %: IM 5,000,
/// fee to open 30, fee to close 1 × 50,000 × (10 − 1)/10 × 0.06 % = 27; order cost 5,057.
#[test]
fn bybit_order_cost() {
    let mut e = Engine::new(8).unwrap();
    e.add_market(btcusdt(5_000_000)).unwrap();
    let cfg = PreTradeConfig { order_cost_fee_rate: 60_000, ..Default::default() };
    e.configure_pretrade(0, cfg).unwrap();
    e.add_accounts(&["t".into()], &[1_000_000_000_000]).unwrap();
    assert_eq!(e.set_leverage(0, 0, 10).unwrap(), Verdict::Accepted);
    let v = one(&e, order(0, 0, 1000, 5_000_000));
    assert_eq!((v.initial_margin, v.fee), (500_000_000_000, 5_700_000_000));
    assert_eq!(v.cost(), 505_700_000_000);
}

/// The maximum position at each leverage of the same Binance BTCUSDT table (position ≤ cap).
#[test]
fn binance_max_position_at_leverage() {
    let mk = Market::new(btcusdt(5_000_000), 8).unwrap();
    let cap = |l| max_position_value(&mk, l).map(|v| v / 100_000);
    let table = [(125, 50_000), (100, 250_000), (50, 1_000_000), (20, 10_000_000)];
    for (l, usdt) in table {
        assert_eq!(cap(l), Some(usdt), "{l}x");
    }
    assert_eq!(cap(10), Some(20_000_000));
    assert_eq!(cap(5), Some(50_000_000));
    assert_eq!(cap(4), Some(100_000_000));
    assert_eq!(cap(3), Some(200_000_000));
    assert_eq!(cap(2), Some(300_000_000));
    // At 125x and a mark of 50,000 the largest order is exactly 1 BTC (notional 50,000).
    let mut e = Engine::new(8).unwrap();
    e.add_market(btcusdt(5_000_000)).unwrap();
    e.add_accounts(&["t".into()], &[i64::MAX / 4]).unwrap();
    assert_eq!(e.set_leverage(0, 0, 125).unwrap(), Verdict::Accepted);
    assert_eq!(e.max_order_qty(0, 0, true, 5_000_000, false).unwrap(), 1000);
    assert_eq!(one(&e, order(0, 0, 1001, 5_000_000)).verdict, Verdict::RiskLimit);
}

fn random_book(rng: &mut Rng) -> Engine {
    let mut e = Engine::new(6).unwrap();
    for (i, sym) in ["A", "B"].iter().enumerate() {
        let mut s = btcusdt(rng.range(100_000, 5_000_000));
        s.symbol = sym.to_string();
        if i == 1 {
            s.basis = MarginBasis::Entry;
        }
        e.add_market(s).unwrap();
        let cfg = PreTradeConfig {
            price_band_ppm: rng.pick(&[0, 50_000]),
            max_account_position: rng.pick(&[0, 20_000]),
            max_open_interest: rng.pick(&[0, 60_000]),
            exclude_profit: rng.range(0, 1) == 1,
            order_cost_fee_rate: rng.pick(&[0, 55_000]),
            ..Default::default()
        };
        e.configure_pretrade(i as u32, cfg).unwrap();
    }
    let ids: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
    let bal: Vec<i64> = (0..6).map(|_| rng.range(0, 2_000_000_000)).collect();
    e.add_accounts(&ids, &bal).unwrap();
    for a in 0..6 {
        for m in 0..2 {
            if rng.range(0, 2) == 0 {
                continue;
            }
            let mark = e.markets()[m as usize].mark;
            let entry = mark + rng.range(-mark / 10, mark / 10);
            let q = rng.range(1, 10_000) * rng.pick(&[1, -1]);
            let rows = PositionRows {
                account: &[a],
                market: &[m],
                qty: &[q],
                price: &[entry],
                isolated_margin: &[0],
                flags: &[0],
            };
            e.set_positions(&rows).unwrap();
        }
        let _ = e.set_leverage(a, 0, rng.range(1, 125));
    }
    e
}

fn random_order(rng: &mut Rng, e: &Engine) -> Order {
    let m = rng.range(0, 1) as u32;
    let mark = e.markets()[m as usize].mark;
    let price = if rng.range(0, 4) == 0 { 0 } else { mark + rng.range(-mark / 8, mark / 8) };
    Order {
        id: 0,
        account: rng.range(0, 5) as u32,
        market: m,
        qty: rng.range(1, 8_000) * rng.pick(&[1, -1]),
        price,
        reduce_only: rng.range(0, 5) == 0,
    }
}

#[test]
fn max_order_qty_is_the_flip_of_the_check() {
    let mut rng = Rng(0x5eed_1234);
    for _ in 0..200 {
        let mut e = random_book(&mut rng);
        for _ in 0..rng.range(0, 4) {
            let o = random_order(&mut rng, &e);
            e.place_orders(&[o]).unwrap();
        }
        let o = random_order(&mut rng, &e);
        let buy = o.qty > 0;
        let n = e.max_order_qty(o.account, o.market, buy, o.price, o.reduce_only).unwrap();
        let at = |q: i64| {
            let v = one(&e, Order { qty: if buy { q } else { -q }, ..o });
            v.verdict
        };
        if n > 0 {
            assert_eq!(at(n), Verdict::Accepted, "{o:?} max {n}");
        }
        assert_ne!(at(n + 1), Verdict::Accepted, "{o:?} max {n}");
    }
}

#[test]
fn sequential_batch_equals_placing_one_by_one() {
    let mut rng = Rng(0xabcd_ef01);
    for _ in 0..100 {
        let e = random_book(&mut rng);
        let batch: Vec<Order> = (0..12).map(|_| random_order(&mut rng, &e)).collect();
        let together = e.check_orders(&batch, true).unwrap();
        let mut f = e.clone();
        for (o, v) in batch.iter().zip(&together) {
            let (placed, _) = f.place_orders(&[*o]).unwrap()[0];
            assert_eq!(placed, *v);
        }
        let mut g = e.clone();
        let all = g.place_orders(&batch).unwrap();
        assert_eq!(g.state_hash(), f.state_hash());
        assert_eq!(all.iter().map(|x| x.0).collect::<Vec<_>>(), together);
    }
}

/// With unrealised profit counted and no other open orders, an accepted order filled at its
/// price leaves cross equity ≥ the positions' initial margin.
#[test]
fn accepted_then_filled_stays_above_initial_margin() {
    let mut rng = Rng(0x0fed_cba9);
    let mut filled = 0;
    for _ in 0..1000 {
        let mut e = random_book(&mut rng);
        for m in 0..2 {
            let c = PreTradeConfig { exclude_profit: false, ..e.pretrade().config(m) };
            e.configure_pretrade(m, c).unwrap();
        }
        let o = random_order(&mut rng, &e);
        let before = e.account_margin(o.account).unwrap();
        let (v, id) = e.place_orders(&[o]).unwrap()[0];
        if v.verdict != Verdict::Accepted || v.open_qty == 0 || before.available < 0 {
            continue;
        }
        let price = if o.price == 0 { e.markets()[o.market as usize].mark } else { o.price };
        e.fill_orders(&[id], &[o.qty.abs()], &[price]).unwrap();
        let after = e.account_margin(o.account).unwrap();
        assert!(after.counted_equity >= after.initial_margin, "{o:?} {before:?} {after:?}");
        filled += 1;
    }
    assert!(filled > 50, "only {filled} orders filled");
}

#[test]
fn rejected_calls_change_nothing() {
    let mut rng = Rng(0x1357_9bdf);
    for _ in 0..50 {
        let mut e = random_book(&mut rng);
        let h = e.state_hash();
        let o = random_order(&mut rng, &e);
        assert!(e.place_orders(&[Order { qty: 0, ..o }]).is_err());
        assert_eq!(e.cancel_orders(&[12345]).unwrap_err().code, ErrorCode::UnknownOrder);
        assert_eq!(e.set_leverage(0, 0, 126).unwrap_err().code, ErrorCode::InvalidLeverage);
        assert!(e.fill_orders(&[1], &[1], &[1]).is_err());
        assert_eq!(e.state_hash(), h);
    }
}

#[test]
fn reduce_only_band_and_liquidating() {
    let mut e = Engine::new(6).unwrap();
    e.add_market(btcusdt(5_000_000)).unwrap();
    let cfg = PreTradeConfig { price_band_ppm: 50_000, ..Default::default() };
    e.configure_pretrade(0, cfg).unwrap();
    e.add_accounts(&["x".into(), "y".into()], &[100_000_000_000, 1]).unwrap();
    let rows = PositionRows {
        account: &[0, 1],
        market: &[0, 0],
        qty: &[2000, 2000],
        price: &[5_000_000, 6_000_000],
        isolated_margin: &[0, 0],
        flags: &[0, 0],
    };
    e.set_positions(&rows).unwrap();
    // Buys above mark + 5 % and sells below mark − 5 % are outside the band.
    assert_eq!(one(&e, order(0, 0, 1, 5_250_001)).verdict, Verdict::PriceBand);
    assert_eq!(one(&e, order(0, 0, 1, 5_250_000)).verdict, Verdict::Accepted);
    assert_eq!(one(&e, order(0, 0, -1, 4_749_999)).verdict, Verdict::PriceBand);
    // Reduce-only sells up to the long; one lot more opens a short.
    let ro = Order { reduce_only: true, ..order(0, 0, -2000, 0) };
    assert_eq!(one(&e, ro).verdict, Verdict::Accepted);
    assert_eq!(one(&e, Order { qty: -2001, ..ro }).verdict, Verdict::ReduceOnly);
    // Account y is under water: it may sell down its long, not buy.
    assert_eq!(one(&e, order(1, 0, -2000, 0)).verdict, Verdict::Accepted);
    assert_eq!(one(&e, order(1, 0, 1, 0)).verdict, Verdict::Liquidating);
    // The open orders reserve margin; cancelling gives it back.
    let before = e.account_margin(0).unwrap();
    let placed = e.place_orders(&[order(0, 0, 1000, 5_000_000)]).unwrap();
    let during = e.account_margin(0).unwrap();
    assert_eq!(during.order_margin, placed[0].0.cost());
    e.cancel_orders(&[placed[0].1]).unwrap();
    assert_eq!(e.account_margin(0).unwrap(), before);
}

#[test]
fn what_if_reports_the_position_after() {
    let mut e = Engine::new(8).unwrap();
    e.add_market(btcusdt(5_000_000)).unwrap();
    e.add_accounts(&["x".into()], &[100_000_000_000]).unwrap();
    let w = e.what_if(0, &[order(0, 0, 1000, 5_000_000)]).unwrap();
    assert_eq!(w.positions.len(), 1);
    let p = w.positions[0];
    assert_eq!((p.qty, p.cost), (1000, 5_000_000_000));
    // Equity 1,000 USDT on 1 BTC at 50,000: liquidation where 1,000 + (x − 50,000) = 0.4 %·x.
    let liq = p.liquidation.unwrap().conservative;
    let at = |x: i64| {
        let (q, c) = (1000i128, 5_000_000_000i128);
        let u = (q * x as i128 - c) * 1000; // atoms at Q = 8: ×10^(8−2−3)
        100_000_000_000 + u - (q * x as i128 * 400_000 * 1000 + 99_999_999) / 100_000_000
    };
    assert!(at(liq) <= 0 && at(liq + 1) > 0);
    assert_eq!(w.after.initial_margin, 250_000_000_000);
    assert_eq!(e.account_margin(0).unwrap().initial_margin, 0);
}

#[test]
fn snapshots_carry_the_pretrade_state() {
    let mut rng = Rng(0x2468_ace0);
    for _ in 0..50 {
        let mut e = random_book(&mut rng);
        let plain = Engine::new(6).unwrap();
        // An engine that never used pre-trade writes no section: its bytes are as before.
        assert_eq!(
            plain.state_bytes().len(),
            Engine::restore(&plain.snapshot()).unwrap().state_bytes().len()
        );
        let batch: Vec<Order> = (0..6).map(|_| random_order(&mut rng, &e)).collect();
        e.place_orders(&batch).unwrap();
        if rng.range(0, 1) == 1 {
            e.trim_events(0).unwrap();
        }
        let back = Engine::restore(&e.snapshot()).unwrap();
        assert_eq!(back.state_hash(), e.state_hash());
        for a in 0..6 {
            assert_eq!(back.pretrade().orders_of(a), e.pretrade().orders_of(a));
            assert_eq!(back.account_margin(a).unwrap(), e.account_margin(a).unwrap());
        }
        let o = random_order(&mut rng, &e);
        assert_eq!(back.check_orders(&[o], true).unwrap(), e.check_orders(&[o], true).unwrap());
    }
}
