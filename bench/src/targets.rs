//! The servers under test: started fresh for each measurement and stopped after. Their
//! database size is read from the file system; CPU and memory through `crate::proc_stats`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::child::{Child, free_port, sibling_binary};

/// What to benchmark against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// The embedded engine inside the benchmark process, on a SQLite file, reached over
    /// loopback TCP (gRPC over HTTP/2, as the demo reached it before the in-process
    /// transport).
    Embedded,
    /// The embedded engine inside the benchmark process, on a SQLite file, with no listener:
    /// reached through the in-process transport (the demo shape).
    EmbeddedInProcess,
    /// The standalone `workflow-engine` binary on loopback, on a SQLite file.
    Standalone,
    /// The standalone `workflow-engine` binary on a PostgreSQL server of its own (from
    /// `.venv`, as `workflow_testkit::PostgresServer` starts it).
    StandalonePostgres,
    /// The standalone engine binary named by `$WORKFLOW_BENCH_BASELINE` (a build of an
    /// earlier commit, same options), for before/after in one run.
    Baseline,
    /// `temporal server start-dev` with a SQLite file and default pragmas.
    DevServer,
    /// The same with `journal_mode=wal` and `synchronous=normal`.
    DevServerWal,
    /// The same in memory.
    DevServerMemory,
}

impl TargetKind {
    pub(crate) const NAMES: &'static str =
        "embedded, embedded-inproc, standalone, standalone-pg, baseline, dev, dev-wal, dev-mem";

    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "embedded" => Some(Self::Embedded),
            "embedded-inproc" => Some(Self::EmbeddedInProcess),
            "baseline" => Some(Self::Baseline),
            "standalone" => Some(Self::Standalone),
            "standalone-pg" => Some(Self::StandalonePostgres),
            "dev" => Some(Self::DevServer),
            "dev-wal" => Some(Self::DevServerWal),
            "dev-mem" => Some(Self::DevServerMemory),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::EmbeddedInProcess => "embedded-inproc",
            Self::Baseline => "baseline",
            Self::Standalone => "standalone",
            Self::StandalonePostgres => "standalone-pg",
            Self::DevServer => "dev",
            Self::DevServerWal => "dev-wal",
            Self::DevServerMemory => "dev-mem",
        }
    }

    /// Whether the engine runs inside the harness's process (its CPU is the harness's).
    pub(crate) fn in_this_process(self) -> bool {
        matches!(self, Self::Embedded | Self::EmbeddedInProcess)
    }
}

/// A started target.
pub(crate) struct Target {
    pub(crate) address: String,
    /// Spawn (or `Engine::start`) until the server answered a namespace describe.
    pub(crate) ready: Duration,
    child: Option<Child>,
    engine: Option<workflow_engine::EngineHandle>,
    database: Option<PathBuf>,
    /// Stopped after the engine.
    postgres: Option<workflow_testkit::PostgresServer>,
    /// How to start the server process again on the same data.
    relaunch: Option<Relaunch>,
    dir: tempfile::TempDir,
}

/// A server process's command, kept to start it again.
struct Relaunch {
    name: &'static str,
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    envs: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

impl Relaunch {
    fn of(name: &'static str, command: &Command) -> Self {
        Self {
            name,
            program: command.get_program().to_owned(),
            args: command.get_args().map(ToOwned::to_owned).collect(),
            envs: command
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned())))
                .collect(),
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(self.envs.iter().map(|(k, v)| (k, v)));
        command
    }
}

impl Target {
    pub(crate) async fn start(kind: TargetKind) -> anyhow::Result<Self> {
        Self::start_with(kind, &[]).await
    }

