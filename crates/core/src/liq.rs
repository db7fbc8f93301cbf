//! Liquidation and bankruptcy prices (SPEC §6): the mark of one market at which the account's
//! predicate flips, other marks fixed, solved per tier segment on the market's price grid
//! (multiples of its tick size, SPEC §2.5). The trigger price uses the engine's rounded predicate;
//! the nearest price the exact (unrounded) crossing (SPEC §6.3).
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
    /// The grid point nearest to the exact crossing (as venues display it); a crossing exactly
    /// half-way goes to the grid point where the exact predicate holds.
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
            (
                ratio(a, m.inverse_exp() + k as i32, lim, Round::Ceil, "price domain")?
                    .clamp(1, pmax + 1),
                pmax,
            )
        }
    };
    Ok((lo as i64, hi as i64))
}

/// A signed 256-bit integer (two's complement, little-endian limbs): enough for every product of
/// the exact predicate (SPEC §6.3), whose terms stay below 2^200.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct I256([u64; 4]);

impl I256 {
    fn from(x: i128) -> I256 {
        let v = x as u128;
        let ext = if x < 0 { u64::MAX } else { 0 };
        I256([v as u64, (v >> 64) as u64, ext, ext])
    }
    fn add(self, o: I256) -> I256 {
        let mut r = [0u64; 4];
        let mut carry = 0u128;
        for (ri, (a, b)) in r.iter_mut().zip(self.0.iter().zip(o.0.iter())) {
            let t = *a as u128 + *b as u128 + carry;
            *ri = t as u64;
            carry = t >> 64;
        }
        I256(r)
    }
    fn neg(self) -> I256 {
        I256(self.0.map(|l| !l)).add(I256::from(1))
    }
    fn sub(self, o: I256) -> I256 {
        self.add(o.neg())
    }
    /// Product modulo 2^256, which is the signed product when it fits.
    fn mul(self, o: I256) -> I256 {
        let mut r = [0u64; 4];
        for i in 0..4 {
            let mut carry = 0u128;
            for j in 0..4 - i {
                let t = self.0[i] as u128 * o.0[j] as u128 + r[i + j] as u128 + carry;
                r[i + j] = t as u64;
                carry = t >> 64;
            }
        }
        I256(r)
    }
    fn signum(self) -> i32 {
        if self.0[3] >> 63 == 1 {
            -1
        } else if self.0 == [0; 4] {
            0
        } else {
            1
        }
    }
}

fn w(x: i128) -> I256 {
    I256::from(x)
}

/// The sign of the exact (unrounded) slack at price x on grid k (SPEC §6.3):
/// `base + uPnL(x) − MM(x)` (with_mm) or `base + uPnL(x)`, uPnL and MM as §3.2/§4.3 before their
/// rounding, in the tier the engine uses at x (§4.1). The slack is multiplied by a positive
/// integer so that every term is an integer: linear 10^(8+k−s) (or 1 when s − k > 8), inverse
/// 10^8·x·10^max(0, −(t+k)).
fn exact_sign(
    m: &Market,
    qty: i64,
    cost: i64,
    base: i128,
    x: i64,
    k: u32,
    with_mm: bool,
) -> Result<i32> {
    let (q, c) = (qty as i128, cost as i128);
    let (mmr, cum) = if with_mm {
        let t = &m.tiers[m.tier_index(m.margin_value_at(qty, cost, x, k)?, k)];
        (t.mmr as i128, t.maint_amount)
    } else {
        (0, 0)
    };
    let rate = RATE_SCALE as i128;
    let g = match m.kind {
        ContractKind::Linear => {
            // slack = base + (q·x − c·10^k)·10^(s−k) − (V·mmr − cum·10^k)·10^(s−k−8)
            let e = m.quote_exp() - k as i32 - RATE_DECIMALS as i32;
            let (ea, eb, ec) = if e <= 0 {
                ((-e) as u32, RATE_DECIMALS, 0)
            } else {
                (0, (e + RATE_DECIMALS as i32) as u32, e as u32)
            };
            let v = match m.basis {
                MarginBasis::Mark => w(q.abs()).mul(w(x as i128)),
                MarginBasis::Entry => w(c.abs()).mul(w(pow10(k))),
            };
            let pnl = w(q).mul(w(x as i128)).sub(w(c).mul(w(pow10(k))));
            let mm = v.mul(w(mmr)).sub(w(cum).mul(w(pow10(k))));
            w(base).mul(w(pow10(ea))).add(pnl.mul(w(pow10(eb)))).sub(mm.mul(w(pow10(ec))))
        }
        ContractKind::Inverse => {
            // slack = base + c − q·S/x − MM with S = size·10^(t+k); × 10^8·X, X = x·10^max(0,−(t+k))
            let te = m.inverse_exp() + k as i32;
            let big_x = w(x as i128).mul(w(pow10((-te).max(0) as u32)));
            let s = w(m.contract_size as i128).mul(w(pow10(te.max(0) as u32)));
            let fixed = match m.basis {
                MarginBasis::Mark => w(base).add(w(c)).mul(w(rate)).add(w(cum)),
                MarginBasis::Entry => {
                    w(base).add(w(c)).mul(w(rate)).sub(w(c.abs()).mul(w(mmr))).add(w(cum))
                }
            };
            let moving = match m.basis {
                MarginBasis::Mark => w(q).mul(w(rate)).add(w(q.abs()).mul(w(mmr))),
                MarginBasis::Entry => w(q).mul(w(rate)),
            };
            fixed.mul(big_x).sub(s.mul(moving))
        }
    };
    Ok(g.signum())
}

