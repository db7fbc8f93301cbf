//! The full sweep's exact integer kernel (SPEC §5, §5.5). Per sweep and market, the formulas of
//! §3.2 and §4.3 at the current mark are reduced to a few integer constants:
//!
//! - the tier of a position is the number of tier limits its key reaches, where the key is |q|
//!   (mark basis: floor ≤ |q|·mark ⇔ |q| ≥ ceil(floor / mark)) or |cost| (entry basis);
//! - MM = ceil((key · A_t − B_t) / dv) with A_t = mark·rate_t (mark basis) or rate_t (entry),
//!   the rates and amounts divided by their common factor with 10^(8−s) (equal by algebra);
//! - uPnL = floor((q · mark·10^s⁺ − cost · 10^s⁺) / 10^s⁻).
//!
//! The store keeps an upper bound of |q| and |cost| per market (`MarketPositions::bound`), which
//! proves once per sweep that these products fit i64; a market where it does not (or an inverse
//! market) takes the general i128 formulas of market.rs, so every result is the same. When the
//! bounds of all markets together prove an account's sums fit i64, the per-account accumulators
//! are i64 pairs (16 bytes), else i128 with checked additions.

use crate::engine::{margin_row_or_overflow, prefetch, Engine, MarginRow, SweepResult};
use crate::error::{Error, ErrorCode, Result};
use crate::market::{ContractKind, MarginBasis, Market};
use crate::num::*;
use std::sync::Mutex;

/// Most spare accumulator arrays kept per width (one per thread of a sweep), and the largest
/// kept: process-wide memory V8 does not see, so bounded (8 MiB is 512k accounts at i64).
const SPARES: usize = 4;
const SPARE_BYTES: usize = 8 << 20;

/// An accumulator array of `n` zeros: a spare one refilled (a fresh allocation of megabytes is
/// a page fault per 4 KiB on every sweep), else a new one.
fn zeroed<A: Acc>(n: usize) -> Vec<A> {
    let spare = A::spares().lock().unwrap_or_else(|e| e.into_inner()).pop();
    match spare {
        Some(mut v) => {
            v.clear();
            v.resize(n, A::default());
            v
        }
        None => vec![A::default(); n],
    }
}

fn give_back<A: Acc>(v: Vec<A>) {
    if v.capacity() * std::mem::size_of::<A>() > SPARE_BYTES {
        return;
    }
    let mut s = A::spares().lock().unwrap_or_else(|e| e.into_inner());
    if s.len() < SPARES {
        s.push(v);
    }
}

/// Most tiers the kernel's fixed arrays hold; a market with more takes the general formulas.
const MAX_TIERS: usize = 16;
/// How many positions ahead the sweep fetches the account accumulator.
const PREFETCH_AHEAD: usize = 16;

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

/// A per-account accumulator of (Σ uPnL, Σ MM) over cross positions.
trait Acc: Copy + Default + Send + Sync + 'static {
    /// Spare accumulator arrays of this width, kept between sweeps.
    fn spares() -> &'static Mutex<Vec<Vec<Self>>>;
    fn put(&mut self, u: i128, m: i128) -> Result<()>;
    fn put64(&mut self, u: i64, m: i64);
    fn get(&self) -> (i128, i128);
}

impl Acc for [i64; 2] {
    fn spares() -> &'static Mutex<Vec<Vec<Self>>> {
        static S: Mutex<Vec<Vec<[i64; 2]>>> = Mutex::new(Vec::new());
        &S
    }
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
}

impl Acc for [i128; 2] {
    fn spares() -> &'static Mutex<Vec<Vec<Self>>> {
        static S: Mutex<Vec<Vec<[i128; 2]>>> = Mutex::new(Vec::new());
        &S
    }
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

/// One contiguous run of slots of one market.
#[derive(Clone, Copy, Debug)]
struct Part {
    m: u32,
    lo: usize,
    hi: usize,
}

/// What one task of the first phase produced.
struct Partial<A> {
    totals: Vec<A>,
    rows: Vec<MarginRow>,
}

impl Engine {
    /// Split the market-major sequence of positions into `n` runs of about equal length.
    fn sweep_parts(&self, n: usize) -> Vec<Vec<Part>> {
        let total = self.position_count();
        let per = total.div_ceil(n).max(1);
        let mut out = vec![Vec::new(); n];
        let (mut task, mut room) = (0, per);
        for (m, col) in self.positions.iter().enumerate() {
            let mut lo = 0;
            let len = col.qty.len();
            while lo < len {
                let take = room.min(len - lo);
                out[task].push(Part { m: m as u32, lo, hi: lo + take });
                lo += take;
                room -= take;
                if room == 0 && task + 1 < n {
                    task += 1;
                    room = per;
                }
            }
        }
        out
    }

