//! The benchmark harness: the same workloads, through the same Rust worker (the library's
//! worker hosting over the official SDK), against the embedded engine in this process, the
//! standalone `workflow-engine`, and the real Temporal dev server (SQLite with default
//! pragmas, with WAL + synchronous=normal, and in memory). Each measurement starts its server
//! fresh; rounds rotate the order of the targets so a noisy machine hurts all alike. Prints a
//! Markdown table and writes it with the raw JSON under `bench/results/`.

mod report;
mod targets;
mod workloads;

use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use workflow::{App, Config, Role, Services, StartOptions, WorkflowClient};

use report::Measurement;
use targets::{Target, TargetKind};
use workloads::Workload;

/// Benchmark the embedded engine against the Temporal dev server.
#[derive(Parser)]
struct Args {
    /// Workloads by number: 1 (echo), 2 (one activity), 4 (ten activities).
    #[arg(long, default_value = "1,2,4", value_delimiter = ',')]
    workloads: Vec<String>,
    /// Targets: embedded, standalone, dev, dev-wal, dev-mem.
    #[arg(
        long,
        default_value = "embedded,standalone,dev,dev-wal,dev-mem",
        value_delimiter = ','
    )]
    targets: Vec<String>,
    /// Workflows measured per workload and target (after the warm-up).
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Workflows in flight at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
    /// Workflows run before measuring.
    #[arg(long, default_value_t = 100)]
    warmup: usize,
    /// Rounds; figures are medians over rounds.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Where to write latest.md and latest.json.
    #[arg(long, default_value = "bench/results")]
    out: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let workloads = args
        .workloads
        .iter()
        .map(|w| {
            Workload::parse(w)
                .ok_or_else(|| anyhow::anyhow!("unknown workload {w:?}: use 1, 2 or 4"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let kinds = args
        .targets
        .iter()
        .map(|t| {
            TargetKind::parse(t).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown target {t:?}: use embedded, standalone, dev, dev-wal, dev-mem"
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let mut measurements = Vec::new();
    for round in 0..args.rounds {
        for &workload in &workloads {
            let mut order = kinds.clone();
            order.rotate_left(round % kinds.len().max(1));
            for &kind in &order {
                eprintln!(
                    "round {} / {}: {} on {}",
                    round + 1,
                    args.rounds,
                    workload.name(),
                    kind.name()
                );
                let m = measure(kind, workload, &args).await?;
                eprintln!(
                    "  {:.1} wf/s, p50 {:.1} ms, p99 {:.1} ms",
                    m.throughput, m.p50_ms, m.p99_ms
                );
                measurements.push(m);
            }
        }
    }
    report::write(&measurements, &args.out, &args_line(&args))?;
    Ok(())
}

fn args_line(args: &Args) -> String {
    format!(
        "--workloads {} --targets {} --count {} --concurrency {} --warmup {} --rounds {}",
        args.workloads.join(","),
        args.targets.join(","),
        args.count,
        args.concurrency,
        args.warmup,
        args.rounds
    )
}

async fn measure(kind: TargetKind, workload: Workload, args: &Args) -> anyhow::Result<Measurement> {
    let target = Target::start(kind).await?;
    let pid = target.pid().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle_rss, _) = targets::rss_mib(pid);

    let config = Config {
        role: Role::Worker,
        ..Config::default()
    };
    let mut config = config;
    config.temporal.address = target.address.clone();
    config.temporal.task_queue = format!("bench-{}", uuid::Uuid::new_v4());
    config.health.listen = "127.0.0.1:0".parse()?;
    config.worker.max_concurrent_workflow_tasks = 100;
    config.worker.max_concurrent_activities = 200;
    config.worker.shutdown_grace_period = Duration::from_secs(5);
    let app = App::start(config).await?;
    let client = app.client();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();

    let drive = async {
        let result = async {
            run_batch(&client, workload, args.warmup, args.concurrency).await?;
            let cpu_server_before = targets::cpu_seconds(pid);
            let cpu_self_before = targets::cpu_seconds(std::process::id());
            let db_before = target.database_bytes();
            let started = Instant::now();
            let mut latencies = run_batch(&client, workload, args.count, args.concurrency).await?;
            let wall = started.elapsed();
            let cpu_server = targets::cpu_seconds(pid) - cpu_server_before;
            let cpu_self = targets::cpu_seconds(std::process::id()) - cpu_self_before;
            let db_growth = target.database_bytes().saturating_sub(db_before);
            latencies.sort_by(f64::total_cmp);
            Ok::<_, anyhow::Error>((latencies, wall, cpu_server, cpu_self, db_growth))
        }
        .await;
        let _ = done_tx.send(());
        result
    };
    let host = app.run_until(Services::new().worker(workloads::register), async {
        let _ = done_rx.await;
    });
    let (measured, hosted) = tokio::join!(drive, host);
    hosted?;
    let (latencies, wall, cpu_server, cpu_self, db_growth) = measured?;
    let (after_rss, peak_rss) = targets::rss_mib(pid);
    let per_thousand = 1000.0 / args.count as f64;
    let m = Measurement {
        target: kind.name().to_owned(),
        workload: workload.name().to_owned(),
        count: args.count,
        concurrency: args.concurrency,
        throughput: args.count as f64 / wall.as_secs_f64(),
        p50_ms: percentile(&latencies, 0.50),
        p90_ms: percentile(&latencies, 0.90),
        p99_ms: percentile(&latencies, 0.99),
        server_cpu_s_per_1000: if kind == TargetKind::Embedded {
            // In-process: the engine's CPU is not separable from the worker's; report all.
            cpu_self * per_thousand
        } else {
            cpu_server * per_thousand
        },
        worker_cpu_s_per_1000: cpu_self * per_thousand,
        ready_ms: target.ready.as_secs_f64() * 1000.0,
        idle_rss_mib: idle_rss,
        peak_rss_mib: peak_rss,
        after_rss_mib: after_rss,
        db_kib_per_1000: db_growth as f64 / 1024.0 * per_thousand,
    };
    target.stop().await;
    Ok(m)
}

/// Starts `count` workflows, `concurrency` at a time; returns each start-to-result latency (ms).
async fn run_batch(
    client: &WorkflowClient,
    workload: Workload,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<f64>> {
    let results = futures::stream::iter(0..count)
        .map(|i| async move {
            let id = format!("bench-{}", uuid::Uuid::new_v4());
            let started = Instant::now();
            let wait = Duration::from_secs(120);
            let input = i as u64;
            match workload {
                Workload::Echo => {
                    let h = client
                        .start(
                            workloads::EchoWorkflow::run,
                            id,
                            input,
                            StartOptions::default(),
                        )
                        .await?;
                    h.result(wait).await?;
                }
                Workload::OneActivity => {
                    let h = client
                        .start(
                            workloads::OneActivity::run,
                            id,
                            input,
                            StartOptions::default(),
                        )
                        .await?;
                    h.result(wait).await?;
                }
                Workload::TenActivities => {
                    let h = client
                        .start(
                            workloads::TenActivities::run,
                            id,
                            input,
                            StartOptions::default(),
                        )
                        .await?;
                    h.result(wait).await?;
                }
            }
            Ok::<f64, workflow::ClientError>(started.elapsed().as_secs_f64() * 1000.0)
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    results
        .into_iter()
        .map(|r| r.map_err(anyhow::Error::from))
        .collect()
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
