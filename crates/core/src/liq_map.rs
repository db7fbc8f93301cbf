//! The liquidation map (SPEC §18): per price bucket of one market, the long and short quantity
//! and notional whose liquidation price (SPEC §6, the conservative trigger) lies in the bucket —
//! cross positions with the other marks fixed, isolated positions on their own margin.
//!
//! The watch's index (watch.rs) keeps bands, not prices, so the map solves each position of the
//! market: the trigger search of liq.rs, with the tier runs of a linear mark-basis market found in
//! closed form (the tier is monotone in the price, so its run ends are unique and any correct
//! method finds the same ones) — the bisection on the predicate itself is liq.rs's, step for step,
//! so the map's prices are exactly those `position_risks` reports.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::liq::{
    bankruptcy_base, grid_domain, last_liquidatable, liquidatable, liquidation_base, tier_segments,
};
use crate::market::{check_price, decimal, ContractKind, MarginBasis, Market};
use crate::num::*;

/// Most buckets a map may ask for.
pub const MAP_BUCKETS_MAX: u32 = 100_000;

/// Slots whose accounts `warm` reads ahead of the solve at a time.
const WARM_SLOTS: usize = 32;

/// Per bucket sums; index 0 holds the prices below `from`, 1..=n the buckets, n + 1 the prices at
/// or above `to`. Positions without a liquidation price are not counted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiquidationMap {
    /// n + 1 bucket edges in ticks: bucket i (1-based) is [edges[i−1], edges[i]).
    pub edges: Vec<i64>,
    pub long_qty: Vec<i64>,
    pub long_notional: Vec<i64>,
    pub long_count: Vec<u32>,
    pub short_qty: Vec<i64>,
    pub short_notional: Vec<i64>,
    pub short_count: Vec<u32>,
}

/// The bucket of price x: 0 below `from`, n + 1 at or above `to`, else
/// 1 + floor((x − from)·n / (to − from)). Edge i is from + ceil(i·(to − from)/n), so x lies in
/// bucket i + 1 exactly when edge i ≤ x < edge i + 1.
pub fn bucket_of(x: i64, from: i64, to: i64, n: u32) -> usize {
    if x < from {
        0
    } else if x >= to {
        n as usize + 1
    } else {
        1 + ((x - from) as i128 * n as i128 / (to - from) as i128) as usize
    }
}

/// The map's arguments (SPEC §18); prices shown as the market's decimals, ticks beside them.
fn check_map_args(mk: &Market, from: i64, to: i64, buckets: u32) -> Result<()> {
    check_price(from, mk.price_decimals, "from")?;
    check_price(to, mk.price_decimals, "to")?;
    let bad = |msg: String| Err(Error::new(ErrorCode::InvalidArgument, msg));
    let px = |x: i64| decimal(x, mk.price_decimals);
    if from >= to {
        return bad(format!(
            "from must be below to, got {} and {} ({from} and {to} ticks)",
            px(from),
            px(to)
        ));
    }
    if buckets == 0 || buckets > MAP_BUCKETS_MAX || buckets as i64 > to - from {
        return bad(format!(
            "buckets must be within 1..={MAP_BUCKETS_MAX} and at most the {} ticks of {} between from and to, got {buckets}",
            to - from,
            px(1)
        ));
    }
    Ok(())
}

/// The runs of grid indices on which the tier does not change, with each run's tier, into
/// `segs`/`tiers` (reused across positions): liq.rs's `tier_segments`, with a linear mark-basis
/// run's end in closed form (the last j with |q|·j·g < next floor), verified.
fn runs(
    m: &Market,
    qty: i64,
    cost: i64,
    (lo, hi): (i64, i64),
    segs: &mut Vec<(i64, i64)>,
    tiers: &mut Vec<usize>,
) -> Result<()> {
    let g = m.tick_size as i128;
    let aq = (qty as i128).abs();
    // None where |q|·j·g leaves i128 (the slack bounds are then not used).
    let tier_of = |j: i64| Some(m.tier_index(aq.checked_mul(g.checked_mul(j as i128)?)?, 0));
    segs.clear();
    tiers.clear();
    if m.kind != ContractKind::Linear || m.basis != MarginBasis::Mark || m.tiers.len() == 1 {
        *segs = tier_segments(m, qty, cost, lo, hi)?;
        if m.kind == ContractKind::Linear && m.basis == MarginBasis::Mark {
            tiers.push(0);
        }
        return Ok(());
    }
    let mut a = lo;
    loop {
        let closed = tier_of(a).map(|t| {
            let b = match m.tiers.get(t + 1) {
                None => hi,
                Some(next) => (div_ceil(next.floor as i128, aq * g) - 1).min(hi as i128) as i64,
            };
            (t, b)
        });
        let Some((t, b)) = closed.filter(|&(t, b)| {
            b >= a && tier_of(b) == Some(t) && (b == hi || tier_of(b + 1) != Some(t))
        }) else {
            // Not expected (the closed form is exact); the general search decides.
            *segs = tier_segments(m, qty, cost, lo, hi)?;
            tiers.clear();
            return Ok(());
        };
        segs.push((a, b));
        tiers.push(t);
        if b == hi {
            return Ok(());
        }
        a = b + 1;
    }
}

