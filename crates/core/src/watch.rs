//! The liquidation watch (SPEC §14): which cross accounts and isolated positions are
//! liquidatable, kept up to date across mark moves without a full sweep.
//!
//! Every account gets, per market it holds, a band of mark ticks [lo, hi] containing the current
//! mark, within which none of its scopes (the cross account, each isolated position) can change
//! status: the scope's exact slack `g = collateral + Σ (uPnL − MM)` (liquidatable ⇔ g ≤ 0) is
//! split into per-market budgets, and each band is proven — by exact evaluation at its ends and
//! the monotonicity of uPnL − MM within one maintenance tier — to move that position's
//! uPnL − MM by at most its budget in the direction that could flip the status. Per market, the
//! band ends sit in two heaps (upper ends ascending, lower ends descending), so a move p0 → p1
//! pops exactly the accounts whose band it leaves; those are re-checked exactly and get new bands.
//! Writes (positions, balances, fills, waterfall steps) mark the accounts they touch for the same
//! re-check. Bands only decide what is re-checked: the statuses are always the exact ones, so the
//! watch agrees with a full sweep whatever the bands are, as long as they are sound.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use crate::engine::{margin_row, margin_row_or_overflow, worse_first, Engine, MarginRow};
use crate::error::{Error, Result};
use crate::liq::domain;
use crate::market::{ContractKind, MarginBasis, Market};
use crate::num::*;

/// The market of a cross account's row.
pub const CROSS: u32 = u32::MAX;

/// Rounding slack of uPnL − MM against its exact value (SPEC §14.2): the band's proof needs 2
/// atoms; 3 keeps a spare one.
const MARGIN: i128 = 3;

/// One end of an account's band in a market. Entries of an account refreshed since (another
/// `gen`) are stale and skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    key: i64,
    account: u32,
    gen: u32,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Index {
    /// Per account: the generation of its live entries.
    gen: Vec<u32>,
    /// Per account: waiting for an exact re-check (a write touched it, or a move left its band).
    dirty: Vec<bool>,
    dirty_list: Vec<u32>,
    /// Per market: upper band ends, smallest first; lower band ends, largest first.
    hi: Vec<BinaryHeap<Reverse<Entry>>>,
    lo: Vec<BinaryHeap<Entry>>,
    /// Per market: the mark range (lo, hi) inside which no position there can take its scope's
    /// equity or MM out of i64 (SPEC §5.5). Far away on any real book, so one pair per market
    /// instead of band ends per position: a move past it re-checks every account in the market.
    room: Vec<(i64, i64)>,
}

impl Index {
    fn mark_dirty(&mut self, a: u32) {
        let i = a as usize;
        if i >= self.dirty.len() {
            self.dirty.resize(i + 1, false);
        }
        if !self.dirty[i] {
            self.dirty[i] = true;
            self.dirty_list.push(a);
        }
    }

    fn live(&self, e: &Entry) -> bool {
        self.gen.get(e.account as usize) == Some(&e.gen)
    }

    /// Pop every live entry of market m whose band the move old → new leaves; their accounts
    /// become dirty. Stale entries met on the way are dropped.
    fn pop_crossed(&mut self, m: u32, old: i64, new: i64, popped: &mut Vec<(u32, bool, Entry)>) {
        let m_ = m as usize;
        if new > old {
            while let Some(&Reverse(e)) = self.hi.get(m_).and_then(|h| h.peek()) {
                if e.key >= new {
                    break;
                }
                self.hi[m_].pop();
                if self.live(&e) {
                    popped.push((m, true, e));
                    self.mark_dirty(e.account);
                }
            }
        } else if new < old {
            while let Some(&e) = self.lo.get(m_).and_then(|h| h.peek()) {
                if e.key <= new {
                    break;
                }
                self.lo[m_].pop();
                if self.live(&e) {
                    popped.push((m, false, e));
                    self.mark_dirty(e.account);
                }
            }
        }
    }

