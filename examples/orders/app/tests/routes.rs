//! The orders API's refusals (400, 404, 409), in-process: the router answers through
//! `tower::ServiceExt::oneshot`, without a socket, over a real engine started in this process
//! (the embedded engine on port 0, in memory) with the orders worker registered through the
//! library. What needs real processes (Temporal going down, bad configuration, an unreachable
//! server, SIGTERM) is in `bad_conditions.rs`.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use orders_contract::ApprovalPolicy;
use orders_logic::{Ledger, OrderActivities};
use orders_routes::ApiSettings;
use serde_json::{Value, json};
use tower::ServiceExt;
use workflow::{App, EngineKind, Role, Services};
use workflow_testkit::orders::{self, assert_error, order};

/// Orders of this amount or more wait for an approval.
const THRESHOLD_CENTS: u64 = 100_000;
/// Bound for an order to reach its final state.
const FINAL_TIMEOUT: Duration = Duration::from_secs(60);

/// The orders API over an embedded engine and an orders worker, all in this process.
struct Orders {
    router: Router,
    ledger: PathBuf,
}

/// Starts the engine and the worker, runs `test` against the router, then shuts both down
/// and checks that they stopped cleanly.
async fn with_orders<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Orders) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = workflow_testkit::test_dir!(name);
    let mut config = orders_contract::default_config(Role::Worker);
    config.engine = EngineKind::Embedded;
    config.health.listen = ([127, 0, 0, 1], 0).into();
    config.worker.shutdown_grace_period = Duration::from_secs(2);
    // Demo mode serves the console on 127.0.0.1:8233; tests run side by side.
    config.console.enabled = Some(false);
    let app = App::start(config)
        .await
        .unwrap_or_else(|e| panic!("start the embedded engine and connect: {e}"));
    let settings = ApiSettings {
        approval: ApprovalPolicy {
            threshold_cents: THRESHOLD_CENTS,
            timeout_secs: 600,
        },
    };
    let router = orders_routes::router(app.client(), settings);
    let ledger = dir.path().join("ledger.db");
    let activities = OrderActivities::new(
        Ledger::open(&ledger).unwrap_or_else(|e| panic!("open the ledger: {e}")),
        0.0,
    );
    let services =
        Services::new().worker(move |options| orders_logic::register(options, activities));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = app.run_until(services, async {
        let _ = stopped.await;
    });
    let body = async move {
        test(Orders { router, ledger }).await;
        let _ = stop.send(());
    };
    let (ran, ()) = tokio::join!(run, body);
    ran.unwrap_or_else(|e| panic!("the worker and the engine did not stop cleanly: {e}"));
}

