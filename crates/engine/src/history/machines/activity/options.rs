//! `UpdateActivityOptions`: a pending activity's task queue, timeouts, retry policy and
//! priority changed from outside, as the real server does: the fields the update mask names
//! are merged into the current options, checked and filled like a schedule command's, and
//! from then on used instead of the `ActivityTaskScheduled` event's (until restored).

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    activity::v1::ActivityOptions,
    command::v1::ScheduleActivityTaskCommandAttributes,
    common::v1::{Priority, RetryPolicy},
    history::v1::ActivityTaskScheduledEventAttributes,
};

use super::{ActivityState, Target, timeouts::Timeouts};
use crate::{
    error::{EngineError, Result},
    history::{Effects, Registry, lifecycle::retry, machines::workflow_task::normal_queue},
    time::{duration, duration_ms},
};

/// Options that replace the scheduled event's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Options {
    pub(crate) schedule_to_close_ms: Option<i64>,
    pub(crate) schedule_to_start_ms: Option<i64>,
    pub(crate) start_to_close_ms: Option<i64>,
    pub(crate) heartbeat_ms: Option<i64>,
    pub(crate) initial_interval_ms: i64,
    pub(crate) backoff_coefficient: f64,
    pub(crate) maximum_interval_ms: i64,
    pub(crate) maximum_attempts: i32,
    pub(crate) non_retryable_error_types: Vec<String>,
    pub(crate) priority_key: i32,
    pub(crate) fairness_key: String,
    pub(crate) fairness_weight: f32,
}

/// How an update changes options: merge the masked fields, or restore the original ones.
#[derive(Debug, Clone)]
pub(crate) enum OptionsUpdate {
    Merge {
        options: Box<ActivityOptions>,
        paths: Vec<String>,
    },
    RestoreOriginal,
}

fn ms(d: Option<i64>) -> Option<prost_wkt_types::Duration> {
    d.map(duration)
}

impl Options {
    fn of(a: &ActivityTaskScheduledEventAttributes) -> Self {
        let timeouts = Timeouts::of(a);
        let policy = retry::with_defaults(a.retry_policy.clone());
        let priority = a.priority.clone().unwrap_or_default();
        Self {
            schedule_to_close_ms: timeouts.schedule_to_close,
            schedule_to_start_ms: timeouts.schedule_to_start,
            start_to_close_ms: timeouts.start_to_close,
            heartbeat_ms: timeouts.heartbeat,
            initial_interval_ms: duration_ms(policy.initial_interval.as_ref()).unwrap_or(0),
            backoff_coefficient: policy.backoff_coefficient,
            maximum_interval_ms: duration_ms(policy.maximum_interval.as_ref()).unwrap_or(0),
            maximum_attempts: policy.maximum_attempts,
            non_retryable_error_types: policy.non_retryable_error_types,
            priority_key: priority.priority_key,
            fairness_key: priority.fairness_key,
            fairness_weight: priority.fairness_weight,
        }
    }

    pub(super) fn timeouts(&self) -> Timeouts {
        Timeouts {
            schedule_to_close: self.schedule_to_close_ms,
            schedule_to_start: self.schedule_to_start_ms,
            start_to_close: self.start_to_close_ms,
            heartbeat: self.heartbeat_ms,
        }
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy {
            initial_interval: Some(duration(self.initial_interval_ms)),
            backoff_coefficient: self.backoff_coefficient,
            maximum_interval: Some(duration(self.maximum_interval_ms)),
            maximum_attempts: self.maximum_attempts,
            non_retryable_error_types: self.non_retryable_error_types.clone(),
        }
    }

    fn priority(&self) -> Priority {
        Priority {
            priority_key: self.priority_key,
            fairness_key: self.fairness_key.clone(),
            fairness_weight: self.fairness_weight,
        }
    }

    fn to_proto(&self, task_queue: &str) -> ActivityOptions {
        ActivityOptions {
            task_queue: Some(normal_queue(task_queue)),
            schedule_to_close_timeout: ms(self.schedule_to_close_ms),
            schedule_to_start_timeout: ms(self.schedule_to_start_ms),
            start_to_close_timeout: ms(self.start_to_close_ms),
            heartbeat_timeout: ms(self.heartbeat_ms),
            retry_policy: Some(self.retry_policy()),
            priority: Some(self.priority()),
            ..Default::default()
        }
    }

