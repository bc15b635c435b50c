//! Pausing, unpausing and resetting pending activities from outside the workflow
//! (`PauseActivity`, `UnpauseActivity`, `ResetActivity`), as the real server does.
//!
//! A paused activity that waits for a worker is not handed out; one that a worker runs
//! keeps running, and its heartbeats answer `activity_paused` (the SDK then cancels it with
//! "paused" details). If that attempt fails, the next attempt waits, paused, without a
//! backoff and whatever the maximum attempts. Unpausing dispatches it again (after a random
//! jitter, if asked). Resetting sets the attempt back to 1 and makes the running attempt's
//! heartbeats answer `activity_reset`; an activity not running starts again at once.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::failure::v1::Failure;

use super::{ActivityPhase, ActivityState};
use crate::{
    error::{EngineError, Result},
    history::{Effects, Execution, Registry, lifecycle::retry},
};

/// Who paused an activity, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pause {
    pub(crate) time_ms: i64,
    pub(crate) identity: String,
    pub(crate) reason: String,
    pub(crate) request_id: String,
}

/// Which pending activities a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    Id(String),
    Type(String),
    All,
}

/// What a heartbeat tells the worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeartbeatAnswer {
    pub(crate) cancel_requested: bool,
    pub(crate) paused: bool,
    pub(crate) reset: bool,
}

/// How an unpause or reset treats the activity.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Restart {
    pub(crate) reset_attempts: bool,
    pub(crate) reset_heartbeat: bool,
    /// Reset only: stay paused if paused.
    pub(crate) keep_paused: bool,
    /// Start within a random delay up to this long.
    pub(crate) jitter_ms: i64,
    /// Reset only: back to the options it was scheduled with.
    pub(crate) restore_options: bool,
}

fn activity_not_found() -> EngineError {
    EngineError::not_found(
        "Can't find pending activity with such ID. Invalid activityID or activity already completed",
    )
}

impl Execution {
    /// The scheduled event ids of the pending activities `target` names, or the real
    /// server's not-found error when it names none.
    pub(super) fn targets(&self, target: &Target) -> Result<Vec<i64>> {
        let ids: Vec<i64> = self
            .state
            .activities
            .values()
            .filter(|a| match target {
                Target::Id(id) => a.activity_id == *id,
                Target::Type(kind) => self
                    .activity_attributes(a.scheduled_event_id)
                    .and_then(|x| x.activity_type.as_ref())
                    .is_some_and(|t| t.name == *kind),
                Target::All => true,
            })
            .map(|a| a.scheduled_event_id)
            .collect();
        if ids.is_empty() {
            return Err(activity_not_found());
        }
        Ok(ids)
    }

    /// Puts a paused or reset activity that is not running back on its queue, now or
    /// within the jitter.
    fn restart(&mut self, scheduled_event_id: i64, jitter_ms: i64, now_ms: i64, fx: &mut Effects) {
        let Some(activity) = self.state.activities.get_mut(&scheduled_event_id) else {
            return;
        };
        if activity.phase == ActivityPhase::Started || activity.paused.is_some() {
            return;
        }
        let offset = if jitter_ms > 0 {
            let random = uuid::Uuid::new_v4().as_u128() % u128::from(jitter_ms.unsigned_abs());
            i64::try_from(random).unwrap_or(0)
        } else {
            0
        };
        activity.attempt_scheduled_time_ms = now_ms + offset;
        activity.phase = if offset > 0 {
            ActivityPhase::Backoff
        } else {
            ActivityPhase::Scheduled
        };
        let activity = activity.clone();
        self.dirty = true;
        self.arm_activity(&activity, fx);
    }

    /// A failed attempt of a paused activity (`None` when the activity is not paused or
    /// the failure is final): the next attempt waits, paused, as on the real server.
    pub(super) fn retry_paused(
        &mut self,
        scheduled_event_id: i64,
        failure: &Failure,
        retryable_failure: Option<&Failure>,
    ) -> Option<()> {
        let attributes = self.activity_attributes(scheduled_event_id)?;
        let activity = self.state.activities.get(&scheduled_event_id)?;
        activity.paused.as_ref()?;
        let types = activity.retry_policy(attributes).non_retryable_error_types;
        let activity = self.state.activities.get_mut(&scheduled_event_id)?;
        if !retryable_failure.is_none_or(|f| retry::is_retryable(f, &types)) {
            return None;
        }
        activity.attempt = activity.attempt.saturating_add(1);
        activity.phase = ActivityPhase::Scheduled;
        activity.started_time_ms = 0;
        activity.last_failure = Some(prost::Message::encode_to_vec(failure));
        self.dirty = true;
        Some(())
    }
}

