//! Starting runs: workflow id conflict and reuse policies, request-id idempotency, and the
//! run created by continue-as-new.

use temporalio_protos::temporal::api::{
    common::v1::{
        Header, Memo, Payloads, Priority, RetryPolicy, SearchAttributes, WorkflowExecution,
        WorkflowType,
    },
    enums::v1::{
        ContinueAsNewInitiator, TaskQueueKind, WorkflowExecutionStatus, WorkflowIdConflictPolicy,
        WorkflowIdReusePolicy,
    },
    failure::v1::Failure,
    history::v1::WorkflowExecutionStartedEventAttributes,
    sdk::v1::UserMetadata,
    taskqueue::v1::TaskQueue,
    workflowservice::v1::PollWorkflowTaskQueueResponse,
};

use crate::history::{
    Effects, Execution, Registry, Signal, TimerKey,
    lifecycle::versioning::{Override, RunVersioning},
    rules::search_attributes,
    run::execution::{ParentRef, RunState},
};
use crate::{
    error::{EngineError, Result},
    matching::deployments::Version,
    time::{duration, duration_ms, timestamp},
};

/// The default and the maximum workflow task start-to-close timeout.
const DEFAULT_WORKFLOW_TASK_TIMEOUT_MS: i64 = 10_000;
const MAX_WORKFLOW_TASK_TIMEOUT_MS: i64 = 120_000;

/// Everything needed to create a run.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewRun {
    /// A run id chosen in advance (continue-as-new names it in the closing event).
    pub(crate) run_id: Option<String>,
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    pub(crate) workflow_type: String,
    pub(crate) task_queue: String,
    pub(crate) input: Option<Payloads>,
    pub(crate) execution_timeout: Option<prost_wkt_types::Duration>,
    pub(crate) run_timeout: Option<prost_wkt_types::Duration>,
    pub(crate) workflow_task_timeout: Option<prost_wkt_types::Duration>,
    pub(crate) identity: String,
    pub(crate) request_id: String,
    pub(crate) header: Option<Header>,
    pub(crate) memo: Option<Memo>,
    pub(crate) search_attributes: Option<SearchAttributes>,
    pub(crate) retry_policy: Option<RetryPolicy>,
    pub(crate) reuse_policy: i32,
    pub(crate) conflict_policy: i32,
    /// (previous run id, first run id) when continuing as new.
    pub(crate) continued_from: Option<(String, String)>,
    pub(crate) last_completion_result: Option<Payloads>,
    pub(crate) continued_failure: Option<Failure>,
    /// The parent, when a `StartChildWorkflowExecution` command starts this run.
    pub(crate) parent: Option<ParentRef>,
    /// How long the first workflow task waits (`workflow_start_delay`).
    pub(crate) start_delay: Option<prost_wkt_types::Duration>,
    /// The workflow's summary and details, shown by describe.
    pub(crate) user_metadata: Option<UserMetadata>,
    pub(crate) priority: Option<Priority>,
    /// The run's versioning at start: an override, or a pin carried over continue-as-new.
    pub(crate) versioning: RunVersioning,
    /// Hand the first workflow task to the caller in the start response (eager start).
    pub(crate) request_eager_execution: bool,
    /// Why this run follows the previous one (a `ContinueAsNewInitiator`; 0: it does not,
    /// or, with `continued_from`, continue-as-new).
    pub(crate) initiator: i32,
    /// The attempt of a retried run (0: the first).
    pub(crate) attempt: i32,
    pub(crate) cron_schedule: String,
    /// When the workflow execution timeout ends, carried along the chain (`None`: from the
    /// execution timeout, counted from this start).
    pub(crate) expiration_ms: Option<i64>,
    /// The Nexus operations this run completes when it closes (`completion_callbacks`).
    pub(crate) completion_callbacks: Vec<crate::history::machines::nexus::CompletionCallback>,
}

/// What a start request resolved to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Started {
    pub(crate) run_id: String,
    /// False when an existing run was returned instead of a new one being created.
    pub(crate) created: bool,
    /// The new run's first workflow task, started for the caller, when it asked for an
    /// eager start and one was possible.
    pub(crate) eager_workflow_task: Option<PollWorkflowTaskQueueResponse>,
}

