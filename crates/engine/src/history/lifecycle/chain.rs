//! What follows a run in its chain when it closes by itself, as on the real server: a retry
//! when it failed or timed out and its retry policy allows another attempt (initiator
//! `RETRY`, the next attempt, the failure carried), else the next run of its cron schedule
//! (initiator `CRON_SCHEDULE`, the last completion result carried). The closing event names
//! the next run (`new_execution_run_id`), which waits out the backoff before its first
//! workflow task. Cancelled and terminated runs end the chain.

use temporalio_protos::temporal::api::{
    common::v1::Payloads,
    enums::v1::{ContinueAsNewInitiator, RetryState, TimeoutType, WorkflowExecutionStatus},
    failure::v1::{Failure, TimeoutFailureInfo, failure::FailureInfo},
    history::v1::WorkflowExecutionStartedEventAttributes,
};

use crate::history::{
    Execution, NewRun,
    completion::commands::Applied,
    lifecycle::cron::Schedule,
    lifecycle::retry::{self, Decision},
};
use crate::{
    error::{EngineError, Result},
    time::duration,
};

/// How a run closes by itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome<'a> {
    Completed(Option<&'a Payloads>),
    Failed(&'a Failure),
    TimedOut,
}

/// What the closing event records, and the run that follows, if any.
#[derive(Debug)]
pub(crate) struct Follow {
    pub(crate) retry_state: RetryState,
    pub(crate) next: Option<NewRun>,
}

impl Follow {
    /// The `new_execution_run_id` of the closing event (empty when the chain ends).
    pub(crate) fn new_run_id(&self) -> String {
        self.next
            .as_ref()
            .and_then(|n| n.run_id.clone())
            .unwrap_or_default()
    }
}

/// The real server's `history.workflowIdReuseMinimalInterval`: a run of a chain starts no
/// sooner than this after the previous one's first workflow task was due.
const MIN_RUN_INTERVAL_MS: i64 = 1000;

impl NewRun {
    /// Checks a client's start for its chain: the retry policy gets its defaults; a cron
    /// schedule must parse, cannot go with a start delay, and sets the first task's backoff.
    pub(in crate::history) fn prepare_chain(&mut self, now_ms: i64) -> Result<()> {
        if let Some(policy) = self.retry_policy.take() {
            self.retry_policy = Some(retry::workflow_policy(policy).map_err(EngineError::invalid)?);
        }
        if self.cron_schedule.is_empty() {
            return Ok(());
        }
        if self.start_delay.is_some() {
            return Err(EngineError::invalid(
                "CronSchedule and WorkflowStartDelay may not be used together.",
            ));
        }
        let schedule = Schedule::parse(&self.cron_schedule).map_err(EngineError::invalid)?;
        let backoff = schedule.backoff_ms(now_ms, now_ms).ok_or_else(|| {
            EngineError::invalid(
                "invalid CronSchedule, no time can be found to satisfy the schedule",
            )
        })?;
        self.start_delay = Some(duration(backoff));
        Ok(())
    }
}

fn run_timeout_failure() -> Failure {
    Failure {
        message: "workflow timeout".to_owned(),
        source: "Server".to_owned(),
        failure_info: Some(FailureInfo::TimeoutFailureInfo(TimeoutFailureInfo {
            timeout_type: TimeoutType::StartToClose as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

impl Execution {
    /// Decides what follows this run closing with `outcome` at `now_ms`.
    pub(crate) fn follow(&self, outcome: Outcome<'_>, now_ms: i64) -> Follow {
        let end = Follow {
            retry_state: RetryState::RetryPolicyNotSet,
            next: None,
        };
        let Some(started) = self.started_attributes() else {
            return end;
        };
        let timeout = run_timeout_failure();
        let failure = match outcome {
            Outcome::Completed(_) => None,
            Outcome::Failed(failure) => Some(failure),
            Outcome::TimedOut => Some(&timeout),
        };
        if matches!(outcome, Outcome::TimedOut)
            && self.expiration_ms().is_some_and(|end| end <= now_ms)
        {
            return Follow {
                retry_state: RetryState::Timeout,
                next: None,
            };
        }
        let mut retry_state = RetryState::RetryPolicyNotSet;
        if let (Some(failure), Some(policy)) = (failure, started.retry_policy.as_ref()) {
            let expiration = self.expiration_ms();
            match retry::decide_workflow(policy, started.attempt, failure, now_ms, expiration) {
                Decision::Retry(backoff) => {
                    let last = match outcome {
                        Outcome::TimedOut => started.last_completion_result.clone(),
                        _ => None,
                    };
                    let chained = Chained {
                        initiator: ContinueAsNewInitiator::Retry,
                        attempt: started.attempt.saturating_add(1),
                        backoff_ms: backoff,
                        last_completion_result: last,
                        failure: Some(failure.clone()),
                    };
                    return Follow {
                        retry_state: RetryState::InProgress,
                        next: Some(self.next_run(started, chained, now_ms)),
                    };
                }
                Decision::Stop(state) => retry_state = state,
            }
        }
        let cron_backoff = Some(started.cron_schedule.as_str())
            .filter(|s| !s.is_empty())
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|s| s.backoff_ms(self.execution_time_ms(), now_ms));
        let Some(backoff) = cron_backoff else {
            return Follow {
                retry_state,
                next: None,
            };
        };
        let last = match outcome {
            Outcome::Completed(result) => result.cloned(),
            _ => started.last_completion_result.clone(),
        };
        let chained = Chained {
            initiator: ContinueAsNewInitiator::CronSchedule,
            attempt: 1,
            backoff_ms: backoff,
            last_completion_result: last,
            failure: failure.cloned(),
        };
        Follow {
            retry_state,
            next: Some(self.next_run(started, chained, now_ms)),
        }
    }

    /// The next run: the same start as this one's, with what the chain carries.
    fn next_run(
        &self,
        started: &WorkflowExecutionStartedEventAttributes,
        chained: Chained,
        now_ms: i64,
    ) -> NewRun {
        // As the real server does, keep runs of a chain at least a second apart.
        let lifetime = now_ms - self.execution_time_ms();
        let backoff = if lifetime + chained.backoff_ms < MIN_RUN_INTERVAL_MS {
            MIN_RUN_INTERVAL_MS - lifetime
        } else {
            chained.backoff_ms
        };
        NewRun {
            run_id: Some(super::start::new_run_id()),
            namespace: self.state.namespace.clone(),
            workflow_id: self.state.workflow_id.clone(),
            workflow_type: self.state.workflow_type.clone(),
            task_queue: self.state.task_queue.clone(),
            input: started.input.clone(),
            execution_timeout: started.workflow_execution_timeout,
            run_timeout: started.workflow_run_timeout,
            workflow_task_timeout: started.workflow_task_timeout,
            header: started.header.clone(),
            memo: started.memo.clone(),
            search_attributes: started.search_attributes.clone(),
            retry_policy: started.retry_policy.clone(),
            cron_schedule: started.cron_schedule.clone(),
            priority: started.priority.clone(),
            continued_from: Some((self.state.run_id.clone(), self.state.first_run_id.clone())),
            last_completion_result: chained.last_completion_result,
            continued_failure: chained.failure,
            parent: self.state.parent.clone(),
            start_delay: Some(duration(backoff.max(0))),
            initiator: chained.initiator as i32,
            attempt: chained.attempt,
            expiration_ms: self.expiration_ms(),
            ..Default::default()
        }
    }
}

impl Execution {
    /// Closes the run with `status`; `next`, if any, follows it in the chain.
    pub(in crate::history) fn close_in_chain(
        &mut self,
        now_ms: i64,
        status: WorkflowExecutionStatus,
        next: Option<NewRun>,
    ) -> Applied {
        self.close(now_ms, status);
        match next {
            Some(next) => {
                self.state.new_run_id = next.run_id.clone();
                Applied::NextRun(Box::new(next))
            }
            None => Applied::Done,
        }
    }
}

/// What a retry or a cron run carries over.
struct Chained {
    initiator: ContinueAsNewInitiator,
    attempt: i32,
    backoff_ms: i64,
    last_completion_result: Option<Payloads>,
    failure: Option<Failure>,
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            CompleteWorkflowExecutionCommandAttributes, FailWorkflowExecutionCommandAttributes,
            command::Attributes as C,
        },
        common::v1::{Payload, RetryPolicy},
        history::v1::history_event::Attributes,
    };

    use super::*;
    use crate::history::{
        Effects, Registry,
        testing::{self, NOW},
    };
    use crate::time::duration_ms;

    fn start(registry: &mut Registry, spec: NewRun) -> String {
        let mut fx = Effects::default();
        let started = registry
            .start_workflow(spec, NOW, &mut fx)
            .unwrap_or_else(|e| panic!("start: {e}"));
        started.run_id
    }

    fn spec() -> NewRun {
        NewRun {
            namespace: "default".into(),
            workflow_id: "w".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            ..Default::default()
        }
    }

    fn fail() -> C {
        C::FailWorkflowExecutionCommandAttributes(FailWorkflowExecutionCommandAttributes {
            failure: Some(Failure {
                message: "boom".into(),
                ..Default::default()
            }),
        })
    }

    fn started(registry: &Registry, run_id: &str) -> WorkflowExecutionStartedEventAttributes {
        registry
            .run(run_id)
            .ok()
            .and_then(Execution::started_attributes)
            .cloned()
            .unwrap_or_else(|| panic!("run {run_id} has no start"))
    }

    /// Ends the run's first-task backoff, then decides its task with `commands`.
    fn decide(registry: &mut Registry, run_id: &str, commands: Vec<C>) {
        registry.on_workflow_task_backoff(run_id, 2, NOW, &mut Effects::default());
        testing::decide(registry, run_id, commands);
    }

    /// The last event's (retry state, new run id) of a run that failed or timed out.
    fn closed(registry: &Registry, run_id: &str) -> (i32, String) {
        let last = registry.run(run_id).ok().and_then(|e| e.events.last());
        match last.and_then(|e| e.attributes.clone()) {
            Some(Attributes::WorkflowExecutionFailedEventAttributes(a)) => {
                (a.retry_state, a.new_execution_run_id)
            }
            Some(Attributes::WorkflowExecutionTimedOutEventAttributes(a)) => {
                (a.retry_state, a.new_execution_run_id)
            }
            Some(Attributes::WorkflowExecutionCompletedEventAttributes(a)) => {
                (0, a.new_execution_run_id)
            }
            other => panic!("not closed: {other:?}"),
        }
    }

    #[test]
    fn a_failed_run_is_retried_until_its_attempts_run_out() {
        let mut registry = testing::registry();
        let first = start(
            &mut registry,
            NewRun {
                retry_policy: Some(RetryPolicy {
                    maximum_attempts: 2,
                    ..Default::default()
                }),
                ..spec()
            },
        );
        testing::decide(&mut registry, &first, vec![fail()]);
        let (state, second) = closed(&registry, &first);
        assert_eq!(state, RetryState::InProgress as i32);
        let next = started(&registry, &second);
        assert_eq!(
            (
                next.attempt,
                next.initiator,
                next.continued_execution_run_id.as_str()
            ),
            (2, ContinueAsNewInitiator::Retry as i32, first.as_str())
        );
        assert_eq!(next.first_execution_run_id, first);
        assert_eq!(
            duration_ms(next.first_workflow_task_backoff.as_ref()),
            Some(1000)
        );
        assert_eq!(
            next.continued_failure.map(|f| f.message).as_deref(),
            Some("boom")
        );

        decide(&mut registry, &second, vec![fail()]);
        let (state, third) = closed(&registry, &second);
        assert_eq!(
            (state, third.as_str()),
            (RetryState::MaximumAttemptsReached as i32, "")
        );
    }

    #[test]
    fn a_timed_out_run_retries_but_not_past_the_execution_timeout() {
        let mut registry = testing::registry();
        let first = start(
            &mut registry,
            NewRun {
                retry_policy: Some(RetryPolicy::default()),
                run_timeout: Some(duration(2000)),
                execution_timeout: Some(duration(4500)),
                ..spec()
            },
        );
        registry.on_run_timeout(&first, NOW + 2000, &mut Effects::default());
        let (state, second) = closed(&registry, &first);
        assert_eq!(state, RetryState::InProgress as i32);
        let run = registry.run(&second).unwrap_or_else(|e| panic!("{e}"));
        // 2 s after its 1 s backoff, but the execution timeout ends first.
        assert_eq!(run.run_deadline_ms(), Some(NOW + 4500));
        registry.on_run_timeout(&second, NOW + 4500, &mut Effects::default());
        assert_eq!(
            closed(&registry, &second),
            (RetryState::Timeout as i32, String::new())
        );
    }

    #[test]
    fn a_cron_run_waits_for_its_slot_and_passes_its_result_on() {
        let mut registry = testing::registry();
        let mut cron = NewRun {
            cron_schedule: "@every 2s".into(),
            start_delay: Some(duration(1000)),
            ..spec()
        };
        let refused = registry.start_workflow(cron.clone(), NOW, &mut Effects::default());
        assert!(
            matches!(&refused, Err(EngineError::InvalidArgument(m)) if m.starts_with("CronSchedule and WorkflowStartDelay")),
            "{refused:?}"
        );
        cron.start_delay = None;
        let first = start(&mut registry, cron);
        let head = started(&registry, &first);
        assert_eq!(head.initiator, ContinueAsNewInitiator::CronSchedule as i32);
        assert_eq!(
            duration_ms(head.first_workflow_task_backoff.as_ref()),
            Some(2000)
        );

        let result = Payloads {
            payloads: vec![Payload {
                data: b"1".to_vec(),
                ..Default::default()
            }],
        };
        let complete = C::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes {
                result: Some(result.clone()),
            },
        );
        decide(&mut registry, &first, vec![complete]);
        let (_, second) = closed(&registry, &first);
        let next = started(&registry, &second);
        assert_eq!(next.initiator, ContinueAsNewInitiator::CronSchedule as i32);
        assert_eq!(next.last_completion_result, Some(result));
        // The test's clock stands still at the start: the run closed before its own slot
        // (NOW + 2 s), so the next waits for that slot and a second more (runs of a chain
        // start at least a second apart).
        assert_eq!(
            duration_ms(next.first_workflow_task_backoff.as_ref()),
            Some(3000)
        );

        registry
            .terminate(&second, "stop", None, "", NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            registry.current_run("default", "w").as_deref(),
            Some(second.as_str())
        );
    }
}
