//! Timing of the liquidation map (SPEC §18) against one full sweep of the same book, both on one
//! thread, in the same run: the map of the largest market (100 buckets, mark ± 20 %), and the
//! average over all markets as a secondary line. Minimum over repeats (the machine is shared):
//! `BOOK=ragged cargo run --release --example liq_map_bench -- 1000000 [reps]`.
//! ONLY=map N=200 runs the largest market's map N times (for `perf record`).
#[path = "common/ragged.rs"]
mod ragged;

use deleverage_core::*;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let positions = *args.first().unwrap_or(&1_000_000);
    let reps = *args.get(1).unwrap_or(&30);
    let e = ragged::ragged_book(positions);
    let markets = e.markets().len() as u32;
    let count = |m: u32| e.positions(m).qty.len();
    let largest = (0..markets).max_by_key(|&m| count(m)).unwrap();
    let map = |m: u32| {
        let mark = e.markets()[m as usize].mark;
        let t = e.markets()[m as usize].tick_size;
        let (from, to) = (mark * 8 / 10 / t * t, mark * 12 / 10 / t * t);
        e.liquidation_map(m, from, to, 100).unwrap()
    };
    if std::env::var("ONLY").is_ok_and(|o| o == "map") {
        let n = std::env::var("N").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
        for _ in 0..n {
            std::hint::black_box(map(largest));
        }
        return;
    }
    let best = |f: &dyn Fn()| {
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::MAX, f64::min)
    };
    let sweep = best(&|| {
        std::hint::black_box(e.sweep_threads(None, 1).unwrap());
    });
    let one = best(&|| {
        std::hint::black_box(map(largest));
    });
    // The solves alone (base: the balance, no other positions read): what the cross bases cost
    // is the map's time less this.
    let solves = best(&|| {
        let col = e.positions(largest);
        let mut solver = liq_map::TriggerSolver::new(&e.markets()[largest as usize]);
        for s in 0..col.qty.len() {
            let base = e.accounts()[col.account[s] as usize].balance as i128;
            std::hint::black_box(solver.solve(col.qty[s], col.cost[s], base, false).unwrap());
        }
    });
    let all = best(&|| {
        for m in 0..markets {
            std::hint::black_box(map(m));
        }
    });
    println!(
        "{} positions, {markets} markets, min of {reps} (AVX-512 sweep: {})",
        e.position_count(),
        Engine::sweep_simd_available()
    );
    println!("  full sweep, 1 thread:                     {sweep:8.3} ms");
    println!(
        "  map of the largest market ({:>6} pos.):  {one:8.3} ms = {:.2} sweeps",
        count(largest),
        one / sweep
    );
    println!("  its trigger solves alone:                {solves:8.3} ms");
    println!(
        "  map, average per market:                 {:8.3} ms = {:.2} sweeps",
        all / markets as f64,
        all / markets as f64 / sweep
    );
}
