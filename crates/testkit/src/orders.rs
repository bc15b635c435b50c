//! Fixtures of the orders example's tests (the app's process tests, the demo's crash test and
//! the benchmark): order bodies, placing and approving through the HTTP API, waiting for
//! final states, and the exactly-once check of the ledger.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::calls::{answer, call, post};

/// The body of `POST /orders`: two line items, a Dutch address.
pub fn order(order_id: &str, customer: &str, amount_cents: u64) -> Value {
    json!({
        "order_id": order_id,
        "customer": customer,
        "items": [{"sku": "SKU-1", "quantity": 2}, {"sku": "SKU-2", "quantity": 1}],
        "amount_cents": amount_cents,
        "shipping_address": {
            "line1": "1 Main Street",
            "city": "Amsterdam",
            "postal_code": "1011AB",
            "country": "NL"
        }
    })
}

/// Order ids `{prefix}-000` .. for `n` orders.
pub fn order_ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:03}")).collect()
}

/// For an "unavailable" answer of the orders API: whether the Temporal server it names still
/// accepts connections. A dead server is a failure of the test infrastructure, not of the
/// code under test; this says which one it is.
pub fn diagnose(body: &Value) -> String {
    let message = body["message"].as_str().unwrap_or_default();
    let Some(address) = message
        .split("Temporal at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
    else {
        return String::new();
    };
    let Ok(socket) = address.parse::<std::net::SocketAddr>() else {
        return String::new();
    };
    match std::net::TcpStream::connect_timeout(&socket, Duration::from_secs(2)) {
        Ok(_) => format!(" [the Temporal server at {address} still accepts connections]"),
        Err(e) => format!(
            " [the Temporal server at {address} refuses connections ({e}): it died during the test, which points at the test infrastructure rather than the orders code]"
        ),
    }
}

/// Asserts an error answer of the orders API: the status, the error code, and that the
/// message mentions each of `mentions`.
pub fn assert_error(
    what: &str,
    got: &(StatusCode, Value),
    status: u16,
    code: &str,
    mentions: &[&str],
) {
    let (got_status, body) = got;
    assert_eq!(got_status.as_u16(), status, "{what}: {body}");
    assert_eq!(body["error"], json!(code), "{what}: {body}");
    let message = body["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no message in {body}"));
    assert!(!message.trim().is_empty(), "{what}: empty message");
    for m in mentions {
        assert!(
            message.contains(m),
            "{what}: message {message:?} does not mention {m:?}"
        );
    }
    println!("  {what}: {status} {message}");
}

/// Places an order through `api` and asserts 201 created.
pub async fn place(http: &reqwest::Client, api: &str, body: &Value) {
    let (status, answer) = post(http, &format!("{api}/orders"), body).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "POST {api}/orders {body}: {answer}{}",
        diagnose(&answer)
    );
    assert_eq!(answer["created"], json!(true), "{answer}");
    assert_eq!(answer["order_id"], body["order_id"], "{answer}");
}

/// Sends an approval through `api` and asserts 202.
pub async fn approve(http: &reqwest::Client, api: &str, order_id: &str) {
    let url = format!("{api}/orders/{order_id}/approve");
    let body = json!({"by": "test", "reason": "looks fine"});
    let (status, answer) = post(http, &url, &body).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "POST {url}: {answer}{}",
        diagnose(&answer)
    );
}

