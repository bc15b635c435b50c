//! The workload table: one row per workload and target (medians over rounds), and the
//! ratios of the engine to the dev server with WAL.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::args::Plan;
use crate::driver::{percentile, sorted};
use crate::targets::TargetKind;
use crate::workloads::Workload;

/// One measurement of one workload on one target.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) target: String,
    pub(crate) workload: String,
    pub(crate) count: usize,
    pub(crate) concurrency: usize,
    pub(crate) throughput: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    /// The server process; for `embedded` the whole process (engine, worker, client), and
    /// for workload 5 on `embedded` the orders-demo process.
    pub(crate) server_cpu_s_per_1000: f64,
    /// The worker's process: the harness (worker and client), or for workload 5 the orders
    /// app (API and worker).
    pub(crate) worker_cpu_s_per_1000: f64,
    pub(crate) ready_ms: f64,
    pub(crate) idle_rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
    pub(crate) after_rss_mib: f64,
    pub(crate) db_kib_per_1000: f64,
}

impl Measurement {
    /// Throughput and latency of a batch of `plan.count` that took `wall`.
    pub(crate) fn new(
        kind: TargetKind,
        workload: Workload,
        plan: Plan,
        latencies: &[f64],
        wall: Duration,
    ) -> Self {
        let latencies = sorted(latencies);
        Self {
            target: kind.name().to_owned(),
            workload: workload.name().to_owned(),
            count: plan.count,
            concurrency: plan.concurrency,
            throughput: plan.count as f64 / wall.as_secs_f64().max(f64::MIN_POSITIVE),
            p50_ms: percentile(&latencies, 0.50),
            p90_ms: percentile(&latencies, 0.90),
            p99_ms: percentile(&latencies, 0.99),
            server_cpu_s_per_1000: 0.0,
            worker_cpu_s_per_1000: 0.0,
            ready_ms: 0.0,
            idle_rss_mib: 0.0,
            peak_rss_mib: 0.0,
            after_rss_mib: 0.0,
            db_kib_per_1000: 0.0,
        }
    }

    fn per_thousand(&self) -> f64 {
        1000.0 / self.count.max(1) as f64
    }

    /// CPU seconds of the server and the worker during the batch.
    pub(crate) fn cpu(mut self, server_s: f64, worker_s: f64) -> Self {
        self.server_cpu_s_per_1000 = server_s * self.per_thousand();
        self.worker_cpu_s_per_1000 = worker_s * self.per_thousand();
        self
    }

    /// Ready time, and the server's RSS idle before, at peak and after the batch.
    pub(crate) fn memory(mut self, ready_ms: f64, idle: f64, peak: f64, after: f64) -> Self {
        self.ready_ms = ready_ms;
        self.idle_rss_mib = idle;
        self.peak_rss_mib = peak;
        self.after_rss_mib = after;
        self
    }

