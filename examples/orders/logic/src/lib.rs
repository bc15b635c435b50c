//! The orders integration's workflow logic: the worker layer.
//!
//! [`OrderWorkflow`] is a saga over the [`OrderActivities`]; shipping runs as the child
//! [`ShippingWorkflow`]. [`register`] puts all of it on a worker. Only the worker fleet (and
//! the co-located and demo binaries) depend on this crate; the API fleet uses
//! `orders-contract`.

pub mod activities;
pub mod ledger;
mod order;
mod shipping;

use std::path::PathBuf;

pub use activities::OrderActivities;
pub use ledger::Ledger;
pub use order::OrderWorkflow;
pub use shipping::ShippingWorkflow;
use temporalio_sdk::{WorkerOptions, WorkflowRegistrationError};

/// Settings of the worker side, from the environment.
#[derive(Debug, Clone)]
pub struct LogicSettings {
    /// Where the ledger lives (`ORDERS_LEDGER_PATH`, default `orders-ledger.db`).
    pub ledger_path: PathBuf,
    /// Share of payment attempts that fail transiently (`ORDERS_PAYMENT_FAILURE_RATE`, 0.0..=1.0,
    /// default 0.0).
    pub payment_failure_rate: f64,
}

impl LogicSettings {
    /// Reads the settings from the environment; a bad value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        let ledger_path = std::env::var("ORDERS_LEDGER_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("orders-ledger.db"));
        let payment_failure_rate = match std::env::var("ORDERS_PAYMENT_FAILURE_RATE") {
            Ok(v) => match v.trim().parse::<f64>() {
                Ok(rate) if (0.0..=1.0).contains(&rate) => rate,
                _ => {
                    return Err(format!(
                        "ORDERS_PAYMENT_FAILURE_RATE = {v:?}: give a number from 0.0 to 1.0"
                    ));
                }
            },
            Err(_) => 0.0,
        };
        Ok(Self {
            ledger_path,
            payment_failure_rate,
        })
    }
}

/// Registers the orders workflows and activities on a worker.
pub fn register(
    options: &mut WorkerOptions,
    activities: OrderActivities,
) -> Result<(), WorkflowRegistrationError> {
    options
        .register_workflow::<OrderWorkflow>()?
        .register_workflow::<ShippingWorkflow>()?
        .register_activities(activities);
    Ok(())
}
