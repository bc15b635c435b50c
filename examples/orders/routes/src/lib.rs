//! The orders integration's API layer: HTTP routes over the Workflow Library's client.
//!
//! | route | does |
//! |---|---|
//! | `POST /orders` | places an order (idempotent on `order_id`) |
//! | `GET /orders` | lists orders |
//! | `GET /orders/{id}` | live status (a query) |
//! | `POST /orders/{id}/approve`, `/reject` | a decision (a signal) |
//! | `PUT /orders/{id}/shipping-address` | changes the address before shipping (an update) |
//! | `POST /orders/{id}/cancel` | cancels (compensates what was done) |
//! | `GET /orders/{id}/result?wait=10s` | the final outcome, waiting up to `wait` |
//!
//! This crate depends on `orders-contract` and the library only, never on the logic.

mod error;
mod routes;

use std::time::Duration;

pub use error::ApiError;
use orders_contract::ApprovalPolicy;
pub use routes::router;

/// Settings of the API layer, from the environment.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Orders of this amount or more need approval (`ORDERS_APPROVAL_THRESHOLD_CENTS`,
    /// default 100000).
    pub approval: ApprovalPolicy,
}

impl ApiSettings {
    /// Reads the settings; a bad value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let threshold_cents = match std::env::var("ORDERS_APPROVAL_THRESHOLD_CENTS") {
            Ok(v) => v.trim().parse::<u64>().map_err(|_| {
                format!("ORDERS_APPROVAL_THRESHOLD_CENTS = {v:?}: give a whole number of cents")
            })?,
            Err(_) => 100_000,
        };
        let timeout = match std::env::var("ORDERS_APPROVAL_TIMEOUT") {
            Ok(v) => humantime::parse_duration(v.trim()).map_err(|e| {
                format!("ORDERS_APPROVAL_TIMEOUT = {v:?}: give a duration such as \"1h\" ({e})")
            })?,
            Err(_) => Duration::from_secs(3600),
        };
        Ok(Self {
            approval: ApprovalPolicy {
                threshold_cents,
                timeout_secs: timeout.as_secs().max(1),
            },
        })
    }
}