#[inline]
pub(crate) fn liquidatable(
    m: &Market,
    qty: i64,
    cost: i64,
    base: i128,
    x: i64,
    k: u32,
) -> Result<bool> {
    let g = sub(
        add(base, m.upnl_at(qty, cost, x, k)?, "liquidation predicate")?,
        m.maintenance_margin_at(qty, cost, x, k)?,
        "liquidation predicate",
    )?;
    Ok(g <= 0)
}

#[inline]
fn solvent(m: &Market, qty: i64, cost: i64, base: i128, x: i64, k: u32) -> Result<bool> {
    Ok(add(base, m.upnl_at(qty, cost, x, k)?, "bankruptcy predicate")? >= 0)
}

/// Largest x in (lo, hi] with p(x) = `want`, given p(lo) = want and p(hi) ≠ want, found by
/// bisection: the answer always has p(x) = want and p(x+1) ≠ want, monotone or not.
fn last_where(
    mut lo: i64,
    mut hi: i64,
    want: bool,
    p: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<i64> {
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

/// The position's domain (SPEC §2.3) as grid indices j (price j·tickSize); None when empty.
pub(crate) fn grid_domain(m: &Market, qty: i64) -> Result<Option<(i64, i64)>> {
    let (lo, hi) = domain(m, qty, 0)?;
    let g = m.tick_size;
    let (jlo, jhi) =
        (div_ceil(lo as i128, g as i128) as i64, div_floor(hi as i128, g as i128) as i64);
    Ok(if lo > hi || jlo > jhi { None } else { Some((jlo, jhi)) })
}

/// Maximal runs of grid indices on which the maintenance tier does not change.
pub(crate) fn tier_segments(
    m: &Market,
    qty: i64,
    cost: i64,
    lo: i64,
    hi: i64,
) -> Result<Vec<(i64, i64)>> {
    if m.basis == MarginBasis::Entry || m.tiers.len() == 1 {
        return Ok(vec![(lo, hi)]);
    }
    let tier_of = |j: i64| -> Result<usize> {
        Ok(m.tier_index(m.margin_value_at(qty, cost, j * m.tick_size, 0)?, 0))
    };
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

/// The liquidation search of SPEC §6.1 over the runs, for predicate `pred` on grid indices.
pub(crate) fn last_liquidatable(
    segs: &[(i64, i64)],
    long: bool,
    pred: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<Option<i64>> {
    if long {
        // A long's predicate falls as the mark rises within a tier: take the highest run where it
        // holds, and in it the last point where it holds.
        for &(a, b) in segs.iter().rev() {
            if pred(a)? {
                return Ok(Some(if pred(b)? { b } else { last_where(a, b, true, pred)? }));
            }
        }
    } else {
        for &(a, b) in segs.iter() {
            if pred(b)? {
                return Ok(Some(if pred(a)? { a } else { last_where(a, b, false, pred)? + 1 }));
            }
        }
    }
    Ok(None)
}

/// `last_liquidatable` on the exact predicate `ex`, found from the trigger t: the rounded slack is
/// never above the exact one, so the exact predicate holds nowhere in the runs above t's, and in
/// t's run (where the exact slack is monotone: one tier) it holds on a prefix (long) or suffix
/// (short) ending at or before t. So when it holds at the run's far end, the same point E is
/// found by galloping from t (O(log |t − E|) evaluations); otherwise by the full search.
fn exact_liquidation_edge(
    segs: &[(i64, i64)],
    long: bool,
    t: i64,
    ex: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<Option<i64>> {
    let &(a, b) = segs.iter().find(|s| s.0 <= t && t <= s.1).expect("the trigger lies in a run");
    let (far, step) = if long { (a, -1) } else { (b, 1) };
    if !ex(far)? {
        return last_liquidatable(segs, long, ex);
    }
    Ok(Some(gallop(t, far, step, true, ex)?))
}

/// From `from` (where the monotone predicate may fail) towards `to` (where it holds), by `step`:
/// the point nearest `from` where it holds (= `want`), doubling the stride, then bisecting.
fn gallop(
    from: i64,
    to: i64,
    step: i64,
    want: bool,
    p: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<i64> {
    if p(from)? == want {
        return Ok(from);
    }
    let (mut miss, mut d) = (from, 1i64);
    loop {
        let x = if step < 0 { (from - d).max(to) } else { (from + d).min(to) };
        if p(x)? == want {
            // Between the last miss and x: bisection for the point next to the misses.
            return Ok(if step < 0 {
                last_where(x, miss, want, p)?
            } else {
                last_where(miss, x, !want, p)? + 1
            });
        }
        miss = x;
        d = d.saturating_mul(2);
    }
}

/// Liquidation price of a position whose account has `base` (see module doc). None when the
/// predicate holds nowhere on the domain (a long that cannot fall far enough, say).
pub fn liquidation_price(
    m: &Market,
    qty: i64,
    cost: i64,
    base: i128,
) -> Result<Option<SolvedPrice>> {
    if qty == 0 {
        return Ok(None);
    }
    let Some((lo, hi)) = grid_domain(m, qty)? else { return Ok(None) };
    let g = m.tick_size;
    let segs = tier_segments(m, qty, cost, lo, hi)?;
    let long = qty > 0;
    let Some(t) =
        last_liquidatable(&segs, long, &mut |j| liquidatable(m, qty, cost, base, j * g, 0))?
    else {
        return Ok(None);
    };
    // Nearest: the same search on the exact predicate gives the grid point e next to the exact
    // crossing on its liquidatable side; the crossing lies past the half-way point towards safety
    // exactly when the exact slack there is < 0 (= 0: half-way, stays at e).
    let exact = exact_liquidation_edge(&segs, long, t, &mut |j| {
        Ok(exact_sign(m, qty, cost, base, j * g, 0, true)? <= 0)
    })?;
    let nearest = match exact {
        None => t,
        Some(e) => {
            let (step, inside) = if long { (1, e < hi) } else { (-1, e > lo) };
            if inside && exact_sign(m, qty, cost, base, (10 * e + 5 * step) * g, 1, true)? < 0 {
                e + step
            } else {
                e
            }
        }
    };
    Ok(Some(SolvedPrice { conservative: t * g, nearest: nearest * g }))
}

/// Bankruptcy price: the grid point where equity is still ≥ 0 while one point worse it is < 0.
/// None when equity keeps its sign over the whole domain.
pub fn bankruptcy_price(
    m: &Market,
    qty: i64,
    cost: i64,
    base: i128,
) -> Result<Option<SolvedPrice>> {
    if qty == 0 {
        return Ok(None);
    }
    let Some((lo, hi)) = grid_domain(m, qty)? else { return Ok(None) };
    let g = m.tick_size;
    let Some(t) = solvency_edge(lo, hi, qty > 0, &mut |j| solvent(m, qty, cost, base, j * g, 0))?
    else {
        return Ok(None);
    };
    let exact = exact_solvency_edge(lo, hi, qty > 0, t, &mut |j| {
        Ok(exact_sign(m, qty, cost, base, j * g, 0, false)? >= 0)
    })?;
    // Nearest: from the exact edge e (solvent), one point worse when the exact crossing lies
    // beyond the half-way point, i.e. the exact equity there is > 0 (= 0: stays at e).
    let nearest = match exact {
        None => t,
        Some(e) => {
            let step = if qty > 0 { -1 } else { 1 };
            if exact_sign(m, qty, cost, base, (10 * e + 5 * step) * g, 1, false)? > 0 {
                e + step
            } else {
                e
            }
        }
    };
    Ok(Some(SolvedPrice { conservative: t * g, nearest: nearest * g }))
}

/// `solvency_edge` on the exact predicate, found from the trigger t: rounded solvency implies
/// exact solvency and the exact equity is monotone in the price, so the exact edge lies at or
/// beyond t on the insolvent side; a gallop from t finds it (None when the predicate holds
/// at the domain's insolvent end, as the full search says).
fn exact_solvency_edge(
    lo: i64,
    hi: i64,
    long: bool,
    t: i64,
    ok: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<Option<i64>> {
    let (end, step) = if long { (lo, -1) } else { (hi, 1) };
    if ok(end)? {
        return Ok(None);
    }
    // The last solvent point walking from t towards `end`: one before the first insolvent one.
    Ok(Some(gallop(t, end, step, false, ok)? - step))
}

/// SPEC §6.2 on grid indices: a long's lowest solvent point when the low end is not solvent and
/// the high end is (a short mirrored); None otherwise.
fn solvency_edge(
    lo: i64,
    hi: i64,
    long: bool,
    ok: &mut impl FnMut(i64) -> Result<bool>,
) -> Result<Option<i64>> {
    if long {
        if ok(lo)? || !ok(hi)? {
            return Ok(None);
        }
        Ok(Some(last_where(lo, hi, false, ok)? + 1))
    } else {
        if !ok(lo)? || ok(hi)? {
            return Ok(None);
        }
        Ok(Some(last_where(lo, hi, true, ok)?))
    }
}

/// SPEC §6's base of one position for its bankruptcy price: collateral + Σ uPnL of the account's
/// other cross positions (an isolated position's base is its isolated margin alone). The one
/// place engine (position risks), planner and waterfall (takeover) form it.
pub fn bankruptcy_base(collateral: i128, others_upnl: i128) -> Result<i128> {
    add(collateral, others_upnl, "bankruptcy base")
}

/// SPEC §6's base for the liquidation price: the bankruptcy base − Σ MM of the other cross
/// positions.
pub fn liquidation_base(bankruptcy_base: i128, others_mm: i128) -> Result<i128> {
    sub(bankruptcy_base, others_mm, "liquidation base")
}

/// Why a position's liquidation price is not shown (SPEC §6.4), as a code of
/// `tables::LIQUIDATION_PRICE_REASONS`: 0 = it has one; 1 = never (the predicate holds nowhere
/// on the domain); 2 = always (it holds at the domain's safe end, the highest price for a long,
/// the lowest for a short, so no mark in range keeps the position safe). `p` is
/// `liquidation_price`'s answer for the same position.
pub fn liquidation_price_reason(m: &Market, qty: i64, p: Option<SolvedPrice>) -> Result<u8> {
    let Some(s) = p else { return Ok(1) };
    let Some((lo, hi)) = grid_domain(m, qty)? else { return Ok(1) };
    let edge = if qty > 0 { hi } else { lo };
    Ok(if s.conservative == edge * m.tick_size { 2 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{MarketSpec, MarketTerms, TierForm};

    /// SPEC §6.4's reasons: a long backed beyond its notional is never liquidatable, a short
    /// whose account owes more than it can earn always is, and alice of liq-map.test.ts
    /// (1 BTC long at 30 000, 3 000 margin, mmr 0.5 %) has her price, 27135.67.
    #[test]
    fn liquidation_price_reasons() {
        let spec = MarketSpec::one_tier("M", 500_000, 3_000_000);
        let m =
            Market::with_terms(spec, MarketTerms { tick_size: 1, settle_asset: None }, 8).unwrap();
        let unit = 100_000_000i128;
        let solve = |q: i64, base: i128| {
            let cost = m.cost_basis(q, 3_000_000).unwrap();
            let p = liquidation_price(&m, q, cost, base * unit).unwrap();
            (p.map(|s| s.conservative), liquidation_price_reason(&m, q, p).unwrap())
        };
        assert_eq!(solve(1000, 100_000), (None, 1));
        // The solver's own answer stays the domain's low edge (the map and planner use it).
        assert_eq!(solve(-1000, -40_000), (Some(1), 2));
        assert_eq!(solve(1000, 3_000), (Some(2_713_567), 0));
    }

    /// The gallops from the trigger find the same exact edges as the full searches, on random
    /// tiered markets and positions (tick sizes included).
    #[test]
    fn gallop_equals_the_full_search() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: i64| -> i64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n as u64) as i64
        };
        let (mut compared, mut far) = (0, 0);
        for _ in 0..3_000 {
            let kind = if rnd(2) == 0 { ContractKind::Linear } else { ContractKind::Inverse };
            let g = [1, 2, 5, 25][rnd(4) as usize];
            // Up to 4 price decimals: a tick then moves equity by far less than an atom, so the
            // exact edge lies many ticks from the trigger and the gallop has work to do.
            let p = [1u32, 2, 4][rnd(3) as usize];
            let unit = 10i64.pow(p);
            let spec = MarketSpec {
                symbol: "M".into(),
                kind,
                price_decimals: p,
                qty_decimals: if kind == ContractKind::Linear { 3 } else { 0 },
                contract_size: if kind == ContractKind::Linear { 1 } else { 100 },
                basis: if rnd(3) == 0 { MarginBasis::Entry } else { MarginBasis::Mark },
                form: if rnd(2) == 0 { TierForm::Deduction } else { TierForm::Step },
                floors: vec![0, 1 + rnd(50_000_000), 60_000_000 + rnd(1_000_000_000)],
                mmr: vec![400_000, 1_000_000, 2_500_000],
                imr: vec![800_000, 2_000_000, 5_000_000],
                maint_amount: None,
                mark: 30_000 * unit,
            };
            let m = Market::with_terms(spec, MarketTerms { tick_size: g, settle_asset: None }, 8)
                .unwrap();
            let digits = 1 + rnd(5) as u32;
            let q = (1 + rnd(10i64.pow(digits))) * if rnd(2) == 0 { 1 } else { -1 };
            let Ok(cost) = m.cost_basis(q, (20_000 + rnd(20_000)) * unit) else { continue };
            let digits = 2 + rnd(9) as u32;
            let base = (rnd(10i64.pow(digits)) - 100) as i128;
            let Some((lo, hi)) = grid_domain(&m, q).unwrap() else { continue };
            let segs = tier_segments(&m, q, cost, lo, hi).unwrap();
            let long = q > 0;
            let mut ex = |j: i64| Ok(exact_sign(&m, q, cost, base, j * g, 0, true)? <= 0);
            if let Some(t) =
                last_liquidatable(&segs, long, &mut |j| liquidatable(&m, q, cost, base, j * g, 0))
                    .unwrap()
            {
                let full = last_liquidatable(&segs, long, &mut ex).unwrap();
                assert_eq!(exact_liquidation_edge(&segs, long, t, &mut ex).unwrap(), full);
                far += full.is_some_and(|e| (e - t).abs() > 2) as i32;
                compared += 1;
            }
            let mut ok = |j: i64| Ok(exact_sign(&m, q, cost, base, j * g, 0, false)? >= 0);
            if let Some(t) =
                solvency_edge(lo, hi, long, &mut |j| solvent(&m, q, cost, base, j * g, 0)).unwrap()
            {
                assert_eq!(
                    exact_solvency_edge(lo, hi, long, t, &mut ok).unwrap(),
                    solvency_edge(lo, hi, long, &mut ok).unwrap()
                );
                compared += 1;
            }
        }
        assert!(compared > 3_000, "{compared}");
        assert!(far > 50, "only {far} edges more than 2 grid steps from their trigger");
    }
}
