//! Shared by the integration tests: a seeded xorshift generator (no external crates) and the
//! one-tier market most tests start from.

use deleverage_core::{ContractKind, MarginBasis, MarketSpec, TierForm};

pub struct Rng(pub u64);

// Not every test that takes one_tier draws numbers.
#[allow(dead_code)]
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo + 1) as u64)) as i64
    }
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// A linear market with one tier (mark basis, deduction form): price 2 decimals, qty 3, MM rate
/// `mmr` and IM twice that (10^-8 units), at `mark` ticks. Tests change what they need with
/// struct update syntax (`MarketSpec { mark: 5, ..one_tier("X", 500_000, 1) }`).
#[allow(dead_code)]
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
        imr: vec![(mmr * 2).min(100_000_000)],
        maint_amount: None,
        mark,
    }
}
