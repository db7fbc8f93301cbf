//! The full sweep's exact integer kernel (SPEC §5, §5.5). Per sweep and market, the formulas of
//! §3.2 and §4.3 at the current mark are reduced to a few integer constants:
//!
//! - the tier of a position is the number of tier limits its key reaches, where the key is |q|
//!   (mark basis: floor ≤ |q|·mark ⇔ |q| ≥ ceil(floor / mark)) or |cost| (entry basis);
//! - MM = ceil((key · A_t − B_t) / dv) with A_t = mark·rate_t (mark basis) or rate_t (entry),
//!   the rates and amounts divided by their common factor with 10^(8−s) (equal by algebra);
//! - uPnL = floor((q · mark·10^s⁺ − cost · 10^s⁺) / 10^s⁻).
//!
//! The store keeps an upper bound of |q| and |cost| per market over its rows that are not near
//! the limit (`MarketPositions::bound`), which proves once per sweep that these products fit
//! i64; a market where it does not (or an inverse market) takes the general i128 formulas of
//! market.rs, so every result is the same. The sweep walks the blocked layout (store.rs): per
//! block, each market's run of cross rows through the kernel into the block's accumulators, the
//! isolated runs with their scope check, the near-limit side list through the general formulas,
//! then the block's accounts — one pass. When the bounds of all markets together prove an
//! account's sums fit i64, the accumulators are i64 pairs (16 KiB a block), else (and in any
//! block with a near-limit cross position) i128 with checked additions.

use crate::engine::{margin_row_or_overflow, Engine, MarginRow, SweepResult};
use crate::error::{Error, ErrorCode, Result};
use crate::market::{ContractKind, MarginBasis, Market};
use crate::num::*;
use crate::store::{Block, BLOCK};
use std::sync::Mutex;

#[path = "sweep_simd.rs"]
mod simd;

/// Most tiers the kernel's fixed arrays hold; a market with more takes the general formulas.
const MAX_TIERS: usize = 16;

/// Constants of one linear market at the current mark.
#[derive(Clone, Copy)]
struct Linear {
    by_qty: bool,
    tiers: usize,
    lim: [i64; MAX_TIERS],
    a: [i64; MAX_TIERS],
    b: [i64; MAX_TIERS],
    dv: i64,
    m_up: i64,
    c_up: i64,
    du: i64,
}