    /// Merges the fields `paths` names (camelCase or snake_case) from `from`.
    fn merge(
        &mut self,
        task_queue: &mut String,
        from: &ActivityOptions,
        paths: &[String],
    ) -> Result<()> {
        let missing = |what: &str| EngineError::invalid(format!("{what} is not provided"));
        let policy = || {
            from.retry_policy
                .as_ref()
                .ok_or_else(|| missing("RetryPolicy"))
        };
        let priority = || from.priority.as_ref().ok_or_else(|| missing("Priority"));
        for path in paths {
            match camel(path).as_str() {
                "taskQueue.name" => {
                    let queue = from
                        .task_queue
                        .as_ref()
                        .ok_or_else(|| missing("TaskQueue"))?;
                    task_queue.clone_from(&queue.name);
                }
                "scheduleToCloseTimeout" => {
                    self.schedule_to_close_ms =
                        duration_ms(from.schedule_to_close_timeout.as_ref());
                }
                "scheduleToStartTimeout" => {
                    self.schedule_to_start_ms =
                        duration_ms(from.schedule_to_start_timeout.as_ref());
                }
                "startToCloseTimeout" => {
                    self.start_to_close_ms = duration_ms(from.start_to_close_timeout.as_ref());
                }
                "heartbeatTimeout" => {
                    self.heartbeat_ms = duration_ms(from.heartbeat_timeout.as_ref());
                }
                "retryPolicy" => {
                    let p = policy()?;
                    self.initial_interval_ms =
                        duration_ms(p.initial_interval.as_ref()).unwrap_or(0);
                    self.backoff_coefficient = p.backoff_coefficient;
                    self.maximum_interval_ms =
                        duration_ms(p.maximum_interval.as_ref()).unwrap_or(0);
                    self.maximum_attempts = p.maximum_attempts;
                }
                "retryPolicy.initialInterval" => {
                    self.initial_interval_ms =
                        duration_ms(policy()?.initial_interval.as_ref()).unwrap_or(0);
                }
                "retryPolicy.backoffCoefficient" => {
                    self.backoff_coefficient = policy()?.backoff_coefficient;
                }
                "retryPolicy.maximumInterval" => {
                    self.maximum_interval_ms =
                        duration_ms(policy()?.maximum_interval.as_ref()).unwrap_or(0);
                }
                "retryPolicy.maximumAttempts" => self.maximum_attempts = policy()?.maximum_attempts,
                "priority" => {
                    let p = from.priority.clone().unwrap_or_default();
                    self.priority_key = p.priority_key;
                    self.fairness_key = p.fairness_key;
                    self.fairness_weight = p.fairness_weight;
                }
                "priority.priorityKey" => self.priority_key = priority()?.priority_key,
                "priority.fairnessKey" => self.fairness_key.clone_from(&priority()?.fairness_key),
                "priority.fairnessWeight" => self.fairness_weight = priority()?.fairness_weight,
                // The real server ignores paths it does not know.
                _ => {}
            }
        }
        if paths.iter().any(|p| camel(p).starts_with("retryPolicy")) {
            retry::workflow_policy(self.retry_policy()).map_err(EngineError::invalid)?;
        }
        // Checked and filled as a schedule command's timeouts are.
        let command = ScheduleActivityTaskCommandAttributes {
            schedule_to_close_timeout: ms(self.schedule_to_close_ms),
            schedule_to_start_timeout: ms(self.schedule_to_start_ms),
            start_to_close_timeout: ms(self.start_to_close_ms),
            heartbeat_timeout: ms(self.heartbeat_ms),
            ..Default::default()
        };
        let timeouts = Timeouts::resolve(&command, None);
        if timeouts.schedule_to_close.is_none() && timeouts.start_to_close.is_none() {
            return Err(EngineError::invalid(
                "A valid StartToClose or ScheduleToCloseTimeout is not set on ScheduleActivityTaskCommand.",
            ));
        }
        self.schedule_to_close_ms = timeouts.schedule_to_close;
        self.schedule_to_start_ms = timeouts.schedule_to_start;
        self.start_to_close_ms = timeouts.start_to_close;
        self.heartbeat_ms = timeouts.heartbeat;
        Ok(())
    }
}

