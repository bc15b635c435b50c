//! Bad conditions that need real processes: Temporal going down under a running app, bad
//! configuration, an unreachable server at start-up, and a graceful SIGTERM. The API's
//! refusals of bad input (400, 404, 409) are tested in-process in `routes.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{API, APP, FINAL_TIMEOUT, Harness, Node, WORKER};
use serde_json::json;
use workflow_testkit::free_port;
use workflow_testkit::get;
use workflow_testkit::orders::{
    approve, assert_all_completed, assert_error, order, place, wait_all_done,
};

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
        let r = workflow_testkit::answer(response).await;
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
    let dir = workflow_testkit::test_dir!("bad_input_exit");
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
    let dir = workflow_testkit::test_dir!("bad_input_config");
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
    approve(&h.http, next.api(), "term-gated").await;
    let results = wait_all_done(&h.http, next.api(), &ids, FINAL_TIMEOUT).await;
    assert_all_completed(&results, &ids);
    let ledger = common::assert_exactly_once(&h.ledger, &ids).await;
    println!(
        "SIGTERM with 6 orders in flight: exit 0 in {took:.1?} (grace {grace:?}); a new process finished all 6 ({} effects re-executed)",
        ledger.re_executed.len()
    );
}
