//! The `start` transition of a standalone activity: the request checked as the real server
//! checks it, the id reuse and conflict policies, request ids, then a hidden run whose one
//! activity is scheduled (after the start delay, as a first backoff).

use temporalio_protos::temporal::api::{
    command::v1::ScheduleActivityTaskCommandAttributes,
    common::v1::{ActivityType, Header, Payloads, Priority, RetryPolicy, SearchAttributes},
    enums::v1::{ActivityIdConflictPolicy, ActivityIdReusePolicy, WorkflowExecutionStatus},
    history::v1::WorkflowExecutionStartedEventAttributes,
    sdk::v1::UserMetadata,
    taskqueue::v1::TaskQueue,
};

use super::{ID_PREFIX, Standalone};
use crate::error::{EngineError, Result};
use crate::history::{
    Effects, Execution, Registry,
    lifecycle::start::new_run_id,
    machines::activity::{ActivityPhase, ActivityState},
    rules::search_attributes,
    run::execution::RunState,
};
use crate::time::duration_ms;

/// A `StartActivityExecution` request, as the machine needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewActivity {
    pub(crate) namespace: String,
    pub(crate) activity_id: String,
    pub(crate) activity_type: String,
    pub(crate) task_queue: String,
    pub(crate) identity: String,
    pub(crate) request_id: String,
    pub(crate) schedule_to_close: Option<prost_wkt_types::Duration>,
    pub(crate) schedule_to_start: Option<prost_wkt_types::Duration>,
    pub(crate) start_to_close: Option<prost_wkt_types::Duration>,
    pub(crate) heartbeat: Option<prost_wkt_types::Duration>,
    pub(crate) retry_policy: Option<RetryPolicy>,
    pub(crate) input: Option<Payloads>,
    pub(crate) header: Option<Header>,
    pub(crate) search_attributes: Option<SearchAttributes>,
    pub(crate) user_metadata: Option<UserMetadata>,
    pub(crate) priority: Option<Priority>,
    pub(crate) start_delay: Option<prost_wkt_types::Duration>,
    /// An `ActivityIdReusePolicy` value.
    pub(crate) reuse_policy: i32,
    /// An `ActivityIdConflictPolicy` value.
    pub(crate) conflict_policy: i32,
}

/// The run a start answered with, and whether this request started it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StartedActivity {
    pub(crate) run_id: String,
    pub(crate) started: bool,
}

impl NewActivity {
    /// The real server's checks, in its order and words.
    fn validate(&self) -> Result<()> {
        if self.activity_id.is_empty() {
            return Err(EngineError::invalid("activityId is not set"));
        }
        if self.activity_type.is_empty() {
            return Err(EngineError::invalid("activityType is not set"));
        }
        if self.task_queue.is_empty() {
            return Err(EngineError::invalid("taskQueue is not set"));
        }
        for (name, d) in [
            ("ScheduleToCloseTimeout", &self.schedule_to_close),
            ("ScheduleToStartTimeout", &self.schedule_to_start),
            ("StartToCloseTimeout", &self.start_to_close),
            ("HeartbeatTimeout", &self.heartbeat),
            ("StartDelay", &self.start_delay),
        ] {
            if d.as_ref().is_some_and(|d| d.seconds < 0 || d.nanos < 0) {
                return Err(EngineError::invalid(format!(
                    "invalid {name}: negative duration"
                )));
            }
        }
        let set =
            |d: &Option<prost_wkt_types::Duration>| duration_ms(d.as_ref()).is_some_and(|v| v > 0);
        if !set(&self.start_to_close) && !set(&self.schedule_to_close) {
            return Err(EngineError::invalid(format!(
                "a valid StartToCloseTimeout or ScheduleToCloseTimeout must be set on the activity. ActivityId={} ActivityType={}",
                self.activity_id, self.activity_type
            )));
        }
        Ok(())
    }

    fn command(&self) -> ScheduleActivityTaskCommandAttributes {
        ScheduleActivityTaskCommandAttributes {
            activity_id: self.activity_id.clone(),
            activity_type: Some(ActivityType {
                name: self.activity_type.clone(),
            }),
            task_queue: Some(TaskQueue {
                name: self.task_queue.clone(),
                ..Default::default()
            }),
            header: self.header.clone(),
            input: self.input.clone(),
            schedule_to_close_timeout: self.schedule_to_close,
            schedule_to_start_timeout: self.schedule_to_start,
            start_to_close_timeout: self.start_to_close,
            heartbeat_timeout: self.heartbeat,
            retry_policy: self.retry_policy.clone(),
            priority: self.priority.clone(),
            ..Default::default()
        }
    }
}

fn already_started(exec: &Execution) -> EngineError {
    EngineError::ActivityAlreadyStarted {
        run_id: exec.state.run_id.clone(),
        start_request_id: exec.state.start_request_id.clone(),
    }
}

