//! Workflow updates: admitted -> accepted -> completed, or admitted -> rejected.
//!
//! `UpdateWorkflowExecution` admits the request on the run (durably, so it survives a
//! restart) and makes sure a workflow task will carry it. Every workflow task hands out the
//! admitted requests as protocol messages (`temporal.api.update.v1.Request`, sequenced
//! after the event before `WorkflowTaskStarted`). The worker answers in its completion with
//! protocol messages: an `Acceptance` (event `WorkflowExecutionUpdateAccepted`), a
//! `Response` (event `WorkflowExecutionUpdateCompleted`, which holds the outcome for good)
//! or a `Rejection` (no event; the outcome is kept in memory for the waiting caller). The
//! messages that write events are referenced by `ProtocolMessage` commands and applied in
//! command order; the rest after the commands.

use prost::Message as _;
use prost_wkt_types::Any;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    failure::v1::{ApplicationFailureInfo, Failure, failure::FailureInfo},
    history::v1::{
        WorkflowExecutionUpdateAcceptedEventAttributes,
        WorkflowExecutionUpdateCompletedEventAttributes, history_event::Attributes,
    },
    protocol::v1::{Message as ProtocolMessage, message::SequencingId},
    update::v1::{Acceptance, Outcome, Rejection, Request, Response, outcome},
};

use crate::error::{EngineError, Result};
use crate::history::{Effects, Execution, Registry};

/// An update that has not completed yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpdateState {
    /// Admission order.
    pub(crate) seq: u64,
    /// Prost-encoded `temporal.api.update.v1.Request`.
    pub(crate) request: Vec<u8>,
    /// Whether a worker has been handed the request since it was admitted; one admitted
    /// while a task was in flight needs another task.
    pub(crate) delivered: bool,
    /// The `WorkflowExecutionUpdateAccepted` event, once the worker accepted it.
    pub(crate) accepted_event_id: Option<i64>,
}

const TYPE_PREFIX: &str = "type.googleapis.com/";
const REQUEST: &str = "temporal.api.update.v1.Request";
const ACCEPTANCE: &str = "temporal.api.update.v1.Acceptance";
const REJECTION: &str = "temporal.api.update.v1.Rejection";
const RESPONSE: &str = "temporal.api.update.v1.Response";

/// Rejections remembered per run; a caller picks its answer up within moments.
const REJECTIONS_KEPT: usize = 64;

/// How far an update has come.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum UpdateStatus {
    /// Waiting for a worker to accept or reject it.
    Admitted,
    /// Accepted; the handler runs.
    Accepted,
    /// Completed, rejected, or failed because the run closed first.
    Completed(Box<Outcome>),
    /// The run closed before any worker accepted the update.
    Aborted,
}

impl Registry {
    /// Admits an update on an open run and makes sure a workflow task will carry it. An
    /// update id the run already knows is not admitted twice.
    pub(crate) fn admit_update(
        &mut self,
        run_id: &str,
        request: Request,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Result<()> {
        let update_id = update_id(&request)
            .ok_or_else(|| EngineError::invalid("Update id is not set on request."))?;
        let exec = self.run_mut(run_id)?;
        exec.ensure_open()?;
        if exec.update_status(&update_id).is_some() {
            return Ok(());
        }
        exec.state.update_seq += 1;
        let seq = exec.state.update_seq;
        exec.state.updates.insert(
            update_id.clone(),
            UpdateState {
                seq,
                request: request.encode_to_vec(),
                delivered: false,
                accepted_event_id: None,
            },
        );
        exec.dirty = true;
        tracing::debug!(
            workflow_id = exec.state.workflow_id,
            run_id,
            update_id,
            "update admitted"
        );
        exec.ensure_workflow_task(now_ms, fx);
        Ok(())
    }
}

impl Execution {
    /// Where update `update_id` stands; `None` when this run never saw it.
    pub(crate) fn update_status(&self, update_id: &str) -> Option<UpdateStatus> {
        if let Some(update) = self.state.updates.get(update_id) {
            return Some(match (update.accepted_event_id, self.is_open()) {
                (None, true) => UpdateStatus::Admitted,
                (Some(_), true) => UpdateStatus::Accepted,
                (None, false) => UpdateStatus::Aborted,
                (Some(_), false) => UpdateStatus::Completed(Box::new(closed_before_completion())),
            });
        }
        if let Some((_, failure)) = self.rejected_updates.iter().find(|(id, _)| id == update_id) {
            return Some(UpdateStatus::Completed(Box::new(failed(failure.clone()))));
        }
        self.events.iter().rev().find_map(|e| match &e.attributes {
            Some(Attributes::WorkflowExecutionUpdateCompletedEventAttributes(a))
                if a.meta.as_ref().is_some_and(|m| m.update_id == update_id) =>
            {
                Some(UpdateStatus::Completed(Box::new(
                    a.outcome.clone().unwrap_or_default(),
                )))
            }
            _ => None,
        })
    }

