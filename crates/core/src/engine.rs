//! The position store (columnar per market) and the margin state read from it: account equity,
//! maintenance margin, the full sweep and per-position risk. Mutations validate every row first
//! and only then commit, so a rejected batch leaves the engine untouched.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::error::{Error, ErrorCode, Result};
use crate::liq::{
    bankruptcy_base, bankruptcy_price, liquidation_base, liquidation_price,
    liquidation_price_reason, SolvedPrice,
};
use crate::market::{check_price, check_qty, Market, MarketSpec};
use crate::num::*;

/// Row flags of `set_positions`.
pub const FLAG_ISOLATED: u8 = 1;
/// The price column holds the cost basis (SPEC §3.1) instead of an entry price.
pub const FLAG_COST_BASIS: u8 = 2;

/// Columns of one market's positions (structure of arrays: no object per position).
#[derive(Clone, Debug, Default)]
pub struct MarketPositions {
    pub account: Vec<u32>,
    pub qty: Vec<i64>,
    pub cost: Vec<i64>,
    /// Isolated margin in atoms; meaningful where `isolated` is set.
    pub isolated_margin: Vec<i64>,
    pub isolated: Vec<bool>,
    /// Upper bounds of |qty| and |cost| over the rows ever written here that are not near the
    /// limit (`store::NEAR`; never lowered): the sweep kernel proves from them once per sweep
    /// that its i64 products cannot overflow.
    max_qty: u64,
    max_cost: u64,
    /// Σ|qty| of the long and of the short rows, kept by every write (`count`): the pre-trade
    /// open-interest cap reads it instead of scanning the market (SPEC §17.5).
    lots: [i128; 2],
}

impl MarketPositions {
    /// Raise the bounds to cover a row about to be written, unless the sweep keeps it in its
    /// side list (near-limit, `store::NEAR`): it would make the whole market leave the kernel.
    #[inline]
    pub(crate) fn note(&mut self, qty: i64, cost: i64) {
        if !crate::store::small(qty, cost) {
            return;
        }
        self.max_qty = self.max_qty.max(qty.unsigned_abs());
        self.max_cost = self.max_cost.max(cost.unsigned_abs());
    }
    /// A row's qty goes from `old` to `new` (0: no row): keep the open interest per side.
    #[inline]
    pub(crate) fn count(&mut self, old: i64, new: i64) {
        for (q, sign) in [(old, -1), (new, 1)] {
            if q != 0 {
                self.lots[usize::from(q < 0)] += sign * i128::from(q.unsigned_abs());
            }
        }
    }
    /// Lots of all positions on the long (`buy`) or short side.
    pub fn open_interest(&self, buy: bool) -> i128 {
        let lots = self.lots[usize::from(!buy)];
        debug_assert_eq!(
            lots,
            self.qty
                .iter()
                .filter(|&&q| q != 0 && (q > 0) == buy)
                .map(|&q| i128::from(q.unsigned_abs()))
                .sum::<i128>(),
            "open interest out of step with the rows"
        );
        lots
    }
    /// (max |qty|, max |cost|) of the rows stored, saturated at i64::MAX.
    pub(crate) fn bound(&self) -> (i64, i64) {
        (self.max_qty.min(i64::MAX as u64) as i64, self.max_cost.min(i64::MAX as u64) as i64)
    }
}

#[derive(Clone, Debug)]
pub struct Account {
    pub id: String,
    pub balance: i64,
    pub alive: bool,
    /// (market, slot in that market's columns), kept sorted by market.
    pub positions: Vec<(u32, u32)>,
}

/// One batch of position writes (columns of equal length). qty = 0 removes the position.
#[derive(Clone, Debug, Default)]
pub struct PositionRows<'a> {
    pub account: &'a [u32],
    pub market: &'a [u32],
    pub qty: &'a [i64],
    /// Entry price in ticks, or the cost basis when FLAG_COST_BASIS is set.
    pub price: &'a [i64],
    pub isolated_margin: &'a [i64],
    pub flags: &'a [u8],
}

/// Margin state of an account's cross positions (or of one isolated position).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MarginRow {
    pub account: u32,
    /// u32::MAX for a cross account; the market of an isolated position.
    pub market: u32,
    pub equity: i64,
    pub maintenance_margin: i64,
    /// MM / equity in parts per million, rounded up; None when equity ≤ 0 (unbounded).
    pub margin_ratio_ppm: Option<i64>,
    pub liquidatable: bool,
    /// The scope's equity or maintenance margin does not fit i64 atoms (status OVERFLOW, SPEC
    /// §5.5): equity, MM and ratio are not given (0, 0, None), and it is not liquidatable.
    pub overflow: bool,
}

