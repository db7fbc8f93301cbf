//! The live accounts by id (issue 11, live bytes): an open-addressing table of account indices
//! that hashes and compares the ids where they already are (`Account::id`), instead of a
//! `HashMap<String, u32>` holding a second copy of every id. A slot is 4 bytes (≈ 5–11 bytes
//! per account at the loads kept), where the map's was 32 plus the cloned id.
//!
//! Linear probing, load at most 3/4, removal by backward shift (no tombstones). The hash is
//! std's keyed SipHash (`RandomState`), so ids chosen by a client cannot force collisions.
//!
//! Also here: `reserve_refs`, exact room in the accounts' position references on a bulk load.

use std::hash::{BuildHasher, RandomState};

use crate::engine::Account;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(crate) struct IdIndex {
    slots: Vec<u32>,
    len: usize,
    hasher: RandomState,
}

impl IdIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * 4
    }

    fn home(&self, id: &str) -> usize {
        self.hasher.hash_one(id) as usize & (self.slots.len() - 1)
    }

    /// The slot holding the live account with this id.
    fn find(&self, accounts: &[Account], id: &str) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(id);
        loop {
            match self.slots[i] {
                EMPTY => return None,
                a if accounts[a as usize].id == id => return Some(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn get(&self, accounts: &[Account], id: &str) -> Option<u32> {
        self.find(accounts, id).map(|i| self.slots[i])
    }

    /// Room for `more` accounts beyond those indexed, without a rehash on the way.
    pub(crate) fn reserve(&mut self, accounts: &[Account], more: usize) {
        let need = (self.len + more).saturating_mul(4).div_ceil(3).max(8).next_power_of_two();
        if need <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; need]);
        for a in old.into_iter().filter(|&a| a != EMPTY) {
            self.place(accounts, a);
        }
    }

    fn place(&mut self, accounts: &[Account], a: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(&accounts[a as usize].id);
        while self.slots[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.slots[i] = a;
    }

    /// Index account `a` (already in `accounts`; no live account has its id).
    pub(crate) fn insert(&mut self, accounts: &[Account], a: u32) {
        debug_assert!(self.get(accounts, &accounts[a as usize].id).is_none());
        self.reserve(accounts, 1);
        self.place(accounts, a);
        self.len += 1;
    }

    /// Take account `a` out (its id still in `accounts`); the run after it shifts back.
    pub(crate) fn remove(&mut self, accounts: &[Account], a: u32) {
        let Some(mut hole) = self.find(accounts, &accounts[a as usize].id) else {
            return;
        };
        debug_assert_eq!(self.slots[hole], a);
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let b = self.slots[j];
            if b == EMPTY {
                break;
            }
            // An entry may fill the hole unless its home lies cyclically in (hole, j].
            let home = self.home(&accounts[b as usize].id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = b;
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
    }
}

/// Before a bulk write (at least one row per account): exact room in the position references
/// of the accounts that have none yet, for their rows of the batch. A reference list grown by
/// pushes holds 4 or 8 slots for 1–7 positions (≈ 3.4 bytes per position of slack on the
/// ragged bench book).
pub(crate) fn reserve_refs(accounts: &mut [Account], rows: &crate::engine::PositionRows) {
    if rows.account.len() < accounts.len() {
        return;
    }
    let mut per = vec![0u32; accounts.len()];
    for (&a, &q) in rows.account.iter().zip(rows.qty) {
        if let Some(n) = per.get_mut(a as usize) {
            *n += u32::from(q != 0);
        }
    }
    for (acc, n) in accounts.iter_mut().zip(per) {
        if n > 0 && acc.positions.capacity() == 0 {
            acc.positions.reserve_exact(n as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(id: String) -> Account {
        Account { id, balance: 0, alive: true, positions: Vec::new() }
    }

    /// Inserts and removals in a mixed order agree with a HashMap at every step (small tables,
    /// so runs wrap around and backward shifts cross the end).
    #[test]
    fn agrees_with_a_map() {
        let accounts: Vec<Account> = (0..600).map(|i| acc(format!("a{i}"))).collect();
        let mut ix = IdIndex::default();
        let mut map = std::collections::HashMap::new();
        let mut s: u64 = 7;
        for step in 0..5000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let a = (s >> 33) as u32 % 600;
            let id = &accounts[a as usize].id;
            if map.contains_key(id) {
                ix.remove(&accounts, a);
                map.remove(id);
            } else {
                ix.insert(&accounts, a);
                map.insert(id.clone(), a);
            }
            assert_eq!(ix.len(), map.len(), "step {step}");
            for probe in [a, (a + 1) % 600, (a * 7) % 600] {
                let id = &accounts[probe as usize].id;
                assert_eq!(ix.get(&accounts, id), map.get(id).copied(), "step {step}");
            }
        }
        for (id, &a) in &map {
            assert_eq!(ix.get(&accounts, id), Some(a));
        }
        assert_eq!(ix.get(&accounts, "nobody"), None);
    }
}