// A plan is copied once per market per sweep, so its size does not matter; boxing would.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy)]
enum Plan {
    Linear(Linear),
    General,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

fn fit(x: i128) -> Option<i64> {
    i64::try_from(x).ok()
}

/// The plan of a market and an upper bound of |uPnL| + MM of any one of its positions.
fn plan(mk: &Market, max_qty: i64, max_cost: i64) -> (Plan, Option<i128>) {
    let bound = general_bound(mk, max_qty, max_cost);
    if mk.kind != ContractKind::Linear || mk.tiers.len() > MAX_TIERS {
        return (Plan::General, bound);
    }
    match linear(mk, max_qty, max_cost) {
        Some(l) => (Plan::Linear(l), bound),
        None => (Plan::General, bound),
    }
}

/// The linear constants, or None when a product could leave i64 for a stored position.
fn linear(mk: &Market, max_qty: i64, max_cost: i64) -> Option<Linear> {
    let s = mk.quote_exp();
    let mark = mk.mark as i128;
    let by_qty = mk.basis == MarginBasis::Mark;
    let e = s - RATE_DECIMALS as i32;
    let (mult, d) = if e >= 0 { (pow10(e as u32), 1) } else { (1, pow10((-e) as u32)) };
    let g = mk.tiers.iter().fold(d, |g, t| gcd(gcd(g, t.mmr as i128), t.maint_amount));
    let mut l = Linear {
        by_qty,
        tiers: mk.tiers.len(),
        lim: [i64::MAX; MAX_TIERS],
        a: [0; MAX_TIERS],
        b: [0; MAX_TIERS],
        dv: fit(d / g)?,
        m_up: fit(mark.checked_mul(pow10(s.max(0) as u32))?)?,
        c_up: fit(pow10(s.max(0) as u32))?,
        du: fit(pow10((-s).max(0) as u32))?,
    };
    let key_max = if by_qty { max_qty } else { max_cost } as i128;
    for (i, t) in mk.tiers.iter().enumerate() {
        // floor ≤ |q|·mark ⇔ |q| ≥ ceil(floor / mark) (floors are ≥ 0, |q| an integer).
        l.lim[i] = if by_qty { fit(div_ceil(t.floor as i128, mark))? } else { t.floor };
        let rate = t.mmr as i128 * mult / g;
        l.a[i] = fit(if by_qty { rate.checked_mul(mark)? } else { rate })?;
        l.b[i] = fit(t.maint_amount.checked_mul(mult)? / g)?;
        // key·A_t − B_t with B_t ≥ 0 stays inside i64.
        fit(key_max.checked_mul(l.a[i] as i128)?)?;
    }
    // q·m_up − cost·c_up stays inside i64.
    fit((max_qty as i128)
        .checked_mul(l.m_up as i128)?
        .checked_add((max_cost as i128).checked_mul(l.c_up as i128)?)?)?;
    Some(l)
}

/// An upper bound of |uPnL| + MM (atoms) of a position with |q| ≤ max_qty and |cost| ≤
/// max_cost at the current mark, or None when it does not fit i128.
fn general_bound(mk: &Market, max_qty: i64, max_cost: i64) -> Option<i128> {
    let (q, c, mark) = (max_qty as i128, max_cost as i128, mk.mark as i128);
    let mmr = mk.tiers.last()?.mmr as i128;
    match mk.kind {
        ContractKind::Linear => {
            let s = mk.quote_exp();
            let up = pow10(s.max(0) as u32);
            let u = q.checked_mul(mark)?.checked_add(c)?.checked_mul(up)?;
            let v = match mk.basis {
                MarginBasis::Mark => q.checked_mul(mark)?,
                MarginBasis::Entry => c,
            };
            let e = s - RATE_DECIMALS as i32;
            let m = v.checked_mul(mmr)?.checked_mul(pow10(e.max(0) as u32))?
                / pow10((-e).max(0) as u32);
            u.checked_add(m)?.checked_add(2)
        }
        ContractKind::Inverse => {
            // value ≤ |q|·size·10^t (mark ≥ 1); |uPnL| ≤ |cost| + value; MM ≤ value·mmr/10^8 + 1.
            let t = mk.inverse_exp();
            let n = q.checked_mul(mk.contract_size as i128)?;
            let v = if t >= 0 { n.checked_mul(pow10(t as u32))? } else { n } + 1;
            let m = match mk.basis {
                MarginBasis::Mark => v,
                MarginBasis::Entry => c,
            };
            c.checked_add(v)?.checked_add(m.checked_mul(mmr)? / RATE_SCALE as i128 + 1)
        }
    }
}

/// Per unit of |qty| and of |cost|, the slopes (kq, kc) of an upper bound of |uPnL| + MM of
/// one position of this market at the current mark: general_bound(q, c) ≤ (q + 1)·kq +
/// (c + 1)·kc, with kq = general_bound(1, 0), kc = general_bound(0, 1) (u64::MAX when they do
/// not fit: a run of such a market then never proves a block narrow, as (x + 1)·u64::MAX >
/// i64::MAX). It holds because general_bound is a sum of non-negative terms each in q or in c
/// alone (so ≤ general_bound(q, 0) + general_bound(0, c)), and each term is x·a rounded down
/// plus a constant ≥ 0, which is ≤ (x + 1) times its value at x = 1.
fn slopes(mk: &Market) -> (u64, u64) {
    let k = |q, c| general_bound(mk, q, c).and_then(|b| u64::try_from(b).ok());
    (k(1, 0).unwrap_or(u64::MAX), k(0, 1).unwrap_or(u64::MAX))
}

/// Do the sums of every account of this block fit i64? An account has at most one position
/// per market, each within its run's largest |qty| and |cost| (`Seg`), so Σ (|uPnL| + MM) is
/// at most Σ over runs of (max_qty + 1)·kq + (max_cost + 1)·kc (`slopes`).
fn block_fits(blk: &Block, slopes: &[(u64, u64)]) -> bool {
    let mut sum = 0u128;
    for sg in &blk.segs {
        let (kq, kc) = slopes[sg.m as usize];
        // Each product is below 2^64 · 2^64: no overflow; the sum saturates.
        let q = (sg.max_qty as u128 + 1) * kq as u128;
        let c = (sg.max_cost as u128 + 1) * kc as u128;
        sum = sum.saturating_add(q).saturating_add(c);
    }
    !blk.wide && sum <= i64::MAX as u128
}

/// A per-account accumulator of (Σ uPnL, Σ MM) over cross positions.
trait Acc: Copy + Default + Send + Sync + 'static {
    fn put(&mut self, u: i128, m: i128) -> Result<()>;
    fn put64(&mut self, u: i64, m: i64);
    fn get(&self) -> (i128, i128);
    /// The sums when they are i64 (the narrow accumulator), for the account check's fast path.
    fn get64(&self) -> Option<(i64, i64)>;
    /// The block's accumulators as the vector account check reads them.
    fn sums(acc: &[Self; BLOCK]) -> simd::Sums<'_>;
}

