//! Pre-trade risk (docs/SPEC.md §17): leverage, open orders, order checks, maxOrderQty. Conversion
//! only: the rules live in deleverage-core (pretrade.rs, order_check.rs).

use deleverage_core as core;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use core::order_check::OrderVerdict;
use core::pretrade::{Order, PreTradeConfig};

use crate::{err, i64_of, Col, NativeEngine};

/// A market's pre-trade settings in integer units (SPEC §17.1).
#[napi(object)]
pub struct PreTradeInit {
    pub default_leverage: u32,
    pub price_band_ppm: BigInt,
    pub max_open_interest: BigInt,
    pub max_account_position: BigInt,
    pub exclude_profit: bool,
    pub order_cost_fee_rate: BigInt,
}

/// The verdict of each order (SPEC §17.5): code 0 accepted, else the reason; the lots that open;
/// the parts of its cost in atoms; the available balance before it. `id`: placeOrders only.
#[napi(object)]
pub struct OrderCheckColumns {
    pub verdict: Uint8Array,
    pub open_qty: BigInt64Array,
    pub initial_margin: BigInt64Array,
    pub open_loss: BigInt64Array,
    pub fee: BigInt64Array,
    pub available: BigInt64Array,
    pub id: BigInt64Array,
}

fn columns(v: &[OrderVerdict], ids: Vec<i64>) -> OrderCheckColumns {
    let col = |f: fn(&OrderVerdict) -> i64| v.iter().map(f).collect::<Vec<_>>().into();
    OrderCheckColumns {
        verdict: v.iter().map(|x| x.verdict as u8).collect::<Vec<_>>().into(),
        open_qty: col(|x| x.open_qty),
        initial_margin: col(|x| x.initial_margin),
        open_loss: col(|x| x.open_loss),
        fee: col(|x| x.fee),
        available: col(|x| x.available),
        id: ids.into(),
    }
}

fn requests(a: &[u32], m: &[u32], q: &[i64], p: &[i64], ro: &[u8]) -> core::Result<Vec<Order>> {
    core::engine::check_lengths_pub(
        "checkOrders",
        &[a.len(), m.len(), q.len(), p.len(), ro.len()],
    )?;
    Ok((0..a.len())
        .map(|i| Order {
            id: 0,
            account: a[i],
            market: m[i],
            qty: q[i],
            price: p[i],
            reduce_only: ro[i] != 0,
        })
        .collect())
}

fn i128_out(x: i128, what: &str) -> Result<i64> {
    i64::try_from(x).map_err(|_| err(core::Error::overflow(what)))
}

/// [equity, countedEquity, initialMargin, maintenanceMargin, orderMargin, available,
/// liquidating (0/1)], each checked into i64.
fn margin_row(r: &core::order_check::AccountMargin) -> Result<Vec<i64>> {
    let mut v = Vec::with_capacity(7);
    for (x, what) in [
        (r.equity, "equity"),
        (r.counted_equity, "counted equity"),
        (r.initial_margin, "initial margin"),
        (r.maintenance_margin, "maintenance margin"),
        (r.order_margin, "order margin"),
        (r.available, "available"),
    ] {
        v.push(i128_out(x, what)?);
    }
    v.push(r.liquidating as i64);
    Ok(v)
}

#[napi]
impl NativeEngine {
    #[napi(catch_unwind)]
    pub fn configure_pre_trade(&mut self, market: u32, config: PreTradeInit) -> Result<()> {
        let c = PreTradeConfig {
            default_leverage: config.default_leverage as i64,
            price_band_ppm: i64_of(&config.price_band_ppm, "priceBandPpm")?,
            max_open_interest: i64_of(&config.max_open_interest, "maxOpenInterest")?,
            max_account_position: i64_of(&config.max_account_position, "maxAccountPosition")?,
            exclude_profit: config.exclude_profit,
            order_cost_fee_rate: i64_of(&config.order_cost_fee_rate, "orderCostFeeRate")?,
        };
        self.write(|e| e.configure_pretrade(market, c))
    }

    #[napi(catch_unwind)]
    pub fn leverage(&self, account: u32, market: u32) -> Result<u32> {
        Ok(self.inner.leverage(account, market).map_err(err)? as u32)
    }

    /// Returns the verdict code (0 accepted; the state changes only then).
    #[napi(catch_unwind)]
    pub fn set_leverage(&mut self, account: u32, market: u32, leverage: u32) -> Result<u32> {
        Ok(self.write(|e| e.set_leverage(account, market, leverage as i64))? as u32)
    }

    #[napi(catch_unwind)]
    pub fn check_orders(
        &self,
        #[napi(ts_arg_type = "Uint32Array")] account: Col<u32>,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
        #[napi(ts_arg_type = "Uint8Array")] reduce_only: Col<u8>,
        sequential: bool,
    ) -> Result<OrderCheckColumns> {
        let o = requests(&account, &market, &qty, &price, &reduce_only).map_err(err)?;
        let v = self.inner.check_orders(&o, sequential).map_err(err)?;
        Ok(columns(&v, vec![]))
    }