    /// Like [`Target::start`], with extra server arguments (not for `embedded`).
    pub(crate) async fn start_with(kind: TargetKind, extra: &[String]) -> anyhow::Result<Self> {
        anyhow::ensure!(
            extra.is_empty() || kind != TargetKind::Embedded,
            "extra server arguments need a server process, not embedded"
        );
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let mut postgres = None;
        let mut relaunch = None;
        let started = Instant::now();
        let (child, engine, database) = match kind {
            TargetKind::Embedded | TargetKind::EmbeddedInProcess => {
                let mut options = match kind {
                    TargetKind::Embedded => {
                        workflow_engine::EngineOptions::new(([127, 0, 0, 1], port).into())
                    }
                    _ => workflow_engine::EngineOptions::default().without_listener(),
                };
                // `WORKFLOW_BENCH_EMBEDDED_DB=memory` keeps the in-process engines in memory:
                // the latency of the transport and the engine without the disk's fsync.
                let db = match std::env::var("WORKFLOW_BENCH_EMBEDDED_DB").as_deref() {
                    Ok("memory") => None,
                    _ => Some(dir.path().join("engine.db")),
                };
                if let Some(db) = &db {
                    options = options.with_database(db);
                }
                let handle = workflow_engine::Engine::start(options).await?;
                (None, Some(handle), db)
            }
            TargetKind::Standalone | TargetKind::Baseline => {
                let db = dir.path().join("engine.db");
                let binary = match kind {
                    TargetKind::Baseline => baseline_binary()?,
                    _ => sibling_binary("workflow-engine")?,
                };
                let mut command = Command::new(binary);
                command
                    .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--log-level", "error"])
                    .arg("--db-filename")
                    .arg(&db)
                    .args(extra);
                relaunch = Some(Relaunch::of("workflow-engine", &command));
                let child = Child::spawn("workflow-engine", command, dir.path())?;
                (Some(child), None, Some(db))
            }
            TargetKind::StandalonePostgres => {
                let server = workflow_testkit::PostgresServer::start();
                let url = server.create_database("engine");
                postgres = Some(server);
                let mut command = Command::new(sibling_binary("workflow-engine")?);
                command
                    .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
                    .args(["--log-level", "error"])
                    .args(extra)
                    .env("WORKFLOW_ENGINE_DB_URL", url);
                relaunch = Some(Relaunch::of("workflow-engine", &command));
                let child = Child::spawn("workflow-engine", command, dir.path())?;
                (Some(child), None, None)
            }
            TargetKind::DevServer | TargetKind::DevServerWal | TargetKind::DevServerMemory => {
                let mut command = Command::new(temporal_cli()?);
                command
                    .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
                    .args(["--port", &port.to_string()])
                    .args(["--http-port", &free_port()?.to_string()])
                    .args(["--metrics-port", &free_port()?.to_string()])
                    .args(["--log-level", "error"])
                    .args(extra);
                let db = dir.path().join("temporal.db");
                let database = match kind {
                    TargetKind::DevServerMemory => None,
                    _ => {
                        command.arg("--db-filename").arg(&db);
                        Some(db)
                    }
                };
                if kind == TargetKind::DevServerWal {
                    command.args(["--sqlite-pragma", "journal_mode=wal"]);
                    command.args(["--sqlite-pragma", "synchronous=normal"]);
                }
                relaunch = Some(Relaunch::of("temporal-dev-server", &command));
                let child = Child::spawn("temporal-dev-server", command, dir.path())?;
                (Some(child), None, database)
            }
        };
        let in_process = kind == TargetKind::EmbeddedInProcess;
        let address = match in_process {
            true => "in-process".to_owned(),
            false => format!("127.0.0.1:{port}"),
        };
        let mut target = Self {
            address,
            ready: Duration::ZERO,
            child,
            engine,
            database,
            postgres,
            relaunch,
            dir,
        };
        if !in_process && let Err(e) = wait_serving(&target.address).await {
            target.check_running()?;
            return Err(e);
        }
        target.ready = started.elapsed();
        Ok(target)
    }

    /// Starts the library's `App` with `config` against this target: through the
    /// in-process transport for `embedded-inproc`, over TCP to `address` otherwise.
    pub(crate) async fn app(&self, mut config: workflow::Config) -> anyhow::Result<workflow::App> {
        match &self.engine {
            Some(engine) if engine.listener().is_none() => {
                Ok(workflow::App::start_on(config, engine).await?)
            }
            _ => {
                config.temporal.address = self.address.clone();
                Ok(workflow::App::start(config).await?)
            }
        }
    }

