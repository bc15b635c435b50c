//! The servers under test: started fresh for each measurement, stopped after, and measured
//! from the outside through `/proc` (CPU time, RSS) and the file system (database size).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// What to benchmark against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TargetKind {
    /// The embedded engine inside the benchmark process (the demo shape), on a SQLite file.
    Embedded,
    /// The standalone `workflow-engine` binary on loopback, on a SQLite file.
    Standalone,
    /// `temporal server start-dev` with a SQLite file and default pragmas.
    DevServer,
    /// The same with `journal_mode=wal` and `synchronous=normal`.
    DevServerWal,
    /// The same in memory.
    DevServerMemory,
}

impl TargetKind {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        match name.trim() {
            "embedded" => Some(Self::Embedded),
            "standalone" => Some(Self::Standalone),
            "dev" => Some(Self::DevServer),
            "dev-wal" => Some(Self::DevServerWal),
            "dev-mem" => Some(Self::DevServerMemory),
            _ => None,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Embedded => "embedded",
            Self::Standalone => "standalone",
            Self::DevServer => "dev",
            Self::DevServerWal => "dev-wal",
            Self::DevServerMemory => "dev-mem",
        }
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
    _dir: tempfile::TempDir,
}

impl Target {
    pub(crate) async fn start(kind: TargetKind) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let port = workflow_testkit::free_port();
        let started = Instant::now();
        let (child, engine, database) = match kind {
            TargetKind::Embedded => {
                let db = dir.path().join("engine.db");
                let address: SocketAddr = ([127, 0, 0, 1], port).into();
                let options = workflow_engine::EngineOptions::new(address).with_database(&db);
                let handle = workflow_engine::Engine::start(options).await?;
                (None, Some(handle), Some(db))
            }
            TargetKind::Standalone => {
                let db = dir.path().join("engine.db");
                let child = Command::new(sibling_binary("workflow-engine")?)
                    .args([
                        "--ip",
                        "127.0.0.1",
                        "--port",
                        &port.to_string(),
                        "--log-level",
                        "error",
                    ])
                    .arg("--db-filename")
                    .arg(&db)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .context("start workflow-engine")?;
                (Some(child), None, Some(db))
            }
            TargetKind::DevServer | TargetKind::DevServerWal | TargetKind::DevServerMemory => {
                let mut command = Command::new(workflow_testkit::temporal_cli());
                command
                    .args(["server", "start-dev", "--headless", "--ip", "127.0.0.1"])
                    .args(["--port", &port.to_string()])
                    .args(["--http-port", &workflow_testkit::free_port().to_string()])
                    .args(["--metrics-port", &workflow_testkit::free_port().to_string()])
                    .args(["--log-level", "error"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
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
                (
                    Some(command.spawn().context("start temporal dev server")?),
                    None,
                    database,
                )
            }
        };
        let address = format!("127.0.0.1:{port}");
        wait_serving(&address).await?;
        Ok(Self {
            address,
            ready: started.elapsed(),
            child,
            engine,
            database,
            _dir: dir,
        })
    }

    /// The process that serves: the child, or this process for the embedded engine.
    pub(crate) fn pid(&self) -> Option<u32> {
        match &self.child {
            Some(child) => Some(child.id()),
            None => Some(std::process::id()),
        }
    }

    /// Bytes of the database file and its WAL and shared-memory files.
    pub(crate) fn database_bytes(&self) -> u64 {
        let Some(db) = &self.database else { return 0 };
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

    pub(crate) async fn stop(mut self) {
        if let Some(engine) = self.engine.take() {
            let _ = engine.shutdown().await;
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until a namespace describe succeeds (the frontend accepts TCP earlier).
async fn wait_serving(address: &str) -> anyhow::Result<()> {
    let mut config = workflow::Config::default();
    config.temporal.address = address.to_owned();
    config.role = workflow::Role::Api;
    config.health.listen = "127.0.0.1:0".parse()?;
    config.temporal.connect_timeout = Duration::from_secs(60);
    let app = workflow::App::start(config).await?;
    drop(app);
    Ok(())
}

/// A binary built next to this one (same profile).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe
        .parent()
        .map(|d| d.join(name))
        .context("bench binary has no folder")?;
    anyhow::ensure!(
        path.is_file(),
        "{} is not built: run `cargo build --release -p workflow-engine` (scripts/bench does)",
        path.display()
    );
    Ok(path)
}

/// CPU seconds (user + system) a process has used.
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / clock_ticks_per_second()
}

fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// Resident set size and its peak, in MiB.
pub(crate) fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}
