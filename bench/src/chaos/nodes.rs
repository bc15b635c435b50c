//! The processes of a chaos scenario: the standalone engine and the orders binaries, each on
//! loopback ports of its own, restartable on the same ports and files after a SIGKILL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::child::{Child, free_port, sibling_binary};

/// How long a process may take to report ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The orders settings every scenario shares: transient payment failures keep orders in
/// flight (server-side retries) when a process dies; no order waits for an approval.
const ORDERS_ENV: &[(&str, &str)] = &[
    ("ORDERS_PAYMENT_FAILURE_RATE", "0.3"),
    ("ORDERS_APPROVAL_THRESHOLD_CENTS", "100000000"),
    ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "2s"),
    ("WORKFLOW_CONSOLE_LISTEN", "off"),
    ("RUST_LOG", "warn"),
];

/// The standalone `workflow-engine` on a fixed port over one SQLite file.
pub(crate) struct Engine {
    pub(crate) port: u16,
    db: PathBuf,
    logs: PathBuf,
    starts: usize,
    child: Option<Child>,
}

impl Engine {
    /// Starts the engine over `db` and waits until it accepts connections.
    pub(crate) async fn start(db: &Path, logs: &Path) -> anyhow::Result<Self> {
        let mut engine = Self {
            port: free_port()?,
            db: db.to_owned(),
            logs: logs.to_owned(),
            starts: 0,
            child: None,
        };
        engine.restart().await?;
        Ok(engine)
    }

    /// `127.0.0.1:port`.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it again on the same port and file.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.starts += 1;
        let mut command = Command::new(sibling_binary("workflow-engine")?);
        command
            .args(["--ip", "127.0.0.1", "--port", &self.port.to_string()])
            .arg("--db-filename")
            .arg(&self.db)
            .args(["--log-level", "warn"]);
        let name = format!("engine-{}", self.starts);
        let mut child = Child::spawn(&name, command, &self.logs)?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            child.check_running()?;
            anyhow::ensure!(
                started.elapsed() < READY_TIMEOUT,
                "the engine did not listen within {READY_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.child = Some(child);
        Ok(())
    }
}

/// One orders binary (`orders-demo`, `orders-app`, `orders-api` or `orders-worker`), with its
/// API (if it serves one) and health ports kept across restarts.
pub(crate) struct Node {
    binary: &'static str,
    label: String,
    env: Vec<(String, String)>,
    pub(crate) api: Option<String>,
    health: String,
    logs: PathBuf,
    starts: usize,
    child: Option<Child>,
}

impl Node {
    /// Starts `binary` as `label` with `env` on top of the shared settings; waits for ready.
    pub(crate) async fn start(
        binary: &'static str,
        label: &str,
        env: &[(&str, String)],
        logs: &Path,
        http: &reqwest::Client,
    ) -> anyhow::Result<Self> {
        let serves_api = binary != "orders-worker";
        let mut node = Self {
            binary,
            label: label.to_owned(),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            api: serves_api
                .then(|| free_port().map(|p| format!("127.0.0.1:{p}")))
                .transpose()?,
            health: format!("127.0.0.1:{}", free_port()?),
            logs: logs.to_owned(),
            starts: 0,
            child: None,
        };
        node.restart(http).await?;
        Ok(node)
    }

    /// The API's base URL.
    pub(crate) fn url(&self) -> anyhow::Result<String> {
        let api = self.api.as_ref().context("this node serves no API")?;
        Ok(format!("http://{api}"))
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        self.child = None;
    }

    /// Starts it again with the same ports and files; waits for ready.
    pub(crate) async fn restart(&mut self, http: &reqwest::Client) -> anyhow::Result<()> {
        self.starts += 1;
        let mut command = Command::new(sibling_binary(self.binary)?);
        command.env_remove("WORKFLOW_CONFIG");
        for (key, value) in ORDERS_ENV {
            command.env(key, value);
        }
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command.env("WORKFLOW_HEALTH_LISTEN", &self.health);
        if let Some(api) = &self.api {
            command.env("ORDERS_LISTEN", api);
        }
        let name = format!("{}-{}", self.label, self.starts);
        let mut child = Child::spawn(&name, command, &self.logs)?;
        let ready = format!("http://{}/readyz", self.health);
        child.wait_ready(http, &ready, READY_TIMEOUT).await?;
        self.child = Some(child);
        Ok(())
    }
}
