//! Eager execution: work handed straight back to the worker that caused it, in the response
//! to its own request, instead of through a task queue and a second round trip.
//!
//! - Eager workflow start: a `StartWorkflowExecution` with `request_eager_execution` gets
//!   the new run's first workflow task in `eager_workflow_task`, already started for the
//!   caller's identity (the client has reserved a slot of a worker in its process). The
//!   started event records `eager_execution_accepted`. Refused, as on the real server, when
//!   the first task waits for a start delay, and when the start returns an existing run.
//! - Eager activities: each `ScheduleActivityTask` command with `request_eager_execution`
//!   comes back started in `RespondWorkflowTaskCompleted`'s `activity_tasks`, for the
//!   completing worker's identity, unless the same completion closed the run or canceled the
//!   activity. The real server (dynamic config `system.enableActivityEagerExecution`, on in
//!   the dev server) returns every one asked for; the SDKs ask for at most as many as they
//!   have free slots (the Rust SDK: `max_eager_activity_reservations_per_workflow_task`,
//!   3 by default).
//!
//! Both take the task's dispatch back out of the effects, so no poller ever sees it.

use temporalio_protos::temporal::api::workflowservice::v1::{
    PollActivityTaskQueueResponse, PollWorkflowTaskQueueResponse,
};

use crate::history::{Effects, Poller, Registry, Task};

