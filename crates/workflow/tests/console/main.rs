//! The console's JSON API over real HTTP, on a real backend: the Temporal dev server by
//! default, the embedded engine with `WORKFLOW_TEST_BACKEND=engine` (scripts/test runs
//! both). An `App` with a worker (the behaviour suite's workflows and two that leave work
//! pending) serves the console on a free port; the tests read and steer workflows through
//! it, and check bad input, auth and read-only mode.

#[allow(dead_code)]
#[path = "../behaviour/workflows.rs"]
mod suite;
mod workflows;

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use workflow::{App, Config, ConsoleConfig, Role, Services, StartOptions, WorkflowClient};
use workflow_testkit::{Backend, wait_until};

use suite::{Accumulator, Patient};
use workflows::{Guardian, Stubborn};

const WAIT: Duration = Duration::from_secs(30);

/// The console of a running `App`, and the library client beside it.
struct Console {
    base: String,
    http: reqwest::Client,
    client: WorkflowClient,
    key: Option<String>,
}

impl Console {
    async fn call(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let request = match &self.key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        };
        let response = request.send().await.expect("the console answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    async fn describe(&self, id: &str) -> Value {
        let (status, body) = self.get(&format!("/api/workflows/{id}")).await;
        assert_eq!(status, StatusCode::OK, "describe {id}: {body}");
        body
    }

