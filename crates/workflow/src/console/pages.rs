//! The console's web pages, rendered on the server with minijinja from templates compiled
//! into the binary: the workflow list (status filters, search by id, type and start time,
//! auto-refresh) and a workflow's page (input, result or failure, pending work, timeline,
//! events, and the signal / query / cancel / terminate forms). No external assets.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{Environment, context};
use serde::Serialize;
use serde_json::Value;

use super::ConsoleState;
use super::api::{encode_token, page_size, page_token};
use super::error::ConsoleError;
use super::timeline::Timeline;
use super::view::{EventView, WorkflowRow, epoch_ms};

const STATUSES: [&str; 6] = [
    "Running",
    "Completed",
    "Failed",
    "Canceled",
    "Terminated",
    "TimedOut",
];

/// The templates, parsed once.
pub(crate) struct Pages {
    env: Environment<'static>,
}

impl Pages {
    pub(crate) fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in [
            ("layout.html", include_str!("templates/layout.html")),
            ("list.html", include_str!("templates/list.html")),
            ("workflow.html", include_str!("templates/workflow.html")),
            ("error.html", include_str!("templates/error.html")),
        ] {
            if let Err(e) = env.add_template(name, source) {
                // The templates are part of the binary and covered by tests; a broken one
                // shows as an error page rather than a panic.
                tracing::error!(template = name, error = %e, "console template does not parse");
            }
        }
        Pages { env }
    }

    fn render(&self, name: &str, ctx: minijinja::Value) -> Result<String, ConsoleError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| ConsoleError::Internal(format!("template {name}: {e}")))
    }

    fn error_page(&self, error: &ConsoleError) -> Response {
        let (status, code) = error.status();
        let body = self
            .render(
                "error.html",
                context! { status => status.as_u16(), code, message => error.to_string() },
            )
            .unwrap_or_else(|_| format!("{code}: {error}"));
        (status, Html(body)).into_response()
    }
}

/// The list's filters, as the form sends them.
#[derive(Debug, Default, Serialize)]
struct Filters {
    status: String,
    id: String,
    workflow_type: String,
    after: String,
    before: String,
    query: String,
}

impl Filters {
    fn from_params(p: &HashMap<String, String>) -> Self {
        let get = |k: &str| p.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
        Filters {
            status: get("status"),
            id: get("id"),
            workflow_type: get("type"),
            after: get("after"),
            before: get("before"),
            query: get("query"),
        }
    }

    /// The visibility query these filters mean, or a 400 naming the bad filter.
    fn visibility_query(&self) -> Result<String, ConsoleError> {
        let mut parts = Vec::new();
        if !self.status.is_empty() && self.status != "All" {
            if !STATUSES.contains(&self.status.as_str()) {
                return Err(ConsoleError::BadRequest(format!(
                    "status {:?} is not one of {}",
                    self.status,
                    STATUSES.join(", ")
                )));
            }
            parts.push(format!("ExecutionStatus = '{}'", self.status));
        }
        if !self.id.is_empty() {
            parts.push(format!("WorkflowId = '{}'", quoted("id", &self.id)?));
        }
        if !self.workflow_type.is_empty() {
            parts.push(format!(
                "WorkflowType = '{}'",
                quoted("type", &self.workflow_type)?
            ));
        }
        if !self.after.is_empty() {
            parts.push(format!("StartTime >= '{}'", utc("after", &self.after)?));
        }
        if !self.before.is_empty() {
            parts.push(format!("StartTime <= '{}'", utc("before", &self.before)?));
        }
        if !self.query.is_empty() {
            parts.push(format!("({})", self.query));
        }
        Ok(parts.join(" AND "))
    }

    /// The query string of these filters plus `extra`.
    fn href(&self, extra: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = [
            ("status", self.status.as_str()),
            ("id", &self.id),
            ("type", &self.workflow_type),
            ("after", &self.after),
            ("before", &self.before),
            ("query", &self.query),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect();
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            if !v.is_empty() {
                pairs.push((k, v));
            }
        }
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encode(v)))
            .collect();
        format!("/?{}", query.join("&"))
    }
}

fn quoted<'a>(field: &str, value: &'a str) -> Result<&'a str, ConsoleError> {
    if value.contains(['\'', '"', '\\']) {
        return Err(ConsoleError::BadRequest(format!(
            "{field} {value:?} must not contain quotes or backslashes"
        )));
    }
    Ok(value)
}