impl Registry {
    /// `StartActivityExecution`: a new execution, or the one a retried request or the
    /// conflict policy names.
    pub(crate) fn start_standalone(
        &mut self,
        spec: NewActivity,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<StartedActivity> {
        let custom = &self.namespace(&spec.namespace)?.search_attributes;
        spec.validate()?;
        if let Some(attributes) = &spec.search_attributes {
            search_attributes::check(&attributes.indexed_fields, &spec.namespace, custom)
                .map_err(EngineError::invalid)?;
        }
        let workflow_id = format!("{ID_PREFIX}{}", spec.activity_id);
        let key = (spec.namespace.clone(), workflow_id.clone());
        if let Some(run_id) = self.current.get(&key).cloned() {
            let exec = self.run(&run_id)?;
            let same_request =
                !spec.request_id.is_empty() && exec.state.start_request_id == spec.request_id;
            if same_request {
                return Ok(StartedActivity {
                    run_id,
                    started: false,
                });
            }
            if exec.is_open() {
                if spec.conflict_policy == ActivityIdConflictPolicy::UseExisting as i32 {
                    return Ok(StartedActivity {
                        run_id,
                        started: false,
                    });
                }
                return Err(already_started(exec));
            }
            let reuse = ActivityIdReusePolicy::try_from(spec.reuse_policy);
            let succeeded = exec.state.status == WorkflowExecutionStatus::Completed as i32;
            match reuse {
                Ok(ActivityIdReusePolicy::RejectDuplicate) => return Err(already_started(exec)),
                Ok(ActivityIdReusePolicy::AllowDuplicateFailedOnly) if succeeded => {
                    return Err(already_started(exec));
                }
                _ => {}
            }
        }
        let run_id = new_run_id();
        let request_id = if spec.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            spec.request_id.clone()
        };
        let mut exec = Execution::new(RunState {
            namespace: spec.namespace.clone(),
            workflow_id: workflow_id.clone(),
            run_id: run_id.clone(),
            first_run_id: run_id.clone(),
            workflow_type: spec.activity_type.clone(),
            task_queue: spec.task_queue.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            start_time_ms: now_ms,
            close_time_ms: None,
            start_request_id: request_id,
            workflow_task_timeout_ms: 0,
            run_timeout_ms: None,
            previous_started_event_id: 0,
            workflow_task: None,
            activities: Default::default(),
            timers: Default::default(),
            cancel_requested: false,
            new_run_id: None,
            parent: None,
            children: Default::default(),
            updates: Default::default(),
            update_seq: 0,
            sticky: None,
            signal_request_ids: Default::default(),
            versioning: Default::default(),
            signal_count: 0,
            nexus_operations: Default::default(),
            completion_callbacks: Vec::new(),
            standalone: Some(Standalone {
                activity_id: spec.activity_id.clone(),
                ..Standalone::default()
            }),
        });
        exec.append(
            now_ms,
            WorkflowExecutionStartedEventAttributes {
                workflow_type: Some(temporalio_protos::temporal::api::common::v1::WorkflowType {
                    name: spec.activity_type.clone(),
                }),
                task_queue: Some(TaskQueue {
                    name: spec.task_queue.clone(),
                    ..Default::default()
                }),
                identity: spec.identity.clone(),
                search_attributes: spec.search_attributes.clone(),
                header: spec.header.clone(),
                original_execution_run_id: run_id.clone(),
                first_execution_run_id: run_id.clone(),
                workflow_id: spec.activity_id.clone(),
                attempt: 1,
                ..Default::default()
            },
        );
        if let Some(started) = exec.events.first_mut() {
            started.user_metadata = spec.user_metadata.clone();
        }
        let delay = duration_ms(spec.start_delay.as_ref()).filter(|d| *d > 0);
        let mut scheduling = Effects::default();
        exec.schedule_activity(spec.command(), 0, now_ms, &mut scheduling);
        match delay {
            // The first attempt waits out the delay as a retry backoff would.
            Some(delay) => {
                for activity in exec.state.activities.values_mut() {
                    activity.phase = ActivityPhase::Backoff;
                    activity.attempt_scheduled_time_ms = now_ms + delay;
                }
                let activities: Vec<ActivityState> =
                    exec.state.activities.values().cloned().collect();
                for activity in &activities {
                    exec.arm_activity(activity, fx);
                }
            }
            None => fx.0.extend(scheduling.0),
        }
        fx.history_changed();
        self.current
            .insert((spec.namespace, workflow_id), run_id.clone());
        self.touched.insert(run_id.clone());
        self.runs.insert(run_id.clone(), exec);
        Ok(StartedActivity {
            run_id,
            started: true,
        })
    }
}
