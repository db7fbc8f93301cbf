//! Native measurements the Node process cannot make (run by `npm run bench`, kept out of the
//! library): live heap bytes of the store and of the watch's index, counted by a global
//! allocator, and ADL selection against a keyed sort, in natural and adversarial order.
//!
//!   cargo run --release -p deleverage-core --example bench_native -- memory <book file>
//!   cargo run --release -p deleverage-core --example bench_native -- adl <positions>
//!
//! The book file is written by bench/run.ts (`writeBookFile`): the same book the Node side
//! measures. Prints one JSON object on stdout.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use deleverage_core::adl::{cmp_fraction, AdlRanking, Candidate};
use deleverage_core::{ContractKind, Engine, MarginBasis, MarketSpec, PositionRows, TierForm};

/// Counts live bytes (allocated − freed) and their peak; the allocation itself is the system's.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            grew(l.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        LIVE.fetch_sub(l.size() as isize, Relaxed);
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(l);
        if !p.is_null() {
            grew(l.size() as isize);
        }
        p
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            grew(new as isize - l.size() as isize);
        }
        q
    }
}

fn grew(d: isize) {
    let now = LIVE.fetch_add(d, Relaxed) + d;
    PEAK.fetch_max(now.max(0) as usize, Relaxed);
}

#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Relaxed)
}

/// Little-endian reader over the book file.
struct Rd<'a>(&'a [u8]);
impl Rd<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn u32s(&mut self, n: usize) -> Vec<u32> {
        (0..n).map(|_| self.u32()).collect()
    }
    fn i64s(&mut self, n: usize) -> Vec<i64> {
        (0..n).map(|_| self.i64()).collect()
    }
}

struct Book {
    quote_decimals: u32,
    markets: Vec<MarketSpec>,
    ids: Vec<String>,
    balances: Vec<i64>,
    account: Vec<u32>,
    market: Vec<u32>,
    qty: Vec<i64>,
    entry: Vec<i64>,
    isolated_margin: Vec<i64>,
    flags: Vec<u8>,
}

fn read_book(path: &str) -> Book {
    let bytes = std::fs::read(path).expect("read the book file");
    let mut r = Rd(&bytes);
    assert_eq!(r.take(8), b"DLVBOOK1", "not a book file");
    let quote_decimals = r.u32();
    let n_markets = r.u32() as usize;
    let mut markets = Vec::new();
    for m in 0..n_markets {
        let (kind, price_decimals, qty_decimals, basis, form, tiers) =
            (r.u32(), r.u32(), r.u32(), r.u32(), r.u32(), r.u32() as usize);
        let (contract_size, mark) = (r.i64(), r.i64());
        let (floors, mmr, imr) = (r.i64s(tiers), r.i64s(tiers), r.i64s(tiers));
        markets.push(MarketSpec {
            symbol: format!("M{m}"),
            kind: if kind == 0 { ContractKind::Linear } else { ContractKind::Inverse },
            price_decimals,
            qty_decimals,
            contract_size,
            basis: if basis == 0 { MarginBasis::Mark } else { MarginBasis::Entry },
            form: if form == 0 { TierForm::Deduction } else { TierForm::Step },
            floors,
            mmr,
            imr,
            maint_amount: None,
            mark,
        });
    }
    let accounts = r.i64() as usize;
    let balances = r.i64s(accounts);
    let n = r.i64() as usize;
    let account = r.u32s(n);
    let market = r.u32s(n);
    let qty = r.i64s(n);
    let entry = r.i64s(n);
    let isolated_margin = r.i64s(n);
    let flags = r.take(n).to_vec();
    // the ids the Node side uses (synthetic.ts `load`)
    let ids = (0..accounts).map(|i| format!("acct-{i}")).collect();
    Book {
        quote_decimals,
        markets,
        ids,
        balances,
        account,
        market,
        qty,
        entry,
        isolated_margin,
        flags,
    }
}

