//! Pre-trade arithmetic (SPEC §17): initial margin, order cost, available balance, the order
//! check, the largest accepted quantity, leverage changes and the what-if of a fill.

use std::collections::HashMap;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::liq::{
    bankruptcy_base, bankruptcy_price, liquidation_base, liquidation_price,
    liquidation_price_reason, SolvedPrice,
};
use crate::market::{ContractKind, Market};
use crate::num::*;
use crate::pretrade::{Order, PreTradeConfig, Verdict, BAND_SCALE};

/// The check of one order: its verdict, the lots that open (beyond what it reduces), the parts
/// of its cost (atoms, SPEC §17.2), and the account's available balance before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderVerdict {
    pub verdict: Verdict,
    pub open_qty: i64,
    pub initial_margin: i64,
    pub open_loss: i64,
    pub fee: i64,
    pub available: i64,
}

impl OrderVerdict {
    pub fn cost(&self) -> i128 {
        self.initial_margin as i128 + self.open_loss as i128 + self.fee as i128
    }
}

/// An account's margin (SPEC §17.4), atoms: cross equity (unrealised profit counted), equity as
/// the order check counts it, initial and maintenance margin of cross positions, order margin,
/// available balance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AccountMargin {
    pub equity: i128,
    pub counted_equity: i128,
    pub initial_margin: i128,
    pub maintenance_margin: i128,
    pub order_margin: i128,
    pub available: i128,
    /// Cross liquidatable (SPEC §5.2): only risk-reducing orders are accepted.
    pub liquidating: bool,
}

/// Tentative orders of a sequential batch, per account, after the account's open orders.
type Extra = HashMap<u32, Vec<Order>>;

/// tier units × num / den in atoms, rounded up: linear ceil(v·num·10^s/den), inverse ceil(v·num/den).
fn atoms_ceil(mk: &Market, fine: i128, den: i128, at: &'static str) -> Result<i128> {
    let e = if mk.kind == ContractKind::Linear { mk.quote_exp() } else { 0 };
    ratio(fine, e, den, Round::Ceil, at)
}

/// Initial margin of a position of value `v` (tier units) at leverage `l` (SPEC §17.2):
/// ceil(v · max(1/l, imr of its tier)).
pub fn position_im(mk: &Market, v: i128, l: i64) -> Result<i128> {
    let imr = mk.tiers[mk.tier_index(v, 0)].imr;
    if imr as i128 * l as i128 > RATE_SCALE as i128 {
        atoms_ceil(mk, mul(v, imr as i128, "initial margin")?, RATE_SCALE as i128, "initial margin")
    } else {
        atoms_ceil(mk, v, l as i128, "initial margin")
    }
}

/// The price an order's notional is taken at (Binance's "assuming price"): a buy at its price,
/// a sell at the worse of price and mark (linear: max; inverse, whose value falls with the
/// price: min).
fn assuming_price(mk: &Market, buy: bool, p: i64) -> i64 {
    match (buy, mk.kind) {
        (true, _) => p,
        (false, ContractKind::Linear) => p.max(mk.mark),
        (false, ContractKind::Inverse) => p.min(mk.mark),
    }
}

/// Value in tier units of `open` lots (> 0) at price x: linear open·x, inverse ceil(open·size·10^t/x).
fn lots_value(mk: &Market, open: i64, x: i64) -> Result<i128> {
    match mk.kind {
        ContractKind::Linear => Ok(open as i128 * x as i128),
        ContractKind::Inverse => ratio(
            mul(open as i128, mk.contract_size as i128, "order value")?,
            mk.inverse_exp(),
            x as i128,
            Round::Ceil,
            "order value",
        ),
    }
}

