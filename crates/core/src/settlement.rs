//! One settlement asset per account (SPEC §5.4). Until accounts hold a wallet per asset, an
//! account's margin — its cross positions and its isolated ones, whose margin comes from and
//! returns to the same balance — may only combine markets that settle in one asset. Every write
//! that can open a position in a market an account does not hold checks it here, before it
//! changes anything: `set_positions` (and `add_accounts_with_positions` through it) and
//! `apply_fills`. The waterfall cannot mix: takeovers move positions to the liquidator
//! (no account), ADL and liquidation fills only reduce, loss shares and funding touch balances.

use std::collections::HashMap;

use crate::engine::{Engine, PositionRows};
use crate::error::{Error, ErrorCode, Result};
use crate::market::DEFAULT_LINEAR_ASSET;

/// Every market settles in the same asset: nothing can mix (the common case, checked in O(markets)).
pub fn one_asset(e: &Engine) -> bool {
    let ms = e.markets();
    ms.iter().all(|m| m.settle_asset == ms[0].settle_asset)
}

/// The lowest-index market among `markets` whose settlement asset differs from market `m`'s.
pub fn first_other(e: &Engine, m: u32, markets: impl Iterator<Item = u32>) -> Option<u32> {
    let asset = &e.markets()[m as usize].settle_asset;
    markets.filter(|&o| &e.markets()[o as usize].settle_asset != asset).min()
}

/// The error for account `a` holding market `m` beside market `other`.
pub fn mismatch(e: &Engine, a: u32, m: u32, other: u32) -> Error {
    let (mk, ok) = (&e.markets()[m as usize], &e.markets()[other as usize]);
    // "quote" is the default, not an asset the user named: say where it comes from.
    let default = DEFAULT_LINEAR_ASSET;
    let hint = if mk.settle_asset == default || ok.settle_asset == default {
        format!(" (a linear market without settleAsset settles in \"{default}\": give it the asset the other names)")
    } else {
        String::new()
    };
    Error::new(
        ErrorCode::SettlementMismatch,
        format!(
            "account {} cannot hold {} (settles in {}) beside {} (settles in {}): one account's margin combines markets of one settlement asset{hint}",
            e.accounts()[a as usize].id, mk.symbol, mk.settle_asset, ok.symbol, ok.settle_asset
        ),
    )
}

/// `set_positions`: each row that leaves a position (qty ≠ 0) is checked against the account's
/// positions the batch does not touch and those opened by earlier rows; the first row that
/// brings a second asset is reported.
pub fn check_position_rows(e: &Engine, rows: &PositionRows) -> Result<()> {
    if one_asset(e) {
        return Ok(());
    }
    let mut touched: HashMap<u32, Vec<u32>> = HashMap::new();
    for i in 0..rows.account.len() {
        touched.entry(rows.account[i]).or_default().push(rows.market[i]);
    }
    let mut opened: HashMap<u32, Vec<u32>> = HashMap::new();
    for i in 0..rows.account.len() {
        let (a, m) = (rows.account[i], rows.market[i]);
        if rows.qty[i] == 0 {
            continue;
        }
        let mine = &touched[&a];
        let kept =
            e.accounts()[a as usize].positions.iter().map(|p| p.0).filter(|o| !mine.contains(o));
        let before = opened.get(&a).into_iter().flatten().copied();
        if let Some(other) = first_other(e, m, kept.chain(before)) {
            return Err(mismatch(e, a, m, other).context(format!("row {i}")));
        }
        opened.entry(a).or_default().push(m);
    }
    Ok(())
}
