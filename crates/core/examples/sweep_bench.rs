//! Timing of the full sweep on the bench book of src/synthetic.ts (makeSyntheticMarket): 64 linear markets
//! with 3–5 Binance-like brackets, 4 positions per account, 10 % isolated. Prints the minimum over
//! repeats (the machine is shared): `cargo run --release --example sweep_bench -- 1000000 250000`.
//! With `BOOK=ragged`, the ragged book of src/synthetic.ts (makeRaggedMarket, 0.1 % liquidatable,
//! 10 % isolated, 16 near-limit accounts) instead: `BOOK=ragged sweep_bench 1000000`.
#[path = "common/ragged.rs"]
mod ragged;

use deleverage_core::*;
use ragged::ragged_book;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let positions = *args.first().unwrap_or(&1_000_000);
    let ragged = std::env::var("BOOK").is_ok_and(|b| b == "ragged");
    let (e, accounts) = if ragged {
        let e = ragged_book(positions);
        let n = e.accounts().len();
        (e, n)
    } else {
        let accounts = *args.get(1).unwrap_or(&(positions / 4));
        (synthetic_book(positions, accounts), accounts)
    };
    time_sweeps(&e, accounts);
}

/// The book of makeSyntheticMarket: 4 positions per account.
fn synthetic_book(positions: usize, accounts: usize) -> Engine {
    let markets = 64usize;
    let (p, d, q) = (2u32, 3u32, 8u32);
    let mut s: u64 = 104729;
    let mut rand = |n: u64| {
        s = (s * 48271) % 2147483647;
        s % n
    };
    let mut e = Engine::new(q).unwrap();
    let mut marks = vec![];
    for m in 0..markets {
        let tiers = 3 + (m % 3);
        let mut floors = vec![0i64];
        let mut mmr = vec![400_000i64 + rand(4) as i64 * 100_000];
        for t in 1..tiers {
            floors.push(floors[t - 1] * 5 + 50_000 * 10i64.pow(p + d) * t as i64);
            mmr.push(mmr[t - 1] * 2);
        }
        let mark = (1_000 + rand(5_000_000) as i64) * 10i64.pow(p);
        marks.push(mark);
        e.add_market(MarketSpec {
            symbol: format!("M{m}-PERP"),
            kind: ContractKind::Linear,
            price_decimals: p,
            qty_decimals: d,
            contract_size: 1,
            basis: MarginBasis::Mark,
            form: TierForm::Deduction,
            imr: mmr.iter().map(|x| x * 2).collect(),
            floors,
            mmr,
            maint_amount: None,
            mark,
        })
        .unwrap();
    }
    let balances: Vec<i64> =
        (0..accounts).map(|_| (100 + rand(50_000) as i64) * 10i64.pow(q)).collect();
    let ids: Vec<String> = (0..accounts).map(|i| format!("acct-{i}")).collect();
    e.add_accounts(&ids, &balances).unwrap();
    let per = positions / accounts;
    let (mut acc, mut mkt, mut qty, mut px, mut im, mut fl) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for i in 0..positions {
        let a = i / per;
        let m = (a * 7 + (i % per)) % markets;
        let mark = marks[m] as i128;
        let lev = 1 + rand(25) as i128;
        let notional = balances[a] as i128 * lev / per as i128;
        let mut qq = notional * 10i128.pow(d + p) / (mark * 10i128.pow(q));
        if qq == 0 {
            qq = 1
        }
        acc.push(a as u32);
        mkt.push(m as u32);
        qty.push(if rand(2) == 1 { qq as i64 } else { -qq as i64 });
        px.push((mark * (960 + rand(80) as i128) / 1000) as i64);
        if rand(10) == 0 {
            fl.push(FLAG_ISOLATED);
            im.push((notional / lev) as i64)
        } else {
            fl.push(0);
            im.push(0)
        }
    }
    e.set_positions(&PositionRows {
        account: &acc,
        market: &mkt,
        qty: &qty,
        price: &px,
        isolated_margin: &im,
        flags: &fl,
    })
    .unwrap();
    e
}

fn time_sweeps(e: &Engine, accounts: usize) {
    // WARN=none sweeps without a warning ratio (as `npm run bench` does), WARN=<ppm> with one.
    let w = match std::env::var("WARN").as_deref() {
        Ok("none") => None,
        Ok(ppm) => Some(ppm.parse().unwrap()),
        Err(_) => Some(800_000),
    };
    let n = e.position_count() as f64;
    let reps = 40;
    let time = |f: &dyn Fn() -> SweepResult| {
        let mut best = f64::MAX;
        let mut out = SweepResult::default();
        for _ in 0..reps {
            let t = Instant::now();
            out = f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        (best, out)
    };
    if let Ok(mode) = std::env::var("ONLY") {
        // For `perf stat`: one code path, many times.
        let n = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
        for _ in 0..if mode == "setup" { 0 } else { n } {
            let r = match mode.as_str() {
                "ref" => e.sweep_reference(w, 1),
                _ => e.sweep_threads(w, 1),
            };
            std::hint::black_box(r.unwrap());
        }
        return;
    }
    let (r1, a) = time(&|| e.sweep_reference(w, 1).unwrap());
    let (r2, _) = time(&|| e.sweep_reference(w, 2).unwrap());
    let (k1, b) = time(&|| e.sweep_threads(w, 1).unwrap());
    let (k2, c) = time(&|| e.sweep_threads(w, 2).unwrap());
    // What a machine without AVX-512 runs (the vector path is taken when detected).
    let (s1, d) = time(&|| e.sweep_kernel_scalar(w, 1).unwrap());
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a, d);
    println!(
        "{} positions, {} accounts, {} liquidatable, {} warnings at {w:?} ppm (min of {reps}; \
         AVX-512 path: {})",
        n,
        accounts,
        a.liquidatable.len(),
        a.warnings.len(),
        Engine::sweep_simd_available()
    );
    for (name, t) in [
        ("reference 1 thread", r1),
        ("reference 2 threads", r2),
        ("kernel 1 thread", k1),
        ("kernel 2 threads", k2),
        ("scalar kernel 1 thread", s1),
    ] {
        println!("{name:>20}: {:8.2} ms  {:6.1} M positions/s", t * 1e3, n / t / 1e6);
    }
}