/// The predicate's slack before rounding on one run (one tier) of a linear mark-basis market, as
/// (A·j + B)/D at grid index j: slack = base + ⌊U⌋ − ⌈M⌉ (uPnL U, maintenance margin M exact)
/// lies in (base + U − M − 2, base + U − M], so A·j + B ≤ 0 proves the position liquidatable and
/// A·j + B ≥ 2D proves it is not.
#[derive(Clone, Copy)]
struct Slack {
    a: i128,
    b: i128,
    two_d: i128,
}

/// What the slack of every position of a linear mark-basis market shares: U − M = N·10^(e−8),
/// N = (q·x − cost)·10^8 − |q|·x·mmr + cum at x = j·g (e: quote_exp), so with D = 10^(8−e) or
/// F = 10^(e−8): A = q·F·g·(10^8 ∓ mmr) (− long, + short: q·10^8 − |q|·mmr), B = base·D +
/// F·(cum − cost·10^8). Per tier, F·g·(10^8 ∓ mmr); None where it leaves i128.
struct SlackTerms {
    d: i128,
    f: i128,
    long: Vec<Option<i128>>,
    short: Vec<Option<i128>>,
}

impl SlackTerms {
    fn new(m: &Market) -> SlackTerms {
        let e = m.quote_exp() - RATE_DECIMALS as i32;
        let (d, f) = if e < 0 { (pow10(e.unsigned_abs()), 1) } else { (1, pow10(e as u32)) };
        let fg = f.checked_mul(m.tick_size as i128);
        let k = |sign: i128| -> Vec<Option<i128>> {
            let per = |t: &crate::market::Tier| pow10(RATE_DECIMALS) + sign * t.mmr as i128;
            m.tiers.iter().map(|t| fg?.checked_mul(per(t))).collect()
        };
        SlackTerms { d, f, long: k(-1), short: k(1) }
    }

    /// The slack on the run of tier t; None where a product leaves i128 (the search then runs on
    /// the predicate).
    fn of_run(&self, m: &Market, qty: i64, cost: i64, base: i128, t: usize) -> Option<Slack> {
        let k = if qty > 0 { self.long[t] } else { self.short[t] };
        let c0 = m.tiers[t].maint_amount.checked_sub(cost as i128 * pow10(RATE_DECIMALS))?;
        Some(Slack {
            a: (qty as i128).checked_mul(k?)?,
            b: base.checked_mul(self.d)?.checked_add(self.f.checked_mul(c0)?)?,
            two_d: 2 * self.d,
        })
    }
}

impl Slack {
    /// Some(the predicate at j) where the bounds settle it.
    fn decides(&self, j: i64) -> Option<bool> {
        let v = self.a.checked_mul(j as i128)?.checked_add(self.b)?;
        (v <= 0 || v >= self.two_d).then_some(v <= 0)
    }

    /// The edge of the liquidatable half-line when no j lies between the bounds: for a long
    /// (A > 0) the last j with A·j + B ≤ 0, ⌊−B/A⌋, when the bounds settle j + 1 as not
    /// liquidatable (then ⌈(2D − B)/A⌉ = j + 1); for a short (A < 0) the first, ⌈B/−A⌉, when they
    /// settle j − 1 so. The predicate is then settled at every j of the run and changes once, so
    /// every search finds this edge.
    fn edge(&self, long: bool) -> Option<i64> {
        let (a, b) = (self.a, self.b);
        let (e, next) = if long && a > 0 {
            let e = div_floor(b.checked_neg()?, a);
            (e, e.checked_add(1)?)
        } else if !long && a < 0 {
            let e = div_ceil(b, -a);
            (e, e.checked_sub(1)?)
        } else {
            return None;
        };
        let (e, next) = (i64::try_from(e).ok()?, i64::try_from(next).ok()?);
        (!self.decides(next)?).then_some(e)
    }
}

