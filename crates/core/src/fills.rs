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
use crate::market::{check_price, check_qty};
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
            check_price(p, "fill price").map_err(ctx)?;
            let (mut q, mut c, mut iso, mut im) = match pos.get(&(a, m)) {
                Some(&s) => s,
                None => {
                    order.push((a, m));
                    match self.slot_of(a, m) {
                        Some(s) => {
                            let col = &self.positions[m as usize];
                            let s = s as usize;
                            (col.qty[s], col.cost[s], col.isolated[s], col.isolated_margin[s])
                        }
                        None => (0, 0, false, 0),
                    }
                }
            };
            let mut b = *bal.get(&a).unwrap_or(&self.accounts[a as usize].balance);
            let mut rest = dq;
            if q != 0 && dq.signum() != q.signum() {
                // Close min(|dq|, |q|) of the position (the close has the position's sign).
                let close = if dq.unsigned_abs() >= q.unsigned_abs() { q } else { -dq };
                let (closed, realised) = mk.close_at(q, c, close, p).map_err(ctx)?;
                settlement = sub(settlement, realised, "settlement").map_err(ctx)?;
                if iso {
                    let im2 = add(im as i128, realised, "isolated margin").map_err(ctx)?;
                    if close == q {
                        b = to_i64(add(b as i128, im2, "balance").map_err(ctx)?, "balance")
                            .map_err(ctx)?;
                        im = 0;
                        iso = false;
                    } else {
                        im = to_i64(im2, "isolated margin").map_err(ctx)?;
                    }
                } else {
                    b = to_i64(add(b as i128, realised, "balance").map_err(ctx)?, "balance")
                        .map_err(ctx)?;
                }
                q -= close;
                c -= closed;
                rest = dq + close;
            }
            if rest != 0 && q == 0 && mixed {
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
                // Open or increase at the fill price; a new position is a cross position.
                let nq = q + rest; // |q|, |rest| ≤ 10^15: no overflow
                check_qty(nq, "position qty after the fill").map_err(ctx)?;
                let (lo, hi) = domain(mk, nq, 0).map_err(ctx)?;
                if p < lo || p > hi {
                    return Err(ctx(Error::new(
                        ErrorCode::Overflow,
                        format!("position of {nq} lots at {p} ticks is worth more than i64 atoms"),
                    )));
                }
                let dc = mk.cost_basis(rest, p).map_err(ctx)?;
                if q == 0 && dc == 0 {
                    return Err(ctx(Error::new(
                        ErrorCode::InvalidQuantity,
                        format!("position of {rest} lots at {p} ticks is worth less than one atom"),
                    )));
                }
                c = to_i64(
                    add(c as i128, dc as i128, "cost basis").map_err(ctx)?,
                    "cost basis (does not fit i64)",
                )
                .map_err(ctx)?;
                q = nq;
            }
            pos.insert((a, m), (q, c, iso, im));
            bal.insert(a, b);
        }
        // Commit in order of first appearance, so slots (and everything that walks them) do not
        // depend on hashing.
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
        Ok(())
    }
}
