//! The console's errors, answered in the orders API's JSON shape:
//! `{"error": "<code>", "message": "<what went wrong and how to fix it>"}`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use temporalio_client::tonic::{Code, Status};

/// A failed console request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The request is malformed (400): the message names the parameter and the fix.
    #[error("{0}")]
    BadRequest(String),
    /// No or wrong credentials (401).
    #[error("{message}")]
    Unauthorized {
        /// What was missing or wrong.
        message: String,
        /// Whether to ask the browser for basic auth.
        basic: bool,
    },
    /// The console is read-only (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such workflow (404).
    #[error("{0}")]
    NotFound(String),
    /// The workflow's state does not allow this (409), e.g. it is already closed.
    #[error("{0}")]
    Conflict(String),
    /// Temporal did not answer in time (503): retry later.
    #[error("Temporal at {address} is unavailable: {message}")]
    Unavailable {
        /// The configured server address.
        address: String,
        /// What went wrong.
        message: String,
    },
    /// The console itself failed (500), e.g. a page template did not render: a bug in the
    /// console, not in Temporal or the request.
    #[error("the console failed: {0}")]
    Internal(String),
    /// Temporal answered with an error the console does not map (502).
    #[error("Temporal answered {code:?}: {message}")]
    Server {
        /// The gRPC status code.
        code: Code,
        /// The server's message.
        message: String,
    },
}

impl ConsoleError {
    /// Maps a gRPC status from Temporal; `what` names the object for "not found".
    pub(crate) fn from_status(status: &Status, what: &str, address: &str) -> Self {
        let message = status.message().to_owned();
        match status.code() {
            Code::NotFound => ConsoleError::NotFound(format!("{what} not found ({message})")),
            Code::InvalidArgument => ConsoleError::BadRequest(message),
            Code::FailedPrecondition | Code::AlreadyExists => ConsoleError::Conflict(message),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => {
                ConsoleError::Unavailable {
                    address: address.to_owned(),
                    message,
                }
            }
            code => ConsoleError::Server { code, message },
        }
    }

    /// The HTTP status and the machine-readable code.
    pub fn status(&self) -> (StatusCode, &'static str) {
        match self {
            ConsoleError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ConsoleError::Unauthorized { .. } => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ConsoleError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ConsoleError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ConsoleError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ConsoleError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ConsoleError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ConsoleError::Server { .. } => (StatusCode::BAD_GATEWAY, "server_error"),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, code) = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, "console request failed");
        }
        let basic = matches!(self, ConsoleError::Unauthorized { basic: true, .. });
        let mut response = (
            status,
            Json(json!({ "error": code, "message": self.to_string() })),
        )
            .into_response();
        if basic {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"workflow console\", charset=\"UTF-8\""),
            );
        }
        response
    }
}
