//! The sweep's blocked layout (issue 11). The per-market columns (`MarketPositions`) stay the
//! store every write goes to; this is a copy arranged for the full sweep, kept per block of
//! `BLOCK` consecutive accounts:
//!
//! - the block's cross positions grouped by market as compact rows (offset of the account in
//!   the block, qty, cost), so the sweep walks each market's run with its constants in registers
//!   and adds into per-block accumulators that stay in L1;
//! - the balances of its accounts, so the account check runs in the same pass;
//! - its isolated positions, grouped by market the same way (with their isolated margin);
//! - a side list of the near-limit positions (|qty| or |cost| above `NEAR`), which would
//!   otherwise push their market's bound past what the i64 kernel proves.
//!
//! A write marks its account's block dirty (O(1)); the next sweep rebuilds the dirty blocks from
//! the columns before it reads (O(positions of the block), on the pool when many are dirty).
//! There is no slack to manage: a block is rebuilt whole, into vectors sized for it.

use std::sync::Mutex;

use crate::engine::Engine;

/// Accounts per block: 1024 accumulators of 16 bytes (i64 pairs) are 16 KiB, inside L1.
pub(crate) const BLOCK: usize = 1 << 10;
/// A position with |qty| or |cost| above this goes to the side list (`MarketPositions::note`
/// leaves it out of its market's bound).
pub(crate) const NEAR: u64 = 1 << 56;

/// One market's run of rows in a block: rows lo..hi, with the largest |qty| and |cost| among
/// them (the sweep's per-block proof that an account's sums fit i64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seg {
    pub m: u32,
    pub lo: u32,
    pub hi: u32,
    pub max_qty: u64,
    pub max_cost: u64,
}

/// A position of the side list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Side {
    pub m: u32,
    pub off: u16,
    pub isolated: bool,
    pub qty: i64,
    pub cost: i64,
    pub isolated_margin: i64,
}

/// Isolated rows of a block (columns of equal length).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Rows {
    pub off: Vec<u16>,
    pub qty: Vec<i64>,
    pub cost: Vec<i64>,
    pub isolated_margin: Vec<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Block {
    /// Balances of the block's accounts (index = offset in the block).
    pub bal: Vec<i64>,
    pub segs: Vec<Seg>,
    pub off: Vec<u16>,
    pub qty: Vec<i64>,
    pub cost: Vec<i64>,
    /// The isolated positions: runs `iso_segs` over rows of `iso`.
    pub iso_segs: Vec<Seg>,
    pub iso: Rows,
    pub side: Vec<Side>,
    /// A near-limit cross position is in the side list: the block sums in i128.
    pub wide: bool,
}

impl Block {
    pub(crate) fn positions(&self) -> usize {
        self.qty.len() + self.iso.qty.len() + self.side.len()
    }
}

