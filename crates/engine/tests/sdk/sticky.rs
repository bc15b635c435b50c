//! Sticky task queues, spoken as raw protocol (no SDK worker, so every step is visible): a
//! completion that names a sticky queue gets the next task there with only the new events;
//! when nobody takes it within the sticky schedule-to-start timeout, it moves to the normal
//! queue with the full history.

use std::time::Duration;

use temporalio_common::protos::temporal::api::{
    command::v1::{Command, StartTimerCommandAttributes, command},
    common::v1::WorkflowType,
    enums::v1::{CommandType, EventType, TaskQueueKind},
    taskqueue::v1::{StickyExecutionAttributes, TaskQueue},
    workflowservice::v1::{
        PollWorkflowTaskQueueRequest, PollWorkflowTaskQueueResponse,
        RespondWorkflowTaskCompletedRequest, StartWorkflowExecutionRequest,
    },
};

use crate::harness::{self, TestEngine};

fn queue(name: &str, kind: TaskQueueKind) -> Option<TaskQueue> {
    Some(TaskQueue {
        name: name.to_owned(),
        kind: kind as i32,
        normal_name: String::new(),
    })
}

fn timer(id: &str) -> Command {
    Command {
        command_type: CommandType::StartTimer as i32,
        attributes: Some(command::Attributes::StartTimerCommandAttributes(
            StartTimerCommandAttributes {
                timer_id: id.to_owned(),
                start_to_fire_timeout: Some(prost_wkt_types::Duration {
                    seconds: 0,
                    nanos: 10_000_000,
                }),
            },
        )),
        ..Default::default()
    }
}

fn event_types(task: &PollWorkflowTaskQueueResponse) -> Vec<EventType> {
    task.history
        .iter()
        .flat_map(|h| h.events.iter())
        .map(|e| EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified))
        .collect()
}

fn first_event_id(task: &PollWorkflowTaskQueueResponse) -> i64 {
    task.history
        .as_ref()
        .and_then(|h| h.events.first())
        .map_or(0, |e| e.event_id)
}

#[tokio::test]
async fn sticky_tasks_carry_new_events_and_fall_back_to_the_normal_queue() {
    let t = TestEngine::start("sticky-normal").await;
    let mut service = t.client.connection().workflow_service();
    let normal = t.queue.clone();
    let sticky = harness::task_queue("sticky-worker");
    let poll = |name: &str, kind| PollWorkflowTaskQueueRequest {
        namespace: "default".into(),
        task_queue: queue(name, kind),
        identity: "raw-worker".into(),
        ..Default::default()
    };
    let complete = |task: &PollWorkflowTaskQueueResponse, timer_id: &str| {
        RespondWorkflowTaskCompletedRequest {
            task_token: task.task_token.clone(),
            commands: vec![timer(timer_id)],
            identity: "raw-worker".into(),
            namespace: "default".into(),
            sticky_attributes: Some(StickyExecutionAttributes {
                worker_task_queue: queue(&sticky, TaskQueueKind::Sticky),
                schedule_to_start_timeout: Some(prost_wkt_types::Duration {
                    seconds: 0,
                    nanos: 500_000_000,
                }),
            }),
            ..Default::default()
        }
    };
    service
        .start_workflow_execution(tonic::Request::new(StartWorkflowExecutionRequest {
            namespace: "default".into(),
            workflow_id: "sticky-1".into(),
            workflow_type: Some(WorkflowType { name: "Raw".into() }),
            task_queue: queue(&normal, TaskQueueKind::Normal),
            request_id: uuid::Uuid::new_v4().to_string(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("start: {e}"));

    let first = service
        .poll_workflow_task_queue(tonic::Request::new(poll(&normal, TaskQueueKind::Normal)))
        .await
        .unwrap_or_else(|e| panic!("poll: {e}"))
        .into_inner();
    assert_eq!(
        first_event_id(&first),
        1,
        "the first task has the full history"
    );
    service
        .respond_workflow_task_completed(tonic::Request::new(complete(&first, "t1")))
        .await
        .unwrap_or_else(|e| panic!("complete: {e}"));

    let second = service
        .poll_workflow_task_queue(tonic::Request::new(poll(&sticky, TaskQueueKind::Sticky)))
        .await
        .unwrap_or_else(|e| panic!("sticky poll: {e}"))
        .into_inner();
    assert_eq!(
        first_event_id(&second),
        first.started_event_id + 1,
        "a sticky task starts after the last task the worker saw: {:?}",
        event_types(&second)
    );
    assert_eq!(
        event_types(&second),
        [
            EventType::WorkflowTaskCompleted,
            EventType::TimerStarted,
            EventType::TimerFired,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
        ]
    );
    service
        .respond_workflow_task_completed(tonic::Request::new(complete(&second, "t2")))
        .await
        .unwrap_or_else(|e| panic!("complete: {e}"));

    // Nobody polls the sticky queue now: after its 500 ms timeout the task moves.
    let third = tokio::time::timeout(
        Duration::from_secs(10),
        service.poll_workflow_task_queue(tonic::Request::new(poll(&normal, TaskQueueKind::Normal))),
    )
    .await
    .unwrap_or_else(|_| panic!("the task never reached the normal queue"))
    .unwrap_or_else(|e| panic!("poll: {e}"))
    .into_inner();
    assert_eq!(
        first_event_id(&third),
        1,
        "the normal queue gets the full history"
    );
    assert!(
        event_types(&third).ends_with(&[
            EventType::TimerFired,
            EventType::WorkflowTaskScheduled,
            EventType::WorkflowTaskStarted,
        ]),
        "{:?}",
        event_types(&third)
    );
    t.shutdown().await;
}
