//! The memory store's tag index: tag -> the records carrying it, for
//! [`SessionStore::delete_tagged`](crate::SessionStore::delete_tagged) and its kin.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::BuildHasher as _;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Tag -> the records carrying it, as their ids' hashes in the table (the hash that places a
/// record, from which the table finds it again).
///
/// Both sides are 64-bit hashes, not text or ids: the tag by a keyed hash of its text
/// (SipHash with a random key per store), the record by its id's keyed hash. The store checks
/// each candidate record's own tags, so a collision on either side costs a look at one more
/// record, never a wrong answer. Each (record, distinct tag) pair is one entry of a multiset:
/// two records whose ids share a hash are counted twice, and removing one leaves the other.
/// A tag names one session most of the time (a provider session, a user): that hash is kept
/// inline. About 40 bytes per tag; keeping the ids themselves cost about 110.
#[derive(Default)]
pub(super) struct TagIndex {
    hasher: RandomState,
    map: Mutex<HashMap<u64, Holders>>,
}

/// The id hashes of the records carrying one tag, with repeats.
pub(super) enum Holders {
    One(u64),
    Many(Box<[u64]>),
}

/// `tags` without repeats (a record lists a tag once in the index, however often it has it).
pub(super) fn distinct(tags: &[String]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::with_capacity(tags.len());
    for tag in tags {
        if !seen.contains(&tag.as_str()) {
            seen.push(tag);
        }
    }
    seen
}

impl TagIndex {
    pub(super) fn map(&self) -> MutexGuard<'_, HashMap<u64, Holders>> {
        // The map stays consistent even if a holder panicked (every update is one call).
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn key(&self, tag: &str) -> u64 {
        self.hasher.hash_one(tag)
    }

    /// Records that the record whose id hashes to `id` carries each of `tags` (distinct, and
    /// not recorded for it before).
    pub(super) fn add(&self, id: u64, tags: &[&str]) {
        if tags.is_empty() {
            return;
        }
        let keys: Vec<u64> = tags.iter().map(|tag| self.key(tag)).collect();
        let mut map = self.map();
        for key in keys {
            match map.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(Holders::One(id));
                }
                Entry::Occupied(mut occupied) => {
                    let holders = occupied.get_mut();
                    let mut all = match holders {
                        Holders::One(one) => vec![*one],
                        Holders::Many(many) => many.to_vec(),
                    };
                    all.push(id);
                    *holders = Holders::Many(all.into_boxed_slice());
                }
            }
        }
    }

    /// Undoes one [`TagIndex::add`] of each of `tags` for the record whose id hashes to `id`.
    pub(super) fn remove(&self, id: u64, tags: &[&str]) {
        if tags.is_empty() {
            return;
        }
        let keys: Vec<u64> = tags.iter().map(|tag| self.key(tag)).collect();
        let mut map = self.map();
        for key in keys {
            let Entry::Occupied(mut occupied) = map.entry(key) else {
                continue;
            };
            match occupied.get_mut() {
                Holders::One(one) if *one == id => {
                    occupied.remove();
                }
                Holders::One(_) => {}
                Holders::Many(many) => {
                    let mut rest = many.to_vec();
                    if let Some(at) = rest.iter().position(|held| *held == id) {
                        rest.swap_remove(at);
                    }
                    match rest[..] {
                        [] => {
                            occupied.remove();
                        }
                        [last] => {
                            occupied.insert(Holders::One(last));
                        }
                        _ => *many = rest.into_boxed_slice(),
                    }
                }
            }
        }
    }

    /// The id hashes of the records that may carry `tag`, each once.
    pub(super) fn holders(&self, tag: &str) -> Vec<u64> {
        let key = self.key(tag);
        let mut found = match self.map().get(&key) {
            Some(Holders::One(one)) => vec![*one],
            Some(Holders::Many(many)) => many.to_vec(),
            None => Vec::new(),
        };
        found.sort_unstable();
        found.dedup();
        found
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_inline_many_in_a_slice_repeats_counted() {
        let index = TagIndex::default();
        let tag = ["sub x"];
        index.add(1, &tag);
        index.add(2, &tag);
        // Another record whose id hashes like the first.
        index.add(1, &tag);
        assert_eq!(index.holders("sub x"), [1, 2]);
        index.remove(1, &tag);
        assert_eq!(
            index.holders("sub x"),
            [1, 2],
            "the other record hashing to 1 stays"
        );
        index.remove(2, &tag);
        assert!(matches!(
            index.map().get(&index.key("sub x")),
            Some(Holders::One(1))
        ));
        // Removing what is not there changes nothing.
        index.remove(7, &tag);
        assert_eq!(index.holders("sub x"), [1]);
        index.remove(1, &tag);
        assert!(index.holders("sub x").is_empty() && index.map().is_empty());
    }

    #[test]
    fn distinct_drops_repeats() {
        let tags = ["a".to_owned(), "b".to_owned(), "a".to_owned()];
        assert_eq!(distinct(&tags), ["a", "b"]);
    }
}
