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

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
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
