//! `UpdateWorkflowExecutionOptions`: set or unset a running workflow's versioning override
//! (the only option with a routing effect), recorded as `WorkflowExecutionOptionsUpdated`.

use temporalio_protos::temporal::api::{
    history::v1::WorkflowExecutionOptionsUpdatedEventAttributes,
    workflow::v1::WorkflowExecutionOptions,
};

use crate::error::Result;
use crate::history::{Effects, Registry, lifecycle::versioning::Override};

/// What an options update asks: `Some(None)` unsets the override.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct ExecutionOptionsUpdate {
    pub(crate) versioning_override: Option<Option<Override>>,
    pub(crate) identity: String,
}

impl Registry {
    /// Applies `update` to the open run `run_id` and returns its options afterwards. A
    /// workflow task waiting for a worker goes out again along its new route.
    pub(crate) fn update_execution_options(
        &mut self,
        run_id: &str,
        update: ExecutionOptionsUpdate,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<WorkflowExecutionOptions> {
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        if let Some(new) = update.versioning_override
            && new != exec.state.versioning.override_
        {
            exec.add_event(
                now_ms,
                WorkflowExecutionOptionsUpdatedEventAttributes {
                    versioning_override: new.as_ref().map(Override::to_proto),
                    unset_versioning_override: new.is_none(),
                    identity: update.identity,
                    ..Default::default()
                },
            );
            exec.state.versioning.override_ = new;
            if exec
                .state
                .workflow_task
                .as_ref()
                .is_some_and(|wt| wt.started_event_id == 0)
            {
                exec.dispatch_workflow_task(now_ms, fx);
            }
            fx.history_changed();
        }
        Ok(WorkflowExecutionOptions {
            versioning_override: exec
                .state
                .versioning
                .override_
                .as_ref()
                .map(Override::to_proto),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        history::testing::{registry, start},
        matching::deployments::Version,
    };

    #[test]
    fn an_override_pins_the_waiting_task_and_unsets() {
        let mut reg = registry();
        let run_id = start(&mut reg, "wf");
        let pin = Override::Pinned(Version::new("d", "1"));
        let update = ExecutionOptionsUpdate {
            versioning_override: Some(Some(pin.clone())),
            identity: "me".into(),
        };
        let mut fx = Effects::default();
        let options = reg
            .update_execution_options(&run_id, update, 1, &mut fx)
            .expect("updated");
        assert_eq!(options.versioning_override, Some(pin.to_proto()));
        let pinned = fx.0.iter().any(|e| {
            matches!(e, crate::history::Effect::Dispatch { route, .. }
                if route.pinned == Some(Version::new("d", "1")))
        });
        assert!(pinned, "the waiting task goes out pinned: {:?}", fx.0);
        let unset = ExecutionOptionsUpdate {
            versioning_override: Some(None),
            identity: "me".into(),
        };
        let options = reg
            .update_execution_options(&run_id, unset, 2, &mut Effects::default())
            .expect("unset");
        assert_eq!(options.versioning_override, None);
    }
}
