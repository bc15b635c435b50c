//! Task tokens: opaque to workers, JSON inside, naming exactly the task attempt they answer.

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};

/// What a task token refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TaskToken {
    /// A started workflow task.
    Workflow {
        run_id: String,
        scheduled_event_id: i64,
        started_event_id: i64,
    },
    /// A started activity attempt.
    Activity {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
    },
    /// A query task.
    Query { query_id: String },
    /// A Nexus operation's start (or cancel) request attempt.
    Nexus {
        run_id: String,
        scheduled_event_id: i64,
        attempt: i32,
        cancel: bool,
    },
}

impl TaskToken {
    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        // The real server's messages for a missing and an unreadable token.
        if bytes.is_empty() {
            return Err(EngineError::invalid("Task token not set on request."));
        }
        serde_json::from_slice(bytes)
            .map_err(|_| EngineError::invalid("Error deserializing task token."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let token = TaskToken::Activity {
            run_id: "r".into(),
            scheduled_event_id: 5,
            attempt: 2,
        };
        assert_eq!(TaskToken::decode(&token.encode()).ok(), Some(token));
        assert!(TaskToken::decode(b"nope").is_err());
    }
}
