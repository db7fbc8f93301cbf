//! The state hash, snapshots and restore (SPEC §12). One canonical byte encoding of the whole
//! engine state — markets, accounts (removed ones too: indices are never reused), positions in
//! storage order, the waterfall's configuration, fund, ledger, liquidator positions, fund
//! history and event log — is the body of a snapshot; its SHA-256 is the state hash and the
//! snapshot's checksum. The TypeScript engine (src/fallback/snapshot.ts) writes the same bytes.
//!
//! Storage order is part of the state on purpose: it decides the order of future events (funding,
//! loss shares), both engines keep it identically (swap-remove), so a restored engine continues
//! exactly as the original would have.

use sha2::{Digest, Sha256};

use crate::adl::AdlRanking;
use crate::engine::{check_id, Account, Engine};
use crate::error::{Error, ErrorCode, Result};
use crate::liq::domain;
use crate::market::{check_qty, ContractKind, MarginBasis, MarketSpec, TierForm};
use crate::num::{scale, to_i64, Round};
use crate::waterfall::{Event, EventKind, FundPolicy, WaterfallConfig, NONE};

/// The first 8 bytes of every snapshot.
pub const SNAPSHOT_MAGIC: &[u8; 8] = b"DLVGSNAP";
/// The format this engine writes and the only one it reads.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;
/// magic (8) + version u32 (4) + body length u64 (8).
const HEADER: usize = 20;
/// SHA-256 of the body, after it.
const CHECKSUM: usize = 32;
/// Bytes of one event in the body.
const EVENT_BYTES: u64 = 37;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i128(&mut self, v: i128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    /// Ids and symbols: 1–64 ASCII bytes, so one length byte.
    fn id(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Engine {
    /// The canonical encoding of the whole state (SPEC §12.1): the body of a snapshot.
    pub fn state_bytes(&self) -> Vec<u8> {
        let positions: usize = self.positions.iter().map(|c| c.qty.len()).sum();
        let mut w = Writer(Vec::with_capacity(
            64 + self.markets.len() * 256
                + self.accounts.len() * 80
                + positions * 29
                + self.waterfall.events.len() * 37,
        ));
        w.u8(self.quote_decimals as u8);
        w.u32(self.markets.len() as u32);
        for mk in &self.markets {
            w.id(&mk.symbol);
            w.u8(match mk.kind {
                ContractKind::Linear => 0,
                ContractKind::Inverse => 1,
            });
            w.u8(mk.price_decimals as u8);
            w.u8(mk.qty_decimals as u8);
            w.i64(mk.contract_size);
            w.u8(match mk.basis {
                MarginBasis::Mark => 0,
                MarginBasis::Entry => 1,
            });
            w.u8(match mk.form {
                TierForm::Deduction => 0,
                TierForm::Step => 1,
            });
            w.i64(mk.mark);
            w.i64(mk.tick_size);
            w.id(&mk.settle_asset);
            w.u32(mk.tiers.len() as u32);
            for t in &mk.tiers {
                w.i64(t.floor);
                w.i64(t.mmr);
                w.i64(t.imr);
                w.i128(t.maint_amount);
            }
        }
        w.u32(self.accounts.len() as u32);
        for acc in &self.accounts {
            w.id(&acc.id);
            w.u8(acc.alive as u8);
            // A removed account's balance can never be read or used again: canonically 0.
            w.i64(if acc.alive { acc.balance } else { 0 });
        }
        for col in &self.positions {
            w.u32(col.qty.len() as u32);
            for s in 0..col.qty.len() {
                w.u32(col.account[s]);
                w.i64(col.qty[s]);
                w.i64(col.cost[s]);
                w.u8(col.isolated[s] as u8);
                w.i64(col.isolated_margin[s]);
            }
        }
        let wf = &self.waterfall;
        let c = wf.config;
        w.i64(c.fee_rate);
        w.i64(c.buffer_rate);
        w.u8(c.ranking.code());
        w.u8(c.adl_at_mark as u8);
        match c.policy {
            FundPolicy::Exhausted => {
                w.u8(0);
                w.i64(0);
                w.i64(0);
                w.u64(0);
            }
            FundPolicy::Drawdown { trigger_ppm, stop_ppm, window } => {
                w.u8(1);
                w.i64(trigger_ppm);
                w.i64(stop_ppm);
                w.u64(window);
            }
            FundPolicy::Socialise => {
                w.u8(2);
                w.i64(0);
                w.i64(0);
                w.u64(0);
            }
        }
        w.i64(wf.fund);
        w.i128(wf.settlement);
        w.i64(wf.residue);
        w.u8(wf.adl_mode as u8);
        w.u64(wf.now);
        for m in 0..self.markets.len() as u32 {
            let (q, cost) = self.liquidator_position(m);
            w.i64(q);
            w.i64(cost);
        }
        w.u32(wf.fund_history.len() as u32);
        for &(t, f) in &wf.fund_history {
            w.u64(t);
            w.i64(f);
        }
        w.u64(wf.events.len() as u64);
        for ev in &wf.events {
            w.u8(ev.kind as u8);
            w.u32(ev.account);
            w.u32(ev.market);
            w.u32(ev.counterparty);
            w.i64(ev.qty);
            w.i64(ev.price);
            w.i64(ev.amount);
        }
        // The liquidation watch's last report (SPEC §14): what the next updateMarks diffs against.
        let reported = self.watch.reported();
        w.u32(reported.len() as u32);
        for &(a, m) in reported {
            w.u32(a);
            w.u32(m);
        }
        // Added after version 1 without a bump: the seq of the first event kept, only once events
        // were trimmed (trim_events), so an untrimmed state's bytes and hash are as before.
        // The pre-trade section (SPEC §17.8), only when used.
        self.encode_pretrade(&mut w.0);
        let first = self.first_seq();
        if first > 0 {
            w.u64(first);
        }
        w.0
    }

    /// SHA-256 of the canonical state (SPEC §12.1). Equal states, equal hashes, in both engines.
    pub fn state_hash(&self) -> [u8; 32] {
        Sha256::digest(self.state_bytes()).into()
    }

    /// The state hash as 64 lowercase hex digits.
    pub fn state_hash_hex(&self) -> String {
        hex(&self.state_hash())
    }

    /// A versioned, checksummed snapshot (SPEC §12.2): header, the state bytes, their SHA-256.
    pub fn snapshot(&self) -> Vec<u8> {
        seal_snapshot(&self.state_bytes())
    }

    /// Restore an engine from a snapshot (`decode_snapshot`).
    pub fn restore(bytes: &[u8]) -> Result<Engine> {
        decode_snapshot(bytes)
    }
}

fn invalid(msg: String) -> Error {
    Error::new(ErrorCode::SnapshotInvalid, msg)
}

/// Reads the body; every error names the snapshot offset where the offending field starts.
struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if self.end - self.pos < n {
            return Err(invalid(format!(
                "offset {}: {}: the body ends at offset {}",
                self.pos,
                field(),
                self.end
            )));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, field: &dyn Fn() -> String) -> Result<u8> {
        Ok(self.take(1, field)?[0])
    }
    fn u32(&mut self, field: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4, field)?.try_into().unwrap()))
    }
    fn u64(&mut self, field: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8, field)?.try_into().unwrap()))
    }
    fn i64(&mut self, field: &dyn Fn() -> String) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(8, field)?.try_into().unwrap()))
    }
    fn i128(&mut self, field: &dyn Fn() -> String) -> Result<i128> {
        Ok(i128::from_le_bytes(self.take(16, field)?.try_into().unwrap()))
    }
    /// A flag byte: 0 or 1.
    fn flag(&mut self, field: &dyn Fn() -> String) -> Result<bool> {
        let at = self.pos;
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(invalid(format!("offset {at}: {}: must be 0 or 1, got {v}", field()))),
        }
    }
    /// An id or symbol: a length byte, then 1–64 bytes of UTF-8 (market.rs `valid_name`).
    fn id(&mut self, field: &dyn Fn() -> String) -> Result<String> {
        let at = self.pos;
        let n = self.u8(field)? as usize;
        let s = self.take(n, field)?;
        match std::str::from_utf8(s) {
            Ok(s) if crate::market::valid_name(s) => Ok(s.to_string()),
            _ => Err(invalid(format!(
                "offset {at}: {}: must be {}",
                field(),
                crate::market::NAME_RULE
            ))),
        }
    }
}