/// liq.rs's `last_liquidatable` answered from the runs' slack bounds alone, step for step: the
/// same probes of the runs' ends, and the bisection's answer as the edge of the settled run.
/// None as soon as a probe lies between the bounds (the search then runs on the predicate).
fn settled_search(
    terms: &SlackTerms,
    m: &Market,
    (qty, cost, base): (i64, i64, i128),
    segs: &[(i64, i64)],
    tiers: &[usize],
) -> Option<Option<i64>> {
    let slack = |i: usize| terms.of_run(m, qty, cost, base, tiers[i]);
    if qty > 0 {
        for (i, &(a, b)) in segs.iter().enumerate().rev() {
            let s = slack(i)?;
            if s.decides(a)? {
                return Some(Some(if s.decides(b)? { b } else { s.edge(true)? }));
            }
        }
    } else {
        for (i, &(a, b)) in segs.iter().enumerate() {
            let s = slack(i)?;
            if s.decides(b)? {
                return Some(Some(if s.decides(a)? { a } else { s.edge(false)? }));
            }
        }
    }
    Some(None)
}

/// One market's trigger solver: the slack terms, and the runs' buffers reused across positions.
pub struct TriggerSolver<'m> {
    m: &'m Market,
    terms: Option<SlackTerms>,
    segs: Vec<(i64, i64)>,
    tiers: Vec<usize>,
}

impl<'m> TriggerSolver<'m> {
    pub fn new(m: &'m Market) -> TriggerSolver<'m> {
        let linear_mark = m.kind == ContractKind::Linear && m.basis == MarginBasis::Mark;
        let terms = linear_mark.then(|| SlackTerms::new(m));
        TriggerSolver { m, terms, segs: Vec::new(), tiers: Vec::new() }
    }

    /// The conservative liquidation price of liq.rs's `liquidation_price` (None where it has
    /// none). On a linear mark-basis market the slack bounds answer first: a sure answer for
    /// most positions without the bisection's ~50 evaluations; `plain` skips them.
    pub fn solve(&mut self, qty: i64, cost: i64, base: i128, plain: bool) -> Result<Option<i64>> {
        let m = self.m;
        if qty == 0 {
            return Ok(None);
        }
        let Some(dom) = grid_domain(m, qty)? else { return Ok(None) };
        runs(m, qty, cost, dom, &mut self.segs, &mut self.tiers)?;
        let g = m.tick_size;
        if let (Some(terms), false) = (&self.terms, plain || self.tiers.is_empty()) {
            if let Some(t) = settled_search(terms, m, (qty, cost, base), &self.segs, &self.tiers) {
                return Ok(t.map(|t| t * g));
            }
        }
        let t = last_liquidatable(&self.segs, qty > 0, &mut |j| {
            liquidatable(m, qty, cost, base, j * g, 0)
        })?;
        Ok(t.map(|t| t * g))
    }
}

/// The conservative liquidation price of liq.rs's `liquidation_price` (None where it has none),
/// by `TriggerSolver` (the slack bounds first).
pub fn liquidation_trigger(m: &Market, qty: i64, cost: i64, base: i128) -> Result<Option<i64>> {
    TriggerSolver::new(m).solve(qty, cost, base, false)
}

/// `liquidation_trigger` without the bounds: the predicate at every step (kept for the tests).
#[doc(hidden)]
pub fn liquidation_trigger_plain(
    m: &Market,
    qty: i64,
    cost: i64,
    base: i128,
) -> Result<Option<i64>> {
    TriggerSolver::new(m).solve(qty, cost, base, true)
}

impl Engine {
    /// The liquidation map of market m over [from, to) ticks in `buckets` buckets (SPEC §18).
    pub fn liquidation_map(
        &self,
        m: u32,
        from: i64,
        to: i64,
        buckets: u32,
    ) -> Result<LiquidationMap> {
        let mk = self.market(m)?;
        check_map_args(mk, from, to, buckets)?;
        let n = buckets as usize + 2;
        let (mut lq, mut ln, mut sq, mut sn) =
            (vec![0i128; n], vec![0i128; n], vec![0i128; n], vec![0i128; n]);
        let (mut lc, mut sc) = (vec![0u32; n], vec![0u32; n]);
        let col = &self.positions[m as usize];
        let mut solver = TriggerSolver::new(mk);
        for s in 0..col.qty.len() {
            if s % WARM_SLOTS == 0 {
                self.warm(col, s..(s + WARM_SLOTS).min(col.qty.len()));
            }
            let (a, q, c) = (col.account[s], col.qty[s], col.cost[s]);
            let id = &self.accounts[a as usize].id;
            let ctx = |e: Error| e.context(format!("account {id}, market {}", mk.symbol));
            let base = if col.isolated[s] {
                col.isolated_margin[s] as i128
            } else {
                self.cross_base(a, m).map_err(ctx)?
            };
            let Some(x) = solver.solve(q, c, base, false).map_err(ctx)? else { continue };
            let v = mk.value_atoms(q, x).map_err(ctx)?;
            let b = bucket_of(x, from, to, buckets);
            let aq = (q as i128).abs();
            if q > 0 {
                (lq[b], ln[b], lc[b]) = (lq[b] + aq, ln[b] + v, lc[b] + 1);
            } else {
                (sq[b], sn[b], sc[b]) = (sq[b] + aq, sn[b] + v, sc[b] + 1);
            }
        }
        let fit = |v: Vec<i128>, what: &'static str| -> Result<Vec<i64>> {
            v.into_iter().map(|x| to_i64(x, what)).collect()
        };
        let w = (to - from) as i128;
        Ok(LiquidationMap {
            edges: (0..=buckets as i128)
                .map(|i| from + div_ceil(i * w, buckets as i128) as i64)
                .collect(),
            long_qty: fit(lq, "liquidation map long quantity (does not fit i64)")?,
            long_notional: fit(ln, "liquidation map long notional (does not fit i64)")?,
            long_count: lc,
            short_qty: fit(sq, "liquidation map short quantity (does not fit i64)")?,
            short_notional: fit(sn, "liquidation map short notional (does not fit i64)")?,
            short_count: sc,
        })
    }