/// Live bytes of an engine built from the book, and with the watch's index built.
fn memory(path: &str) {
    let book = read_book(path);
    let n = book.qty.len() as f64;
    let before = live();
    let t = Instant::now();
    let mut e = Engine::new(book.quote_decimals).unwrap();
    for m in &book.markets {
        e.add_market(m.clone()).unwrap();
    }
    e.add_accounts(&book.ids, &book.balances).unwrap();
    let rows = PositionRows {
        account: &book.account,
        market: &book.market,
        qty: &book.qty,
        price: &book.entry,
        isolated_margin: &book.isolated_margin,
        flags: &book.flags,
    };
    e.set_positions(&rows).unwrap();
    let build_ms = t.elapsed().as_secs_f64() * 1e3;
    let store = live() - before;
    let peak_build = PEAK.load(Relaxed) as isize - before;
    // The sweep's blocked layout is built on the first sweep.
    let t = Instant::now();
    e.sweep(None).unwrap();
    let layout_ms = t.elapsed().as_secs_f64() * 1e3;
    let with_layout = live() - before;
    let t = Instant::now();
    let liq = e.watch_liquidatable().unwrap().len();
    let index_ms = t.elapsed().as_secs_f64() * 1e3;
    let with_index = live() - before;
    // The estimate the binding reports to V8, beside what the allocator counted.
    let estimate = e.heap_bytes() as f64 / n;
    println!(
        "{{\"positions\":{},\"accounts\":{},\"storeBytes\":{store},\"storeBytesPerPosition\":{:.2},\"withIndexBytes\":{with_index},\"withIndexBytesPerPosition\":{:.2},\"withLayoutBytesPerPosition\":{:.2},\"layoutBuildMs\":{layout_ms:.1},\"peakBuildBytesPerPosition\":{:.2},\"buildMs\":{build_ms:.1},\"indexBuildMs\":{index_ms:.1},\"liquidatable\":{liq},\"estimatedBytesPerPosition\":{estimate:.2}}}",
        book.qty.len(),
        book.balances.len(),
        store as f64 / n,
        with_index as f64 / n,
        with_layout as f64 / n,
        peak_build as f64 / n,
    );
    drop(e);
}

/// Queue order of adl.rs: higher score first, then larger size, then account id (bytewise).
fn queue_order(e: &Engine, x: &Candidate, y: &Candidate) -> Ordering {
    cmp_fraction(y.num, y.den, x.num, x.den)
        .then_with(|| y.qty.unsigned_abs().cmp(&x.qty.unsigned_abs()))
        .then_with(|| {
            e.account_id(x.account)
                .unwrap()
                .as_bytes()
                .cmp(e.account_id(y.account).unwrap().as_bytes())
        })
}

/// What a team writes instead of selection: one f64 key per candidate, an unstable sort on it,
/// then every run of near-equal keys (within 10^-12 relative, beyond the keys' error) re-sorted
/// exactly; the prefix reaching `need` is taken from the sorted side.
fn keyed_sort_prefix(e: &Engine, cands: &[Candidate], need: u128) -> Vec<Candidate> {
    let mut keyed: Vec<(f64, u32)> =
        cands.iter().enumerate().map(|(i, c)| (c.num as f64 / c.den as f64, i as u32)).collect();
    keyed.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    let near = |a: f64, b: f64| (a - b).abs() <= (a.abs() + b.abs()) * 1e-12;
    let mut i = 0;
    while i < keyed.len() {
        let mut j = i + 1;
        while j < keyed.len() && near(keyed[j - 1].0, keyed[j].0) {
            j += 1;
        }
        if j - i > 1 {
            keyed[i..j].sort_by(|a, b| queue_order(e, &cands[a.1 as usize], &cands[b.1 as usize]));
        }
        i = j;
    }
    let mut out = Vec::new();
    let mut total = 0u128;
    for &(_, k) in &keyed {
        if total >= need && !out.is_empty() {
            break;
        }
        let c = cands[k as usize];
        total += c.qty.unsigned_abs() as u128;
        out.push(c);
    }
    out
}

/// A reproducible LCG (as synthetic.ts).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0 * 48271 % 2147483647;
        self.0 % n
    }
}

