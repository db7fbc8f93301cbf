//! Pre-trade state (SPEC §17): per-market pre-trade settings, the leverage each account chose per
//! market, and the open orders that reserve margin. The arithmetic lives in order_check.rs; this
//! file holds the state and the writes (configure, set leverage, place, cancel, fill).

use std::collections::{BTreeMap, HashMap};

use crate::engine::{check_lengths, Engine};
use crate::error::{Error, ErrorCode, Result};
use crate::market::{check_price, check_qty, Market};
use crate::num::*;

/// Binance's leverage when the trader chose none (capped by the market's maximum).
pub const DEFAULT_LEVERAGE: i64 = 20;
/// Price bands are in parts per million of the mark; a band must stay below 100 %.
pub const BAND_SCALE: i64 = 1_000_000;

/// A market's pre-trade settings (SPEC §17.1). `Default` is Binance's: leverage 20 (or the
/// market's maximum if lower), no band, no caps, unrealised profit counted, no fee in the cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreTradeConfig {
    /// Leverage of an account that chose none; 0: min(20, the maximum of tier 0).
    pub default_leverage: i64,
    /// Limit prices must lie within mark·(1 ± band) on the side that can fill badly; 0: none.
    pub price_band_ppm: i64,
    /// Open interest cap per side of the market, lots (positions plus the order); 0: none.
    pub max_open_interest: i64,
    /// Cap on one account's exposure per side in this market, lots; 0: none.
    pub max_account_position: i64,
    /// Unrealised profit is not available for new orders (Bybit classic); losses always count.
    pub exclude_profit: bool,
    /// Fee rate (10^-8) of the open and close fees the order cost includes (Bybit's taker rate);
    /// 0: none. Not the market's `taker_fee_rate` of the liquidation condition (SPEC §19).
    pub order_cost_fee_rate: i64,
}

/// An open order: `qty` signed (> 0 buy), remaining lots; `price` in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    pub account: u32,
    pub market: u32,
    pub qty: i64,
    pub price: i64,
    pub reduce_only: bool,
}

/// Pre-trade state held by the engine. Open orders are kept per account in id (placement) order,
/// which is the order the netting of SPEC §17.3 walks.
#[derive(Clone, Debug, Default)]
pub struct PreTrade {
    pub(crate) config: Vec<PreTradeConfig>,
    pub(crate) leverage: BTreeMap<(u32, u32), i64>,
    pub(crate) by_account: HashMap<u32, Vec<Order>>,
    pub(crate) owner: HashMap<u64, u32>,
    pub(crate) next_id: u64,
}

/// The verdict codes of `check_orders` (stable: the API's strings and the typed arrays' numbers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Verdict {
    Accepted = 0,
    InsufficientMargin = 1,
    RiskLimit = 2,
    ReduceOnly = 3,
    OpenInterestCap = 4,
    PriceBand = 5,
    Liquidating = 6,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "ACCEPTED",
            Verdict::InsufficientMargin => "INSUFFICIENT_MARGIN",
            Verdict::RiskLimit => "RISK_LIMIT",
            Verdict::ReduceOnly => "REDUCE_ONLY",
            Verdict::OpenInterestCap => "OPEN_INTEREST_CAP",
            Verdict::PriceBand => "PRICE_BAND",
            Verdict::Liquidating => "LIQUIDATING",
        }
    }
}

/// The largest leverage tier 0 allows: floor(10^8 / imr₀).
pub fn max_leverage(mk: &Market) -> i64 {
    RATE_SCALE / mk.tiers[0].imr
}

impl PreTrade {
    pub fn config(&self, m: u32) -> PreTradeConfig {
        self.config.get(m as usize).copied().unwrap_or_default()
    }
    /// The orders of one account, in placement order.
    pub fn orders_of(&self, a: u32) -> &[Order] {
        self.by_account.get(&a).map_or(&[], |v| v.as_slice())
    }
    pub fn order_count(&self) -> usize {
        self.owner.len()
    }
    /// Every open order, by id.
    pub fn all_orders(&self) -> Vec<Order> {
        let mut v: Vec<Order> = self.by_account.values().flatten().copied().collect();
        v.sort_by_key(|o| o.id);
        v
    }
    pub(crate) fn insert(&mut self, o: Order) {
        self.owner.insert(o.id, o.account);
        self.by_account.entry(o.account).or_default().push(o);
    }
    pub(crate) fn remove(&mut self, id: u64) -> Option<Order> {
        let a = self.owner.remove(&id)?;
        let list = self.by_account.get_mut(&a)?;
        let at = list.iter().position(|o| o.id == id)?;
        let o = list.remove(at);
        if list.is_empty() {
            self.by_account.remove(&a);
        }
        Some(o)
    }
}