/// Polls `GET {api}/orders/{id}` until the order's live state is `state`; transport errors
/// and other answers are retried until `timeout`.
pub async fn wait_state(
    http: &reqwest::Client,
    api: &str,
    order_id: &str,
    state: &str,
    timeout: Duration,
) {
    let url = format!("{api}/orders/{order_id}");
    let started = Instant::now();
    let mut last = Value::Null;
    while started.elapsed() < timeout {
        let (code, body) = call(http.get(&url)).await;
        if code == StatusCode::OK && body["state"] == json!(state) {
            return;
        }
        last = json!({"status": code.as_u16(), "body": body});
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("order {order_id} not in state {state} after {timeout:?}; last answer: {last}");
}

/// Waits (in parallel, through `api`) until every order in `ids` is done, and returns each
/// result body (`{order_id, done:true, outcome, order}`). Unavailable answers and transport
/// errors are retried until `timeout`; any other answer fails the test.
pub async fn wait_all_done(
    http: &reqwest::Client,
    api: &str,
    ids: &[String],
    timeout: Duration,
) -> HashMap<String, Value> {
    let deadline = Instant::now() + timeout;
    let mut tasks = Vec::new();
    for id in ids {
        let http = http.clone();
        let url = format!("{api}/orders/{id}/result?wait=5s");
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            let mut last = String::from("no answer yet");
            while Instant::now() < deadline {
                match http.get(&url).send().await {
                    Ok(response) => {
                        let (code, body) = answer(response).await;
                        match code {
                            StatusCode::OK if body["done"] == json!(true) => {
                                return Ok((id, body));
                            }
                            StatusCode::ACCEPTED | StatusCode::SERVICE_UNAVAILABLE => {
                                last = format!("{code}: {body}{}", diagnose(&body));
                            }
                            other => return Err(format!("order {id}: {other}: {body}")),
                        }
                    }
                    Err(e) => {
                        last = format!("transport error: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
            Err(format!(
                "order {id} not done after {timeout:?}; last: {last}"
            ))
        }));
    }
    let mut done = HashMap::new();
    let mut problems = Vec::new();
    for task in tasks {
        match task.await {
            Ok(Ok((id, body))) => {
                done.insert(id, body);
            }
            Ok(Err(problem)) => problems.push(problem),
            Err(e) => problems.push(format!("result poller task failed: {e}")),
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} orders did not finish properly:\n{}",
        problems.len(),
        ids.len(),
        problems.join("\n")
    );
    done
}

/// Asserts that every result says the order completed (shipped, with a tracking number).
pub fn assert_all_completed(results: &HashMap<String, Value>, ids: &[String]) {
    for id in ids {
        let result = results
            .get(id)
            .unwrap_or_else(|| panic!("no result for order {id}"));
        assert_eq!(
            result["outcome"],
            json!("completed"),
            "order {id}: {result}"
        );
        assert_eq!(
            result["order"]["state"],
            json!("completed"),
            "order {id}: {result}"
        );
        assert!(
            result["order"]["tracking_number"].is_string(),
            "order {id} has no tracking number: {result}"
        );
    }
}

/// The ledger by order: action -> executions.
pub type Effects = BTreeMap<String, BTreeMap<String, i64>>;

/// Groups ledger rows `(order_id, action, executions)` by order.
pub fn effects(rows: impl IntoIterator<Item = (String, String, i64)>) -> Effects {
    let mut effects = Effects::new();
    for (order_id, action, executions) in rows {
        effects
            .entry(order_id)
            .or_default()
            .insert(action, executions);
    }
    effects
}

/// What the ledger says about a set of completed orders.
#[derive(Debug, Default)]
pub struct LedgerReport {
    /// Effects whose activity ran more than once (`executions > 1`), as `order/action xN`.
    pub re_executed: Vec<String>,
    /// Sum over effects of `executions - 1`.
    pub extra_executions: i64,
}

/// Asserts that each order in `ids` has exactly one reserve, charge and ship row and nothing
/// else (no refund, no release), and that the ledger holds no other orders than `ids`.
pub fn assert_exactly_once(effects: &Effects, ids: &[String]) -> LedgerReport {
    let expected: BTreeSet<&str> = ["charge", "reserve", "ship"].into();
    let mut report = LedgerReport::default();
    let mut problems = Vec::new();
    for id in ids {
        let Some(actions) = effects.get(id) else {
            problems.push(format!("order {id}: no ledger rows"));
            continue;
        };
        let found: BTreeSet<&str> = actions.keys().map(String::as_str).collect();
        if found != expected {
            problems.push(format!(
                "order {id}: ledger actions {found:?}, expected {expected:?}"
            ));
        }
        for (action, executions) in actions {
            if *executions > 1 {
                report
                    .re_executed
                    .push(format!("{id}/{action} x{executions}"));
                report.extra_executions += executions - 1;
            }
        }
    }
    let known: BTreeSet<&String> = ids.iter().collect();
    for id in effects.keys() {
        if !known.contains(id) {
            problems.push(format!("ledger has rows for unexpected order {id}"));
        }
    }
    assert!(
        problems.is_empty(),
        "the ledger is wrong:\n{}",
        problems.join("\n")
    );
    report
}

impl std::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} effects re-executed ({} extra executions absorbed)",
            self.re_executed.len(),
            self.extra_executions
        )?;
        if !self.re_executed.is_empty() {
            write!(f, ": {}", self.re_executed.join(", "))?;
        }
        Ok(())
    }
}
