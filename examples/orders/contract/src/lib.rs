//! The orders integration's contract: what the API layer and the workflow logic agree on.
//!
//! Names and payload types only, no logic: the API fleet depends on this crate and never on
//! `orders-logic`. The logic crate's test `contract_agreement` proves that what its worker
//! registers matches these declarations.

use serde::{Deserialize, Serialize};

/// The task queue the orders workers poll.
pub const TASK_QUEUE: &str = "orders";

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number.
    pub line1: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_code: String,
    /// ISO country code.
    pub country: String,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineItem {
    /// Stock-keeping unit.
    pub sku: String,
    /// How many.
    pub quantity: u32,
}

/// When an order needs a person's approval, and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalPolicy {
    /// Orders of this amount or more wait for approval.
    pub threshold_cents: u64,
    /// How long to wait for a decision before giving up on the order.
    pub timeout_secs: u64,
}

/// The input of [`OrderWorkflow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The client's order id; also the workflow id, which makes placing an order idempotent.
    pub order_id: String,
    /// Who ordered.
    pub customer: String,
    /// What was ordered.
    pub items: Vec<LineItem>,
    /// Total to charge, in cents.
    pub amount_cents: u64,
    /// Where to ship.
    pub shipping_address: Address,
    /// The approval rule in force when the order was placed.
    pub approval: ApprovalPolicy,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Reserving inventory.
    Reserving,
    /// Charging the payment.
    Charging,
    /// Waiting for a person to approve or reject.
    AwaitingApproval,
    /// The shipping child workflow is running.
    Shipping,
    /// Shipped: final.
    Completed,
    /// Undoing the charge and the reservation.
    Compensating,
    /// Cancelled by request; compensated: final.
    Cancelled,
    /// Rejected by a person, or no decision in time; compensated: final.
    Rejected,
    /// Payment failed for good; compensated: final.
    Failed,
}

impl OrderState {
    /// Whether the order will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OrderState::Completed
                | OrderState::Cancelled
                | OrderState::Rejected
                | OrderState::Failed
        )
    }
}

/// The live status of an order, answered by the [`GetStatus`] query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatus {
    /// The order id.
    pub order_id: String,
    /// Where the order is.
    pub state: OrderState,
    /// The amount.
    pub amount_cents: u64,
    /// Whether this order waits for approval.
    pub approval_required: bool,
    /// Current shipping address (an update can change it until shipping starts).
    pub shipping_address: Address,
    /// The payment id once charged.
    pub payment_id: Option<String>,
    /// The tracking number once shipped.
    pub tracking_number: Option<String>,
    /// Why the order ended the way it did, when not completed.
    pub reason: Option<String>,
}

/// The result of [`OrderWorkflow`]: its final status.
pub type OrderOutcome = OrderStatus;

/// A person's decision on an order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Who decided.
    #[serde(default)]
    pub by: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// The input of [`ShippingWorkflow`], a child of [`OrderWorkflow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRequest {
    /// The order.
    pub order_id: String,
    /// Where to.
    pub address: Address,
    /// What.
    pub items: Vec<LineItem>,
}

/// The result of [`ShippingWorkflow`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// The carrier's tracking number.
    pub tracking_number: String,
}

workflow::contract! {
    /// One order, from reservation to shipment, compensated on failure (a saga).
    pub workflow OrderWorkflow = "OrderWorkflow" (OrderRequest) -> OrderOutcome {
        signals {
            /// A person approves the order.
            Approve = "approve" (Decision);
            /// A person rejects the order.
            Reject = "reject" (Decision);
        }
        queries {
            /// The order's live status.
            GetStatus = "status" (()) -> OrderStatus;
        }
        updates {
            /// Changes the shipping address; rejected once shipping has started.
            ChangeShippingAddress = "change_shipping_address" (Address) -> OrderStatus;
        }
    }

    /// Ships one order: books a carrier and returns the tracking number.
    pub workflow ShippingWorkflow = "ShippingWorkflow" (ShipmentRequest) -> Shipment {
        signals {}
        queries {}
        updates {}
    }
}

/// The library configuration defaults of the orders binaries: the orders task queue and the
/// binary's role. The file and the environment override them.
pub fn default_config(role: workflow::Role) -> workflow::Config {
    let mut config = workflow::Config::default();
    config.temporal.task_queue = TASK_QUEUE.to_owned();
    config.role = role;
    config
}

/// The workflow id of an order.
pub fn order_workflow_id(order_id: &str) -> String {
    format!("order-{order_id}")
}

/// The workflow id of an order's shipping child.
pub fn shipping_workflow_id(order_id: &str) -> String {
    format!("shipping-{order_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_serialise_in_snake_case() {
        let json = serde_json::to_string(&OrderState::AwaitingApproval).unwrap();
        assert_eq!(json, "\"awaiting_approval\"");
        assert!(OrderState::Rejected.is_final());
        assert!(!OrderState::Shipping.is_final());
    }

    #[test]
    fn spec_lists_every_handler() {
        let spec = OrderWorkflow::spec();
        assert_eq!(spec.name, "OrderWorkflow");
        let signals: Vec<_> = spec.signals.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(signals, ["approve", "reject"]);
        assert_eq!(spec.queries[0].name, "status");
        assert_eq!(spec.updates[0].name, "change_shipping_address");
    }
}
