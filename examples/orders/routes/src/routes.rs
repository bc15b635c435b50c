//! The route handlers. Each validates its input, makes one or two client calls and maps the
//! outcome to HTTP.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use orders_contract::{
    Address, Approve, ChangeShippingAddress, Decision, GetStatus, LineItem, OrderRequest,
    OrderStatus, OrderWorkflow, Reject, order_workflow_id,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use workflow::{ClientError, IdConflict, IdReuse, StartOptions, WorkflowClient};

use crate::{ApiError, ApiSettings};

const MAX_RESULT_WAIT: Duration = Duration::from_secs(60);
const MAX_LIST: usize = 1000;

#[derive(Clone)]
struct AppState {
    client: WorkflowClient,
    settings: ApiSettings,
}

/// The orders API.
pub fn router(client: WorkflowClient, settings: ApiSettings) -> Router {
    Router::new()
        .route("/orders", post(place_order).get(list_orders))
        .route("/orders/{id}", get(order_status))
        .route("/orders/{id}/approve", post(approve))
        .route("/orders/{id}/reject", post(reject))
        .route("/orders/{id}/cancel", post(cancel))
        .route("/orders/{id}/shipping-address", put(change_address))
        .route("/orders/{id}/result", get(order_result))
        .with_state(AppState { client, settings })
}

/// The body of `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    order_id: String,
    customer: String,
    items: Vec<LineItem>,
    amount_cents: u64,
    shipping_address: Address,
}

#[derive(Serialize)]
struct Placed {
    order_id: String,
    workflow_id: String,
    created: bool,
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

fn check_order_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "order_id {id:?} must be 1-64 characters of letters, digits, '-' or '_'"
        )))
    }
}

fn check_new_order(order: &NewOrder) -> Result<(), ApiError> {
    check_order_id(&order.order_id)?;
    if order.customer.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "customer must not be empty".to_owned(),
        ));
    }
    if order.items.is_empty() {
        return Err(ApiError::BadRequest(
            "items must list at least one item".to_owned(),
        ));
    }
    if let Some(item) = order
        .items
        .iter()
        .find(|i| i.quantity == 0 || i.sku.trim().is_empty())
    {
        return Err(ApiError::BadRequest(format!(
            "item {:?}: sku must not be empty and quantity must be at least 1",
            item.sku
        )));
    }
    if order.amount_cents == 0 {
        return Err(ApiError::BadRequest(
            "amount_cents must be at least 1".to_owned(),
        ));
    }
    check_address(&order.shipping_address)
}

fn check_address(address: &Address) -> Result<(), ApiError> {
    if address.line1.trim().is_empty() || address.postal_code.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "shipping_address needs line1 and postal_code".to_owned(),
        ));
    }
    Ok(())
}

async fn place_order(
    State(state): State<AppState>,
    body: Result<Json<NewOrder>, JsonRejection>,
) -> Result<Response, ApiError> {
    let order = json_body(body)?;
    check_new_order(&order)?;
    let workflow_id = order_workflow_id(&order.order_id);
    let request = OrderRequest {
        order_id: order.order_id.clone(),
        customer: order.customer,
        items: order.items,
        amount_cents: order.amount_cents,
        shipping_address: order.shipping_address,
        approval: state.settings.approval.clone(),
    };
    // Fail on conflict and never reuse an id: a repeated POST finds the order that exists,
    // running or closed, instead of starting a second one.
    let options = StartOptions {
        id_conflict: IdConflict::Fail,
        id_reuse: IdReuse::RejectDuplicate,
        ..StartOptions::default()
    };
    let created = match state
        .client
        .start(OrderWorkflow, workflow_id.clone(), request, options)
        .await
    {
        Ok(_) => true,
        Err(ClientError::AlreadyStarted { .. }) => false,
        Err(e) => return Err(e.into()),
    };
    tracing::info!(order_id = %order.order_id, %workflow_id, created, "order placed");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let location = format!("/orders/{}", order.order_id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(Placed {
            order_id: order.order_id,
            workflow_id,
            created,
        }),
    )
        .into_response())
}

async fn order_status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<OrderStatus>, ApiError> {
    check_order_id(&id)?;
    let handle = state.client.handle::<OrderWorkflow>(order_workflow_id(&id));
    Ok(Json(handle.query(GetStatus, ()).await?))
}

/// Fails with 404 for an unknown order and 409 for a closed one, before a signal is sent.
async fn require_running(state: &AppState, id: &str) -> Result<(), ApiError> {
    let summary = state
        .client
        .handle::<OrderWorkflow>(order_workflow_id(id))
        .describe()
        .await?;
    if summary.status == "Running" {
        Ok(())
    } else {
        Err(ApiError::Conflict(format!(
            "order {id} is closed ({})",
            summary.status
        )))
    }
}

