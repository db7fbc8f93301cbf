//! The tables both engines share, defined once: event kinds, error codes, ADL rankings, fund
//! policies, limits, scales and named strings. `tests/generated_tables.rs` writes them to
//! `src/generated/tables.ts`, which the TypeScript side imports (never edit that file by hand);
//! `scripts/check-generated.sh` fails when the committed copy is stale.
//!
//! To add an event kind or an error code: add the variant to its enum (`waterfall::EventKind`,
//! `error::ErrorCode`), then to its `every!` list below (the build fails until you do), give an
//! event kind its name in `EventKind::name`, and run `cargo test -p deleverage-core --test
//! generated_tables` once to rewrite the TypeScript file. A new limit or scale goes in `num.rs`
//! and in `LIMITS` below.

use crate::adl::AdlRanking;
use crate::error::ErrorCode;
use crate::num;
use crate::waterfall::EventKind;

/// `every!(Enum: A, B, …)` defines `Enum::ALL` in that order, and fails to compile when a variant
/// is missing from the list (the closure's match must be exhaustive).
macro_rules! every {
    ($ty:ident: $($v:ident),+ $(,)?) => {
        impl $ty {
            /// Every variant, in code order (the TypeScript tables are written from this).
            pub const ALL: &'static [$ty] = &[$($ty::$v),+];
        }
        const _: fn($ty) = |x| match x {
            $($ty::$v)|+ => (),
        };
    };
}

// In discriminant order: ALL[k] is the event kind with code k (tests/generated_tables.rs checks).
every!(EventKind:
    LiquidationFill, LiquidationFee, Takeover, FundPayment, EngineFill, AdlFill, SocialisedLoss,
    BadDebt, AdlModeOn, AdlModeOff, Funding, FundDeposit, AdlShortfall, Residue, EngineNetting,
    OrderCancelled,
);

// In catalogue order (docs/ERRORS.md).
every!(ErrorCode:
    Overflow, InvalidPrice, InvalidQuantity, InvalidAmount, InvalidDecimals, InvalidTiers,
    InvalidArgument, InvalidId, UnknownMarket, UnknownAccount, DuplicateMarket, DuplicateAccount,
    DuplicatePosition, LengthMismatch, Internal, SnapshotTruncated, SnapshotChecksum,
    SnapshotVersion, SnapshotInvalid, SettlementMismatch, UnknownOrder, InvalidLeverage,
    EngineBusy,
);

// In code order: ALL[c] is AdlRanking::from_code(c).
every!(AdlRanking: Bitmex, Binance, Hyperliquid, ProRata);

impl EventKind {
    /// The name the API reports (`Event.kind` in TypeScript).
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::LiquidationFill => "liquidationFill",
            EventKind::LiquidationFee => "liquidationFee",
            EventKind::Takeover => "takeover",
            EventKind::FundPayment => "fundPayment",
            EventKind::EngineFill => "engineFill",
            EventKind::AdlFill => "adlFill",
            EventKind::SocialisedLoss => "socialisedLoss",
            EventKind::BadDebt => "badDebt",
            EventKind::AdlModeOn => "adlModeOn",
            EventKind::AdlModeOff => "adlModeOff",
            EventKind::Funding => "funding",
            EventKind::FundDeposit => "fundDeposit",
            EventKind::AdlShortfall => "adlShortfall",
            EventKind::Residue => "residue",
            EventKind::EngineNetting => "engineNetting",
            EventKind::OrderCancelled => "orderCancelled",
        }
    }

    /// The event kind with code `k` (its discriminant), if any: the snapshot decoder's table.
    pub fn from_code(k: u8) -> Option<EventKind> {
        EventKind::ALL.get(k as usize).copied()
    }
}

impl AdlRanking {
    /// The name the API and scenario files use.
    pub const fn name(self) -> &'static str {
        match self {
            AdlRanking::Bitmex => "bitmex",
            AdlRanking::Binance => "binance",
            AdlRanking::Hyperliquid => "hyperliquid",
            AdlRanking::ProRata => "prorata",
        }
    }

    /// The code `from_code` reads (the binding's and the snapshot's).
    pub fn code(self) -> u8 {
        AdlRanking::ALL.iter().position(|&r| r == self).expect("ALL lists every ranking") as u8
    }
}

