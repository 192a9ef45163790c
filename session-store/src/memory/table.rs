//! One shard of [`MemoryStore`](super::MemoryStore)'s table: open addressing with linear
//! probing over slots that hold the id itself, so a lookup compares ids in place (no pointer
//! to chase until the record is found) and touches one or two cache lines of the table.
//!
//! Slots are placed by the id's keyed hash ([`RandomIdHasher`](crate::id::RandomIdHasher)):
//! ids are uniformly random, so clusters stay short. Removal shifts the cluster's later
//! entries back (no tombstones), so a lookup's probe ends at the first empty slot.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::{Record, SessionId};

/// One record in the table.
pub(super) struct Slot<T> {
    pub(super) id: SessionId,
    pub(super) record: Arc<Record<T>>,
    /// The record's expiry in whole seconds since the Unix epoch, rounded up: for sweeping
    /// without reading the record (`load` checks the record's own `expires_at`).
    expires: u32,
    /// When the record was last created, saved or loaded, in seconds since the Unix epoch:
    /// the eviction picks the least recent of a sample.
    used: u32,
}

/// Seconds since the Unix epoch, rounded down (`up`: rounded up), saturating at `u32::MAX`
/// (in 2106).
pub(super) fn secs(at: SystemTime, up: bool) -> u32 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let whole = since.as_secs() + u64::from(up && since.subsec_nanos() > 0);
    u32::try_from(whole).unwrap_or(u32::MAX)
}

impl<T> Slot<T> {
    pub(super) fn new(id: SessionId, record: Arc<Record<T>>, now: u32) -> Self {
        Self {
            id,
            expires: secs(record.expires_at, true),
            record,
            used: now,
        }
    }

    /// Whether the record has certainly expired at `now` (whole seconds, rounded down).
    fn expired_at(&self, now: u32) -> bool {
        self.expires <= now
    }
}

/// A shard: a power-of-two array of slots, at most three quarters full.
pub(super) struct Shard<T> {
    slots: Box<[Option<Slot<T>>]>,
    len: usize,
    /// Where the incremental sweep of expired records goes on.
    sweep_at: usize,
}

impl<T> Default for Shard<T> {
    fn default() -> Self {
        Self {
            slots: Box::default(),
            len: 0,
            sweep_at: 0,
        }
    }
}

/// How many slots a create or save looks at for expired records.
const SWEEP_STEP: usize = 8;
/// How many records an eviction compares.
const EVICTION_SAMPLE: usize = 16;

impl<T> Shard<T> {
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The index of `id` (whose hash is `hash`), if present.
    pub(super) fn find(&self, hash: u64, id: &SessionId) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = hash as usize & mask;
        // Ends: the table always has an empty slot (it is at most 3/4 full).
        loop {
            match &self.slots[i] {
                None => return None,
                // Constant-time comparison (`SessionId`'s `eq`).
                Some(slot) if slot.id == *id => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// The records from the home slot of `hash` to the end of its cluster: every record whose
    /// id hashes to `hash` is among them.
    pub(super) fn cluster(&self, hash: u64) -> impl Iterator<Item = &Slot<T>> {
        let mask = self.mask();
        let home = hash as usize & mask;
        (0..self.slots.len()).map_while(move |step| self.slots[(home + step) & mask].as_ref())
    }

    pub(super) fn get(&self, index: usize) -> Option<&Slot<T>> {
        self.slots.get(index)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, index: usize) -> Option<&mut Slot<T>> {
        self.slots.get_mut(index)?.as_mut()
    }

    /// Marks the slot at `index` used at `now`, writing only when that changes it.
    pub(super) fn touch(&mut self, index: usize, now: u32) {
        if let Some(slot) = self.get_mut(index)
            && slot.used != now
        {
            slot.used = now;
        }
    }

    /// Replaces the record at `index`, returning the old one.
    pub(super) fn replace(
        &mut self,
        index: usize,
        record: Arc<Record<T>>,
        now: u32,
    ) -> Option<Arc<Record<T>>> {
        let slot = self.get_mut(index)?;
        slot.expires = secs(record.expires_at, true);
        slot.used = now;
        Some(std::mem::replace(&mut slot.record, record))
    }

    /// Inserts `slot`, whose id is absent and hashes to `hash`; `hash_of` hashes other ids
    /// when the table grows.
    pub(super) fn insert(&mut self, hash: u64, slot: Slot<T>, hash_of: impl Fn(&SessionId) -> u64) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow(&hash_of);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: Slot<T>) {
        let mask = self.mask();
        let mut i = hash as usize & mask;
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some(slot);
    }

    fn grow(&mut self, hash_of: &impl Fn(&SessionId) -> u64) {
        let size = (self.slots.len() * 2).max(8);
        let old = std::mem::replace(&mut self.slots, (0..size).map(|_| None).collect());
        self.sweep_at = 0;
        for slot in old.into_vec().into_iter().flatten() {
            self.place(hash_of(&slot.id), slot);
        }
    }

    /// Removes the slot at `index` and shifts the rest of its cluster back into place.
    pub(super) fn remove(
        &mut self,
        index: usize,
        hash_of: impl Fn(&SessionId) -> u64,
    ) -> Option<Slot<T>> {
        let removed = self.slots.get_mut(index)?.take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut hole = index;
        let mut next = (index + 1) & mask;
        while let Some(slot) = &self.slots[next] {
            let home = hash_of(&slot.id) as usize & mask;
            // The entry at `next` may move to `hole` unless its home lies after the hole
            // (cyclically, in `(hole, next]`).
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[next].take();
                hole = next;
            }
            next = (next + 1) & mask;
        }
        Some(removed)
    }

