//! deleverage-core: the exact margin-risk engine behind the `deleverage` npm package.
//!
//! Pure Rust, no JavaScript: integer units everywhere (ticks, lots, atoms), i128 intermediates,
//! overflow as an error, a rounding direction for every division (docs/SPEC.md). The napi crate
//! (crates/node) and the TypeScript engine (src/fallback) implement the same specification.

pub mod adl;
mod adl_rounding;
pub mod engine;
pub mod error;
pub mod fills;
pub mod liq;
pub mod liq_map;
pub mod market;
pub mod memory;
pub mod num;
pub mod order_check;
pub mod planner;
mod pool;
pub mod pretrade;
mod pretrade_snapshot;
pub mod settlement;
pub mod snapshot;
mod socialised_loss;
mod store;
mod sweep;
pub mod tables;
pub mod taker_fee;
pub mod watch;
pub mod waterfall;

pub use engine::{
    Engine, MarginRow, PositionRisk, PositionRows, SweepResult, FLAG_COST_BASIS, FLAG_ISOLATED,
};
pub use error::{Error, ErrorCode, Result};
pub use liq::SolvedPrice;
pub use market::{ContractKind, MarginBasis, Market, MarketSpec, MarketTerms, TierForm};
pub use snapshot::{decode_snapshot, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC};