    /// The admitted updates as protocol messages for the workflow task starting with event
    /// `started_event_id`, oldest first. With a full history, requests handed out before but
    /// never answered (the task failed, or the worker lost them) go out again; an
    /// `incremental` task goes to a worker that has seen them, so it gets only new ones.
    pub(crate) fn update_messages(
        &mut self,
        started_event_id: i64,
        incremental: bool,
    ) -> Vec<ProtocolMessage> {
        let mut pending: Vec<(&String, &mut UpdateState)> = self
            .state
            .updates
            .iter_mut()
            .filter(|(_, u)| u.accepted_event_id.is_none() && !(incremental && u.delivered))
            .collect();
        pending.sort_by_key(|(_, u)| u.seq);
        let mut messages = Vec::with_capacity(pending.len());
        for (update_id, update) in pending {
            update.delivered = true;
            messages.push(ProtocolMessage {
                id: format!("{update_id}/request"),
                protocol_instance_id: update_id.clone(),
                body: Some(Any {
                    type_url: format!("{TYPE_PREFIX}{REQUEST}"),
                    value: update.request.clone(),
                }),
                sequencing_id: Some(SequencingId::EventId(started_event_id - 1)),
            });
        }
        if !messages.is_empty() {
            self.dirty = true;
        }
        messages
    }

    /// Whether an admitted update has not reached any worker yet (it came in while the
    /// current task was in flight), so another task must follow.
    pub(crate) fn has_undelivered_updates(&self) -> bool {
        self.state
            .updates
            .values()
            .any(|u| !u.delivered && u.accepted_event_id.is_none())
    }

    /// Applies one protocol message of a worker's completion.
    pub(crate) fn on_protocol_message(
        &mut self,
        message: ProtocolMessage,
        completed_id: i64,
        now_ms: i64,
    ) {
        let Some(body) = message.body else {
            return;
        };
        let kind = body
            .type_url
            .strip_prefix(TYPE_PREFIX)
            .unwrap_or(&body.type_url);
        let update_id = message.protocol_instance_id;
        let decoded = match kind {
            ACCEPTANCE => Acceptance::decode(body.value.as_slice())
                .map(|a| self.on_update_accepted(&update_id, a, now_ms)),
            REJECTION => Rejection::decode(body.value.as_slice())
                .map(|r| self.on_update_rejected(&update_id, r)),
            RESPONSE => Response::decode(body.value.as_slice())
                .map(|r| self.on_update_response(&update_id, r, now_ms)),
            other => {
                tracing::warn!(
                    run_id = self.state.run_id,
                    completed_id,
                    "ignoring protocol message of unknown type {other}"
                );
                return;
            }
        };
        if let Err(e) = decoded {
            tracing::warn!(
                run_id = self.state.run_id,
                update_id,
                "ignoring undecodable protocol message: {e}"
            );
        }
    }

    fn on_update_accepted(&mut self, update_id: &str, a: Acceptance, now_ms: i64) {
        if !self.is_open() {
            return;
        }
        let Some(update) = self.state.updates.get(update_id) else {
            tracing::warn!(
                run_id = self.state.run_id,
                update_id,
                "acceptance of an unknown update"
            );
            return;
        };
        if update.accepted_event_id.is_some() {
            return;
        }
        let accepted_request = a
            .accepted_request
            .or_else(|| Request::decode(update.request.as_slice()).ok());
        let accepted_event_id = self.append(
            now_ms,
            WorkflowExecutionUpdateAcceptedEventAttributes {
                protocol_instance_id: update_id.to_owned(),
                accepted_request_message_id: a.accepted_request_message_id,
                accepted_request_sequencing_event_id: a.accepted_request_sequencing_event_id,
                accepted_request,
            },
        );
        if let Some(update) = self.state.updates.get_mut(update_id) {
            update.accepted_event_id = Some(accepted_event_id);
        }
    }

    fn on_update_rejected(&mut self, update_id: &str, r: Rejection) {
        let Some(update) = self.state.updates.get(update_id) else {
            return;
        };
        if update.accepted_event_id.is_some() {
            tracing::warn!(
                run_id = self.state.run_id,
                update_id,
                "rejection after acceptance"
            );
            return;
        }
        self.state.updates.remove(update_id);
        self.dirty = true;
        if self.rejected_updates.len() >= REJECTIONS_KEPT {
            self.rejected_updates.pop_front();
        }
        self.rejected_updates
            .push_back((update_id.to_owned(), r.failure.unwrap_or_default()));
    }