    /// The process that serves: the child, or this process for the embedded engine.
    pub(crate) fn pid(&self) -> u32 {
        match &self.child {
            Some(child) => child.pid(),
            None => std::process::id(),
        }
    }

    /// A folder that lives as long as the target, for logs and files of other processes.
    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// An error (with the server's last output) if the server process has exited.
    pub(crate) fn check_running(&mut self) -> anyhow::Result<()> {
        match &mut self.child {
            Some(child) => child.check_running(),
            None => Ok(()),
        }
    }

    /// Bytes of the database file and its WAL and shared-memory files, or of the
    /// PostgreSQL database (`pg_database_size`).
    pub(crate) fn database_bytes(&self) -> u64 {
        if let Some(server) = &self.postgres {
            return server
                .psql("engine", "SELECT pg_database_size('engine')")
                .trim()
                .parse()
                .unwrap_or(0);
        }
        self.database.as_deref().map(database_bytes).unwrap_or(0)
    }

    /// Kills the server process (as a crash would) and starts it again on the same data;
    /// returns once it serves. Only for servers in a process of their own.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        let relaunch = self
            .relaunch
            .as_ref()
            .context("only a server in its own process can be restarted")?;
        drop(self.child.take());
        let command = relaunch.command();
        self.child = Some(Child::spawn(relaunch.name, command, self.dir.path())?);
        if let Err(e) = wait_serving(&self.address).await {
            self.check_running()?;
            return Err(e);
        }
        Ok(())
    }

    pub(crate) async fn stop(mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = engine.shutdown().await;
        }
        drop(self.child.take());
        drop(self.postgres.take());
    }
}

/// Bytes of a SQLite database file and its WAL and shared-memory files.
pub(crate) fn database_bytes(db: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|m| m.len())
        .sum()
}

/// Waits until a namespace describe succeeds (the frontend accepts TCP earlier).
async fn wait_serving(address: &str) -> anyhow::Result<()> {
    // Poll finely: the library's own connect retry backs off from 200 ms, which would make
    // every ready time a multiple of it.
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let mut config = workflow::Config::default();
        config.temporal.address = address.to_owned();
        config.role = workflow::Role::Api;
        config.health.listen = "127.0.0.1:0".parse()?;
        config.temporal.connect_timeout = Duration::from_millis(100);
        if tokio::net::TcpStream::connect(address).await.is_ok() {
            match workflow::App::start(config).await {
                Ok(app) => {
                    drop(app);
                    return Ok(());
                }
                Err(e) if Instant::now() > give_up => return Err(e.into()),
                Err(_) => {}
            }
        } else if Instant::now() > give_up {
            anyhow::bail!("{address} did not start serving within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The `baseline` target's engine binary: `$WORKFLOW_BENCH_BASELINE`.
fn baseline_binary() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("WORKFLOW_BENCH_BASELINE").map(PathBuf::from);
    match path {
        Some(path) if path.is_file() => Ok(path),
        Some(path) => anyhow::bail!(
            "WORKFLOW_BENCH_BASELINE={} is not a file: point it at a workflow-engine binary",
            path.display()
        ),
        None => anyhow::bail!(
            "the baseline target needs WORKFLOW_BENCH_BASELINE: the path of an earlier workflow-engine build (e.g. `git worktree add /tmp/base <commit> && cargo build --release -p workflow-engine` there)"
        ),
    }
}

/// The `temporal` CLI: `$TEMPORAL_CLI`, else `.venv/bin/temporal` in the workspace.
fn temporal_cli() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("TEMPORAL_CLI") {
        return Ok(PathBuf::from(path));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/temporal");
    anyhow::ensure!(
        path.is_file(),
        "the temporal CLI is not at {}: run scripts/setup (scripts/bench does), or set TEMPORAL_CLI",
        path.display()
    );
    path.canonicalize()
        .context("resolve the temporal CLI's path")
}
