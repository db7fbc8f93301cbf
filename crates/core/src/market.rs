//! Market rules: contract type, units, maintenance-margin tiers and the value they apply to.
//! Every formula here is written once in docs/SPEC.md (§ numbers in comments).

use crate::error::{Error, ErrorCode, Result};
use crate::num::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContractKind {
    /// PnL in the quote (margin) asset: qty × (mark − entry).
    Linear,
    /// Coin-margined: PnL = contracts × size × (1/entry − 1/mark), in the margin asset.
    Inverse,
}

/// What the maintenance rate applies to (SPEC §4): Binance values at mark, Bybit/BitMEX at entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarginBasis {
    Mark,
    Entry,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierForm {
    /// MM = value × mmr(tier) − maintAmount(tier) (Binance, Bybit, OKX, Hyperliquid).
    Deduction,
    /// MM = value × mmr(tier), one rate for the whole position (BitMEX risk limits).
    Step,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Lowest position value of the tier, in tier units (linear: lots·ticks; inverse: atoms).
    pub floor: i64,
    /// Maintenance margin rate, 10^-8 units.
    pub mmr: i64,
    /// Initial margin rate (1 / max leverage), 10^-8 units.
    pub imr: i64,
    /// Maintenance amount ("cum"), in tier units × 10^-8 (so floor × mmr is in the same unit).
    pub maint_amount: i128,
    /// The linear grid-0 maintenance formula ceil((V·mmr − cum) · 10^e) with the common factor of
    /// mmr, cum and 10^-e cancelled (SPEC §4.3): MM = ceil((V·rate − amount) / divisor). Equal by
    /// algebra, and for typical rates the divisor is 1, so the sweep divides nothing.
    reduced: Option<ReducedTier>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ReducedTier {
    rate: i128,
    amount: i128,
    divisor: i128,
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs()
}

/// A market as supplied by the host, before validation.
#[derive(Clone, Debug)]
pub struct MarketSpec {
    pub symbol: String,
    pub kind: ContractKind,
    pub price_decimals: u32,
    pub qty_decimals: u32,
    /// Inverse only: quote units per contract (1 for BitMEX XBTUSD, 100 for BTCUSD on others).
    pub contract_size: i64,
    pub basis: MarginBasis,
    pub form: TierForm,
    pub floors: Vec<i64>,
    pub mmr: Vec<i64>,
    pub imr: Vec<i64>,
    /// Given maintenance amounts, or None to derive them from the floors (SPEC §4.2).
    pub maint_amount: Option<Vec<i128>>,
    pub mark: i64,
}

impl MarketSpec {
    /// A linear market with one tier (mark basis, deduction form): price 2 decimals, qty 3, MM
    /// rate `mmr` and IM twice that (at most 100 %), at `mark` ticks. The market the tests, the
    /// examples and the fuzz seed start from; they change what differs with struct update syntax
    /// (`MarketSpec { mark: 5, ..MarketSpec::one_tier("X", 500_000, 1) }`).
    pub fn one_tier(symbol: &str, mmr: i64, mark: i64) -> MarketSpec {
        MarketSpec {
            symbol: symbol.into(),
            kind: ContractKind::Linear,
            price_decimals: 2,
            qty_decimals: 3,
            contract_size: 1,
            basis: MarginBasis::Mark,
            form: TierForm::Deduction,
            floors: vec![0],
            mmr: vec![mmr],
            imr: vec![(mmr * 2).min(RATE_SCALE)],
            maint_amount: None,
            mark,
        }
    }
}

/// Market settings added after `MarketSpec` (kept apart so every existing spec literal stays
/// valid): the price grid and the settlement asset. `Default` is tick 1, the default asset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarketTerms {
    /// Price grid in ticks (SPEC §2.5): marks lie on multiples of it; 0 means 1.
    pub tick_size: i64,
    /// The asset the market settles in (SPEC §5.4); None: `DEFAULT_LINEAR_ASSET` for linear
    /// markets, the market's own symbol for inverse ones (a coin of its own).
    pub settle_asset: Option<String>,
}

/// The settlement asset of a linear market that names none: the engine's quote asset.
pub const DEFAULT_LINEAR_ASSET: &str = "quote";