    /// One order, checked as `checkOrders` does (SPEC §17.5), without the columns: [verdict,
    /// openQty, initialMargin, openLoss, fee, available]. The latency path: one typed array out
    /// and none in, where a one-row `checkOrders` converts five in and builds seven out.
    #[napi(catch_unwind)]
    pub fn check_order(
        &self,
        account: u32,
        market: u32,
        qty: BigInt,
        price: BigInt,
        reduce_only: bool,
    ) -> Result<BigInt64Array> {
        let o = Order {
            id: 0,
            account,
            market,
            qty: i64_of(&qty, "qty")?,
            price: i64_of(&price, "price")?,
            reduce_only,
        };
        let v = self.inner.check_orders(std::slice::from_ref(&o), false).map_err(err)?;
        let x = v[0];
        Ok(vec![x.verdict as i64, x.open_qty, x.initial_margin, x.open_loss, x.fee, x.available]
            .into())
    }

    #[napi(catch_unwind)]
    pub fn place_orders(
        &mut self,
        #[napi(ts_arg_type = "Uint32Array")] account: Col<u32>,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
        #[napi(ts_arg_type = "Uint8Array")] reduce_only: Col<u8>,
    ) -> Result<OrderCheckColumns> {
        let o = requests(&account, &market, &qty, &price, &reduce_only).map_err(err)?;
        let r = self.write(|e| e.place_orders(&o))?;
        let v: Vec<OrderVerdict> = r.iter().map(|x| x.0).collect();
        Ok(columns(&v, r.iter().map(|x| x.1 as i64).collect()))
    }

    #[napi(catch_unwind)]
    pub fn cancel_orders(
        &mut self,
        #[napi(ts_arg_type = "BigInt64Array")] ids: Col<i64>,
    ) -> Result<()> {
        let ids: Vec<u64> = ids.iter().map(|&x| x as u64).collect();
        self.write(|e| e.cancel_orders(&ids))
    }

    #[napi(catch_unwind)]
    pub fn fill_orders(
        &mut self,
        #[napi(ts_arg_type = "BigInt64Array")] ids: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
    ) -> Result<()> {
        let ids: Vec<u64> = ids.iter().map(|&x| x as u64).collect();
        self.write(|e| e.fill_orders(&ids, &qty, &price))
    }

    #[napi(catch_unwind)]
    pub fn max_order_qty(
        &self,
        account: u32,
        market: u32,
        buy: bool,
        price: BigInt,
        reduce_only: bool,
    ) -> Result<BigInt> {
        let p = i64_of(&price, "price")?;
        let n = self.inner.max_order_qty(account, market, buy, p, reduce_only).map_err(err)?;
        Ok(BigInt::from(n))
    }

    /// [equity, countedEquity, initialMargin, maintenanceMargin, orderMargin, available,
    /// liquidating (0/1)] in atoms (SPEC §17.4).
    #[napi(catch_unwind)]
    pub fn account_margin(&self, account: u32) -> Result<BigInt64Array> {
        let r = self.inner.account_margin(account).map_err(err)?;
        let v = margin_row(&r)?;
        Ok(v.into())
    }

    /// Open orders of one account, in placement order: [id, market, qty, price, reduceOnly] rows
    /// flattened.
    #[napi(catch_unwind)]
    pub fn open_orders(&self, account: u32) -> Result<BigInt64Array> {
        let mut v = Vec::new();
        for o in self.inner.pretrade().orders_of(account) {
            v.extend([o.id as i64, o.market as i64, o.qty, o.price, o.reduce_only as i64]);
        }
        Ok(v.into())
    }

    /// The account after the orders (all of `account`) fill (SPEC §17.7), flattened: margin
    /// before (7 as accountMargin), after (7), margin ratio ppm after (−1 unbounded), position
    /// count n, then n rows [market, qty, cost, isolated, liquidation, liquidation nearest,
    /// bankruptcy, bankruptcy nearest, liquidation reason] (prices 0 when none; the reason a code
    /// of LIQUIDATION_PRICE_REASONS, SPEC §6.4).
    #[napi(catch_unwind)]
    pub fn what_if(
        &self,
        account: u32,
        #[napi(ts_arg_type = "Uint32Array")] market: Col<u32>,
        #[napi(ts_arg_type = "BigInt64Array")] qty: Col<i64>,
        #[napi(ts_arg_type = "BigInt64Array")] price: Col<i64>,
    ) -> Result<BigInt64Array> {
        core::engine::check_lengths_pub("whatIf", &[market.len(), qty.len(), price.len()])
            .map_err(err)?;
        let o: Vec<Order> = (0..market.len())
            .map(|i| Order {
                id: 0,
                account,
                market: market[i],
                qty: qty[i],
                price: price[i],
                reduce_only: false,
            })
            .collect();
        let w = self.inner.what_if(account, &o).map_err(err)?;
        let mut v = Vec::new();
        for r in [w.before, w.after] {
            v.extend(margin_row(&r)?);
        }
        v.push(w.margin_ratio_ppm.unwrap_or(-1));
        v.push(w.positions.len() as i64);
        let px = |p: Option<core::SolvedPrice>, n: bool| {
            p.map_or(0, |s| if n { s.nearest } else { s.conservative })
        };
        for p in &w.positions {
            v.extend([p.market as i64, p.qty, p.cost, p.isolated as i64]);
            v.extend([px(p.liquidation, false), px(p.liquidation, true)]);
            v.extend([px(p.bankruptcy, false), px(p.bankruptcy, true)]);
            v.push(i64::from(p.liquidation_reason));
        }
        Ok(v.into())
    }
}
