//! The shared vectors (test/vectors/*.json): venues' published examples and named scenarios,
//! run on the Rust core. test/vectors.test.ts runs the same files on both engines through the
//! TypeScript API, so a rule's expected values are written once (format: test/vectors/README.md).
//! This runner reads the scenario files' decimal strings itself (the core speaks integer units).

use std::path::Path;

use deleverage_core::adl::AdlRanking;
use deleverage_core::market::MarketTerms;
use deleverage_core::waterfall::{Event, FillModel, FundPolicy, WaterfallConfig, NONE};
use deleverage_core::*;
use serde_json::{Map, Value};

const RATE_DECIMALS: u32 = 8;
type Obj = Map<String, Value>;

fn obj(v: &Value) -> &Obj {
    v.as_object().unwrap_or_else(|| panic!("expected an object, got {v}"))
}
fn text<'a>(o: &'a Obj, k: &str) -> &'a str {
    o.get(k).and_then(Value::as_str).unwrap_or_else(|| panic!("{k}: expected a string in {o:?}"))
}
fn int(o: &Obj, k: &str) -> i64 {
    o.get(k).and_then(Value::as_i64).unwrap_or_else(|| panic!("{k}: expected an integer"))
}

/// Exact units of a decimal string at `places` decimals (more decimals than that is a bad vector).
fn units(s: &str, places: u32) -> i128 {
    let (neg, s) = s.strip_prefix('-').map_or((false, s), |r| (true, r));
    let (i, f) = s.split_once('.').unwrap_or((s, ""));
    assert!(f.len() <= places as usize, "{s} has more than {places} decimals");
    let digits = format!("{i}{f:0<width$}", width = places as usize);
    let u: i128 = digits.parse().unwrap_or_else(|_| panic!("not a decimal: {s}"));
    if neg {
        -u
    } else {
        u
    }
}
fn units64(s: &str, places: u32) -> i64 {
    i64::try_from(units(s, places)).expect("fits i64")
}
fn decimals(s: &str) -> u32 {
    s.split_once('.').map_or(0, |(_, f)| f.len() as u32)
}

/// `value` units at `places` decimals rounded half-up (away from zero) to `to` decimals.
fn round_half_up(value: i128, places: u32, to: u32) -> i128 {
    let d = 10i128.pow(places - to);
    let q = (value.abs() + d / 2) / d;
    q * value.signum()
}

fn market_spec(m: &Obj, quote_decimals: u32) -> (MarketSpec, MarketTerms) {
    let inverse = m.get("type").and_then(Value::as_str) == Some("inverse");
    let p = int(m, "priceDecimals") as u32;
    let q = int(m, "qtyDecimals") as u32;
    let tier_decimals = if inverse { quote_decimals } else { p + q };
    let tiers = m["tiers"].as_array().expect("tiers");
    let mut spec = MarketSpec {
        symbol: text(m, "symbol").into(),
        kind: if inverse { ContractKind::Inverse } else { ContractKind::Linear },
        price_decimals: p,
        qty_decimals: q,
        contract_size: m.get("contractSize").map_or(1, |_| units64(text(m, "contractSize"), 0)),
        basis: match m.get("marginBasis").and_then(Value::as_str) {
            Some("entry") => MarginBasis::Entry,
            _ => MarginBasis::Mark,
        },
        form: match m.get("tierForm").and_then(Value::as_str) {
            Some("step") => TierForm::Step,
            _ => TierForm::Deduction,
        },
        floors: vec![],
        mmr: vec![],
        imr: vec![],
        maint_amount: None,
        mark: units64(text(m, "mark"), p),
    };
    let mut maint = vec![];
    for t in tiers.iter().map(obj) {
        let mmr = units64(text(t, "mmr"), RATE_DECIMALS);
        spec.floors.push(units64(text(t, "floor"), tier_decimals));
        spec.mmr.push(mmr);
        spec.imr.push(if t.contains_key("imr") {
            units64(text(t, "imr"), RATE_DECIMALS)
        } else if t.contains_key("maxLeverage") {
            // imr = ceil(1 / leverage) in rate units (as the TypeScript API derives it)
            let lev = units(text(t, "maxLeverage"), RATE_DECIMALS);
            ((10i128.pow(2 * RATE_DECIMALS) + lev - 1) / lev) as i64
        } else {
            (mmr * 2).min(10i64.pow(RATE_DECIMALS))
        });
        if t.contains_key("maintAmount") {
            maint.push(units(text(t, "maintAmount"), tier_decimals + RATE_DECIMALS));
        }
    }
    if !maint.is_empty() {
        spec.maint_amount = Some(maint);
    }
    let terms = MarketTerms {
        tick_size: m.get("tickSize").map_or(0, |_| units64(text(m, "tickSize"), p)),
        settle_asset: m.get("settleAsset").and_then(Value::as_str).map(String::from),
    };
    (spec, terms)
}

