//! Building history events: the event type always matches the attributes.

use temporalio_protos::temporal::api::{
    enums::v1::EventType,
    history::v1::{HistoryEvent, history_event::Attributes},
};

use crate::time::timestamp;

/// A history event with `attributes`, at `time_ms`; the id is assigned when it is appended.
pub(crate) fn event(id: i64, time_ms: i64, attributes: Attributes) -> HistoryEvent {
    let event_type = event_type(&attributes);
    HistoryEvent {
        event_id: id,
        event_time: Some(timestamp(time_ms)),
        event_type: event_type as i32,
        // As on the real server: SDKs skip the options event (they fail on it otherwise), and
        // older SDKs do not know the outcome of a Nexus cancel request.
        worker_may_ignore: matches!(
            event_type,
            EventType::WorkflowExecutionOptionsUpdated
                | EventType::NexusOperationCancelRequestCompleted
                | EventType::NexusOperationCancelRequestFailed
        ),
        task_id: id,
        attributes: Some(attributes),
        ..Default::default()
    }
}

/// The event type that matches a set of attributes.
pub(crate) fn event_type(attributes: &Attributes) -> EventType {
    use Attributes as A;
    use EventType as E;
    match attributes {
        A::WorkflowExecutionStartedEventAttributes(_) => E::WorkflowExecutionStarted,
        A::WorkflowExecutionCompletedEventAttributes(_) => E::WorkflowExecutionCompleted,
        A::WorkflowExecutionFailedEventAttributes(_) => E::WorkflowExecutionFailed,
        A::WorkflowExecutionTimedOutEventAttributes(_) => E::WorkflowExecutionTimedOut,
        A::WorkflowTaskScheduledEventAttributes(_) => E::WorkflowTaskScheduled,
        A::WorkflowTaskStartedEventAttributes(_) => E::WorkflowTaskStarted,
        A::WorkflowTaskCompletedEventAttributes(_) => E::WorkflowTaskCompleted,
        A::WorkflowTaskTimedOutEventAttributes(_) => E::WorkflowTaskTimedOut,
        A::WorkflowTaskFailedEventAttributes(_) => E::WorkflowTaskFailed,
        A::ActivityTaskScheduledEventAttributes(_) => E::ActivityTaskScheduled,
        A::ActivityTaskStartedEventAttributes(_) => E::ActivityTaskStarted,
        A::ActivityTaskCompletedEventAttributes(_) => E::ActivityTaskCompleted,
        A::ActivityTaskFailedEventAttributes(_) => E::ActivityTaskFailed,
        A::ActivityTaskTimedOutEventAttributes(_) => E::ActivityTaskTimedOut,
        A::TimerStartedEventAttributes(_) => E::TimerStarted,
        A::TimerFiredEventAttributes(_) => E::TimerFired,
        A::ActivityTaskCancelRequestedEventAttributes(_) => E::ActivityTaskCancelRequested,
        A::ActivityTaskCanceledEventAttributes(_) => E::ActivityTaskCanceled,
        A::TimerCanceledEventAttributes(_) => E::TimerCanceled,
        A::MarkerRecordedEventAttributes(_) => E::MarkerRecorded,
        A::WorkflowExecutionSignaledEventAttributes(_) => E::WorkflowExecutionSignaled,
        A::WorkflowExecutionTerminatedEventAttributes(_) => E::WorkflowExecutionTerminated,
        A::WorkflowExecutionCancelRequestedEventAttributes(_) => {
            E::WorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionCanceledEventAttributes(_) => E::WorkflowExecutionCanceled,
        A::WorkflowExecutionContinuedAsNewEventAttributes(_) => E::WorkflowExecutionContinuedAsNew,
        A::UpsertWorkflowSearchAttributesEventAttributes(_) => E::UpsertWorkflowSearchAttributes,
        A::WorkflowPropertiesModifiedEventAttributes(_) => E::WorkflowPropertiesModified,
        A::StartChildWorkflowExecutionInitiatedEventAttributes(_) => {
            E::StartChildWorkflowExecutionInitiated
        }
        A::StartChildWorkflowExecutionFailedEventAttributes(_) => {
            E::StartChildWorkflowExecutionFailed
        }
        A::ChildWorkflowExecutionStartedEventAttributes(_) => E::ChildWorkflowExecutionStarted,
        A::ChildWorkflowExecutionCompletedEventAttributes(_) => E::ChildWorkflowExecutionCompleted,
        A::ChildWorkflowExecutionFailedEventAttributes(_) => E::ChildWorkflowExecutionFailed,
        A::ChildWorkflowExecutionCanceledEventAttributes(_) => E::ChildWorkflowExecutionCanceled,
        A::ChildWorkflowExecutionTimedOutEventAttributes(_) => E::ChildWorkflowExecutionTimedOut,
        A::ChildWorkflowExecutionTerminatedEventAttributes(_) => {
            E::ChildWorkflowExecutionTerminated
        }
        A::SignalExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            E::SignalExternalWorkflowExecutionInitiated
        }
        A::SignalExternalWorkflowExecutionFailedEventAttributes(_) => {
            E::SignalExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionSignaledEventAttributes(_) => {
            E::ExternalWorkflowExecutionSignaled
        }
        A::RequestCancelExternalWorkflowExecutionInitiatedEventAttributes(_) => {
            E::RequestCancelExternalWorkflowExecutionInitiated
        }
        A::RequestCancelExternalWorkflowExecutionFailedEventAttributes(_) => {
            E::RequestCancelExternalWorkflowExecutionFailed
        }
        A::ExternalWorkflowExecutionCancelRequestedEventAttributes(_) => {
            E::ExternalWorkflowExecutionCancelRequested
        }
        A::WorkflowExecutionUpdateAcceptedEventAttributes(_) => E::WorkflowExecutionUpdateAccepted,
        A::WorkflowExecutionUpdateCompletedEventAttributes(_) => {
            E::WorkflowExecutionUpdateCompleted
        }
        A::WorkflowExecutionOptionsUpdatedEventAttributes(_) => E::WorkflowExecutionOptionsUpdated,
        A::NexusOperationScheduledEventAttributes(_) => E::NexusOperationScheduled,
        A::NexusOperationStartedEventAttributes(_) => E::NexusOperationStarted,
        A::NexusOperationCompletedEventAttributes(_) => E::NexusOperationCompleted,
        A::NexusOperationFailedEventAttributes(_) => E::NexusOperationFailed,
        A::NexusOperationCanceledEventAttributes(_) => E::NexusOperationCanceled,
        A::NexusOperationTimedOutEventAttributes(_) => E::NexusOperationTimedOut,
        A::NexusOperationCancelRequestedEventAttributes(_) => E::NexusOperationCancelRequested,
        A::NexusOperationCancelRequestCompletedEventAttributes(_) => {
            E::NexusOperationCancelRequestCompleted
        }
        A::NexusOperationCancelRequestFailedEventAttributes(_) => {
            E::NexusOperationCancelRequestFailed
        }
        _ => E::Unspecified,
    }
}

/// Whether an event closes its workflow execution.
pub(crate) fn is_close_event(event: &HistoryEvent) -> bool {
    matches!(
        EventType::try_from(event.event_type),
        Ok(EventType::WorkflowExecutionCompleted
            | EventType::WorkflowExecutionFailed
            | EventType::WorkflowExecutionTimedOut
            | EventType::WorkflowExecutionTerminated
            | EventType::WorkflowExecutionCanceled
            | EventType::WorkflowExecutionContinuedAsNew)
    )
}