impl Engine {
    pub fn pretrade(&self) -> &PreTrade {
        &self.pretrade
    }

    /// Set a market's pre-trade settings (SPEC §17.1).
    pub fn configure_pretrade(&mut self, m: u32, c: PreTradeConfig) -> Result<()> {
        let mk = self.market(m)?;
        let bad = |what: &str, v: i64, range: String| {
            Err(Error::new(
                ErrorCode::InvalidArgument,
                format!("market {}: {what} must be {range}, got {v}", mk.symbol),
            ))
        };
        let top = max_leverage(mk);
        if c.default_leverage != 0 && !(1..=top).contains(&c.default_leverage) {
            return bad("defaultLeverage", c.default_leverage, format!("0 or 1..={top}"));
        }
        if !(0..BAND_SCALE).contains(&c.price_band_ppm) {
            return bad("priceBand", c.price_band_ppm, "0 (none) or below 100 %".into());
        }
        for (what, v) in [
            ("maxOpenInterest", c.max_open_interest),
            ("maxAccountPosition", c.max_account_position),
        ] {
            if !(0..=QTY_MAX_LOTS).contains(&v) {
                return bad(what, v, format!("0 (none) or 1..={QTY_MAX_LOTS} lots"));
            }
        }
        if !(0..RATE_SCALE).contains(&c.order_cost_fee_rate) {
            return bad("orderCostFeeRate", c.order_cost_fee_rate, "0 or below 1".into());
        }
        let pt = &mut self.pretrade;
        if pt.config.len() <= m as usize {
            pt.config.resize(m as usize + 1, PreTradeConfig::default());
        }
        pt.config[m as usize] = c;
        Ok(())
    }

    /// The leverage in force for (account, market): the chosen one, else the market's default.
    pub fn leverage(&self, a: u32, m: u32) -> Result<i64> {
        self.account(a)?;
        let mk = self.market(m)?;
        Ok(self.leverage_of(a, m, mk))
    }

    pub(crate) fn leverage_of(&self, a: u32, m: u32, mk: &Market) -> i64 {
        if let Some(&l) = self.pretrade.leverage.get(&(a, m)) {
            return l;
        }
        match self.pretrade.config(m).default_leverage {
            0 => DEFAULT_LEVERAGE.min(max_leverage(mk)),
            l => l,
        }
    }

    pub(crate) fn check_leverage_value(mk: &Market, l: i64) -> Result<()> {
        let top = max_leverage(mk);
        if !(1..=top).contains(&l) {
            return Err(Error::new(
                ErrorCode::InvalidLeverage,
                format!("market {}: leverage must be 1..={top}, got {l}", mk.symbol),
            ));
        }
        Ok(())
    }

    /// Validate an order request: a live account, a market, 1..=10^15 lots either way, a limit
    /// price in range and on the grid (0: a market order, priced at the mark).
    pub(crate) fn check_request(&self, o: &Order) -> Result<()> {
        self.account(o.account)?;
        let mk = self.market(o.market)?;
        if o.qty == 0 {
            return Err(Error::new(
                ErrorCode::InvalidQuantity,
                "an order must have a non-zero qty",
            ));
        }
        check_qty(o.qty, "order qty")?;
        if o.price != 0 {
            check_price(o.price, mk.price_decimals, "order price")?;
            crate::market::check_on_grid(o.price, mk.tick_size, mk.price_decimals, "order price")?;
        }
        Ok(())
    }

    /// Place orders: each is checked sequentially (SPEC §17.5) and the accepted ones are kept as
    /// open orders with the next ids. Returns each verdict and its id (0 when rejected).
    pub fn place_orders(
        &mut self,
        orders: &[Order],
    ) -> Result<Vec<(crate::order_check::OrderVerdict, u64)>> {
        let verdicts = self.check_orders(orders, true)?;
        let mut out = Vec::with_capacity(orders.len());
        for (o, v) in orders.iter().zip(verdicts) {
            let mut id = 0;
            if v.verdict == Verdict::Accepted {
                self.pretrade.next_id += 1;
                id = self.pretrade.next_id;
                let price =
                    if o.price == 0 { self.markets[o.market as usize].mark } else { o.price };
                self.pretrade.insert(Order { id, price, ..*o });
            }
            out.push((v, id));
        }
        Ok(out)
    }

