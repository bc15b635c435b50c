//! The engine's clock: wall time plus an offset, one for the whole server. Every operation
//! reads the time here, so event timestamps, timer deadlines and `GetCurrentTime` agree.
//!
//! With time skipping on (the test server), the clock jumps to the next deadline whenever
//! nothing holds it: no client lock (`LockTimeSkipping`) and no pending work (the runtime
//! checks that, see `EngineRuntime::skip_idle_time`). While anything holds it, time runs at wall
//! pace. The offset only grows, and is persisted with the next batch after a jump, so a
//! restarted engine on the same database carries on from the virtual time it had reached.
//!
//! Sleepers (`Sleep`, `SleepUntil`, `UnlockTimeSkippingWithSleep`) are deadlines like timers,
//! but live in memory only: they belong to one request.

use std::{collections::BTreeMap, sync::Mutex};

use tokio::sync::{Notify, oneshot};

use crate::time::now_ms as wall_ms;

/// Whether and how the engine skips time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimeSkipping {
    /// Time runs at wall pace (a normal server). The test service still answers: locks are
    /// counted and sleeps wait in real time.
    #[default]
    Off,
    /// Time skipping, starting with one lock held (the Java test server without
    /// `--enable-time-skipping`): a client unlocks it to let time jump, as the SDKs'
    /// time-skipping environments do while they wait for a result.
    Locked,
    /// Time skipping, starting unlocked (`--enable-time-skipping`).
    Unlocked,
}

/// Why a clock call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClockError {
    /// An unlock without a matching lock.
    #[error(
        "Unbalanced lock and unlock calls: time skipping is not locked (lock count 0); call LockTimeSkipping before UnlockTimeSkipping or UnlockTimeSkippingWithSleep"
    )]
    Unbalanced,
}

/// A request waiting for the clock to reach a deadline.
#[derive(Debug)]
struct Sleeper {
    wake: oneshot::Sender<()>,
    /// Take a lock when it wakes (`UnlockTimeSkippingWithSleep`), before time moves on.
    relock: bool,
}

#[derive(Debug, Default)]
struct State {
    offset_ms: i64,
    /// The offset changed since it was last persisted.
    offset_dirty: bool,
    /// Client locks (`LockTimeSkipping` minus `UnlockTimeSkipping`).
    locks: u32,
    /// Sleepers by (deadline, sequence number).
    sleepers: BTreeMap<(i64, u64), Sleeper>,
    next_sleeper: u64,
}

/// The server's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    skipping: bool,
    state: Mutex<State>,
    /// Poked when something may let time jump or a sleeper was added.
    pub(crate) changed: Notify,
}

/// The settings key the offset is persisted under.
pub(crate) const OFFSET_SETTING: &str = "clock_offset_ms";

impl Clock {
    /// A clock `offset_ms` ahead of wall time (what a restarted engine had reached).
    pub(crate) fn new(mode: TimeSkipping, offset_ms: i64) -> Self {
        Self {
            skipping: mode != TimeSkipping::Off,
            state: Mutex::new(State {
                offset_ms: offset_ms.max(0),
                locks: u32::from(mode == TimeSkipping::Locked),
                ..State::default()
            }),
            changed: Notify::new(),
        }
    }