/// The engine a scenario file describes (docs/SCENARIO.md: the parts the vectors use).
fn engine_from(scenario: &Obj) -> Engine {
    for k in scenario.keys() {
        assert!(["quoteDecimals", "markets", "accounts"].contains(&k.as_str()), "runner: {k}");
    }
    let qd = scenario.get("quoteDecimals").and_then(Value::as_u64).unwrap_or(8) as u32;
    let mut e = Engine::new(qd).unwrap();
    for m in scenario["markets"].as_array().unwrap().iter().map(obj) {
        let (spec, terms) = market_spec(m, qd);
        e.add_market_with(spec, terms).unwrap();
    }
    for a in scenario["accounts"].as_array().unwrap().iter().map(obj) {
        let i = e.add_accounts(&[text(a, "id").into()], &[units64(text(a, "balance"), qd)]);
        let i = i.unwrap();
        for p in a.get("positions").and_then(Value::as_array).into_iter().flatten().map(obj) {
            let m = e.market_index(text(p, "symbol")).expect("market");
            let mk = &e.markets()[m as usize];
            let iso = p.get("isolatedMargin").map(|_| units64(text(p, "isolatedMargin"), qd));
            let rows = PositionRows {
                account: &[i],
                market: &[m],
                qty: &[units64(text(p, "qty"), mk.qty_decimals)],
                price: &[units64(text(p, "entry"), mk.price_decimals)],
                isolated_margin: &[iso.unwrap_or(0)],
                flags: &[if iso.is_some() { FLAG_ISOLATED } else { 0 }],
            };
            e.set_positions(&rows).unwrap();
        }
    }
    e
}

struct Runner {
    e: Engine,
    at: String,
}

impl Runner {
    fn market(&self, symbol: &str) -> u32 {
        self.e.market_index(symbol).unwrap_or_else(|| panic!("{}: no market {symbol}", self.at))
    }
    fn account(&self, id: &str) -> u32 {
        self.e.account_index(id).unwrap_or_else(|| panic!("{}: no account {id}", self.at))
    }
    fn qd(&self) -> u32 {
        self.e.quote_decimals()
    }

    /// Runs the step's operation; returns the events it wrote.
    fn act(&mut self, s: &Obj) -> Vec<Event> {
        let from = self.e.next_seq();
        let Some(op) = s.get("do").and_then(Value::as_str) else { return vec![] };
        let qd = self.qd();
        match op {
            "setMarks" => {
                for (sym, price) in obj(&s["marks"]) {
                    let m = self.market(sym);
                    let p = units64(
                        price.as_str().unwrap(),
                        self.e.markets()[m as usize].price_decimals,
                    );
                    self.e.set_marks(&[m], &[p]).unwrap();
                }
            }
            "configureWaterfall" => self.configure(obj(&s["config"])),
            "depositInsuranceFund" => {
                self.e.deposit_fund(units64(text(s, "amount"), qd), 0).unwrap()
            }
            "runWaterfall" => {
                let model = s.get("fill").map_or(FillModel::AtMark, |f| FillModel::Impact {
                    ppm_per_lot: int(obj(f), "ppmPerLot"),
                    cap_ppm: int(obj(f), "capPpm"),
                });
                self.e.run_waterfall(model, 0).unwrap();
            }
            "socialiseLoss" => {
                let (m, b) = (self.market(text(s, "symbol")), self.account(text(s, "beneficiary")));
                self.e.socialise_loss(m, units64(text(s, "amount"), qd), b).unwrap();
            }
            "settleFunding" => {
                let m = self.market(text(s, "symbol"));
                self.e.settle_funding(m, units64(text(s, "rate"), RATE_DECIMALS)).unwrap();
            }
            "planLiquidation" => self.check_plan(text(s, "account"), obj(&s["expectPlan"])),
            _ => panic!("{}: unknown step {op}", self.at),
        }
        self.e.events().iter().filter(|x| x.seq >= from).copied().collect()
    }

