//! The report: one row per target and workload (medians over rounds), the ratios of the
//! engine to the dev server, as Markdown, plus the raw measurements as JSON.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

/// One measurement of one workload on one target.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measurement {
    pub(crate) target: String,
    pub(crate) workload: String,
    pub(crate) count: usize,
    pub(crate) concurrency: usize,
    pub(crate) throughput: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) server_cpu_s_per_1000: f64,
    pub(crate) worker_cpu_s_per_1000: f64,
    pub(crate) ready_ms: f64,
    pub(crate) idle_rss_mib: f64,
    pub(crate) peak_rss_mib: f64,
    pub(crate) after_rss_mib: f64,
    pub(crate) db_kib_per_1000: f64,
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
    let mut groups: BTreeMap<(String, usize), Vec<&Measurement>> = BTreeMap::new();
    let mut order = Vec::new();
    for m in measurements {
        let key = (format!("{}|{}", m.workload, m.target), 0);
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

/// Prints the table and writes `latest.md` and `latest.json` under `out`.
pub(crate) fn write(measurements: &[Measurement], out: &Path, command: &str) -> anyhow::Result<()> {
    let rows = summarise(measurements);
    let mut md = String::new();
    md.push_str(&format!(
        "Command: `cargo run --release -p workflow-bench -- {command}`\n\n"
    ));
    md.push_str("| workload | target | wf/s | p50 ms | p90 ms | p99 ms | server CPU s/1000 wf | worker CPU s/1000 wf | ready ms | idle RSS MiB | peak RSS MiB | RSS after MiB | DB KiB/1000 wf |\n");
    md.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0} | {:.1} | {:.1} | {:.1} | {:.0} |\n",
            r.workload, r.target, r.throughput, r.p50_ms, r.p90_ms, r.p99_ms,
            r.server_cpu_s_per_1000, r.worker_cpu_s_per_1000, r.ready_ms,
            r.idle_rss_mib, r.peak_rss_mib, r.after_rss_mib, r.db_kib_per_1000
        ));
    }
    md.push_str("\nRatios against the dev server with WAL (`dev-wal`), same workload:\n\n");
    md.push_str("| workload | target | throughput x | p50 ratio | p99 ratio | server CPU ratio |\n|---|---|---:|---:|---:|---:|\n");
    for r in rows
        .iter()
        .filter(|r| r.target == "embedded" || r.target == "standalone")
    {
        if let Some(base) = rows
            .iter()
            .find(|b| b.workload == r.workload && b.target == "dev-wal")
        {
            md.push_str(&format!(
                "| {} | {} | {:.1} | {:.2} | {:.2} | {:.3} |\n",
                r.workload,
                r.target,
                r.throughput / base.throughput.max(f64::MIN_POSITIVE),
                r.p50_ms / base.p50_ms.max(f64::MIN_POSITIVE),
                r.p99_ms / base.p99_ms.max(f64::MIN_POSITIVE),
                r.server_cpu_s_per_1000 / base.server_cpu_s_per_1000.max(f64::MIN_POSITIVE),
            ));
        }
    }
    md.push_str("\nNotes: `embedded` runs engine, client and worker in one process, so its server CPU and RSS include the worker; the other targets are measured on the server process alone. Latency is start-to-result as the client sees it.\n");
    println!("{md}");
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("latest.md"), &md)?;
    std::fs::write(
        out.join("latest.json"),
        serde_json::to_string_pretty(measurements)?,
    )?;
    Ok(())
}
