//! Checked integer arithmetic with a named place for every overflow, and the two rounding
//! directions the spec uses. Every intermediate is i128; anything stored or returned is i64.

use crate::error::{Error, Result};

/// Maintenance/initial margin rates are integers of 10^-8 (0.5 % = 500_000).
pub const RATE_DECIMALS: u32 = 8;
pub const RATE_SCALE: i64 = 100_000_000;
/// Margin ratios are returned in parts per million, rounded up (towards "worse").
pub const RATIO_SCALE: i64 = 1_000_000;
/// Largest price, in ticks, the engine accepts and searches liquidation prices within.
pub const PRICE_MAX_TICKS: i64 = 1_000_000_000_000_000; // 10^15
/// Largest |quantity| in lots.
pub const QTY_MAX_LOTS: i64 = 1_000_000_000_000_000; // 10^15
pub const MAX_QUOTE_DECIMALS: u32 = 18;
pub const MAX_PRICE_DECIMALS: u32 = 12;
pub const MAX_QTY_DECIMALS: u32 = 12;
/// Largest contract size (quote units per contract) of an inverse market.
pub const CONTRACT_SIZE_MAX: i64 = 1_000_000_000; // 10^9

#[inline(always)]
pub fn mul(a: i128, b: i128, at: &'static str) -> Result<i128> {
    a.checked_mul(b).ok_or_else(|| Error::overflow(at))
}
#[inline(always)]
pub fn add(a: i128, b: i128, at: &'static str) -> Result<i128> {
    a.checked_add(b).ok_or_else(|| Error::overflow(at))
}
#[inline(always)]
pub fn sub(a: i128, b: i128, at: &'static str) -> Result<i128> {
    a.checked_sub(b).ok_or_else(|| Error::overflow(at))
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// 10^e for 0 <= e <= 38.
#[inline]
pub fn pow10(e: u32) -> i128 {
    POW10[e as usize]
}

/// Truncating quotient and remainder, on i64 when both operands fit: a 128-bit division is a
/// library call many times slower, and the sweep divides once per position.
#[inline(always)]
fn div_rem(a: i128, b: i128) -> (i128, i128) {
    if let (Ok(x), Ok(y)) = (i64::try_from(a), i64::try_from(b)) {
        if x != i64::MIN {
            return ((x / y) as i128, (x % y) as i128);
        }
    }
    (a / b, a % b)
}

/// floor(a / b), b > 0.
#[inline(always)]
pub fn div_floor(a: i128, b: i128) -> i128 {
    let (q, r) = div_rem(a, b);
    if r != 0 && a < 0 {
        q - 1
    } else {
        q
    }
}

/// ceil(a / b), b > 0.
#[inline(always)]
pub fn div_ceil(a: i128, b: i128) -> i128 {
    let (q, r) = div_rem(a, b);
    if r != 0 && a > 0 {
        q + 1
    } else {
        q
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Round {
    Floor,
    Ceil,
}

/// x · 10^exp rounded in the given direction (exp may be negative).
#[inline(always)]
pub fn scale(x: i128, exp: i32, round: Round, at: &'static str) -> Result<i128> {
    if exp >= 0 {
        mul(x, pow10(exp as u32), at)
    } else {
        let d = pow10((-exp) as u32);
        Ok(match round {
            Round::Floor => div_floor(x, d),
            Round::Ceil => div_ceil(x, d),
        })
    }
}

/// num · 10^exp / den rounded in the given direction, den > 0.
#[inline(always)]
pub fn ratio(num: i128, exp: i32, den: i128, round: Round, at: &'static str) -> Result<i128> {
    let (n, d) = if exp >= 0 {
        (mul(num, pow10(exp as u32), at)?, den)
    } else {
        (num, mul(den, pow10((-exp) as u32), at)?)
    };
    Ok(match round {
        Round::Floor => div_floor(n, d),
        Round::Ceil => div_ceil(n, d),
    })
}

#[inline]
pub fn to_i64(x: i128, at: &'static str) -> Result<i64> {
    i64::try_from(x).map_err(|_| Error::overflow(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceil_follow_the_sign() {
        assert_eq!(div_floor(7, 2), 3);
        assert_eq!(div_floor(-7, 2), -4);
        assert_eq!(div_ceil(7, 2), 4);
        assert_eq!(div_ceil(-7, 2), -3);
        assert_eq!(div_floor(-8, 2), -4);
        assert_eq!(div_ceil(-8, 2), -4);
    }

    #[test]
    fn scale_rounds_as_asked() {
        assert_eq!(scale(-15, -1, Round::Floor, "t").unwrap(), -2);
        assert_eq!(scale(-15, -1, Round::Ceil, "t").unwrap(), -1);
        assert_eq!(scale(15, 2, Round::Ceil, "t").unwrap(), 1500);
        assert_eq!(
            scale(i128::MAX / 10 + 1, 1, Round::Ceil, "here").unwrap_err().message,
            "arithmetic overflow in here"
        );
    }
}