    async fn wait_for(&self, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            last = self.describe(id).await;
            if check(&last) {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id}: timed out waiting for {what}; last describe: {last:#}");
    }
}

/// Starts the backend and an `App` (worker + console on a free port) with `console` applied
/// to the `[console]` section, runs `body`, then shuts down.
async fn with_console<F, Fut>(console: impl FnOnce(&mut ConsoleConfig), body: F)
where
    F: FnOnce(Console) -> Fut,
    Fut: Future<Output = ()>,
{
    let backend = tokio::task::spawn_blocking(Backend::start)
        .await
        .expect("start the backend");
    let mut config = Config {
        role: Role::Worker,
        ..Config::default()
    };
    config.temporal.address = backend.address();
    config.temporal.task_queue = format!("console-{}", uuid::Uuid::new_v4());
    config.health.listen = "127.0.0.1:0".parse().expect("socket address");
    config.worker.shutdown_grace_period = Duration::from_secs(2);
    config.console.listen = Some("127.0.0.1:0".parse().expect("socket address"));
    console(&mut config.console);
    let app = App::start(config).await.expect("connect to the backend");
    let addr = app.console_addr().expect("the console is on");
    let console = Console {
        base: format!("http://{addr}"),
        http: workflow_testkit::http(),
        client: app.client(),
        key: None,
    };
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let test = async move {
        body(console).await;
        let _ = done_tx.send(());
    };
    let host = app.run_until(Services::new().worker(workflows::register), async {
        let _ = done_rx.await;
    });
    let ((), hosted) = tokio::join!(test, host);
    hosted.expect("worker ran and shut down cleanly");
    drop(backend);
}

fn id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |d| d["status"] == status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_reads_and_steers_workflows() {
    with_console(
        |_| {},
        |c| async move {
            // The list page says how long closed workflows are kept: `default`'s retention,
            // 24 h on the dev server and the engine alike.
            let (status, page) = c.get("/").await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                page.as_str().is_some_and(|html| html
                    .contains("Closed workflows are kept for 1 d 0 h (the namespace's retention)")),
                "{page}"
            );
            // Signal and query through the console; input, signals and result decoded as JSON.
            let acc = id("acc");
            c.client
                .start(Accumulator::run, &acc, 10, StartOptions::default())
                .await
                .unwrap();
            let (status, body) = c
                .post(
                    &format!("/api/workflows/{acc}/signal"),
                    json!({"name": "add", "input": 5}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            assert_eq!(body["status"], "signalled");
            let (status, body) = c
                .post(
                    &format!("/api/workflows/{acc}/query"),
                    json!({"name": "total"}),
                )
                .await;
            assert_eq!(
                (status, &body["result"]),
                (StatusCode::OK, &json!(15)),
                "{body}"
            );
            let detail = c.describe(&acc).await;
            assert_eq!(detail["status"], "Running");
            assert_eq!(detail["workflow_type"], "Accumulator");
            assert_eq!(detail["input"], json!(10));
            assert_eq!(detail["signals"], json!(["add"]));
            let (status, history) = c.get(&format!("/api/workflows/{acc}/history")).await;
            assert_eq!(status, StatusCode::OK, "{history}");
            let events = history["events"].as_array().expect("events");
            assert_eq!(events[0]["event_type"], "WorkflowExecutionStarted");
            assert_eq!(events[0]["attributes"]["input"], json!([10]));
            let signalled = events
                .iter()
                .find(|e| e["event_type"] == "WorkflowExecutionSignaled")
                .expect("a signal event");
            assert_eq!(signalled["attributes"]["signal_name"], "add");
            assert_eq!(signalled["attributes"]["input"], json!([5]));
            let (status, _) = c
                .post(
                    &format!("/api/workflows/{acc}/signal"),
                    json!({"name": "finish"}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            let done = c.wait_for(&acc, "completion", status_is("Completed")).await;
            assert_eq!(done["result"], json!(15));
            assert!(done["close_time"].is_string(), "{done}");

            // A timer shows as pending; cancel from the console and the workflow ends cancelled.
            let patient = id("patient");
            c.client
                .start(Patient::run, &patient, (), StartOptions::default())
                .await
                .unwrap();
            let waiting = c
                .wait_for(&patient, "a pending timer", |d| {
                    d["timers"].as_array().is_some_and(|t| t.len() == 1)
                })
                .await;
            assert!(waiting["timers"][0]["fire_time"].is_string(), "{waiting}");
            let (status, body) = c
                .post(
                    &format!("/api/workflows/{patient}/cancel"),
                    json!({"reason": "test"}),
                )
                .await;
            assert_eq!(
                (status, &body["status"]),
                (StatusCode::ACCEPTED, &json!("cancel_requested"))
            );
            c.wait_for(&patient, "cancellation", status_is("Canceled"))
                .await;

            // Terminate keeps the reason.
            let stuck = id("stuck");
            c.client
                .start(Patient::run, &stuck, (), StartOptions::default())
                .await
                .unwrap();
            let (status, _) = c
                .post(
                    &format!("/api/workflows/{stuck}/terminate"),
                    json!({"reason": "stuck"}),
                )
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            let terminated = c
                .wait_for(&stuck, "termination", status_is("Terminated"))
                .await;
            assert_eq!(terminated["reason"], "stuck");

            // A retried activity shows its attempt and last failure; then the workflow fails.
            let stubborn = id("stubborn");
            c.client
                .start(Stubborn::run, &stubborn, (), StartOptions::default())
                .await
                .unwrap();
            let retrying = c
                .wait_for(&stubborn, "a second attempt pending", |d| {
                    d["pending_activities"][0]["attempt"] == 2
                })
                .await;
            let activity = &retrying["pending_activities"][0];
            assert!(
                activity["activity_type"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("flaky"),
                "{activity}"
            );
            assert!(
                activity["last_failure"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("attempt 1 fails on purpose"),
                "{activity}"
            );
            assert_eq!(activity["maximum_attempts"], 2);
            let failed = c.wait_for(&stubborn, "failure", status_is("Failed")).await;
            assert!(
                failed["failure"]
                    .to_string()
                    .contains("attempt 2 fails on purpose"),
                "{failed}"
            );

            // A waiting child shows as pending and lists its parent.
            let guardian = id("guardian");
            let child = format!("{guardian}-child");
            c.client
                .start(Guardian::run, &guardian, (), StartOptions::default())
                .await
                .unwrap();
            let parent = c
                .wait_for(&guardian, "a pending child", |d| {
                    d["pending_children"][0]["workflow_id"] == json!(child)
                })
                .await;
            assert_eq!(parent["pending_children"][0]["workflow_type"], "Patient");
            let query = format!("WorkflowId = '{child}'");
            wait_until("the child in the list", WAIT, || async {
                let (_, page) = c
                    .get(&format!("/api/workflows?query={}", urlencode(&query)))
                    .await;
                page["workflows"][0]["parent_workflow_id"] == json!(guardian)
            })
            .await;
            let (status, _) = c
                .post(&format!("/api/workflows/{guardian}/terminate"), json!({}))
                .await;
            assert_eq!(status, StatusCode::ACCEPTED);
            let terminated = c
                .wait_for(&guardian, "termination", status_is("Terminated"))
                .await;
            assert_eq!(terminated["reason"], "terminated from the workflow console");

            // List with a visibility query, page by page, and count.
            let query = format!("WorkflowId = '{acc}' OR WorkflowId = '{patient}'");
            let (status, count) = c
                .get(&format!("/api/count?query={}", urlencode(&query)))
                .await;
            assert_eq!(
                (status, &count["count"]),
                (StatusCode::OK, &json!(2)),
                "{count}"
            );
            let (status, first) = c
                .get(&format!(
                    "/api/workflows?page_size=1&query={}",
                    urlencode(&query)
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{first}");
            assert_eq!(
                first["workflows"].as_array().map(Vec::len),
                Some(1),
                "{first}"
            );
            let token = first["next_page_token"]
                .as_str()
                .expect("a next page")
                .to_owned();
            let (status, second) = c
                .get(&format!(
                    "/api/workflows?page_size=1&query={}&next_page_token={token}",
                    urlencode(&query)
                ))
                .await;
            assert_eq!(status, StatusCode::OK, "{second}");
            let mut ids = vec![
                first["workflows"][0]["workflow_id"].clone(),
                second["workflows"][0]["workflow_id"].clone(),
            ];
            ids.sort_by_key(|v| v.to_string());
            let mut expected = vec![json!(acc), json!(patient)];
            expected.sort_by_key(|v| v.to_string());
            assert_eq!(ids, expected);
            let (_, all) = c
                .get("/api/workflows?query=ExecutionStatus%20%3D%20'Canceled'")
                .await;
            assert!(
                all["workflows"]
                    .as_array()
                    .is_some_and(|w| w.iter().all(|r| r["status"] == "Canceled") && !w.is_empty()),
                "{all}"
            );
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_named_error() {
    with_console(
        |_| {},
        |c| async move {
            let expect = |(status, body): (StatusCode, Value), want: StatusCode, mentions: &str| {
                assert_eq!(status, want, "{body}");
                let message = body["message"].as_str().unwrap_or_default();
                assert!(body["error"].is_string(), "error shape: {body}");
                assert!(message.contains(mentions), "{mentions:?} not in {body}");
            };
            expect(
                c.get("/api/workflows/no-such-workflow").await,
                StatusCode::NOT_FOUND,
                "no-such-workflow",
            );
            expect(
                c.get("/api/workflows/no-such-workflow/history").await,
                StatusCode::NOT_FOUND,
                "not found",
            );
            expect(
                c.post(
                    "/api/workflows/no-such-workflow/signal",
                    json!({"name": "x"}),
                )
                .await,
                StatusCode::NOT_FOUND,
                "not found",
            );
            expect(
                c.post("/api/workflows/no-such-workflow/cancel", json!({}))
                    .await,
                StatusCode::NOT_FOUND,
                "not found",
            );
            expect(
                c.get("/api/workflows?query=Bogus%20%3D%20'1'").await,
                StatusCode::BAD_REQUEST,
                "Bogus",
            );
            expect(
                c.get("/api/count?query=WorkflowId%20%3D").await,
                StatusCode::BAD_REQUEST,
                "",
            );
            expect(
                c.get("/api/workflows?page_size=lots").await,
                StatusCode::BAD_REQUEST,
                "page_size",
            );
            expect(
                c.get("/api/workflows?next_page_token=%21%21").await,
                StatusCode::BAD_REQUEST,
                "next_page_token",
            );
            expect(
                c.post("/api/workflows/x/signal", json!({"nam": "approve"}))
                    .await,
                StatusCode::BAD_REQUEST,
                "nam",
            );
            expect(
                c.post("/api/workflows/x/signal", json!({"name": " "}))
                    .await,
                StatusCode::BAD_REQUEST,
                "name",
            );
            let (status, body) = c
                .call(
                    c.http
                        .post(format!("{}/api/workflows/x/terminate", c.base))
                        .body("not json"),
                )
                .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            expect(
                c.get("/api/nothing-here").await,
                StatusCode::NOT_FOUND,
                "openapi.json",
            );

            // The OpenAPI document parses, lists exactly the API's routes, and each is served.
            let (status, doc) = c.get("/api/openapi.json").await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(doc["openapi"], "3.0.3");
            let mut documented: Vec<(String, String)> = doc["paths"]
                .as_object()
                .expect("paths")
                .iter()
                .flat_map(|(path, ops)| {
                    ops.as_object()
                        .expect("operations")
                        .keys()
                        .map(move |m| (m.to_uppercase(), path.clone()))
                })
                .collect();
            documented.sort();
            let mut served: Vec<(String, String)> = workflow::console::API_ROUTES
                .iter()
                .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
                .collect();
            served.sort();
            assert_eq!(documented, served);
            for (method, path) in &served {
                let url = format!("{}{}", c.base, path.replace("{id}", "no-such-workflow"));
                let request = match method.as_str() {
                    "GET" => c.http.get(url),
                    _ => c.http.post(url).json(&json!({"name": "n"})),
                };
                let (status, body) = c.call(request).await;
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert!(
                    !body.to_string().contains("no such API route"),
                    "{method} {path} is documented but not served"
                );
            }
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_read_only() {
    // Off loopback without credentials, start-up refuses and names the setting.
    let mut open = Config::default();
    open.console.listen = Some("0.0.0.0:0".parse().expect("socket address"));
    let refused = App::start(open).await.err().expect("start-up refuses");
    assert!(refused.to_string().contains("console.listen"), "{refused}");

    with_console(
        |console| {
            console.api_keys = vec!["test-key-0123456789".to_owned()];
            console.username = Some("ops".to_owned());
            console.password = Some("pw-0123456789".to_owned());
            console.read_only = true;
        },
        |mut c| async move {
            let (status, body) = c.get("/api/workflows").await;
            assert_eq!(
                (status, &body["error"]),
                (StatusCode::UNAUTHORIZED, &json!("unauthorized"))
            );
            let page = c.http.get(format!("{}/", c.base)).send().await.unwrap();
            assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
            assert!(
                page.headers().contains_key("www-authenticate"),
                "browsers are asked for basic auth"
            );
            c.key = Some("wrong-key-0123456789".to_owned());
            let (status, _) = c.get("/api/workflows").await;
            assert_eq!(status, StatusCode::UNAUTHORIZED);
            c.key = Some("test-key-0123456789".to_owned());
            let (status, body) = c.get("/api/workflows").await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let basic = c
                .http
                .get(format!("{}/", c.base))
                .basic_auth("ops", Some("pw-0123456789"))
                .send()
                .await
                .unwrap();
            assert_eq!(basic.status(), StatusCode::OK);

            let patient = id("patient");
            let handle = c
                .client
                .start(Patient::run, &patient, (), StartOptions::default())
                .await
                .unwrap();
            for action in ["signal", "cancel", "terminate"] {
                let (status, body) = c
                    .post(
                        &format!("/api/workflows/{patient}/{action}"),
                        json!({"name": "x"}),
                    )
                    .await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{action}: {body}");
                assert!(
                    body["message"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("read_only"),
                    "{body}"
                );
            }
            assert_eq!(
                c.describe(&patient).await["status"],
                "Running",
                "nothing was written"
            );
            handle.terminate("test done").await.unwrap();
        },
    )
    .await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