    fn heaps(&mut self, m: usize) {
        if m >= self.hi.len() {
            self.hi.resize_with(m + 1, BinaryHeap::new);
            self.lo.resize_with(m + 1, BinaryHeap::new);
        }
        if m >= self.room.len() {
            self.room.resize(m + 1, (0, i64::MAX));
        }
    }

    /// Narrow market m's i64 room to cover a position's.
    fn narrow(&mut self, m: u32, lo: i64, hi: i64) {
        self.heaps(m as usize);
        let r = &mut self.room[m as usize];
        *r = (r.0.max(lo), r.1.min(hi));
    }

    /// Add an account's band in market m (no end where the mark cannot go past it). The heaps
    /// grow by an eighth at a time, and drop their stale entries once they hold more than twice
    /// the market's positions.
    fn push(&mut self, m: u32, lo: i64, hi: i64, a: u32, positions: usize) {
        let m_ = m as usize;
        self.heaps(m_);
        let gen = self.gen[a as usize];
        if hi < PRICE_MAX_TICKS {
            let h = &mut self.hi[m_];
            if h.len() == h.capacity() {
                h.reserve_exact((h.len() / 8).max(16));
            }
            h.push(Reverse(Entry { key: hi, account: a, gen }));
        }
        if lo > 1 {
            let h = &mut self.lo[m_];
            if h.len() == h.capacity() {
                h.reserve_exact((h.len() / 8).max(16));
            }
            h.push(Entry { key: lo, account: a, gen });
        }
        let limit = 2 * positions + 1024;
        if self.hi[m_].len() > limit || self.lo[m_].len() > limit {
            let gen = std::mem::take(&mut self.gen);
            self.hi[m_].retain(|Reverse(e)| gen.get(e.account as usize) == Some(&e.gen));
            self.lo[m_].retain(|e| gen.get(e.account as usize) == Some(&e.gen));
            self.gen = gen;
        }
    }

    fn bytes(&self) -> usize {
        let e = std::mem::size_of::<Entry>();
        self.gen.capacity() * 4
            + self.dirty.capacity()
            + self.dirty_list.capacity() * 4
            + self.hi.iter().map(|h| h.capacity() * e).sum::<usize>()
            + self.lo.iter().map(|h| h.capacity() * e).sum::<usize>()
    }
}

/// The watch's state inside the engine: the index (built on first use) and the liquidatable
/// scopes, with what was last reported.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    index: Option<Box<Index>>,
    /// Liquidatable scopes (account, market; CROSS for the cross account) as the index knows them.
    liq: BTreeSet<(u32, u32)>,
    /// The liquidatable scopes as last reported by `update_marks`.
    reported: BTreeSet<(u32, u32)>,
    /// Scopes whose status may differ from the report.
    touched: BTreeSet<(u32, u32)>,
    /// Scopes whose equity or MM leaves i64 (status OVERFLOW, SPEC §5.5): never liquidatable,
    /// re-checked on any move of their markets' marks. Derived, like the index.
    over: BTreeSet<(u32, u32)>,
    /// Accounts the last update re-checked (for the benchmark's crossing counts).
    last_rechecked: usize,
}

impl Watch {
    /// A write changed account a: re-check it before the watch is next read.
    pub(crate) fn touch(&mut self, a: u32) {
        if let Some(ix) = self.index.as_mut() {
            ix.mark_dirty(a);
        }
    }
    /// The scopes last reported liquidatable (part of the state: the next report diffs against it).
    pub fn reported(&self) -> &BTreeSet<(u32, u32)> {
        &self.reported
    }

    /// A restored engine's watch: the report as it was, the index to be built on first use. The
    /// build then touches what differs from this report, so the next `update_marks` reports
    /// exactly what it would have without the snapshot.
    pub(crate) fn restore_report(&mut self, reported: Vec<(u32, u32)>) {
        self.reported = reported.into_iter().collect();
        self.liq = self.reported.clone();
        self.over.clear();
        self.touched.clear();
        self.index = None;
    }

