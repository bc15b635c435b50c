//! The order workflow: reserve, charge, wait for approval when the amount calls for it,
//! ship through a child workflow; on payment failure, rejection, no decision in time or
//! cancellation, compensate what was done (refund, release) in reverse order: a saga.
// The SDK's macros generate undocumented marker constants for each method.
#![allow(missing_docs)]

use std::time::Duration;

use orders_contract::{
    Address, Decision, OrderOutcome, OrderRequest, OrderState, OrderStatus, ShipmentRequest,
    shipping_workflow_id,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, ChildWorkflowOptions, SyncWorkflowContext,
    WorkflowCancellationToken, WorkflowContext, WorkflowContextView, WorkflowResult,
    WorkflowTermination,
};
use temporalio_workflow::common::RetryPolicy;

use crate::activities::{ChargeInput, EffectRef, OrderActivities, PAYMENT_DECLINED, ReserveInput};
use crate::shipping::ShippingWorkflow;

/// A person's verdict, once given.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Approved,
    Rejected(Option<String>),
}

/// Why an order stops short of shipping.
enum Ending {
    Cancelled,
    Rejected(String),
    Failed(String),
}

/// What has been done and must be undone if the order does not complete.
#[derive(Default)]
struct Compensations {
    reservation: Option<String>,
    payment: Option<String>,
}

/// One order's saga.
#[workflow]
pub struct OrderWorkflow {
    request: OrderRequest,
    status: OrderStatus,
    verdict: Option<Verdict>,
}

#[workflow_methods]
impl OrderWorkflow {
    /// Builds the initial state from the request.
    #[init]
    pub fn new(_ctx: &WorkflowContextView, request: OrderRequest) -> Self {
        let status = OrderStatus {
            order_id: request.order_id.clone(),
            state: OrderState::Reserving,
            amount_cents: request.amount_cents,
            approval_required: request.amount_cents >= request.approval.threshold_cents,
            shipping_address: request.shipping_address.clone(),
            payment_id: None,
            tracking_number: None,
            reason: None,
        };
        Self {
            request,
            status,
            verdict: None,
        }
    }