impl Acc for [i64; 2] {
    #[inline(always)]
    fn put(&mut self, u: i128, m: i128) -> Result<()> {
        // The bounds proved that every account's sums fit i64.
        self.put64(u as i64, m as i64);
        Ok(())
    }
    #[inline(always)]
    fn put64(&mut self, u: i64, m: i64) {
        debug_assert!(self[0].checked_add(u).is_some() && self[1].checked_add(m).is_some());
        self[0] = self[0].wrapping_add(u);
        self[1] = self[1].wrapping_add(m);
    }
    #[inline(always)]
    fn get(&self) -> (i128, i128) {
        (self[0] as i128, self[1] as i128)
    }
    #[inline(always)]
    fn get64(&self) -> Option<(i64, i64)> {
        Some((self[0], self[1]))
    }
    #[inline(always)]
    fn sums(acc: &[Self; BLOCK]) -> simd::Sums<'_> {
        simd::Sums::Narrow(acc)
    }
}

impl Acc for [i128; 2] {
    #[inline(always)]
    fn put(&mut self, u: i128, m: i128) -> Result<()> {
        self[0] = add(self[0], u, "account uPnL")?;
        self[1] = add(self[1], m, "account maintenance margin")?;
        Ok(())
    }
    #[inline(always)]
    fn put64(&mut self, u: i64, m: i64) {
        // |u|, |m| < 2^63 and an account has at most one position per market (< 2^32 of
        // them): the sums stay far inside i128.
        self[0] += u as i128;
        self[1] += m as i128;
    }
    #[inline(always)]
    fn get(&self) -> (i128, i128) {
        (self[0], self[1])
    }
    #[inline(always)]
    fn get64(&self) -> Option<(i64, i64)> {
        None
    }
    #[inline(always)]
    fn sums(acc: &[Self; BLOCK]) -> simd::Sums<'_> {
        simd::Sums::Wide(acc)
    }
}

/// What the sweep asks of a scope: a row when liquidatable (equity ≤ MM) or, with a warning
/// ratio w, when MM·10^6 ≥ w·equity (SPEC §5.3). Cheap enough to ask of every scope.
#[inline(always)]
fn wanted(eq: i128, mm: i128, warning_ppm: Option<i64>) -> bool {
    eq <= mm || warning_ppm.is_some_and(|w| mm > 0 && mm * RATIO_SCALE as i128 >= w as i128 * eq)
}

/// A scope's row for the sweep's lists (None when it is in none): equity or MM outside i64 is
/// an OVERFLOW row (SPEC §5.5).
#[inline]
fn scope_row(
    a: u32,
    m: u32,
    eq: i128,
    mm: i128,
    warning_ppm: Option<i64>,
) -> Result<Option<MarginRow>> {
    let fits = i64::try_from(eq).is_ok() && i64::try_from(mm).is_ok();
    if fits && !wanted(eq, mm, warning_ppm) {
        return Ok(None);
    }
    Ok(Some(margin_row_or_overflow(a, m, eq, mm, true)))
}

