//! The memory store's tag index: tag -> ids of the records carrying it, for
//! [`SessionStore::delete_tagged`](crate::SessionStore::delete_tagged) and its kin.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher as _;
use std::sync::{Mutex, PoisonError};

use crate::SessionId;

/// Tag -> ids of the records carrying it, for [`MemoryStore::delete_tagged`].
///
/// Keyed by a keyed hash of the tag (SipHash with a random key per store), not its text: the
/// text is in the record already, and `delete_tagged` checks each candidate record's own tags,
/// so a collision costs a look at one more record, never a wrong delete. A tag (a provider
/// session, a user) names one session most of the time: that id is kept inline. About 70
/// bytes per tag instead of about 300.
#[derive(Default)]
pub(super) struct TagIndex {
    hasher: RandomState,
    map: Mutex<HashMap<u64, Ids>>,
}

pub(super) enum Ids {
    One(SessionId),
    Many(HashSet<SessionId>),
}

impl TagIndex {
    pub(super) fn map(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Ids>> {
        // The map stays consistent even if a holder panicked (every update is one call).
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn key(&self, tag: &str) -> u64 {
        self.hasher.hash_one(tag)
    }

    pub(super) fn add(&self, id: &SessionId, tags: &[String]) {
        if tags.is_empty() {
            return;
        }
        let keys: Vec<u64> = tags.iter().map(|tag| self.key(tag)).collect();
        let mut map = self.map();
        for key in keys {
            match map.entry(key) {
                Entry::Vacant(vacant) => {
                    vacant.insert(Ids::One(id.clone()));
                }
                Entry::Occupied(mut occupied) => match occupied.get_mut() {
                    Ids::One(one) if one == id => {}
                    Ids::One(one) => {
                        let many = HashSet::from([one.clone(), id.clone()]);
                        occupied.insert(Ids::Many(many));
                    }
                    Ids::Many(many) => {
                        many.insert(id.clone());
                    }
                },
            }
        }
    }

    pub(super) fn remove(&self, id: &SessionId, tags: &[String]) {
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
                Ids::One(one) if one == id => {
                    occupied.remove();
                }
                Ids::One(_) => {}
                Ids::Many(many) => {
                    many.remove(id);
                    if many.len() <= 1 {
                        match many.iter().next().cloned() {
                            Some(last) => {
                                occupied.insert(Ids::One(last));
                            }
                            None => {
                                occupied.remove();
                            }
                        }
                    }
                }
            }
        }
    }

    pub(super) fn ids(&self, tag: &str) -> Vec<SessionId> {
        let key = self.key(tag);
        match self.map().get(&key) {
            Some(Ids::One(one)) => vec![one.clone()],
            Some(Ids::Many(many)) => many.iter().cloned().collect(),
            None => Vec::new(),
        }
    }
}


#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_index_keeps_one_id_inline_and_many_in_a_set() {
        let index = TagIndex::default();
        let ids: Vec<SessionId> = (0..3).map(|_| SessionId::generate().unwrap()).collect();
        let tag = ["sub x".to_owned()];
        for id in &ids {
            index.add(id, &tag);
            index.add(id, &tag);
        }
        let mut found = index.ids("sub x");
        found.sort_by_key(SessionId::encode);
        let mut expected = ids.clone();
        expected.sort_by_key(SessionId::encode);
        assert_eq!(found, expected);
        index.remove(&ids[0], &tag);
        index.remove(&ids[1], &tag);
        assert!(
            matches!(index.map().get(&index.key("sub x")), Some(Ids::One(one)) if *one == ids[2])
        );
        index.remove(&ids[0], &tag);
        assert_eq!(index.ids("sub x"), [ids[2].clone()]);
        index.remove(&ids[2], &tag);
        assert!(index.ids("sub x").is_empty() && index.map().is_empty());
    }
}
