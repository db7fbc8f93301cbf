//! Auto-deleveraging: who on the opposite side gives up a position when the insurance fund
//! cannot take the bankrupt one (SPEC §9). Exact integer scores compared by 256-bit
//! cross-multiplication, a total order, and selection of only the needed top of the queue.

use std::cmp::Ordering;

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::market::{ContractKind, Market};
use crate::num::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdlRanking {
    /// PnL% × effective leverage in profit, PnL% ÷ effective leverage in loss.
    Bitmex,
    /// Account level: max(0, uPnL)/max(1, wallet) × MM/max(1, wallet + uPnL).
    Binance,
    /// (mark/entry) × (notional/account value).
    Hyperliquid,
    /// No queue: every opposite position shares in proportion to its size.
    ProRata,
}

impl AdlRanking {
    pub fn from_code(c: u32) -> Result<AdlRanking> {
        Ok(match c {
            0 => AdlRanking::Bitmex,
            1 => AdlRanking::Binance,
            2 => AdlRanking::Hyperliquid,
            3 => AdlRanking::ProRata,
            _ => return Err(Error::new(ErrorCode::InvalidArgument, format!("ADL ranking must be 0 (bitmex), 1 (binance), 2 (hyperliquid) or 3 (prorata), got {c}"))),
        })
    }
}

/// An opposite-side position and its score num/den (den > 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub account: u32,
    pub qty: i64,
    pub num: i128,
    pub den: i128,
}

/// |a|·|b| as a 256-bit (hi, lo) pair.
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & u64::MAX as u128);
    let (b1, b0) = (b >> 64, b & u64::MAX as u128);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = (p00 >> 64) + (p01 & u64::MAX as u128) + (p10 & u64::MAX as u128);
    let lo = (p00 & u64::MAX as u128) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// Compare a·b with c·d exactly (256-bit products, any signs).
pub fn cmp_products(a: i128, b: i128, c: i128, d: i128) -> Ordering {
    let (sl, sr) = (a.signum() * b.signum(), c.signum() * d.signum());
    if sl != sr {
        return sl.cmp(&sr);
    }
    let l = mul_wide(a.unsigned_abs(), b.unsigned_abs());
    let r = mul_wide(c.unsigned_abs(), d.unsigned_abs());
    if sl >= 0 {
        l.cmp(&r)
    } else {
        r.cmp(&l)
    }
}

/// Compare a/b with c/d (b, d > 0) exactly: a·d vs c·b in 256 bits.
pub fn cmp_fraction(a: i128, b: i128, c: i128, d: i128) -> Ordering {
    cmp_products(a, d, c, b)
}

/// A score num/den (den > 0) as a double. Both conversions and the division round to nearest, and
/// every i128 ratio is far inside the normal range, so the relative error is below 2^-51.
fn approx_score(c: &Candidate) -> f64 {
    c.num as f64 / c.den as f64
}

/// Whether the exact score behind the double `a` is below the one behind `b`, decided only when
/// the doubles are apart by far more than their error (10^-12 relative); false when unsure.
fn surely_below(a: f64, b: f64) -> bool {
    a < b - (a.abs() + b.abs()) * 1e-12
}

/// Queue order: higher score first, then larger size, then account id (bytewise).
fn queue_order(x: &Candidate, y: &Candidate, e: &Engine) -> Ordering {
    cmp_fraction(y.num, y.den, x.num, x.den)
        .then_with(|| y.qty.unsigned_abs().cmp(&x.qty.unsigned_abs()))
        .then_with(|| {
            e.accounts[x.account as usize]
                .id
                .as_bytes()
                .cmp(e.accounts[y.account as usize].id.as_bytes())
        })
}

/// What one position's ADL score is made of (SPEC §9.1): its uPnL, notional and entry value
/// (each at least 1), the equity behind it, and its account's wallet, uPnL and MM.
struct ScoreParts {
    upnl: i128,
    notional: i128,
    entry_value: i128,
    equity: i128,
    wallet: i128,
    acc_upnl: i128,
    acc_mm: i128,
}