/// (value, initial margin, open loss, fee) of an order of `whole` lots at price p, leverage l, of
/// which `open` lots open (SPEC §17.2): margin and fee on the open lots, the open loss on all of
/// them (a fill realises it on the reducing lots too).
fn order_cost(
    mk: &Market,
    cfg: &PreTradeConfig,
    buy: bool,
    (open, whole): (i64, i64),
    p: i64,
    l: i64,
) -> Result<(i128, i128, i128, i128)> {
    let signed = if buy { whole } else { -whole };
    let cost = mk.cost_basis(signed, p)?;
    let loss = (-mk.upnl_at(signed, cost, mk.mark, 0)?).max(0);
    if open == 0 {
        return Ok((0, 0, loss, 0));
    }
    let v = lots_value(mk, open, assuming_price(mk, buy, p))?;
    let im = atoms_ceil(mk, v, l as i128, "order initial margin")?;
    let fee = if cfg.order_cost_fee_rate == 0 {
        0
    } else {
        // open fee v·f plus close fee v·f·(1 ∓ 1/l) (Bybit): v·f·(2l ∓ 1)/l.
        let close_worse = buy == (mk.kind == ContractKind::Inverse);
        let k = 2 * l as i128 + if close_worse { 1 } else { -1 };
        let fine = mul(mul(v, cfg.order_cost_fee_rate as i128, "order fee")?, k, "order fee")?;
        atoms_ceil(mk, fine, RATE_SCALE as i128 * l as i128, "order fee")?
    };
    Ok((v, im, loss, fee))
}

/// What the netting of one side leaves (SPEC §17.3): for the account's orders of one market and
/// side, in order, each reduces what is left of the opposite position first.
struct Side {
    /// Opposite position not yet taken by earlier orders of this side.
    reducible: i64,
    /// Value (tier units) and lots of the exposure on this side: the position if it is on this
    /// side, plus the open parts of the orders.
    value: i128,
    lots: i64,
    /// Order margin of the side (atoms).
    margin: i128,
}

/// Position (qty, cost, isolated, isolated margin) of an account in a market, or zeros.
fn position_of(e: &Engine, a: u32, m: u32) -> (i64, i64, bool, i64) {
    let acc = &e.accounts()[a as usize];
    match acc.positions.iter().find(|p| p.0 == m) {
        Some(&(_, s)) => {
            let c = e.positions(m);
            let s = s as usize;
            (c.qty[s], c.cost[s], c.isolated[s], c.isolated_margin[s])
        }
        None => (0, 0, false, 0),
    }
}

impl Engine {
    fn orders_in<'a>(&'a self, a: u32, extra: &'a Extra) -> impl Iterator<Item = &'a Order> {
        self.pretrade.orders_of(a).iter().chain(extra.get(&a).into_iter().flatten())
    }

    /// Net one side of (account, market) with position `pos` (SPEC §17.3).
    fn side(&self, a: u32, m: u32, buy: bool, pos: (i64, i64), extra: &Extra) -> Result<Side> {
        let mk = &self.markets[m as usize];
        let (q, c) = pos;
        let on_side = q != 0 && (q > 0) == buy;
        let mut s = Side {
            reducible: if on_side { 0 } else { q.abs() },
            value: if on_side { mk.margin_value_at(q, c, mk.mark, 0)? } else { 0 },
            lots: if on_side { q.abs() } else { 0 },
            margin: 0,
        };
        let l = self.leverage_of(a, m, mk);
        let cfg = self.pretrade.config(m);
        for o in self.orders_in(a, extra) {
            if o.market != m || (o.qty > 0) != buy {
                continue;
            }
            let r = o.qty.abs().min(s.reducible);
            s.reducible -= r;
            let open = o.qty.abs() - r;
            if !o.reduce_only {
                let (v, im, loss, fee) =
                    order_cost(mk, &cfg, buy, (open, o.qty.abs()), o.price, l)?;
                s.value = add(s.value, v, "exposure value")?;
                s.lots += open;
                s.margin = add(s.margin, im + loss + fee, "order margin")?;
            }
        }
        Ok(s)
    }

