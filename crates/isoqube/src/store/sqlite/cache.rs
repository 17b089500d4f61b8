//! The run cache of one store: the runs as this store last wrote or read
//! them, kept by the store thread and read by the store's handles, and the
//! rule for when a cached run is the stored one.
//!
//! May use: the model's run rules, the shared bounded run cache, `std`'s mutex.
//!
//! # When a cached run is the stored one
//!
//! Another connection (another process, or another store handle on the file)
//! may commit between two of this store's groups; `PRAGMA data_version`, read
//! when a group begins, says whether one did. Every entry carries the *epoch*
//! in which it was last known to be the stored run, and the epoch moves on
//! when a group finds that another connection committed: an entry of an older
//! epoch may be stale until a read of its row's `rev` (or a write conditional
//! on it) shows it is not.
//!
//! While a group is open no other connection can commit (it holds the write
//! lock, `BEGIN IMMEDIATE`), so an entry of the current epoch that the open
//! group did not write is the committed run. A handle may then decide a
//! first delivery's claim on it without sending the store thread a job (see
//! [`SharedRuns::vouched_claim`]): a quick step costs one hand-off to the
//! store thread, its outcome, instead of two.

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use uuid::Uuid;

use crate::model::{ClaimOutcome, KeptSteps, Run, StepKey};
use crate::store::run_cache::RunCache;

/// Runs whose last document the store keeps (see the module docs), at most.
pub const RUN_CACHE_CAPACITY: usize = 2048;

/// A run as this store last wrote it (its `version` is the row's `rev`) and
/// the JSON of each of its steps (empty when the run was read, not written): a
/// transition serialises again only the steps it changed.
pub(super) struct CachedRun {
    pub(super) run: Run,
    pub(super) steps: KeptSteps,
    /// The epoch in which this was last known to be the stored run.
    pub(super) epoch: u64,
}

/// The cache and what says which of its entries are the stored runs.
pub(super) struct Runs {
    cache: RunCache<CachedRun>,
    /// Moves on when a group finds that another connection committed.
    epoch: u64,
    /// A group is open (between its `BEGIN IMMEDIATE` and its `COMMIT`).
    open: bool,
    /// Runs the open group wrote: not committed yet.
    written: HashSet<Uuid>,
}

/// [`Runs`], shared by the store thread and the store's handles.
pub(super) struct SharedRuns(Mutex<Runs>);

impl SharedRuns {
    pub(super) fn new() -> Self {
        SharedRuns(Mutex::new(Runs {
            cache: RunCache::new(RUN_CACHE_CAPACITY),
            epoch: 0,
            open: false,
            written: HashSet::new(),
        }))
    }

    /// The cache, for the store thread (a panic elsewhere while it was held
    /// leaves entries that are checked before use like any other).
    pub(super) fn lock(&self) -> MutexGuard<'_, Runs> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a first delivery's claim of `key` answers, decided on the cached
    /// run without the store thread, when that is the committed run and the
    /// consumer may run (`Claimed`); `None` when the store thread must decide
    /// (no group open, the entry is of an older epoch or written by the open
    /// group, or the claim would not let the consumer run: those outcomes
    /// are recorded).
    pub(super) fn vouched_claim(&self, key: &StepKey) -> Option<ClaimOutcome> {
        let runs = self.lock();
        if !runs.open || runs.written.contains(&key.run_id) {
            return None;
        }
        let cached = runs.cache.get(key.run_id)?;
        if cached.epoch != runs.epoch {
            return None;
        }
        cached.run.peek_claim(key, false).ok().flatten()
    }
}

impl Runs {
    /// A group began; `alone` says no other connection committed since the
    /// previous one began.
    pub(super) fn opened(&mut self, alone: bool) {
        if !alone {
            self.epoch += 1;
        }
        self.written.clear();
        self.open = true;
    }

    /// The group is about to commit or roll back: its writes are no longer
    /// the open group's, and another connection may commit once it ends.
    pub(super) fn closing(&mut self) {
        self.open = false;
        self.written.clear();
    }

    /// Forgets every entry (what they hold may not be what is stored).
    pub(super) fn clear(&mut self) {
        self.cache.clear();
        self.written.clear();
    }

    /// Run `id`'s entry when it is known to be the stored run.
    pub(super) fn current(&self, id: Uuid) -> Option<&CachedRun> {
        self.cache.get(id).filter(|c| c.epoch == self.epoch)
    }

    /// Run `id`'s entry, whatever its epoch.
    pub(super) fn get(&self, id: Uuid) -> Option<&CachedRun> {
        self.cache.get(id)
    }

    /// Run `id`'s entry was found to be the stored run.
    pub(super) fn confirm(&mut self, id: Uuid) {
        let epoch = self.epoch;
        if let Some(c) = self.cache.get_mut(id) {
            c.epoch = epoch;
        }
    }

    /// Takes run `id`'s entry out (the caller puts back what it writes).
    pub(super) fn take(&mut self, id: Uuid) -> Option<CachedRun> {
        self.cache.take(id)
    }

    /// Keeps `run` as read from its row (the stored run).
    pub(super) fn read(&mut self, run: Run, steps: KeptSteps) {
        self.keep(run, steps);
    }

    /// Keeps `run` as the open group wrote it.
    pub(super) fn wrote(&mut self, run: Run, steps: KeptSteps) {
        self.written.insert(run.id);
        self.keep(run, steps);
    }

    fn keep(&mut self, run: Run, steps: KeptSteps) {
        let (id, finished, epoch) = (run.id, run.status.is_finished(), self.epoch);
        let cached = CachedRun { run, steps, epoch };
        self.cache.put(id, cached, finished);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Definition, Variables};

    fn claimable(shared: &SharedRuns, key: &StepKey) -> bool {
        matches!(
            shared.vouched_claim(key),
            Some(ClaimOutcome::Claimed { .. })
        )
    }

    /// A handle decides a claim on a cached run only while a group is open,
    /// the run is of the current epoch and the open group did not write it.
    #[test]
    fn a_cached_run_vouches_for_a_claim_only_when_it_is_the_committed_one() {
        let def = Definition::new("d", ["A", "B"]);
        let run = Run::new(&def, Variables::new(), "test");
        let key = StepKey::new(run.id, 0, "a", "host");
        let shared = SharedRuns::new();
        shared.lock().opened(true);
        shared.lock().wrote(run.clone(), KeptSteps::default());
        assert!(!claimable(&shared, &key), "written by the open group");
        shared.lock().closing();
        assert!(!claimable(&shared, &key), "no group open");
        shared.lock().opened(true);
        assert!(claimable(&shared, &key), "committed, same epoch");
        shared.lock().closing();
        shared.lock().opened(false);
        assert!(!claimable(&shared, &key), "another connection committed");
        shared.lock().confirm(run.id);
        assert!(claimable(&shared, &key), "checked against the row again");
        shared.lock().read(run, KeptSteps::default());
        assert!(claimable(&shared, &key), "read in this epoch");
        shared.lock().clear();
        assert!(!claimable(&shared, &key), "forgotten");
    }
}