    /// Runs the order to a final state.
    #[run(name = "OrderWorkflow")]
    pub async fn run(ctx: &mut WorkflowContext<Self>) -> WorkflowResult<OrderOutcome> {
        let request = ctx.state(|s| s.request.clone());
        let order_id = request.order_id.clone();
        let mut done = Compensations::default();

        let reserved = ctx
            .execute_activity(
                OrderActivities::reserve_inventory,
                ReserveInput {
                    order_id: order_id.clone(),
                    items: request.items.clone(),
                },
                step_options(),
            )
            .await;
        match reserved {
            Ok(reservation) => done.reservation = Some(reservation),
            Err(e) => {
                return Self::finish(ctx, activity_ending(ctx, "reserving inventory", &e), done)
                    .await;
            }
        }

        set_state(ctx, OrderState::Charging);
        let charged = ctx
            .execute_activity(
                OrderActivities::charge_payment,
                ChargeInput {
                    order_id: order_id.clone(),
                    customer: request.customer.clone(),
                    amount_cents: request.amount_cents,
                },
                payment_options(),
            )
            .await;
        match charged {
            Ok(payment) => {
                ctx.state_mut(|s| s.status.payment_id = Some(payment.clone()));
                done.payment = Some(payment);
            }
            Err(e) => {
                return Self::finish(ctx, activity_ending(ctx, "charging payment", &e), done).await;
            }
        }

        if ctx.state(|s| s.status.approval_required) {
            set_state(ctx, OrderState::AwaitingApproval);
            let wait = Duration::from_secs(request.approval.timeout_secs);
            temporalio_sdk::workflows::select! {
                _ = ctx.wait_condition(|s: &Self| s.verdict.is_some()) => {}
                _ = ctx.timer(wait) => {}
            };
            if ctx.cancellation_token().is_cancelled() {
                return Self::finish(ctx, Ending::Cancelled, done).await;
            }
            match ctx.state(|s| s.verdict.clone()) {
                Some(Verdict::Approved) => {}
                Some(Verdict::Rejected(reason)) => {
                    let reason = reason.unwrap_or_else(|| "rejected".to_owned());
                    return Self::finish(ctx, Ending::Rejected(reason), done).await;
                }
                None => {
                    let reason = format!("no decision within {}s", request.approval.timeout_secs);
                    return Self::finish(ctx, Ending::Rejected(reason), done).await;
                }
            }
        }

        set_state(ctx, OrderState::Shipping);
        let shipment_request = ShipmentRequest {
            order_id: order_id.clone(),
            address: ctx.state(|s| s.status.shipping_address.clone()),
            items: request.items.clone(),
        };
        let started = ctx
            .start_child_workflow(
                ShippingWorkflow::run,
                shipment_request,
                ChildWorkflowOptions::workflow_id(shipping_workflow_id(&order_id)),
            )
            .await;
        let shipped = match started {
            Ok(child) => child.result().await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match shipped {
            Ok(shipment) => {
                ctx.state_mut(|s| {
                    s.status.tracking_number = Some(shipment.tracking_number);
                    s.status.state = OrderState::Completed;
                });
                Ok(ctx.state(|s| s.status.clone()))
            }
            Err(message) => {
                let ending = if ctx.cancellation_token().is_cancelled() {
                    Ending::Cancelled
                } else {
                    Ending::Failed(format!("shipping failed: {message}"))
                };
                Self::finish(ctx, ending, done).await
            }
        }
    }

    /// Undoes what was done, newest first, and closes the order.
    async fn finish(
        ctx: &mut WorkflowContext<Self>,
        ending: Ending,
        done: Compensations,
    ) -> WorkflowResult<OrderOutcome> {
        set_state(ctx, OrderState::Compensating);
        let order_id = ctx.state(|s| s.request.order_id.clone());
        if let Some(payment) = done.payment {
            ctx.execute_activity(
                OrderActivities::refund_payment,
                EffectRef {
                    order_id: order_id.clone(),
                    reference: payment,
                },
                compensation_options(),
            )
            .await?;
        }
        if let Some(reservation) = done.reservation {
            ctx.execute_activity(
                OrderActivities::release_inventory,
                EffectRef {
                    order_id,
                    reference: reservation,
                },
                compensation_options(),
            )
            .await?;
        }
        let (state, reason) = match &ending {
            Ending::Cancelled => (OrderState::Cancelled, "cancelled by request".to_owned()),
            Ending::Rejected(reason) => (OrderState::Rejected, reason.clone()),
            Ending::Failed(reason) => (OrderState::Failed, reason.clone()),
        };
        ctx.state_mut(|s| {
            s.status.state = state;
            s.status.reason = Some(reason);
        });
        match ending {
            Ending::Cancelled => Err(WorkflowTermination::cancelled()),
            Ending::Rejected(_) | Ending::Failed(_) => Ok(ctx.state(|s| s.status.clone())),
        }
    }

    /// A person approves.
    #[signal]
    pub fn approve(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _decision: Decision) {
        if self.verdict.is_none() {
            self.verdict = Some(Verdict::Approved);
        }
    }

    /// A person rejects.
    #[signal]
    pub fn reject(&mut self, _ctx: &mut SyncWorkflowContext<Self>, decision: Decision) {
        if self.verdict.is_none() {
            self.verdict = Some(Verdict::Rejected(decision.reason));
        }
    }

    /// The live status.
    #[query(name = "status")]
    pub fn status(&self, _ctx: &WorkflowContextView) -> OrderStatus {
        self.status.clone()
    }

    /// Refuses an address change once shipping has started or the order is closed.
    #[update_validator(change_shipping_address)]
    fn validate_change_shipping_address(
        &self,
        _ctx: &WorkflowContextView,
        address: &Address,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        if address.line1.trim().is_empty() || address.postal_code.trim().is_empty() {
            return Err("address needs line1 and postal_code".into());
        }
        match self.status.state {
            OrderState::Reserving | OrderState::Charging | OrderState::AwaitingApproval => Ok(()),
            state => {
                Err(format!("cannot change the address of an order in state {state:?}").into())
            }
        }
    }

    /// Changes the shipping address.
    #[update]
    pub fn change_shipping_address(
        &mut self,
        _ctx: &mut SyncWorkflowContext<Self>,
        address: Address,
    ) -> OrderStatus {
        self.status.shipping_address = address;
        self.status.clone()
    }
}

fn set_state(ctx: &WorkflowContext<OrderWorkflow>, state: OrderState) {
    ctx.state_mut(|s| s.status.state = state);
}

fn activity_ending(
    ctx: &WorkflowContext<OrderWorkflow>,
    step: &str,
    error: &ActivityExecutionError,
) -> Ending {
    if ctx.cancellation_token().is_cancelled()
        || matches!(error, ActivityExecutionError::Cancelled(_))
    {
        return Ending::Cancelled;
    }
    let declined = error
        .failure()
        .and_then(|f| f.cause.as_deref())
        .map(|cause| cause.message.clone());
    let message = declined.unwrap_or_else(|| error.to_string());
    Ending::Failed(format!("{step}: {message}"))
}

fn step_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .maximum_interval(Duration::from_secs(5))
                .maximum_attempts(20)
                .build(),
        )
        .build()
}

fn payment_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(100))
                .backoff_coefficient(2.0)
                .maximum_interval(Duration::from_secs(2))
                .maximum_attempts(12)
                .non_retryable_error_types([PAYMENT_DECLINED])
                .build(),
        )
        .build()
}

/// Compensations run even after the workflow was cancelled, and retry until they succeed.
fn compensation_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
        .cancellation_token(WorkflowCancellationToken::new())
        .retry_policy(
            RetryPolicy::builder()
                .initial_interval(Duration::from_millis(200))
                .maximum_interval(Duration::from_secs(10))
                .build(),
        )
        .build()
}