impl MarginRow {
    /// The row of a scope whose equity or MM leaves i64.
    pub fn overflowed(account: u32, market: u32) -> MarginRow {
        MarginRow {
            account,
            market,
            equity: 0,
            maintenance_margin: 0,
            margin_ratio_ppm: None,
            liquidatable: false,
            overflow: true,
        }
    }
    pub fn shortfall(&self) -> i128 {
        self.maintenance_margin as i128 - self.equity as i128
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepResult {
    /// Liquidatable cross accounts and isolated positions, worst first (SPEC §5.3).
    pub liquidatable: Vec<MarginRow>,
    /// Margin call: cross accounts and isolated positions at or past the warning ratio that are
    /// not liquidatable, worst first. Empty unless a warning ratio was given.
    pub warnings: Vec<MarginRow>,
    /// Scopes whose equity or maintenance margin leaves i64 (status OVERFLOW), by account id
    /// then market symbol: reported, never liquidated (SPEC §5.5).
    pub overflow: Vec<MarginRow>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionRisk {
    pub account: u32,
    pub market: u32,
    pub qty: i64,
    pub cost: i64,
    pub isolated: bool,
    pub isolated_margin: i64,
    pub upnl: i64,
    pub maintenance_margin: i64,
    pub liquidation: Option<SolvedPrice>,
    /// Code of `tables::LIQUIDATION_PRICE_REASONS` (SPEC §6.4).
    pub liquidation_reason: u8,
    pub bankruptcy: Option<SolvedPrice>,
}

/// Per-account (equity, maintenance margin) sums of a run of markets, and its isolated rows.
type CrossTotals = (Vec<[i128; 2]>, Vec<MarginRow>);

#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) quote_decimals: u32,
    pub(crate) markets: Vec<Market>,
    pub(crate) market_by_symbol: HashMap<String, u32>,
    pub(crate) positions: Vec<MarketPositions>,
    pub(crate) accounts: Vec<Account>,
    /// Live accounts by id, over the ids in `accounts` (id_index.rs: no second copy).
    pub(crate) account_by_id: crate::id_index::IdIndex,
    /// The liquidation → insurance fund → ADL state (waterfall.rs).
    pub(crate) waterfall: crate::waterfall::WaterfallState,
    /// The incremental liquidation index (watch.rs), built on first use.
    pub(crate) watch: crate::watch::Watch,
    /// The sweep's blocked copy of the book (store.rs): every balance or position write marks
    /// its account's block (`blocks.touch`), the next sweep rebuilds what is marked.
    pub(crate) blocks: crate::store::BlockCell,
    /// Inverse writes of the running waterfall transaction (None outside one): the book's
    /// balances and position rows are restored from it when the transaction fails (waterfall.rs).
    pub(crate) undo: Option<Vec<Undo>>,
    /// Leverage choices, pre-trade settings and open orders (pretrade.rs, SPEC §17).
    pub(crate) pretrade: crate::pretrade::PreTrade,
}

/// One inverse write of the undo log (`Engine::undo`), applied in reverse order.
#[derive(Clone, Debug)]
pub(crate) enum Undo {
    Balance {
        a: u32,
        old: i64,
    },
    Row {
        m: u32,
        s: u32,
        qty: i64,
        cost: i64,
        isolated_margin: i64,
    },
    /// `remove_position` swap-removed row `s` of market `m` (account `a`, the row's values), the
    /// account's reference stood at `ref_at`, and the last row (if any) moved into `s`.
    Removed {
        a: u32,
        m: u32,
        s: u32,
        ref_at: usize,
        qty: i64,
        cost: i64,
        isolated_margin: i64,
        isolated: bool,
    },
}

pub fn check_id(id: &str) -> Result<()> {
    if !crate::market::valid_name(id) {
        return Err(Error::new(
            ErrorCode::InvalidId,
            format!(
                "account id must be {}, got {}",
                crate::market::NAME_RULE,
                crate::error::debug_cut(id)
            ),
        ));
    }
    Ok(())
}

/// `check_lengths` for the binding's own batches.
pub fn check_lengths_pub(what: &str, lens: &[usize]) -> Result<()> {
    check_lengths(what, lens)
}

pub(crate) fn check_lengths(what: &str, lens: &[usize]) -> Result<()> {
    if lens.iter().any(|&l| l != lens[0]) {
        return Err(Error::new(
            ErrorCode::LengthMismatch,
            format!("{what}: columns differ in length {lens:?}"),
        ));
    }
    Ok(())
}

/// How many positions ahead the sweep fetches the account accumulator.
const PREFETCH_AHEAD: usize = 16;

/// A hint to load `x`'s cache line; no effect on results (and none off x86_64).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            x as *const T as *const i8,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// Worst first: higher margin ratio (equity ≤ 0 counts as unbounded, lower equity worse),
/// then larger shortfall, then account id, then market symbol. Ratios compare by
/// cross-multiplication, never by division.
pub(crate) fn worse_first(
    a: &MarginRow,
    b: &MarginRow,
    ids: &[Account],
    markets: &[Market],
) -> Ordering {
    let ratio = match (a.equity > 0, b.equity > 0) {
        (false, false) => a.equity.cmp(&b.equity),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        // a worse ⇔ mm_a/eq_a > mm_b/eq_b ⇔ mm_a·eq_b > mm_b·eq_a
        (true, true) => {
            let l = a.maintenance_margin as i128 * b.equity as i128;
            let r = b.maintenance_margin as i128 * a.equity as i128;
            r.cmp(&l)
        }
    };
    let sym = |r: &MarginRow| {
        if r.market == u32::MAX {
            ""
        } else {
            markets[r.market as usize].symbol.as_str()
        }
    };
    ratio
        .then_with(|| b.shortfall().cmp(&a.shortfall()))
        .then_with(|| {
            ids[a.account as usize].id.as_bytes().cmp(ids[b.account as usize].id.as_bytes())
        })
        .then_with(|| sym(a).as_bytes().cmp(sym(b).as_bytes()))
}
/// The cost basis of one set_positions row (SPEC §2.3, §3.1) with its checks: the value fits i64
/// atoms at some price (and at the entry), a given cost basis has qty's sign, an isolated margin
/// only on an isolated position and never negative. `q` ≠ 0 and the flags are known bits.
fn row_cost(mk: &Market, q: i64, p: i64, f: u8, im: i64) -> Result<i64> {
    // The position's value must fit i64 atoms at some price (SPEC §2.3).
    let (lo, hi) = crate::liq::domain(mk, q, 0)?;
    if lo > hi {
        return Err(Error::new(
            ErrorCode::Overflow,
            format!("position of {q} lots is worth more than i64 atoms at every price"),
        ));
    }
    let cost = if f & FLAG_COST_BASIS != 0 {
        if p == 0 || (p > 0) != (q > 0) {
            return Err(Error::new(
                ErrorCode::InvalidAmount,
                format!("cost basis must be non-zero with the sign of qty ({q}), got {p}"),
            ));
        }
        if mk.kind == crate::market::ContractKind::Linear {
            to_i64(
                scale(p as i128, mk.quote_exp(), Round::Floor, "cost basis (to atoms)")?,
                "cost basis (to atoms)",
            )?;
        }
        p
    } else {
        check_price(p, mk.price_decimals, "entry")?;
        // ... and at its entry.
        if p < lo || p > hi {
            return Err(Error::new(
                ErrorCode::Overflow,
                format!("position of {q} lots at {p} ticks is worth more than i64 atoms"),
            ));
        }
        let c = mk.cost_basis(q, p)?;
        if c == 0 {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                format!("position of {q} lots at {p} ticks is worth less than one atom"),
            ));
        }
        c
    };
    let isolated = f & FLAG_ISOLATED != 0;
    if isolated && im < 0 {
        return Err(Error::new(
            ErrorCode::InvalidAmount,
            format!("isolated margin must not be negative, got {im}"),
        ));
    }
    if !isolated && im != 0 {
        return Err(Error::new(
            ErrorCode::InvalidAmount,
            format!("a cross position takes no isolated margin, got {im}"),
        ));
    }
    Ok(cost)
}