    /// An account's margin (SPEC §17.4), with the tentative orders of a sequential batch.
    fn margin_with(&self, a: u32, extra: &Extra) -> Result<AccountMargin> {
        let acc = &self.accounts()[a as usize];
        // No list is built: the check runs per order and allocation would dominate it.
        let list = acc.positions.iter().map(|&(m, s)| {
            let (col, s) = (self.positions(m), s as usize);
            (m, (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s] as i128))
        });
        self.margin_from(a, acc.balance as i128, list, extra)
    }

    /// The margin of account `a` were its balance and positions these (a what-if's, or its own).
    fn margin_from(
        &self,
        a: u32,
        balance: i128,
        list: impl Iterator<Item = (u32, Pos)> + Clone,
        extra: &Extra,
    ) -> Result<AccountMargin> {
        let ctx = |e: Error| e.context(format!("account {}", self.accounts()[a as usize].id));
        let mut r =
            AccountMargin { equity: balance, counted_equity: balance, ..Default::default() };
        let mut has_cross = false;
        for (m, (q, c, iso, _)) in list.clone() {
            let mk = &self.markets[m as usize];
            if iso || q == 0 {
                continue;
            }
            has_cross = true;
            let u = mk.upnl(q, c).map_err(ctx)?;
            r.equity = add(r.equity, u, "equity").map_err(ctx)?;
            let counted = if self.pretrade.config(m).exclude_profit { u.min(0) } else { u };
            r.counted_equity = add(r.counted_equity, counted, "equity").map_err(ctx)?;
            let mm = mk.maintenance_margin(q, c).map_err(ctx)?;
            r.maintenance_margin = add(r.maintenance_margin, mm, "MM").map_err(ctx)?;
            let v = mk.margin_value_at(q, c, mk.mark, 0).map_err(ctx)?;
            let im = position_im(mk, v, self.leverage_of(a, m, mk)).map_err(ctx)?;
            r.initial_margin = add(r.initial_margin, im, "initial margin").map_err(ctx)?;
        }
        let mut markets: Vec<u32> = self.orders_in(a, extra).map(|o| o.market).collect();
        markets.sort_unstable();
        markets.dedup();
        for m in markets {
            let (q, c) = list.clone().find(|p| p.0 == m).map_or((0, 0), |p| (p.1 .0, p.1 .1));
            for buy in [true, false] {
                let sd = self.side(a, m, buy, (q, c), extra).map_err(ctx)?;
                r.order_margin = add(r.order_margin, sd.margin, "order margin").map_err(ctx)?;
            }
        }
        r.liquidating = has_cross && r.equity <= r.maintenance_margin;
        r.available = sub(r.counted_equity, r.initial_margin, "available").map_err(ctx)?;
        r.available = sub(r.available, r.order_margin, "available").map_err(ctx)?;
        Ok(r)
    }

    /// An account's margin (SPEC §17.4).
    pub fn account_margin(&self, a: u32) -> Result<AccountMargin> {
        self.account(a)?;
        self.margin_with(a, &HashMap::new())
    }
}

/// What an order's check needs that does not depend on its quantity (so `max_order_qty` can
/// search quantities without recomputing the account).
struct Prepared<'a> {
    mk: &'a Market,
    cfg: PreTradeConfig,
    buy: bool,
    price: i64,
    leverage: i64,
    available: i128,
    reducible: i64,
    value: i128,
    lots: i64,
    /// Lots of the account's earlier orders of this side that open (the rest of `lots` is the
    /// position).
    order_lots: i64,
    liquidating: bool,
    band_ok: bool,
    /// Largest exposure value the leverage allows (Binance's "maximum position"), inclusive.
    cap_value: Option<i128>,
    /// Lots of all positions on this side of the market (only when an OI cap is set).
    market_lots: i128,
}

/// The risk limit at leverage l: the floor of the first tier whose initial rate exceeds 1/l
/// (Binance's brackets are "floor < position ≤ cap"), None when every tier allows l.
pub fn max_position_value(mk: &Market, l: i64) -> Option<i128> {
    mk.tiers
        .iter()
        .find(|t| t.imr as i128 * l as i128 > RATE_SCALE as i128)
        .map(|t| t.floor as i128)
}