/// A new run id: a UUIDv7 as the real server makes (its first 48 bits are the wall-clock
/// time in milliseconds, so run ids sort by creation), random in the rest. Built from the
/// millisecond and 80 random bits rather than through the crate's `v7` feature, which would
/// rebuild every crate that depends on `uuid` for the same bytes.
pub(crate) fn new_run_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let random = uuid::Uuid::new_v4();
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&random.as_bytes()[6..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &tail)
        .into_uuid()
        .to_string()
}

impl NewRun {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.workflow_id.is_empty() {
            return Err(EngineError::invalid("WorkflowId is not set on request."));
        }
        if self.workflow_type.is_empty() {
            return Err(EngineError::invalid("WorkflowType is not set on request."));
        }
        if self.task_queue.is_empty() {
            return Err(EngineError::invalid("TaskQueue is not set on request."));
        }
        Ok(())
    }
}

impl Registry {
    /// Starts a run, or returns the one this request already started, honouring the id
    /// conflict policy (running) and reuse policy (closed).
    pub(crate) fn start_workflow(
        &mut self,
        mut spec: NewRun,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<Started> {
        let custom = &self.namespace(&spec.namespace)?.search_attributes;
        spec.validate()?;
        spec.prepare_chain(now_ms)?;
        if let Some(attributes) = &spec.search_attributes {
            search_attributes::check(&attributes.indexed_fields, &spec.namespace, custom)
                .map_err(EngineError::invalid)?;
        }
        if let Some(existing_id) = self.current_run(&spec.namespace, &spec.workflow_id) {
            let existing = self.run(&existing_id)?;
            let same_request =
                !spec.request_id.is_empty() && existing.state.start_request_id == spec.request_id;
            if same_request {
                return Ok(Started {
                    run_id: existing_id,
                    created: true,
                    eager_workflow_task: None,
                });
            }
            let already_started = EngineError::AlreadyStarted {
                workflow_id: spec.workflow_id.clone(),
                run_id: existing.state.run_id.clone(),
                start_request_id: existing.state.start_request_id.clone(),
            };
            let status = WorkflowExecutionStatus::try_from(existing.state.status)
                .unwrap_or(WorkflowExecutionStatus::Unspecified);
            if existing.is_open() {
                let conflict = WorkflowIdConflictPolicy::try_from(spec.conflict_policy);
                // Older clients still send the deprecated reuse policy.
                #[allow(deprecated)]
                let terminate_if_running =
                    spec.reuse_policy == WorkflowIdReusePolicy::TerminateIfRunning as i32;
                match conflict {
                    Ok(WorkflowIdConflictPolicy::UseExisting) => {
                        return Ok(Started {
                            run_id: existing_id,
                            created: false,
                            eager_workflow_task: None,
                        });
                    }
                    Ok(WorkflowIdConflictPolicy::TerminateExisting) => {}
                    _ if terminate_if_running => {}
                    _ => return Err(already_started),
                }
                let reason = "terminated by a start with the same workflow id";
                self.terminate(&existing_id, reason, None, &spec.identity, now_ms, fx)?;
            } else {
                let reuse = WorkflowIdReusePolicy::try_from(spec.reuse_policy);
                let succeeded = matches!(
                    status,
                    WorkflowExecutionStatus::Completed | WorkflowExecutionStatus::ContinuedAsNew
                );
                match reuse {
                    Ok(WorkflowIdReusePolicy::RejectDuplicate) => return Err(already_started),
                    Ok(WorkflowIdReusePolicy::AllowDuplicateFailedOnly) if succeeded => {
                        return Err(already_started);
                    }
                    _ => {}
                }
            }
        }
        let eager_identity = spec.request_eager_execution.then(|| spec.identity.clone());
        let run_id = self.create_run(spec, now_ms, fx);
        let eager_workflow_task = eager_identity
            .and_then(|identity| self.start_workflow_eagerly(&run_id, &identity, now_ms, fx));
        Ok(Started {
            run_id,
            created: true,
            eager_workflow_task,
        })
    }

    /// Signals the running run of `spec`'s workflow id, or starts one and signals it. Under
    /// `TerminateExisting` (or the deprecated `TerminateIfRunning` reuse policy) a running
    /// run is terminated and a new one started; `Fail` is refused, as the real server does.
    pub(crate) fn signal_with_start(
        &mut self,
        spec: NewRun,
        signal: Signal,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<Started> {
        let conflict = WorkflowIdConflictPolicy::try_from(spec.conflict_policy);
        if conflict == Ok(WorkflowIdConflictPolicy::Fail) {
            return Err(EngineError::invalid(
                "Invalid WorkflowIDConflictPolicy: WORKFLOW_ID_CONFLICT_POLICY_FAIL is not \
                 supported for this operation.",
            ));
        }
        #[allow(deprecated)]
        let terminates = conflict == Ok(WorkflowIdConflictPolicy::TerminateExisting)
            || spec.reuse_policy == WorkflowIdReusePolicy::TerminateIfRunning as i32;
        let running = self
            .resolve_open(&spec.namespace, &spec.workflow_id, "")
            .ok();
        let started = match running {
            Some(run_id) if !terminates => Started {
                run_id,
                created: false,
                eager_workflow_task: None,
            },
            _ => self.start_workflow(spec, now_ms, fx)?,
        };
        self.signal(&started.run_id, signal, now_ms, fx)?;
        Ok(started)
    }

    /// Creates a run with its `WorkflowExecutionStarted` event and first workflow task.
    pub(crate) fn create_run(&mut self, spec: NewRun, now_ms: i64, fx: &mut Effects) -> String {
        let run_id = spec.run_id.clone().unwrap_or_else(new_run_id);
        let (continued_run_id, first_run_id) = spec
            .continued_from
            .clone()
            .unwrap_or_else(|| (String::new(), run_id.clone()));
        let task_timeout_ms = duration_ms(spec.workflow_task_timeout.as_ref())
            .unwrap_or(DEFAULT_WORKFLOW_TASK_TIMEOUT_MS)
            .min(MAX_WORKFLOW_TASK_TIMEOUT_MS);
        let run_timeout_ms = match (
            duration_ms(spec.run_timeout.as_ref()),
            duration_ms(spec.execution_timeout.as_ref()),
        ) {
            (Some(run), Some(exec)) => Some(run.min(exec)),
            (run, exec) => run.or(exec),
        };
        let delay_ms = duration_ms(spec.start_delay.as_ref());
        let request_id = if spec.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            spec.request_id.clone()
        };
        let mut exec = Execution::new(RunState {
            namespace: spec.namespace.clone(),
            workflow_id: spec.workflow_id.clone(),
            run_id: run_id.clone(),
            first_run_id: first_run_id.clone(),
            workflow_type: spec.workflow_type.clone(),
            task_queue: spec.task_queue.clone(),
            status: WorkflowExecutionStatus::Running as i32,
            start_time_ms: now_ms,
            close_time_ms: None,
            start_request_id: request_id,
            workflow_task_timeout_ms: task_timeout_ms,
            run_timeout_ms,
            previous_started_event_id: 0,
            workflow_task: None,
            activities: Default::default(),
            timers: Default::default(),
            cancel_requested: false,
            new_run_id: None,
            parent: spec.parent.clone(),
            children: Default::default(),
            updates: Default::default(),
            update_seq: 0,
            sticky: None,
            signal_request_ids: Default::default(),
            versioning: spec.versioning.clone(),
            signal_count: 0,
            nexus_operations: Default::default(),
            completion_callbacks: spec.completion_callbacks.clone(),
            standalone: None,
        });
        let parent = spec.parent.as_ref().map(|p| {
            let execution = WorkflowExecution {
                workflow_id: p.workflow_id.clone(),
                run_id: p.run_id.clone(),
            };
            let root = self
                .runs
                .get(&p.run_id)
                .and_then(|r| r.root_execution())
                .unwrap_or_else(|| execution.clone());
            (p, self.namespace_id(&p.namespace), execution, root)
        });
        let initiator = match spec.initiator {
            0 if spec.continued_from.is_some() => ContinueAsNewInitiator::Workflow as i32,
            0 if !spec.cron_schedule.is_empty() => ContinueAsNewInitiator::CronSchedule as i32,
            initiator => initiator,
        };
        let expiration_ms = spec.expiration_ms.or_else(|| {
            duration_ms(spec.execution_timeout.as_ref())
                .filter(|t| *t > 0)
                .map(|t| now_ms.saturating_add(t))
        });
        exec.append(
            now_ms,
            WorkflowExecutionStartedEventAttributes {
                workflow_type: Some(WorkflowType {
                    name: spec.workflow_type,
                }),
                task_queue: Some(TaskQueue {
                    name: spec.task_queue,
                    kind: TaskQueueKind::Normal as i32,
                    normal_name: String::new(),
                }),
                input: spec.input,
                workflow_execution_timeout: spec.execution_timeout,
                workflow_run_timeout: run_timeout_ms.map(duration),
                workflow_task_timeout: Some(duration(task_timeout_ms)),
                continued_execution_run_id: continued_run_id,
                initiator,
                continued_failure: spec.continued_failure,
                last_completion_result: spec.last_completion_result,
                original_execution_run_id: run_id.clone(),
                identity: spec.identity,
                first_execution_run_id: first_run_id,
                retry_policy: spec.retry_policy,
                attempt: spec.attempt.max(1),
                cron_schedule: spec.cron_schedule,
                workflow_execution_expiration_time: expiration_ms.map(timestamp),
                first_workflow_task_backoff: delay_ms.map(duration),
                memo: spec.memo,
                search_attributes: spec.search_attributes,
                header: spec.header,
                versioning_override: spec.versioning.override_.as_ref().map(Override::to_proto),
                inherited_pinned_version: spec
                    .versioning
                    .inherited_pinned
                    .as_ref()
                    .map(Version::to_proto),
                workflow_id: spec.workflow_id.clone(),
                parent_workflow_namespace: parent
                    .as_ref()
                    .map(|(p, ..)| p.namespace.clone())
                    .unwrap_or_default(),
                parent_workflow_namespace_id: parent
                    .as_ref()
                    .map(|(_, id, ..)| id.clone())
                    .unwrap_or_default(),
                parent_workflow_execution: parent.as_ref().map(|(_, _, e, _)| e.clone()),
                parent_initiated_event_id: parent
                    .as_ref()
                    .map_or(0, |(p, ..)| p.initiated_event_id),
                root_workflow_execution: parent.as_ref().map(|(.., root)| root.clone()),
                priority: spec.priority,
                eager_execution_accepted: spec.request_eager_execution
                    && delay_ms.unwrap_or(0) <= 0,
                ..Default::default()
            },
        );
        if let Some(started) = exec.events.first_mut() {
            started.user_metadata = spec.user_metadata;
        }
        match delay_ms {
            Some(delay) => exec.schedule_first_workflow_task_after(now_ms, delay, fx),
            None => exec.schedule_workflow_task(now_ms, 1, fx),
        }
        if let Some(deadline) = exec.run_deadline_ms() {
            fx.timer(
                deadline,
                TimerKey::RunTimeout {
                    run_id: run_id.clone(),
                },
            );
        }
        fx.history_changed();
        self.current
            .insert((spec.namespace, spec.workflow_id), run_id.clone());
        self.touched.insert(run_id.clone());
        self.runs.insert(run_id.clone(), exec);
        run_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::testing::{self, NOW};

    fn spec(workflow_id: &str, request_id: &str) -> NewRun {
        NewRun {
            namespace: "default".into(),
            workflow_id: workflow_id.into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            request_id: request_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn run_ids_are_uuid_v7_in_creation_order() {
        let first = uuid::Uuid::parse_str(&new_run_id()).expect("a uuid");
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = uuid::Uuid::parse_str(&new_run_id()).expect("a uuid");
        assert_eq!(first.get_version_num(), 7);
        assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
        assert!(first.as_u128() >> 80 < second.as_u128() >> 80);
        assert!(
            first.to_string() < second.to_string(),
            "ids sort by creation"
        );
    }

    fn start(registry: &mut Registry, spec: NewRun) -> Result<Started> {
        registry.start_workflow(spec, NOW, &mut Effects::default())
    }

    fn signal() -> Signal {
        Signal {
            name: "s".into(),
            input: None,
            identity: String::new(),
            header: None,
            request_id: String::new(),
        }
    }

    fn status(registry: &Registry, run_id: &str) -> i32 {
        registry.run(run_id).map_or(0, |e| e.state.status)
    }

    #[test]
    fn a_missing_field_is_named() {
        let mut registry = testing::registry();
        for (mut s, field) in [
            (spec("", "r"), "WorkflowId"),
            (spec("w", "r"), "WorkflowType"),
            (spec("w", "r"), "TaskQueue"),
        ] {
            match field {
                "WorkflowType" => s.workflow_type.clear(),
                "TaskQueue" => s.task_queue.clear(),
                _ => {}
            }
            let refused = start(&mut registry, s);
            assert!(
                matches!(&refused, Err(EngineError::InvalidArgument(m)) if m.starts_with(field)),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn a_retried_start_returns_the_same_run_and_others_follow_the_conflict_policy() {
        let mut registry = testing::registry();
        let first = start(&mut registry, spec("w", "r1")).unwrap_or_else(|e| panic!("{e}"));
        assert!(first.created);
        let retried = start(&mut registry, spec("w", "r1")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(retried, first, "the same request id gets the same run");

        let refused = start(&mut registry, spec("w", "r2"));
        assert!(
            matches!(refused, Err(EngineError::AlreadyStarted { .. })),
            "{refused:?}"
        );
        let mut existing = spec("w", "r3");
        existing.conflict_policy = WorkflowIdConflictPolicy::UseExisting as i32;
        let used = start(&mut registry, existing).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (used.run_id.as_str(), used.created),
            (first.run_id.as_str(), false)
        );

        let mut terminate = spec("w", "r4");
        terminate.conflict_policy = WorkflowIdConflictPolicy::TerminateExisting as i32;
        let second = start(&mut registry, terminate).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.created && second.run_id != first.run_id);
        assert_eq!(
            status(&registry, &first.run_id),
            WorkflowExecutionStatus::Terminated as i32
        );
        assert_eq!(
            registry.current_run("default", "w").as_deref(),
            Some(second.run_id.as_str())
        );
    }

    #[test]
    fn the_reuse_policy_decides_over_a_closed_run() {
        let mut registry = testing::registry();
        let first = start(&mut registry, spec("w", "r1")).unwrap_or_else(|e| panic!("{e}"));
        registry
            .terminate(
                &first.run_id,
                "done",
                None,
                "",
                NOW,
                &mut Effects::default(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        let mut reject = spec("w", "r2");
        reject.reuse_policy = WorkflowIdReusePolicy::RejectDuplicate as i32;
        assert!(matches!(
            start(&mut registry, reject),
            Err(EngineError::AlreadyStarted { .. })
        ));
        // Terminated is not a success, so "failed only" allows it.
        let mut failed_only = spec("w", "r3");
        failed_only.reuse_policy = WorkflowIdReusePolicy::AllowDuplicateFailedOnly as i32;
        let second = start(&mut registry, failed_only).unwrap_or_else(|e| panic!("{e}"));
        assert!(second.created && second.run_id != first.run_id);
    }

    #[test]
    fn signal_with_start_refuses_fail_and_terminates_under_terminate_existing() {
        let mut registry = testing::registry();
        let mut fx = Effects::default();
        let first = start(&mut registry, spec("w", "r1")).unwrap_or_else(|e| panic!("{e}"));

        let mut fail = spec("w", "r2");
        fail.conflict_policy = WorkflowIdConflictPolicy::Fail as i32;
        let refused = registry.signal_with_start(fail, signal(), NOW, &mut fx);
        assert!(
            matches!(&refused, Err(EngineError::InvalidArgument(m)) if m.contains("not supported")),
            "{refused:?}"
        );

        let signaled = registry
            .signal_with_start(spec("w", "r3"), signal(), NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (signaled.run_id.as_str(), signaled.created),
            (first.run_id.as_str(), false)
        );

        let mut terminate = spec("w", "r4");
        terminate.conflict_policy = WorkflowIdConflictPolicy::TerminateExisting as i32;
        let second = registry
            .signal_with_start(terminate, signal(), NOW, &mut fx)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(second.created && second.run_id != first.run_id);
        assert_eq!(
            status(&registry, &first.run_id),
            WorkflowExecutionStatus::Terminated as i32
        );
        let signals = |run_id: &str| {
            testing::event_types(&registry, run_id)
                .into_iter()
                .filter(|t| *t == temporalio_protos::temporal::api::enums::v1::EventType::WorkflowExecutionSignaled)
                .count()
        };
        assert_eq!((signals(&first.run_id), signals(&second.run_id)), (1, 1));
    }
}
