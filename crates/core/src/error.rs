//! One catalogue of error codes. The code strings are a stable API: the TypeScript engine throws
//! the same codes, and docs/ERRORS.md lists them. Messages name the field, index and value.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// An intermediate left the i128 range or a stored value the i64 range.
    Overflow,
    InvalidPrice,
    InvalidQuantity,
    InvalidAmount,
    InvalidDecimals,
    InvalidTiers,
    InvalidArgument,
    InvalidId,
    UnknownMarket,
    UnknownAccount,
    DuplicateMarket,
    DuplicateAccount,
    DuplicatePosition,
    LengthMismatch,
    Internal,
    /// A snapshot shorter than its header or than the length its header announces.
    SnapshotTruncated,
    /// A snapshot whose body does not hash to its checksum (corrupted in storage or transit).
    SnapshotChecksum,
    /// A snapshot in a format version this engine does not read.
    SnapshotVersion,
    /// A snapshot that is not one (bad magic, trailing bytes) or whose body describes a state the
    /// API could not have produced (the message names the offset and field).
    SnapshotInvalid,
    /// A write that would make one account's margin combine markets of different settlement
    /// assets (SPEC §5.4); the message names the account and both markets.
    SettlementMismatch,
    /// An order id that names no open order (cancelled, filled, or never placed).
    UnknownOrder,
    /// A leverage outside 1..=the market's maximum (SPEC §17.1).
    InvalidLeverage,
    /// A call while an async call that holds the engine exclusively (`runWaterfallAsync`) runs.
    EngineBusy,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Overflow => "OVERFLOW",
            ErrorCode::InvalidPrice => "INVALID_PRICE",
            ErrorCode::InvalidQuantity => "INVALID_QUANTITY",
            ErrorCode::InvalidAmount => "INVALID_AMOUNT",
            ErrorCode::InvalidDecimals => "INVALID_DECIMALS",
            ErrorCode::InvalidTiers => "INVALID_TIERS",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::InvalidId => "INVALID_ID",
            ErrorCode::UnknownMarket => "UNKNOWN_MARKET",
            ErrorCode::UnknownAccount => "UNKNOWN_ACCOUNT",
            ErrorCode::DuplicateMarket => "DUPLICATE_MARKET",
            ErrorCode::DuplicateAccount => "DUPLICATE_ACCOUNT",
            ErrorCode::DuplicatePosition => "DUPLICATE_POSITION",
            ErrorCode::LengthMismatch => "LENGTH_MISMATCH",
            ErrorCode::Internal => "INTERNAL",
            ErrorCode::SnapshotTruncated => "SNAPSHOT_TRUNCATED",
            ErrorCode::SnapshotChecksum => "SNAPSHOT_CHECKSUM",
            ErrorCode::SnapshotVersion => "SNAPSHOT_VERSION",
            ErrorCode::SnapshotInvalid => "SNAPSHOT_INVALID",
            ErrorCode::SettlementMismatch => "SETTLEMENT_MISMATCH",
            ErrorCode::UnknownOrder => "UNKNOWN_ORDER",
            ErrorCode::InvalidLeverage => "INVALID_LEVERAGE",
            ErrorCode::EngineBusy => "ENGINE_BUSY",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error { code, message: message.into() }
    }
    /// Overflow in a named formula (Drift-style: say where it overflowed).
    pub fn overflow(at: &str) -> Self {
        Error::new(ErrorCode::Overflow, format!("arithmetic overflow in {at}"))
    }
    /// Prefix the message with where it happened (row, account, market), keeping the code.
    pub fn context(mut self, ctx: impl fmt::Display) -> Self {
        self.message = format!("{ctx}: {}", self.message);
        self
    }
}

/// `{:?}` of an echoed input, cut to its first 64 characters and "…" (a caller may pass megabytes:
/// the message names the value, it need not carry all of it). The TypeScript engine's
/// `rustDebugCut` is the same.
pub fn debug_cut(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((at, _)) => format!("{:?}…", &s[..at]),
        None => format!("{s:?}"),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;