/// The ADL score of a position under `ranking` as num/den (SPEC §9.1).
fn adl_score(mk: &Market, ranking: AdlRanking, p: &ScoreParts) -> Result<(i128, i128)> {
    let (upnl, notional, entry_value) = (p.upnl, p.notional, p.entry_value);
    let (wallet, acc_upnl) = (p.wallet, p.acc_upnl);
    let eq = p.equity.max(1);
    Ok(match ranking {
        // PnL% = uPnL/entryValue; leverage = notional/equity.
        AdlRanking::Bitmex if upnl >= 0 => {
            (mul(upnl, notional, "ADL score")?, mul(entry_value, eq, "ADL score")?)
        }
        AdlRanking::Bitmex => {
            (mul(upnl, eq, "ADL score")?, mul(entry_value, notional, "ADL score")?)
        }
        AdlRanking::Binance => (
            mul(acc_upnl.max(0), p.acc_mm, "ADL score")?,
            mul(wallet.max(1), add(wallet, acc_upnl, "ADL score")?.max(1), "ADL score")?,
        ),
        AdlRanking::Hyperliquid => {
            // mark/entry from values: linear markValue/entryValue, inverse the reverse.
            let (pn, pd) = match mk.kind {
                ContractKind::Linear => (notional, entry_value),
                ContractKind::Inverse => (entry_value, notional),
            };
            (mul(pn, notional, "ADL score")?, mul(pd, eq, "ADL score")?)
        }
        AdlRanking::ProRata => (0, 1),
    })
}

impl Engine {
    /// Every position in `market` whose side is `side` (+1 long, −1 short), scored (SPEC §9.1),
    /// excluding `exclude` (the bankrupt account). Unsorted.
    pub fn adl_candidates(
        &self,
        market: u32,
        side: i64,
        ranking: AdlRanking,
        exclude: Option<u32>,
    ) -> Result<Vec<Candidate>> {
        let mk = self.market(market)?;
        let col = &self.positions[market as usize];
        // The cross state of the side's accounts: when the side is a large part of the book, from
        // one market-major pass over every position (as the sweep), instead of walking each
        // account's positions (scattered reads). The same exact sums; where the pass or a check
        // fails, the per-account path below raises the error it always raised.
        let side_len = col.qty.iter().filter(|q| q.signum() == side).count();
        let totals = if side_len >= 1024 && side_len * 8 >= self.position_count() {
            self.cross_totals(0..self.markets.len()).ok().map(|t| t.0)
        } else {
            None
        };
        let mut out = Vec::with_capacity(side_len);
        for s in 0..col.qty.len() {
            let (a, q, c) = (col.account[s], col.qty[s], col.cost[s]);
            if q.signum() != side || Some(a) == exclude {
                continue;
            }
            let ctx = |e: Error| {
                e.context(format!(
                    "ADL score of account {}, market {}",
                    self.accounts[a as usize].id, mk.symbol
                ))
            };
            let upnl = mk.upnl(q, c).map_err(ctx)?;
            // Collateral behind the position: the isolated equity, or the account's cross state.
            let (equity, wallet, acc_upnl, acc_mm) = if col.isolated[s] {
                let im = col.isolated_margin[s] as i128;
                (
                    add(im, upnl, "isolated equity").map_err(ctx)?,
                    im,
                    upnl,
                    mk.maintenance_margin(q, c).map_err(ctx)?,
                )
            } else {
                let Some((equity, mm)) = self.adl_cross_state(totals.as_deref(), a)? else {
                    continue;
                };
                let bal = self.accounts[a as usize].balance as i128;
                (equity, bal, equity - bal, mm)
            };
            let parts = ScoreParts {
                upnl,
                notional: mk.value_atoms(q, mk.mark).map_err(ctx)?.max(1),
                entry_value: mk.entry_value_atoms(c).map_err(ctx)?.max(1),
                equity,
                wallet,
                acc_upnl,
                acc_mm,
            };
            let (num, den) = adl_score(mk, ranking, &parts)?;
            out.push(Candidate { account: a, qty: q, num, den });
        }
        Ok(out)
    }

    /// The cross state (equity, MM) of account a, from the market-major `totals` when they hold
    /// it exactly, else from its own positions. None when the equity or MM leaves i64 (SPEC
    /// §5.5): no exact score, so it is not a counterparty while it overflows.
    fn adl_cross_state(
        &self,
        totals: Option<&[[i128; 2]]>,
        a: u32,
    ) -> Result<Option<(i128, i128)>> {
        if let Some(t) = totals {
            let [u, m] = t[a as usize];
            let eq = (self.accounts[a as usize].balance as i128).checked_add(u);
            if let Some(eq) = eq.filter(|&e| i64::try_from(e).is_ok() && i64::try_from(m).is_ok()) {
                return Ok(Some((eq, m)));
            }
        }
        let (eq, mm, _) = self.cross_row_wide(a)?;
        Ok((i64::try_from(eq).is_ok() && i64::try_from(mm).is_ok()).then_some((eq, mm)))
    }