    /// Status changes since the last report, by (account, market); then the report is current.
    fn report(&mut self) -> Vec<WatchChange> {
        let mut out = Vec::new();
        for x in std::mem::take(&mut self.touched) {
            let now = self.liq.contains(&x);
            if now != self.reported.contains(&x) {
                if now {
                    self.reported.insert(x);
                } else {
                    self.reported.remove(&x);
                }
                out.push(WatchChange { account: x.0, market: x.1, liquidatable: now });
            }
        }
        out
    }
}

/// A scope whose liquidatable status changed since the last report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchChange {
    pub account: u32,
    /// CROSS for the cross account, else the isolated position's market.
    pub market: u32,
    pub liquidatable: bool,
}

/// What one account's exact re-check produced.
#[derive(Default)]
struct Scan {
    /// (market, lo, hi) bands.
    bands: Vec<(u32, i64, i64)>,
    /// Markets of the liquidatable scopes (CROSS for the cross account).
    liq: Vec<u32>,
    /// Markets of the scopes whose equity or MM leaves i64.
    over: Vec<u32>,
    /// (market, lo, hi): the i64 room of each position not pinned.
    room: Vec<(u32, i64, i64)>,
    /// Cross positions: (market, slot, uPnL, MM).
    cross: Vec<(u32, usize, i128, i128)>,
}

/// What a scope's status can absorb: a safe scope (g ≥ 1) may lose g − 1 and stay safe; a
/// liquidatable one (g ≤ 0) may gain −g and stay liquidatable.
fn budget(g: i128) -> i128 {
    if g > 0 {
        g - 1
    } else {
        -g
    }
}

/// A first guess of how many ticks the mark may move before uPnL − MM of this position changes by
/// `b` atoms (SPEC §14.2); `band` verifies it exactly, so it only has to be a good guess. Linear:
/// the change per tick is at most |q|·10^s·(1 + mmr); inverse: |q|·size·10^t·(1 + mmr)/x², a
/// quarter of it near x0. At most x0 (linear) or x0/2 (inverse).
fn guess_ticks(mk: &Market, q: i64, x0: i64, b: i128, mmr: i64) -> i64 {
    let aq = (q as i128).abs();
    let rate = RATE_SCALE as i128 + mmr as i128;
    let scaled = |num: Option<i128>, den: Option<i128>, e: i32, div: i128| -> Option<i128> {
        let (n, d) = (num?, den?);
        if e >= 0 {
            Some(n / d.checked_mul(pow10(e as u32))? / div)
        } else {
            Some(n.checked_mul(pow10((-e) as u32))? / d / div)
        }
    };
    let (d, cap) = match mk.kind {
        ContractKind::Linear => {
            let num = b.checked_mul(RATE_SCALE as i128);
            (scaled(num, aq.checked_mul(rate), mk.quote_exp(), 1), x0 as i128)
        }
        ContractKind::Inverse => {
            let x2 = x0 as i128 * x0 as i128;
            let num = b.checked_mul(x2).and_then(|v| v.checked_mul(RATE_SCALE as i128));
            let den = aq.checked_mul(mk.contract_size as i128).and_then(|v| v.checked_mul(rate));
            (scaled(num, den, mk.inverse_exp(), 4), (x0 / 2) as i128)
        }
    };
    d.map_or(cap, |d| d.min(cap)) as i64
}

