//! Durable timers ordered by deadline, fired by one background task on the runtime's
//! [`Clock`](super::Clock). Firing a timer is an ordinary operation on the registry, which
//! ignores timers that no longer apply.

use std::{
    collections::BTreeSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::Notify;

use super::EngineRuntime;
use crate::history::TimerKey;

/// Pending timers, earliest first.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    pending: Mutex<BTreeSet<(i64, TimerKey)>>,
    armed: Notify,
}

impl Timers {
    pub(crate) fn arm(&self, at_ms: i64, timer: TimerKey) {
        let earliest = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.insert((at_ms, timer));
            pending.first().is_some_and(|(first, _)| *first == at_ms)
        };
        if earliest {
            self.armed.notify_one();
        }
    }

    /// The earliest deadline of a timer that `live` says still applies.
    pub(super) fn next_live(&self, live: impl Fn(&TimerKey) -> bool) -> Option<i64> {
        let pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending
            .iter()
            .find(|(_, timer)| live(timer))
            .map(|(at, _)| *at)
    }

    /// Removes and returns the timers due at `now_ms`, or the next deadline.
    fn take_due(&self, now_ms: i64) -> Result<Vec<TimerKey>, Option<i64>> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let mut due = Vec::new();
        while let Some((at, _)) = pending.first() {
            if *at > now_ms {
                break;
            }
            if let Some((_, timer)) = pending.pop_first() {
                due.push(timer);
            }
        }
        if due.is_empty() {
            Err(pending.first().map(|(at, _)| *at))
        } else {
            Ok(due)
        }
    }
}

/// How often a time skipper that waits for pending work looks again, besides being poked
/// (a query answered does not go through an operation).
const SKIP_RECHECK: Duration = Duration::from_millis(20);

/// Fires timers and wakes sleepers until shutdown; with time skipping, jumps the clock to
/// the next deadline whenever nothing holds it.
pub(super) async fn drive(runtime: Arc<EngineRuntime>) {
    let clock = &runtime.clock;
    loop {
        let now = clock.now_ms();
        clock.wake_due(now);
        match runtime.timers.take_due(now) {
            Ok(due) => {
                let fired = runtime
                    .execute(|registry, now, fx| {
                        for timer in due {
                            registry.on_timer(timer, now, fx);
                        }
                        Ok(())
                    })
                    .await;
                if let Err(e) = fired {
                    tracing::error!("firing timers failed: {e}");
                }
            }
            Err(next_timer) => {
                let next = match (next_timer, clock.next_sleeper()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let unlocked = clock.unlocked();
                if next.is_some() && unlocked && runtime.skip_idle_time() {
                    // Durable before anyone hears of the new time (a sleeper, a timer).
                    if let Err(e) = runtime.execute(|_, _, _| Ok(())).await {
                        tracing::error!("persisting the clock failed: {e}");
                    }
                    continue;
                }
                let mut wait = next.map_or(Duration::from_secs(3600), |at| {
                    Duration::from_millis(u64::try_from(at - clock.now_ms()).unwrap_or(0))
                });
                if unlocked && next.is_some() {
                    wait = wait.min(SKIP_RECHECK);
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = runtime.timers.armed.notified() => {}
                    () = clock.changed.notified() => {}
                    () = runtime.shutting_down() => return,
                }
            }
        }
    }
}
