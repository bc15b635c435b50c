//! The orders activities: the only code that touches the outside world (here, the ledger).
//!
//! Every activity is idempotent through the ledger, so Temporal's at-least-once execution
//! (retries, a worker killed after the effect but before reporting it) never duplicates an
//! effect. Payment fails transiently at a configurable rate so retries are visible.
// The SDK's macros generate undocumented marker constants for each method.
#![allow(missing_docs)]

use std::sync::Arc;

use orders_contract::{Address, LineItem};
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::ApplicationFailure;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use crate::ledger::Ledger;

/// Error type name of a payment that must not be retried.
pub const PAYMENT_DECLINED: &str = "PaymentDeclined";

/// Customers whose name starts with this are declined by the payment provider (for demos and
/// tests of the compensation path).
pub const DECLINED_CUSTOMER_PREFIX: &str = "declined";

/// Input of [`OrderActivities::reserve_inventory`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReserveInput {
    /// The order.
    pub order_id: String,
    /// What to reserve.
    pub items: Vec<LineItem>,
}

/// Input of [`OrderActivities::charge_payment`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChargeInput {
    /// The order.
    pub order_id: String,
    /// Who pays.
    pub customer: String,
    /// How much.
    pub amount_cents: u64,
}

/// Input of the compensations and of shipping: which order, and the effect's reference.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EffectRef {
    /// The order.
    pub order_id: String,
    /// The reservation or payment id to undo.
    pub reference: String,
}

/// Input of [`OrderActivities::book_carrier`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BookCarrierInput {
    /// The order.
    pub order_id: String,
    /// Where to ship.
    pub address: Address,
}

/// The activities, with what they need from the process.
pub struct OrderActivities {
    ledger: Ledger,
    payment_failure_rate: f64,
}

impl OrderActivities {
    /// Activities that record to `ledger` and fail payments transiently at `payment_failure_rate`
    /// (0.0 to 1.0).
    pub fn new(ledger: Ledger, payment_failure_rate: f64) -> Self {
        Self {
            ledger,
            payment_failure_rate: payment_failure_rate.clamp(0.0, 1.0),
        }
    }
}

fn ledger_error(e: crate::ledger::LedgerError) -> ActivityError {
    ActivityError::from(e)
}

#[activities]
impl OrderActivities {
    /// Reserves stock for the order's items.
    #[activity]
    pub async fn reserve_inventory(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: ReserveInput,
    ) -> Result<String, ActivityError> {
        let units: u32 = input.items.iter().map(|i| i.quantity).sum();
        let reference = format!("rsv-{}-{units}", input.order_id);
        self.ledger
            .record(&input.order_id, "reserve", &reference)
            .await
            .map_err(ledger_error)
    }

    /// Releases a reservation (compensation).
    #[activity]
    pub async fn release_inventory(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: EffectRef,
    ) -> Result<(), ActivityError> {
        self.ledger
            .record(&input.order_id, "release", &input.reference)
            .await
            .map(|_| ())
            .map_err(ledger_error)
    }

    /// Charges the customer. Fails transiently at the configured rate; customers named
    /// `declined...` are declined for good.
    #[activity]
    pub async fn charge_payment(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: ChargeInput,
    ) -> Result<String, ActivityError> {
        if input.customer.starts_with(DECLINED_CUSTOMER_PREFIX) {
            return Err(ActivityError::application(
                ApplicationFailure::builder(format!("card of {} declined", input.customer))
                    .type_name(PAYMENT_DECLINED.to_owned())
                    .non_retryable(true)
                    .build(),
            ));
        }
        if let Some(existing) = self
            .ledger
            .find(&input.order_id, "charge")
            .await
            .map_err(ledger_error)?
        {
            return Ok(existing);
        }
        if fastrand::f64() < self.payment_failure_rate {
            tracing::info!(order_id = %input.order_id, attempt = ctx.info().attempt, "payment provider unavailable (simulated)");
            return Err(ActivityError::application(ApplicationFailure::new(
                "payment provider unavailable (simulated transient failure)",
            )));
        }
        let reference = format!("pay-{}-{}", input.order_id, input.amount_cents);
        self.ledger
            .record(&input.order_id, "charge", &reference)
            .await
            .map_err(ledger_error)
    }

    /// Refunds a charge (compensation).
    #[activity]
    pub async fn refund_payment(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: EffectRef,
    ) -> Result<(), ActivityError> {
        self.ledger
            .record(&input.order_id, "refund", &input.reference)
            .await
            .map(|_| ())
            .map_err(ledger_error)
    }

    /// Books a carrier and returns the tracking number.
    #[activity]
    pub async fn book_carrier(
        self: Arc<Self>,
        _ctx: ActivityContext,
        input: BookCarrierInput,
    ) -> Result<String, ActivityError> {
        let reference = format!("trk-{}-{}", input.order_id, input.address.postal_code);
        self.ledger
            .record(&input.order_id, "ship", &reference)
            .await
            .map_err(ledger_error)
    }
}