/// Fund policy codes, in code order (the binding's `policy`, the snapshot's byte).
pub const FUND_POLICIES: [&str; 3] = ["exhausted", "drawdown", "socialise"];

/// Liquidation-price reasons by code (SPEC §6.4, `liq::liquidation_price_reason`): "price" when
/// the position has one, else why not.
pub const LIQUIDATION_PRICE_REASONS: [&str; 3] = ["price", "never", "always"];

/// Named strings: (name, value, doc).
pub fn strings() -> Vec<(&'static str, &'static str, &'static str)> {
    let magic = std::str::from_utf8(crate::snapshot::SNAPSHOT_MAGIC).expect("ASCII magic");
    vec![
        ("SNAPSHOT_MAGIC", magic, "The first 8 bytes of a snapshot (SPEC §12.2)."),
        (
            "DEFAULT_LINEAR_ASSET",
            crate::market::DEFAULT_LINEAR_ASSET,
            "The settlement asset of a linear market that names none (SPEC §5.4).",
        ),
    ]
}

/// How a limit is written in TypeScript: a `number` (small counts) or a `bigint` (units).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TsType {
    Number,
    BigInt,
}

/// A named limit or scale: (name, value, TypeScript type, doc).
pub type Limit = (&'static str, i128, TsType, &'static str);

/// Limits and scales, named as in `num.rs` and the rest of the core.
pub const LIMITS: &[Limit] = &[
    (
        "RATE_DECIMALS",
        num::RATE_DECIMALS as i128,
        TsType::Number,
        "Maintenance/initial margin rates are integers of 10^-8 (0.5 % = 500_000).",
    ),
    ("RATE_SCALE", num::RATE_SCALE as i128, TsType::BigInt, "10^RATE_DECIMALS: a rate of 1."),
    (
        "RATIO_SCALE",
        num::RATIO_SCALE as i128,
        TsType::BigInt,
        "Ratios (margin ratio, drawdown, impact) in parts per million: a ratio of 1.",
    ),
    (
        "PRICE_MAX_TICKS",
        num::PRICE_MAX_TICKS as i128,
        TsType::BigInt,
        "Largest price, in ticks, the engine accepts and searches liquidation prices within.",
    ),
    ("QTY_MAX_LOTS", num::QTY_MAX_LOTS as i128, TsType::BigInt, "Largest |quantity| in lots."),
    ("MAX_QUOTE_DECIMALS", num::MAX_QUOTE_DECIMALS as i128, TsType::Number, ""),
    ("MAX_PRICE_DECIMALS", num::MAX_PRICE_DECIMALS as i128, TsType::Number, ""),
    ("MAX_QTY_DECIMALS", num::MAX_QTY_DECIMALS as i128, TsType::Number, ""),
    (
        "CONTRACT_SIZE_MAX",
        num::CONTRACT_SIZE_MAX as i128,
        TsType::BigInt,
        "Largest contract size (quote units per contract) of an inverse market.",
    ),
    (
        "CROSS",
        crate::watch::CROSS as i128,
        TsType::Number,
        "The market column of a cross account's row (no isolated market).",
    ),
    ("NONE", crate::waterfall::NONE as i128, TsType::Number, "No account or market (u32::MAX)."),
    (
        "FLAG_ISOLATED",
        crate::engine::FLAG_ISOLATED as i128,
        TsType::Number,
        "Position flag: isolated margin.",
    ),
    (
        "FLAG_COST_BASIS",
        crate::engine::FLAG_COST_BASIS as i128,
        TsType::Number,
        "Position flag: `price` is a cost basis, not an entry price.",
    ),
    (
        "SNAPSHOT_FORMAT_VERSION",
        crate::snapshot::SNAPSHOT_FORMAT_VERSION as i128,
        TsType::Number,
        "The snapshot format this engine writes (SPEC §12).",
    ),
];