fn saturate(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

impl Engine {
    fn prepare(
        &self,
        a: u32,
        m: u32,
        buy: bool,
        price: i64,
        extra: &Extra,
    ) -> Result<Prepared<'_>> {
        let mk = &self.markets[m as usize];
        let cfg = self.pretrade.config(m);
        let p = if price == 0 { mk.mark } else { price };
        let margin = self.margin_with(a, extra)?;
        let (q, c, iso, iso_margin) = position_of(self, a, m);
        let sd = self.side(a, m, buy, (q, c), extra)?;
        let mut liquidating = margin.liquidating;
        if iso {
            let eq = add(iso_margin as i128, mk.upnl(q, c)?, "isolated equity")?;
            liquidating |= eq <= mk.maintenance_margin(q, c)?;
        }
        // Buys may not be priced above mark·(1 + band), sells not below mark·(1 − band).
        let band = cfg.price_band_ppm as i128;
        let (pm, mm) = (p as i128 * BAND_SCALE as i128, mk.mark as i128);
        let band_ok = band == 0
            || if buy {
                pm <= mm * (BAND_SCALE as i128 + band)
            } else {
                pm >= mm * (BAND_SCALE as i128 - band)
            };
        // Kept by every position write: no scan of the market per order.
        let market_lots =
            if cfg.max_open_interest > 0 { self.positions(m).open_interest(buy) } else { 0 };
        let leverage = self.leverage_of(a, m, mk);
        let pos_lots = if q != 0 && (q > 0) == buy { q.abs() } else { 0 };
        Ok(Prepared {
            mk,
            cfg,
            buy,
            price: p,
            leverage,
            available: margin.available,
            reducible: sd.reducible,
            value: sd.value,
            lots: sd.lots,
            order_lots: sd.lots - pos_lots,
            liquidating,
            band_ok,
            cap_value: max_position_value(mk, leverage),
            market_lots,
        })
    }

    /// The verdict on `q` lots (> 0) of a prepared order (SPEC §17.5), checks in this order.
    fn judge(p: &Prepared, q: i64, reduce_only: bool) -> OrderVerdict {
        let mut v = OrderVerdict {
            verdict: Verdict::Accepted,
            open_qty: 0,
            initial_margin: 0,
            open_loss: 0,
            fee: 0,
            available: saturate(p.available),
        };
        let reject = |mut v: OrderVerdict, why| {
            v.verdict = why;
            v
        };
        if !p.band_ok {
            return reject(v, Verdict::PriceBand);
        }
        let open = q - q.min(p.reducible);
        v.open_qty = open;
        if reduce_only {
            // Reduce-only orders reserve nothing and may only reduce.
            return if open == 0 { v } else { reject(v, Verdict::ReduceOnly) };
        }
        if open > 0 && p.liquidating {
            return reject(v, Verdict::Liquidating);
        }
        if p.lots as i128 + open as i128 > QTY_MAX_LOTS as i128 {
            return reject(v, Verdict::RiskLimit);
        }
        let Ok((val, im, loss, fee)) =
            order_cost(p.mk, &p.cfg, p.buy, (open, q), p.price, p.leverage)
        else {
            v.initial_margin = i64::MAX;
            return reject(v, Verdict::InsufficientMargin);
        };
        (v.initial_margin, v.open_loss, v.fee) = (saturate(im), saturate(loss), saturate(fee));
        if p.cap_value.is_some_and(|cap| p.value + val > cap) {
            return reject(v, Verdict::RiskLimit);
        }
        let acct = p.cfg.max_account_position;
        if acct > 0 && p.lots as i128 + open as i128 > acct as i128 {
            return reject(v, Verdict::OpenInterestCap);
        }
        let cap = p.cfg.max_open_interest;
        if cap > 0 && p.market_lots + p.order_lots as i128 + open as i128 > cap as i128 {
            return reject(v, Verdict::OpenInterestCap);
        }
        // An order that costs nothing (reducing at or better than mark) is never refused for margin.
        let cost = im + loss + fee;
        if cost > 0 && p.available < cost {
            return reject(v, Verdict::InsufficientMargin);
        }
        v
    }

    /// Check orders (SPEC §17.5). `sequential`: each accepted order reserves margin for the
    /// next, as if placed; otherwise each is checked against the state as it is. Changes nothing.
    pub fn check_orders(&self, orders: &[Order], sequential: bool) -> Result<Vec<OrderVerdict>> {
        for (i, o) in orders.iter().enumerate() {
            self.check_request(o).map_err(|e| e.context(format!("row {i}")))?;
        }
        let mut extra: Extra = HashMap::new();
        let mut next = self.pretrade.next_id;
        let mut out = Vec::with_capacity(orders.len());
        for (i, o) in orders.iter().enumerate() {
            self.prefetch_ahead(orders, i);
            let ctx = |e: Error| e.context(format!("row {i}"));
            let p = self.prepare(o.account, o.market, o.qty > 0, o.price, &extra);
            let p = p.map_err(ctx)?;
            let v = Self::judge(&p, o.qty.abs(), o.reduce_only);
            if sequential && v.verdict == Verdict::Accepted {
                next += 1;
                let placed = Order { id: next, price: p.price, ..*o };
                extra.entry(o.account).or_default().push(placed);
            }
            out.push(v);
        }
        Ok(out)
    }

    /// Cache hints for the orders after row `i`: on a big book a check waits on memory (a random
    /// account, its position references, then one row per position in scattered columns, each
    /// load depending on the one before). Hinting each stage some rows ahead overlaps those
    /// misses with the arithmetic of the rows between. No effect on results.
    fn prefetch_ahead(&self, orders: &[Order], i: usize) {
        let acc =
            |k: usize| orders.get(i + k).and_then(|o| self.accounts().get(o.account as usize));
        if let Some(a) = acc(8) {
            crate::engine::prefetch(a);
        }
        if let Some(r) = acc(4).and_then(|a| a.positions.first()) {
            crate::engine::prefetch(r);
        }
        for &(m, s) in acc(2).map_or(&[][..], |a| a.positions.as_slice()) {
            let (col, s) = (self.positions(m), s as usize);
            if s < col.qty.len() {
                crate::engine::prefetch(&col.qty[s]);
                crate::engine::prefetch(&col.cost[s]);
                crate::engine::prefetch(&col.isolated[s]);
                crate::engine::prefetch(&col.isolated_margin[s]);
            }
        }
    }

    /// The largest quantity `check_orders` accepts for this order (0 when not even one lot), so
    /// that one lot more is refused (SPEC §17.6).
    pub fn max_order_qty(
        &self,
        a: u32,
        m: u32,
        buy: bool,
        price: i64,
        reduce_only: bool,
    ) -> Result<i64> {
        let probe = Order { id: 0, account: a, market: m, qty: 1, price, reduce_only };
        self.check_request(&probe)?;
        let p = self.prepare(a, m, buy, price, &HashMap::new())?;
        // Acceptance is monotone in the quantity (every check grows with the open lots).
        let (mut lo, mut hi) = (0i64, QTY_MAX_LOTS + 1);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if Self::judge(&p, mid, reduce_only).verdict == Verdict::Accepted {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Choose the leverage of (account, market) (SPEC §17.1). Refused, with the state unchanged,
    /// when the exposure of either side exceeds the maximum position at it (`RISK_LIMIT`) or the
    /// account would be left with less than zero available, and less than before
    /// (`INSUFFICIENT_MARGIN`).
    pub fn set_leverage(&mut self, a: u32, m: u32, l: i64) -> Result<Verdict> {
        self.account(a)?;
        let mk = self.market(m)?;
        Self::check_leverage_value(mk, l)?;
        let none = HashMap::new();
        let before = self.margin_with(a, &none)?;
        let old = self.pretrade.leverage.insert((a, m), l);
        let verdict = self.leverage_verdict(a, m, l, before.available);
        if verdict != Ok(Verdict::Accepted) {
            match old {
                Some(x) => self.pretrade.leverage.insert((a, m), x),
                None => self.pretrade.leverage.remove(&(a, m)),
            };
        }
        verdict
    }

    fn leverage_verdict(&self, a: u32, m: u32, l: i64, before: i128) -> Result<Verdict> {
        let none = HashMap::new();
        let mk = &self.markets[m as usize];
        let (q, c, _, _) = position_of(self, a, m);
        if let Some(cap) = max_position_value(mk, l) {
            for buy in [true, false] {
                if self.side(a, m, buy, (q, c), &none)?.value > cap {
                    return Ok(Verdict::RiskLimit);
                }
            }
        }
        let after = self.margin_with(a, &none)?.available;
        Ok(if after < 0 && after < before {
            Verdict::InsufficientMargin
        } else {
            Verdict::Accepted
        })
    }
}

/// A position after a what-if (SPEC §17.7): size, cost basis, and its prices with the account
/// as the orders leave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WhatIfPosition {
    pub market: u32,
    pub qty: i64,
    pub cost: i64,
    pub isolated: bool,
    pub liquidation: Option<SolvedPrice>,
    /// Code of `tables::LIQUIDATION_PRICE_REASONS` (SPEC §6.4).
    pub liquidation_reason: u8,
    pub bankruptcy: Option<SolvedPrice>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIf {
    pub before: AccountMargin,
    pub after: AccountMargin,
    /// ceil(MM·10^6 / equity) after, None when equity ≤ 0 (SPEC §5.3).
    pub margin_ratio_ppm: Option<i64>,
    pub positions: Vec<WhatIfPosition>,
}

/// (qty, cost, isolated, isolated margin) of a position in a what-if.
type Pos = (i64, i64, bool, i128);

/// One fill on a position, as `apply_fills` does it (SPEC §15): close against it first (§8.1),
/// then open or increase at the price.
fn fill_on(mk: &Market, pos: &mut Pos, balance: &mut i128, dq: i64, p: i64) -> Result<()> {
    let (mut q, mut c, mut iso, mut im) = *pos;
    let mut rest = dq;
    if q != 0 && dq.signum() != q.signum() {
        let close = if dq.unsigned_abs() >= q.unsigned_abs() { q } else { -dq };
        let (closed, realised) = mk.close_at(q, c, close, p)?;
        if iso {
            im = add(im, realised, "isolated margin")?;
            if close == q {
                *balance = add(*balance, im, "balance")?;
                (im, iso) = (0, false);
            }
        } else {
            *balance = add(*balance, realised, "balance")?;
        }
        q -= close;
        c -= closed;
        rest = dq + close;
    }
    if rest != 0 {
        crate::market::check_qty(q + rest, "position qty after the order")?;
        c = to_i64(add(c as i128, mk.cost_basis(rest, p)? as i128, "cost basis")?, "cost basis")?;
        q += rest;
    }
    *pos = (q, c, iso, im);
    Ok(())
}

impl Engine {
    /// The account after the given orders (all of account `a`) fill at their prices (the mark
    /// for market orders), open orders kept (SPEC §17.7). Changes nothing.
    pub fn what_if(&self, a: u32, orders: &[Order]) -> Result<WhatIf> {
        self.account(a)?;
        let before = self.account_margin(a)?;
        let acc = &self.accounts()[a as usize];
        let mut list: Vec<(u32, Pos)> = acc
            .positions
            .iter()
            .map(|&(m, s)| {
                let (col, s) = (self.positions(m), s as usize);
                (m, (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s] as i128))
            })
            .collect();
        let mut balance = acc.balance as i128;
        let mut changed: Vec<u32> = Vec::new();
        for (i, o) in orders.iter().enumerate() {
            let ctx = |e: Error| e.context(format!("row {i}"));
            self.check_request(o).map_err(ctx)?;
            if o.account != a {
                return Err(ctx(Error::new(
                    crate::error::ErrorCode::InvalidArgument,
                    format!(
                        "a what-if takes orders of one account ({}), got account index {}",
                        acc.id, o.account
                    ),
                )));
            }
            let mk = &self.markets[o.market as usize];
            let p = if o.price == 0 { mk.mark } else { o.price };
            let at = match list.iter().position(|x| x.0 == o.market) {
                Some(at) => at,
                None => {
                    list.push((o.market, (0, 0, false, 0)));
                    list.len() - 1
                }
            };
            fill_on(mk, &mut list[at].1, &mut balance, o.qty, p).map_err(ctx)?;
            if !changed.contains(&o.market) {
                changed.push(o.market);
            }
        }
        let after = self.margin_from(a, balance, list.iter().copied(), &HashMap::new())?;
        let margin_ratio_ppm = if after.equity <= 0 {
            None
        } else {
            Some(to_i64(
                ratio(after.maintenance_margin, 6, after.equity, Round::Ceil, "margin ratio")?,
                "margin ratio",
            )?)
        };
        let mut positions = Vec::with_capacity(changed.len());
        for m in changed {
            let (_, (q, c, iso, im)) = *list.iter().find(|x| x.0 == m).expect("listed");
            positions.push(self.what_if_position(m, (q, c, iso, im), balance, &list)?);
        }
        Ok(WhatIf { before, after, margin_ratio_ppm, positions })
    }

    /// Prices of one position of a what-if, with the bases of SPEC §6 from the other positions.
    fn what_if_position(
        &self,
        m: u32,
        (q, c, iso, im): Pos,
        balance: i128,
        list: &[(u32, Pos)],
    ) -> Result<WhatIfPosition> {
        let mk = &self.markets[m as usize];
        let (mut others_u, mut others_mm) = (0i128, 0i128);
        for &(o, (oq, oc, oiso, _)) in list {
            if iso || o == m || oiso || oq == 0 {
                continue;
            }
            let om = &self.markets[o as usize];
            others_u = add(others_u, om.upnl(oq, oc)?, "uPnL of the other positions")?;
            let mm = om.maintenance_margin(oq, oc)?;
            others_mm = add(others_mm, mm, "maintenance margin of the other positions")?;
        }
        let bk = bankruptcy_base(if iso { im } else { balance }, others_u)?;
        let lq = liquidation_base(bk, others_mm)?;
        let liquidation = liquidation_price(mk, q, c, lq)?;
        Ok(WhatIfPosition {
            market: m,
            qty: q,
            cost: c,
            isolated: iso,
            liquidation,
            liquidation_reason: liquidation_price_reason(mk, q, liquidation)?,
            bankruptcy: bankruptcy_price(mk, q, c, bk)?,
        })
    }
}
