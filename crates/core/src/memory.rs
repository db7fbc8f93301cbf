//! What an engine holds on the heap, estimated from its containers' capacities (the sweep's
//! blocked copy counted exactly): the binding reports it to V8 (napi_adjust_external_memory) so
//! that dropped engines are collected in time.
//! O(markets), not O(accounts): per-account heap (id, position references) is estimated from
//! the counts, not walked.

use std::mem::size_of;

use crate::engine::{Account, Engine};
use crate::waterfall::Event;

/// Heap bytes per account beyond its `Account` slot: the id string (its references are counted
/// per position, the id index exactly).
const ACCOUNT_EXTRA_BYTES: usize = 24;
/// Heap bytes per position row: the columns (u32 account, 3 × i64, bool) and a reference.
const POSITION_BYTES: usize = 4 + 3 * 8 + 1 + 8;

impl Engine {
    /// Estimated heap bytes of this engine (store, event log, watch index).
    pub fn heap_bytes(&self) -> usize {
        let positions: usize = self.positions.iter().map(|c| c.account.capacity()).sum();
        self.accounts.capacity() * size_of::<Account>()
            + self.accounts.len() * ACCOUNT_EXTRA_BYTES
            + positions * POSITION_BYTES
            + self.markets.len() * 1024
            + self.waterfall.events.capacity() * size_of::<Event>()
            + self.watch_index_bytes()
            + self.blocks.heap_bytes()
            + self.account_by_id.heap_bytes()
    }
}