/// A field mask path in the camelCase the real server compares.
fn camel(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl ActivityState {
    /// The timeouts in force: updated ones, else the scheduled event's.
    pub(crate) fn timeouts(&self, scheduled: &ActivityTaskScheduledEventAttributes) -> Timeouts {
        self.options
            .as_ref()
            .map_or_else(|| Timeouts::of(scheduled), Options::timeouts)
    }

    /// The retry policy in force, with defaults filled.
    pub(crate) fn retry_policy(
        &self,
        scheduled: &ActivityTaskScheduledEventAttributes,
    ) -> RetryPolicy {
        self.options.as_ref().map_or_else(
            || retry::with_defaults(scheduled.retry_policy.clone()),
            Options::retry_policy,
        )
    }
}

impl Registry {
    /// `UpdateActivityOptions`: returns the options now in force (of the last activity the
    /// target names).
    pub(crate) fn update_activity_options(
        &mut self,
        run_id: &str,
        target: &Target,
        update: &OptionsUpdate,
        fx: &mut Effects,
    ) -> Result<ActivityOptions> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        let mut answer = ActivityOptions::default();
        for id in exec.targets(target)? {
            let Some(scheduled) = exec.activity_attributes(id).cloned() else {
                continue;
            };
            let original_queue = scheduled
                .task_queue
                .as_ref()
                .map(|q| q.name.clone())
                .unwrap_or_default();
            let Some(activity) = exec.state.activities.get_mut(&id) else {
                continue;
            };
            match update {
                OptionsUpdate::RestoreOriginal => {
                    activity.options = None;
                    activity.task_queue = original_queue;
                    answer = Options::of(&scheduled).to_proto(&activity.task_queue);
                }
                OptionsUpdate::Merge { options, paths } => {
                    let mut merged = activity
                        .options
                        .clone()
                        .unwrap_or_else(|| Options::of(&scheduled));
                    let mut queue = activity.task_queue.clone();
                    merged.merge(&mut queue, options, paths)?;
                    answer = merged.to_proto(&queue);
                    activity.task_queue = queue;
                    activity.options = Some(merged);
                }
            }
            let activity = activity.clone();
            exec.dirty = true;
            // Timers again, with the options now in force (stale ones re-check and pass).
            exec.arm_activity(&activity, fx);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_fields_merge_and_are_checked() {
        let mut options = Options {
            start_to_close_ms: Some(10_000),
            initial_interval_ms: 1000,
            backoff_coefficient: 2.0,
            maximum_interval_ms: 100_000,
            ..Default::default()
        };
        let mut queue = "q".to_owned();
        let from = ActivityOptions {
            heartbeat_timeout: Some(duration(20_000)),
            retry_policy: Some(RetryPolicy {
                maximum_attempts: 3,
                ..Default::default()
            }),
            ..Default::default()
        };
        let paths = [
            "heartbeat_timeout".to_owned(),
            "retryPolicy.maximumAttempts".to_owned(),
        ];
        options
            .merge(&mut queue, &from, &paths)
            .unwrap_or_else(|e| panic!("{e}"));
        // The heartbeat timeout never exceeds start-to-close.
        assert_eq!(
            (options.heartbeat_ms, options.maximum_attempts),
            (Some(10_000), 3)
        );
        let refused = options.merge(
            &mut queue,
            &ActivityOptions::default(),
            &["task_queue.name".to_owned()],
        );
        assert!(
            matches!(refused, Err(EngineError::InvalidArgument(m)) if m == "TaskQueue is not provided")
        );
        let clear = ["start_to_close_timeout".to_owned()];
        assert!(
            options
                .merge(&mut queue, &ActivityOptions::default(), &clear)
                .is_err()
        );
    }
}