    /// Database growth during the batch.
    pub(crate) fn database(mut self, growth_bytes: u64) -> Self {
        self.db_kib_per_1000 = growth_bytes as f64 / 1024.0 * self.per_thousand();
        self
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Medians per (workload, target), in first-seen order.
fn summarise(measurements: &[Measurement]) -> Vec<Measurement> {
    let mut groups: BTreeMap<String, Vec<&Measurement>> = BTreeMap::new();
    let mut order = Vec::new();
    for m in measurements {
        let key = format!("{}|{}", m.workload, m.target);
        if !groups.contains_key(&key) {
            order.push(key.clone());
        }
        groups.entry(key).or_default().push(m);
    }
    order
        .into_iter()
        .filter_map(|key| {
            let group = groups.get(&key)?;
            let first = group.first()?;
            let pick = |f: fn(&Measurement) -> f64| median(group.iter().map(|m| f(m)).collect());
            Some(Measurement {
                target: first.target.clone(),
                workload: first.workload.clone(),
                count: first.count,
                concurrency: first.concurrency,
                throughput: pick(|m| m.throughput),
                p50_ms: pick(|m| m.p50_ms),
                p90_ms: pick(|m| m.p90_ms),
                p99_ms: pick(|m| m.p99_ms),
                server_cpu_s_per_1000: pick(|m| m.server_cpu_s_per_1000),
                worker_cpu_s_per_1000: pick(|m| m.worker_cpu_s_per_1000),
                ready_ms: pick(|m| m.ready_ms),
                idle_rss_mib: pick(|m| m.idle_rss_mib),
                peak_rss_mib: pick(|m| m.peak_rss_mib),
                after_rss_mib: pick(|m| m.after_rss_mib),
                db_kib_per_1000: pick(|m| m.db_kib_per_1000),
            })
        })
        .collect()
}

/// The table and its ratios as Markdown; empty without measurements.
pub(crate) fn markdown(measurements: &[Measurement]) -> String {
    if measurements.is_empty() {
        return String::new();
    }
    let rows = summarise(measurements);
    let mut md = String::new();
    md.push_str("| workload | target | count | in flight | wf/s | p50 ms | p90 ms | p99 ms | server CPU s/1000 wf | worker CPU s/1000 wf | ready ms | idle RSS MiB | peak RSS MiB | RSS after MiB | DB KiB/1000 wf |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} |\n",
            r.workload, r.target, r.count, r.concurrency, r.throughput, r.p50_ms, r.p90_ms,
            r.p99_ms, r.server_cpu_s_per_1000, r.worker_cpu_s_per_1000, r.ready_ms,
            r.idle_rss_mib, r.peak_rss_mib, r.after_rss_mib, r.db_kib_per_1000
        ));
    }
    for (base_name, title) in [
        ("dev-wal", "the dev server with WAL (`dev-wal`)"),
        ("dev", "the dev server with its default pragmas (`dev`)"),
        (
            "baseline",
            "the `baseline` engine (`$WORKFLOW_BENCH_BASELINE`)",
        ),
    ] {
        md.push_str(&ratios(&rows, base_name, title));
    }
    md.push_str(&format!(
        "\nNotes: `embedded` (over loopback TCP) and `embedded-inproc` (in-process transport, no listener) run engine, client and worker in one process (a fresh one per cell), so their server CPU and RSS include the worker and the client; the other targets are measured on the server process alone (on `standalone-pg` the engine's: PostgreSQL's own processes are not counted, nor is its on-disk growth, which reads 0). Latency is start-to-result as the client sees it; workload 3 includes its {} ms timer. Workload 5 is the orders flow over HTTP (POST /orders, POST /orders/{{id}}/approve for every second order, which is above the approval threshold, then GET /orders/{{id}}/result): latency is place-to-completed, `wf/s` is orders/s, server CPU and RSS are the server process (for `embedded` the orders-demo process: engine, API and worker), worker CPU the orders-app process (API and worker). Workload 6 runs {} activities per workflow.\n",
        crate::workloads::TIMER.as_millis(),
        crate::workloads::FAN_OUT,
    ));
    md
}

/// The engine targets' ratios to `base_name`'s figures, same workload; empty without it.
fn ratios(rows: &[Measurement], base_name: &str, title: &str) -> String {
    let lines: Vec<String> = rows
        .iter()
        .filter(|r| {
            r.target != base_name
                && matches!(
                    r.target.as_str(),
                    "embedded" | "embedded-inproc" | "standalone" | "standalone-pg" | "baseline"
                )
        })
        .filter_map(|r| {
            let base = rows
                .iter()
                .find(|b| b.workload == r.workload && b.target == base_name)?;
            Some(format!(
                "| {} | {} | {:.1} | {:.2} | {:.2} | {:.3} |\n",
                r.workload,
                r.target,
                ratio(r.throughput, base.throughput),
                ratio(r.p50_ms, base.p50_ms),
                ratio(r.p99_ms, base.p99_ms),
                ratio(r.server_cpu_s_per_1000, base.server_cpu_s_per_1000),
            ))
        })
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let mut md = format!("\nRatios against {title}, same workload:\n\n");
    md.push_str("| workload | target | throughput x | p50 ratio | p99 ratio | server CPU ratio |\n|---|---|---:|---:|---:|---:|\n");
    lines.iter().for_each(|line| md.push_str(line));
    md
}

/// `value / base`, 0 when the base is 0.
pub(crate) fn ratio(value: f64, base: f64) -> f64 {
    if base == 0.0 { 0.0 } else { value / base }
}