fn check_warning(warning_ppm: Option<i64>) -> Result<()> {
    match warning_ppm {
        Some(w) if w <= 0 => Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("warning ratio must be positive, got {w} ppm"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn margin_row(
    account: u32,
    market: u32,
    equity: i128,
    mm: i128,
    has_positions: bool,
) -> Result<MarginRow> {
    let equity = to_i64(equity, "equity (does not fit i64)")?;
    let maintenance_margin = to_i64(mm, "maintenance margin (does not fit i64)")?;
    let margin_ratio_ppm = if equity > 0 {
        // Saturates at i64::MAX ppm (a ratio of 9·10^12): past that it orders by cross-multiplication anyway.
        Some(div_ceil(mm * RATIO_SCALE as i128, equity as i128).min(i64::MAX as i128) as i64)
    } else {
        None
    };
    Ok(MarginRow {
        account,
        market,
        equity,
        maintenance_margin,
        margin_ratio_ppm,
        liquidatable: has_positions && equity <= maintenance_margin,
        overflow: false,
    })
}

/// `margin_row`, or the OVERFLOW row when equity or MM leaves i64 (SPEC §5.5): one account's
/// numbers never stop the others' rows.
pub(crate) fn margin_row_or_overflow(
    account: u32,
    market: u32,
    equity: i128,
    mm: i128,
    has_positions: bool,
) -> MarginRow {
    margin_row(account, market, equity, mm, has_positions)
        .unwrap_or(MarginRow::overflowed(account, market))
}

impl Engine {
    pub fn new(quote_decimals: u32) -> Result<Engine> {
        if quote_decimals > MAX_QUOTE_DECIMALS {
            return Err(Error::new(
                ErrorCode::InvalidDecimals,
                format!("quoteDecimals must be 0..={MAX_QUOTE_DECIMALS}, got {quote_decimals}"),
            ));
        }
        Ok(Engine {
            quote_decimals,
            markets: Vec::new(),
            market_by_symbol: HashMap::new(),
            positions: Vec::new(),
            accounts: Vec::new(),
            account_by_id: crate::id_index::IdIndex::default(),
            waterfall: Default::default(),
            watch: Default::default(),
            blocks: Default::default(),
            undo: None,
            pretrade: Default::default(),
        })
    }

    pub fn quote_decimals(&self) -> u32 {
        self.quote_decimals
    }
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }
    pub fn market(&self, m: u32) -> Result<&Market> {
        self.markets.get(m as usize).ok_or_else(|| {
            Error::new(ErrorCode::UnknownMarket, format!("no market with index {m}"))
        })
    }
    pub fn market_index(&self, symbol: &str) -> Option<u32> {
        self.market_by_symbol.get(symbol).copied()
    }
    pub fn account_index(&self, id: &str) -> Option<u32> {
        self.account_by_id.get(&self.accounts, id)
    }
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }
    pub fn positions(&self, m: u32) -> &MarketPositions {
        &self.positions[m as usize]
    }
    pub fn account(&self, a: u32) -> Result<&Account> {
        match self.accounts.get(a as usize) {
            Some(acc) if acc.alive => Ok(acc),
            _ => Err(Error::new(ErrorCode::UnknownAccount, format!("no account with index {a}"))),
        }
    }
    /// The id of any account index ever given out, removed accounts included (events name them).
    pub fn account_id(&self, a: u32) -> Result<&str> {
        match self.accounts.get(a as usize) {
            Some(acc) => Ok(acc.id.as_str()),
            None => {
                Err(Error::new(ErrorCode::UnknownAccount, format!("no account with index {a}")))
            }
        }
    }
    pub fn live_account_count(&self) -> usize {
        self.account_by_id.len()
    }
    pub fn position_count(&self) -> usize {
        self.positions.iter().map(|p| p.qty.len()).sum()
    }

    pub fn add_market(&mut self, spec: MarketSpec) -> Result<u32> {
        self.add_market_with(spec, crate::market::MarketTerms::default())
    }

    /// `add_market` with a tick size and a settlement asset (SPEC §2.5, §5.4).
    pub fn add_market_with(
        &mut self,
        spec: MarketSpec,
        terms: crate::market::MarketTerms,
    ) -> Result<u32> {
        if self.market_by_symbol.contains_key(&spec.symbol) {
            return Err(Error::new(
                ErrorCode::DuplicateMarket,
                format!("market {} already exists", spec.symbol),
            ));
        }
        if self.markets.len() >= u32::MAX as usize - 1 {
            return Err(Error::new(ErrorCode::InvalidArgument, "too many markets"));
        }
        let m = Market::with_terms(spec, terms, self.quote_decimals)?;
        let idx = self.markets.len() as u32;
        self.market_by_symbol.insert(m.symbol.clone(), idx);
        self.markets.push(m);
        self.positions.push(MarketPositions::default());
        Ok(idx)
    }

    /// Batch mark update; all rows are checked before any mark moves.
    pub fn set_marks(&mut self, markets: &[u32], marks: &[i64]) -> Result<()> {
        self.check_marks("setMarks", markets, marks)?;
        let moves = self.move_marks(markets, marks);
        // With the watch built, what the move crossed is re-checked on its next use (watch.rs).
        self.watch_moved(&moves);
        Ok(())
    }

    pub(crate) fn check_marks(&self, what: &str, markets: &[u32], marks: &[i64]) -> Result<()> {
        check_lengths(what, &[markets.len(), marks.len()])?;
        for (i, (&m, &p)) in markets.iter().zip(marks).enumerate() {
            let mk = self.market(m).map_err(|e| e.context(format!("row {i}")))?;
            mk.check_mark(p).map_err(|e| e.context(format!("row {i} (market {})", mk.symbol)))?;
        }
        Ok(())
    }

    /// Write checked marks (a market listed twice takes its last mark); returns (market, old
    /// mark, new mark) per market moved, in order of first appearance.
    pub(crate) fn move_marks(&mut self, markets: &[u32], marks: &[i64]) -> Vec<(u32, i64, i64)> {
        let mut moves: Vec<(u32, i64, i64)> = Vec::new();
        for (&m, &p) in markets.iter().zip(marks) {
            match moves.iter_mut().find(|x| x.0 == m) {
                Some(x) => x.2 = p,
                None => moves.push((m, self.markets[m as usize].mark, p)),
            }
            self.markets[m as usize].mark = p;
        }
        moves
    }

    /// Add accounts; returns the index of the first. Ids must be new and unique in the batch.
    pub fn add_accounts(&mut self, ids: &[String], balances: &[i64]) -> Result<u32> {
        check_lengths("addAccounts", &[ids.len(), balances.len()])?;
        let mut seen = HashMap::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            check_id(id).map_err(|e| e.context(format!("row {i}")))?;
            if self.account_index(id).is_some() || seen.insert(id.as_str(), i).is_some() {
                return Err(Error::new(
                    ErrorCode::DuplicateAccount,
                    format!("row {i}: account {id} already exists"),
                ));
            }
        }
        if self.accounts.len() + ids.len() >= u32::MAX as usize {
            return Err(Error::new(ErrorCode::InvalidArgument, "too many accounts"));
        }
        let first = self.accounts.len() as u32;
        if ids.len() >= self.accounts.len() {
            // A bulk load: room for exactly the batch rather than doubling (live bytes).
            self.accounts.reserve_exact(ids.len());
            self.account_by_id.reserve(&self.accounts, ids.len());
        }
        for (id, &balance) in ids.iter().zip(balances) {
            self.blocks.touch(self.accounts.len() as u32);
            self.accounts.push(Account {
                id: id.clone(),
                balance,
                alive: true,
                positions: Vec::new(),
            });
            self.account_by_id.insert(&self.accounts, self.accounts.len() as u32 - 1);
        }
        Ok(first)
    }

    /// Add accounts together with their positions, all or nothing: `rows.account` indexes the
    /// batch (0 is `ids[0]`). A rejected row leaves no trace: the accounts are taken back before
    /// anything else can see them, so no index is consumed (the state hash is unchanged).
    pub fn add_accounts_with_positions(
        &mut self,
        ids: &[String],
        balances: &[i64],
        rows: &PositionRows,
    ) -> Result<u32> {
        let first = self.add_accounts(ids, balances)?;
        let n = ids.len() as u32;
        let mut absolute = Vec::with_capacity(rows.account.len());
        for (i, &a) in rows.account.iter().enumerate() {
            if a >= n {
                self.truncate_accounts(first);
                return Err(Error::new(
                    ErrorCode::UnknownAccount,
                    format!("row {i}: account {a} is not in the batch of {n} accounts"),
                ));
            }
            absolute.push(first + a);
        }
        let staged = PositionRows { account: &absolute, ..*rows };
        if let Err(e) = self.set_positions(&staged) {
            self.truncate_accounts(first);
            return Err(e);
        }
        Ok(first)
    }

    /// Take back accounts added from index `first` on that nothing refers to yet (no positions).
    fn truncate_accounts(&mut self, first: u32) {
        self.blocks.touch(first);
        for a in first..self.accounts.len() as u32 {
            debug_assert!(self.accounts[a as usize].positions.is_empty());
            self.account_by_id.remove(&self.accounts, a);
        }
        self.accounts.truncate(first as usize);
    }

    pub fn set_balances(&mut self, accounts: &[u32], balances: &[i64]) -> Result<()> {
        check_lengths("setBalances", &[accounts.len(), balances.len()])?;
        // One balance per account: a repeated index is refused (last-wins would hide a bug).
        let mut seen = std::collections::HashSet::with_capacity(accounts.len());
        for (i, &a) in accounts.iter().enumerate() {
            self.account(a).map_err(|e| e.context(format!("row {i}")))?;
            if !seen.insert(a) {
                return Err(Error::new(
                    ErrorCode::DuplicateAccount,
                    format!("row {i}: account index {a} listed twice"),
                ));
            }
        }
        for (&a, &b) in accounts.iter().zip(balances) {
            self.accounts[a as usize].balance = b;
            self.watch.touch(a);
            self.blocks.touch(a);
        }
        Ok(())
    }

    /// Remove accounts and all their positions. Indices are never reused.
    pub fn remove_accounts(&mut self, accounts: &[u32]) -> Result<()> {
        let mut seen = std::collections::HashSet::with_capacity(accounts.len());
        for (i, &a) in accounts.iter().enumerate() {
            self.account(a).map_err(|e| e.context(format!("row {i}")))?;
            if !seen.insert(a) {
                return Err(Error::new(
                    ErrorCode::DuplicateAccount,
                    format!("row {i}: account index {a} listed twice"),
                ));
            }
        }
        for &a in accounts {
            while let Some(&(m, _)) = self.accounts[a as usize].positions.last() {
                self.remove_position(a, m);
            }
            // No order may outlive its account (SPEC §17.9).
            self.cancel_orders_of(a, true);
            self.account_by_id.remove(&self.accounts, a);
            self.accounts[a as usize].alive = false;
            self.watch.touch(a);
        }
        Ok(())
    }

    pub(crate) fn slot_of(&self, a: u32, m: u32) -> Option<u32> {
        let ps = &self.accounts[a as usize].positions;
        ps.binary_search_by_key(&m, |&(mm, _)| mm).ok().map(|i| ps[i].1)
    }

    pub(crate) fn remove_position(&mut self, a: u32, m: u32) {
        // One search of the account's references gives the slot and where to take the ref out.
        let Ok(ref_at) =
            self.accounts[a as usize].positions.binary_search_by_key(&m, |&(mm, _)| mm)
        else {
            return;
        };
        let slot = self.accounts[a as usize].positions[ref_at].1;
        self.blocks.touch(a);
        let col = &mut self.positions[m as usize];
        let s = slot as usize;
        if let Some(log) = self.undo.as_mut() {
            log.push(Undo::Removed {
                a,
                m,
                s: slot,
                ref_at,
                qty: col.qty[s],
                cost: col.cost[s],
                isolated_margin: col.isolated_margin[s],
                isolated: col.isolated[s],
            });
        }
        col.count(col.qty[s], 0);
        col.account.swap_remove(s);
        col.qty.swap_remove(s);
        col.cost.swap_remove(s);
        col.isolated_margin.swap_remove(s);
        col.isolated.swap_remove(s);
        if s < col.account.len() {
            // The last position moved into `s`: repoint its account's reference.
            let moved = col.account[s];
            let refs = &mut self.accounts[moved as usize].positions;
            if let Ok(i) = refs.binary_search_by_key(&m, |&(mm, _)| mm) {
                refs[i].1 = slot;
            }
        }
        self.accounts[a as usize].positions.remove(ref_at);
    }

    /// Write an account's balance (recorded in the undo log inside a waterfall transaction).
    pub(crate) fn put_balance(&mut self, a: u32, v: i64) {
        self.blocks.touch(a);
        let acc = &mut self.accounts[a as usize];
        if let Some(log) = self.undo.as_mut() {
            log.push(Undo::Balance { a, old: acc.balance });
        }
        acc.balance = v;
    }

    /// Write row `s` of market `m` (recorded in the undo log inside a waterfall transaction).
    pub(crate) fn put_row(&mut self, m: u32, s: usize, qty: i64, cost: i64, isolated_margin: i64) {
        self.blocks.touch(self.positions[m as usize].account[s]);
        let col = &mut self.positions[m as usize];
        if let Some(log) = self.undo.as_mut() {
            log.push(Undo::Row {
                m,
                s: s as u32,
                qty: col.qty[s],
                cost: col.cost[s],
                isolated_margin: col.isolated_margin[s],
            });
        }
        col.note(qty, cost);
        col.count(col.qty[s], qty);
        col.qty[s] = qty;
        col.cost[s] = cost;
        col.isolated_margin[s] = isolated_margin;
    }

    /// Write the isolated margin of row `s` of market `m` (recorded like `put_row`).
    pub(crate) fn put_isolated_margin(&mut self, m: u32, s: usize, v: i64) {
        let col = &self.positions[m as usize];
        let (q, c) = (col.qty[s], col.cost[s]);
        self.put_row(m, s, q, c, v);
    }

    /// Apply an undo log in reverse: every write it recorded is taken back, so the book is as it
    /// was when the log started (slots and references included).
    pub(crate) fn roll_back(&mut self, log: Vec<Undo>) {
        for u in log.into_iter().rev() {
            match u {
                Undo::Balance { a, old } => {
                    self.blocks.touch(a);
                    self.accounts[a as usize].balance = old
                }
                Undo::Row { m, s, qty, cost, isolated_margin } => {
                    let col = &mut self.positions[m as usize];
                    let s = s as usize;
                    self.blocks.touch(col.account[s]);
                    col.count(col.qty[s], qty);
                    col.qty[s] = qty;
                    col.cost[s] = cost;
                    col.isolated_margin[s] = isolated_margin;
                }
                Undo::Removed { a, m, s, ref_at, qty, cost, isolated_margin, isolated } => {
                    self.blocks.touch(a);
                    let col = &mut self.positions[m as usize];
                    let si = s as usize;
                    col.count(0, qty);
                    // Undo the swap: the row now at `s` (if any) goes back to the end.
                    if si < col.account.len() {
                        let moved = col.account[si];
                        col.account.push(moved);
                        col.qty.push(col.qty[si]);
                        col.cost.push(col.cost[si]);
                        col.isolated_margin.push(col.isolated_margin[si]);
                        col.isolated.push(col.isolated[si]);
                        let last = (col.account.len() - 1) as u32;
                        col.account[si] = a;
                        col.qty[si] = qty;
                        col.cost[si] = cost;
                        col.isolated_margin[si] = isolated_margin;
                        col.isolated[si] = isolated;
                        let refs = &mut self.accounts[moved as usize].positions;
                        if let Ok(i) = refs.binary_search_by_key(&m, |&(mm, _)| mm) {
                            refs[i].1 = last;
                        }
                    } else {
                        col.account.push(a);
                        col.qty.push(qty);
                        col.cost.push(cost);
                        col.isolated_margin.push(isolated_margin);
                        col.isolated.push(isolated);
                    }
                    self.accounts[a as usize].positions.insert(ref_at, (m, s));
                }
            }
        }
    }

    /// Write a batch of positions (open, replace, or remove with qty = 0). Every row is
    /// validated — ids, ranges, cost basis, one row per (account, market) — before any is applied.
    pub fn set_positions(&mut self, rows: &PositionRows) -> Result<()> {
        let n = rows.account.len();
        check_lengths(
            "setPositions",
            &[
                n,
                rows.market.len(),
                rows.qty.len(),
                rows.price.len(),
                rows.isolated_margin.len(),
                rows.flags.len(),
            ],
        )?;
        let mut staged: Vec<(i64, i64)> = Vec::with_capacity(n); // (cost, isolated margin)
        let mut seen = std::collections::HashSet::with_capacity(n);
        for i in 0..n {
            let (a, m, q, p, im, f) = (
                rows.account[i],
                rows.market[i],
                rows.qty[i],
                rows.price[i],
                rows.isolated_margin[i],
                rows.flags[i],
            );
            let ctx = |e: Error| e.context(format!("row {i}"));
            self.account(a).map_err(ctx)?;
            let mk = self.market(m).map_err(ctx)?;
            if f & !(FLAG_ISOLATED | FLAG_COST_BASIS) != 0 {
                return Err(ctx(Error::new(
                    ErrorCode::InvalidArgument,
                    format!("unknown flag bits {f:#x}"),
                )));
            }
            if !seen.insert((a, m)) {
                return Err(ctx(Error::new(
                    ErrorCode::DuplicatePosition,
                    format!(
                        "account {} has two rows for market {}",
                        self.accounts[a as usize].id, mk.symbol
                    ),
                )));
            }
            let ctx = |e: Error| {
                e.context(format!(
                    "row {i} (account {}, market {})",
                    self.accounts[a as usize].id, mk.symbol
                ))
            };
            check_qty(q, "qty").map_err(ctx)?;
            if q == 0 {
                staged.push((0, 0));
                continue;
            }
            let cost = row_cost(mk, q, p, f, im).map_err(ctx)?;
            staged.push((cost, im));
        }
        crate::settlement::check_position_rows(self, rows)?;
        self.reserve_rows(rows);
        for (i, &(cost, im)) in staged.iter().enumerate() {
            let (a, m, q) = (rows.account[i], rows.market[i], rows.qty[i]);
            self.watch.touch(a);
            if q == 0 {
                self.remove_position(a, m);
                continue;
            }
            let iso = rows.flags[i] & FLAG_ISOLATED != 0;
            self.write_position(a, m, q, cost, iso, im);
        }
        Ok(())
    }

    /// Before a bulk write: exact room in each market's columns for its rows of the batch when
    /// they are at least as many as the column holds (a load), so a loaded book does not carry
    /// the slack of doubling; small batches grow the usual amortised way.
    fn reserve_rows(&mut self, rows: &PositionRows) {
        let mut per = vec![0usize; self.positions.len()];
        for (&m, &q) in rows.market.iter().zip(rows.qty) {
            per[m as usize] += (q != 0) as usize;
        }
        for (col, n) in self.positions.iter_mut().zip(per) {
            if n > 0 && n >= col.qty.len() && col.qty.capacity() - col.qty.len() < n {
                col.account.reserve_exact(n);
                col.qty.reserve_exact(n);
                col.cost.reserve_exact(n);
                col.isolated_margin.reserve_exact(n);
                col.isolated.reserve_exact(n);
            }
        }
        crate::id_index::reserve_refs(&mut self.accounts, rows);
    }

    /// Store a validated non-zero position: in place, or appended to the market's columns with
    /// the account's (market, slot) reference kept in market order.
    pub(crate) fn write_position(&mut self, a: u32, m: u32, q: i64, cost: i64, iso: bool, im: i64) {
        let existing = self.slot_of(a, m);
        self.blocks.touch(a);
        let col = &mut self.positions[m as usize];
        col.note(q, cost);
        match existing {
            Some(s) => {
                let s = s as usize;
                col.count(col.qty[s], q);
                col.qty[s] = q;
                col.cost[s] = cost;
                col.isolated_margin[s] = im;
                col.isolated[s] = iso;
            }
            None => {
                let slot = col.qty.len() as u32;
                col.count(0, q);
                col.account.push(a);
                col.qty.push(q);
                col.cost.push(cost);
                col.isolated_margin.push(im);
                col.isolated.push(iso);
                let refs = &mut self.accounts[a as usize].positions;
                let at = refs.partition_point(|&(mm, _)| mm < m);
                refs.insert(at, (m, slot));
            }
        }
    }

    /// Cross totals of every account at the current marks: [Σ uPnL, Σ MM] over cross positions
    /// (interleaved: one cache line per account update), plus the isolated rows, for the markets
    /// in `range`. One pass over their columns, market by market.
    pub(crate) fn cross_totals(
        &self,
        range: std::ops::Range<usize>,
    ) -> Result<(Vec<[i128; 2]>, Vec<MarginRow>)> {
        let mut totals = vec![[0i128; 2]; self.accounts.len()];
        let mut iso = Vec::new();
        for mi in range {
            let (mk, col) = (&self.markets[mi], &self.positions[mi]);
            for s in 0..col.qty.len() {
                // The accumulator of a position a few slots ahead is fetched now: the scattered
                // read-modify-write of `totals` is what the pass waits on (it does not change what
                // is computed).
                if let Some(&ahead) = col.account.get(s + PREFETCH_AHEAD) {
                    prefetch(&totals[ahead as usize]);
                }
                let ctx = |e: Error| {
                    e.context(format!(
                        "account {}, market {}",
                        self.accounts[col.account[s] as usize].id, mk.symbol
                    ))
                };
                let u = mk.upnl(col.qty[s], col.cost[s]).map_err(ctx)?;
                let m = mk.maintenance_margin(col.qty[s], col.cost[s]).map_err(ctx)?;
                let a = col.account[s] as usize;
                if col.isolated[s] {
                    let eq =
                        add(col.isolated_margin[s] as i128, u, "isolated equity").map_err(ctx)?;
                    iso.push(margin_row_or_overflow(a as u32, mi as u32, eq, m, true));
                } else {
                    let t = &mut totals[a];
                    t[0] = add(t[0], u, "account uPnL").map_err(ctx)?;
                    t[1] = add(t[1], m, "account maintenance margin").map_err(ctx)?;
                }
            }
        }
        Ok((totals, iso))
    }

    /// The same over every market, split into `threads` runs of markets of about equal position
    /// counts, each on its own thread; per-thread totals are added in thread order. Sums are
    /// exact, so the result does not depend on the thread count (SPEC §5.5).
    fn cross_totals_parallel(&self, threads: usize) -> Result<(Vec<[i128; 2]>, Vec<MarginRow>)> {
        let n = self.markets.len();
        let threads = threads.clamp(1, n.max(1));
        if threads == 1 {
            return self.cross_totals(0..n);
        }
        let per = self.position_count().div_ceil(threads).max(1);
        let mut cuts = vec![0usize];
        let mut acc = 0usize;
        for (mi, col) in self.positions.iter().enumerate() {
            acc += col.qty.len();
            if acc >= per * cuts.len() && cuts.len() < threads && mi + 1 < n {
                cuts.push(mi + 1);
            }
        }
        cuts.push(n);
        let parts: Vec<Result<CrossTotals>> = std::thread::scope(|sc| {
            let handles: Vec<_> = cuts
                .windows(2)
                .map(|w| {
                    let r = w[0]..w[1];
                    sc.spawn(move || self.cross_totals(r))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Error::new(ErrorCode::Internal, "a sweep thread panicked"))
                    })
                })
                .collect()
        });
        let mut parts = parts.into_iter();
        let (mut totals, mut iso) = parts.next().unwrap()?;
        for p in parts {
            let (t, i) = p?;
            for (x, y) in totals.iter_mut().zip(t) {
                x[0] = add(x[0], y[0], "account uPnL")?;
                x[1] = add(x[1], y[1], "account maintenance margin")?;
            }
            iso.extend(i);
        }
        Ok((totals, iso))
    }

    /// Cross margin state of the given accounts (every live account, in index order, when None).
    pub fn account_rows(&self, accounts: Option<&[u32]>) -> Result<Vec<MarginRow>> {
        let list = self.account_list(accounts)?;
        let mut out = Vec::with_capacity(list.len());
        for a in list {
            out.push(
                self.cross_row_wide(a)
                    .map(|(eq, mm, has)| margin_row_or_overflow(a, u32::MAX, eq, mm, has))?,
            );
        }
        Ok(out)
    }

    /// Cross margin state of one live account, without allocating (ADL scores call it per
    /// candidate).
    pub(crate) fn cross_row(&self, a: u32) -> Result<MarginRow> {
        let (eq, mm, has_cross) = self.cross_row_wide(a)?;
        margin_row(a, u32::MAX, eq, mm, has_cross)
            .map_err(|e| e.context(format!("account {}", self.accounts[a as usize].id)))
    }

    /// (equity, MM, has a cross position) of one live account, in i128.
    pub(crate) fn cross_row_wide(&self, a: u32) -> Result<(i128, i128, bool)> {
        let acc = &self.accounts[a as usize];
        let ctx = |e: Error| e.context(format!("account {}", acc.id));
        let (mut upnl, mut mm, mut has_cross) = (0i128, 0i128, false);
        for &(m, s) in &acc.positions {
            let (mk, col, s) = (&self.markets[m as usize], &self.positions[m as usize], s as usize);
            if !col.isolated[s] {
                has_cross = true;
                upnl = add(upnl, mk.upnl(col.qty[s], col.cost[s]).map_err(ctx)?, "account uPnL")
                    .map_err(ctx)?;
                mm = add(
                    mm,
                    mk.maintenance_margin(col.qty[s], col.cost[s]).map_err(ctx)?,
                    "account maintenance margin",
                )
                .map_err(ctx)?;
            }
        }
        let eq = add(acc.balance as i128, upnl, "equity").map_err(ctx)?;
        Ok((eq, mm, has_cross))
    }

    /// Wallet balances of the given accounts.
    pub fn balances(&self, accounts: &[u32]) -> Result<Vec<i64>> {
        accounts
            .iter()
            .enumerate()
            .map(|(i, &a)| Ok(self.account(a).map_err(|e| e.context(format!("row {i}")))?.balance))
            .collect()
    }

    /// The accounts a query covers: the given ones (checked), or every live one in index order.
    fn account_list(&self, accounts: Option<&[u32]>) -> Result<Vec<u32>> {
        match accounts {
            Some(l) => {
                for (i, &a) in l.iter().enumerate() {
                    self.account(a).map_err(|e| e.context(format!("row {i}")))?;
                }
                Ok(l.to_vec())
            }
            None => Ok((0..self.accounts.len() as u32)
                .filter(|&a| self.accounts[a as usize].alive)
                .collect()),
        }
    }

    /// Full sweep (SPEC §5): every liquidatable cross account and isolated position, worst first;
    /// with `warning_ppm`, also those at or past that margin ratio that are not liquidatable.
    pub fn sweep(&self, warning_ppm: Option<i64>) -> Result<SweepResult> {
        self.sweep_threads(warning_ppm, 1)
    }

    /// The sweep on `threads` threads; identical output for any thread count.
    pub fn sweep_threads(&self, warning_ppm: Option<i64>, threads: usize) -> Result<SweepResult> {
        check_warning(warning_ppm)?;
        // A thread pays off from about 16k positions on.
        self.sweep_kernel(warning_ppm, threads.min(self.position_count().div_ceil(1 << 14)).max(1))
    }

    /// The sweep as written before the kernel (sweep.rs): every position through the general
    /// i128 formulas, a totals array, a second pass. The kernel's tests compare against it.
    #[doc(hidden)]
    pub fn sweep_reference(&self, warning_ppm: Option<i64>, threads: usize) -> Result<SweepResult> {
        check_warning(warning_ppm)?;
        let mut res = SweepResult::default();
        let warn = |r: &MarginRow| -> bool {
            match warning_ppm {
                // ratio ≥ w ⇔ MM·10^6 ≥ w·equity (cross-multiplied); equity ≤ 0 is unbounded.
                Some(w) => {
                    !r.liquidatable
                        && r.maintenance_margin > 0
                        && (r.equity <= 0
                            || r.maintenance_margin as i128 * RATIO_SCALE as i128
                                >= w as i128 * r.equity as i128)
                }
                None => false,
            }
        };
        let (totals, iso) = self.cross_totals_parallel(threads)?;
        for r in iso {
            if r.overflow {
                res.overflow.push(r);
            } else if r.liquidatable {
                res.liquidatable.push(r);
            } else if warn(&r) {
                res.warnings.push(r);
            }
        }
        for (a, acc) in self.accounts.iter().enumerate() {
            if !acc.alive || acc.positions.is_empty() {
                continue;
            }
            // Skip the row build for the common healthy account quickly.
            let [upnl, mm] = totals[a];
            if mm == 0 {
                continue; // only isolated positions
            }
            let eq = add(acc.balance as i128, upnl, "equity")
                .map_err(|e| e.context(format!("account {}", acc.id)))?;
            let r = margin_row_or_overflow(a as u32, u32::MAX, eq, mm, true);
            if r.overflow {
                res.overflow.push(r);
            } else if r.liquidatable {
                res.liquidatable.push(r);
            } else if warn(&r) {
                res.warnings.push(r);
            }
        }
        let cmp = |x: &MarginRow, y: &MarginRow| worse_first(x, y, &self.accounts, &self.markets);
        res.liquidatable.sort_by(cmp);
        res.warnings.sort_by(cmp);
        res.overflow.sort_by(cmp);
        Ok(res)
    }

    /// Risk of every position of the given accounts (all live accounts when None), in account
    /// order, then market order: uPnL, MM, liquidation and bankruptcy prices (SPEC §6).
    pub fn position_risks(&self, accounts: Option<&[u32]>) -> Result<Vec<PositionRisk>> {
        let mut out = Vec::new();
        for a in self.account_list(accounts)? {
            self.account_position_risks(a, &mut out)?;
        }
        Ok(out)
    }

    fn account_position_risks(&self, a: u32, out: &mut Vec<PositionRisk>) -> Result<()> {
        let acc = &self.accounts[a as usize];
        let ctx_acc = |e: Error| e.context(format!("account {}", acc.id));
        // Current uPnL and MM of each position; cross totals to fold into each `base`.
        let mut rows = Vec::with_capacity(acc.positions.len());
        let (mut cross_upnl, mut cross_mm) = (0i128, 0i128);
        for &(m, s) in &acc.positions {
            let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
            let s = s as usize;
            let u = mk.upnl(col.qty[s], col.cost[s]).map_err(ctx_acc)?;
            let mm = mk.maintenance_margin(col.qty[s], col.cost[s]).map_err(ctx_acc)?;
            if !col.isolated[s] {
                cross_upnl = add(cross_upnl, u, "account uPnL").map_err(ctx_acc)?;
                cross_mm = add(cross_mm, mm, "account maintenance margin").map_err(ctx_acc)?;
            }
            rows.push((m, s, u, mm));
        }
        for (m, s, u, mm) in rows {
            let (mk, col) = (&self.markets[m as usize], &self.positions[m as usize]);
            let ctx = |e: Error| e.context(format!("account {}, market {}", acc.id, mk.symbol));
            let (q, c, iso) = (col.qty[s], col.cost[s], col.isolated[s]);
            // base for bankruptcy: collateral + others' uPnL; for liquidation also − others' MM.
            let (bk_base, lq_base) = if iso {
                let b = col.isolated_margin[s] as i128;
                (b, b)
            } else {
                let others_u = sub(cross_upnl, u, "uPnL of the other positions").map_err(ctx)?;
                let others_mm =
                    sub(cross_mm, mm, "maintenance margin of the other positions").map_err(ctx)?;
                let b = bankruptcy_base(acc.balance as i128, others_u).map_err(ctx)?;
                (b, liquidation_base(b, others_mm).map_err(ctx)?)
            };
            let lq = liquidation_price(mk, q, c, lq_base).map_err(ctx)?;
            out.push(PositionRisk {
                account: a,
                market: m,
                qty: q,
                cost: c,
                isolated: iso,
                isolated_margin: col.isolated_margin[s],
                upnl: to_i64(u, "uPnL (does not fit i64)").map_err(ctx)?,
                maintenance_margin: to_i64(mm, "maintenance margin (does not fit i64)")
                    .map_err(ctx)?,
                liquidation: lq,
                liquidation_reason: liquidation_price_reason(mk, q, lq).map_err(ctx)?,
                bankruptcy: bankruptcy_price(mk, q, c, bk_base).map_err(ctx)?,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market::MarketSpec;

    fn spec(symbol: &str) -> MarketSpec {
        MarketSpec { price_decimals: 1, ..MarketSpec::one_tier(symbol, 500_000, 300_000) }
    }

    /// The waterfall's undo log takes back every kind of write in any order — removals of the
    /// last row, of middle rows (swap-remove moving another account's row), of an account's only
    /// and of its first reference — so the book is byte-for-byte as before.
    #[test]
    fn the_undo_log_restores_the_book_exactly() {
        let mut e = Engine::new(8).unwrap();
        e.add_market(spec("A")).unwrap();
        e.add_market(spec("B")).unwrap();
        let ids: Vec<String> = (0..6).map(|i| format!("a{i}")).collect();
        e.add_accounts(&ids, &[10, 20, 30, 40, 50, 60]).unwrap();
        let (mut acc, mut mkt, mut qty, mut px, mut im, mut fl) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for a in 0..6u32 {
            for m in 0..2u32 {
                if (a + m) % 3 != 2 {
                    acc.push(a);
                    mkt.push(m);
                    qty.push(1_000 + (a * 7 + m) as i64);
                    px.push(300_000);
                    let iso = a == 3 && m == 1;
                    im.push(if iso { 77 } else { 0 });
                    fl.push(if iso { FLAG_ISOLATED } else { 0 });
                }
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
        let before = e.state_bytes();
        for order in [[0u32, 5, 2, 3, 1, 4], [4, 1, 3, 2, 5, 0]] {
            e.undo = Some(Vec::new());
            for &a in &order {
                e.put_balance(a, -(a as i64) * 1_000);
                let refs = e.accounts[a as usize].positions.clone();
                for (m, s) in refs {
                    if (a + m) % 2 == 0 {
                        e.remove_position(a, m);
                    } else {
                        e.put_row(m, s as usize, 5, 1_500_000, 9);
                    }
                }
            }
            assert_ne!(e.state_bytes(), before);
            let log = e.undo.take().unwrap();
            e.roll_back(log);
            assert_eq!(e.state_bytes(), before, "order {order:?}");
            // The references are derived, not in the state bytes: each must point at its row.
            let mut refs = 0;
            for (a, acc) in e.accounts.iter().enumerate() {
                assert!(
                    acc.positions.windows(2).all(|w| w[0].0 < w[1].0),
                    "references in market order"
                );
                for &(m, s) in &acc.positions {
                    assert_eq!(
                        e.positions[m as usize].account[s as usize], a as u32,
                        "order {order:?}: account {a} market {m}"
                    );
                    refs += 1;
                }
            }
            assert_eq!(refs, e.position_count());
        }
    }
}