    /// The queue in full rank order (for display and the indicator).
    pub fn adl_queue(&self, market: u32, side: i64, ranking: AdlRanking) -> Result<Vec<Candidate>> {
        let mut c = self.adl_candidates(market, side, ranking, None)?;
        self.sort_queue(&mut c);
        Ok(c)
    }

    /// Sort candidates into full queue order (what `adl_select` avoids for the whole side).
    pub fn sort_queue(&self, cands: &mut [Candidate]) {
        cands.sort_by(|x, y| queue_order(x, y, self));
    }

    /// The shortest prefix of the queue whose sizes reach `need` lots (at least one position), in
    /// rank order; the whole side when it never does. One pass keeps the best-ranked positions
    /// seen so far that just reach `need`, in a heap with the worst of them on top: a position
    /// ranked below that one is rejected by one comparison, so the side is never sorted. That
    /// comparison is first made on doubles and trusted only when they are far apart (see
    /// `surely_below`); otherwise exactly.
    pub fn adl_select(&self, cands: Vec<Candidate>, need: u64) -> Vec<Candidate> {
        // x is worse than y: later in the queue
        let worse = |x: &Candidate, y: &Candidate| queue_order(x, y, self) == Ordering::Greater;
        let mut heap: Vec<Candidate> = Vec::new();
        let mut total: u128 = 0;
        let need = need as u128;
        let mut root = f64::NAN; // approx_score(heap[0]), NaN when not known
        for c in cands {
            if total >= need && !heap.is_empty() {
                if root.is_nan() {
                    root = approx_score(&heap[0]);
                }
                if surely_below(approx_score(&c), root) || worse(&c, &heap[0]) {
                    continue;
                }
            }
            root = f64::NAN;
            total += c.qty.unsigned_abs() as u128;
            heap.push(c);
            let mut i = heap.len() - 1;
            while i > 0 {
                let p = (i - 1) / 2;
                if !worse(&heap[i], &heap[p]) {
                    break;
                }
                heap.swap(i, p);
                i = p;
            }
            // Drop the worst while the rest still reaches `need`.
            while heap.len() > 1 && total - heap[0].qty.unsigned_abs() as u128 >= need {
                total -= heap[0].qty.unsigned_abs() as u128;
                let last = heap.pop().unwrap();
                heap[0] = last;
                let (n, mut i) = (heap.len(), 0);
                loop {
                    let (l, r) = (2 * i + 1, 2 * i + 2);
                    let mut w = i;
                    if l < n && worse(&heap[l], &heap[w]) {
                        w = l;
                    }
                    if r < n && worse(&heap[r], &heap[w]) {
                        w = r;
                    }
                    if w == i {
                        break;
                    }
                    heap.swap(i, w);
                    i = w;
                }
            }
        }
        heap.sort_by(|x, y| queue_order(x, y, self));
        heap
    }
}