    /// The current time, in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        wall_ms().saturating_add(self.lock().offset_ms)
    }

    /// The offset to persist, if it changed since the last call.
    pub(crate) fn take_dirty_offset(&self) -> Option<i64> {
        let mut state = self.lock();
        std::mem::take(&mut state.offset_dirty).then_some(state.offset_ms)
    }

    /// `LockTimeSkipping`.
    pub(crate) fn lock_skipping(&self) {
        let mut state = self.lock();
        state.locks = state.locks.saturating_add(1);
    }

    /// `UnlockTimeSkipping`.
    pub(crate) fn unlock_skipping(&self) -> Result<(), ClockError> {
        {
            let mut state = self.lock();
            state.locks = state.locks.checked_sub(1).ok_or(ClockError::Unbalanced)?;
        }
        self.changed.notify_one();
        Ok(())
    }

    /// Resolves once the clock reaches `at_ms` (at once if it has). With `unlock`, releases a
    /// lock now and takes it back when the deadline is reached
    /// (`UnlockTimeSkippingWithSleep`); refused like an unbalanced unlock when none is held.
    pub(crate) fn sleep_until(
        &self,
        at_ms: i64,
        unlock: bool,
    ) -> Result<oneshot::Receiver<()>, ClockError> {
        let (wake, woken) = oneshot::channel();
        {
            let mut state = self.lock();
            if unlock {
                state.locks = state.locks.checked_sub(1).ok_or(ClockError::Unbalanced)?;
            }
            let seq = state.next_sleeper;
            state.next_sleeper += 1;
            state.sleepers.insert(
                (at_ms, seq),
                Sleeper {
                    wake,
                    relock: unlock,
                },
            );
        }
        self.changed.notify_one();
        Ok(woken)
    }

    /// Wakes the sleepers whose deadline `now_ms` has reached; returns how many.
    pub(crate) fn wake_due(&self, now_ms: i64) -> usize {
        let mut state = self.lock();
        let mut woken = 0;
        while let Some(entry) = state.sleepers.first_entry() {
            if entry.key().0 > now_ms {
                break;
            }
            let sleeper = entry.remove();
            if sleeper.relock {
                state.locks = state.locks.saturating_add(1);
            }
            // A caller that went away just is not told.
            let _ = sleeper.wake.send(());
            woken += 1;
        }
        woken
    }

    /// The earliest sleeper's deadline.
    pub(crate) fn next_sleeper(&self) -> Option<i64> {
        self.lock().sleepers.keys().next().map(|(at, _)| *at)
    }

    /// Wakes the time skipper after work may have finished (free without time skipping).
    pub(crate) fn poke(&self) {
        if self.skipping {
            self.changed.notify_one();
        }
    }

    /// Whether time may jump now as far as the clock knows: skipping is on and no client
    /// holds a lock. (The runtime also checks for pending work.)
    pub(crate) fn unlocked(&self) -> bool {
        self.skipping && self.lock().locks == 0
    }

    /// Moves the clock forward to `target_ms`; never backwards.
    pub(crate) fn jump_to(&self, target_ms: i64) -> bool {
        let mut state = self.lock();
        let now = wall_ms().saturating_add(state.offset_ms);
        if target_ms <= now {
            return false;
        }
        state.offset_ms = state.offset_ms.saturating_add(target_ms - now);
        state.offset_dirty = true;
        tracing::debug!(
            to_ms = target_ms,
            skipped_ms = target_ms - now,
            "time skipped"
        );
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    #[test]
    fn locked_clock_runs_at_wall_pace_and_unbalanced_unlock_is_refused() {
        let clock = Clock::new(TimeSkipping::Locked, 0);
        assert!(!clock.unlocked());
        let before = clock.now_ms();
        assert!((before - wall_ms()).abs() < 1000);
        assert_eq!(clock.unlock_skipping(), Ok(()));
        assert!(clock.unlocked());
        assert_eq!(clock.unlock_skipping(), Err(ClockError::Unbalanced));
        clock.lock_skipping();
        assert!(!clock.unlocked());
    }

    #[test]
    fn jumps_only_forward_and_marks_the_offset_for_persisting() {
        let clock = Clock::new(TimeSkipping::Unlocked, 0);
        let now = clock.now_ms();
        assert!(!clock.jump_to(now - DAY_MS));
        assert_eq!(clock.take_dirty_offset(), None);
        assert!(clock.jump_to(now + 30 * DAY_MS));
        assert!(clock.now_ms() >= now + 30 * DAY_MS);
        let offset = clock.take_dirty_offset().unwrap_or_default();
        assert!(offset >= 30 * DAY_MS - 1000, "{offset}");
        assert_eq!(clock.take_dirty_offset(), None);
        // A restart with the persisted offset is as far ahead.
        let restarted = Clock::new(TimeSkipping::Unlocked, offset);
        assert!(restarted.now_ms() >= now + 30 * DAY_MS - 1000);
    }

    #[test]
    fn sleepers_wake_in_deadline_order_and_relock() {
        let clock = Clock::new(TimeSkipping::Locked, 0);
        let now = clock.now_ms();
        let mut late = clock
            .sleep_until(now + 2 * DAY_MS, false)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut early = clock
            .sleep_until(now + DAY_MS, true)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(clock.unlocked(), "the sleep released the only lock");
        assert_eq!(
            clock.sleep_until(now, true).map(|_| ()),
            Err(ClockError::Unbalanced)
        );
        assert_eq!(clock.next_sleeper(), Some(now + DAY_MS));
        assert_eq!(clock.wake_due(now + DAY_MS), 1);
        assert!(early.try_recv().is_ok());
        assert!(late.try_recv().is_err());
        assert!(!clock.unlocked(), "waking took the lock back");
        assert_eq!(clock.wake_due(now + 3 * DAY_MS), 1);
        assert!(late.try_recv().is_ok());
        assert_eq!(clock.next_sleeper(), None);
    }

    #[test]
    fn off_never_unlocks() {
        let clock = Clock::new(TimeSkipping::Off, 0);
        assert!(!clock.unlocked());
        assert_eq!(clock.unlock_skipping(), Err(ClockError::Unbalanced));
    }
}
