//! The completion callback the engine gives a Nexus handler with each start request: the
//! real server's system callback URL (`temporal://system`) and a token naming the caller's
//! operation. A handler that starts a workflow attaches both to it; when that workflow
//! closes, the engine reads the token back and completes the operation in the caller's run
//! directly (no HTTP).

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

/// The callback URL that means "deliver inside this server", as on the real server.
pub(crate) const SYSTEM_CALLBACK_URL: &str = "temporal://system";
/// The callback header that carries the token.
pub(crate) const CALLBACK_TOKEN_HEADER: &str = "temporal-callback-token";

/// Which operation a completion callback completes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CallbackToken {
    pub(crate) namespace: String,
    pub(crate) workflow_id: String,
    pub(crate) run_id: String,
    pub(crate) scheduled_event_id: i64,
    pub(crate) request_id: String,
}

impl CallbackToken {
    pub(crate) fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// The token, if `text` is one this engine made.
    pub(crate) fn decode(text: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_tokens() {
        let token = CallbackToken {
            namespace: "default".into(),
            workflow_id: "caller".into(),
            run_id: "r1".into(),
            scheduled_event_id: 5,
            request_id: "req".into(),
        };
        assert_eq!(CallbackToken::decode(&token.encode()), Some(token));
        assert_eq!(CallbackToken::decode(r#"{"v":1,"d":"CiQw"}"#), None);
    }
}
