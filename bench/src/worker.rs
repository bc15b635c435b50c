//! Worker processes for the decoupled mode: the hidden `workflow-bench worker` subcommand
//! hosts the bench worker on one task queue until SIGTERM, and [`Fleet`] starts N of them
//! and waits until each one polls.

use std::process::Command;
use std::time::Duration;

use workflow::{App, Role, Services};

use crate::args::WorkerArgs;
use crate::child::{Child, free_port, http_client};
use crate::measure::worker_config;
use crate::workloads;

const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// `workflow-bench worker`: hosts the bench worker until SIGTERM or SIGINT.
pub(crate) async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    workflow::init_tracing();
    let mut config = worker_config(&args.address, Role::Worker)?;
    config.temporal.task_queue = args.task_queue;
    config.health.listen = args.health_listen;
    let app = App::start(config).await?;
    app.run(Services::new().worker(workloads::register)).await?;
    Ok(())
}

/// N worker processes on one task queue. Killed when dropped.
pub(crate) struct Fleet {
    workers: Vec<Child>,
}

impl Fleet {
    /// Starts `n` worker processes against `address` on `task_queue` (their logs in
    /// `log_dir`) and waits until each one reports ready (connected and polling).
    pub(crate) async fn start(
        n: usize,
        address: &str,
        task_queue: &str,
        log_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let http = http_client()?;
        let exe = std::env::current_exe()?;
        let mut workers = Vec::with_capacity(n);
        let mut ready_urls = Vec::with_capacity(n);
        for i in 0..n {
            let health = format!("127.0.0.1:{}", free_port()?);
            let mut command = Command::new(&exe);
            command
                .args(["worker", "--address", address, "--task-queue", task_queue])
                .args(["--health-listen", &health])
                .env("RUST_LOG", "warn");
            workers.push(Child::spawn(&format!("worker-{i}"), command, log_dir)?);
            ready_urls.push(format!("http://{health}/readyz"));
        }
        for (worker, url) in workers.iter_mut().zip(&ready_urls) {
            worker.wait_ready(&http, url, READY_TIMEOUT).await?;
        }
        Ok(Self { workers })
    }

    pub(crate) fn pids(&self) -> Vec<u32> {
        self.workers.iter().map(Child::pid).collect()
    }

    /// An error with the last output of the first worker that has exited.
    pub(crate) fn check_running(&mut self) -> anyhow::Result<()> {
        self.workers.iter_mut().try_for_each(Child::check_running)
    }
}
