//! Update-with-start: a start and an update of the same workflow id, decided and applied
//! in one operation (one lock, one commit), as the real server's multi-operation does.
//!
//! The update goes to the run that is there when one may take it: a run where the update
//! already completed (even a closed one) answers with that outcome (an update still in
//! flight when its run closed does not count); an open run takes it
//! when the start is a retry of the one that created it, when it already knows the update
//! id, or under the `UseExisting` conflict policy. Otherwise the start follows its conflict
//! and reuse policies, and the update is admitted on the run it created.

use temporalio_protos::temporal::api::{
    enums::v1::{WorkflowExecutionStatus, WorkflowIdConflictPolicy},
    update::v1::Request,
};

use crate::error::{EngineError, OperationOutcome, Result};
use crate::history::{Effects, NewRun, Registry, UpdateStatus};

/// Where an update-with-start's update went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpdateWithStart {
    pub(crate) run_id: String,
    /// Whether this request started the run.
    pub(crate) started: bool,
    /// The run's status when the update was admitted or found.
    pub(crate) status: i32,
}

/// The real server's summary of every refused update-with-start; each operation's status
/// says what went wrong.
pub(crate) const NOT_EXECUTED: &str = "Update-with-Start could not be executed.";

/// The real server's error for a failed start: the update is aborted.
pub(crate) fn start_failed(error: EngineError) -> EngineError {
    EngineError::MultiOperation {
        message: NOT_EXECUTED.into(),
        operations: vec![
            OperationOutcome::Failed(Box::new(error)),
            OperationOutcome::Aborted,
        ],
    }
}

/// The real server's error for a failed update: the start either succeeded (`started`) or
/// was aborted (the update was meant for an existing run).
pub(crate) fn update_failed(error: EngineError, started: bool) -> EngineError {
    let start = if started {
        OperationOutcome::Succeeded
    } else {
        OperationOutcome::Aborted
    };
    EngineError::MultiOperation {
        message: NOT_EXECUTED.into(),
        operations: vec![start, OperationOutcome::Failed(Box::new(error))],
    }
}