    fn configure(&mut self, c: &Obj) {
        let mut config = WaterfallConfig::default();
        for (k, v) in c {
            let v = v.as_str().unwrap();
            match k.as_str() {
                "liquidationFee" => config.fee_rate = units64(v, RATE_DECIMALS),
                "buffer" => config.buffer_rate = units64(v, RATE_DECIMALS),
                "ranking" => {
                    config.ranking = *AdlRanking::ALL.iter().find(|r| r.name() == v).unwrap()
                }
                "fundPolicy" => {
                    config.policy = match v {
                        "exhausted" => FundPolicy::Exhausted,
                        "socialise" => FundPolicy::Socialise,
                        _ => panic!("runner: fund policy {v}"),
                    }
                }
                _ => panic!("runner: waterfall option {k}"),
            }
        }
        self.e.configure_waterfall(config).unwrap();
    }

    fn check_plan(&self, account: &str, want: &Obj) {
        let plan = self.e.plan_liquidation(self.account(account), None).unwrap();
        assert_eq!(plan.takeover, want["takeover"].as_bool().unwrap(), "{}", self.at);
        let orders = want["orders"].as_array().unwrap();
        assert_eq!(plan.orders.len(), orders.len(), "{}", self.at);
        for (&(m, qty), o) in plan.orders.iter().zip(orders.iter().map(obj)) {
            assert_eq!(m, self.market(text(o, "symbol")), "{}", self.at);
            let d = self.e.markets()[m as usize].qty_decimals;
            assert_eq!(qty, units64(text(o, "qty"), d), "{}: plan qty", self.at);
        }
    }

    /// Event field `k` equals the vector's decimal or name `want`.
    fn event_has(&self, x: &Event, k: &str, want: &str) -> bool {
        let id =
            |a: u32| if a == NONE { String::new() } else { self.e.account_id(a).unwrap().into() };
        let mk = self.e.markets().get(x.market as usize);
        match k {
            "kind" => x.kind.name() == want,
            "account" => id(x.account) == want,
            "counterparty" => id(x.counterparty) == want,
            "symbol" => mk.is_some_and(|m| m.symbol == want),
            "qty" => mk.is_some_and(|m| x.qty as i128 == units(want, m.qty_decimals)),
            "price" => mk.is_some_and(|m| x.price as i128 == units(want, m.price_decimals)),
            "amount" => x.amount as i128 == units(want, self.qd()),
            _ => panic!("runner: event field {k}"),
        }
    }
    fn event_matches(&self, x: &Event, want: &Obj) -> bool {
        want.iter().all(|(k, v)| self.event_has(x, k, v.as_str().unwrap()))
    }

    fn check_events(&self, events: &[Event], s: &Obj) {
        let list = |k: &str| s.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
        for want in list("expectEvents") {
            let hit = events.iter().any(|x| self.event_matches(x, obj(&want)));
            assert!(hit, "{}: no event {want} in {events:?}", self.at);
        }
        for want in list("expectNoEvents") {
            let hit = events.iter().any(|x| self.event_matches(x, obj(&want)));
            assert!(!hit, "{}: unexpected event {want}", self.at);
        }
        for want in list("expectEventSums") {
            let want = obj(&want);
            let filter: Obj = want
                .iter()
                .filter(|(k, _)| *k == "kind" || *k == "account")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let hit: Vec<&Event> =
                events.iter().filter(|x| self.event_matches(x, &filter)).collect();
            for (k, total) in want.iter().filter(|(k, _)| !filter.contains_key(*k)) {
                let sum: i64 = hit.iter().map(|x| if k == "qty" { x.qty } else { x.amount }).sum();
                let d = match hit.first() {
                    Some(x) if k == "qty" => self.e.markets()[x.market as usize].qty_decimals,
                    _ => self.qd(),
                };
                assert_eq!(
                    sum as i128,
                    units(total.as_str().unwrap(), d),
                    "{}: Σ {want:?}",
                    self.at
                );
            }
        }
    }