async fn decide(
    state: AppState,
    id: String,
    body: Bytes,
    approve: bool,
) -> Result<Response, ApiError> {
    check_order_id(&id)?;
    // The decision body is optional: an empty body is a decision without a reason.
    let decision = if body.iter().all(u8::is_ascii_whitespace) {
        Decision::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid decision body: {e}")))?
    };
    require_running(&state, &id).await?;
    let handle = state.client.handle::<OrderWorkflow>(order_workflow_id(&id));
    if approve {
        handle.signal(Approve, decision).await?;
    } else {
        handle.signal(Reject, decision).await?;
    }
    let signal = if approve { "approve" } else { "reject" };
    tracing::info!(order_id = %id, signal, "decision sent");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "order_id": id, "signal": signal })),
    )
        .into_response())
}

async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    decide(state, id, body, true).await
}

async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    decide(state, id, body, false).await
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    check_order_id(&id)?;
    require_running(&state, &id).await?;
    state
        .client
        .handle::<OrderWorkflow>(order_workflow_id(&id))
        .cancel("cancelled through the orders API")
        .await?;
    tracing::info!(order_id = %id, "cancellation requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "order_id": id, "cancel_requested": true })),
    )
        .into_response())
}

async fn change_address(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<Address>, JsonRejection>,
) -> Result<Json<OrderStatus>, ApiError> {
    check_order_id(&id)?;
    let address = json_body(body)?;
    check_address(&address)?;
    require_running(&state, &id).await?;
    let handle = state.client.handle::<OrderWorkflow>(order_workflow_id(&id));
    Ok(Json(handle.update(ChangeShippingAddress, address).await?))
}

#[derive(Deserialize)]
struct ResultQuery {
    wait: Option<String>,
}

#[derive(Serialize)]
struct OrderResult {
    order_id: String,
    done: bool,
    /// The order's final state when its workflow returned (`completed`, `rejected`,
    /// `failed`), else how the workflow closed (`cancelled`, `terminated`, `timed out`);
    /// absent while running.
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<OrderStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
}

async fn order_result(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<ResultQuery>,
) -> Result<Response, ApiError> {
    check_order_id(&id)?;
    let wait = match query.wait.as_deref() {
        None => Duration::from_secs(10),
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| ApiError::BadRequest(format!("wait={text:?}: {e} (e.g. wait=10s)")))?
            .min(MAX_RESULT_WAIT),
    };
    let handle = state.client.handle::<OrderWorkflow>(order_workflow_id(&id));
    let mut result = OrderResult {
        order_id: id,
        done: true,
        outcome: None,
        order: None,
        message: None,
    };
    match handle.result(wait).await {
        Ok(order) => {
            result.outcome = serde_json::to_value(order.state)
                .ok()
                .and_then(|state| state.as_str().map(str::to_owned));
            result.order = Some(order);
        }
        Err(ClientError::ResultTimeout { .. }) => {
            result.done = false;
            return Ok((StatusCode::ACCEPTED, Json(result)).into_response());
        }
        Err(ClientError::WorkflowFailed { failure, .. }) => {
            result.outcome = Some("failed".to_owned());
            let message = failure.to_string();
            result.message = (!message.is_empty()).then_some(message);
        }
        Err(ClientError::WorkflowClosed { outcome, .. }) => {
            result.outcome = Some(outcome.to_owned());
        }
        Err(e) => return Err(e.into()),
    }
    Ok((StatusCode::OK, Json(result)).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
}

#[derive(Serialize)]
struct ListedOrder {
    order_id: String,
    workflow_id: String,
    status: String,
    start_time_ms: Option<u64>,
    close_time_ms: Option<u64>,
}

async fn list_orders(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ListedOrder>>, ApiError> {
    let limit = query.limit.unwrap_or(100).clamp(1, MAX_LIST);
    let filter = format!("WorkflowType = '{}'", OrderWorkflow::NAME);
    let executions = state.client.list(filter, limit).await?;
    let orders = executions
        .into_iter()
        .map(|e| ListedOrder {
            order_id: e
                .workflow_id
                .strip_prefix("order-")
                .unwrap_or(&e.workflow_id)
                .to_owned(),
            workflow_id: e.workflow_id,
            status: e.status,
            start_time_ms: e.start_time_ms,
            close_time_ms: e.close_time_ms,
        })
        .collect();
    Ok(Json(orders))
}