    /// The first phase over some runs: cross sums into `totals`, isolated rows out.
    fn sweep_runs<A: Acc>(
        &self,
        plans: &[Plan],
        parts: &[Part],
        warning_ppm: Option<i64>,
        out: &mut Partial<A>,
    ) -> Result<()> {
        for p in parts {
            match &plans[p.m as usize] {
                Plan::Linear(l) => {
                    let small = l.tiers <= 4;
                    macro_rules! go {
                        ($q:literal, $v:literal, $u:literal) => {
                            if small {
                                self.linear_run::<A, $q, $v, $u, 4>(l, *p, warning_ppm, out)?
                            } else {
                                self.linear_run::<A, $q, $v, $u, MAX_TIERS>(
                                    l,
                                    *p,
                                    warning_ppm,
                                    out,
                                )?
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
                Plan::General => self.general_run(*p, warning_ppm, out)?,
            }
        }
        Ok(())
    }

    /// The kernel: a run of one linear market with its constants (the const flags pick the
    /// key, whether a division is needed and how many tier limits to compare — the limits past
    /// the market's last tier are i64::MAX — so the loop carries no such branch).
    #[inline(never)]
    fn linear_run<
        A: Acc,
        const BY_QTY: bool,
        const NO_DV: bool,
        const NO_DU: bool,
        const NT: usize,
    >(
        &self,
        l: &Linear,
        p: Part,
        warning_ppm: Option<i64>,
        out: &mut Partial<A>,
    ) -> Result<()> {
        let col = &self.positions[p.m as usize];
        let (acc, qty, cost, iso) = (
            &col.account[p.lo..p.hi],
            &col.qty[p.lo..p.hi],
            &col.cost[p.lo..p.hi],
            &col.isolated[p.lo..p.hi],
        );
        let im = &col.isolated_margin[p.lo..p.hi];
        let totals = &mut out.totals[..];
        let (lim, a, b) = (l.lim, l.a, l.b);
        let (dv, m_up, c_up, du) = (l.dv, l.m_up, l.c_up, l.du);
        let n = qty.len();
        for i in 0..n {
            let ahead = acc[(i + PREFETCH_AHEAD).min(n - 1)] as usize;
            prefetch(&totals[ahead.min(totals.len() - 1)]);
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
            if iso[i] {
                // Most isolated scopes are healthy and fit i64: no row, no call.
                let eq = im[i] as i128 + u as i128;
                if i64::try_from(eq).is_ok() && !wanted(eq, mm as i128, warning_ppm) {
                    continue;
                }
                self.isolated_at(p.m, p.lo + i, u as i128, mm as i128, warning_ppm, &mut out.rows)?;
            } else {
                totals[acc[i] as usize].put64(u, mm);
            }
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn isolated_at(
        &self,
        m: u32,
        s: usize,
        u: i128,
        mm: i128,
        warning_ppm: Option<i64>,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        let col = &self.positions[m as usize];
        let a = col.account[s];
        let eq = col.isolated_margin[s] as i128 + u;
        if let Some(r) =
            scope_row(a, m, eq, mm, warning_ppm).map_err(|e| self.position_ctx(e, a, m))?
        {
            rows.push(r);
        }
        Ok(())
    }

    /// A run of a market the kernel's constants do not cover: the general i128 formulas.
    fn general_run<A: Acc>(
        &self,
        p: Part,
        warning_ppm: Option<i64>,
        out: &mut Partial<A>,
    ) -> Result<()> {
        let (mk, col) = (&self.markets[p.m as usize], &self.positions[p.m as usize]);
        for s in p.lo..p.hi {
            let a = col.account[s];
            let ctx = |e: Error| self.position_ctx(e, a, p.m);
            let u = mk.upnl(col.qty[s], col.cost[s]).map_err(ctx)?;
            let m = mk.maintenance_margin(col.qty[s], col.cost[s]).map_err(ctx)?;
            if col.isolated[s] {
                let eq = add(col.isolated_margin[s] as i128, u, "isolated equity").map_err(ctx)?;
                if let Some(r) = scope_row(a, p.m, eq, m, warning_ppm).map_err(ctx)? {
                    out.rows.push(r);
                }
            } else {
                out.totals[a as usize].put(u, m).map_err(ctx)?;
            }
        }
        Ok(())
    }

    fn position_ctx(&self, e: Error, a: u32, m: u32) -> Error {
        e.context(format!(
            "account {}, market {}",
            self.accounts[a as usize].id, self.markets[m as usize].symbol
        ))
    }

    /// The second phase over accounts lo..hi: equity from the (per-task) sums, rows wanted.
    fn account_rows_from<A: Acc>(
        &self,
        partials: &[Partial<A>],
        lo: usize,
        hi: usize,
        warning_ppm: Option<i64>,
        rows: &mut Vec<MarginRow>,
    ) -> Result<()> {
        for a in lo..hi {
            let (mut u, mut mm) = partials[0].totals[a].get();
            for p in &partials[1..] {
                let (u2, m2) = p.totals[a].get();
                u = add(u, u2, "account uPnL")?;
                mm = add(mm, m2, "account maintenance margin")?;
            }
            if mm == 0 {
                continue; // no cross position (each has MM ≥ 1)
            }
            let acc = &self.accounts[a];
            let ctx = |e: Error| e.context(format!("account {}", acc.id));
            let eq = add(acc.balance as i128, u, "equity").map_err(ctx)?;
            if let Some(r) = scope_row(a as u32, u32::MAX, eq, mm, warning_ppm).map_err(ctx)? {
                rows.push(r);
            }
        }
        Ok(())
    }

    /// The sweep split into exactly `threads` tasks on the persistent pool (tests use it on small
    /// books, which `sweep_threads` keeps on one thread); identical output for any count (sums
    /// are exact, rows are sorted by a total order).
    #[doc(hidden)]
    pub fn sweep_kernel(&self, warning_ppm: Option<i64>, threads: usize) -> Result<SweepResult> {
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
        // An account has at most one position per market, so this bounds its sums.
        let narrow = sum.is_some_and(|s| s <= i64::MAX as i128);
        let threads = threads.clamp(1, 64);
        let rows = if narrow {
            self.sweep_with::<[i64; 2]>(&plans, warning_ppm, threads)?
        } else {
            self.sweep_with::<[i128; 2]>(&plans, warning_ppm, threads)?
        };
        let mut res = SweepResult::default();
        for r in rows {
            if r.overflow {
                res.overflow.push(r);
            } else if r.liquidatable {
                res.liquidatable.push(r);
            } else {
                res.warnings.push(r);
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

    fn sweep_with<A: Acc>(
        &self,
        plans: &[Plan],
        warning_ppm: Option<i64>,
        threads: usize,
    ) -> Result<Vec<MarginRow>> {
        let n = self.accounts.len();
        let parts = self.sweep_parts(threads);
        let partials: Vec<std::sync::Mutex<Option<Result<Partial<A>>>>> =
            (0..threads).map(|_| Default::default()).collect();
        crate::pool::run(threads, threads, &|i| {
            let mut p = Partial { totals: zeroed::<A>(n), rows: Vec::new() };
            let r = self.sweep_runs(plans, &parts[i], warning_ppm, &mut p).map(|_| p);
            *partials[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        })
        .map_err(|_| Error::new(ErrorCode::Internal, "a sweep thread panicked"))?;
        let mut done = Vec::with_capacity(threads);
        for p in partials {
            done.push(
                p.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .ok_or_else(|| Error::new(ErrorCode::Internal, "a sweep task did not run"))??,
            );
        }
        let mut rows: Vec<MarginRow> =
            done.iter_mut().flat_map(|p| std::mem::take(&mut p.rows)).collect();
        let per = n.div_ceil(threads).max(1);
        let outs: Vec<std::sync::Mutex<Option<Result<Vec<MarginRow>>>>> =
            (0..threads).map(|_| Default::default()).collect();
        crate::pool::run(threads, threads, &|i| {
            let (lo, hi) = ((i * per).min(n), ((i + 1) * per).min(n));
            let mut v = Vec::new();
            let r = self.account_rows_from(&done, lo, hi, warning_ppm, &mut v).map(|_| v);
            *outs[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        })
        .map_err(|_| Error::new(ErrorCode::Internal, "a sweep thread panicked"))?;
        for p in done {
            give_back(p.totals);
        }
        for o in outs {
            rows.extend(
                o.into_inner()
                    .unwrap_or_else(|e| e.into_inner())
                    .ok_or_else(|| Error::new(ErrorCode::Internal, "a sweep task did not run"))??,
            );
        }
        Ok(rows)
    }
}