/// `wanted` for values inside i64 (the products still in i128: one widening multiply each).
#[inline(always)]
fn wanted64(eq: i64, mm: i64, warning_ppm: Option<i64>) -> bool {
    eq <= mm
        || warning_ppm
            .is_some_and(|w| mm > 0 && mm as i128 * RATIO_SCALE as i128 >= w as i128 * eq as i128)
}

#[inline(always)]
fn floor_div64(a: i64, d: i64) -> i64 {
    let (q, r) = (a / d, a % d);
    if r != 0 && a < 0 {
        q - 1
    } else {
        q
    }
}

#[inline(always)]
fn ceil_div64(a: i64, d: i64) -> i64 {
    let (q, r) = (a / d, a % d);
    if r != 0 && a > 0 {
        q + 1
    } else {
        q
    }
}

/// The kernel: one market's run of rows of a block, its constants in registers; `take(i, offset,
/// uPnL, MM)` per row (an add into the block's accumulators, or an isolated scope's check). The
/// const flags pick the key, whether a division is needed and how many tier limits to compare
/// (limits past the market's last tier are i64::MAX), so the loop carries no such branch, and
/// no error path: the bounds proved every product fits.
#[inline(always)]
fn linear_seg<F, const BY_QTY: bool, const NO_DV: bool, const NO_DU: bool, const NT: usize>(
    l: &Linear,
    off: &[u16],
    qty: &[i64],
    cost: &[i64],
    mut take: F,
) where
    F: FnMut(usize, usize, i64, i64),
{
    let n = off.len();
    let (qty, cost) = (&qty[..n], &cost[..n]);
    let (lim, a, b) = (l.lim, l.a, l.b);
    let (dv, m_up, c_up, du) = (l.dv, l.m_up, l.c_up, l.du);
    for i in 0..n {
        let (q, c) = (qty[i], cost[i]);
        let key = if BY_QTY { q.abs() } else { c.abs() };
        let mut t = 0usize;
        for &x in &lim[1..NT] {
            t += (key >= x) as usize;
        }
        let t = t & (MAX_TIERS - 1);
        let fine = key * a[t] - b[t];
        let mm = if NO_DV { fine } else { ceil_div64(fine, dv) };
        let un = q * m_up - c * c_up;
        let u = if NO_DU { un } else { floor_div64(un, du) };
        take(i, off[i] as usize & (BLOCK - 1), u, mm);
    }
}

/// `linear_seg` with its flags chosen from the plan (one copy per sink and flag set).
#[inline(never)]
fn linear_dispatch<F>(l: &Linear, off: &[u16], q: &[i64], c: &[i64], take: F)
where
    F: FnMut(usize, usize, i64, i64),
{
    macro_rules! go {
        ($q:literal, $v:literal, $u:literal) => {
            match l.tiers {
                0..=4 => linear_seg::<F, $q, $v, $u, 4>(l, off, q, c, take),
                5..=8 => linear_seg::<F, $q, $v, $u, 8>(l, off, q, c, take),
                _ => linear_seg::<F, $q, $v, $u, MAX_TIERS>(l, off, q, c, take),
            }
        };
    }
    match (l.by_qty, l.dv == 1, l.du == 1) {
        (true, true, true) => go!(true, true, true),
        (true, true, false) => go!(true, true, false),
        (true, false, true) => go!(true, false, true),
        (true, false, false) => go!(true, false, false),
        (false, true, true) => go!(false, true, true),
        (false, true, false) => go!(false, true, false),
        (false, false, true) => go!(false, false, true),
        (false, false, false) => go!(false, false, false),
    }
}

/// What the sweep of one block needs besides the block.
struct Ctx<'a> {
    plans: &'a [Plan],
    warning_ppm: Option<i64>,
    /// Take the AVX-512 path (sweep_simd.rs) where a plan fits it.
    simd: bool,
    /// Per market, when the markets' bounds together do not prove every block narrow: see
    /// `block_fits`.
    slopes: &'a [(u64, u64)],
}

impl Engine {
    fn position_ctx(&self, e: Error, a: u32, m: u32) -> Error {
        e.context(format!(
            "account {}, market {}",
            self.accounts[a as usize].id, self.markets[m as usize].symbol
        ))
    }