/// ADL over `n` short positions in one market, a quarter of them in groups with exactly equal
/// scores (the tie-break decides): selection in store order and in adversarial order (worst
/// first, so every candidate enters the heap), against the keyed sort and the exact full sort.
fn adl(n: usize) {
    let mut rng = Lcg(7);
    let mut e = Engine::new(8).unwrap();
    let mark = 3_000_000i64; // 30 000.00
    e.add_market(MarketSpec {
        floors: vec![0, 5_000_000_000],
        mmr: vec![400_000, 800_000],
        imr: vec![800_000, 1_600_000],
        ..MarketSpec::one_tier("ADL-PERP", 500_000, mark)
    })
    .unwrap();
    let ids: Vec<String> = (0..n).map(|i| format!("adl-{i}")).collect();
    let mut balances = Vec::with_capacity(n);
    let mut qty = Vec::with_capacity(n);
    let mut entry = Vec::with_capacity(n);
    for i in 0..n {
        if i % 4 == 0 {
            // tied groups of 64: the same balance, size and entry
            let g = (i / 256) as i64;
            balances.push((1_000 + g % 1000) * 100_000_000);
            qty.push(-(1 + g % 5_000));
            entry.push(mark + 1 + g % 300);
        } else {
            balances.push((1_000 + rng.next(100_000) as i64) * 100_000_000);
            qty.push(-(1 + rng.next(10_000) as i64));
            entry.push(mark * (900 + rng.next(200) as i64) / 1000);
        }
    }
    e.add_accounts(&ids, &balances).unwrap();
    let account: Vec<u32> = (0..n as u32).collect();
    let market = vec![0u32; n];
    let zeros = vec![0i64; n];
    let flags = vec![0u8; n];
    e.set_positions(&PositionRows {
        account: &account,
        market: &market,
        qty: &qty,
        price: &entry,
        isolated_margin: &zeros,
        flags: &flags,
    })
    .unwrap();
    // a bankrupt long needing about 100 average short sizes
    let need =
        (qty.iter().map(|q| q.unsigned_abs() as u128).sum::<u128>() * 100 / n as u128) as u64;
    let cands = e.adl_candidates(0, -1, AdlRanking::Bitmex, None).unwrap();
    let mut sorted = cands.clone();
    let t = Instant::now();
    e.sort_queue(&mut sorted);
    let full_sort_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut adversarial = sorted.clone();
    adversarial.reverse();
    let med = |f: &mut dyn FnMut() -> Vec<Candidate>| -> (f64, Vec<Candidate>) {
        let mut ts = Vec::new();
        let mut out = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            out = f();
            ts.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ts.sort_by(|a, b| a.total_cmp(b));
        (ts[2], out)
    };
    let (select_ms, top) = med(&mut || e.adl_select(cands.clone(), need));
    let (select_adv_ms, top_adv) = med(&mut || e.adl_select(adversarial.clone(), need));
    let (keyed_ms, top_keyed) = med(&mut || keyed_sort_prefix(&e, &cands, need as u128));
    let (keyed_adv_ms, top_keyed_adv) =
        med(&mut || keyed_sort_prefix(&e, &adversarial, need as u128));
    let head = &sorted[..top.len().min(sorted.len())];
    let agree = top == head && top_adv == head && top_keyed == head && top_keyed_adv == head;
    assert!(agree, "selection, keyed sort and full sort disagree");
    let tied = sorted
        .windows(2)
        .filter(|w| cmp_fraction(w[0].num, w[0].den, w[1].num, w[1].den) == Ordering::Equal)
        .count();
    println!(
        "{{\"positions\":{n},\"needLots\":{need},\"selected\":{},\"tiedNeighbours\":{tied},\"selectionMs\":{select_ms:.3},\"selectionAdversarialMs\":{select_adv_ms:.3},\"keyedSortMs\":{keyed_ms:.3},\"keyedSortAdversarialMs\":{keyed_adv_ms:.3},\"exactFullSortMs\":{full_sort_ms:.3},\"agree\":{agree}}}",
        top.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("memory") => memory(&args[2]),
        Some("adl") => adl(args[2].parse().unwrap()),
        _ => eprintln!("usage: bench_native memory <book file> | adl <positions>"),
    }
}