/// The band [lo, hi] ∋ x0 of one position (SPEC §14.2): within it, uPnL − MM of the position
/// moves by at most `budget` atoms in the direction that could flip the status (down when safe,
/// up when liquidatable). Each end is the guess, halved until it lies in the position's domain
/// and in x0's maintenance tier, and the exact change there plus MARGIN is within the budget.
/// With continuous MM the favourable end is open (1 or 10^15). Never fails: an end that cannot
/// be evaluated is not taken.
fn band(mk: &Market, q: i64, c: i64, x0: i64, f0: i128, budget: i128, liq: bool) -> (i64, i64) {
    if budget < 2 * MARGIN {
        return (x0, x0);
    }
    let Ok((dlo, dhi)) = domain(mk, q, 0) else { return (x0, x0) };
    if x0 < dlo || x0 > dhi {
        return (x0, x0);
    }
    let tier = |x: i64| -> Result<usize> { Ok(mk.tier_index(mk.margin_value_at(q, c, x, 0)?, 0)) };
    let Ok(t0) = tier(x0) else { return (x0, x0) };
    // With continuous MM, uPnL − MM is monotone over the domain: moving the way it goes in the
    // scope's favour (up for a long that is safe, say) cannot flip the status beyond rounding, so
    // that end is open (no heap entry), and the other end needs no tier check.
    let monotone = mk.continuous_mm;
    let tiered = !monotone && mk.basis == MarginBasis::Mark && mk.tiers.len() > 1;
    let free_up = (q > 0) != liq;
    let guess = guess_ticks(mk, q, x0, budget - 2 * MARGIN, mk.tiers[t0].mmr);
    let holds = |x1: i64| -> Result<bool> {
        if tiered && tier(x1)? != t0 {
            return Ok(false);
        }
        let f1 =
            sub(mk.upnl_at(q, c, x1, 0)?, mk.maintenance_margin_at(q, c, x1, 0)?, "watch band")?;
        let change = if liq { sub(f1, f0, "watch band")? } else { sub(f0, f1, "watch band")? };
        Ok(change.max(0) + MARGIN <= budget)
    };
    let end = |up: bool| -> i64 {
        let mut d = guess;
        loop {
            if d <= 0 {
                return x0;
            }
            let x1 = if up { x0.saturating_add(d).min(dhi) } else { x0.saturating_sub(d).max(dlo) };
            if x1 == x0 {
                return x0;
            }
            if holds(x1).unwrap_or(false) {
                return x1;
            }
            d = (x1 - x0).abs() / 2;
        }
    };
    match (monotone, free_up) {
        (true, true) => (end(false), PRICE_MAX_TICKS),
        (true, false) => (1, end(true)),
        _ => (end(false), end(true)),
    }
}

/// The band of a position at its market's mark, from its uPnL and MM there ([x0, x0] in the
/// unlikely case that their difference leaves i128).
fn band_of(mk: &Market, q: i64, c: i64, u: i128, mm: i128, budget: i128, liq: bool) -> (i64, i64) {
    match u.checked_sub(mm) {
        Some(f0) => band(mk, q, c, mk.mark, f0, budget, liq),
        None => (mk.mark, mk.mark),
    }
}

/// The mark range inside which a position's |uPnL| + MM stays within `share` atoms, so that
/// its scope's equity and MM cannot leave i64 there (SPEC §5.5); None when it is already past
/// its share (the position is pinned: any move re-checks it). Bounds: linear |uPnL| + MM ≤
/// 2·V·10^s + 2 with V = |q|·x + |cost| value units, rising with x; inverse ≤ 2·|cost| +
/// 2·value + 2 with value ≤ |q|·size·10^t / x + 1, rising as x falls.
fn i64_room(mk: &Market, q: i64, c: i64, share: i128) -> Option<(i64, i64)> {
    let x0 = mk.mark as i128;
    let (aq, ac) = ((q as i128).abs().max(1), (c as i128).abs());
    let room = share - 2;
    if room < 0 {
        return None;
    }
    match mk.kind {
        ContractKind::Linear => {
            let s = mk.quote_exp();
            let vmax = if s >= 0 {
                room / (2 * pow10(s as u32))
            } else {
                room.saturating_mul(pow10((-s) as u32)) / 2
            };
            let x = (vmax - ac) / aq;
            (vmax >= ac && x >= x0).then(|| (0, x.min(i64::MAX as i128) as i64))
        }
        ContractKind::Inverse => {
            let w = (room - 2 * ac) / 2;
            if w <= 1 {
                return None;
            }
            let t = mk.inverse_exp();
            let n = aq * mk.contract_size as i128;
            let n = if t >= 0 {
                n.saturating_mul(pow10(t as u32))
            } else {
                div_ceil(n, pow10((-t) as u32))
            };
            let x = div_ceil(n, w - 1);
            (x <= x0).then_some((x as i64, i64::MAX))
        }
    }
}

