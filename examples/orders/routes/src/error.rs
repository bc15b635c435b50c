//! HTTP errors: input errors are shown as they are, internal ones are logged and hidden
//! behind a generic message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use workflow::ClientError;

/// An error answer of the orders API.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed or invalid (400).
    BadRequest(String),
    /// No such order (404).
    NotFound(String),
    /// The order is in a state that does not allow this (409).
    Conflict(String),
    /// Temporal is unavailable (503): retry later.
    Unavailable(String),
    /// A bug or an unexpected answer (500); details are logged, not returned.
    Internal(String),
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::NotFound { .. } => ApiError::NotFound("no such order".to_owned()),
            ClientError::AlreadyStarted { .. } => ApiError::Conflict(error.to_string()),
            ClientError::Unavailable { .. } | ClientError::NoAnswer { .. } => {
                ApiError::Unavailable(format!(
                    "the workflow service is unavailable, retry later ({error})"
                ))
            }
            ClientError::UpdateRejected { message, .. } => ApiError::Conflict(message),
            ClientError::InvalidRequest(status) => {
                ApiError::BadRequest(status.message().to_owned())
            }
            ClientError::QueryFailed { .. } | ClientError::QueryRejected { .. } => {
                ApiError::Unavailable(error.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            ApiError::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m),
            ApiError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; see the server log".to_owned(),
                )
            }
        };
        (status, Json(json!({ "error": code, "message": message }))).into_response()
    }
}