/// A time from the form (`2026-01-02T03:04` from a datetime-local field, or RFC 3339), as
/// RFC 3339 UTC.
fn utc(field: &str, value: &str) -> Result<String, ConsoleError> {
    let mut text = value.trim().replace(' ', "T");
    if text.len() == 16 {
        text.push_str(":00");
    }
    humantime::parse_rfc3339_weak(&text)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .map_err(|e| {
            ConsoleError::BadRequest(format!(
                "{field} {value:?} is not a time: give it as 2026-01-02T03:04 (UTC) or RFC 3339 ({e})"
            ))
        })
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn workflow_href(workflow_id: &str, run_id: &str) -> String {
    format!(
        "/workflows/{}?run_id={}",
        url_encode(workflow_id),
        url_encode(run_id)
    )
}

#[derive(Serialize)]
struct RowView {
    #[serde(flatten)]
    row: WorkflowRow,
    href: String,
    duration: String,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn parse_ms(time: Option<&str>) -> Option<i64> {
    let t = humantime::parse_rfc3339_weak(time?).ok()?;
    Some(i64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_millis()).unwrap_or(i64::MAX))
}

fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    let secs = ms / 1000;
    if ms < 1000 {
        format!("{ms} ms")
    } else if secs < 60 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else if secs < 3600 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else if secs < 86_400 {
        format!("{} h {} min", secs / 3600, (secs % 3600) / 60)
    } else {
        format!("{} d {} h", secs / 86_400, (secs % 86_400) / 3600)
    }
}

/// `GET /`: the workflow list.
pub(crate) async fn list(
    State(state): State<ConsoleState>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let filters = Filters::from_params(&params);
    let counts = state.service.count_by_status().await.unwrap_or_default();
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let statuses: Vec<Value> = std::iter::once("All")
        .chain(STATUSES)
        .map(|name| {
            let count = if name == "All" {
                Some(total)
            } else {
                counts.iter().find(|(s, _)| s == name).map(|(_, n)| *n)
            };
            let active = filters.status == name || (name == "All" && filters.status.is_empty());
            serde_json::json!({
                "name": name,
                "count": count.unwrap_or(0),
                "active": active,
                "href": filters.href(&[("status", if name == "All" { "" } else { name })]),
            })
        })
        .collect();
    let outcome = async {
        let query = filters.visibility_query()?;
        let page = state
            .service
            .list(&query, page_size(&params)?, page_token(&params)?)
            .await?;
        Ok::<_, ConsoleError>((query, page))
    }
    .await;
    let now = now_ms();
    let (status, query, rows, next_href, error) = match outcome {
        Ok((query, page)) => {
            let rows: Vec<RowView> = page
                .executions
                .iter()
                .map(|info| {
                    let row = WorkflowRow::from_info(info);
                    let start = parse_ms(row.start_time.as_deref());
                    let end = parse_ms(row.close_time.as_deref()).unwrap_or(now);
                    RowView {
                        href: workflow_href(&row.workflow_id, &row.run_id),
                        duration: start.map(|s| human_ms(end - s)).unwrap_or_default(),
                        row,
                    }
                })
                .collect();
            let next = encode_token(&page.next_page_token)
                .map(|t| filters.href(&[("next_page_token", &t)]));
            (StatusCode::OK, query, rows, next, None)
        }
        Err(e) => {
            let (status, _) = e.status();
            (
                status,
                filters.visibility_query().unwrap_or_default(),
                Vec::new(),
                None,
                Some(e.to_string()),
            )
        }
    };
    let ctx = context! {
        title => "Workflows",
        filters,
        statuses,
        rows,
        query,
        next_href,
        error,
        read_only => state.read_only,
        statuses_list => STATUSES,
    };
    match state.pages.render("list.html", ctx) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => state.pages.error_page(&e),
    }
}

#[derive(Serialize)]
struct EventRow {
    event: EventView,
    offset: String,
    summary: String,
    json: String,
}