impl ActivityState {
    /// Whether a worker may be handed this activity now.
    pub(crate) fn dispatchable(&self) -> bool {
        self.paused.is_none()
    }
}

impl Registry {
    /// `PauseActivity`. Pausing again under the same request id is accepted.
    pub(crate) fn pause_activities(
        &mut self,
        run_id: &str,
        target: &Target,
        pause: Pause,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        for id in exec.targets(target)? {
            let Some(activity) = exec.state.activities.get_mut(&id) else {
                continue;
            };
            match &activity.paused {
                Some(p) if p.request_id == pause.request_id => {}
                Some(_) => {
                    return Err(EngineError::FailedPrecondition(
                        "activity is already paused".to_owned(),
                    ));
                }
                None => activity.paused = Some(pause.clone()),
            }
        }
        exec.dirty = true;
        Ok(())
    }

    /// `UnpauseActivity`: activities that are not paused are left alone.
    pub(crate) fn unpause_activities(
        &mut self,
        run_id: &str,
        target: &Target,
        how: Restart,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        for id in exec.targets(target)? {
            let Some(activity) = exec.state.activities.get_mut(&id) else {
                continue;
            };
            if activity.paused.take().is_none() {
                continue;
            }
            if how.reset_attempts {
                activity.attempt = 1;
            }
            if how.reset_heartbeat {
                activity.heartbeat_details = None;
                activity.last_heartbeat_ms = 0;
            }
            exec.restart(id, how.jitter_ms, now_ms, fx);
        }
        exec.dirty = true;
        Ok(())
    }

    /// `ResetActivity`: back to attempt 1; a running attempt learns of it through its
    /// heartbeats, one not running starts again at once (unless it stays paused).
    pub(crate) fn reset_activities(
        &mut self,
        run_id: &str,
        target: &Target,
        how: Restart,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        for id in exec.targets(target)? {
            let original_queue = exec
                .activity_attributes(id)
                .and_then(|a| a.task_queue.as_ref())
                .map(|q| q.name.clone());
            let Some(activity) = exec.state.activities.get_mut(&id) else {
                continue;
            };
            activity.attempt = 1;
            activity.reset = true;
            if how.restore_options {
                activity.options = None;
                if let Some(queue) = original_queue {
                    activity.task_queue = queue;
                }
            }
            if !how.keep_paused {
                activity.paused = None;
            }
            if how.reset_heartbeat && activity.phase != ActivityPhase::Started {
                activity.heartbeat_details = None;
                activity.last_heartbeat_ms = 0;
            }
            exec.restart(id, how.jitter_ms, now_ms, fx);
        }
        exec.dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{ScheduleActivityTaskCommandAttributes, command::Attributes as C},
        common::v1::ActivityType,
    };

    use super::*;
    use crate::history::{
        ActivityRef,
        testing::{self, NOW},
    };

