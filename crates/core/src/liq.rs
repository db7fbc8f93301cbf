//! Liquidation and bankruptcy prices (SPEC §6): the mark of one market at which the account's
//! predicate flips, other marks fixed, solved per tier segment on the integer tick grid.
//!
//! `base` folds in everything that does not move with this market's mark:
//!   liquidation: base = collateral + Σ_{others}(uPnL − MM), liquidatable ⇔ base + uPnL(x) − MM(x) ≤ 0
//!   bankruptcy:  base = collateral + Σ_{others} uPnL,          solvent      ⇔ base + uPnL(x) ≥ 0
//! where collateral is the wallet balance (cross) or the isolated margin.

use crate::error::Result;
use crate::market::{ContractKind, MarginBasis, Market};
use crate::num::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SolvedPrice {
    /// The tick where the predicate holds while one tick better it does not (trigger price).
    pub conservative: i64,
    /// The tick nearest to the exact crossing (as venues display it); a crossing exactly half-way
    /// goes to the tick where the predicate holds.
    pub nearest: i64,
}

/// The slice of the grid-k price axis on which the position's value fits i64 atoms (SPEC §2.3).
/// Empty (lo > hi) when no price does.
pub fn domain(m: &Market, qty: i64, k: u32) -> Result<(i64, i64)> {
    let pmax = PRICE_MAX_TICKS as i128 * pow10(k);
    let aq = (qty as i128).abs();
    let lim = i64::MAX as i128;
    let (lo, hi) = match m.kind {
        ContractKind::Linear => {
            // |q|·x·10^(s−k) ≤ i64::MAX  ⇔  x ≤ i64::MAX·10^(k−s) / |q|
            let s = m.quote_exp();
            (1, ratio(lim, k as i32 - s, aq, Round::Floor, "price domain")?.min(pmax))
        }
        ContractKind::Inverse => {
            let a = mul(aq, m.contract_size as i128, "price domain")?;
            (ratio(a, m.inverse_exp() + k as i32, lim, Round::Ceil, "price domain")?.clamp(1, pmax + 1), pmax)
        }
    };
    Ok((lo as i64, hi as i64))
}

#[inline]
fn liquidatable(m: &Market, qty: i64, cost: i64, base: i128, x: i64, k: u32) -> Result<bool> {
    let g = sub(add(base, m.upnl_at(qty, cost, x, k)?, "liquidation predicate")?, m.maintenance_margin_at(qty, cost, x, k)?, "liquidation predicate")?;
    Ok(g <= 0)
}

#[inline]
fn solvent(m: &Market, qty: i64, cost: i64, base: i128, x: i64, k: u32) -> Result<bool> {
    Ok(add(base, m.upnl_at(qty, cost, x, k)?, "bankruptcy predicate")? >= 0)
}

/// Largest x in (lo, hi] with p(x) = `want`, given p(lo) = want and p(hi) ≠ want, found by
/// bisection: the answer always has p(x) = want and p(x+1) ≠ want, monotone or not.
fn last_where(mut lo: i64, mut hi: i64, want: bool, p: &mut impl FnMut(i64) -> Result<bool>) -> Result<i64> {
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if p(mid)? == want {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Maximal runs of the grid-0 price axis on which the maintenance tier does not change.
fn tier_segments(m: &Market, qty: i64, cost: i64, lo: i64, hi: i64) -> Result<Vec<(i64, i64)>> {
    if m.basis == MarginBasis::Entry || m.tiers.len() == 1 {
        return Ok(vec![(lo, hi)]);
    }
    let tier_of = |x: i64| -> Result<usize> { Ok(m.tier_index(m.margin_value_at(qty, cost, x, 0)?, 0)) };
    let mut segs = Vec::with_capacity(m.tiers.len());
    let mut a = lo;
    loop {
        let t = tier_of(a)?;
        let b = if tier_of(hi)? == t {
            hi
        } else {
            last_where(a, hi, true, &mut |x| Ok(tier_of(x)? == t))?
        };
        segs.push((a, b));
        if b == hi {
            return Ok(segs);
        }
        a = b + 1;
    }
}

/// Liquidation price of a position whose account has `base` (see module doc). None when the
/// predicate holds nowhere on the domain (a long that cannot fall far enough, say).
pub fn liquidation_price(m: &Market, qty: i64, cost: i64, base: i128) -> Result<Option<SolvedPrice>> {
    if qty == 0 {
        return Ok(None);
    }
    let (lo, hi) = domain(m, qty, 0)?;
    if lo > hi {
        return Ok(None);
    }
    let mut pred = |x: i64| liquidatable(m, qty, cost, base, x, 0);
    let segs = tier_segments(m, qty, cost, lo, hi)?;
    let found = if qty > 0 {
        // A long's predicate falls as the mark rises within a tier: take the highest run where it
        // holds, and in it the last tick where it holds.
        let mut r = None;
        for &(a, b) in segs.iter().rev() {
            if pred(a)? {
                r = Some(if pred(b)? { b } else { last_where(a, b, true, &mut pred)? });
                break;
            }
        }
        r
    } else {
        let mut r = None;
        for &(a, b) in segs.iter() {
            if pred(b)? {
                r = Some(if pred(a)? { a } else { last_where(a, b, false, &mut pred)? + 1 });
                break;
            }
        }
        r
    };
    let Some(t) = found else { return Ok(None) };
    // Nearest tick: one evaluation half a tick towards safety (grid k = 1).
    let nearest = if qty > 0 {
        if t < hi && liquidatable(m, qty, cost, base, t * 10 + 5, 1)? { t + 1 } else { t }
    } else if t > lo && liquidatable(m, qty, cost, base, t * 10 - 5, 1)? {
        t - 1
    } else {
        t
    };
    Ok(Some(SolvedPrice { conservative: t, nearest }))
}

/// Bankruptcy price: the tick where equity is still ≥ 0 while one tick worse it is < 0.
/// None when equity keeps its sign over the whole domain.
pub fn bankruptcy_price(m: &Market, qty: i64, cost: i64, base: i128) -> Result<Option<SolvedPrice>> {
    if qty == 0 {
        return Ok(None);
    }
    let (lo, hi) = domain(m, qty, 0)?;
    if lo > hi {
        return Ok(None);
    }
    let mut ok = |x: i64| solvent(m, qty, cost, base, x, 0);
    if qty > 0 {
        if ok(lo)? || !ok(hi)? {
            return Ok(None);
        }
        let t = last_where(lo, hi, false, &mut ok)? + 1;
        let nearest = if solvent(m, qty, cost, base, t * 10 - 5, 1)? { t - 1 } else { t };
        Ok(Some(SolvedPrice { conservative: t, nearest }))
    } else {
        if !ok(lo)? || ok(hi)? {
            return Ok(None);
        }
        let t = last_where(lo, hi, true, &mut ok)?;
        let nearest = if solvent(m, qty, cost, base, t * 10 + 5, 1)? { t + 1 } else { t };
        Ok(Some(SolvedPrice { conservative: t, nearest }))
    }
}
