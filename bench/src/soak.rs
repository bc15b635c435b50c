//! The soak: many workflows of one workload completed in one run against one fresh server,
//! cut into slices. Does throughput hold from the first slice to the last, and does the
//! server's RSS stay flat? Also the RSS when idle before the run and after it. With a
//! retention (`--soak-retention`), the namespace deletes closed workflows during the run:
//! does the database size level off, and what do starts cost while batches expire?

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::args::Plan;
use crate::driver::{self, percentile, sorted};
use crate::measure::with_worker;
use crate::proc_stats::{cpu_seconds, rss_mib};
use crate::table::ratio;
use crate::targets::{Target, TargetKind};
use crate::workloads::Workload;

/// How long the server sits idle after the run before its RSS is read again.
const IDLE_AFTER: Duration = Duration::from_secs(5);

/// One soak on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SoakRun {
    pub(crate) target: String,
    pub(crate) workload: String,
    pub(crate) count: usize,
    pub(crate) concurrency: usize,
    pub(crate) throughput: f64,
    pub(crate) server_cpu_s_per_1000: f64,
    /// Connected worker, before the warm-up.
    pub(crate) idle_rss_before_mib: f64,
    /// After the last workflow and [`IDLE_AFTER`] without work.
    pub(crate) idle_rss_after_mib: f64,
    pub(crate) peak_rss_mib: f64,
    pub(crate) db_mib_after: f64,
    /// The namespace's retention during the run, when one was set.
    #[serde(default)]
    pub(crate) retention_s: Option<f64>,
    pub(crate) slices: Vec<Slice>,
}

/// One slice of a soak: the workflows that completed since the previous slice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Slice {
    /// Workflows completed at the end of the slice.
    pub(crate) completed: usize,
    pub(crate) throughput: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) server_cpu_s_per_1000: f64,
    /// The server's RSS when the slice ended.
    pub(crate) rss_mib: f64,
    /// The database's size when the slice ended.
    #[serde(default)]
    pub(crate) db_mib: f64,
    /// The p99 of how long a start took to be answered, in ms.
    #[serde(default)]
    pub(crate) start_p99_ms: f64,
}

/// Checks that the soak can run: a bench-worker workload.
pub(crate) fn check(workload: Workload) -> anyhow::Result<()> {
    anyhow::ensure!(
        workload.hosted(),
        "--soak-workload: the soak runs a bench-worker workload (1, 2, 3, 4 or 6)"
    );
    Ok(())
}

/// Soaks each target with `count` workflows of `workload`, in slices of `slice`; a target
/// that fails is left out and described in `failures`.
pub(crate) async fn run(
    kinds: &[TargetKind],
    workload: Workload,
    count: usize,
    slice: usize,
    retention: Option<Duration>,
    plan: Plan,
    failures: &mut Vec<String>,
) -> Vec<SoakRun> {
    let mut runs = Vec::new();
    for &kind in kinds {
        let what = format!("soak: {count} x {} on {}", workload.name(), kind.name());
        eprintln!("{what}");
        let soaked = match (kind.in_this_process(), retention) {
            (true, Some(_)) => Err(anyhow::anyhow!(
                "--soak-retention needs a server target (standalone, standalone-pg, dev*)"
            )),
            (true, None) => crate::fresh::soak(kind, workload, slice, Plan { count, ..plan }).await,
            (false, _) => soak(kind, workload, count, slice, retention, plan).await,
        };
        match soaked {
            Ok(run) => {
                eprintln!(
                    "  {:.1} wf/s overall; RSS idle {:.1} MiB before, {:.1} MiB after",
                    run.throughput, run.idle_rss_before_mib, run.idle_rss_after_mib
                );
                runs.push(run);
            }
            Err(e) => {
                eprintln!("  FAILED: {e:#}");
                failures.push(format!("{what}: {e:#}"));
            }
        }
    }
    runs
}

