//! The scale section: the decoupled mode, with the harness as the client only and N
//! `workflow-bench worker` processes polling one server, for each N and target. Reports
//! throughput and the CPU of the server, the workers and the client per N.

use std::time::Duration;

use serde::Serialize;
use workflow::{App, Role};

use crate::args::Plan;
use crate::driver::{self, percentile, sorted};
use crate::measure::worker_config;
use crate::proc_stats::rss_mib;
use crate::table::ratio;
use crate::targets::{Target, TargetKind};
use crate::worker::Fleet;
use crate::workloads::Workload;

/// One workload run with N worker processes against one server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ScalePoint {
    pub(crate) target: String,
    pub(crate) workload: String,
    pub(crate) workers: usize,
    pub(crate) count: usize,
    pub(crate) concurrency: usize,
    pub(crate) throughput: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) server_cpu_s_per_1000: f64,
    /// All worker processes together.
    pub(crate) workers_cpu_s_per_1000: f64,
    /// The harness, which only starts workflows and waits for their results.
    pub(crate) client_cpu_s_per_1000: f64,
    pub(crate) server_peak_rss_mib: f64,
}

/// Checks that the section can run: a bench-worker workload, servers in their own process.
pub(crate) fn check(kinds: &[TargetKind], workload: Workload) -> anyhow::Result<()> {
    anyhow::ensure!(
        workload.hosted(),
        "--scale-workload: the scale section drives a bench-worker workload (1, 2, 3, 4 or 6)"
    );
    anyhow::ensure!(
        !kinds.iter().any(|k| k.in_this_process()),
        "--scale-targets: the scale section needs a server in its own process, not embedded"
    );
    Ok(())
}

/// Runs `workload` with each number of worker processes in `workers` against each target;
/// a point that fails is left out and described in `failures`.
pub(crate) async fn run(
    kinds: &[TargetKind],
    workers: &[usize],
    workload: Workload,
    plan: Plan,
    failures: &mut Vec<String>,
) -> Vec<ScalePoint> {
    let mut points = Vec::new();
    for &kind in kinds {
        for &n in workers {
            let what = format!(
                "scale: {} on {} with {n} worker process(es)",
                workload.name(),
                kind.name()
            );
            eprintln!("{what}");
            match measure(kind, n, workload, plan).await {
                Ok(point) => {
                    eprintln!(
                        "  {:.1} wf/s, p50 {:.1} ms, server CPU {:.2} s/1000 wf",
                        point.throughput, point.p50_ms, point.server_cpu_s_per_1000
                    );
                    points.push(point);
                }
                Err(e) => {
                    eprintln!("  FAILED: {e:#}");
                    failures.push(format!("{what}: {e:#}"));
                }
            }
        }
    }
    points
}

async fn measure(
    kind: TargetKind,
    workers: usize,
    workload: Workload,
    plan: Plan,
) -> anyhow::Result<ScalePoint> {
    let mut target = Target::start(kind).await?;
    let config = worker_config(&target.address, Role::Api)?;
    let mut fleet = Fleet::start(
        workers,
        &target.address,
        &config.temporal.task_queue,
        target.dir(),
    )
    .await?;
    let app = App::start(config).await?;
    let client = app.client();
    let server = target.pid();
    let worker_pids = fleet.pids();
    let me = std::process::id();
    let run = |i| workload.run_one(&client, i);
    let measured = driver::measured_batch(plan, run, &[&[server], &worker_pids, &[me]], || 0).await;
    let batch = match measured {
        Ok(batch) => batch,
        Err(e) => {
            fleet.check_running()?;
            target.check_running()?;
            return Err(e);
        }
    };
    let (server_cpu, workers_cpu, client_cpu) = (batch.cpu[0], batch.cpu[1], batch.cpu[2]);
    let wall = batch.wall;
    let (_, server_peak_rss_mib) = rss_mib(server);
    drop(fleet);
    drop(app);
    target.stop().await;
    let latencies = sorted(&batch.latencies);
    let per_thousand = 1000.0 / plan.count.max(1) as f64;
    Ok(ScalePoint {
        target: kind.name().to_owned(),
        workload: workload.name().to_owned(),
        workers,
        count: plan.count,
        concurrency: plan.concurrency,
        throughput: plan.count as f64 / wall.max(Duration::from_micros(1)).as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        server_cpu_s_per_1000: server_cpu * per_thousand,
        workers_cpu_s_per_1000: workers_cpu * per_thousand,
        client_cpu_s_per_1000: client_cpu * per_thousand,
        server_peak_rss_mib,
    })
}

/// The section as Markdown; empty without points.
pub(crate) fn markdown(points: &[ScalePoint]) -> String {
    if points.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "| target | workload | worker processes | count | in flight | wf/s | x vs 1 worker | p50 ms | p99 ms | server CPU s/1000 wf | workers CPU s/1000 wf | client CPU s/1000 wf | server peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for p in points {
        let single = points
            .iter()
            .find(|b| b.target == p.target && b.workload == p.workload && b.workers == 1);
        let speedup = single
            .map(|b| format!("{:.2}", ratio(p.throughput, b.throughput)))
            .unwrap_or_else(|| "-".to_owned());
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} |\n",
            p.target,
            p.workload,
            p.workers,
            p.count,
            p.concurrency,
            p.throughput,
            speedup,
            p.p50_ms,
            p.p99_ms,
            p.server_cpu_s_per_1000,
            p.workers_cpu_s_per_1000,
            p.client_cpu_s_per_1000,
            p.server_peak_rss_mib,
        ));
    }
    let ratios: Vec<String> = points
        .iter()
        .filter(|p| p.target == "standalone")
        .filter_map(|p| {
            let base = points.iter().find(|b| {
                b.target == "dev-wal" && b.workload == p.workload && b.workers == p.workers
            })?;
            Some(format!(
                "| {} | {} | {:.1} | {:.2} | {:.3} |\n",
                p.workload,
                p.workers,
                ratio(p.throughput, base.throughput),
                ratio(p.p50_ms, base.p50_ms),
                ratio(p.server_cpu_s_per_1000, base.server_cpu_s_per_1000),
            ))
        })
        .collect();
    if !ratios.is_empty() {
        md.push_str("\nStandalone engine against the dev server with WAL, same number of workers:\n\n| workload | worker processes | throughput x | p50 ratio | server CPU ratio |\n|---|---:|---:|---:|---:|\n");
        ratios.iter().for_each(|line| md.push_str(line));
    }
    md.push_str("\nNotes: the harness is only the client here; the worker processes are `workflow-bench worker`, each with the same tuning as the in-process worker. Server, workers and client share the machine's cores, so on a small machine more workers mostly compete for the same CPU.\n");
    md
}
