//! Bad input and bad conditions, against a real Temporal server: malformed and invalid
//! requests, unknown and closed orders, Temporal going down, bad configuration, an
//! unreachable server at start-up, and a graceful SIGTERM.

mod common;

use std::time::{Duration, Instant};

use common::{
    API, APP, FINAL_TIMEOUT, Harness, Node, TestDir, WORKER, get, order, place, post, post_empty,
    wait_all_done, wait_state,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use workflow_testkit::free_port;

/// Asserts an error answer: the status, the error code, and that the message mentions each
/// of `mentions`.
fn assert_error(what: &str, got: &(StatusCode, Value), status: u16, code: &str, mentions: &[&str]) {
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

/// `POST /orders` with a raw body.
async fn post_raw(h: &Harness, api: &str, body: &str) -> (StatusCode, Value) {
    let response = h
        .http
        .post(format!("{api}/orders"))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("POST /orders");
    common::answer(response).await
}

async fn put_address(h: &Harness, api: &str, id: &str, body: &Value) -> (StatusCode, Value) {
    let response = h
        .http
        .put(format!("{api}/orders/{id}/shipping-address"))
        .json(body)
        .send()
        .await
        .expect("PUT shipping-address");
    common::answer(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_unknown_and_closed_orders_are_refused() {
    let h = Harness::start("bad_input_http");
    let app = h
        .spawn_ready(
            APP,
            "app",
            &[
                ("ORDERS_APPROVAL_THRESHOLD_CENTS", "100000"),
                ("ORDERS_APPROVAL_TIMEOUT", "10m"),
            ],
        )
        .await;
    let api = app.api();
    let started = Instant::now();

    // 400: malformed, missing fields, wrong types, unknown fields, invalid values.
    let mut bad = 0;
    let r = post_raw(&h, api, "{\"order_id\": \"x1\", ").await;
    assert_error("malformed JSON", &r, 400, "bad_request", &["JSON"]);
    bad += 1;
    let mut missing = order("x1", "alice", 1_000);
    missing
        .as_object_mut()
        .expect("order is an object")
        .remove("shipping_address");
    let r = post(&h.http, &format!("{api}/orders"), &missing).await;
    assert_error(
        "missing field",
        &r,
        400,
        "bad_request",
        &["shipping_address"],
    );
    bad += 1;
    let mut missing = order("x1", "alice", 1_000);
    missing["items"][0]
        .as_object_mut()
        .expect("item is an object")
        .remove("quantity");
    let r = post(&h.http, &format!("{api}/orders"), &missing).await;
    assert_error(
        "missing nested field",
        &r,
        400,
        "bad_request",
        &["quantity"],
    );
    bad += 1;
    let mut wrong = order("x1", "alice", 1_000);
    wrong["amount_cents"] = json!("lots");
    let r = post(&h.http, &format!("{api}/orders"), &wrong).await;
    assert_error("wrong type", &r, 400, "bad_request", &["amount_cents"]);
    bad += 1;
    let mut unknown = order("x1", "alice", 1_000);
    unknown["colour"] = json!("red");
    let r = post(&h.http, &format!("{api}/orders"), &unknown).await;
    assert_error("unknown field", &r, 400, "bad_request", &["colour"]);
    bad += 1;
    let mut empty = order("x1", "alice", 1_000);
    empty["items"] = json!([]);
    let r = post(&h.http, &format!("{api}/orders"), &empty).await;
    assert_error("empty items", &r, 400, "bad_request", &["items"]);
    bad += 1;
    let mut zero = order("x1", "alice", 1_000);
    zero["items"][0]["quantity"] = json!(0);
    let r = post(&h.http, &format!("{api}/orders"), &zero).await;
    assert_error("quantity 0", &r, 400, "bad_request", &["quantity"]);
    bad += 1;
    for bad_id in ["has space", "slash/y", "", &"x".repeat(65)] {
        let r = post(
            &h.http,
            &format!("{api}/orders"),
            &order(bad_id, "alice", 1_000),
        )
        .await;
        assert_error(
            &format!("order_id {bad_id:?}"),
            &r,
            400,
            "bad_request",
            &["order_id"],
        );
        bad += 1;
    }
    let r = post(&h.http, &format!("{api}/orders"), &order("x1", "alice", 0)).await;
    assert_error("amount 0", &r, 400, "bad_request", &["amount_cents"]);
    bad += 1;
    let r = post(&h.http, &format!("{api}/orders"), &order("x1", "  ", 10)).await;
    assert_error("blank customer", &r, 400, "bad_request", &["customer"]);
    bad += 1;
    let r = get(&h.http, &format!("{api}/orders/x1/result?wait=soon")).await;
    assert_error("bad wait", &r, 400, "bad_request", &["wait"]);
    bad += 1;
    let r = get(&h.http, &format!("{api}/orders/bad%20id")).await;
    assert_error("bad id in path", &r, 400, "bad_request", &["order_id"]);
    bad += 1;
    // None of them started anything.
    let (status, listed) = get(&h.http, &format!("{api}/orders")).await;
    assert_eq!(status.as_u16(), 200, "{listed}");
    assert_eq!(listed, json!([]), "invalid requests must not start orders");

    // 404: unknown order everywhere.
    let mut not_found = 0;
    let ghost = format!("{api}/orders/ghost-1");
    for (what, r) in [
        ("GET status of unknown", get(&h.http, &ghost).await),
        (
            "GET result of unknown",
            get(&h.http, &format!("{ghost}/result?wait=1s")).await,
        ),
        (
            "approve unknown",
            post_empty(&h.http, &format!("{ghost}/approve")).await,
        ),
        (
            "reject unknown",
            post_empty(&h.http, &format!("{ghost}/reject")).await,
        ),
        (
            "cancel unknown",
            post_empty(&h.http, &format!("{ghost}/cancel")).await,
        ),
        (
            "address of unknown",
            put_address(&h, api, "ghost-1", &order("g", "a", 1)["shipping_address"]).await,
        ),
    ] {
        assert_error(what, &r, 404, "not_found", &[]);
        not_found += 1;
    }

    // A completed order: idempotent re-POST, then 409 on every change.
    place(&h.http, api, &order("done-1", "alice", 1_000)).await;
    let (status, again) = post(
        &h.http,
        &format!("{api}/orders"),
        &order("done-1", "alice", 1_000),
    )
    .await;
    assert_eq!(status.as_u16(), 200, "repeated POST: {again}");
    assert_eq!(again["created"], json!(false), "repeated POST: {again}");
    // A gated order, changed while waiting, then cancelled: compensated.
    place(&h.http, api, &order("cancel-1", "bob", 250_000)).await;
    wait_state(&h.http, api, "cancel-1", "awaiting_approval", FINAL_TIMEOUT).await;
    let mut new_address = order("a", "a", 1)["shipping_address"].clone();
    new_address["line1"] = json!("2 Side Street");
    let (status, changed) = put_address(&h, api, "cancel-1", &new_address).await;
    assert_eq!(
        status.as_u16(),
        200,
        "address change while awaiting approval: {changed}"
    );
    assert_eq!(
        changed["shipping_address"]["line1"],
        json!("2 Side Street"),
        "{changed}"
    );
    let (status, body) = post_empty(&h.http, &format!("{api}/orders/cancel-1/cancel")).await;
    assert_eq!(status.as_u16(), 202, "cancel: {body}");
    // A declined card: the order fails and is compensated.
    place(&h.http, api, &order("declined-1", "declined-dave", 1_000)).await;

    let ids: Vec<String> = ["done-1", "cancel-1", "declined-1"]
        .map(String::from)
        .to_vec();
    let results = wait_all_done(&h.http, api, &ids, FINAL_TIMEOUT).await;
    assert_eq!(
        results["done-1"]["outcome"],
        json!("completed"),
        "{}",
        results["done-1"]
    );
    assert_eq!(results["done-1"]["order"]["state"], json!("completed"));
    assert_eq!(
        results["cancel-1"]["outcome"],
        json!("cancelled"),
        "{}",
        results["cancel-1"]
    );
    assert_eq!(
        results["declined-1"]["order"]["state"],
        json!("failed"),
        "{}",
        results["declined-1"]
    );
    let effects = common::ledger_effects(&h.ledger).await;
    let actions = |id: &str| -> Vec<String> {
        effects
            .get(id)
            .map(|a| a.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        actions("done-1"),
        ["charge", "reserve", "ship"],
        "ledger of done-1"
    );
    assert_eq!(
        actions("cancel-1"),
        ["charge", "refund", "release", "reserve"],
        "ledger of cancel-1 (cancelled after charging: refunded and released)"
    );
    assert_eq!(
        actions("declined-1"),
        ["release", "reserve"],
        "ledger of declined-1 (payment declined: released, never charged)"
    );

    let mut conflicts = 0;
    for id in &ids {
        let base = format!("{api}/orders/{id}");
        for (what, r) in [
            (
                "approve closed",
                post_empty(&h.http, &format!("{base}/approve")).await,
            ),
            (
                "reject closed",
                post_empty(&h.http, &format!("{base}/reject")).await,
            ),
            (
                "cancel closed",
                post_empty(&h.http, &format!("{base}/cancel")).await,
            ),
            (
                "address of closed",
                put_address(&h, api, id, &new_address).await,
            ),
        ] {
            assert_error(&format!("{what} {id}"), &r, 409, "conflict", &[]);
            conflicts += 1;
        }
    }
    println!(
        "400 x{bad}, 404 x{not_found}, 409 x{conflicts}; completed/cancelled/declined orders checked in {:.1?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporal_down_gives_503_not_a_hang() {
    let mut h = Harness::start("bad_input_down");
    let app = h
        .spawn_ready(APP, "app", &[("WORKFLOW_REQUEST_TIMEOUT", "3s")])
        .await;
    let api = app.api().to_owned();
    place(&h.http, &api, &order("before-1", "alice", 1_000)).await;
    let done = wait_all_done(&h.http, &api, &["before-1".to_owned()], FINAL_TIMEOUT).await;
    assert_eq!(done["before-1"]["outcome"], json!("completed"));

    h.server.kill();
    println!("  Temporal server killed");
    let bound = Duration::from_secs(20);
    let checks = [
        (
            "POST /orders",
            format!("{api}/orders"),
            Some(order("after-1", "alice", 1_000)),
        ),
        ("GET /orders/{id}", format!("{api}/orders/before-1"), None),
        (
            "GET /orders/{id}/result",
            format!("{api}/orders/before-1/result?wait=2s"),
            None,
        ),
        (
            "POST /orders/{id}/approve",
            format!("{api}/orders/before-1/approve"),
            Some(json!({})),
        ),
    ];
    for (what, url, body) in checks {
        let started = Instant::now();
        let request = match &body {
            Some(body) => h.http.post(&url).json(body),
            None => h.http.get(&url),
        };
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{what} with Temporal down: no HTTP answer: {e}"));
        let took = started.elapsed();
        let r = common::answer(response).await;
        assert_error(
            &format!("{what} with Temporal down ({took:.1?})"),
            &r,
            503,
            "unavailable",
            &["unavailable"],
        );
        assert!(took < bound, "{what} took {took:?} (bound {bound:?})");
    }
    let (status, _) = get(&h.http, &format!("{}/healthz", app.health())).await;
    assert_eq!(
        status.as_u16(),
        200,
        "the app must stay alive while Temporal is down"
    );
}

/// Runs `binary` with `env` (no server needed) and waits for it to exit by itself.
fn run_to_exit(
    binary: &str,
    env: Vec<(&str, String)>,
    timeout: Duration,
) -> (i32, String, Duration) {
    let dir = TestDir::new("bad_input_exit");
    let started = Instant::now();
    let mut node = Node::spawn(binary, binary, env, dir.path());
    let status = node.process.wait_exit(timeout).unwrap_or_else(|| {
        panic!(
            "{binary} still running after {timeout:?}; output:\n{}",
            node.process.output()
        )
    });
    let took = started.elapsed();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{binary} ended by a signal: {status}"));
    (code, node.process.output(), took)
}

#[test]
fn bad_config_exits_2_naming_the_field() {
    let dir = TestDir::new("bad_input_config");
    let cases: [(&str, &str, &str, &str); 4] = [
        (APP, "role.toml", "role = \"both\"\n", "role"),
        (
            APP,
            "adress.toml",
            "[temporal]\nadress = \"127.0.0.1:7233\"\n",
            "adress",
        ),
        (
            API,
            "timeout.toml",
            "[temporal]\nrequest_timeout = \"soon\"\n",
            "request_timeout",
        ),
        (
            WORKER,
            "grace.toml",
            "[worker]\nshutdown_grace_period = 5\n",
            "shutdown_grace_period",
        ),
    ];
    for (binary, file, text, field) in cases {
        let path = dir.path().join(file);
        std::fs::write(&path, text).expect("write the config file");
        let env = vec![
            ("WORKFLOW_CONFIG", path.display().to_string()),
            ("TEMPORAL_ADDRESS", format!("127.0.0.1:{}", free_port())),
        ];
        let (code, output, took) = run_to_exit(binary, env, Duration::from_secs(20));
        assert_eq!(
            code, 2,
            "{binary} with {text:?}: exit code; output:\n{output}"
        );
        assert!(
            output.contains(field),
            "{binary} with {text:?}: output does not name {field:?}:\n{output}"
        );
        assert!(
            took < Duration::from_secs(10),
            "{binary} took {took:?} to reject its config"
        );
        let line = output
            .lines()
            .find(|l| l.contains(field))
            .unwrap_or_default();
        println!(
            "  {binary} {text:?} -> exit 2 in {took:.1?}: {}",
            line.trim()
        );
    }
    // A bad environment value is a configuration error too.
    let env = vec![("WORKFLOW_CONNECT_TIMEOUT", "forever".to_owned())];
    let (code, output, took) = run_to_exit(APP, env, Duration::from_secs(20));
    assert_eq!(code, 2, "bad WORKFLOW_CONNECT_TIMEOUT: output:\n{output}");
    assert!(output.contains("WORKFLOW_CONNECT_TIMEOUT"), "{output}");
    println!("  WORKFLOW_CONNECT_TIMEOUT=forever -> exit 2 in {took:.1?}");
}

#[test]
fn unreachable_server_at_startup_exits_nonzero_naming_the_address() {
    let address = format!("127.0.0.1:{}", free_port());
    for binary in [APP, API, WORKER] {
        let env = vec![
            ("TEMPORAL_ADDRESS", address.clone()),
            ("WORKFLOW_CONNECT_TIMEOUT", "2s".to_owned()),
        ];
        let (code, output, took) = run_to_exit(binary, env, Duration::from_secs(30));
        assert_ne!(
            code, 0,
            "{binary} against nothing exited 0; output:\n{output}"
        );
        assert_ne!(
            code, 2,
            "{binary}: unreachable is not a config error; output:\n{output}"
        );
        assert!(
            output.contains(&address),
            "{binary}: output does not name {address}:\n{output}"
        );
        assert!(
            took < Duration::from_secs(15),
            "{binary} took {took:?} to give up (timeout 2s)"
        );
        let line = output
            .lines()
            .rev()
            .find(|l| l.contains(&address))
            .unwrap_or_default();
        println!("  {binary} -> exit {code} in {took:.1?}: {}", line.trim());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_exits_zero_within_the_grace_period() {
    let h = Harness::start("bad_input_sigterm");
    let grace = Duration::from_secs(5);
    let env = [
        ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "5s"),
        ("ORDERS_PAYMENT_FAILURE_RATE", "0.5"),
        ("ORDERS_APPROVAL_TIMEOUT", "10m"),
    ];
    let mut app = h.spawn_ready(APP, "app", &env).await;
    // Work in flight: orders being retried and one waiting for approval.
    for i in 0..5 {
        place(
            &h.http,
            app.api(),
            &order(&format!("term-{i}"), "erin", 1_000 + i),
        )
        .await;
    }
    place(&h.http, app.api(), &order("term-gated", "erin", 500_000)).await;
    let (status, took) = app.terminate(Duration::from_secs(60));
    assert_eq!(
        status.code(),
        Some(0),
        "exit status {status}; output:\n{}",
        app.process.output()
    );
    assert!(
        took <= grace,
        "SIGTERM took {took:?}, more than the {grace:?} grace period"
    );

    // What was left is finished by the next process.
    let next = h.spawn_ready(APP, "app-2", &env).await;
    let mut ids: Vec<String> = (0..5).map(|i| format!("term-{i}")).collect();
    ids.push("term-gated".to_owned());
    common::approve(&h.http, next.api(), "term-gated").await;
    let results = wait_all_done(&h.http, next.api(), &ids, FINAL_TIMEOUT).await;
    common::assert_all_completed(&results, &ids);
    let ledger = common::assert_exactly_once(&h.ledger, &ids).await;
    println!(
        "SIGTERM with 6 orders in flight: exit 0 in {took:.1?} (grace {grace:?}); a new process finished all 6 ({} effects re-executed)",
        ledger.re_executed.len()
    );
}
