//! deleverage-core: the exact margin-risk engine behind the `deleverage` npm package.
//!
//! Pure Rust, no JavaScript: integer units everywhere (ticks, lots, atoms), i128 intermediates,
//! overflow as an error, a rounding direction for every division (docs/SPEC.md). The napi crate
//! (crates/node) and the TypeScript engine (src/fallback) implement the same specification.

pub mod engine;
pub mod error;
pub mod liq;
pub mod market;
pub mod num;
pub mod adl;
pub mod waterfall;
pub mod planner;
pub mod snapshot;
pub mod watch;
pub mod fills;
pub mod memory;
mod pool;
pub mod settlement;
mod sweep;

pub use engine::{Engine, MarginRow, PositionRisk, PositionRows, SweepResult, FLAG_COST_BASIS, FLAG_ISOLATED};
pub use error::{Error, ErrorCode, Result};
pub use liq::SolvedPrice;
pub use snapshot::{decode_snapshot, SNAPSHOT_FORMAT_VERSION, SNAPSHOT_MAGIC};
pub use market::{ContractKind, MarginBasis, Market, MarketSpec, MarketTerms, TierForm};
