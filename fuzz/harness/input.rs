//! Turns fuzzer bytes into values. Never fails: past the end of the input every read is 0, so any
//! byte string is a valid program (and libFuzzer's mutations stay meaningful). Values are drawn
//! mostly from small ranges and boundary tables (where the validation lives), sometimes raw.

use deleverage_core::num::{PRICE_MAX_TICKS, QTY_MAX_LOTS, RATE_SCALE};

pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Boundaries of the integer domains the decoders check (SPEC §2.3) and the i64 edges.
const EDGES: [i64; 16] = [
    0,
    1,
    -1,
    2,
    QTY_MAX_LOTS,
    -QTY_MAX_LOTS,
    QTY_MAX_LOTS + 1,
    -QTY_MAX_LOTS - 1,
    i64::MAX,
    i64::MIN,
    i64::MIN + 1,
    RATE_SCALE,
    RATE_SCALE - 1,
    1_000_000,
    i64::MAX / 2,
    PRICE_MAX_TICKS - 1,
];

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn u64_raw(&mut self) -> u64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.byte();
        }
        u64::from_le_bytes(b)
    }

    pub fn u32_raw(&mut self) -> u32 {
        let mut b = [0u8; 4];
        for x in &mut b {
            *x = self.byte();
        }
        u32::from_le_bytes(b)
    }

    /// An index below `n` most of the time, just past it (the first invalid ones) or any u32.
    pub fn index(&mut self, n: usize) -> u32 {
        match self.byte() {
            0..=229 => (self.byte() as usize % (n + 2)) as u32,
            230..=249 => u32::MAX,
            _ => self.u32_raw(),
        }
    }

    /// A signed integer near `base` (small offsets), scaled by a power of ten, from the edge
    /// table, or raw.
    pub fn i64_near(&mut self, base: i64) -> i64 {
        match self.byte() % 8 {
            0..=2 => base.saturating_add(self.byte() as i8 as i64),
            3 => {
                let k = self.byte() % 19;
                (self.byte() as i8 as i64).saturating_mul(10i64.pow(k as u32))
            }
            4 | 5 => EDGES[self.byte() as usize % EDGES.len()],
            6 => base.saturating_mul(self.byte() as i8 as i64),
            _ => self.u64_raw() as i64,
        }
    }

    /// A u64 (times): small, an edge, or raw.
    pub fn u64_near(&mut self, base: u64) -> u64 {
        match self.byte() % 4 {
            0 | 1 => base.saturating_add(self.byte() as u64),
            2 => [0, 1, u64::MAX, u64::MAX - 1, i64::MAX as u64][self.byte() as usize % 5],
            _ => self.u64_raw(),
        }
    }

    /// Column length: usually `n`, sometimes one more or less (a length mismatch).
    pub fn len_like(&mut self, n: usize) -> usize {
        match self.byte() % 16 {
            0 => n + 1,
            1 => n.saturating_sub(1),
            _ => n,
        }
    }

    /// An account id: mostly from a small alphabet (so ids collide), sometimes invalid
    /// (empty, too long, a space, a control or non-ASCII character).
    pub fn id(&mut self) -> String {
        match self.byte() % 16 {
            0 => String::new(),
            1 => "x".repeat(64 + self.byte() as usize % 3),
            2 => "a b".into(),
            3 => "é".into(),
            4 => "\u{0}".into(),
            _ => format!("a{}", self.byte() % 12),
        }
    }
}