impl Registry {
    /// Starts `spec`'s workflow (or uses its run) and admits `update` on it, atomically.
    /// Errors come as [`EngineError::MultiOperation`], naming the operation that failed.
    pub(crate) fn update_with_start(
        &mut self,
        spec: NewRun,
        update: Request,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<UpdateWithStart> {
        let update_id = update
            .meta
            .as_ref()
            .map(|m| m.update_id.clone())
            .unwrap_or_default();
        if let Some(run_id) = self.current_run(&spec.namespace, &spec.workflow_id) {
            let exec = self.run(&run_id).map_err(start_failed)?;
            let known = exec.update_status(&update_id);
            // An update still in flight when its run closed is reported as failed, but a new
            // request never attaches to it: the real server starts over, by the policies.
            let in_flight = exec.state.updates.contains_key(&update_id);
            if matches!(known, Some(UpdateStatus::Completed(_))) && !in_flight {
                return Ok(UpdateWithStart {
                    run_id,
                    started: false,
                    status: exec.state.status,
                });
            }
            let retried_start =
                !spec.request_id.is_empty() && exec.state.start_request_id == spec.request_id;
            let use_existing = spec.conflict_policy == WorkflowIdConflictPolicy::UseExisting as i32;
            if exec.is_open() && (retried_start || known.is_some() || use_existing) {
                self.admit_update(&run_id, update, now_ms, fx)
                    .map_err(|e| update_failed(e, false))?;
                return Ok(UpdateWithStart {
                    run_id,
                    started: false,
                    status: WorkflowExecutionStatus::Running as i32,
                });
            }
        }
        let started = self
            .start_workflow(spec, now_ms, fx)
            .map_err(start_failed)?;
        self.admit_update(&started.run_id, update, now_ms, fx)
            .map_err(|e| update_failed(e, true))?;
        Ok(UpdateWithStart {
            run_id: started.run_id,
            started: true,
            status: WorkflowExecutionStatus::Running as i32,
        })
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        common::v1::Payloads,
        update::v1::{Input, Meta},
    };

    use super::*;
    use crate::history::testing::{self, NOW};

    fn spec(request_id: &str, conflict: WorkflowIdConflictPolicy) -> NewRun {
        NewRun {
            namespace: "default".into(),
            workflow_id: "w".into(),
            workflow_type: "T".into(),
            task_queue: "q".into(),
            request_id: request_id.into(),
            conflict_policy: conflict as i32,
            ..Default::default()
        }
    }

    fn update(update_id: &str) -> Request {
        Request {
            meta: Some(Meta {
                update_id: update_id.into(),
                identity: String::new(),
            }),
            input: Some(Input {
                header: None,
                name: "u".into(),
                args: Some(Payloads::default()),
            }),
            ..Default::default()
        }
    }

    fn uws(registry: &mut Registry, spec: NewRun, update_id: &str) -> Result<UpdateWithStart> {
        registry.update_with_start(spec, update(update_id), NOW, &mut Effects::default())
    }

    #[test]
    fn starts_then_attaches_by_policy_request_id_or_update_id() {
        let mut registry = testing::registry();
        let first = uws(
            &mut registry,
            spec("r1", WorkflowIdConflictPolicy::Fail),
            "u1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(first.started);
        let exec = registry
            .run(&first.run_id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(exec.update_status("u1"), Some(UpdateStatus::Admitted));

        // The same start retried, the same update id, or UseExisting: no new run.
        for (request_id, policy, update_id) in [
            ("r1", WorkflowIdConflictPolicy::Fail, "u2"),
            ("r2", WorkflowIdConflictPolicy::Fail, "u1"),
            ("r3", WorkflowIdConflictPolicy::UseExisting, "u3"),
        ] {
            let again = uws(&mut registry, spec(request_id, policy), update_id)
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                (again.run_id.as_str(), again.started),
                (first.run_id.as_str(), false)
            );
        }
        let exec = registry
            .run(&first.run_id)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(exec.state.updates.len(), 3, "u1 was not admitted twice");
    }

    #[test]
    fn an_update_in_flight_when_its_run_closed_is_never_attached_to() {
        let mut registry = testing::registry();
        let first = uws(
            &mut registry,
            spec("r1", WorkflowIdConflictPolicy::UseExisting),
            "u1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let exec = registry
            .run_mut(&first.run_id)
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(u) = exec.state.updates.get_mut("u1") {
            u.accepted_event_id = Some(5);
        }
        exec.close(NOW, WorkflowExecutionStatus::Completed);
        assert!(matches!(
            exec.update_status("u1"),
            Some(UpdateStatus::Completed(_))
        ));
        let again = uws(
            &mut registry,
            spec("r2", WorkflowIdConflictPolicy::UseExisting),
            "u1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(again.started, "a new run, not the closed one");
        assert_ne!(again.run_id, first.run_id);
    }

    #[test]
    fn fail_on_a_running_workflow_fails_the_start_and_aborts_the_update() {
        let mut registry = testing::registry();
        uws(
            &mut registry,
            spec("r1", WorkflowIdConflictPolicy::Fail),
            "u1",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let refused = uws(
            &mut registry,
            spec("r2", WorkflowIdConflictPolicy::Fail),
            "u2",
        );
        match refused {
            Err(EngineError::MultiOperation {
                message,
                operations,
            }) => {
                assert_eq!(message, NOT_EXECUTED);
                assert!(matches!(
                    operations.as_slice(),
                    [OperationOutcome::Failed(e), OperationOutcome::Aborted]
                        if matches!(**e, EngineError::AlreadyStarted { .. })
                ));
            }
            other => panic!("expected a multi-operation error, got {other:?}"),
        }
    }
}
