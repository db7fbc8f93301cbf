//! makeRaggedMarket of src/synthetic.ts in Rust, shared by the examples (sweep_bench, liq_map_bench).
use deleverage_core::*;

/// makeRaggedMarket of src/synthetic.ts (defaults: 64 markets, 0.1 % liquidatable, 10 % isolated,
/// 16 near-limit accounts, seed 7919), the same generator step for step (floats only to size
/// the book, as there).
pub fn ragged_book(positions: usize) -> Engine {
    let q = 8u32;
    let mut r = Lcg(7919);
    let mut e = Engine::new(q).unwrap();
    let tiers_of = ragged_markets(&mut e, &mut r);
    let margin = |m: usize, q: i64, entry: i64| float_margin(&tiers_of[m], q, entry);

    let (liq_p, iso_pct, near_n) = (0.001, 10.0, 16usize);
    let atoms = |quote: f64| (quote * 1e4).round().max(0.0) as i64 * 10i64.pow(q - 4);
    let near_every = (positions / 4 / near_n).max(1);
    let (mut acc, mut mkt, mut qty, mut px, mut im, mut fl, mut bal) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let mut a = 0usize;
    while acc.len() < positions {
        let near = a % near_every == near_every - 1 && a / near_every < near_n;
        let n = if near { 1 } else { (1 + r.next(7) as usize).min(positions - acc.len()) };
        let start = r.next(64) as usize;
        let bad = r.unit() < liq_p;
        let (mut upnl, mut mm) = (0.0, 0.0);
        for k in 0..n {
            let m = (start + k) % 64;
            let mark = tiers_of[m].2;
            let qq = sized_qty(&mut r, &tiers_of[m], near);
            let long = r.next(2) == 1;
            let iso = !near && r.unit() * 100.0 < iso_pct;
            let iso_bad = iso && r.unit() < liq_p;
            let adverse = if (if iso { iso_bad } else { bad }) || r.next(2) == 1 { 1 } else { -1 };
            let dev = r.next(400) as i64 * adverse;
            let entry =
                (mark as i128 * (10_000 + if long { dev } else { -dev }) as i128 / 10_000) as i64;
            let sq = if long { qq } else { -qq };
            let (u, pm) = margin(m, sq, entry);
            acc.push(a as u32);
            mkt.push(m as u32);
            qty.push(sq);
            px.push(entry);
            if iso {
                fl.push(FLAG_ISOLATED);
                let mg = if iso_bad {
                    pm - u - pm * (0.02 + 0.58 * r.unit())
                } else {
                    pm - u + pm * (0.1 + 20.0 * r.unit())
                };
                im.push(atoms(mg.max(0.0)));
            } else {
                fl.push(0);
                im.push(0);
                upnl += u;
                mm += pm;
            }
        }
        let extra = extra_margin(&mut r, mm, bad, near);
        bal.push(atoms(mm - upnl + extra));
        a += 1;
    }
    let ids: Vec<String> = (0..a).map(|i| format!("acct-{i}")).collect();
    e.add_accounts(&ids, &bal).unwrap();
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

/// The lcg of src/synthetic.ts.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = (self.0 * 48271) % 2147483647;
        self.0 % n
    }
    fn unit(&mut self) -> f64 {
        self.next(1_000_000) as f64 / 1e6
    }
}

/// Price and qty decimals of the ragged book; its tier floors in quote.
const RP: i32 = 2;
const RD: i32 = 3;
const FLOORS: [f64; 5] = [0.0, 50_000.0, 250_000.0, 1_000_000.0, 5_000_000.0];

/// A market's (floors, rates, mark) as the generator sees them.
type Tiers = (Vec<i64>, Vec<i64>, i64);

/// The ragged book's 64 markets, added to `e`.
fn ragged_markets(e: &mut Engine, r: &mut Lcg) -> Vec<Tiers> {
    let (p, d) = (RP, RD);
    let mut tiers_of = vec![];
    for m in 0..64 {
        let tiers = 3 + (m % 3);
        let mut mmr = vec![400_000i64 + r.next(4) as i64 * 100_000];
        for t in 1..tiers {
            mmr.push(mmr[t - 1] * 2);
        }
        let floors: Vec<i64> =
            FLOORS[..tiers].iter().map(|f| *f as i64 * 10i64.pow((p + d) as u32)).collect();
        let mark = (1_000 + r.next(5_000_000) as i64) * 10i64.pow(p as u32);
        tiers_of.push((floors.clone(), mmr.clone(), mark));
        e.add_market(MarketSpec {
            symbol: format!("R{m}-PERP"),
            kind: ContractKind::Linear,
            price_decimals: p as u32,
            qty_decimals: d as u32,
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
    tiers_of
}

/// floatMargin of src/synthetic.ts: (uPnL, MM) in quote.
fn float_margin((floors, mmr, mark): &Tiers, q: i64, entry: i64) -> (f64, f64) {
    let (p, d) = (RP, RD);
    let x = *mark as f64 / 10f64.powi(p);
    let qf = q as f64 / 10f64.powi(d);
    let v = qf.abs() * x;
    let mut t = 0;
    while t + 1 < floors.len() && floors[t + 1] as f64 / 10f64.powi(p + d) <= v {
        t += 1;
    }
    let mut cum = 0.0;
    for i in 1..=t {
        cum += floors[i] as f64 / 10f64.powi(p + d) * ((mmr[i] - mmr[i - 1]) as f64 / 1e8);
    }
    (qf * (x - entry as f64 / 10f64.powi(p)), v * mmr[t] as f64 / 1e8 - cum)
}

/// A position's |qty|: a notional log-uniform inside a random tier (near-limit: 2–4·10^10 quote).
fn sized_qty(r: &mut Lcg, (floors, _, mark): &Tiers, near: bool) -> i64 {
    let tiers = floors.len();
    let t = r.next(tiers as u64) as usize;
    let lo = if FLOORS[t] == 0.0 { 2_000.0 } else { FLOORS[t] };
    let hi = if t + 1 < tiers { FLOORS[t + 1] } else { 2.0 * lo };
    let notional = if near { 2e10 * (1.0 + r.unit()) } else { lo * (hi / lo).powf(r.unit()) };
    let q = (notional * 10f64.powi(RD) / (*mark as f64 / 10f64.powi(RP))).floor() as i64;
    q.max(1)
}

/// An account's margin over its MM: short of it when liquidatable, 2–10 % for a warning.
fn extra_margin(r: &mut Lcg, mm: f64, bad: bool, near: bool) -> f64 {
    let warn = r.unit() < 0.05;
    if bad {
        -mm * (0.02 + 0.58 * r.unit())
    } else if warn {
        mm * (0.02 + 0.08 * r.unit())
    } else if near {
        mm * (0.1 + r.unit())
    } else {
        mm * (0.1 + 20.0 * r.unit())
    }
}