/// Soaks a fresh `kind` target with `count` workflows in slices of `slice`, in this process.
pub(crate) async fn soak(
    kind: TargetKind,
    workload: Workload,
    count: usize,
    slice: usize,
    retention: Option<Duration>,
    plan: Plan,
) -> anyhow::Result<SoakRun> {
    let slice = slice.max(1);
    let extra = match retention {
        Some(_) => retention_args(kind),
        None => Vec::new(),
    };
    let mut target = Target::start_with(kind, &extra).await?;
    let pid = target.pid();
    let served = &target;
    let result = with_worker(&target, |client| async move {
        if let Some(retention) = retention {
            set_retention(&served.address, retention).await?;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (idle_rss_before_mib, _) = rss_mib(pid);
        // Each start's latency, drained at the end of each slice.
        let starts = std::sync::Mutex::new(Vec::with_capacity(slice));
        let run = |i| {
            let (client, starts) = (&client, &starts);
            async move {
                let took = workload.run_one_timing_start(client, i).await?;
                starts
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(took.as_secs_f64() * 1000.0);
                Ok(())
            }
        };
        driver::run(plan.warmup, plan.concurrency, &run, |_, _| {}).await?;
        starts.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let mut slices = Vec::new();
        let mut window = Vec::with_capacity(slice);
        let started = Instant::now();
        let cpu_start = cpu_seconds(pid);
        let (mut mark, mut cpu_mark) = (started, cpu_start);
        driver::run(count, plan.concurrency, &run, |done, ms| {
            window.push(ms);
            if done % slice != 0 && done != count {
                return;
            }
            let (now, cpu) = (Instant::now(), cpu_seconds(pid));
            let latencies = sorted(&window);
            let start_latencies = {
                let mut taken = starts.lock().unwrap_or_else(|e| e.into_inner());
                sorted(&std::mem::take(&mut *taken))
            };
            let n = window.len() as f64;
            slices.push(Slice {
                completed: done,
                throughput: n / (now - mark).as_secs_f64().max(f64::MIN_POSITIVE),
                p50_ms: percentile(&latencies, 0.50),
                p99_ms: percentile(&latencies, 0.99),
                server_cpu_s_per_1000: (cpu - cpu_mark) * 1000.0 / n,
                rss_mib: rss_mib(pid).0,
                db_mib: served.database_bytes() as f64 / 1024.0 / 1024.0,
                start_p99_ms: percentile(&start_latencies, 0.99),
            });
            window.clear();
            (mark, cpu_mark) = (now, cpu);
        })
        .await?;
        let wall = started.elapsed();
        let cpu = cpu_seconds(pid) - cpu_start;
        tokio::time::sleep(IDLE_AFTER).await;
        let (idle_rss_after_mib, peak_rss_mib) = rss_mib(pid);
        Ok(SoakRun {
            target: kind.name().to_owned(),
            workload: workload.name().to_owned(),
            count,
            concurrency: plan.concurrency,
            throughput: count as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE),
            server_cpu_s_per_1000: cpu * 1000.0 / count.max(1) as f64,
            idle_rss_before_mib,
            idle_rss_after_mib,
            peak_rss_mib,
            db_mib_after: served.database_bytes() as f64 / 1024.0 / 1024.0,
            retention_s: retention.map(|r| r.as_secs_f64()),
            slices,
        })
    })
    .await;
    if result.is_err() {
        target.check_running()?;
    }
    target.stop().await;
    result
}

/// Server arguments that let a namespace keep closed workflows for seconds: the real
/// server's minimum retention lowered, and (dev server) its deletion jitter shortened.
fn retention_args(kind: TargetKind) -> Vec<String> {
    let mut args = vec![
        "--dynamic-config-value".to_owned(),
        "system.namespaceMinRetentionLocal=\"1s\"".to_owned(),
    ];
    if matches!(
        kind,
        TargetKind::DevServer | TargetKind::DevServerWal | TargetKind::DevServerMemory
    ) {
        args.push("--dynamic-config-value".to_owned());
        args.push("history.retentionTimerJitterDuration=\"1s\"".to_owned());
    }
    args
}

