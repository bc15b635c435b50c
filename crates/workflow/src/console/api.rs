//! The console's JSON API under `/api`: list, count, describe, history, query, signal,
//! cancel, terminate, and its OpenAPI description (`/api/openapi.json`, a static document
//! that a test checks against these routes).

use std::collections::HashMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConsoleState;
use super::error::ConsoleError;
use super::payload;
use super::view::{Detail, EventView, WorkflowRow};

/// The JSON API's routes, `(method, path)`, as `/api/openapi.json` documents them.
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/workflows"),
    ("GET", "/api/count"),
    ("GET", "/api/workflows/{id}"),
    ("GET", "/api/workflows/{id}/history"),
    ("POST", "/api/workflows/{id}/query"),
    ("POST", "/api/workflows/{id}/signal"),
    ("POST", "/api/workflows/{id}/cancel"),
    ("POST", "/api/workflows/{id}/terminate"),
    ("GET", "/api/openapi.json"),
];

/// The OpenAPI 3 description of the routes below.
pub(crate) const OPENAPI: &str = include_str!("assets/openapi.json");

const DEFAULT_PAGE_SIZE: i32 = 50;
const MAX_PAGE_SIZE: i32 = 1000;

type Params = Query<HashMap<String, String>>;

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> &'a str {
    params.get(name).map(String::as_str).unwrap_or_default()
}

/// `page_size` from the query string: 1 to 1000, default 50.
pub(crate) fn page_size(params: &HashMap<String, String>) -> Result<i32, ConsoleError> {
    match params.get("page_size").map(|s| s.trim()) {
        None | Some("") => Ok(DEFAULT_PAGE_SIZE),
        Some(raw) => raw
            .parse::<i32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                ConsoleError::BadRequest(format!(
                    "page_size {raw:?} must be a whole number from 1 to {MAX_PAGE_SIZE}"
                ))
            }),
    }
}

/// `next_page_token` from the query string, as the console handed it out.
pub(crate) fn page_token(params: &HashMap<String, String>) -> Result<Vec<u8>, ConsoleError> {
    let raw = param(params, "next_page_token").trim();
    if raw.is_empty() {
        return Ok(Vec::new());
    }
    URL_SAFE_NO_PAD.decode(raw).map_err(|_| {
        ConsoleError::BadRequest(format!(
            "next_page_token {raw:?} is not a token this API returned: pass the next_page_token of the previous page, or none for the first page"
        ))
    })
}

pub(crate) fn encode_token(token: &[u8]) -> Option<String> {
    (!token.is_empty()).then(|| URL_SAFE_NO_PAD.encode(token))
}

/// `GET /api/workflows?query=&page_size=&next_page_token=`
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    Query(params): Params,
) -> Result<Json<Value>, ConsoleError> {
    let page = state
        .service
        .list(
            param(&params, "query"),
            page_size(&params)?,
            page_token(&params)?,
        )
        .await?;
    let rows: Vec<WorkflowRow> = page.executions.iter().map(WorkflowRow::from_info).collect();
    Ok(Json(json!({
        "workflows": rows,
        "next_page_token": encode_token(&page.next_page_token),
    })))
}

/// `GET /api/count?query=`
pub(crate) async fn count(
    State(state): State<ConsoleState>,
    Query(params): Params,
) -> Result<Json<Value>, ConsoleError> {
    let query = param(&params, "query");
    let count = state.service.count(query).await?;
    Ok(Json(json!({ "count": count, "query": query })))
}

/// `GET /api/workflows/{id}?run_id=`
pub(crate) async fn describe(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    Query(params): Params,
) -> Result<Json<Detail>, ConsoleError> {
    Ok(Json(
        state.detail(&workflow_id, param(&params, "run_id")).await?,
    ))
}

