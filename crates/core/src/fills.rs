//! Batched fills (SPEC §15): trades from the host's matching engine applied to positions in one
//! call, through typed arrays. A fill against the position's side closes first (SPEC §8.1: cost
//! basis share and realised PnL rounded against the account, the PnL's counter-entry in
//! settlement, an isolated position closed in full returning its margin to the balance); what is
//! left opens or increases the position at the fill price (SPEC §3.1). The batch is applied in
//! order and validated whole first: a rejected batch changes nothing.

use std::collections::HashMap;

use crate::engine::{check_lengths, Engine};
use crate::error::{Error, ErrorCode, Result};
use crate::liq::domain;
use crate::market::{check_price, check_qty, Market};
use crate::num::*;

/// A position as the batch leaves it: (qty, cost basis, isolated, isolated margin).
type Staged = (i64, i64, bool, i64);

impl Engine {
    /// Apply fills: account `account[i]` traded `qty[i]` lots (signed: > 0 bought) of market
    /// `market[i]` at `price[i]` ticks.
    pub fn apply_fills(
        &mut self,
        account: &[u32],
        market: &[u32],
        qty: &[i64],
        price: &[i64],
    ) -> Result<()> {
        let n = account.len();
        check_lengths("applyFills", &[n, market.len(), qty.len(), price.len()])?;
        let mut pos: HashMap<(u32, u32), Staged> = HashMap::new();
        let mut order: Vec<(u32, u32)> = Vec::new();
        let mut bal: HashMap<u32, i64> = HashMap::new();
        let mut settlement = self.waterfall.settlement;
        // Markets each account opened in this batch, kept only where assets can mix (SPEC §5.4).
        let mixed = !crate::settlement::one_asset(self);
        let mut opened: HashMap<u32, Vec<u32>> = HashMap::new();
        for i in 0..n {
            let (a, m, dq, p) = (account[i], market[i], qty[i], price[i]);
            let ctx = |e: Error| e.context(format!("row {i}"));
            self.account(a).map_err(ctx)?;
            let mk = self.market(m).map_err(ctx)?;
            let ctx = |e: Error| {
                e.context(format!(
                    "row {i} (account {}, market {})",
                    self.accounts[a as usize].id, mk.symbol
                ))
            };
            if dq == 0 {
                return Err(ctx(Error::new(
                    ErrorCode::InvalidQuantity,
                    "a fill must trade a non-zero quantity",
                )));
            }
            check_qty(dq, "qty").map_err(ctx)?;
            check_price(p, mk.price_decimals, "fill price").map_err(ctx)?;
            let mut st = match pos.get(&(a, m)) {
                Some(&s) => s,
                None => {
                    order.push((a, m));
                    self.staged_position(a, m)
                }
            };
            let mut b = *bal.get(&a).unwrap_or(&self.accounts[a as usize].balance);
            let rest = close_part(mk, &mut st, &mut b, &mut settlement, dq, p).map_err(ctx)?;
            if rest != 0 && st.0 == 0 && mixed {
                // A position opens: the account's other positions, as the batch leaves them so
                // far, must settle in this market's asset.
                let held = |o: &u32| *o != m && pos.get(&(a, *o)).is_none_or(|s| s.0 != 0);
                let existing = self.accounts[a as usize].positions.iter().map(|p| p.0).filter(held);
                let new = opened.get(&a).into_iter().flatten().copied().filter(held);
                if let Some(other) = crate::settlement::first_other(self, m, existing.chain(new)) {
                    return Err(ctx(crate::settlement::mismatch(self, a, m, other)));
                }
                opened.entry(a).or_default().push(m);
            }
            if rest != 0 {
                open_part(mk, &mut st, rest, p).map_err(ctx)?;
            }
            pos.insert((a, m), st);
            bal.insert(a, b);
        }
        self.commit_fills(order, &pos, bal, settlement);
        Ok(())
    }

    /// The position of account a in market m as a batch starts from it (flat when none).
    fn staged_position(&self, a: u32, m: u32) -> Staged {
        match self.slot_of(a, m) {
            Some(s) => {
                let col = &self.positions[m as usize];
                let s = s as usize;
                (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s])
            }
            None => (0, 0, false, 0),
        }
    }

    /// Write a validated batch: positions in order of first appearance, so slots (and everything
    /// that walks them) do not depend on hashing; then the balances and the settlement account.
    fn commit_fills(
        &mut self,
        order: Vec<(u32, u32)>,
        pos: &HashMap<(u32, u32), Staged>,
        bal: HashMap<u32, i64>,
        settlement: i128,
    ) {
        for (a, m) in order {
            let (q, c, iso, im) = pos[&(a, m)];
            self.watch.touch(a);
            if q == 0 {
                self.remove_position(a, m);
                continue;
            }
            self.write_position(a, m, q, c, iso, im);
        }
        for (a, b) in bal {
            self.accounts[a as usize].balance = b;
            self.watch.touch(a);
            self.blocks.touch(a);
        }
        self.waterfall.settlement = settlement;
    }
}

/// The closing part of a fill of `dq` lots at `p` against position `st` (SPEC §8.1): min(|dq|,
/// |q|) closes at `p`, its realised PnL goes to the balance (through the isolated margin, which
/// a full close returns to the balance) and its counter-entry to `settlement`. Returns the lots
/// left to open (all of `dq` when it adds to the position or the position is flat).
fn close_part(
    mk: &Market,
    st: &mut Staged,
    b: &mut i64,
    settlement: &mut i128,
    dq: i64,
    p: i64,
) -> Result<i64> {
    let (q, c, iso, im) = *st;
    if q == 0 || dq.signum() == q.signum() {
        return Ok(dq);
    }
    // Close min(|dq|, |q|) of the position (the close has the position's sign).
    let close = if dq.unsigned_abs() >= q.unsigned_abs() { q } else { -dq };
    let (closed, realised) = mk.close_at(q, c, close, p)?;
    *settlement = sub(*settlement, realised, "settlement")?;
    let (mut iso, mut im) = (iso, im);
    if iso {
        let im2 = add(im as i128, realised, "isolated margin")?;
        if close == q {
            *b = to_i64(add(*b as i128, im2, "balance")?, "balance")?;
            im = 0;
            iso = false;
        } else {
            im = to_i64(im2, "isolated margin")?;
        }
    } else {
        *b = to_i64(add(*b as i128, realised, "balance")?, "balance")?;
    }
    *st = (q - close, c - closed, iso, im);
    Ok(dq + close)
}

/// The opening part of a fill: `rest` lots added to position `st` at the fill price `p`
/// (SPEC §3.1); a new position is a cross position.
fn open_part(mk: &Market, st: &mut Staged, rest: i64, p: i64) -> Result<()> {
    let (q, c, iso, im) = *st;
    let nq = q + rest; // |q|, |rest| ≤ 10^15: no overflow
    check_qty(nq, "position qty after the fill")?;
    let (lo, hi) = domain(mk, nq, 0)?;
    if p < lo || p > hi {
        return Err(Error::new(
            ErrorCode::Overflow,
            format!("position of {nq} lots at {p} ticks is worth more than i64 atoms"),
        ));
    }
    let dc = mk.cost_basis(rest, p)?;
    if q == 0 && dc == 0 {
        return Err(Error::new(
            ErrorCode::InvalidQuantity,
            format!("position of {rest} lots at {p} ticks is worth less than one atom"),
        ));
    }
    let c = to_i64(add(c as i128, dc as i128, "cost basis")?, "cost basis (does not fit i64)")?;
    *st = (nq, c, iso, im);
    Ok(())
}