/// Split a cross account's budget over its positions by maintenance margin (equally if that
/// product would overflow); the shares add up to at most the budget.
fn shares(b: i128, cross: &[(u32, usize, i128, i128)]) -> Vec<i128> {
    let w: i128 = cross.iter().map(|p| p.3.max(1)).sum();
    match b.checked_mul(w) {
        Some(_) => cross.iter().map(|p| b * p.3.max(1) / w).collect(),
        None => vec![b / cross.len() as i128; cross.len()],
    }
}

impl Engine {
    /// A position's band entry, with its i64 room noted — or pinned to the mark without room.
    fn roomed(
        &self,
        m: u32,
        q: i64,
        c: i64,
        share: i128,
        band: (i64, i64),
        room: &mut Vec<(u32, i64, i64)>,
    ) -> (u32, i64, i64) {
        let mk = &self.markets[m as usize];
        match i64_room(mk, q, c, share) {
            Some((lo, hi)) => {
                room.push((m, lo, hi));
                (m, band.0, band.1)
            }
            None => (m, mk.mark, mk.mark),
        }
    }

    /// Moves past a market's i64 room make every account with a position there dirty (and the
    /// room is rebuilt from their re-checks). Returns the rooms so replaced, for an undo.
    fn watch_room_moved(&mut self, moves: &[(u32, i64, i64)]) -> Vec<(u32, (i64, i64))> {
        let mut undo = Vec::new();
        let Some(ix) = self.watch.index.as_mut() else { return undo };
        for &(m, _, new) in moves {
            ix.heaps(m as usize);
            let r = ix.room[m as usize];
            if new < r.0 || new > r.1 {
                undo.push((m, r));
                ix.room[m as usize] = (0, i64::MAX);
                for &a in &self.positions[m as usize].account {
                    ix.mark_dirty(a);
                }
            }
        }
        undo
    }

    /// Exact re-check of one account at the current marks: its liquidatable scopes and new bands.
    /// Errors as the sweep's for the same values.
    fn scan_account(&self, a: u32, out: &mut Scan) -> Result<()> {
        out.bands.clear();
        out.liq.clear();
        out.cross.clear();
        out.over.clear();
        out.room.clear();
        let acc = &self.accounts[a as usize];
        if !acc.alive {
            return Ok(());
        }
        let (mut upnl, mut mm) = (0i128, 0i128);
        for &(m, s) in &acc.positions {
            let (mk, col, s) = (&self.markets[m as usize], &self.positions[m as usize], s as usize);
            let ctx = |e: Error| e.context(format!("account {}, market {}", acc.id, mk.symbol));
            let (q, c) = (col.qty[s], col.cost[s]);
            let u = mk.upnl(q, c).map_err(ctx)?;
            let mmi = mk.maintenance_margin(q, c).map_err(ctx)?;
            if col.isolated[s] {
                let eq = add(col.isolated_margin[s] as i128, u, "isolated equity").map_err(ctx)?;
                let r = margin_row_or_overflow(a, m, eq, mmi, true);
                if r.overflow {
                    // No exact band: any move of this mark re-checks it.
                    out.over.push(m);
                    out.bands.push((m, mk.mark, mk.mark));
                    continue;
                }
                if r.liquidatable {
                    out.liq.push(m);
                }
                // Both fit i64 (margin_row checked), so the slack fits i128.
                let g = eq - mmi;
                let share = i64::MAX as i128 - (col.isolated_margin[s] as i128).abs();
                let band = band_of(mk, q, c, u, mmi, budget(g), g <= 0);
                out.bands.push(self.roomed(m, q, c, share, band, &mut out.room));
            } else {
                upnl = add(upnl, u, "account uPnL").map_err(ctx)?;
                mm = add(mm, mmi, "account maintenance margin").map_err(ctx)?;
                out.cross.push((m, s, u, mmi));
            }
        }
        if !out.cross.is_empty() {
            self.scan_cross(a, upnl, mm, out)?;
        }
        // Bands in market order, as the account's positions are.
        out.bands.sort_unstable_by_key(|b| b.0);
        Ok(())
    }