/// Pro-rata shares of `total` units (lots, or atoms of a loss) over `cands` by size (SPEC §9.3,
/// §9.4): floor shares, then one unit each by largest remainder (ties: larger size, then account
/// id). Returns (index, units) for the non-zero shares; they add up to min(total, Σ sizes) for
/// lots, and to `total` exactly for atoms.
pub fn prorata_shares(e: &Engine, cands: &[Candidate], total: u128) -> Vec<(usize, u128)> {
    let size: u128 = cands.iter().map(|c| c.qty.unsigned_abs() as u128).sum();
    if size == 0 {
        return Vec::new();
    }
    let mut shares: Vec<(usize, u128, u128)> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let x = total * c.qty.unsigned_abs() as u128;
            (i, x / size, x % size)
        })
        .collect();
    let given: u128 = shares.iter().map(|s| s.1).sum();
    let mut left = total - given;
    let mut order: Vec<usize> = (0..shares.len()).collect();
    order.sort_by(|&x, &y| {
        let (a, b) = (&cands[x], &cands[y]);
        shares[y]
            .2
            .cmp(&shares[x].2)
            .then_with(|| b.qty.unsigned_abs().cmp(&a.qty.unsigned_abs()))
            .then_with(|| {
                e.accounts[a.account as usize]
                    .id
                    .as_bytes()
                    .cmp(e.accounts[b.account as usize].id.as_bytes())
            })
    });
    for &i in &order {
        if left == 0 {
            break;
        }
        shares[i].1 += 1;
        left -= 1;
    }
    // Executed in a fixed order — larger size first, then account id — so rounding of partial
    // closes never depends on the order positions were stored in.
    let mut out: Vec<(usize, u128)> =
        shares.into_iter().filter(|s| s.1 > 0).map(|s| (s.0, s.1)).collect();
    out.sort_by(|x, y| {
        let (a, b) = (&cands[x.0], &cands[y.0]);
        b.qty.unsigned_abs().cmp(&a.qty.unsigned_abs()).then_with(|| {
            e.accounts[a.account as usize]
                .id
                .as_bytes()
                .cmp(e.accounts[b.account as usize].id.as_bytes())
        })
    });
    out
}

/// ADL indicator lights (1–5) for a ranked queue. BitMEX rule: the cumulative quantity share in
/// rank order, rounded up to the next 20 %, mapped so the front of the queue shows 5 lights.
/// Count rule: the rank's position among the candidates, in fifths.
pub fn indicator(queue: &[Candidate], by_quantity: bool) -> Vec<u8> {
    let n = queue.len() as u128;
    let total: u128 = queue.iter().map(|c| c.qty.unsigned_abs() as u128).sum();
    let mut cum = 0u128;
    queue
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // share of the queue up to and including this position, as (part, whole)
            let (part, whole) = if by_quantity {
                cum += c.qty.unsigned_abs() as u128;
                (cum, total.max(1))
            } else {
                (i as u128 + 1, n)
            };
            // bucket = ceil(5·part/whole) ∈ 1..=5; the first fifth of the queue shows 5 lights.
            let bucket = (5 * part).div_ceil(whole) as u8;
            6 - bucket.clamp(1, 5)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_comparison_matches_small_cases_and_survives_huge_ones() {
        assert_eq!(cmp_fraction(1, 3, 1, 2), Ordering::Less);
        assert_eq!(cmp_fraction(-1, 3, -1, 2), Ordering::Greater);
        assert_eq!(cmp_fraction(2, 4, 1, 2), Ordering::Equal);
        assert_eq!(cmp_fraction(0, 5, -1, 9), Ordering::Greater);
        let big = i128::MAX / 3;
        // big/(big−1) > (big−1)/(big−2)? No: x/(x−1) decreases in x, so big/(big−1) < (big−1)/(big−2).
        assert_eq!(cmp_fraction(big, big - 1, big - 1, big - 2), Ordering::Less);
        assert_eq!(cmp_fraction(-big, big - 1, -(big - 1), big - 2), Ordering::Greater);
    }

    #[test]
    fn indicator_lights_follow_the_cumulative_share_rounded_up_to_fifths() {
        let c = |qty: i64| Candidate { account: 0, qty, num: 0, den: 1 };
        // equal sizes: 20 %, 40 %, … of the queue → 5, 4, 3, 2, 1 lights on both rules
        let q: Vec<Candidate> = (0..5).map(|_| c(10)).collect();
        assert_eq!(indicator(&q, true), vec![5, 4, 3, 2, 1]);
        assert_eq!(indicator(&q, false), vec![5, 4, 3, 2, 1]);
        // one large position first: its share (70 %) rounds up to 80 % → 2 lights by quantity,
        // while by count it is the first of four (25 % → 40 %) → 4 lights
        let q = vec![c(70), c(10), c(10), c(10)];
        assert_eq!(indicator(&q, true), vec![2, 2, 1, 1]);
        assert_eq!(indicator(&q, false), vec![4, 3, 2, 1]);
    }

    #[test]
    fn mul_wide_is_exact() {
        let (hi, lo) = mul_wide(u128::MAX, u128::MAX);
        // (2^128 − 1)^2 = 2^256 − 2^129 + 1
        assert_eq!(lo, 1);
        assert_eq!(hi, u128::MAX - 1);
    }
}