/// Sets the retention of `default` with `UpdateNamespace`, as an operator would.
async fn set_retention(address: &str, retention: Duration) -> anyhow::Result<()> {
    use temporalio_client::{Connection, ConnectionOptions, Url};
    use temporalio_common::protos::temporal::api::{
        namespace::v1::NamespaceConfig, workflowservice::v1::UpdateNamespaceRequest,
    };
    let url = Url::parse(&format!("http://{address}"))?;
    let connection =
        Connection::connect(ConnectionOptions::new(url).identity("bench-soak").build()).await?;
    let seconds = i64::try_from(retention.as_secs())?.max(1);
    connection
        .workflow_service()
        .update_namespace(tonic::Request::new(UpdateNamespaceRequest {
            namespace: "default".into(),
            config: Some(NamespaceConfig {
                workflow_execution_retention_ttl: Some(prost_wkt_types::Duration {
                    seconds,
                    nanos: 0,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }))
        .await?;
    Ok(())
}

/// The section as Markdown; empty without runs.
pub(crate) fn markdown(runs: &[SoakRun]) -> String {
    if runs.is_empty() {
        return String::new();
    }
    let mut md = String::from(
        "| target | workload | workflows | in flight | wf/s overall | first slice wf/s | last slice wf/s | last/first | slowest slice wf/s | server CPU s/1000 wf | idle RSS before MiB | RSS after first slice MiB | RSS after last slice MiB | idle RSS after MiB | peak RSS MiB | DB MiB after |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in runs {
        let first = r.slices.first();
        let last = r.slices.last();
        let field = |s: Option<&Slice>, f: fn(&Slice) -> f64| s.map(f).unwrap_or(0.0);
        let slowest = r
            .slices
            .iter()
            .map(|s| s.throughput)
            .fold(f64::INFINITY, f64::min);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2} | {:.1} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |\n",
            r.target,
            r.workload,
            r.count,
            r.concurrency,
            r.throughput,
            field(first, |s| s.throughput),
            field(last, |s| s.throughput),
            ratio(field(last, |s| s.throughput), field(first, |s| s.throughput)),
            if slowest.is_finite() { slowest } else { 0.0 },
            r.server_cpu_s_per_1000,
            r.idle_rss_before_mib,
            field(first, |s| s.rss_mib),
            field(last, |s| s.rss_mib),
            r.idle_rss_after_mib,
            r.peak_rss_mib,
            r.db_mib_after,
        ));
    }
    md.push_str(
        "\nPer slice (wf/s, p50 and p99 ms of a workflow from start to result, p99 ms of its start, server RSS MiB and database MiB at the end of the slice):\n\n| workflows done |",
    );
    for r in runs {
        md.push_str(&format!(
            " {0} wf/s | {0} p50 ms | {0} p99 ms | {0} start p99 ms | {0} RSS MiB | {0} DB MiB |",
            r.target
        ));
    }
    md.push_str("\n|---:|");
    md.push_str(&"---:|---:|---:|---:|---:|---:|".repeat(runs.len()));
    md.push('\n');
    let slices = runs.iter().map(|r| r.slices.len()).max().unwrap_or(0);
    for i in 0..slices {
        let done = runs
            .iter()
            .find_map(|r| r.slices.get(i))
            .map(|s| s.completed)
            .unwrap_or(0);
        md.push_str(&format!("| {done} |"));
        for r in runs {
            match r.slices.get(i) {
                Some(s) => md.push_str(&format!(
                    " {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                    s.throughput, s.p50_ms, s.p99_ms, s.start_p99_ms, s.rss_mib, s.db_mib
                )),
                None => md.push_str(" | | | | | |"),
            }
        }
        md.push('\n');
    }
    if let Some(retention) = runs.iter().find_map(|r| r.retention_s) {
        md.push_str(&format!(
            "\nThe namespace's retention was {retention} s (`--soak-retention`): closed workflows were deleted during the run.\n"
        ));
    }
    md.push_str(&format!(
        "\nNotes: each target starts fresh (`embedded` in a fresh harness process); the worker runs in the harness, so `embedded` RSS and CPU include the worker and the client. Idle RSS before is read with the worker connected, before the warm-up; idle RSS after, {} s after the last workflow.\n",
        IDLE_AFTER.as_secs()
    ));
    md
}
