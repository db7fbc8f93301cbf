//! The pre-trade section of the canonical state bytes (SPEC §17.8): leverage choices, settings
//! and open orders. Present only when the pre-trade state is not the initial one, so the bytes
//! and hash of an engine that never used it are as before.

use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::market::{check_on_grid, check_price, check_qty};
use crate::pretrade::{Order, PreTradeConfig};

/// The section's first byte ('P').
pub(crate) const TAG: u8 = 0x50;

fn invalid(msg: String) -> Error {
    Error::new(ErrorCode::SnapshotInvalid, msg)
}

fn refused(at: usize, field: &str, e: Error) -> Error {
    invalid(format!("offset {at}: {field}: {}: {}", e.code.as_str(), e.message))
}

impl Engine {
    pub(crate) fn pretrade_is_initial(&self) -> bool {
        let p = &self.pretrade;
        p.config.is_empty() && p.leverage.is_empty() && p.owner.is_empty() && p.next_id == 0
    }

    /// Append the section (nothing when the state is the initial one).
    pub(crate) fn encode_pretrade(&self, w: &mut Vec<u8>) {
        if self.pretrade_is_initial() {
            return;
        }
        let p = &self.pretrade;
        w.push(TAG);
        w.extend_from_slice(&p.next_id.to_le_bytes());
        w.extend_from_slice(&(p.config.len() as u32).to_le_bytes());
        for c in &p.config {
            for v in [c.default_leverage, c.price_band_ppm, c.max_open_interest] {
                w.extend_from_slice(&v.to_le_bytes());
            }
            w.extend_from_slice(&c.max_account_position.to_le_bytes());
            w.push(c.exclude_profit as u8);
            w.extend_from_slice(&c.order_cost_fee_rate.to_le_bytes());
        }
        w.extend_from_slice(&(p.leverage.len() as u32).to_le_bytes());
        for (&(a, m), &l) in &p.leverage {
            w.extend_from_slice(&a.to_le_bytes());
            w.extend_from_slice(&m.to_le_bytes());
            w.extend_from_slice(&l.to_le_bytes());
        }
        let orders = p.all_orders();
        w.extend_from_slice(&(orders.len() as u64).to_le_bytes());
        for o in orders {
            w.extend_from_slice(&o.id.to_le_bytes());
            w.extend_from_slice(&o.account.to_le_bytes());
            w.extend_from_slice(&o.market.to_le_bytes());
            w.extend_from_slice(&o.qty.to_le_bytes());
            w.extend_from_slice(&o.price.to_le_bytes());
            w.push(o.reduce_only as u8);
        }
    }
}

/// A cursor over the section: every read names the snapshot offset (`base` + position).
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
    base: usize,
}

impl Cur<'_> {
    fn take<const N: usize>(&mut self, field: &str) -> Result<[u8; N]> {
        if self.b.len() - self.pos < N {
            return Err(invalid(format!(
                "offset {}: {field}: the body ends at offset {}",
                self.base + self.pos,
                self.base + self.b.len()
            )));
        }
        let v = self.b[self.pos..self.pos + N].try_into().unwrap();
        self.pos += N;
        Ok(v)
    }
    fn at(&self) -> usize {
        self.base + self.pos
    }
    fn u32(&mut self, f: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(f)?))
    }
    fn u64(&mut self, f: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(f)?))
    }
    fn i64(&mut self, f: &str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(f)?))
    }
    fn flag(&mut self, f: &str) -> Result<bool> {
        let at = self.at();
        match self.take::<1>(f)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(invalid(format!("offset {at}: {f}: must be 0 or 1, got {v}"))),
        }
    }
}

/// Read the section from `b` (which starts at snapshot offset `base`) into `e`; returns the bytes
/// read. Every value goes through the checks the API applies.
pub(crate) fn decode_pretrade(e: &mut Engine, b: &[u8], base: usize) -> Result<usize> {
    let mut r = Cur { b, pos: 1, base };
    if b[0] != TAG {
        return Err(invalid(format!("offset {base}: pre-trade tag: must be {TAG}, got {}", b[0])));
    }
    let next_id = r.u64("next order id")?;
    let (na, nm) = (e.accounts.len() as u32, e.markets.len() as u32);
    let at = r.at();
    let nc = r.u32("pre-trade config count")?;
    if nc > nm {
        return Err(invalid(format!(
            "offset {at}: pre-trade config count: {nc} exceeds the {nm} markets"
        )));
    }
    for m in 0..nc {
        let at = r.at();
        let f = format!("pre-trade config {m}");
        let c = PreTradeConfig {
            default_leverage: r.i64(&f)?,
            price_band_ppm: r.i64(&f)?,
            max_open_interest: r.i64(&f)?,
            max_account_position: r.i64(&f)?,
            exclude_profit: r.flag(&f)?,
            order_cost_fee_rate: r.i64(&f)?,
        };
        e.configure_pretrade(m, c).map_err(|x| refused(at, &f, x))?;
    }
    let nl = r.u32("leverage count")?;
    let mut prev: Option<(u32, u32)> = None;
    for i in 0..nl {
        let at = r.at();
        let f = format!("leverage {i}");
        let (a, m, l) = (r.u32(&f)?, r.u32(&f)?, r.i64(&f)?);
        if a >= na || m >= nm || prev.is_some_and(|p| p >= (a, m)) {
            return Err(invalid(format!(
                "offset {at}: {f}: ({a}, {m}) is out of range or not ascending"
            )));
        }
        Engine::check_leverage_value(&e.markets[m as usize], l).map_err(|x| refused(at, &f, x))?;
        e.pretrade.leverage.insert((a, m), l);
        prev = Some((a, m));
    }
    let no = r.u64("order count")?;
    let mut last = 0u64;
    for i in 0..no {
        let at = r.at();
        let f = format!("order {i}");
        let (id, a, m) = (r.u64(&f)?, r.u32(&f)?, r.u32(&f)?);
        let (qty, price, reduce_only) = (r.i64(&f)?, r.i64(&f)?, r.flag(&f)?);
        if id <= last || id > next_id || a >= na || m >= nm {
            return Err(invalid(format!(
                "offset {at}: {f}: id {id} (after {last}, at most {next_id}), account {a} or market {m} is out of range"
            )));
        }
        if qty == 0 {
            return Err(invalid(format!("offset {at}: {f}: qty must not be 0")));
        }
        let mk = &e.markets[m as usize];
        let ok = check_qty(qty, "order qty")
            .and_then(|_| check_price(price, mk.price_decimals, "order price"))
            .and_then(|_| check_on_grid(price, mk.tick_size, mk.price_decimals, "order price"));
        ok.map_err(|x| refused(at, &f, x))?;
        e.pretrade.insert(Order { id, account: a, market: m, qty, price, reduce_only });
        last = id;
    }
    e.pretrade.next_id = next_id;
    Ok(r.pos)
}