/// `GET /api/workflows/{id}/history?run_id=`
pub(crate) async fn history(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    Query(params): Params,
) -> Result<Json<Value>, ConsoleError> {
    let history = state
        .service
        .history(&workflow_id, param(&params, "run_id"))
        .await?;
    let events: Vec<EventView> = history.events.iter().map(EventView::from_proto).collect();
    Ok(Json(
        json!({ "events": events, "truncated": history.truncated }),
    ))
}

/// The body of `POST /api/workflows/{id}/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryBody {
    name: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    run_id: String,
}

/// `POST /api/workflows/{id}/query`
pub(crate) async fn query(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    body: Result<Json<QueryBody>, JsonRejection>,
) -> Result<Json<Value>, ConsoleError> {
    let body = json_body(body)?;
    let name = required_name(&body.name, "query")?;
    let result = state
        .service
        .query(&workflow_id, &body.run_id, name, &body.args)
        .await?;
    Ok(Json(json!({ "result": result })))
}

/// The body of `POST /api/workflows/{id}/signal`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalBody {
    name: String,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    run_id: String,
}

/// `POST /api/workflows/{id}/signal`
pub(crate) async fn signal(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    body: Result<Json<SignalBody>, JsonRejection>,
) -> Result<Response, ConsoleError> {
    state.check_writable("signal")?;
    let body = json_body(body)?;
    let name = required_name(&body.name, "signal")?;
    state
        .service
        .signal(
            &workflow_id,
            &body.run_id,
            name,
            payload::encode_args(&body.input),
        )
        .await?;
    tracing::info!(%workflow_id, signal = name, "console: signalled");
    Ok(accepted("signalled", &workflow_id))
}

/// The body of `POST /api/workflows/{id}/cancel` and `/terminate`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReasonBody {
    #[serde(default)]
    reason: String,
    #[serde(default)]
    run_id: String,
}

/// `POST /api/workflows/{id}/cancel`
pub(crate) async fn cancel(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    state.check_writable("cancel")?;
    let body = optional_body(&body)?;
    let reason = non_empty_or(&body.reason, "cancelled from the workflow console");
    state
        .service
        .cancel(&workflow_id, &body.run_id, reason)
        .await?;
    tracing::info!(%workflow_id, reason, "console: cancel requested");
    Ok(accepted("cancel_requested", &workflow_id))
}

/// `POST /api/workflows/{id}/terminate`
pub(crate) async fn terminate(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    body: Bytes,
) -> Result<Response, ConsoleError> {
    state.check_writable("terminate")?;
    let body = optional_body(&body)?;
    let reason = non_empty_or(&body.reason, "terminated from the workflow console");
    state
        .service
        .terminate(&workflow_id, &body.run_id, reason)
        .await?;
    tracing::info!(%workflow_id, reason, "console: terminated");
    Ok(accepted("terminated", &workflow_id))
}

/// `GET /api/openapi.json`
pub(crate) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Unknown `/api/...` paths answer in the same JSON shape.
pub(crate) async fn not_found() -> ConsoleError {
    ConsoleError::NotFound("no such API route: see /api/openapi.json".to_owned())
}

fn accepted(status: &str, workflow_id: &str) -> Response {
    (
        StatusCode::ACCEPTED,
        Json(json!({ "status": status, "workflow_id": workflow_id })),
    )
        .into_response()
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ConsoleError> {
    body.map(|Json(v)| v)
        .map_err(|rejection| ConsoleError::BadRequest(rejection.body_text()))
}

/// A body that may be left out entirely (`cancel`, `terminate`).
fn optional_body(body: &[u8]) -> Result<ReasonBody, ConsoleError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(ReasonBody::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ConsoleError::BadRequest(format!(
            "the body must be JSON like {{\"reason\": \"...\"}} or empty: {e}"
        ))
    })
}

fn required_name<'a>(name: &'a str, what: &str) -> Result<&'a str, ConsoleError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ConsoleError::BadRequest(format!(
            "name must name the {what}, e.g. {{\"name\": \"approve\"}}"
        )));
    }
    Ok(name)
}

fn non_empty_or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.trim().is_empty() {
        default
    } else {
        value
    }
}