    /// Sweep block `b`: its market runs into the accumulators, its side list, then the account
    /// check of its accounts — one pass, rows only for scopes in a list.
    fn sweep_block<A: Acc>(
        &self,
        b: usize,
        blk: &Block,
        cx: &Ctx,
        acc: &mut [A; BLOCK],
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let base = (b * BLOCK) as u32;
        acc[..blk.bal.len()].fill(A::default());
        let mut k = 0;
        while k < blk.segs.len() {
            if cx.simd {
                // The runs the vector kernel takes, in one call, up to the first it does not.
                let put = &mut |_: usize, o: usize, u: i64, m: i64| acc[o].put64(u, m);
                k += simd::cross_runs(cx.plans, &blk.segs[k..], &blk.off, &blk.qty, &blk.cost, put);
                if k == blk.segs.len() {
                    break;
                }
            }
            self.cross_seg(base, blk, &blk.segs[k], cx, acc)?;
            k += 1;
        }
        if cx.simd {
            self.isolated_vector(base, blk, cx, rows)?;
        } else {
            for sg in &blk.iso_segs {
                self.isolated_seg(base, blk, sg, cx, rows)?;
            }
        }
        for s in &blk.side {
            self.side_row(base, s, cx, acc, rows)?;
        }
        if cx.simd {
            // The vector filter drops the accounts proven healthy; the rest are checked.
            let mut hits = Vec::new();
            simd::account_hits(&blk.bal, A::sums(acc), cx.warning_ppm, &mut hits);
            for o in hits {
                self.account_row(base, o, blk.bal[o], acc, cx, rows)?;
            }
        } else {
            for (o, &bal) in blk.bal.iter().enumerate() {
                self.account_row(base, o, bal, acc, cx, rows)?;
            }
        }
        Ok(())
    }

    /// The account check of the account at offset `o` of the block at `base`.
    #[inline(always)]
    fn account_row<A: Acc>(
        &self,
        base: u32,
        o: usize,
        bal: i64,
        acc: &[A; BLOCK],
        cx: &Ctx,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        // The common case in i64: no cross position, or a healthy account that fits.
        if let Some((u, mm)) = acc[o].get64() {
            match bal.checked_add(u) {
                _ if mm == 0 => return Ok(()),
                Some(eq) if !wanted64(eq, mm, cx.warning_ppm) => return Ok(()),
                _ => {}
            }
        }
        let (u, mm) = acc[o].get();
        if mm == 0 {
            return Ok(()); // no cross position (each has MM ≥ 1)
        }
        let a = base + o as u32;
        let ctx = |e: Error| e.context(format!("account {}", self.accounts[a as usize].id));
        let eq = add(bal as i128, u, "equity").map_err(ctx)?;
        if let Some(r) = scope_row(a, u32::MAX, eq, mm, cx.warning_ppm).map_err(ctx)? {
            rows.push(r);
        }
        Ok(())
    }

    /// One market's run of cross rows into the block's accumulators, on the scalar path: the
    /// kernel, or the general formulas (whose errors are reported in the runs' order).
    fn cross_seg<A: Acc>(
        &self,
        base: u32,
        blk: &Block,
        sg: &crate::store::Seg,
        cx: &Ctx,
        acc: &mut [A; BLOCK],
    ) -> Result<()> {
        let (lo, hi) = (sg.lo as usize, sg.hi as usize);
        let (off, q, c) = (&blk.off[lo..hi], &blk.qty[lo..hi], &blk.cost[lo..hi]);
        match &cx.plans[sg.m as usize] {
            Plan::Linear(l) => {
                linear_dispatch(l, off, q, c, |_, o, u, m| acc[o].put64(u, m));
            }
            Plan::General => {
                let mk = &self.markets[sg.m as usize];
                for i in 0..off.len() {
                    let a = base + off[i] as u32;
                    let ctx = |e: Error| self.position_ctx(e, a, sg.m);
                    let u = mk.upnl(q[i], c[i]).map_err(ctx)?;
                    let m = mk.maintenance_margin(q[i], c[i]).map_err(ctx)?;
                    acc[off[i] as usize & (BLOCK - 1)].put(u, m).map_err(ctx)?;
                }
            }
        }
        Ok(())
    }