    fn on_update_response(&mut self, update_id: &str, r: Response, now_ms: i64) {
        if !self.is_open() {
            return;
        }
        let Some(accepted_event_id) = self
            .state
            .updates
            .get(update_id)
            .and_then(|u| u.accepted_event_id)
        else {
            tracing::warn!(
                run_id = self.state.run_id,
                update_id,
                "response to an update not accepted"
            );
            return;
        };
        self.state.updates.remove(update_id);
        self.append(
            now_ms,
            WorkflowExecutionUpdateCompletedEventAttributes {
                meta: r.meta,
                accepted_event_id,
                outcome: r.outcome,
            },
        );
    }
}

fn update_id(request: &Request) -> Option<String> {
    request
        .meta
        .as_ref()
        .map(|m| m.update_id.clone())
        .filter(|id| !id.is_empty())
}

fn failed(failure: Failure) -> Outcome {
    Outcome {
        value: Some(outcome::Value::Failure(failure)),
    }
}

/// What the caller of an accepted update learns when the run closed before it completed.
fn closed_before_completion() -> Outcome {
    failed(Failure {
        message:
            "Workflow Update failed because the Workflow completed before the Update completed."
                .to_owned(),
        source: "Server".to_owned(),
        failure_info: Some(FailureInfo::ApplicationFailureInfo(
            ApplicationFailureInfo {
                r#type: "AcceptedUpdateCompletedWorkflow".to_owned(),
                non_retryable: true,
                ..Default::default()
            },
        )),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        command::v1::{ProtocolMessageCommandAttributes, command::Attributes as C},
        common::v1::Payloads,
        enums::v1::EventType as E,
        update::v1::{Input, Meta},
    };

    use super::*;
    use crate::history::testing::{NOW, complete, event_types, registry, start, take_task};

    fn request(update_id: &str) -> Request {
        Request {
            meta: Some(Meta {
                update_id: update_id.into(),
                identity: "client".into(),
            }),
            input: Some(Input {
                name: "set".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn message(update_id: &str, suffix: &str, type_name: &str, value: Vec<u8>) -> ProtocolMessage {
        ProtocolMessage {
            id: format!("{update_id}/{suffix}"),
            protocol_instance_id: update_id.into(),
            body: Some(Any {
                type_url: format!("{TYPE_PREFIX}{type_name}"),
                value,
            }),
            sequencing_id: None,
        }
    }

    fn command(message_id: &str) -> C {
        C::ProtocolMessageCommandAttributes(ProtocolMessageCommandAttributes {
            message_id: message_id.into(),
        })
    }

    fn admit(registry: &mut Registry, run_id: &str, update_id: &str) {
        registry
            .admit_update(run_id, request(update_id), NOW, &mut Effects::default())
            .unwrap_or_else(|e| panic!("admit: {e}"));
    }

    fn status(registry: &Registry, run_id: &str, update_id: &str) -> Option<UpdateStatus> {
        registry.run(run_id).ok()?.update_status(update_id)
    }

    #[test]
    fn accepted_then_completed_writes_both_events() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        admit(&mut registry, &run, "u1");
        admit(&mut registry, &run, "u1");
        let task = take_task(&mut registry, &run);
        assert_eq!(task.messages.len(), 1, "admitted once");
        assert_eq!(task.messages[0].id, "u1/request");
        assert_eq!(
            task.messages[0].sequencing_id,
            Some(SequencingId::EventId(task.started_event_id - 1))
        );
        let acceptance = Acceptance {
            accepted_request_message_id: "u1/request".into(),
            accepted_request_sequencing_event_id: task.started_event_id - 1,
            accepted_request: Some(request("u1")),
        };
        let outcome = Outcome {
            value: Some(outcome::Value::Success(Payloads::default())),
        };
        let response = Response {
            meta: request("u1").meta,
            outcome: Some(outcome.clone()),
        };
        complete(
            &mut registry,
            &task,
            vec![command("u1/accept"), command("u1/complete")],
            vec![
                message("u1", "accept", ACCEPTANCE, acceptance.encode_to_vec()),
                message("u1", "complete", RESPONSE, response.encode_to_vec()),
            ],
        );
        assert!(event_types(&registry, &run).ends_with(&[
            E::WorkflowTaskCompleted,
            E::WorkflowExecutionUpdateAccepted,
            E::WorkflowExecutionUpdateCompleted,
        ]));
        assert_eq!(
            status(&registry, &run, "u1"),
            Some(UpdateStatus::Completed(Box::new(outcome)))
        );
    }

    #[test]
    fn a_rejection_writes_no_event() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        admit(&mut registry, &run, "u1");
        let task = take_task(&mut registry, &run);
        let rejection = Rejection {
            rejected_request_message_id: "u1/request".into(),
            failure: Some(Failure {
                message: "no".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        complete(
            &mut registry,
            &task,
            vec![],
            vec![message(
                "u1",
                "reject",
                REJECTION,
                rejection.encode_to_vec(),
            )],
        );
        assert_eq!(
            event_types(&registry, &run).last(),
            Some(&E::WorkflowTaskCompleted)
        );
        let rejected = status(&registry, &run, "u1");
        assert!(
            matches!(&rejected, Some(UpdateStatus::Completed(o)) if matches!(&o.value, Some(outcome::Value::Failure(f)) if f.message == "no")),
            "{rejected:?}"
        );
    }

    #[test]
    fn an_update_admitted_during_a_task_gets_the_next_one() {
        let mut registry = registry();
        let run = start(&mut registry, "wf");
        let task = take_task(&mut registry, &run);
        admit(&mut registry, &run, "u1");
        complete(&mut registry, &task, vec![], vec![]);
        assert_eq!(
            event_types(&registry, &run).last(),
            Some(&E::WorkflowTaskScheduled)
        );
        let next = take_task(&mut registry, &run);
        assert_eq!(next.messages.len(), 1);
    }
}
