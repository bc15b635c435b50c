//! The shipping child workflow: books a carrier for one order.
// The SDK's macros generate undocumented marker constants for each method.
#![allow(missing_docs)]

use std::time::Duration;

use orders_contract::{Shipment, ShipmentRequest};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{ActivityOptions, WorkflowContext, WorkflowContextView, WorkflowResult};

use crate::activities::{BookCarrierInput, OrderActivities};

/// Ships one order.
#[workflow]
pub struct ShippingWorkflow {
    request: ShipmentRequest,
}

#[workflow_methods]
impl ShippingWorkflow {
    /// Keeps the request.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, request: ShipmentRequest) -> Self {
        Self { request }
    }

    /// Books the carrier.
    #[run(name = "ShippingWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<Shipment> {
        let request = ctx.state(|s| s.request.clone());
        let tracking_number = ctx
            .execute_activity(
                OrderActivities::book_carrier,
                BookCarrierInput {
                    order_id: request.order_id,
                    address: request.address,
                },
                ActivityOptions::start_to_close_timeout(Duration::from_secs(10)),
            )
            .await?;
        Ok(Shipment { tracking_number })
    }
}