#[derive(Clone, Debug)]
pub struct Market {
    pub symbol: String,
    pub kind: ContractKind,
    pub price_decimals: u32,
    pub qty_decimals: u32,
    pub contract_size: i64,
    pub basis: MarginBasis,
    pub form: TierForm,
    pub tiers: Vec<Tier>,
    pub mark: i64,
    /// Price grid in ticks, ≥ 1 (SPEC §2.5).
    pub tick_size: i64,
    /// Settlement asset (SPEC §5.4), resolved (never empty).
    pub settle_asset: String,
    /// Exponent e with linear value units × 10^e = atoms: Q − P − D.
    lin_atoms_exp: i32,
    /// Exponent t with inverse value in atoms = qty·size·10^t / price: P − D + Q.
    inv_value_exp: i32,
    /// Maintenance margin is continuous in the price (entry basis, one tier, or deduction tiers
    /// with the derived amounts): the liquidation watch keeps one band end (watch.rs).
    pub(crate) continuous_mm: bool,
}

/// The rule for market symbols, settlement assets and account ids, as messages state it.
pub const NAME_RULE: &str = "1–64 bytes of UTF-8 without spaces or control characters";

/// 1–64 bytes of UTF-8 (a `str` is UTF-8), no space and no control character (U+0000–U+0020,
/// U+007F–U+009F). Names compare bytewise (`str::cmp`) everywhere: sorts, ties, the state bytes.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c > ' ' && !c.is_control())
}

/// A price in ticks of a market of `price_decimals`: messages give the limit and the value as
/// prices, as the user wrote them, and in ticks.
pub fn check_price(p: i64, price_decimals: u32, what: &str) -> Result<()> {
    if p <= 0 || p > PRICE_MAX_TICKS {
        let px = |x: i64| written(i128::from(x), price_decimals);
        return Err(Error::new(
            ErrorCode::InvalidPrice,
            format!(
                "{what} must be within 1..={PRICE_MAX_TICKS} ticks (at most {}), got {} ({p} ticks)",
                px(PRICE_MAX_TICKS),
                px(p)
            ),
        ));
    }
    Ok(())
}

pub fn check_qty(q: i64, what: &str) -> Result<()> {
    if q.unsigned_abs() > QTY_MAX_LOTS as u64 {
        return Err(Error::new(
            ErrorCode::InvalidQuantity,
            format!("{what} must be within ±{QTY_MAX_LOTS} lots, got {q}"),
        ));
    }
    Ok(())
}

/// A mark must lie on the market's price grid (SPEC §2.5); the message gives the tick size as a
/// decimal (P price decimals) and in price units.
pub fn check_on_grid(p: i64, tick_size: i64, price_decimals: u32, what: &str) -> Result<()> {
    if p % tick_size != 0 {
        return Err(Error::new(
            ErrorCode::InvalidPrice,
            format!(
                "{what} must be a multiple of the tick size {} ({tick_size} price units), got {} ({p} price units)",
                decimal(tick_size, price_decimals),
                decimal(p, price_decimals)
            ),
        ));
    }
    Ok(())
}

/// v · 10^-p as a decimal string without trailing zeros (v > 0): 5, 1 → "0.5"; 25, 0 → "25".
pub(crate) fn decimal(v: i64, p: u32) -> String {
    let d = pow10(p) as i64;
    let frac = format!("{:0width$}", v % d, width = p as usize);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}", v / d)
    } else {
        format!("{}.{frac}", v / d)
    }
}