    /// A position of the side list: an isolated scope's row, or a near-limit cross position's
    /// sums (the block's accumulators are i128 then).
    #[cold]
    fn side_row<A: Acc>(
        &self,
        base: u32,
        s: &crate::store::Side,
        cx: &Ctx,
        acc: &mut [A; BLOCK],
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let a = base + s.off as u32;
        let ctx = |e: Error| self.position_ctx(e, a, s.m);
        let mk = &self.markets[s.m as usize];
        let u = mk.upnl(s.qty, s.cost).map_err(ctx)?;
        let mm = mk.maintenance_margin(s.qty, s.cost).map_err(ctx)?;
        if !s.isolated {
            return acc[s.off as usize & (BLOCK - 1)].put(u, mm).map_err(ctx);
        }
        self.isolated_row(a, s.m, s.isolated_margin, u, mm, cx, rows)
    }

    /// An isolated scope's row when it is in a list.
    #[allow(clippy::too_many_arguments)]
    fn isolated_row(
        &self,
        a: u32,
        m: u32,
        isolated_margin: i64,
        u: i128,
        mm: i128,
        cx: &Ctx,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let ctx = |e: Error| self.position_ctx(e, a, m);
        let eq = add(isolated_margin as i128, u, "isolated equity").map_err(ctx)?;
        if let Some(r) = scope_row(a, m, eq, mm, cx.warning_ppm).map_err(ctx)? {
            rows.push(r);
        }
        Ok(())
    }

    /// The isolated rows of a block on the vector path: every run whose plan fits it in one
    /// call (short runs: the call and the constants are most of their cost), the other runs on
    /// the scalar path. Rows of fitting runs never fail (i64 values, an i128 equity), so the
    /// order does not change which error a block reports.
    fn isolated_vector(
        &self,
        base: u32,
        blk: &Block,
        cx: &Ctx,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let fit = |m: u32| matches!(&cx.plans[m as usize], Plan::Linear(l) if simd::fits(l));
        let mut hits: Vec<(u32, usize, i64, i64)> = Vec::new();
        simd::isolated_block(cx.plans, &blk.iso_segs, &blk.iso, cx.warning_ppm, &mut hits);
        let r = &blk.iso;
        for (m, i, u, mm) in hits {
            let a = base + r.off[i] as u32;
            self.isolated_row(a, m, r.isolated_margin[i], u as i128, mm as i128, cx, rows)?;
        }
        for sg in blk.iso_segs.iter().filter(|sg| !fit(sg.m)) {
            self.isolated_seg(base, blk, sg, cx, rows)?;
        }
        Ok(())
    }

    /// One market's isolated rows of a block: the kernel checks each scope, and only those in
    /// a list (few) take the row builder.
    fn isolated_seg(
        &self,
        base: u32,
        blk: &Block,
        sg: &crate::store::Seg,
        cx: &Ctx,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let (lo, hi) = (sg.lo as usize, sg.hi as usize);
        let r = &blk.iso;
        let (off, q, c, im) =
            (&r.off[lo..hi], &r.qty[lo..hi], &r.cost[lo..hi], &r.isolated_margin[lo..hi]);
        let w = cx.warning_ppm;
        match &cx.plans[sg.m as usize] {
            Plan::Linear(l) => {
                let mut hits: Vec<(usize, i64, i64)> = Vec::new();
                linear_dispatch(l, off, q, c, |i, _, u, mm| {
                    // Most isolated scopes are healthy and fit i64: no row, no call. An equity
                    // outside i64 (the add overflows) is an OVERFLOW row: a hit too.
                    match im[i].checked_add(u) {
                        Some(eq) if !wanted64(eq, mm, w) => {}
                        _ => hits.push((i, u, mm)),
                    }
                });
                for (i, u, mm) in hits {
                    let a = base + off[i] as u32;
                    self.isolated_row(a, sg.m, im[i], u as i128, mm as i128, cx, rows)?;
                }
            }
            Plan::General => {
                let mk = &self.markets[sg.m as usize];
                for i in 0..off.len() {
                    let a = base + off[i] as u32;
                    let ctx = |e: Error| self.position_ctx(e, a, sg.m);
                    let u = mk.upnl(q[i], c[i]).map_err(ctx)?;
                    let mm = mk.maintenance_margin(q[i], c[i]).map_err(ctx)?;
                    self.isolated_row(a, sg.m, im[i], u, mm, cx, rows)?;
                }
            }
        }
        Ok(())
    }