    /// Removes expired records among the next `SWEEP_STEP` slots (`all`: every slot),
    /// handing each to `removed`.
    pub(super) fn sweep(
        &mut self,
        now: u32,
        all: bool,
        hash_of: impl Fn(&SessionId) -> u64,
        mut removed: impl FnMut(Slot<T>),
    ) {
        let size = self.slots.len();
        if size == 0 {
            return;
        }
        loop {
            let steps = if all { size } else { SWEEP_STEP.min(size) };
            let mut i = self.sweep_at % size;
            let mut seen = 0;
            let mut removals = 0;
            while seen < steps {
                if self.slots[i]
                    .as_ref()
                    .is_some_and(|slot| slot.expired_at(now))
                {
                    // The shift may bring a later entry into `i`: look at `i` again.
                    if let Some(slot) = self.remove(i, &hash_of) {
                        removed(slot);
                        removals += 1;
                        continue;
                    }
                }
                i = (i + 1) % size;
                seen += 1;
            }
            self.sweep_at = i;
            // A shift across the end of the array can move an expired entry behind a full
            // sweep's start: sweep again until a pass removes nothing.
            if !all || removals == 0 {
                return;
            }
        }
    }

    /// The index of the record to evict among a sample of `EVICTION_SAMPLE` records from
    /// `start` on: the first expired one, else the least recently used; never `keep`.
    pub(super) fn victim(&self, start: u64, now: u32, keep: &SessionId) -> Option<usize> {
        let size = self.slots.len();
        let mut best: Option<(u32, usize)> = None;
        let mut seen = 0;
        let first = start as usize % size.max(1);
        for step in 0..size {
            let i = (first + step) % size;
            let Some(slot) = &self.slots[i] else { continue };
            if slot.id == *keep {
                continue;
            }
            if slot.expired_at(now) {
                return Some(i);
            }
            if best.is_none_or(|(used, _)| slot.used < used) {
                best = Some((slot.used, i));
            }
            seen += 1;
            if seen == EVICTION_SAMPLE {
                break;
            }
        }
        best.map(|(_, i)| i)
    }

    /// Every record, for `len` and the tests.
    pub(super) fn slots(&self) -> impl Iterator<Item = &Slot<T>> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A hash with a tiny range, so that every id collides with others.
    fn crowded(id: &SessionId) -> u64 {
        u64::from(id.as_bytes()[0] % 4)
    }

    fn slot(n: u8, expires_in: u64) -> Slot<u8> {
        let record = Record::new(n, SystemTime::now() + Duration::from_secs(expires_in));
        Slot::new(SessionId::generate().unwrap(), Arc::new(record), 0)
    }

