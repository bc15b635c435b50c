//! The library's security settings against an engine that checks them: `temporal.tls.*`
//! (server CA, client certificate and key, server name) and `temporal.api_key`, set through
//! Temporal's own variables. The right ones connect and work; a wrong CA, a missing client
//! certificate, a wrong or a missing API key each stop `orders-app` at start with exit 1 and
//! a message that says which, well before `temporal.connect_timeout`.
//!
//! Engine-only: the Temporal dev server has no TLS or API-key options (a real cluster or
//! Temporal Cloud has), so the secured server here is always `workflow-engine`
//! (`--tls-cert`, `--tls-key`, `--tls-client-ca`, `--api-key-file`).

mod common;

use std::time::{Duration, Instant};

use common::{APP, FINAL_TIMEOUT, Node, READY_TIMEOUT};
use serde_json::json;
use workflow_testkit::orders::{order, place, wait_all_done};
use workflow_testkit::{EngineServer, TestPki, test_dir};

const KEY: &str = "orders-key-7d1e";

/// A process's environment.
type Env = Vec<(&'static str, String)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_certificates_and_api_keys_connect_or_fail_at_start_saying_which() {
    let dir = test_dir!("security");
    let pki = TestPki::generate(dir.path());
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{KEY}\n")).expect("write the API key file");
    let p = |path: &std::path::Path| path.display().to_string();
    let engine = EngineServer::start_with(&[
        "--tls-cert",
        &p(&pki.server_cert),
        "--tls-key",
        &p(&pki.server_key),
        "--tls-client-ca",
        &p(&pki.client_ca),
        "--api-key-file",
        &p(&keys),
    ]);
    let ledger = dir.path().join("ledger.db");
    let base = |drop: &[&str], set: &[(&'static str, String)]| {
        let mut env: Vec<(&str, String)> = vec![
            ("TEMPORAL_ADDRESS", engine.address()),
            ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", p(&pki.server_ca)),
            ("TEMPORAL_TLS_SERVER_NAME", "localhost".to_owned()),
            ("TEMPORAL_TLS_CLIENT_CERT_PATH", p(&pki.client_cert)),
            ("TEMPORAL_TLS_CLIENT_KEY_PATH", p(&pki.client_key)),
            ("TEMPORAL_API_KEY", KEY.to_owned()),
            ("ORDERS_LEDGER_PATH", p(&ledger)),
            ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "5s".to_owned()),
            ("WORKFLOW_CONNECT_TIMEOUT", "60s".to_owned()),
        ];
        env.retain(|(k, _)| !drop.contains(k));
        for (k, v) in set {
            env.retain(|(key, _)| key != k);
            env.push((k, v.clone()));
        }
        env
    };

    // The failures first, side by side: each must exit 1 well before the 60 s connect
    // timeout, naming what is wrong.
    let cases: [(&str, Env, &str); 4] = [
        (
            "wrong-ca",
            base(
                &[],
                &[("TEMPORAL_TLS_SERVER_CA_CERT_PATH", p(&pki.other_ca))],
            ),
            "temporal.tls.ca_cert",
        ),
        (
            "no-client-cert",
            base(
                &[
                    "TEMPORAL_TLS_CLIENT_CERT_PATH",
                    "TEMPORAL_TLS_CLIENT_KEY_PATH",
                ],
                &[],
            ),
            "requires a client certificate",
        ),
        (
            "wrong-key",
            base(&[], &[("TEMPORAL_API_KEY", "orders-key-guess".to_owned())]),
            "refused the API key",
        ),
        (
            "no-key",
            base(&["TEMPORAL_API_KEY"], &[]),
            "needs an API key",
        ),
    ];
    let started = Instant::now();
    let mut failing: Vec<(Node, &str)> = cases
        .into_iter()
        .map(|(label, env, says)| (Node::spawn(APP, label, env, dir.path()), says))
        .collect();
    for (node, says) in &mut failing {
        let status = node
            .process
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| {
                panic!(
                    "{}: still running after 30 s (a hang or a retry loop):\n{}",
                    node.label,
                    node.process.output()
                )
            });
        let out = node.process.output();
        println!(
            "  {}: {}",
            node.label,
            out.lines().last().unwrap_or_default()
        );
        assert_eq!(status.code(), Some(1), "{}: {out}", node.label);
        assert!(
            out.contains(*says),
            "{}: expected {says:?} in:\n{out}",
            node.label
        );
        assert!(
            !out.contains(KEY),
            "{}: the output shows the API key:\n{out}",
            node.label
        );
    }
    println!("  four refusals in {:.1?}", started.elapsed());

    let mut app = Node::spawn(APP, "secured", base(&[], &[]), dir.path());
    app.wait_ready(&workflow_testkit::http(), READY_TIMEOUT)
        .await;
    let http = workflow_testkit::http();
    place(&http, app.api(), &order("tls-1", "alice", 1_000)).await;
    let done = wait_all_done(&http, app.api(), &["tls-1".to_owned()], FINAL_TIMEOUT).await;
    assert_eq!(done["tls-1"]["outcome"], json!("completed"), "{done:?}");
    assert!(
        !app.process.output().contains(KEY),
        "the output shows the API key"
    );
    let (status, _) = app.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}");
}

/// Demo mode secured: `embedded.tls_*` and `embedded.api_key_file` make the in-process
/// engine check what outside clients bring, while this process's own client reaches it in
/// process with the file's first key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_engine_is_secured_and_its_own_process_still_connects() {
    use workflow::{App, EngineKind, Role};
    let dir = test_dir!("embedded-security");
    let pki = TestPki::generate(dir.path());
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{KEY}\n")).expect("write the API key file");
    let port = workflow_testkit::free_port();
    let mut config = orders_contract::default_config(Role::Worker);
    config.engine = EngineKind::Embedded;
    config.embedded.listen = std::net::SocketAddr::from(([127, 0, 0, 1], port)).into();
    config.embedded.tls_cert = Some(pki.server_cert.clone());
    config.embedded.tls_key = Some(pki.server_key.clone());
    config.embedded.tls_client_ca = Some(pki.client_ca.clone());
    config.embedded.api_key_file = Some(keys.clone());
    config.temporal.tls.ca_cert = Some(pki.server_ca.clone());
    config.temporal.tls.client_cert = Some(pki.client_cert.clone());
    config.temporal.tls.client_key = Some(pki.client_key.clone());
    config.health.listen = ([127, 0, 0, 1], 0).into();
    config.console.enabled = Some(false);
    config
        .validate()
        .expect("a complete secured embedded configuration");
    let app = App::start(config)
        .await
        .unwrap_or_else(|e| panic!("the process's own client over TLS with a key: {e}"));

    let p = |path: &std::path::Path| path.display().to_string();
    let address = format!("127.0.0.1:{port}");
    let cli = |extra: &[&str]| {
        std::process::Command::new(workflow_testkit::temporal_cli())
            .args(["operator", "namespace", "list", "--address", &address])
            .args(["--tls-ca-path", &p(&pki.server_ca)])
            .args(["--tls-cert-path", &p(&pki.client_cert)])
            .args(["--tls-key-path", &p(&pki.client_key)])
            .args(extra)
            .output()
            .expect("run the temporal CLI")
    };
    let with_key = cli(&["--api-key", KEY]);
    assert!(
        with_key.status.success(),
        "{}",
        String::from_utf8_lossy(&with_key.stderr)
    );
    let without = cli(&[]);
    assert!(!without.status.success(), "no API key must be refused");
    drop(app);
}