    /// The sweep over the blocked layout in `threads` tasks' worth of block ranges on the
    /// persistent pool (tests use it on small books, which `sweep_threads` keeps on one
    /// thread); identical output for any count (sums are exact, rows sorted by a total order).
    #[doc(hidden)]
    pub fn sweep_kernel(&self, warning_ppm: Option<i64>, threads: usize) -> Result<SweepResult> {
        self.sweep_kernel_with(warning_ppm, threads, simd::available())
    }

    /// `sweep_kernel` on the scalar kernel only (the vector path's tests compare against it).
    #[doc(hidden)]
    pub fn sweep_kernel_scalar(
        &self,
        warning_ppm: Option<i64>,
        threads: usize,
    ) -> Result<SweepResult> {
        self.sweep_kernel_with(warning_ppm, threads, false)
    }

    /// Whether this machine takes the sweep's AVX-512 path.
    #[doc(hidden)]
    pub fn sweep_simd_available() -> bool {
        simd::available()
    }

    fn sweep_kernel_with(
        &self,
        warning_ppm: Option<i64>,
        threads: usize,
        simd: bool,
    ) -> Result<SweepResult> {
        let threads = threads.clamp(1, 64);
        let mut guard = self.blocks.0.lock().unwrap_or_else(|e| e.into_inner());
        guard.refresh(self, threads);
        let blocks = &guard.blocks;
        let mut plans = Vec::with_capacity(self.markets.len());
        let mut sum: Option<i128> = Some(0);
        for (mk, col) in self.markets.iter().zip(&self.positions) {
            let (max_qty, max_cost) = col.bound();
            let (p, b) = plan(mk, max_qty, max_cost);
            plans.push(p);
            if !col.qty.is_empty() {
                sum = sum.zip(b).and_then(|(s, b)| s.checked_add(b));
            }
        }
        // An account has at most one position per market, and the blocks' rows are within the
        // markets' bounds (near-limit ones are in side lists, whose blocks sum in i128).
        let narrow = sum.is_some_and(|s| s <= i64::MAX as i128);
        // Else a few large positions need not widen every block: each block is proven alone.
        let slopes: Vec<(u64, u64)> =
            if narrow { vec![] } else { self.markets.iter().map(slopes).collect() };
        let cx = Ctx { plans: &plans, warning_ppm, simd, slopes: &slopes };
        let cuts = task_cuts(blocks, threads);
        let outs: Vec<Mutex<Option<Result<Vec<MarginRow>>>>> =
            (1..cuts.len()).map(|_| Default::default()).collect();
        crate::pool::run(outs.len(), threads, &|i| {
            let r = self.sweep_blocks(blocks, cuts[i]..cuts[i + 1], &cx, narrow);
            *outs[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        })
        .map_err(|_| Error::new(ErrorCode::Internal, "a sweep thread panicked"))?;
        drop(guard);
        let mut res = SweepResult::default();
        for o in outs {
            let rows = o
                .into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .ok_or_else(|| Error::new(ErrorCode::Internal, "a sweep task did not run"))??;
            for r in rows {
                if r.overflow {
                    res.overflow.push(r);
                } else if r.liquidatable {
                    res.liquidatable.push(r);
                } else {
                    res.warnings.push(r);
                }
            }
        }
        let cmp = |x: &MarginRow, y: &MarginRow| {
            crate::engine::worse_first(x, y, &self.accounts, &self.markets)
        };
        res.liquidatable.sort_unstable_by(cmp);
        res.warnings.sort_unstable_by(cmp);
        res.overflow.sort_unstable_by(cmp);
        Ok(res)
    }

    /// Blocks in `range`, each with i64 accumulators when the bounds allow, else i128.
    fn sweep_blocks(
        &self,
        blocks: &[Block],
        range: std::ops::Range<usize>,
        cx: &Ctx,
        narrow: bool,
    ) -> Result<Vec<MarginRow>> {
        let mut rows = Vec::new();
        let mut narrow_acc: Option<Box<[[i64; 2]; BLOCK]>> = None;
        let mut wide_acc: Option<Box<[[i128; 2]; BLOCK]>> = None;
        for b in range {
            let blk = &blocks[b];
            if (narrow && !blk.wide) || (!narrow && block_fits(blk, cx.slopes)) {
                let acc = narrow_acc.get_or_insert_with(|| Box::new([[0; 2]; BLOCK]));
                self.sweep_block(b, blk, cx, acc, &mut rows)?;
            } else {
                let acc = wide_acc.get_or_insert_with(|| Box::new([[0; 2]; BLOCK]));
                self.sweep_block(b, blk, cx, acc, &mut rows)?;
            }
        }
        Ok(rows)
    }
}

/// Where the sweep's tasks start and end, by block: about equal position counts, a few tasks per
/// thread so that a slow one evens out (one task on one thread).
fn task_cuts(blocks: &[Block], threads: usize) -> Vec<usize> {
    let total: usize = blocks.iter().map(Block::positions).sum();
    let tasks = if threads == 1 { 1 } else { (threads * 4).min(blocks.len()).max(1) };
    let per = total.div_ceil(tasks).max(1);
    let mut cuts = vec![0usize];
    let mut run = 0usize;
    for (b, blk) in blocks.iter().enumerate() {
        run += blk.positions();
        if run >= per * cuts.len() && cuts.len() < tasks {
            cuts.push(b + 1);
        }
    }
    if *cuts.last().unwrap() != blocks.len() {
        cuts.push(blocks.len());
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::{MarketSpec, TierForm};

    /// `slopes` bounds `general_bound` from above for every |qty| and |cost| (the per-block
    /// i64 proof rests on it), on linear and inverse markets, both bases, every sign of the
    /// unit exponents, marks from 1 tick up.
    #[test]
    fn slopes_bound_the_general_bound() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = |n: u64| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s % n
        };
        let mut checked = 0;
        for _ in 0..400 {
            let q = rand(19) as u32;
            let mut e = Engine::new(q).unwrap();
            let kind = if rand(2) == 0 { ContractKind::Linear } else { ContractKind::Inverse };
            let (p, d) =
                (rand(7) as u32, if kind == ContractKind::Inverse { 0 } else { rand(7) as u32 });
            let k = rand(16) as u32;
            let mmr = vec![rand(50_000_000) as i64 + 1, 90_000_000];
            let spec = MarketSpec {
                symbol: "S".into(),
                kind,
                price_decimals: p,
                qty_decimals: d,
                contract_size: [1, 10, 100][rand(3) as usize],
                basis: if rand(2) == 0 { MarginBasis::Mark } else { MarginBasis::Entry },
                form: TierForm::Deduction,
                floors: vec![0, 1 + rand(1 << 40) as i64],
                imr: mmr.iter().map(|m| (m * 2).min(100_000_000)).collect(),
                mmr,
                maint_amount: None,
                mark: 1 + rand(10u64.pow(k)) as i64,
            };
            if e.add_market(spec).is_err() {
                continue; // outside the unit limits
            }
            let mk = &e.markets()[0];
            let (kq, kc) = slopes(mk);
            for _ in 0..50 {
                let (i, j) = (rand(18) as u32, rand(18) as u32);
                let (x, y) = (rand(10u64.pow(i)) as i64, rand(10u64.pow(j)) as i64);
                let Some(b) = general_bound(mk, x, y) else { continue };
                let lim = (x as u128 + 1) * kq as u128 + (y as u128 + 1) * kc as u128;
                // What the proof needs: a limit that admits i64 sums is above the bound.
                if lim <= i64::MAX as u128 {
                    assert!(b >= 0 && b as u128 <= lim, "{mk:?}: bound({x}, {y}) = {b} > {lim}");
                    checked += 1;
                }
            }
        }
        assert!(checked > 2_000, "{checked}");
    }
}