    /// scan_account's cross scope, from the sums of its cross positions (`out.cross`): whether
    /// it is liquidatable or OVERFLOW, and each position's band and i64 room.
    fn scan_cross(&self, a: u32, upnl: i128, mm: i128, out: &mut Scan) -> Result<()> {
        let acc = &self.accounts[a as usize];
        let ctx = |e: Error| e.context(format!("account {}", acc.id));
        let eq = add(acc.balance as i128, upnl, "equity").map_err(ctx)?;
        let r = margin_row_or_overflow(a, CROSS, eq, mm, true);
        if r.overflow {
            out.over.push(CROSS);
            for &(m, ..) in &out.cross {
                let x = self.markets[m as usize].mark;
                out.bands.push((m, x, x));
            }
            return Ok(());
        }
        if r.liquidatable {
            out.liq.push(CROSS);
        }
        let g = eq - mm;
        let b = shares(budget(g), &out.cross);
        // The account's sums stay in i64 while every position stays within its share; one
        // past it pins them all (a move in any of its markets could then tip the sum).
        let share = (i64::MAX as i128 - (acc.balance as i128).abs()) / out.cross.len() as i128;
        let at = out.room.len();
        let mut pinned = false;
        for &(m, s, ..) in &out.cross {
            let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
            match i64_room(mk, col.qty[s], col.cost[s], share) {
                Some((lo, hi)) => out.room.push((m, lo, hi)),
                None => pinned = true,
            }
        }
        if pinned {
            out.room.truncate(at);
        }
        for (i, &(m, s, u, mmi)) in out.cross.iter().enumerate() {
            let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
            let band = if pinned {
                (mk.mark, mk.mark)
            } else {
                band_of(mk, col.qty[s], col.cost[s], u, mmi, b[i], g <= 0)
            };
            out.bands.push((m, band.0, band.1));
        }
        Ok(())
    }

    /// Build the index at the current marks: every account re-checked. On error nothing changes.
    fn watch_build(&mut self) -> Result<()> {
        let n = self.accounts.len();
        let mut his: Vec<Vec<Reverse<Entry>>> = vec![Vec::new(); self.markets.len()];
        let mut los: Vec<Vec<Entry>> = vec![Vec::new(); self.markets.len()];
        let mut liq = BTreeSet::new();
        let mut over = BTreeSet::new();
        let mut room = vec![(0, i64::MAX); self.markets.len()];
        let mut scan = Scan::default();
        for a in 0..n as u32 {
            self.scan_account(a, &mut scan)?;
            for &(m, lo, hi) in &scan.bands {
                if hi < PRICE_MAX_TICKS {
                    his[m as usize].push(Reverse(Entry { key: hi, account: a, gen: 0 }));
                }
                if lo > 1 {
                    los[m as usize].push(Entry { key: lo, account: a, gen: 0 });
                }
            }
            liq.extend(scan.liq.iter().map(|&m| (a, m)));
            over.extend(scan.over.iter().map(|&m| (a, m)));
            for &(m, lo, hi) in &scan.room {
                let r = &mut room[m as usize];
                *r = (r.0.max(lo), r.1.min(hi));
            }
        }
        let ix = Index {
            gen: vec![0; n],
            dirty: vec![false; n],
            dirty_list: Vec::new(),
            hi: his
                .into_iter()
                .map(|mut v| {
                    v.shrink_to_fit();
                    BinaryHeap::from(v)
                })
                .collect(),
            lo: los
                .into_iter()
                .map(|mut v| {
                    v.shrink_to_fit();
                    BinaryHeap::from(v)
                })
                .collect(),
            room,
        };
        let w = &mut self.watch;
        w.last_rechecked = n;
        w.touched.extend(w.liq.symmetric_difference(&liq).copied());
        w.liq = liq;
        w.over = over;
        w.index = Some(Box::new(ix));
        Ok(())
    }