    /// Cancel open orders by id, all or nothing (`UNKNOWN_ORDER` names the first unknown id).
    pub fn cancel_orders(&mut self, ids: &[u64]) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (i, id) in ids.iter().enumerate() {
            if !self.pretrade.owner.contains_key(id) || !seen.insert(*id) {
                return Err(unknown_order(*id).context(format!("row {i}")));
            }
        }
        for id in ids {
            self.pretrade.remove(*id);
        }
        Ok(())
    }

    /// Fills of open orders: order `ids[i]` traded `qty[i]` lots (> 0, at most what is left of
    /// it) at `price[i]`. The position changes through `apply_fills` (SPEC §15); each order keeps
    /// what is left, and goes when nothing is. All or nothing.
    pub fn fill_orders(&mut self, ids: &[u64], qty: &[i64], price: &[i64]) -> Result<()> {
        check_lengths("fillOrders", &[ids.len(), qty.len(), price.len()])?;
        let mut left: HashMap<u64, i64> = HashMap::new();
        let (mut acc, mut mkt, mut dq) = (vec![], vec![], vec![]);
        for (i, &id) in ids.iter().enumerate() {
            let ctx = |e: Error| e.context(format!("row {i}"));
            let a = *self.pretrade.owner.get(&id).ok_or_else(|| ctx(unknown_order(id)))?;
            let o = *self.pretrade.orders_of(a).iter().find(|o| o.id == id).expect("owned");
            let rest = left.entry(id).or_insert(o.qty.abs());
            if qty[i] <= 0 || qty[i] > *rest {
                return Err(ctx(Error::new(
                    ErrorCode::InvalidQuantity,
                    format!("fill of order {id} must be 1..={} lots, got {}", *rest, qty[i]),
                )));
            }
            *rest -= qty[i];
            acc.push(a);
            mkt.push(o.market);
            dq.push(qty[i] * o.qty.signum());
        }
        self.apply_fills(&acc, &mkt, &dq, price)?;
        for (id, rest) in left {
            if rest == 0 {
                self.pretrade.remove(id);
            } else {
                let a = self.pretrade.owner[&id];
                let list = self.pretrade.by_account.get_mut(&a).expect("owned");
                let o = list.iter_mut().find(|o| o.id == id).expect("owned");
                o.qty = rest * o.qty.signum();
            }
        }
        Ok(())
    }
}

pub(crate) fn unknown_order(id: u64) -> Error {
    Error::new(ErrorCode::UnknownOrder, format!("no open order with id {id}"))
}

impl Engine {
    /// After a liquidation step: cancel every non-reduce-only open order of each account the new
    /// events (from index `from`) liquidated or took over, one `OrderCancelled` event per order
    /// (SPEC §17.9). Reduce-only orders stay: they can only reduce.
    pub(crate) fn cancel_liquidated_orders(&mut self, from: usize) {
        use crate::waterfall::EventKind;
        if self.pretrade.owner.is_empty() {
            return;
        }
        let mut hit: Vec<u32> = Vec::new();
        for ev in &self.waterfall.events[from..] {
            let liq = matches!(ev.kind, EventKind::LiquidationFill | EventKind::Takeover);
            if liq && !hit.contains(&ev.account) {
                hit.push(ev.account);
            }
        }
        for a in hit {
            self.cancel_orders_of(a, false);
        }
    }

    /// Cancel account `a`'s open orders (reduce-only ones too when `all`), in placement order,
    /// one `OrderCancelled` event each.
    pub(crate) fn cancel_orders_of(&mut self, a: u32, all: bool) {
        use crate::waterfall::EventKind;
        let gone: Vec<Order> =
            self.pretrade.orders_of(a).iter().filter(|o| all || !o.reduce_only).copied().collect();
        for o in gone {
            self.pretrade.remove(o.id);
            let none = u32::MAX;
            self.emit(EventKind::OrderCancelled, a, o.market, none, o.qty, o.price, o.id as i64);
        }
    }
}