/// `GET /workflows/{id}?run_id=`: one workflow.
pub(crate) async fn workflow(
    State(state): State<ConsoleState>,
    Path(workflow_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let run_id = params.get("run_id").map(String::as_str).unwrap_or_default();
    let (detail, history) = match state.detail_and_history(&workflow_id, run_id).await {
        Ok(found) => found,
        Err(e) => return state.pages.error_page(&e),
    };
    let now = now_ms();
    let timeline = Timeline::build(&history.events, now);
    let start = history
        .events
        .first()
        .and_then(|e| e.event_time.as_ref())
        .map(epoch_ms)
        .unwrap_or(now);
    let events: Vec<EventRow> = history
        .events
        .iter()
        .map(|e| {
            let view = EventView::from_proto(e);
            let at = e.event_time.as_ref().map(epoch_ms).unwrap_or(start);
            EventRow {
                offset: format!("+{}", human_ms(at - start)),
                summary: summary(&view.attributes),
                json: serde_json::to_string_pretty(&view.attributes).unwrap_or_default(),
                event: view,
            }
        })
        .collect();
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let running = detail.row.status == "Running";
    let ctx = context! {
        title => format!("{} · {}", detail.row.workflow_id, detail.row.workflow_type),
        d => &detail,
        input_json => pretty(&detail.input),
        result_json => detail.result.as_ref().map(pretty),
        failure_chain => detail.failure.as_ref().map(|f| f.chain()),
        timeline_svg => timeline.svg(1100),
        events,
        running,
        read_only => state.read_only,
        api_base => format!("/api/workflows/{}", url_encode(&detail.row.workflow_id)),
        self_href => workflow_href(&detail.row.workflow_id, run_id),
        duration => parse_ms(detail.row.start_time.as_deref())
            .map(|s| human_ms(parse_ms(detail.row.close_time.as_deref()).unwrap_or(now) - s)),
    };
    match state.pages.render("workflow.html", ctx) {
        Ok(html) => Html(html).into_response(),
        Err(e) => state.pages.error_page(&e),
    }
}

/// A few words about an event for the list: what it names.
fn summary(attributes: &Value) -> String {
    let pick = |path: &[&str]| {
        let mut v = attributes;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
    };
    [
        pick(&["activity_type", "name"]).map(|n| format!("activity {n}")),
        pick(&["activity_id"]).map(|n| format!("id {n}")),
        pick(&["workflow_type", "name"]).map(|n| format!("type {n}")),
        pick(&["signal_name"]).map(|n| format!("signal {n}")),
        pick(&["timer_id"]).map(|n| format!("timer {n}")),
        pick(&["workflow_id"]).map(|n| format!("workflow {n}")),
        pick(&["failure", "message"]).map(|n| format!("failure: {n}")),
        pick(&["reason"]).map(|n| format!("reason: {n}")),
        pick(&["identity"]).map(|n| format!("by {n}")),
    ]
    .into_iter()
    .flatten()
    .take(3)
    .collect::<Vec<_>>()
    .join(", ")
}

/// `GET /assets/{name}`: the stylesheet and the script.
pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "console.css" => (
            include_str!("assets/console.css"),
            "text/css; charset=utf-8",
        ),
        "console.js" => (
            include_str!("assets/console.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return ConsoleError::NotFound(format!("no asset {name:?}")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response()
}

/// Anything else.
pub(crate) async fn not_found(State(state): State<ConsoleState>) -> Response {
    state
        .pages
        .error_page(&ConsoleError::NotFound("no such page".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_make_a_visibility_query() {
        let mut p = HashMap::new();
        p.insert("status".to_owned(), "Running".to_owned());
        p.insert("type".to_owned(), "OrderWorkflow".to_owned());
        p.insert("after".to_owned(), "2026-01-02T03:04".to_owned());
        let q = Filters::from_params(&p).visibility_query().unwrap();
        assert_eq!(
            q,
            "ExecutionStatus = 'Running' AND WorkflowType = 'OrderWorkflow' AND StartTime >= '2026-01-02T03:04:00Z'"
        );
        p.insert("status".to_owned(), "Sleeping".to_owned());
        let err = Filters::from_params(&p).visibility_query().unwrap_err();
        assert!(err.to_string().contains("status \"Sleeping\""), "{err}");
        p.remove("status");
        p.insert("after".to_owned(), "yesterday".to_owned());
        let err = Filters::from_params(&p).visibility_query().unwrap_err();
        assert!(err.to_string().contains("after"), "{err}");
    }

    #[test]
    fn templates_parse() {
        let pages = Pages::new();
        for name in ["layout.html", "list.html", "workflow.html", "error.html"] {
            assert!(pages.env.get_template(name).is_ok(), "{name}");
        }
    }
}
