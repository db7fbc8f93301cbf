//! The sweep kernel's AVX-512 path (x86-64 with AVX-512F and DQ, detected at run time; every
//! other machine keeps the scalar kernel of sweep.rs). Eight rows a step, the same integer
//! operations as `linear_seg` on i64 lanes — a tier count (compares against the limits in
//! registers, a lane permute for A_t and B_t), three 64-bit multiplies — so every lane is the
//! scalar kernel's value: the per-run bounds that prove the scalar products fit i64 prove these.
//! Only the plans without divisions (dv = du = 1, the usual case) and with at most 8 tiers take
//! it; the others stay scalar.
//!
//! The scope checks (isolated scopes, the block's accounts) are filters: a lane is dropped only
//! when it is proven outside every list — its equity fits i64, equity > MM, and, with a warning
//! ratio, MM ≤ 0 or MM·10^6 < w·equity computed in i64 where both products provably fit (|MM| ≤
//! i64::MAX / 10^6, |equity| ≤ i64::MAX / |w|). Every other lane goes to the exact scalar check,
//! so rows and errors are the scalar path's.

use super::{Linear, Plan};
use crate::store::{Rows, Seg};

/// Is the AVX-512 path usable on this machine (checked once, then a cached flag)?
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Does this plan fit the vector kernel (no division, at most 8 tiers)?
#[inline(always)]
pub(super) fn fits(l: &Linear) -> bool {
    l.dv == 1 && l.du == 1 && l.tiers <= 8
}

/// The leading runs of `segs` whose plans `fit` the vector kernel, in order: `take(i, offset,
/// uPnL, MM)` for every row, eight at a time; returns how many runs it took (it stops before
/// the first run that does not fit). Requires `available()`.
pub(super) fn cross_runs<F>(
    plans: &[Plan],
    segs: &[Seg],
    off: &[u16],
    q: &[i64],
    c: &[i64],
    take: &mut F,
) -> usize
where
    F: FnMut(usize, usize, i64, i64),
{
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller checked AVX-512F/DQ with `available()`; the slices are read within
    // their lengths (masked loads at the tail).
    unsafe {
        x86::cross_runs(plans, segs, off, q, c, take)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (plans, segs, off, q, c, take);
        unreachable!("the vector kernel is x86-64 only");
    }
}

/// The isolated scopes of a block that may be in a list, over every run whose plan `fits`
/// (the others are left to the caller): (market, row, uPnL, MM) pushed to `hits` for every row
/// not proven healthy (see the module doc). Requires `available()`.
pub(super) fn isolated_block(
    plans: &[Plan],
    segs: &[Seg],
    rows: &Rows,
    warning_ppm: Option<i64>,
    hits: &mut Vec<(u32, usize, i64, i64)>,
) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `cross_runs`.
    unsafe {
        x86::isolated_block(plans, segs, rows, Warn::new(warning_ppm), hits)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (plans, segs, rows, warning_ppm, hits);
        unreachable!("the vector kernel is x86-64 only");
    }
}

