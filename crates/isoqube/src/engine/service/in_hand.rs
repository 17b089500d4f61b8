//! Engine layer: the run steps an endpoint has in hand in this process, so a
//! second copy of a step's message delivered while the first is handled
//! waits until the first is settled, and its claim then sees the first's
//! outcome in the store. A first delivery's claim is decided without
//! recording its start (a quick step records start and outcome together), so
//! the store alone cannot tell the second copy that the first is running;
//! this can, for the copies that reach the same process. (The copy is not
//! dropped: when the first cannot record its outcome, its ack is lost with
//! its channel, and the copy is what is left of the step.) Uses `std` and
//! tokio's `Notify`.

use std::collections::HashSet;
use std::sync::Mutex;

use tokio::sync::Notify;
use uuid::Uuid;

/// A step of a run, or its compensation (`true`).
type StepOf = (Uuid, usize, bool);

/// The steps in hand.
#[derive(Default)]
pub(super) struct InHand {
    steps: Mutex<HashSet<StepOf>>,
    /// Told whenever a step is released.
    released: Notify,
}

/// A step held in hand until this is dropped.
pub(super) struct Held<'a> {
    in_hand: &'a InHand,
    step: StepOf,
}

impl InHand {
    /// Holds `step` (of `run`, its compensation when `compensation`), once
    /// no other delivery of it is in hand; says whether it had to wait.
    pub(super) async fn hold(
        &self,
        run: Uuid,
        step: usize,
        compensation: bool,
    ) -> (Held<'_>, bool) {
        let step = (run, step, compensation);
        let mut waited = false;
        loop {
            // Made before the check, so a release in between is not missed.
            let released = self.released.notified();
            if self.set().insert(step) {
                let held = Held {
                    in_hand: self,
                    step,
                };
                return (held, waited);
            }
            waited = true;
            released.await;
        }
    }

    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<StepOf>> {
        // Only inserts and removes happen under it: a panic cannot leave it
        // half-changed.
        self.steps.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.in_hand.set().remove(&self.step);
        self.in_hand.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_second_copy_waits_until_the_first_is_released() {
        let in_hand = InHand::default();
        let run = Uuid::new_v4();
        let (first, waited) = in_hand.hold(run, 1, false).await;
        assert!(!waited);
        let second = in_hand.hold(run, 1, false);
        tokio::pin!(second);
        assert!(
            (&mut second).now_or_never().is_none(),
            "the second copy of step 1 waits while the first is in hand"
        );
        // Other steps, and the step's undo, are not held up.
        let (undo, _) = in_hand.hold(run, 1, true).await;
        let (other, _) = in_hand.hold(run, 2, false).await;
        drop((undo, other));
        drop(first);
        let (_, waited) = second.await;
        assert!(waited);
    }
}