    /// A run with one activity "a" scheduled: (registry, run id, scheduled event id).
    fn scheduled() -> (Registry, String, i64) {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "paused");
        let command = ScheduleActivityTaskCommandAttributes {
            activity_id: "a".into(),
            activity_type: Some(ActivityType { name: "Act".into() }),
            start_to_close_timeout: Some(crate::time::duration(60_000)),
            ..Default::default()
        };
        testing::decide(
            &mut registry,
            &run_id,
            vec![C::ScheduleActivityTaskCommandAttributes(command)],
        );
        let id = registry
            .run(&run_id)
            .ok()
            .and_then(|e| e.state.activities.keys().next().copied())
            .unwrap_or_else(|| panic!("no activity"));
        (registry, run_id, id)
    }

    fn pause(request_id: &str) -> Pause {
        Pause {
            time_ms: NOW,
            identity: "op".into(),
            reason: "why".into(),
            request_id: request_id.into(),
        }
    }

    fn state(registry: &Registry, run_id: &str, id: i64) -> (ActivityPhase, i32, bool) {
        let a = registry
            .run(run_id)
            .ok()
            .and_then(|e| e.state.activities.get(&id))
            .unwrap_or_else(|| panic!("activity gone"));
        (a.phase, a.attempt, a.paused.is_some())
    }

    /// Whether attempt `attempt` of activity `id` is handed to a worker now.
    fn hands_out(
        registry: &mut Registry,
        run_id: &str,
        id: i64,
        attempt: i32,
        fx: &mut Effects,
    ) -> bool {
        registry
            .start_activity(run_id, id, attempt, "w", NOW, fx)
            .is_some()
    }

    fn heartbeat(
        registry: &mut Registry,
        r: &ActivityRef<'_>,
        fx: &mut Effects,
    ) -> HeartbeatAnswer {
        registry
            .heartbeat_activity(r, None, NOW, fx)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_paused_attempt_fails_into_a_paused_wait_until_unpaused() {
        let (mut registry, run_id, id) = scheduled();
        let mut fx = Effects::default();
        assert!(hands_out(&mut registry, &run_id, id, 1, &mut fx));
        let target = Target::Id("a".into());
        registry
            .pause_activities(&run_id, &target, pause("p1"))
            .unwrap_or_else(|e| panic!("{e}"));
        registry
            .pause_activities(&run_id, &target, pause("p1"))
            .unwrap_or_else(|e| panic!("the same request again: {e}"));
        let again = registry.pause_activities(&run_id, &target, pause("p2"));
        assert!(
            matches!(again, Err(EngineError::FailedPrecondition(_))),
            "{again:?}"
        );
        let missing =
            registry.pause_activities(&run_id, &Target::Type("Other".into()), pause("p3"));
        assert!(
            matches!(missing, Err(EngineError::NotFound(_))),
            "{missing:?}"
        );

        let r = testing::attempt(&run_id, id, 1);
        let answer = heartbeat(&mut registry, &r, &mut fx);
        assert!(answer.paused && !answer.reset);
        registry
            .fail_activity(&r, Failure::default(), None, "w", NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            state(&registry, &run_id, id),
            (ActivityPhase::Scheduled, 2, true)
        );
        assert!(
            !hands_out(&mut registry, &run_id, id, 2, &mut fx),
            "a paused activity is not handed out"
        );

        let mut fx = Effects::default();
        registry
            .unpause_activities(&run_id, &Target::All, Restart::default(), NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(testing::dispatched(&fx).len(), 1, "dispatched again");
        assert!(hands_out(&mut registry, &run_id, id, 2, &mut fx));
    }

    #[test]
    fn a_reset_goes_back_to_attempt_one_and_tells_the_running_attempt() {
        let (mut registry, run_id, id) = scheduled();
        let mut fx = Effects::default();
        assert!(hands_out(&mut registry, &run_id, id, 1, &mut fx));
        registry
            .reset_activities(&run_id, &Target::All, Restart::default(), NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = testing::attempt(&run_id, id, 1);
        let answer = heartbeat(&mut registry, &r, &mut fx);
        assert!(answer.reset && !answer.paused);

        // Paused and waiting: a reset that keeps it paused leaves it waiting at attempt 1.
        registry
            .fail_activity(&r, Failure::default(), None, "w", NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        registry
            .pause_activities(&run_id, &Target::All, pause("p"))
            .unwrap_or_else(|e| panic!("{e}"));
        let keep = Restart {
            keep_paused: true,
            ..Restart::default()
        };
        let mut fx = Effects::default();
        registry
            .reset_activities(&run_id, &Target::All, keep, NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        let (_, attempt, paused) = state(&registry, &run_id, id);
        assert!(attempt == 1 && paused, "attempt {attempt}, paused {paused}");
        assert!(testing::dispatched(&fx).is_empty());

        // Restoring the original options drops updated ones.
        if let Some(a) = registry
            .touch(&run_id)
            .and_then(|e| e.state.activities.get_mut(&id))
        {
            a.options = Some(super::super::Options::default());
            a.task_queue = "elsewhere".into();
        }
        let restore = Restart {
            restore_options: true,
            keep_paused: true,
            ..Restart::default()
        };
        registry
            .reset_activities(&run_id, &Target::All, restore, NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        let a = registry
            .run(&run_id)
            .ok()
            .and_then(|e| e.state.activities.get(&id));
        assert!(
            a.is_some_and(|a| a.options.is_none() && a.task_queue == "q"),
            "{a:?}"
        );
    }
}