/// The block's accumulators, i64 or i128 pairs (Σ uPnL, Σ MM) per account.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(super) enum Sums<'a> {
    Narrow(&'a [[i64; 2]]),
    Wide(&'a [[i128; 2]]),
}

/// The block's accounts that may be in a list: offsets of accounts with a cross position whose
/// equity (balance + Σ uPnL) is not proven healthy against Σ MM (wide sums outside i64 are
/// never proven). Requires `available()`; `acc` holds `bal.len()` rounded up to 8 accounts.
pub(super) fn account_hits(
    bal: &[i64],
    acc: Sums,
    warning_ppm: Option<i64>,
    hits: &mut Vec<usize>,
) {
    let n = bal.len().next_multiple_of(8);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: as in `cross_runs`; `acc` holds n accounts (asserted), read 8 at a time.
    unsafe {
        let w = Warn::new(warning_ppm);
        match acc {
            Sums::Narrow(acc) => {
                assert!(acc.len() >= n);
                x86::account_hits(bal, acc.as_ptr().cast(), false, w, hits)
            }
            Sums::Wide(acc) => {
                assert!(acc.len() >= n);
                x86::account_hits(bal, acc.as_ptr().cast(), true, w, hits)
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (bal, acc, warning_ppm, hits, n);
        unreachable!("the vector kernel is x86-64 only");
    }
}

/// The warning test's constants: w, and the largest |MM| and |equity| whose products with
/// 10^6 and w fit i64.
#[derive(Clone, Copy)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Warn {
    on: bool,
    w: i64,
    mm_max: i64,
    eq_max: i64,
}

impl Warn {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn new(warning_ppm: Option<i64>) -> Warn {
        let w = warning_ppm.unwrap_or(0);
        let eq_max = (i64::MAX as u64 / w.unsigned_abs().max(1)) as i64;
        let mm_max = i64::MAX / crate::num::RATIO_SCALE;
        Warn { on: warning_ppm.is_some(), w, mm_max, eq_max }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Linear, Plan, Warn};
    use crate::store::BLOCK;
    use crate::store::{Rows, Seg};
    use std::arch::x86_64::*;

    /// uPnL and MM of eight rows (lanes beyond `mask` are zero inputs, their outputs unused).
    #[inline(always)]
    unsafe fn row8<const NT: usize>(
        l: &Linear,
        lim: &[__m512i; 8],
        (a, b, m_up, c_up): (__m512i, __m512i, __m512i, __m512i),
        q: __m512i,
        c: __m512i,
    ) -> (__m512i, __m512i) {
        let key = if l.by_qty { _mm512_abs_epi64(q) } else { _mm512_abs_epi64(c) };
        let one = _mm512_set1_epi64(1);
        let mut t = _mm512_setzero_si512();
        for x in &lim[1..NT] {
            let k = _mm512_cmpge_epi64_mask(key, *x);
            t = _mm512_mask_add_epi64(t, k, t, one);
        }
        let at = _mm512_permutexvar_epi64(t, a);
        let bt = _mm512_permutexvar_epi64(t, b);
        let mm = _mm512_sub_epi64(_mm512_mullo_epi64(key, at), bt);
        let u = _mm512_sub_epi64(_mm512_mullo_epi64(q, m_up), _mm512_mullo_epi64(c, c_up));
        (u, mm)
    }

    /// The plan's constants as vectors: the tier limits, and (A, B, mark·10^s, 10^s).
    #[inline(always)]
    unsafe fn consts(l: &Linear) -> ([__m512i; 8], (__m512i, __m512i, __m512i, __m512i)) {
        let lim = std::array::from_fn(|i| _mm512_set1_epi64(l.lim[i]));
        // Tiers past the market's last are never chosen (their limits are i64::MAX).
        let a = _mm512_loadu_si512(l.a.as_ptr().cast());
        let b = _mm512_loadu_si512(l.b.as_ptr().cast());
        (lim, (a, b, _mm512_set1_epi64(l.m_up), _mm512_set1_epi64(l.c_up)))
    }

    #[inline(always)]
    unsafe fn load(x: &[i64], i: usize, k: __mmask8) -> __m512i {
        _mm512_maskz_loadu_epi64(k, x.as_ptr().add(i))
    }

    /// Prefetch the column `PREFETCH` rows past row i (a hint: past the end it is ignored).
    /// Measured on the ragged 1M book: 64 rows ahead ≈ +10 %, 192 ≈ +15 %.
    #[inline(always)]
    unsafe fn ahead(x: &[i64], i: usize) {
        _mm_prefetch::<_MM_HINT_T0>(x.as_ptr().wrapping_add(i + PREFETCH).cast());
    }

    const PREFETCH: usize = 192;

    /// The lanes of `k` under i..n.
    #[inline(always)]
    fn lanes(i: usize, n: usize) -> __mmask8 {
        let r = n - i;
        if r >= 8 {
            0xff
        } else {
            ((1u32 << r) - 1) as __mmask8
        }
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn cross_runs<F>(
        plans: &[Plan],
        segs: &[Seg],
        off: &[u16],
        q: &[i64],
        c: &[i64],
        take: &mut F,
    ) -> usize
    where
        F: FnMut(usize, usize, i64, i64),
    {
        for (k, sg) in segs.iter().enumerate() {
            let l = match &plans[sg.m as usize] {
                Plan::Linear(l) if super::fits(l) => l,
                _ => return k,
            };
            let (lo, hi) = (sg.lo as usize, sg.hi as usize);
            let (off, q, c) = (&off[lo..hi], &q[lo..hi], &c[lo..hi]);
            if l.tiers <= 4 {
                linear_run::<F, 4>(l, off, q, c, take)
            } else {
                linear_run::<F, 8>(l, off, q, c, take)
            }
        }
        segs.len()
    }

    #[inline(always)]
    unsafe fn linear_run<F, const NT: usize>(
        l: &Linear,
        off: &[u16],
        q: &[i64],
        c: &[i64],
        take: &mut F,
    ) where
        F: FnMut(usize, usize, i64, i64),
    {
        let n = off.len();
        let (q, c) = (&q[..n], &c[..n]);
        let (lim, k) = consts(l);
        let (mut u, mut mm) = ([0i64; 8], [0i64; 8]);
        let mut i = 0;
        while i < n {
            let m = lanes(i, n);
            ahead(q, i);
            ahead(c, i);
            let (uv, mv) = row8::<NT>(l, &lim, k, load(q, i, m), load(c, i, m));
            _mm512_storeu_si512(u.as_mut_ptr().cast(), uv);
            _mm512_storeu_si512(mm.as_mut_ptr().cast(), mv);
            for j in 0..(n - i).min(8) {
                take(i + j, off[i + j] as usize & (BLOCK - 1), u[j], mm[j]);
            }
            i += 8;
        }
    }

    /// Lanes of (equity = base + u, MM) that may be in a list (see the module doc).
    #[inline(always)]
    unsafe fn maybe(base: __m512i, u: __m512i, mm: __m512i, w: &Warn) -> __mmask8 {
        let eq = _mm512_add_epi64(base, u);
        // Signed overflow of base + u: both inputs' signs differ from the sum's.
        let ovf = _mm512_and_si512(_mm512_xor_si512(base, eq), _mm512_xor_si512(u, eq));
        let zero = _mm512_setzero_si512();
        let mut k = _mm512_cmplt_epi64_mask(ovf, zero) | _mm512_cmple_epi64_mask(eq, mm);
        if w.on {
            let pos = _mm512_cmpgt_epi64_mask(mm, zero);
            let safe = _mm512_cmple_epu64_mask(mm, _mm512_set1_epi64(w.mm_max))
                & _mm512_cmple_epu64_mask(_mm512_abs_epi64(eq), _mm512_set1_epi64(w.eq_max));
            let lhs = _mm512_mullo_epi64(mm, _mm512_set1_epi64(crate::num::RATIO_SCALE));
            let rhs = _mm512_mullo_epi64(eq, _mm512_set1_epi64(w.w));
            k |= pos & (!safe | _mm512_cmpge_epi64_mask(lhs, rhs));
        }
        k
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn isolated_block(
        plans: &[Plan],
        segs: &[Seg],
        r: &Rows,
        w: Warn,
        hits: &mut Vec<(u32, usize, i64, i64)>,
    ) {
        for sg in segs {
            let l = match &plans[sg.m as usize] {
                Plan::Linear(l) if super::fits(l) => l,
                _ => continue,
            };
            let (lo, hi) = (sg.lo as usize, sg.hi as usize);
            let (q, c, im) = (&r.qty[lo..hi], &r.cost[lo..hi], &r.isolated_margin[lo..hi]);
            let mut put = |i: usize, u: i64, mm: i64| hits.push((sg.m, lo + i, u, mm));
            if l.tiers <= 4 {
                isolated_run::<_, 4>(l, q, c, im, &w, &mut put)
            } else {
                isolated_run::<_, 8>(l, q, c, im, &w, &mut put)
            }
        }
    }

    /// One run's rows not proven healthy, as `put(row, uPnL, MM)`.
    #[inline(always)]
    unsafe fn isolated_run<F: FnMut(usize, i64, i64), const NT: usize>(
        l: &Linear,
        q: &[i64],
        c: &[i64],
        im: &[i64],
        w: &Warn,
        put: &mut F,
    ) {
        let n = q.len();
        let (c, im) = (&c[..n], &im[..n]);
        let (lim, k) = consts(l);
        let (mut u, mut mm) = ([0i64; 8], [0i64; 8]);
        let mut i = 0;
        while i < n {
            let m = lanes(i, n);
            let (uv, mv) = row8::<NT>(l, &lim, k, load(q, i, m), load(c, i, m));
            let mut bits = maybe(load(im, i, m), uv, mv, w) & m;
            if bits != 0 {
                _mm512_storeu_si512(u.as_mut_ptr().cast(), uv);
                _mm512_storeu_si512(mm.as_mut_ptr().cast(), mv);
                while bits != 0 {
                    let j = bits.trailing_zeros() as usize;
                    put(i + j, u[j], mm[j]);
                    bits &= bits - 1;
                }
            }
            i += 8;
        }
    }

    /// `p`: the accumulators of accounts 0..bal.len() rounded up to 8, as i64 words: pairs
    /// (u, mm) when narrow, else pairs of i128 (u_lo, u_hi, mm_lo, mm_hi).
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn account_hits(
        bal: &[i64],
        p: *const i64,
        wide: bool,
        w: Warn,
        hits: &mut Vec<usize>,
    ) {
        let n = bal.len();
        let idx = |x: [i64; 8]| _mm512_setr_epi64(x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]);
        let (even, odd) = (idx([0, 2, 4, 6, 8, 10, 12, 14]), idx([1, 3, 5, 7, 9, 11, 13, 15]));
        // Two i128 pairs a vector; from two vectors, lanes 0–3 the low words of u (or mm),
        // lanes 4–7 the high words.
        let (uw, mw) = (idx([0, 4, 8, 12, 1, 5, 9, 13]), idx([2, 6, 10, 14, 3, 7, 11, 15]));
        let (low, high) = (idx([0, 1, 2, 3, 8, 9, 10, 11]), idx([4, 5, 6, 7, 12, 13, 14, 15]));
        let two = |x, i, y| _mm512_permutex2var_epi64(x, i, y);
        let zero = _mm512_setzero_si512();
        let mut i = 0;
        while i < n {
            let m = lanes(i, n);
            let (u, mm, fits) = if wide {
                let v = |k: usize| _mm512_loadu_si512(p.add(4 * i + 8 * k).cast());
                let (v0, v1, v2, v3) = (v(0), v(1), v(2), v(3));
                let (ua, ub) = (two(v0, uw, v1), two(v2, uw, v3));
                let (ma, mb) = (two(v0, mw, v1), two(v2, mw, v3));
                let (u, mm) = (two(ua, low, ub), two(ma, low, mb));
                // An i128 fits i64 when its high word is its low word's sign.
                let (uh, mh) = (two(ua, high, ub), two(ma, high, mb));
                let fits = _mm512_cmpeq_epi64_mask(uh, _mm512_srai_epi64::<63>(u))
                    & _mm512_cmpeq_epi64_mask(mh, _mm512_srai_epi64::<63>(mm));
                (u, mm, fits)
            } else {
                let lo = _mm512_loadu_si512(p.add(2 * i).cast());
                let hi = _mm512_loadu_si512(p.add(2 * i + 8).cast());
                (two(lo, even, hi), two(lo, odd, hi), 0xff)
            };
            // A wide sum outside i64 is a hit whatever its low words say.
            let cross = _mm512_cmpneq_epi64_mask(mm, zero) | !fits;
            let mut bits = (maybe(load(bal, i, m), u, mm, &w) | !fits) & cross & m;
            while bits != 0 {
                hits.push(i + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
            i += 8;
        }
    }
}
