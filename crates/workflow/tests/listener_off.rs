//! Demo mode with `embedded.listen = "off"`: the process opens no TCP listener but the
//! health endpoint's and the console's, and both work, the console reaching the engine
//! through the in-process transport. Its own test binary, so no other test's listeners
//! share the process. Linux: listeners are read from `/proc/self`.
#![cfg(target_os = "linux")]

use std::collections::{BTreeSet, HashSet};

use workflow::{App, Config, EngineKind, EngineListen, Role};

workflow::contract! {
    /// A workflow no worker runs: started and described only.
    pub workflow Nothing = "Nothing" (()) -> () {
        signals {}
        queries {}
        updates {}
    }
}

/// The ports this process listens on over TCP (IPv4 and IPv6).
fn listening_ports() -> BTreeSet<u16> {
    let sockets: HashSet<String> = std::fs::read_dir("/proc/self/fd")
        .expect("read /proc/self/fd")
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["/proc/self/net/tcp", "/proc/self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is fields[1] (HEX_IP:HEX_PORT), st fields[3] (0A: LISTEN),
            // inode fields[9].
            if fields.len() > 9 && fields[3] == "0A" && sockets.contains(fields[9]) {
                let port = fields[1].rsplit(':').next().unwrap_or_default();
                ports.insert(u16::from_str_radix(port, 16).expect("a hex port"));
            }
        }
    }
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_mode_without_the_engine_listener_listens_only_for_health_and_the_console() {
    let before = listening_ports();
    assert!(before.is_empty(), "listeners before the app: {before:?}");
    let mut config = Config {
        engine: EngineKind::Embedded,
        role: Role::Api,
        ..Config::default()
    };
    config.embedded.listen = EngineListen::Off;
    config.health.listen = "127.0.0.1:0".parse().expect("socket address");
    config.console.listen = Some("127.0.0.1:0".parse().expect("socket address"));
    let app = App::start(config).await.expect("demo mode starts");
    let console = app.console_addr().expect("the console is on in demo mode");
    let expected = BTreeSet::from([app.health_addr().port(), console.port()]);
    assert_eq!(listening_ports(), expected, "health and console only");
    assert_eq!(app.config().temporal.address, "in-process");

    let http = workflow_testkit::http();
    let health = format!("http://{}/healthz", app.health_addr());
    let (status, _) = workflow_testkit::get(&http, &health).await;
    assert!(status.is_success(), "healthz: {status}");
    let list = format!("http://{console}/api/workflows");
    let (status, body) = workflow_testkit::get(&http, &list).await;
    assert!(
        status.is_success(),
        "the console lists through the engine: {status} {body}"
    );
    let started = app
        .client()
        .start(
            Nothing,
            "listener-off",
            (),
            workflow::StartOptions::default(),
        )
        .await
        .expect("the client starts a workflow in process");
    let described = started.describe().await.expect("describe");
    assert_eq!(described.status, "Running");
    let (status, body) = workflow_testkit::get(&http, &list).await;
    assert!(status.is_success(), "{status} {body}");
    assert!(body.to_string().contains("listener-off"), "{body}");
}
