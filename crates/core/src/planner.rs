//! Manual deleveraging (SPEC §11): for a cross account and a target — margin ratio, leverage, or
//! distance of one position's liquidation price from mark — the smallest reductions at mark, fees
//! included, that reach it, with the resulting equity, margin and liquidation prices.

use crate::adl::cmp_products;
use crate::engine::Engine;
use crate::error::{Error, ErrorCode, Result};
use crate::liq::{liquidation_base, liquidation_price, SolvedPrice};
use crate::num::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleverageTarget {
    /// MM / equity ≤ ppm / 10^6.
    MarginRatio(i64),
    /// Σ notional at mark / equity ≤ ppm / 10^6.
    Leverage(i64),
    /// |mark − liquidation price| / mark ≥ ppm / 10^6 for the position in `market` (or no
    /// liquidation price in range, or the position closed).
    LiquidationDistance { market: u32, ppm: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeleveragePlan {
    /// (market, qty to close) in execution order; the sign is the position's.
    pub orders: Vec<(u32, i64)>,
    /// Whether the target is reached (false: closing everything does not reach it).
    pub reached: bool,
    pub fees: i64,
    pub equity: i64,
    pub maintenance_margin: i64,
    pub notional: i64,
    /// After the plan: (market, qty, conservative liquidation price or None).
    pub positions: Vec<(u32, i64, Option<SolvedPrice>)>,
}

/// One cross position as the plan changes it.
#[derive(Clone, Copy)]
struct Pos {
    m: u32,
    q: i64,
    cost: i64,
    upnl: i128,
    mm: i128,
    notional: i128,
}

impl Engine {
    pub fn plan_deleveraging(
        &self,
        a: u32,
        target: DeleverageTarget,
        fee_rate: i64,
    ) -> Result<DeleveragePlan> {
        self.check_plan(a, target, fee_rate)?;
        let mut pos = self.cross_positions(a)?;
        let balance = self.accounts[a as usize].balance as i128;
        let mut fees = 0i128;
        // Reduction order: largest maintenance margin first, then market index (as liquidation).
        let mut order: Vec<usize> = (0..pos.len()).collect();
        order.sort_by(|&x, &y| pos[y].mm.cmp(&pos[x].mm).then(pos[x].m.cmp(&pos[y].m)));
        let mut orders = Vec::new();
        let met = |pos: &[Pos], fees: i128| -> Result<bool> {
            self.target_met(balance, pos, fees, target)
        };
        let mut reached = met(&pos, fees)?;
        for &i in &order {
            if reached {
                break;
            }
            let p = pos[i];
            let apply = |d: i64| self.close_at_mark(p, d, fee_rate);
            // Realised PnL moves into the balance; track it as part of `fees` (negated).
            let with = |d: i64| -> Result<bool> {
                let (np, realised, fee) = apply(d)?;
                let mut v = pos.clone();
                v[i] = np;
                met(&v, sub(add(fees, fee, "plan fees")?, realised, "plan fees")?)
            };
            let sign = p.q.signum();
            let d = if !with(p.q)? {
                p.q
            } else {
                let (mut lo, mut hi) = (0u64, p.q.unsigned_abs());
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if with(sign * mid as i64)? {
                        hi = mid;
                    } else {
                        lo = mid;
                    }
                }
                reached = true;
                sign * hi as i64
            };
            let (np, realised, fee) = apply(d)?;
            pos[i] = np;
            fees = sub(add(fees, fee, "plan fees")?, realised, "plan fees")?;
            orders.push((p.m, d));
        }
        self.plan_of(balance, &pos, fees, orders, reached, fee_rate)
    }

    /// SPEC §11's arguments: a live account, a fee rate within [0, 1), a positive target (a
    /// distance within [0, 1) of a known market).
    fn check_plan(&self, a: u32, target: DeleverageTarget, fee_rate: i64) -> Result<()> {
        self.account(a)?;
        if !(0..RATE_SCALE).contains(&fee_rate) {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "fee rate must be within 0 and 1, got {}",
                    crate::market::written(i128::from(fee_rate), RATE_DECIMALS)
                ),
            ));
        }
        match target {
            DeleverageTarget::MarginRatio(p) | DeleverageTarget::Leverage(p) if p <= 0 => {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!("target must be positive, got {p} ppm"),
                ));
            }
            DeleverageTarget::LiquidationDistance { market, ppm } => {
                self.market(market)?;
                if !(0..RATIO_SCALE).contains(&ppm) {
                    return Err(Error::new(
                        ErrorCode::InvalidArgument,
                        format!("distance must be within 0 and 1, got {ppm} ppm"),
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The account's cross positions at the current marks (the planner leaves isolated ones).
    fn cross_positions(&self, a: u32) -> Result<Vec<Pos>> {
        let acc = &self.accounts[a as usize];
        let mut pos: Vec<Pos> = Vec::new();
        for &(m, s) in &acc.positions {
            let (mk, col, s) = (&self.markets[m as usize], &self.positions[m as usize], s as usize);
            if col.isolated[s] {
                continue;
            }
            let (q, cost) = (col.qty[s], col.cost[s]);
            pos.push(Pos {
                m,
                q,
                cost,
                upnl: mk.upnl(q, cost)?,
                mm: mk.maintenance_margin(q, cost)?,
                notional: mk.value_atoms(q, mk.mark)?,
            });
        }
        Ok(pos)
    }

    /// Position p after closing `d` lots at mark: the position, its realised PnL and the fee.
    fn close_at_mark(&self, p: Pos, d: i64, fee_rate: i64) -> Result<(Pos, i128, i128)> {
        let mk = &self.markets[p.m as usize];
        let fee = mk.rate_of_value(d, mk.mark, fee_rate)?;
        let (closed, realised) = mk.close_at(p.q, p.cost, d, mk.mark)?;
        let (q2, c2) = (p.q - d, p.cost - closed);
        let np = if q2 == 0 {
            Pos { m: p.m, q: 0, cost: 0, upnl: 0, mm: 0, notional: 0 }
        } else {
            Pos {
                m: p.m,
                q: q2,
                cost: c2,
                upnl: mk.upnl(q2, c2)?,
                mm: mk.maintenance_margin(q2, c2)?,
                notional: mk.value_atoms(q2, mk.mark)?,
            }
        };
        Ok((np, realised, fee))
    }

    /// The plan from the positions as its `orders` leave them; `fees` is the fees less the
    /// realised PnL taken into the balance.
    fn plan_of(
        &self,
        balance: i128,
        pos: &[Pos],
        fees: i128,
        orders: Vec<(u32, i64)>,
        reached: bool,
        fee_rate: i64,
    ) -> Result<DeleveragePlan> {
        // `fees` folded realised PnL in; report the fees alone.
        let fee_total: i128 = orders
            .iter()
            .map(|&(m, d)| {
                self.markets[m as usize].rate_of_value(d, self.markets[m as usize].mark, fee_rate)
            })
            .sum::<Result<i128>>()?;
        let (equity, mm, notional) = totals(balance, pos, fees)?;
        let mut after = Vec::new();
        for p in pos.iter().filter(|p| p.q != 0) {
            after.push((p.m, p.q, self.liq_after(balance, pos, fees, p.m)?));
        }
        Ok(DeleveragePlan {
            orders,
            reached,
            fees: to_i64(fee_total, "fees")?,
            equity: to_i64(equity, "equity")?,
            maintenance_margin: to_i64(mm, "maintenance margin")?,
            notional: to_i64(notional, "notional")?,
            positions: after,
        })
    }

    fn target_met(
        &self,
        balance: i128,
        pos: &[Pos],
        fees: i128,
        target: DeleverageTarget,
    ) -> Result<bool> {
        let (e, mm, n) = totals(balance, pos, fees)?;
        Ok(match target {
            // exact 256-bit products: books near the limits must not wrap into "met"
            DeleverageTarget::MarginRatio(r) => {
                mm == 0 || (e > 0 && cmp_products(mm, RATIO_SCALE as i128, r as i128, e).is_le())
            }
            DeleverageTarget::Leverage(l) => {
                n == 0 || (e > 0 && cmp_products(n, RATIO_SCALE as i128, l as i128, e).is_le())
            }
            DeleverageTarget::LiquidationDistance { market, ppm } => {
                match self.liq_after(balance, pos, fees, market)? {
                    None => true,
                    Some(lp) => {
                        let mark = self.markets[market as usize].mark as i128;
                        (mark - lp.conservative as i128).abs() * RATIO_SCALE as i128
                            >= ppm as i128 * mark
                    }
                }
            }
        })
    }

    /// Liquidation price of the position in `market` with the plan's positions and cash.
    fn liq_after(
        &self,
        balance: i128,
        pos: &[Pos],
        fees: i128,
        market: u32,
    ) -> Result<Option<SolvedPrice>> {
        let Some(p) = pos.iter().find(|p| p.m == market && p.q != 0) else { return Ok(None) };
        let (e, mm, _) = totals(balance, pos, fees)?;
        // e − own uPnL is the bankruptcy base (collateral + the others' uPnL).
        let base = liquidation_base(
            sub(e, p.upnl, "liquidation base")?,
            sub(mm, p.mm, "liquidation base")?,
        )?;
        liquidation_price(&self.markets[market as usize], p.q, p.cost, base)
    }
}

/// (equity, MM, notional) of the cross positions with `spent` taken from the balance.
fn totals(balance: i128, pos: &[Pos], spent: i128) -> Result<(i128, i128, i128)> {
    let (mut e, mut mm, mut n) = (sub(balance, spent, "plan equity")?, 0i128, 0i128);
    for p in pos {
        e = add(e, p.upnl, "plan equity")?;
        mm = add(mm, p.mm, "plan maintenance margin")?;
        n = add(n, p.notional, "plan notional")?;
    }
    Ok((e, mm, n))
}