/// Is this position small enough for its market's bound (see `NEAR`)?
#[inline]
pub(crate) fn small(qty: i64, cost: i64) -> bool {
    qty.unsigned_abs() <= NEAR && cost.unsigned_abs() <= NEAR
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Blocks {
    pub blocks: Vec<Block>,
    dirty: Vec<bool>,
    any_dirty: bool,
}

impl Blocks {
    fn touch(&mut self, a: u32) {
        if let Some(d) = self.dirty.get_mut(a as usize / BLOCK) {
            *d = true;
        }
        self.any_dirty = true;
    }

    /// Rebuild what writes made stale (and fit the block count to the accounts).
    pub(crate) fn refresh(&mut self, e: &Engine, threads: usize) {
        let n = e.accounts.len().div_ceil(BLOCK);
        if self.blocks.len() != n || self.any_dirty {
            self.blocks.resize_with(n, Block::default);
            self.dirty.resize(n, true);
            let todo: Vec<usize> = (0..n).filter(|&b| self.dirty[b]).collect();
            if todo.len() * 4 > n {
                // Most of the book changed (a load, a funding round): one pass over the columns.
                self.blocks = build_all(e);
                self.dirty.fill(false);
                self.any_dirty = false;
                return self.check(e);
            }
            let built: Vec<Mutex<Option<Block>>> = todo.iter().map(|_| Mutex::new(None)).collect();
            // A block takes tens of microseconds: a few dirty ones are not worth a thread.
            let threads = if todo.len() >= 16 { threads } else { 1 };
            let _ = crate::pool::run(todo.len(), threads, &|i| {
                *built[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(build(e, todo[i]));
            });
            for (&b, cell) in todo.iter().zip(built) {
                // A build that panicked leaves the block dirty; the next sweep tries again.
                if let Some(blk) = cell.into_inner().unwrap_or_else(|p| p.into_inner()) {
                    self.blocks[b] = blk;
                    self.dirty[b] = false;
                }
            }
            self.any_dirty = self.dirty.iter().any(|&d| d);
        }
        self.check(e);
    }

    /// Every write path must mark its block: the tests' debug builds check it on every sweep.
    fn check(&self, _e: &Engine) {
        #[cfg(debug_assertions)]
        for (b, blk) in self.blocks.iter().enumerate() {
            assert!(self.dirty[b] || *blk == build(_e, b), "block {b} is stale");
        }
    }
}

/// A block's positions as they are gathered, before they are grouped.
#[derive(Default)]
struct Staged {
    rows: Vec<(u32, u16, i64, i64)>,
    iso: Vec<(u32, u16, i64, i64, i64)>,
    side: Vec<Side>,
}

impl Staged {
    /// Sort a position of market `m`, account offset `off`, into its list.
    #[inline]
    fn put(&mut self, m: u32, off: u16, col: &crate::engine::MarketPositions, s: usize) {
        let (qty, cost, isolated) = (col.qty[s], col.cost[s], col.isolated[s]);
        if !small(qty, cost) {
            let isolated_margin = col.isolated_margin[s];
            self.side.push(Side { m, off, isolated, qty, cost, isolated_margin });
        } else if isolated {
            self.iso.push((m, off, qty, cost, col.isolated_margin[s]));
        } else {
            self.rows.push((m, off, qty, cost));
        }
    }

    /// The block: rows grouped by market (by offset inside a market), the side list by offset.
    fn assemble(mut self, bal: Vec<i64>) -> Block {
        let mut blk = Block { bal, ..Block::default() };
        self.rows.sort_unstable_by_key(|r| (r.0, r.1));
        blk.off.reserve_exact(self.rows.len());
        blk.qty.reserve_exact(self.rows.len());
        blk.cost.reserve_exact(self.rows.len());
        for (i, &(m, off, q, c)) in self.rows.iter().enumerate() {
            extend(&mut blk.segs, m, i, q, c);
            blk.off.push(off);
            blk.qty.push(q);
            blk.cost.push(c);
        }
        self.iso.sort_unstable_by_key(|r| (r.0, r.1));
        for (i, &(m, off, q, c, im)) in self.iso.iter().enumerate() {
            extend(&mut blk.iso_segs, m, i, q, c);
            blk.iso.off.push(off);
            blk.iso.qty.push(q);
            blk.iso.cost.push(c);
            blk.iso.isolated_margin.push(im);
        }
        self.side.sort_unstable_by_key(|s| (s.off, s.m));
        blk.wide = self.side.iter().any(|s| !s.isolated);
        blk.segs.shrink_to_fit();
        blk.iso_segs.shrink_to_fit();
        self.side.shrink_to_fit();
        blk.side = self.side;
        blk
    }
}

/// Block `b` built from the columns, through its accounts' position references.
pub(crate) fn build(e: &Engine, b: usize) -> Block {
    let lo = b * BLOCK;
    let hi = (lo + BLOCK).min(e.accounts.len());
    let mut st = Staged::default();
    for (a, acc) in e.accounts[lo..hi].iter().enumerate() {
        for &(m, s) in &acc.positions {
            st.put(m, a as u16, &e.positions[m as usize], s as usize);
        }
    }
    st.assemble(e.accounts[lo..hi].iter().map(|a| a.balance).collect())
}

/// Every block, reading the columns in order (a block at a time reads them at random: after a
/// load that is several times slower).
pub(crate) fn build_all(e: &Engine) -> Vec<Block> {
    let n = e.accounts.len().div_ceil(BLOCK);
    let mut st: Vec<Staged> = (0..n).map(|_| Staged::default()).collect();
    for (m, col) in e.positions.iter().enumerate() {
        for (s, &a) in col.account.iter().enumerate() {
            let a = a as usize;
            st[a / BLOCK].put(m as u32, (a % BLOCK) as u16, col, s);
        }
    }
    st.into_iter()
        .enumerate()
        .map(|(b, st)| {
            let hi = ((b + 1) * BLOCK).min(e.accounts.len());
            st.assemble(e.accounts[b * BLOCK..hi].iter().map(|a| a.balance).collect())
        })
        .collect()
}

/// Row `i` (of market `m`, qty `q`, cost `c`) extends the last run or starts one.
fn extend(segs: &mut Vec<Seg>, m: u32, i: usize, q: i64, c: i64) {
    let (q, c) = (q.unsigned_abs(), c.unsigned_abs());
    match segs.last_mut() {
        Some(s) if s.m == m => {
            s.hi += 1;
            s.max_qty = s.max_qty.max(q);
            s.max_cost = s.max_cost.max(c);
        }
        _ => segs.push(Seg { m, lo: i as u32, hi: i as u32 + 1, max_qty: q, max_cost: c }),
    }
}

/// The layout inside the engine: behind a lock because the sweep (`&Engine`) refreshes it;
/// writes (`&mut Engine`) mark blocks without locking.
#[derive(Default)]
pub(crate) struct BlockCell(pub Mutex<Blocks>);

impl BlockCell {
    /// Account `a`'s block is stale (its balance or a position changed).
    #[inline]
    pub(crate) fn touch(&mut self, a: u32) {
        self.0.get_mut().unwrap_or_else(|p| p.into_inner()).touch(a);
    }
    /// Heap bytes of the layout.
    pub(crate) fn heap_bytes(&self) -> usize {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let per: usize = g
            .blocks
            .iter()
            .map(|b| {
                b.bal.capacity() * 8
                    + b.segs.capacity() * std::mem::size_of::<Seg>()
                    + b.off.capacity() * 2
                    + (b.qty.capacity() + b.cost.capacity()) * 8
                    + b.side.capacity() * std::mem::size_of::<Side>()
                    + b.iso_segs.capacity() * std::mem::size_of::<Seg>()
                    + b.iso.off.capacity() * 2
                    + b.iso.qty.capacity() * 24
            })
            .sum();
        per + g.blocks.capacity() * std::mem::size_of::<Block>() + g.dirty.capacity()
    }
}

impl Clone for BlockCell {
    /// A copy of the layout, or — while a sweep on another thread holds it (the binding copies
    /// the engine on write while an async sweep runs) — an empty one, rebuilt on its first
    /// sweep: a copy never waits for a sweep.
    fn clone(&self) -> Self {
        let copy = match self.0.try_lock() {
            Ok(g) => g.clone(),
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner().clone(),
            Err(std::sync::TryLockError::WouldBlock) => Blocks::default(),
        };
        BlockCell(Mutex::new(copy))
    }
}

impl std::fmt::Debug for BlockCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlockCell")
    }
}