    /// Re-check every dirty account exactly and give it new bands. All or nothing: on error the
    /// accounts stay dirty and nothing else changes.
    fn watch_refresh(&mut self) -> Result<()> {
        let Some(mut ix) = self.watch.index.take() else { return Ok(()) };
        if ix.dirty_list.is_empty() {
            self.watch.index = Some(ix);
            return Ok(());
        }
        let mut list = ix.dirty_list.clone();
        list.sort_unstable();
        let mut scan = Scan::default();
        let mut bands: Vec<(u32, u32, i64, i64)> = Vec::new();
        let mut liqs: Vec<(u32, u32)> = Vec::new();
        let mut overs: Vec<(u32, u32)> = Vec::new();
        let mut rooms: Vec<(u32, i64, i64)> = Vec::new();
        for &a in &list {
            if let Err(e) = self.scan_account(a, &mut scan) {
                self.watch.index = Some(ix);
                return Err(e);
            }
            bands.extend(scan.bands.iter().map(|&(m, lo, hi)| (a, m, lo, hi)));
            liqs.extend(scan.liq.iter().map(|&m| (a, m)));
            overs.extend(scan.over.iter().map(|&m| (a, m)));
            rooms.extend_from_slice(&scan.room);
        }
        if ix.gen.len() < self.accounts.len() {
            ix.gen.resize(self.accounts.len(), 0);
        }
        for &a in &list {
            ix.dirty[a as usize] = false;
            ix.gen[a as usize] = ix.gen[a as usize].wrapping_add(1);
        }
        ix.dirty_list.clear();
        for (a, m, lo, hi) in bands {
            ix.push(m, lo, hi, a, self.positions[m as usize].qty.len());
        }
        for (m, lo, hi) in rooms {
            ix.narrow(m, lo, hi);
        }
        let w = &mut self.watch;
        w.last_rechecked = list.len();
        for &a in &list {
            let old: Vec<(u32, u32)> = w.liq.range((a, 0)..=(a, CROSS)).copied().collect();
            for x in old {
                w.liq.remove(&x);
                w.touched.insert(x);
            }
            let old: Vec<(u32, u32)> = w.over.range((a, 0)..=(a, CROSS)).copied().collect();
            for x in old {
                w.over.remove(&x);
            }
        }
        w.over.extend(overs);
        for x in liqs {
            w.liq.insert(x);
            w.touched.insert(x);
        }
        w.index = Some(ix);
        Ok(())
    }

    /// After marks moved: accounts whose band a move left become dirty (set_marks).
    pub(crate) fn watch_moved(&mut self, moves: &[(u32, i64, i64)]) {
        if let Some(ix) = self.watch.index.as_mut() {
            let mut popped = Vec::new();
            for &(m, old, new) in moves {
                ix.pop_crossed(m, old, new, &mut popped);
            }
        }
        self.watch_room_moved(moves);
    }

