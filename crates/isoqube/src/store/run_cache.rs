//! A bounded map from run id to the last document a store wrote for that run,
//! shared by both stores' "skip the read before a conditional write" fast path.
//!
//! An entry is only ever a starting point for a write that is conditional on
//! the stored document still being this one; a stale entry costs a retry,
//! never a wrong outcome (see the `sqlite` and `mongo` module docs).

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

/// The last document written for each run in flight: at most `capacity`
/// entries, the least recently written dropped first; a finished run is
/// dropped rather than kept (no more transitions are expected for it).
#[derive(Debug)]
pub(crate) struct RunCache<V> {
    capacity: usize,
    /// Bumped on every insertion, so `order` is oldest first.
    stamp: u64,
    entries: HashMap<Uuid, (u64, V)>,
    order: BTreeMap<u64, Uuid>,
}

impl<V> RunCache<V> {
    /// An empty cache; capacity 0 turns it off.
    pub(crate) fn new(capacity: usize) -> Self {
        RunCache {
            capacity,
            stamp: 0,
            entries: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    /// Run `id`'s entry.
    pub(crate) fn get(&self, id: Uuid) -> Option<&V> {
        self.entries.get(&id).map(|(_, v)| v)
    }

    /// Run `id`'s entry, to change in place.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn get_mut(&mut self, id: Uuid) -> Option<&mut V> {
        self.entries.get_mut(&id).map(|(_, v)| v)
    }

    /// Forgets every entry (what they hold may not be what is stored).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
    }

    /// Takes run `id`'s entry out (the caller puts back what it writes).
    pub(crate) fn take(&mut self, id: Uuid) -> Option<V> {
        let (stamp, v) = self.entries.remove(&id)?;
        self.order.remove(&stamp);
        Some(v)
    }

    /// Keeps `v` as run `id`'s latest document, or drops the entry when the
    /// run is `finished`.
    pub(crate) fn put(&mut self, id: Uuid, v: V, finished: bool) {
        if finished || self.capacity == 0 {
            self.take(id);
            return;
        }
        self.stamp += 1;
        if let Some((old, _)) = self.entries.insert(id, (self.stamp, v)) {
            self.order.remove(&old);
        }
        self.order.insert(self.stamp, id);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// How many runs it holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_oldest_first_and_forgets_finished_runs() {
        let ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
        let mut cache = RunCache::new(3);
        for (i, id) in ids.iter().enumerate() {
            cache.put(*id, i, false);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(ids[0]).is_none(), "the oldest went first");
        // Writing an entry again makes it the newest.
        cache.put(ids[1], 10, false);
        cache.put(ids[0], 0, false);
        assert!(cache.get(ids[2]).is_none(), "ids[2] was the oldest");
        assert_eq!(cache.get(ids[1]), Some(&10));
        assert_eq!(cache.order.len(), cache.entries.len());
        // A finished run is dropped, not stored.
        cache.put(ids[1], 11, true);
        assert!(cache.get(ids[1]).is_none());
        assert_eq!(cache.order.len(), cache.entries.len());
        assert_eq!(cache.take(ids[3]), Some(3));
        assert_eq!(cache.take(ids[3]), None);
        assert_eq!(cache.len(), 1);
        // Capacity 0: off.
        let mut off = RunCache::new(0);
        off.put(ids[0], 0, false);
        assert_eq!(off.len(), 0);
    }
}