    #[test]
    fn colliding_ids_are_found_and_removed_in_any_order() {
        let mut shard = Shard::default();
        let slots: Vec<Slot<u8>> = (0..40).map(|n| slot(n, 60)).collect();
        let ids: Vec<SessionId> = slots.iter().map(|s| s.id.clone()).collect();
        for slot in slots {
            shard.insert(crowded(&slot.id), slot, crowded);
        }
        assert_eq!(shard.len(), 40);
        for (n, id) in ids.iter().enumerate() {
            let at = shard.find(crowded(id), id).unwrap();
            assert_eq!(shard.get(at).unwrap().record.data, n as u8);
        }
        // Remove every third, then check the others are all still found.
        for id in ids.iter().step_by(3) {
            let at = shard.find(crowded(id), id).unwrap();
            assert!(shard.remove(at, crowded).is_some());
        }
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(shard.find(crowded(id), id).is_some(), n % 3 != 0, "id {n}");
        }
        assert_eq!(shard.len(), 26);
        assert_eq!(shard.slots().count(), 26);
    }

    #[test]
    fn a_full_sweep_removes_exactly_the_expired() {
        let mut shard = Shard::default();
        let now = secs(SystemTime::now(), false);
        let mut live = Vec::new();
        for n in 0..50 {
            // Every other record expired a minute ago.
            let mut slot = slot(n, 60);
            if n % 2 == 0 {
                slot.expires = now - 60;
            } else {
                live.push(slot.id.clone());
            }
            shard.insert(crowded(&slot.id), slot, crowded);
        }
        let mut removed = 0;
        shard.sweep(now, true, crowded, |_| removed += 1);
        assert_eq!(removed, 25);
        assert_eq!(shard.len(), 25);
        for id in &live {
            assert!(shard.find(crowded(id), id).is_some());
        }
    }

    #[test]
    fn the_victim_is_expired_first_else_least_recently_used() {
        let mut shard = Shard::default();
        let ids: Vec<SessionId> = (0..5)
            .map(|n| {
                let mut slot = slot(n, 60);
                slot.used = 100 + u32::from(n);
                let id = slot.id.clone();
                shard.insert(crowded(&id), slot, crowded);
                id
            })
            .collect();
        let at = |id: &SessionId| shard.find(crowded(id), id).unwrap();
        assert_eq!(shard.victim(0, 50, &ids[4]), Some(at(&ids[0])));
        // Kept even though least recently used.
        assert_eq!(shard.victim(0, 50, &ids[0]), Some(at(&ids[1])));
        let third = at(&ids[3]);
        shard.get_mut(third).unwrap().expires = 10;
        assert_eq!(shard.victim(0, 50, &ids[4]), Some(third));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert { expired: bool },
        Remove(usize),
        Sweep { all: bool },
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        prop_oneof![
            3 => any::<bool>().prop_map(|expired| Op::Insert { expired }),
            2 => any::<usize>().prop_map(Op::Remove),
            1 => any::<bool>().prop_map(|all| Op::Sweep { all }),
        ]
    }

    proptest::proptest! {
        /// Any sequence of inserts, removals and sweeps, with ids crowded onto few home
        /// slots: the shard holds exactly what a plain map would, and finds each record.
        #[test]
        fn the_shard_agrees_with_a_map(ops in proptest::collection::vec(op(), 1..300)) {
            let now = secs(SystemTime::now(), false);
            let mut shard: Shard<u8> = Shard::default();
            let mut model: std::collections::HashMap<[u8; 32], bool> = Default::default();
            let mut order: Vec<SessionId> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert { expired } => {
                        let mut slot = slot(0, 60);
                        if expired {
                            slot.expires = now - 1;
                        }
                        model.insert(*slot.id.as_bytes(), expired);
                        order.push(slot.id.clone());
                        shard.insert(crowded(&slot.id), slot, crowded);
                    }
                    Op::Remove(n) if !order.is_empty() => {
                        let id = order.swap_remove(n % order.len());
                        let at = shard.find(crowded(&id), &id);
                        proptest::prop_assert_eq!(at.is_some(), model.remove(id.as_bytes()).is_some());
                        if let Some(at) = at {
                            proptest::prop_assert!(shard.remove(at, crowded).is_some());
                        }
                    }
                    Op::Remove(_) => {}
                    Op::Sweep { all } => {
                        shard.sweep(now, all, crowded, |slot| {
                            model.remove(slot.id.as_bytes());
                        });
                        if all {
                            model.retain(|_, expired| !*expired);
                        }
                    }
                }
                proptest::prop_assert_eq!(shard.len(), model.len());
                proptest::prop_assert_eq!(shard.slots().count(), model.len());
                for id in &order {
                    let found = shard.find(crowded(id), id).is_some();
                    proptest::prop_assert_eq!(found, model.contains_key(id.as_bytes()));
                }
            }
        }
    }
}