impl Registry {
    /// Starts the first workflow task of the run just created for an eager start, for
    /// `identity`. `None` when the run has no task ready to start (a start delay holds it).
    pub(crate) fn start_workflow_eagerly(
        &mut self,
        run_id: &str,
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Option<PollWorkflowTaskQueueResponse> {
        let wt = self.run(run_id).ok()?.state.workflow_task.as_ref()?;
        if wt.started_event_id != 0 || wt.dispatch_at_ms.is_some() {
            return None;
        }
        let scheduled_event_id = wt.scheduled_event_id;
        let poller = Poller {
            identity,
            ..Default::default()
        };
        let task = self.start_workflow_task(run_id, scheduled_event_id, &poller, now_ms, fx)?;
        fx.undispatch(&Task::Workflow {
            run_id: run_id.to_owned(),
            scheduled_event_id,
        });
        Some(task)
    }

    /// Starts attempt 1 of each activity the completion scheduled with
    /// `request_eager_execution` (by scheduled event id), for the completing worker.
    pub(crate) fn start_activities_eagerly(
        &mut self,
        run_id: &str,
        scheduled_event_ids: &[i64],
        identity: &str,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Vec<PollActivityTaskQueueResponse> {
        let mut tasks = Vec::new();
        for &scheduled_event_id in scheduled_event_ids {
            let Some(task) =
                self.start_activity(run_id, scheduled_event_id, 1, identity, now_ms, fx)
            else {
                continue;
            };
            fx.undispatch(&Task::Activity {
                run_id: run_id.to_owned(),
                scheduled_event_id,
                attempt: 1,
            });
            tasks.push(task);
        }
        tasks
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{
            CompleteWorkflowExecutionCommandAttributes, ScheduleActivityTaskCommandAttributes,
            command::Attributes as C,
        },
        common::v1::ActivityType,
        enums::v1::EventType,
        history::v1::history_event::Attributes,
    };

    use super::*;
    use crate::history::{NewRun, machines::activity::ActivityPhase, testing};

    fn activity(id: &str, eager: bool) -> C {
        C::ScheduleActivityTaskCommandAttributes(ScheduleActivityTaskCommandAttributes {
            activity_id: id.into(),
            activity_type: Some(ActivityType { name: "A".into() }),
            start_to_close_timeout: Some(prost_wkt_types::Duration {
                seconds: 10,
                nanos: 0,
            }),
            request_eager_execution: eager,
            ..Default::default()
        })
    }

    fn eager_start(registry: &mut Registry, delay_s: i64) -> (String, Option<String>, Effects) {
        let spec = NewRun {
            namespace: "default".into(),
            workflow_id: "eager".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            identity: "me".into(),
            request_eager_execution: true,
            start_delay: (delay_s > 0).then_some(prost_wkt_types::Duration {
                seconds: delay_s,
                nanos: 0,
            }),
            ..Default::default()
        };
        let mut fx = Effects::default();
        let started = registry
            .start_workflow(spec, testing::NOW, &mut fx)
            .unwrap_or_else(|e| panic!("start: {e}"));
        let task = started
            .eager_workflow_task
            .map(|t| t.started_event_id.to_string());
        (started.run_id, task, fx)
    }

    #[test]
    fn an_eager_start_hands_back_the_started_first_task_and_queues_nothing() {
        let mut registry = testing::registry();
        let (run_id, started, fx) = eager_start(&mut registry, 0);
        assert_eq!(started.as_deref(), Some("3"));
        assert!(testing::dispatched(&fx).is_empty(), "no poller gets it");
        assert_eq!(
            testing::event_types(&registry, &run_id),
            [
                EventType::WorkflowExecutionStarted,
                EventType::WorkflowTaskScheduled,
                EventType::WorkflowTaskStarted
            ]
        );
        let events = &registry
            .run(&run_id)
            .map(|e| e.events.clone())
            .unwrap_or_default();
        match events.first().and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                assert!(a.eager_execution_accepted)
            }
            other => panic!("first event: {other:?}"),
        }
        match events.get(2).and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowTaskStartedEventAttributes(a)) => {
                assert_eq!(a.identity, "me")
            }
            other => panic!("third event: {other:?}"),
        }
    }

    #[test]
    fn a_start_delay_refuses_eager_start() {
        let mut registry = testing::registry();
        let (run_id, started, _) = eager_start(&mut registry, 5);
        assert_eq!(started, None);
        let events = &registry
            .run(&run_id)
            .map(|e| e.events.clone())
            .unwrap_or_default();
        match events.first().and_then(|e| e.attributes.as_ref()) {
            Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                assert!(!a.eager_execution_accepted)
            }
            other => panic!("first event: {other:?}"),
        }
    }

    #[test]
    fn eager_activities_come_back_started_and_others_go_to_the_queue() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "eager-activities");
        let task = testing::take_task(&mut registry, &run_id);
        let mut fx = Effects::default();
        let commands = vec![
            activity("a", true),
            activity("b", false),
            activity("c", true),
        ];
        let completion = testing::try_complete(&mut registry, &task, commands, vec![], &mut fx)
            .unwrap_or_else(|e| panic!("complete: {e}"));
        let ids: Vec<_> = completion
            .activity_tasks
            .iter()
            .map(|t| (t.activity_id.as_str(), t.attempt))
            .collect();
        assert_eq!(ids, [("a", 1), ("c", 1)]);
        let queued: Vec<_> = testing::dispatched(&fx)
            .into_iter()
            .filter(|t| matches!(t, Task::Activity { .. }))
            .collect();
        assert_eq!(queued.len(), 1, "only b goes to the queue: {queued:?}");
        let exec = registry.run(&run_id).unwrap_or_else(|e| panic!("{e}"));
        let phases: Vec<_> = exec
            .state
            .activities
            .values()
            .map(|a| (a.activity_id.as_str(), a.phase, a.identity.as_str()))
            .collect();
        assert!(phases.contains(&("a", ActivityPhase::Started, "")));
        assert!(phases.contains(&("b", ActivityPhase::Scheduled, "")));
    }

    #[test]
    fn a_completion_that_closes_the_run_starts_no_eager_activity() {
        let mut registry = testing::registry();
        let run_id = testing::start(&mut registry, "eager-closed");
        let task = testing::take_task(&mut registry, &run_id);
        let complete = C::CompleteWorkflowExecutionCommandAttributes(
            CompleteWorkflowExecutionCommandAttributes::default(),
        );
        let mut fx = Effects::default();
        let completion = testing::try_complete(
            &mut registry,
            &task,
            vec![activity("a", true), complete],
            vec![],
            &mut fx,
        )
        .unwrap_or_else(|e| panic!("complete: {e}"));
        assert!(completion.activity_tasks.is_empty());
    }
}
