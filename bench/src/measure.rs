//! One cell of the workload table for a workload the bench worker hosts: a fresh target, the
//! worker in this process, a warm-up, then the measured batch with the server's CPU, memory
//! and database growth read around it.

use std::future::Future;
use std::time::Duration;

use workflow::{Config, Role, Services, WorkflowClient};

use crate::args::Plan;
use crate::driver;
use crate::proc_stats::rss_mib;
use crate::table::Measurement;
use crate::targets::{Target, TargetKind};
use crate::workloads::{self, Workload};

/// Measures `workload` (hosted by the bench worker) on a fresh `kind` target.
pub(crate) async fn measure(
    kind: TargetKind,
    workload: Workload,
    plan: Plan,
) -> anyhow::Result<Measurement> {
    let mut target = Target::start(kind).await?;
    let pid = target.pid();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = rss_mib(pid);
    let me = std::process::id();
    let served = &target;

    let measured = with_worker(&target, |client| async move {
        let run = |i| workload.run_one(&client, i);
        driver::measured_batch(plan, run, &[&[pid], &[me]], || served.database_bytes()).await
    })
    .await;
    let batch = match measured {
        Ok(batch) => batch,
        Err(e) => {
            target.check_running()?;
            return Err(e);
        }
    };
    let (cpu_server, cpu_self) = (batch.cpu[0], batch.cpu[1]);
    let (after_rss, peak_rss) = rss_mib(pid);
    // In-process, the engine's CPU is not separable from the worker's: report it all.
    let cpu_server = if kind.in_this_process() {
        cpu_self
    } else {
        cpu_server
    };
    let m = Measurement::new(kind, workload, plan, &batch.latencies, batch.wall)
        .cpu(cpu_server, cpu_self)
        .memory(
            target.ready.as_secs_f64() * 1000.0,
            idle_rss,
            peak_rss,
            after_rss,
        )
        .database(batch.db_growth);
    target.stop().await;
    Ok(m)
}

/// Hosts the bench worker in this process on a fresh task queue of `target` while `body`
/// runs with a client for that queue; stops the worker when `body` ends.
pub(crate) async fn with_worker<T, F, Fut>(target: &Target, body: F) -> anyhow::Result<T>
where
    F: FnOnce(WorkflowClient) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let app = target
        .app(worker_config(&target.address, Role::Worker)?)
        .await?;
    let client = app.client();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let drive = async move {
        let result = body(client).await;
        let _ = done_tx.send(());
        result
    };
    let host = app.run_until(Services::new().worker(workloads::register), async {
        let _ = done_rx.await;
    });
    tokio::pin!(drive, host);
    tokio::select! {
        result = &mut drive => {
            (&mut host).await?;
            result
        }
        hosted = &mut host => {
            hosted?;
            anyhow::bail!("the bench worker stopped before the run ended")
        }
    }
}

/// The library configuration of the bench's worker and client, on a fresh task queue
/// (the scale section's worker processes get the queue from their command line).
pub(crate) fn worker_config(address: &str, role: Role) -> anyhow::Result<Config> {
    let mut config = Config {
        role,
        ..Config::default()
    };
    config.temporal.address = address.to_owned();
    config.temporal.task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    config.temporal.request_timeout = Duration::from_secs(60);
    config.health.listen = "127.0.0.1:0".parse()?;
    config.worker.max_concurrent_workflow_tasks = 100;
    config.worker.max_concurrent_activities = 200;
    config.worker.shutdown_grace_period = Duration::from_secs(5);
    // `WORKFLOW_EAGER_EXECUTION=false` measures without eager execution (before/after).
    config.worker.eager_execution = !matches!(
        std::env::var("WORKFLOW_EAGER_EXECUTION").as_deref(),
        Ok("false" | "0" | "no")
    );
    Ok(config)
}