/// A validator of the normal API refused a value: keep its code and message inside ours.
fn refused(at: usize, field: &str, e: Error) -> Error {
    invalid(format!("offset {at}: {field}: {}: {}", e.code.as_str(), e.message))
}

/// A snapshot of state bytes (SPEC §12.2): magic, format version, body length, the body, and its
/// SHA-256 (which is the state hash).
pub fn seal_snapshot(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len() + CHECKSUM);
    out.extend_from_slice(SNAPSHOT_MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&Sha256::digest(body));
    out
}

/// Decode and validate a snapshot into a new engine (SPEC §12.3). Pure: no I/O, no global state;
/// any byte string either gives an engine in a state the API could have produced, or an error
/// (SNAPSHOT_TRUNCATED, SNAPSHOT_CHECKSUM, SNAPSHOT_VERSION, SNAPSHOT_INVALID) naming the offset.
pub fn decode_snapshot(bytes: &[u8]) -> Result<Engine> {
    let n = bytes.len();
    if n < HEADER {
        return Err(Error::new(
            ErrorCode::SnapshotTruncated,
            format!("snapshot of {n} bytes is shorter than its {HEADER}-byte header"),
        ));
    }
    if &bytes[0..8] != SNAPSHOT_MAGIC {
        return Err(invalid(format!(
            "not a deleverage snapshot: bytes 0..8 are {}, expected {} (\"DLVGSNAP\")",
            hex(&bytes[0..8]),
            hex(SNAPSHOT_MAGIC)
        )));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
    if version != SNAPSHOT_FORMAT_VERSION {
        return Err(Error::new(ErrorCode::SnapshotVersion, format!("snapshot format version {version} (offset 8) is not supported; this engine reads version {SNAPSHOT_FORMAT_VERSION}")));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().unwrap());
    let follow = (n - HEADER) as u128;
    if follow < len as u128 + CHECKSUM as u128 {
        return Err(Error::new(ErrorCode::SnapshotTruncated, format!("snapshot truncated: the header (offset 12) announces {len} body bytes and a {CHECKSUM}-byte checksum, {follow} bytes follow the header")));
    }
    let end = HEADER + len as usize;
    if n > end + CHECKSUM {
        return Err(invalid(format!(
            "{} bytes after the checksum (offset {})",
            n - end - CHECKSUM,
            end + CHECKSUM
        )));
    }
    let body = &bytes[HEADER..end];
    let digest: [u8; 32] = Sha256::digest(body).into();
    if digest[..] != bytes[end..end + CHECKSUM] {
        return Err(Error::new(
            ErrorCode::SnapshotChecksum,
            format!(
                "checksum mismatch (offset {end}): the body hashes to {}, the snapshot says {}",
                hex(&digest),
                hex(&bytes[end..end + CHECKSUM])
            ),
        ));
    }
    decode_body(Reader { b: bytes, pos: HEADER, end })
}

fn decode_body(mut r: Reader) -> Result<Engine> {
    let at = r.pos;
    let q = r.u8(&|| "quoteDecimals".into())?;
    let mut e = Engine::new(q as u32).map_err(|x| refused(at, "quoteDecimals", x))?;

    let nm = r.u32(&|| "market count".into())?;
    for i in 0..nm {
        let at = r.pos;
        let f = |what: &str| format!("market {i} {what}");
        let symbol = r.id(&|| f("symbol"))?;
        let kat = r.pos;
        let kind = match r.u8(&|| f("kind"))? {
            0 => ContractKind::Linear,
            1 => ContractKind::Inverse,
            k => {
                return Err(invalid(format!(
                    "offset {kat}: {}: must be 0 (linear) or 1 (inverse), got {k}",
                    f("kind")
                )))
            }
        };
        let price_decimals = r.u8(&|| f("priceDecimals"))? as u32;
        let qty_decimals = r.u8(&|| f("qtyDecimals"))? as u32;
        let contract_size = r.i64(&|| f("contractSize"))?;
        let bat = r.pos;
        let basis = match r.u8(&|| f("basis"))? {
            0 => MarginBasis::Mark,
            1 => MarginBasis::Entry,
            b => {
                return Err(invalid(format!(
                    "offset {bat}: {}: must be 0 (mark) or 1 (entry), got {b}",
                    f("basis")
                )))
            }
        };
        let fat = r.pos;
        let form = match r.u8(&|| f("form"))? {
            0 => TierForm::Deduction,
            1 => TierForm::Step,
            x => {
                return Err(invalid(format!(
                    "offset {fat}: {}: must be 0 (deduction) or 1 (step), got {x}",
                    f("form")
                )))
            }
        };
        let mark = r.i64(&|| f("mark"))?;
        let tat = r.pos;
        let tick_size = r.i64(&|| f("tickSize"))?;
        if tick_size == 0 {
            // The API reads 0 as "the default, 1"; a snapshot stores the resolved size.
            return Err(invalid(format!(
                "offset {tat}: {}: must be at least 1, got 0",
                f("tickSize")
            )));
        }
        let settle_asset = Some(r.id(&|| f("settleAsset"))?);
        let nt = r.u32(&|| f("tier count"))?;
        let (mut floors, mut mmr, mut imr, mut maint) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in 0..nt {
            let g = |what: &str| format!("market {i} tier {t} {what}");
            floors.push(r.i64(&|| g("floor"))?);
            mmr.push(r.i64(&|| g("mmr"))?);
            imr.push(r.i64(&|| g("imr"))?);
            maint.push(r.i128(&|| g("maintAmount"))?);
        }
        // The maintenance amounts as stored: Market::new accepts them only where the API would
        // have (derived, or given and consistent with the floors).
        let spec = MarketSpec {
            symbol,
            kind,
            price_decimals,
            qty_decimals,
            contract_size,
            basis,
            form,
            floors,
            mmr,
            imr,
            maint_amount: Some(maint),
            mark,
        };
        let terms = crate::market::MarketTerms { tick_size, settle_asset };
        e.add_market_with(spec, terms).map_err(|x| refused(at, &format!("market {i}"), x))?;
    }

    let na = r.u32(&|| "account count".into())?;
    for a in 0..na {
        let at = r.pos;
        let f = |what: &str| format!("account {a} {what}");
        let id = r.id(&|| f("id"))?;
        check_id(&id).map_err(|x| refused(at, &f("id"), x))?;
        let alive = r.flag(&|| f("alive"))?;
        let bat = r.pos;
        let balance = r.i64(&|| f("balance"))?;
        if alive {
            if let Some(other) = e.account_index(&id) {
                return Err(invalid(format!(
                    "offset {at}: {}: {id} is also the id of live account {other}",
                    f("id")
                )));
            }
        } else if balance != 0 {
            return Err(invalid(format!(
                "offset {bat}: {}: a removed account's balance must be 0, got {balance}",
                f("balance")
            )));
        }
        e.accounts.push(Account { id, balance, alive, positions: Vec::new() });
        if alive {
            e.account_by_id.insert(&e.accounts, a);
        }
    }

    for m in 0..nm {
        let n = r.u32(&|| format!("market {m} position count"))?;
        let mk = e.markets[m as usize].clone();
        for s in 0..n {
            let at = r.pos;
            let f = |what: &str| format!("market {m} position {s} {what}");
            let a = r.u32(&|| f("account"))?;
            let qty = r.i64(&|| f("qty"))?;
            let cost = r.i64(&|| f("cost"))?;
            let isolated = r.flag(&|| f("isolated"))?;
            let im = r.i64(&|| f("isolatedMargin"))?;
            let bad = |what: &str, msg: String| invalid(format!("offset {at}: {}: {msg}", f(what)));
            if a >= na || !e.accounts[a as usize].alive {
                return Err(bad("account", format!("no live account with index {a}")));
            }
            // Markets are read in order, so an account's last reference tells a repeat.
            if e.accounts[a as usize].positions.last().is_some_and(|&(mm, _)| mm == m) {
                return Err(bad(
                    "account",
                    format!(
                        "account {} has two positions in market {}",
                        e.accounts[a as usize].id, mk.symbol
                    ),
                ));
            }
            // One settlement asset per account (SPEC §5.4): markets are read in order, so the
            // account's first position stands for all before this one.
            if let Some(&(m0, _)) = e.accounts[a as usize].positions.first() {
                if e.markets[m0 as usize].settle_asset != mk.settle_asset {
                    return Err(refused(
                        at,
                        &f("account"),
                        crate::settlement::mismatch(&e, a, m, m0),
                    ));
                }
            }
            if qty == 0 {
                return Err(bad("qty", "a stored position is never 0 lots".into()));
            }
            check_qty(qty, "qty").map_err(|x| refused(at, &f("qty"), x))?;
            let (lo, hi) = domain(&mk, qty, 0).map_err(|x| refused(at, &f("qty"), x))?;
            if lo > hi {
                return Err(bad(
                    "qty",
                    format!("position of {qty} lots is worth more than i64 atoms at every price"),
                ));
            }
            // Closing part of a position can leave a cost basis of 0, never one of the other sign.
            if cost != 0 && (cost > 0) != (qty > 0) {
                return Err(bad(
                    "cost",
                    format!("cost basis must be 0 or have the sign of qty ({qty}), got {cost}"),
                ));
            }
            if mk.kind == ContractKind::Linear {
                scale(cost as i128, mk.quote_exp(), Round::Floor, "cost basis (to atoms)")
                    .and_then(|v| to_i64(v, "cost basis (to atoms)"))
                    .map_err(|x| refused(at, &f("cost"), x))?;
            }
            // The waterfall may leave an isolated margin negative (a loss beyond it); a cross
            // position never has one.
            if !isolated && im != 0 {
                return Err(bad(
                    "isolatedMargin",
                    format!("a cross position takes no isolated margin, got {im}"),
                ));
            }
            let col = &mut e.positions[m as usize];
            col.note(qty, cost);
            col.count(0, qty);
            col.account.push(a);
            col.qty.push(qty);
            col.cost.push(cost);
            col.isolated_margin.push(im);
            col.isolated.push(isolated);
            e.accounts[a as usize].positions.push((m, s));
        }
    }

    let at = r.pos;
    let cf = |what: &'static str| move || format!("waterfall {what}");
    let fee_rate = r.i64(&cf("feeRate"))?;
    let buffer_rate = r.i64(&cf("bufferRate"))?;
    let rat = r.pos;
    let ranking = AdlRanking::from_code(r.u8(&cf("ranking"))? as u32)
        .map_err(|x| refused(rat, "waterfall ranking", x))?;
    let adl_at_mark = r.flag(&cf("adlAtMark"))?;
    let pat = r.pos;
    let policy_code = r.u8(&cf("policy"))?;
    let trigger_ppm = r.i64(&cf("triggerPpm"))?;
    let stop_ppm = r.i64(&cf("stopPpm"))?;
    let window = r.u64(&cf("window"))?;
    let policy = match policy_code {
        0 if trigger_ppm == 0 && stop_ppm == 0 && window == 0 => FundPolicy::Exhausted,
        0 => return Err(invalid(format!("offset {pat}: waterfall policy: the exhausted policy takes no trigger, stop or window, got {trigger_ppm}, {stop_ppm}, {window}"))),
        1 => FundPolicy::Drawdown { trigger_ppm, stop_ppm, window },
        2 if trigger_ppm == 0 && stop_ppm == 0 && window == 0 => FundPolicy::Socialise,
        2 => return Err(invalid(format!("offset {pat}: waterfall policy: the socialise policy takes no trigger, stop or window, got {trigger_ppm}, {stop_ppm}, {window}"))),
        p => return Err(invalid(format!("offset {pat}: waterfall policy: must be 0 (exhausted), 1 (drawdown) or 2 (socialise), got {p}"))),
    };
    e.configure_waterfall(WaterfallConfig { fee_rate, buffer_rate, ranking, adl_at_mark, policy })
        .map_err(|x| refused(at, "waterfall config", x))?;
    let wf = &mut e.waterfall;
    wf.fund = r.i64(&cf("fund"))?;
    wf.settlement = r.i128(&cf("settlement"))?;
    wf.residue = r.i64(&cf("residue"))?;
    wf.adl_mode = r.flag(&cf("adlMode"))?;
    wf.now = r.u64(&cf("now"))?;
    for m in 0..nm {
        let q = r.i64(&|| format!("liquidator position {m} qty"))?;
        let c = r.i64(&|| format!("liquidator position {m} cost"))?;
        wf.liquidator_positions.push((q, c));
    }
    let nh = r.u32(&cf("fund history count"))?;
    let mut prev = 0u64;
    for h in 0..nh {
        let at = r.pos;
        let t = r.u64(&|| format!("fund history {h} time"))?;
        let f = r.i64(&|| format!("fund history {h} fund"))?;
        // The drawdown window subtracts these from `now`: they were recorded in order, never later.
        if t < prev || t > wf.now {
            return Err(invalid(format!(
                "offset {at}: fund history {h} time: must be within {prev} and now ({}), got {t}",
                wf.now
            )));
        }
        prev = t;
        wf.fund_history.push_back((t, f));
    }
    let cat = r.pos;
    let ne = r.u64(&cf("event count"))?;
    if ne > ((r.end - r.pos) as u64) / EVENT_BYTES {
        return Err(invalid(format!(
            "offset {cat}: waterfall event count: {ne} events do not fit the {} bytes left",
            r.end - r.pos
        )));
    }
    let wf = &mut e.waterfall;
    wf.events.reserve(ne as usize);
    for seq in 0..ne {
        let at = r.pos;
        let f = |what: &str| format!("event {seq} {what}");
        let k = r.u8(&|| f("kind"))?;
        let kind = EventKind::from_code(k)
            .ok_or_else(|| invalid(format!("offset {at}: {}: no event kind {k}", f("kind"))))?;
        let account = r.u32(&|| f("account"))?;
        let market = r.u32(&|| f("market"))?;
        let counterparty = r.u32(&|| f("counterparty"))?;
        let (qty, price, amount) =
            (r.i64(&|| f("qty"))?, r.i64(&|| f("price"))?, r.i64(&|| f("amount"))?);
        for (what, v, lim) in
            [("account", account, na), ("market", market, nm), ("counterparty", counterparty, na)]
        {
            if v != NONE && v >= lim {
                return Err(invalid(format!(
                    "offset {at}: {}: index {v} is out of range",
                    f(what)
                )));
            }
        }
        wf.events.push(Event { seq, kind, account, market, counterparty, qty, price, amount });
    }
    wf.next_seq = ne;
    let rat = r.pos;
    let nr = r.u32(&|| "watch report count".to_string())?;
    if nr as u64 > ((r.end - r.pos) / 8) as u64 {
        return Err(invalid(format!(
            "offset {rat}: watch report count: {nr} scopes do not fit the {} bytes left",
            r.end - r.pos
        )));
    }
    let mut reported = Vec::with_capacity(nr as usize);
    for i in 0..nr {
        let at = r.pos;
        let a = r.u32(&|| format!("watch report {i} account"))?;
        let m = r.u32(&|| format!("watch report {i} market"))?;
        if a >= na || (m != NONE && m >= nm) {
            return Err(invalid(format!(
                "offset {at}: watch report {i}: scope ({a}, {m}) is out of range"
            )));
        }
        if reported.last().is_some_and(|&p| p >= (a, m)) {
            return Err(invalid(format!(
                "offset {at}: watch report {i}: scopes must be strictly ascending"
            )));
        }
        reported.push((a, m));
    }
    e.watch.restore_report(reported);
    if !matches!(r.end - r.pos, 0 | 8) {
        r.pos += crate::pretrade_snapshot::decode_pretrade(&mut e, &r.b[r.pos..r.end], r.pos)?;
    }
    if r.pos != r.end {
        // The trimmed-log field: events start at this seq (present only when it is not 0).
        let at = r.pos;
        let first = r.u64(&|| "first event seq".to_string())?;
        // Seqs reach JavaScript hosts as numbers: both engines keep them within 2^53 − 1.
        const SEQ_MAX: u64 = (1 << 53) - 1;
        if first == 0 || first > SEQ_MAX - ne.min(SEQ_MAX) {
            return Err(invalid(format!(
                "offset {at}: first event seq: {first} must be within 1..={}",
                SEQ_MAX - ne.min(SEQ_MAX)
            )));
        }
        for ev in &mut e.waterfall.events {
            ev.seq += first;
        }
        e.waterfall.next_seq = first + ne;
    }
    if r.pos != r.end {
        return Err(invalid(format!(
            "offset {}: {} bytes left over after the watch report",
            r.pos,
            r.end - r.pos
        )));
    }
    Ok(e)
}