/// v · 10^-p as the user writes it (any sign, any p, trailing zeros dropped): tier messages show
/// rates, floors and amounts in the units of the input, not as integers of 10^-p; so do the
/// waterfall's and the planner's rate messages.
pub(crate) fn written(v: i128, p: u32) -> String {
    let digits = format!("{:0>width$}", v.unsigned_abs(), width = p as usize + 1);
    let (int, frac) = digits.split_at(digits.len() - p as usize);
    let frac = frac.trim_end_matches('0');
    let sign = if v < 0 { "-" } else { "" };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

impl Market {
    /// A mark for this market: within range and on the price grid (SPEC §2.5).
    pub fn check_mark(&self, p: i64) -> Result<()> {
        check_price(p, self.price_decimals, "mark")?;
        check_on_grid(p, self.tick_size, self.price_decimals, "mark")
    }

    /// The terms this market was made with, resolved (for snapshots).
    pub fn terms(&self) -> MarketTerms {
        MarketTerms { tick_size: self.tick_size, settle_asset: Some(self.settle_asset.clone()) }
    }

    pub fn new(spec: MarketSpec, quote_decimals: u32) -> Result<Market> {
        Market::with_terms(spec, MarketTerms::default(), quote_decimals)
    }

    /// SPEC §2: the symbol, the decimals, the contract size, and the unit limits that keep every
    /// intermediate inside i128 over the whole search domain (§2.3).
    fn check_units(spec: &MarketSpec, quote_decimals: u32) -> Result<()> {
        let sym = &spec.symbol;
        let bad = |code, msg: String| Err(Error::new(code, format!("market {sym}: {msg}")));
        if !valid_name(sym) {
            return Err(Error::new(
                ErrorCode::InvalidId,
                format!("market symbol must be {NAME_RULE}, got {sym:?}"),
            ));
        }
        if spec.price_decimals > MAX_PRICE_DECIMALS || spec.qty_decimals > MAX_QTY_DECIMALS {
            return bad(ErrorCode::InvalidDecimals, format!(
                "priceDecimals must be 0..={MAX_PRICE_DECIMALS} and qtyDecimals 0..={MAX_QTY_DECIMALS}, got {} and {}",
                spec.price_decimals, spec.qty_decimals));
        }
        match spec.kind {
            ContractKind::Inverse
                if spec.contract_size < 1 || spec.contract_size > CONTRACT_SIZE_MAX =>
            {
                return bad(
                    ErrorCode::InvalidArgument,
                    format!(
                        "contractSize must be 1..={CONTRACT_SIZE_MAX}, got {}",
                        spec.contract_size
                    ),
                );
            }
            ContractKind::Linear if spec.contract_size != 1 => {
                return bad(
                    ErrorCode::InvalidArgument,
                    format!(
                        "contractSize applies to inverse markets only, got {}",
                        spec.contract_size
                    ),
                );
            }
            _ => {}
        }
        let (q, p, d) =
            (quote_decimals as i32, spec.price_decimals as i32, spec.qty_decimals as i32);
        // Unit limits that keep every intermediate inside i128 over the whole search domain
        // (SPEC §2.3): linear value units at most 10^10 finer than atoms; inverse t ≤ 12.
        match spec.kind {
            ContractKind::Linear if p + d > q + 10 => {
                return bad(ErrorCode::InvalidDecimals, format!("priceDecimals + qtyDecimals ({}) may exceed quoteDecimals ({q}) by at most 10", p + d));
            }
            ContractKind::Inverse if p - d + q > 12 || d - p - q > 12 => {
                return bad(ErrorCode::InvalidDecimals, format!("|priceDecimals − qtyDecimals + quoteDecimals| ({}) must be at most 12 for an inverse market", p - d + q));
            }
            _ => {}
        }
        Ok(())
    }

    /// The price grid and the settlement asset of `terms`, defaults resolved (SPEC §2.5, §5.4).
    fn resolve_terms(spec: &MarketSpec, terms: MarketTerms) -> Result<(i64, String)> {
        let sym = &spec.symbol;
        let bad = |code, msg: String| Err(Error::new(code, format!("market {sym}: {msg}")));
        let tick_size = if terms.tick_size == 0 { 1 } else { terms.tick_size };
        if !(1..=PRICE_MAX_TICKS).contains(&tick_size) {
            return bad(
                ErrorCode::InvalidArgument,
                format!(
                    "tickSize must be within 1..={PRICE_MAX_TICKS} price units, got {}",
                    terms.tick_size
                ),
            );
        }
        let settle_asset = match terms.settle_asset {
            Some(a) => {
                if !valid_name(&a) {
                    return bad(
                        ErrorCode::InvalidId,
                        format!("settleAsset must be {NAME_RULE}, got {a:?}"),
                    );
                }
                a
            }
            None if spec.kind == ContractKind::Linear => DEFAULT_LINEAR_ASSET.to_string(),
            None => spec.symbol.clone(),
        };
        Ok((tick_size, settle_asset))
    }

    /// Market::new with its terms: the spec validated (units, terms, mark, tiers), the tiers
    /// reduced for the sweep's integer kernel where the units allow.
    pub fn with_terms(spec: MarketSpec, terms: MarketTerms, quote_decimals: u32) -> Result<Market> {
        Market::check_units(&spec, quote_decimals)?;
        let sym = &spec.symbol;
        let (q, p, d) =
            (quote_decimals as i32, spec.price_decimals as i32, spec.qty_decimals as i32);
        let (tick_size, settle_asset) = Market::resolve_terms(&spec, terms)?;
        check_price(spec.mark, spec.price_decimals, "mark")
            .map_err(|e| e.context(format!("market {sym}")))?;
        check_on_grid(spec.mark, tick_size, spec.price_decimals, "mark")
            .map_err(|e| e.context(format!("market {sym}")))?;
        let mut tiers =
            build_tiers(&spec, quote_decimals).map_err(|e| e.context(format!("market {sym}")))?;
        let e = q - p - d - RATE_DECIMALS as i32;
        if spec.kind == ContractKind::Linear && e < 0 {
            for t in &mut tiers {
                let div = pow10((-e) as u32);
                let g = gcd(gcd(t.mmr as i128, div), t.maint_amount);
                t.reduced = Some(ReducedTier {
                    rate: t.mmr as i128 / g,
                    amount: t.maint_amount / g,
                    divisor: div / g,
                });
            }
        }
        let continuous_mm = spec.basis == MarginBasis::Entry
            || tiers.len() == 1
            || (spec.form == TierForm::Deduction
                && tiers.windows(2).all(|w| {
                    (w[1].floor as i128)
                        .checked_mul((w[1].mmr - w[0].mmr) as i128)
                        .and_then(|x| x.checked_add(w[0].maint_amount))
                        == Some(w[1].maint_amount)
                }));
        Ok(Market {
            symbol: spec.symbol.clone(),
            kind: spec.kind,
            price_decimals: spec.price_decimals,
            qty_decimals: spec.qty_decimals,
            contract_size: spec.contract_size,
            basis: spec.basis,
            form: spec.form,
            tiers,
            mark: spec.mark,
            tick_size,
            settle_asset,
            lin_atoms_exp: q - p - d,
            inv_value_exp: p - d + q,
            continuous_mm,
        })
    }

    /// Cost basis of a new position opened at `entry` ticks (SPEC §3): linear qty·entry exactly
    /// (lots·ticks); inverse floor(qty·size·10^t / entry) atoms, rounded down so uPnL never flatters.
    pub fn cost_basis(&self, qty: i64, entry: i64) -> Result<i64> {
        let cb = match self.kind {
            ContractKind::Linear => mul(qty as i128, entry as i128, "cost basis (qty × entry)")?,
            ContractKind::Inverse => ratio(
                mul(qty as i128, self.contract_size as i128, "cost basis (qty × contract size)")?,
                self.inv_value_exp,
                entry as i128,
                Round::Floor,
                "cost basis (inverse)",
            )?,
        };
        to_i64(cb, "cost basis (does not fit i64)")
    }

    /// Unrealised PnL in atoms at price `x` given on the grid of 10^-(P+k) (k = 0: ticks).
    /// Rounded down (SPEC §3.2).
    #[inline(always)]
    pub fn upnl_at(&self, qty: i64, cost: i64, x: i64, k: u32) -> Result<i128> {
        match self.kind {
            ContractKind::Linear => {
                let v = mul(qty as i128, x as i128, "uPnL (qty × price)")?;
                let c = mul(cost as i128, pow10(k), "uPnL (cost basis scaled)")?;
                scale(
                    sub(v, c, "uPnL (value − cost)")?,
                    self.lin_atoms_exp - k as i32,
                    Round::Floor,
                    "uPnL (to atoms)",
                )
            }
            ContractKind::Inverse => {
                let value = self.inverse_value(qty as i128, x, k)?;
                sub(cost as i128, value, "uPnL (inverse)")
            }
        }
    }

    /// Signed value of an inverse position at grid price x, in atoms, rounded up.
    #[inline(always)]
    fn inverse_value(&self, qty: i128, x: i64, k: u32) -> Result<i128> {
        let n = mul(qty, self.contract_size as i128, "inverse value (qty × contract size)")?;
        ratio(n, self.inv_value_exp + k as i32, x as i128, Round::Ceil, "inverse value")
    }

    /// Position value the tier and rate apply to, in tier units (× 10^k for linear at grid k).
    #[inline(always)]
    pub fn margin_value_at(&self, qty: i64, cost: i64, x: i64, k: u32) -> Result<i128> {
        let aq = (qty as i128).abs();
        match (self.basis, self.kind) {
            (MarginBasis::Entry, ContractKind::Linear) => {
                mul((cost as i128).abs(), pow10(k), "position value (entry)")
            }
            (MarginBasis::Entry, ContractKind::Inverse) => Ok((cost as i128).abs()),
            (MarginBasis::Mark, ContractKind::Linear) => {
                mul(aq, x as i128, "position value (qty × mark)")
            }
            (MarginBasis::Mark, ContractKind::Inverse) => self.inverse_value(aq, x, k),
        }
    }

    /// The tier whose floor is the highest not above `value` (value in tier units × 10^k).
    #[inline(always)]
    pub fn tier_index(&self, value: i128, k: u32) -> usize {
        let f = if self.kind == ContractKind::Linear { pow10(k) } else { 1 };
        let mut n = 0;
        for (i, t) in self.tiers.iter().enumerate().skip(1) {
            // floors are ≤ i64 and f ≤ 10, so this cannot overflow.
            if (t.floor as i128) * f <= value {
                n = i;
            } else {
                break;
            }
        }
        n
    }

    /// Maintenance margin in atoms, rounded up (SPEC §4).
    #[inline(always)]
    pub fn maintenance_margin_at(&self, qty: i64, cost: i64, x: i64, k: u32) -> Result<i128> {
        let v = self.margin_value_at(qty, cost, x, k)?;
        let t = &self.tiers[self.tier_index(v, k)];
        if let (0, Some(r)) = (k, t.reduced) {
            // Linear, so v ≤ 10^30 and v·mmr cannot overflow: the general path would not fail here.
            let fine = v * r.rate - r.amount;
            return Ok(if r.divisor == 1 { fine } else { div_ceil(fine, r.divisor) });
        }
        let (cum, exp) = match self.kind {
            ContractKind::Linear => (
                mul(t.maint_amount, pow10(k), "maintenance amount scaled")?,
                self.lin_atoms_exp - k as i32 - RATE_DECIMALS as i32,
            ),
            ContractKind::Inverse => (t.maint_amount, -(RATE_DECIMALS as i32)),
        };
        let fine = sub(
            mul(v, t.mmr as i128, "maintenance margin (value × rate)")?,
            cum,
            "maintenance margin (− amount)",
        )?;
        scale(fine, exp, Round::Ceil, "maintenance margin (to atoms)")
    }

    /// A rate (10^-8 units) of the position's value at price x (ticks), in atoms rounded up: the
    /// liquidation fee (SPEC §8.2). Linear: ceil(|q|·x·rate·10^(s−8)); inverse: ceil(value·rate/10^8).
    pub fn rate_of_value(&self, qty: i64, x: i64, rate: i64) -> Result<i128> {
        self.rate_of_value_rounded(qty, x, rate, Round::Ceil)
    }

    /// `rate_of_value` with the rounding given (funding receivers round down, SPEC §10).
    pub fn rate_of_value_rounded(&self, qty: i64, x: i64, rate: i64, round: Round) -> Result<i128> {
        let aq = (qty as i128).abs();
        match self.kind {
            ContractKind::Linear => {
                let v = mul(aq, x as i128, "fee (qty × price)")?;
                scale(
                    mul(v, rate as i128, "fee (value × rate)")?,
                    self.lin_atoms_exp - RATE_DECIMALS as i32,
                    round,
                    "fee (to atoms)",
                )
            }
            ContractKind::Inverse => {
                let v = self.inverse_value(aq, x, 0)?;
                scale(
                    mul(v, rate as i128, "fee (value × rate)")?,
                    -(RATE_DECIMALS as i32),
                    round,
                    "fee (to atoms)",
                )
            }
        }
    }

    /// Close `delta` (same sign as qty, |delta| ≤ |qty|) of a position at price x (ticks).
    /// Returns (cost basis of the closed part, realised PnL in atoms). Both round against the
    /// closing account (SPEC §8.1), and closing all of it takes exactly the whole cost basis.
    pub fn close_at(&self, qty: i64, cost: i64, delta: i64, x: i64) -> Result<(i64, i128)> {
        let part = |round| -> Result<i64> {
            if delta == qty {
                return Ok(cost);
            }
            let n = mul(cost as i128, delta as i128, "closed cost basis")?;
            let q = qty as i128;
            // n / q with q of either sign: divide by |q| after moving the sign into n.
            let (n, d) = if q < 0 { (-n, -q) } else { (n, q) };
            Ok(match round {
                Round::Floor => div_floor(n, d),
                Round::Ceil => div_ceil(n, d),
            } as i64)
        };
        match self.kind {
            ContractKind::Linear => {
                let c = part(Round::Ceil)?;
                let v = sub(
                    mul(delta as i128, x as i128, "realised PnL (qty × price)")?,
                    c as i128,
                    "realised PnL",
                )?;
                Ok((c, scale(v, self.lin_atoms_exp, Round::Floor, "realised PnL (to atoms)")?))
            }
            ContractKind::Inverse => {
                let c = part(Round::Floor)?;
                Ok((
                    c,
                    sub(
                        c as i128,
                        self.inverse_value(delta as i128, x, 0)?,
                        "realised PnL (inverse)",
                    )?,
                ))
            }
        }
    }

    /// Position value at price x in atoms, rounded down (ADL scores only): linear |q|·x·10^s,
    /// inverse floor(|q|·size·10^t/x).
    pub fn value_atoms(&self, qty: i64, x: i64) -> Result<i128> {
        let aq = (qty as i128).abs();
        match self.kind {
            ContractKind::Linear => scale(
                mul(aq, x as i128, "value")?,
                self.lin_atoms_exp,
                Round::Floor,
                "value (to atoms)",
            ),
            ContractKind::Inverse => ratio(
                mul(aq, self.contract_size as i128, "value")?,
                self.inv_value_exp,
                x as i128,
                Round::Floor,
                "value",
            ),
        }
    }

    /// Value at entry in atoms, rounded down: linear |cost|·10^s, inverse |cost|.
    pub fn entry_value_atoms(&self, cost: i64) -> Result<i128> {
        match self.kind {
            ContractKind::Linear => scale(
                (cost as i128).abs(),
                self.lin_atoms_exp,
                Round::Floor,
                "entry value (to atoms)",
            ),
            ContractKind::Inverse => Ok((cost as i128).abs()),
        }
    }

    /// s = Q − P − D: linear value units (lots·ticks) × 10^s = atoms.
    pub fn quote_exp(&self) -> i32 {
        self.lin_atoms_exp
    }
    /// t = P − D + Q: inverse value in atoms = qty·size·10^t / price.
    pub fn inverse_exp(&self) -> i32 {
        self.inv_value_exp
    }

    #[inline]
    pub fn upnl(&self, qty: i64, cost: i64) -> Result<i128> {
        self.upnl_at(qty, cost, self.mark, 0)
    }
    #[inline]
    pub fn maintenance_margin(&self, qty: i64, cost: i64) -> Result<i128> {
        self.maintenance_margin_at(qty, cost, self.mark, 0)
    }
}

/// Validate the tiers and derive maintenance amounts (SPEC §4.2).
fn build_tiers(spec: &MarketSpec, quote_decimals: u32) -> Result<Vec<Tier>> {
    let text = TierText::of(spec, quote_decimals);
    check_tier_columns(spec, &text)?;
    let mut tiers: Vec<Tier> = Vec::with_capacity(spec.floors.len());
    for i in 0..spec.floors.len() {
        check_tier(spec, i, &text)?;
        let (floor, mmr, imr) = (spec.floors[i], spec.mmr[i], spec.imr[i]);
        let derived: i128 = if i == 0 {
            0
        } else {
            let prev = &tiers[i - 1];
            add(
                mul(floor as i128, (mmr - prev.mmr) as i128, "maintenance amount (derived)")?,
                prev.maint_amount,
                "maintenance amount (derived)",
            )?
        };
        let maint = maint_amount_of(spec, i, derived, &text)?;
        tiers.push(Tier { floor, mmr, imr, maint_amount: maint, reduced: None });
    }
    Ok(tiers)
}

/// How a market's tier values are written in messages (see `written`): floors (notional or
/// value) in the market's value decimals, rates in 10^-8, amounts in both.
struct TierText {
    decimals: u32,
}

impl TierText {
    fn of(spec: &MarketSpec, quote_decimals: u32) -> TierText {
        let decimals = match spec.kind {
            ContractKind::Inverse => quote_decimals,
            ContractKind::Linear => spec.price_decimals + spec.qty_decimals,
        };
        TierText { decimals }
    }
    fn floor(&self, v: i64) -> String {
        written(v as i128, self.decimals)
    }
    fn rate(&self, v: i64) -> String {
        written(v as i128, RATE_DECIMALS)
    }
    fn amount(&self, v: i128) -> String {
        written(v, self.decimals + RATE_DECIMALS)
    }
}

fn tiers_error<T>(m: String) -> Result<T> {
    Err(Error::new(ErrorCode::InvalidTiers, m))
}

/// SPEC §4.2: at least one tier, every column as long as the floors, the first floor 0.
fn check_tier_columns(spec: &MarketSpec, text: &TierText) -> Result<()> {
    let n = spec.floors.len();
    if n == 0 {
        return tiers_error("at least one tier is required".into());
    }
    if spec.mmr.len() != n
        || spec.imr.len() != n
        || spec.maint_amount.as_ref().is_some_and(|m| m.len() != n)
    {
        return Err(Error::new(
            ErrorCode::LengthMismatch,
            format!(
                "tier columns differ in length (floors {n}, mmr {}, imr {}, maintAmount {})",
                spec.mmr.len(),
                spec.imr.len(),
                spec.maint_amount.as_ref().map_or(n, |m| m.len())
            ),
        ));
    }
    if spec.floors[0] != 0 {
        return tiers_error(format!(
            "tier 0 must start at 0, got floor {}",
            text.floor(spec.floors[0])
        ));
    }
    Ok(())
}

/// SPEC §4.2 for tier i: floors increase strictly, 0 < MM rate < 1 and never decreasing,
/// MM rate ≤ IM rate ≤ 1.
fn check_tier(spec: &MarketSpec, i: usize, text: &TierText) -> Result<()> {
    let (floor, mmr, imr) = (spec.floors[i], spec.mmr[i], spec.imr[i]);
    if i > 0 && floor <= spec.floors[i - 1] {
        return tiers_error(format!(
            "tier {i}: floors must increase strictly, got {} after {}",
            text.floor(floor),
            text.floor(spec.floors[i - 1])
        ));
    }
    if mmr <= 0 || mmr >= RATE_SCALE {
        return tiers_error(format!(
            "tier {i}: maintenance rate must be above 0 and below 1, got {}",
            text.rate(mmr)
        ));
    }
    if i > 0 && mmr < spec.mmr[i - 1] {
        return tiers_error(format!(
            "tier {i}: maintenance rates must not decrease, got {} after {}",
            text.rate(mmr),
            text.rate(spec.mmr[i - 1])
        ));
    }
    if imr < mmr || imr > RATE_SCALE {
        return tiers_error(format!(
            "tier {i}: initial rate must be within maintenance rate ({}) and 1, got {}",
            text.rate(mmr),
            text.rate(imr)
        ));
    }
    Ok(())
}

/// Tier i's maintenance amount (SPEC §4.2): `derived` from the floors, 0 in step form, or the
/// given one, checked against the derived.
fn maint_amount_of(spec: &MarketSpec, i: usize, derived: i128, text: &TierText) -> Result<i128> {
    match (&spec.maint_amount, spec.form) {
        (None, TierForm::Deduction) => Ok(derived),
        (None, TierForm::Step) => Ok(0),
        (Some(given), TierForm::Step) => {
            if given[i] != 0 {
                return tiers_error(format!(
                    "tier {i}: step-form tiers take no maintenance amount, got {}",
                    text.amount(given[i])
                ));
            }
            Ok(0)
        }
        (Some(given), TierForm::Deduction) => {
            let g = given[i];
            if g < 0 {
                return tiers_error(format!(
                    "tier {i}: maintenance amount must not be negative, got {}",
                    text.amount(g)
                ));
            }
            if i == 0 && g != 0 {
                return tiers_error(format!(
                    "tier 0: maintenance amount must be 0, got {}",
                    text.amount(g)
                ));
            }
            // Given amounts may only make MM jump up at a floor, never down (else the
            // predicate is not monotone in the value): g ≤ derived-from-previous.
            if g > derived {
                return tiers_error(format!("tier {i}: maintenance amount {} exceeds {} derived from the floor, so maintenance margin would fall at the tier boundary", text.amount(g), text.amount(derived)));
            }
            Ok(g)
        }
    }
}