    /// Read, ahead of the solve, what `cross_base` will read for these slots: the accounts, their
    /// position lists, those positions' columns. The accounts lie scattered over the book, so
    /// each read misses the cache; here they are independent and the CPU overlaps them, where
    /// inside the solve loop each waited in turn (it was a third of the map's time).
    fn warm(&self, col: &crate::engine::MarketPositions, slots: std::ops::Range<usize>) {
        let mut h = 0u64;
        for s in slots.clone() {
            let acc = &self.accounts[col.account[s] as usize];
            h ^= acc.balance as u64 ^ acc.positions.len() as u64;
        }
        for s in slots.clone() {
            if let Some(&(pm, _)) = self.accounts[col.account[s] as usize].positions.first() {
                h ^= u64::from(pm);
            }
        }
        for s in slots {
            for &(pm, ps) in &self.accounts[col.account[s] as usize].positions {
                let (c, ps) = (&self.positions[pm as usize], ps as usize);
                h ^= c.qty[ps] as u64 ^ c.cost[ps] as u64 ^ u64::from(c.isolated[ps]);
            }
        }
        std::hint::black_box(h);
    }

    /// base of SPEC §6 for the cross position of account a in market m: the balance plus the
    /// other cross positions' uPnL − MM at their marks (as `position_risks` sums them).
    fn cross_base(&self, a: u32, m: u32) -> Result<i128> {
        let acc = &self.accounts[a as usize];
        let (mut upnl, mut mm) = (0i128, 0i128);
        let (mut own_u, mut own_mm) = (0i128, 0i128);
        for &(pm, s) in &acc.positions {
            let (mk, col) = (&self.markets[pm as usize], &self.positions[pm as usize]);
            let s = s as usize;
            if col.isolated[s] {
                continue;
            }
            let u = mk.upnl(col.qty[s], col.cost[s])?;
            let mmi = mk.maintenance_margin(col.qty[s], col.cost[s])?;
            upnl = add(upnl, u, "account uPnL")?;
            mm = add(mm, mmi, "account maintenance margin")?;
            if pm == m {
                (own_u, own_mm) = (u, mmi);
            }
        }
        let others_u = sub(upnl, own_u, "uPnL of the other positions")?;
        let others_mm = sub(mm, own_mm, "maintenance margin of the other positions")?;
        liquidation_base(bankruptcy_base(i128::from(acc.balance), others_u)?, others_mm)
    }
}