    /// Move marks (as `set_marks`) and return the scopes whose liquidatable status changed since
    /// the last call, by (account, market): what the move crossed and what writes since touched,
    /// re-checked exactly. The first call builds the index and reports every liquidatable scope.
    /// All or nothing: on error (an exact re-check overflowing) the marks stay where they were.
    pub fn update_marks(&mut self, markets: &[u32], marks: &[i64]) -> Result<Vec<WatchChange>> {
        self.check_marks("updateMarks", markets, marks)?;
        let moves = self.move_marks(markets, marks);
        self.watch.last_rechecked = 0;
        let r = if self.watch.index.is_none() {
            self.watch_build()
        } else {
            let ix = self.watch.index.as_mut().unwrap();
            let before = ix.dirty_list.len();
            let mut popped = Vec::new();
            for &(m, old, new) in &moves {
                ix.pop_crossed(m, old, new, &mut popped);
            }
            let rooms = self.watch_room_moved(&moves);
            let r = self.watch_refresh();
            if r.is_err() {
                let ix = self.watch.index.as_mut().unwrap();
                for (m, r) in rooms {
                    ix.room[m as usize] = r;
                }
                for (m, upper, e) in popped {
                    if upper {
                        ix.hi[m as usize].push(Reverse(e));
                    } else {
                        ix.lo[m as usize].push(e);
                    }
                }
                for a in ix.dirty_list.drain(before..) {
                    ix.dirty[a as usize] = false;
                }
            }
            r
        };
        if let Err(e) = r {
            for &(m, old, _) in &moves {
                self.markets[m as usize].mark = old;
            }
            return Err(e);
        }
        Ok(self.watch.report())
    }

    /// The liquidatable cross accounts and isolated positions, worst first, then the scopes whose
    /// equity or MM leaves i64 — the rows of a full `sweep(None)`'s `liquidatable` and `overflow`
    /// lists, from the index (built on first use, dirty accounts re-checked).
    pub fn watch_liquidatable(&mut self) -> Result<Vec<MarginRow>> {
        if self.watch.index.is_none() {
            self.watch_build()?;
        }
        self.watch_refresh()?;
        let mut rows = Vec::with_capacity(self.watch.liq.len());
        for &(a, m) in &self.watch.liq {
            if m == CROSS {
                rows.push(self.cross_row(a)?);
            } else {
                let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
                let s = self.slot_of(a, m).expect("an indexed isolated position exists") as usize;
                let ctx = |e: Error| {
                    e.context(format!(
                        "account {}, market {}",
                        self.accounts[a as usize].id, mk.symbol
                    ))
                };
                let u = mk.upnl(col.qty[s], col.cost[s]).map_err(ctx)?;
                let mmi = mk.maintenance_margin(col.qty[s], col.cost[s]).map_err(ctx)?;
                let eq = add(col.isolated_margin[s] as i128, u, "isolated equity").map_err(ctx)?;
                rows.push(margin_row(a, m, eq, mmi, true).map_err(ctx)?);
            }
        }
        rows.sort_by(|x, y| worse_first(x, y, &self.accounts, &self.markets));
        // Then the scopes that overflow (as the sweep's `overflow` list), by id and symbol.
        let mut over: Vec<MarginRow> =
            self.watch.over.iter().map(|&(a, m)| MarginRow::overflowed(a, m)).collect();
        over.sort_by(|x, y| worse_first(x, y, &self.accounts, &self.markets));
        rows.extend(over);
        Ok(rows)
    }

    /// Bytes the index holds (0 before it is built): heaps, generations, dirty flags.
    pub fn watch_index_bytes(&self) -> usize {
        self.watch.index.as_ref().map_or(0, |ix| ix.bytes())
    }

    /// How many accounts the last `update_marks` re-checked exactly.
    pub fn watch_last_rechecked(&self) -> usize {
        self.watch.last_rechecked
    }

    /// Live band entries (both ends) across markets, stale ones included: for tests and the bench.
    pub fn watch_entries(&self) -> usize {
        self.watch.index.as_ref().map_or(0, |ix| {
            ix.hi.iter().map(|h| h.len()).sum::<usize>()
                + ix.lo.iter().map(|h| h.len()).sum::<usize>()
        })
    }
}