    fn check_positions(&self, s: &Obj) {
        let risks = self.e.position_risks(None).unwrap();
        let Some(list) = s.get("expectPositions").and_then(Value::as_array) else { return };
        for want in list.iter().map(obj) {
            let (a, m) = (self.account(text(want, "account")), self.market(text(want, "symbol")));
            let mk = &self.e.markets()[m as usize];
            let r = risks.iter().find(|r| r.account == a && r.market == m);
            for (key, v) in want.iter().filter(|(k, _)| *k != "account" && *k != "symbol") {
                let v = v.as_str().unwrap();
                let (k, places) = key
                    .split_once('@')
                    .map_or((key.as_str(), None), |(k, n)| (k, Some(n.parse::<u32>().unwrap())));
                if k == "qty" && r.is_none() && units(v, decimals(v)) == 0 {
                    continue; // a closed position is gone
                }
                let r = r.unwrap_or_else(|| panic!("{}: no position {want:?}", self.at));
                let (actual, d) = match k {
                    "qty" => (r.qty, mk.qty_decimals),
                    "unrealizedPnl" => (r.upnl, self.qd()),
                    "maintenanceMargin" => (r.maintenance_margin, self.qd()),
                    "liquidationPrice" => {
                        (r.liquidation.map_or(0, |p| p.conservative), mk.price_decimals)
                    }
                    "liquidationPriceNearest" => {
                        (r.liquidation.map_or(0, |p| p.nearest), mk.price_decimals)
                    }
                    "bankruptcyPrice" => {
                        (r.bankruptcy.map_or(0, |p| p.conservative), mk.price_decimals)
                    }
                    "bankruptcyPriceNearest" => {
                        (r.bankruptcy.map_or(0, |p| p.nearest), mk.price_decimals)
                    }
                    _ => panic!("runner: position field {k}"),
                };
                let actual = match places {
                    Some(n) => round_half_up(actual as i128, d, n),
                    None => actual as i128,
                };
                assert_eq!(actual, units(v, places.unwrap_or(d)), "{}: {key} of {want:?}", self.at);
            }
        }
    }

    fn check_accounts(&self, s: &Obj) {
        for (id, fields) in s.get("expectAccounts").map(obj).into_iter().flatten() {
            let a = self.account(id);
            let equity = self.e.account_rows(Some(&[a])).unwrap()[0].equity as i128;
            for (k, v) in obj(fields) {
                let want = units(v.as_str().unwrap(), self.qd());
                match k.as_str() {
                    "balance" => assert_eq!(self.e.accounts()[a as usize].balance as i128, want),
                    "equity" => assert_eq!(equity, want, "{}: {id} equity", self.at),
                    "equityMin" => assert!(equity >= want, "{}: {id} equity {equity}", self.at),
                    _ => panic!("runner: account field {k}"),
                }
            }
        }
        for (k, v) in s.get("expectLedger").map(obj).into_iter().flatten() {
            let actual = match k.as_str() {
                "insuranceFund" => self.e.insurance_fund() as i128,
                "residue" => self.e.residue() as i128,
                _ => panic!("runner: ledger field {k}"),
            };
            assert_eq!(actual, units(v.as_str().unwrap(), self.qd()), "{}: ledger {k}", self.at);
        }
    }
}

fn run_case(file: &str, c: &Obj) {
    let id = text(c, "id");
    assert!(text(c, "source").len() > 40, "{file} {id}: every vector cites its source");
    let mut r = Runner { e: engine_from(obj(&c["scenario"])), at: String::new() };
    for (i, s) in c["steps"].as_array().unwrap().iter().map(obj).enumerate() {
        r.at = format!("{file} {id} step {i}");
        let cash = r.e.cash_total();
        let events = r.act(s);
        assert_eq!(r.e.cash_total(), cash, "{}: the cash total moved", r.at);
        r.check_events(&events, s);
        r.check_positions(s);
        r.check_accounts(s);
    }
}

#[test]
fn the_shared_vectors_hold_on_the_rust_core() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/vectors");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|f| f.unwrap().path()).collect();
    files.retain(|p| p.extension().is_some_and(|x| x == "json"));
    files.sort();
    let mut ran = 0;
    for path in &files {
        let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy();
        for c in doc["cases"].as_array().unwrap() {
            run_case(&name, obj(c));
            ran += 1;
        }
    }
    // venues G1–G5, drift G6–G7, the tick example and the named waterfall scenarios
    assert!(ran >= 14, "only {ran} vectors in {}", dir.display());
}
