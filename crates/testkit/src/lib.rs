//! Test support for the workspace's integration tests: real servers, real processes.
//!
//! - [`TemporalServer`]: the official `temporal` CLI's dev server (Temporal Server with
//!   SQLite), on free ports with its own database file. [`Backend`] picks what the tests run
//!   against, so the same suite can target another backend by changing only the address.
//! - [`PostgresServer`]: a real PostgreSQL server (`initdb`, `pg_ctl`) on a free port in a
//!   temporary data directory.
//! - [`Process`]: one of the workspace's binaries, with its output in a log file, stopped
//!   with SIGTERM or killed with SIGKILL.
//! - [`Browser`]: headless Chromium through chromedriver (W3C WebDriver), for page tests.
//! - [`TestDir`] ([`test_dir!`]): a per-test folder for logs and data, kept when the test
//!   fails.
//! - [`http`], [`answer`], [`call`], [`get`], [`post`], [`post_empty`]: HTTP calls whose
//!   answers read as (status, JSON body).
//! - [`orders`]: the orders example's fixtures (order bodies, waits for final states, the
//!   exactly-once ledger check), shared by its tests and the benchmark.
//! - [`TestPki`]: TLS certificates and keys generated for one test (CAs, server, client).
//! - [`free_port`], [`wait_until`]: small helpers.

mod browser;
mod calls;
mod certs;
mod dir;
pub mod orders;
mod postgres;
mod process;
mod server;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use browser::{Browser, Element};
pub use calls::{answer, call, get, http, post, post_empty};
pub use certs::TestPki;
pub use dir::TestDir;
pub use postgres::{POSTGRES_USER, PostgresServer, postgres_bin};
pub use process::{Process, binary_path};
pub use server::{Backend, EngineServer, TemporalServer, in_process_backend, temporal_cli};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")))
}

/// Where [`free_port`] picks from: below Linux's ephemeral range (32768-60999 by default),
/// which the kernel hands out to every `bind(0)` and every outgoing connection: a port
/// picked there and released can be taken by anything (a dev server's internal services,
/// a client's connection) before the test's process binds it.
const TEST_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A TCP port that is free on 127.0.0.1 now, outside the kernel's ephemeral range (so only
/// another test picking the same one can take it first: a random pick among 12,000 makes
/// that rare).
pub fn free_port() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static PICKS: AtomicU64 = AtomicU64::new(0);
    let seed = std::collections::hash_map::RandomState::new();
    let span = u64::from(TEST_PORTS.end - TEST_PORTS.start);
    for _ in 0..200 {
        let mut hasher = seed.build_hasher();
        hasher.write_u64(PICKS.fetch_add(1, Ordering::Relaxed));
        hasher.write_u32(std::process::id());
        let offset = u16::try_from(hasher.finish() % span).unwrap_or(0);
        let port = TEST_PORTS.start + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    listener
        .local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Polls `check` every 100 ms until it returns true; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