impl Orders {
    /// One request through the router; the answer as (status, JSON body).
    async fn send(&self, method: Method, uri: &str, body: Option<String>) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(body.map_or_else(Body::empty, Body::from))
            .unwrap_or_else(|e| panic!("build the request {uri}: {e}"));
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_else(|e| panic!("read the answer of {uri}: {e}"));
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::GET, uri, None).await
    }

    async fn post(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::POST, uri, Some(body.to_string())).await
    }

    async fn post_empty(&self, uri: &str) -> (StatusCode, Value) {
        self.send(Method::POST, uri, None).await
    }

    async fn put(&self, uri: &str, body: &Value) -> (StatusCode, Value) {
        self.send(Method::PUT, uri, Some(body.to_string())).await
    }

    /// Places an order and asserts 201 created.
    async fn place(&self, body: &Value) {
        let (status, answer) = self.post("/orders", body).await;
        assert_eq!(status, StatusCode::CREATED, "POST /orders {body}: {answer}");
        assert_eq!(answer["created"], json!(true), "{answer}");
    }

    /// Polls `uri` until `done` says the answer is final, then returns it.
    async fn poll(&self, uri: &str, done: impl Fn(StatusCode, &Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self.get(uri).await;
            if done(status, &body) {
                return body;
            }
            assert!(
                started.elapsed() < FINAL_TIMEOUT,
                "GET {uri} after {FINAL_TIMEOUT:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The final result of an order.
    async fn result(&self, id: &str) -> Value {
        let uri = format!("/orders/{id}/result?wait=5s");
        self.poll(&uri, |status, body| {
            assert!(
                matches!(status, StatusCode::OK | StatusCode::ACCEPTED),
                "GET {uri}: {status} {body}"
            );
            body["done"] == json!(true)
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_are_400_and_start_nothing() {
    with_orders("bad_requests", |api| async move {
        let r = api
            .send(
                Method::POST,
                "/orders",
                Some("{\"order_id\": \"x1\", ".to_owned()),
            )
            .await;
        assert_error("malformed JSON", &r, 400, "bad_request", &["JSON"]);
        let mut cases: Vec<(String, Value, &str)> = Vec::new();
        let mut body = order("x1", "alice", 1_000);
        if let Some(fields) = body.as_object_mut() {
            fields.remove("shipping_address");
        }
        cases.push(("missing field".into(), body, "shipping_address"));
        let mut body = order("x1", "alice", 1_000);
        if let Some(item) = body["items"][0].as_object_mut() {
            item.remove("quantity");
        }
        cases.push(("missing nested field".into(), body, "quantity"));
        let mut body = order("x1", "alice", 1_000);
        body["amount_cents"] = json!("lots");
        cases.push(("wrong type".into(), body, "amount_cents"));
        let mut body = order("x1", "alice", 1_000);
        body["colour"] = json!("red");
        cases.push(("unknown field".into(), body, "colour"));
        let mut body = order("x1", "alice", 1_000);
        body["items"] = json!([]);
        cases.push(("empty items".into(), body, "items"));
        let mut body = order("x1", "alice", 1_000);
        body["items"][0]["quantity"] = json!(0);
        cases.push(("quantity 0".into(), body, "quantity"));
        for bad_id in ["has space", "slash/y", "", &"x".repeat(65)] {
            let what = format!("order_id {bad_id:?}");
            cases.push((what, order(bad_id, "alice", 1_000), "order_id"));
        }
        cases.push(("amount 0".into(), order("x1", "alice", 0), "amount_cents"));
        cases.push(("blank customer".into(), order("x1", "  ", 10), "customer"));
        for (what, body, field) in &cases {
            let r = api.post("/orders", body).await;
            assert_error(what, &r, 400, "bad_request", &[field]);
        }
        let r = api.get("/orders/x1/result?wait=soon").await;
        assert_error("bad wait", &r, 400, "bad_request", &["wait"]);
        let r = api.get("/orders/bad%20id").await;
        assert_error("bad id in path", &r, 400, "bad_request", &["order_id"]);

        let (status, listed) = api.get("/orders").await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        assert_eq!(listed, json!([]), "invalid requests must not start orders");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_orders_are_404() {
    with_orders("unknown_orders", |api| async move {
        let address = &order("g", "a", 1)["shipping_address"];
        for (what, r) in [
            ("GET status", api.get("/orders/ghost-1").await),
            (
                "GET result",
                api.get("/orders/ghost-1/result?wait=1s").await,
            ),
            ("approve", api.post_empty("/orders/ghost-1/approve").await),
            ("reject", api.post_empty("/orders/ghost-1/reject").await),
            ("cancel", api.post_empty("/orders/ghost-1/cancel").await),
            (
                "address",
                api.put("/orders/ghost-1/shipping-address", address).await,
            ),
        ] {
            assert_error(
                &format!("{what} of an unknown order"),
                &r,
                404,
                "not_found",
                &[],
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_orders_are_409_and_compensated() {
    with_orders("closed_orders", |api| async move {
        // Completed, and an idempotent repeated POST.
        api.place(&order("done-1", "alice", 1_000)).await;
        let (status, again) = api.post("/orders", &order("done-1", "alice", 1_000)).await;
        assert_eq!(status, StatusCode::OK, "repeated POST: {again}");
        assert_eq!(again["created"], json!(false), "repeated POST: {again}");
        // Waiting for approval, its address changed, then cancelled: compensated.
        api.place(&order("cancel-1", "bob", 250_000)).await;
        api.poll("/orders/cancel-1", |status, body| {
            status == StatusCode::OK && body["state"] == json!("awaiting_approval")
        })
        .await;
        let mut new_address = order("a", "a", 1)["shipping_address"].clone();
        new_address["line1"] = json!("2 Side Street");
        let (status, changed) = api
            .put("/orders/cancel-1/shipping-address", &new_address)
            .await;
        assert_eq!(status, StatusCode::OK, "address change: {changed}");
        assert_eq!(
            changed["shipping_address"]["line1"],
            json!("2 Side Street"),
            "{changed}"
        );
        let (status, body) = api.post_empty("/orders/cancel-1/cancel").await;
        assert_eq!(status, StatusCode::ACCEPTED, "cancel: {body}");
        // A declined card: the order fails and is compensated.
        api.place(&order("declined-1", "declined-dave", 1_000))
            .await;

        let done = api.result("done-1").await;
        assert_eq!(done["outcome"], json!("completed"), "{done}");
        assert_eq!(done["order"]["state"], json!("completed"), "{done}");
        let cancelled = api.result("cancel-1").await;
        assert_eq!(cancelled["outcome"], json!("cancelled"), "{cancelled}");
        let declined = api.result("declined-1").await;
        assert_eq!(declined["order"]["state"], json!("failed"), "{declined}");

        let ledger = Ledger::open(&api.ledger).unwrap_or_else(|e| panic!("open the ledger: {e}"));
        let rows = ledger
            .entries()
            .await
            .unwrap_or_else(|e| panic!("read the ledger: {e}"));
        let effects = orders::effects(
            rows.into_iter()
                .map(|e| (e.order_id, e.action, e.executions)),
        );
        let actions = |id: &str| -> Vec<String> {
            effects
                .get(id)
                .map(|a| a.keys().cloned().collect())
                .unwrap_or_default()
        };
        assert_eq!(actions("done-1"), ["charge", "reserve", "ship"]);
        assert_eq!(
            actions("cancel-1"),
            ["charge", "refund", "release", "reserve"],
            "cancelled after charging: refunded and released"
        );
        assert_eq!(
            actions("declined-1"),
            ["release", "reserve"],
            "payment declined: released, never charged"
        );

        for id in ["done-1", "cancel-1", "declined-1"] {
            let base = format!("/orders/{id}");
            for (what, r) in [
                ("approve", api.post_empty(&format!("{base}/approve")).await),
                ("reject", api.post_empty(&format!("{base}/reject")).await),
                ("cancel", api.post_empty(&format!("{base}/cancel")).await),
                (
                    "address",
                    api.put(&format!("{base}/shipping-address"), &new_address)
                        .await,
                ),
            ] {
                assert_error(&format!("{what} of closed {id}"), &r, 409, "conflict", &[]);
            }
        }
    })
    .await;
}
