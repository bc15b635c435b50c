//! The command line: the run's flags (which workloads on which targets, how many, the scale
//! and soak sections), and the hidden `worker` subcommand the scale section spawns.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::targets::TargetKind;
use crate::workloads::Workload;

/// Benchmark the embedded engine against the Temporal dev server. With no flags it runs the
/// full set: workloads 1-6 on every default target, the scale section and the soak.
#[derive(Parser)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Option<Command>,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Hosts the bench worker until SIGTERM (the scale section starts these).
    #[command(hide = true)]
    Worker(WorkerArgs),
    /// Runs one `embedded` measurement and prints it as JSON (the harness runs each one in a
    /// fresh process this way).
    #[command(hide = true)]
    Fresh(FreshArgs),
    /// The chaos report: the orders flow under repeated faults (scripts/chaos runs this).
    Chaos(ChaosArgs),
}

/// What the chaos report runs.
#[derive(Debug, clap::Args)]
pub(crate) struct ChaosArgs {
    /// Faults per scenario (SIGKILLs, or disk-full episodes).
    #[arg(long, default_value_t = 3)]
    pub(crate) faults: usize,
    /// Orders placed before each fault and once after the last.
    #[arg(long, default_value_t = 6)]
    pub(crate) orders: usize,
    /// Milliseconds the orders run before each fault hits them.
    #[arg(long = "pause-ms", default_value_t = 1500)]
    pub(crate) pause_ms: u64,
    /// Scenarios to run, comma-separated: demo, engine, worker, disk.
    #[arg(long, value_delimiter = ',', default_value = "demo,engine,worker,disk")]
    pub(crate) scenarios: Vec<String>,
    /// Keep the processes' logs (printed at the end) instead of deleting them.
    #[arg(long = "keep-logs")]
    pub(crate) keep_logs: bool,
}

/// Which section a fresh process measures.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Section {
    Table,
    Soak,
}

#[derive(clap::Args)]
pub(crate) struct FreshArgs {
    #[arg(long, value_enum)]
    pub(crate) section: Section,
    #[arg(long)]
    pub(crate) workload: String,
    /// The in-process target: `embedded` or `embedded-inproc`.
    #[arg(long, default_value = "embedded")]
    pub(crate) target: String,
    #[arg(long)]
    pub(crate) count: usize,
    #[arg(long)]
    pub(crate) concurrency: usize,
    #[arg(long)]
    pub(crate) warmup: usize,
    /// Soak slice size.
    #[arg(long, default_value_t = 1000)]
    pub(crate) slice: usize,
}

#[derive(clap::Args)]
pub(crate) struct WorkerArgs {
    /// The server's gRPC address.
    #[arg(long)]
    pub(crate) address: String,
    /// The task queue to poll.
    #[arg(long)]
    pub(crate) task_queue: String,
    /// Where `/readyz` is served.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) health_listen: SocketAddr,
}

#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Workloads by number, or `none`: 1 echo, 2 one activity, 3 signal + 10 ms timer +
    /// query, 4 ten activities, 5 the orders flow over HTTP, 6 a fan-out of 100 activities.
    #[arg(long, default_value = "1,2,3,4,5,6", value_delimiter = ',')]
    pub(crate) workloads: Vec<String>,
    /// Targets of the workload table: embedded (in this process, over loopback TCP),
    /// embedded-inproc (in this process, in-process transport), standalone, standalone-pg,
    /// baseline ($WORKFLOW_BENCH_BASELINE's engine), dev, dev-wal, dev-mem.
    #[arg(
        long,
        default_value = "embedded,standalone,dev-wal,dev",
        value_delimiter = ','
    )]
    pub(crate) targets: Vec<String>,
    /// Workflows (orders for workload 5) measured per workload and target, after the warm-up.
    #[arg(long, default_value_t = 300)]
    pub(crate) count: usize,
    /// Workflows in flight at once.
    #[arg(long, default_value_t = 50)]
    pub(crate) concurrency: usize,
    /// Workflows run before measuring.
    #[arg(long, default_value_t = 50)]
    pub(crate) warmup: usize,
    /// Workflows measured for workload 6 (each runs 100 activities); its warm-up is a tenth
    /// of --warmup.
    #[arg(long, default_value_t = 30)]
    pub(crate) fanout_count: usize,
    /// Workload 6 workflows in flight at once.
    #[arg(long, default_value_t = 10)]
    pub(crate) fanout_concurrency: usize,
    /// Rounds of the workload table; its figures are medians over rounds.
    #[arg(long, default_value_t = 1)]
    pub(crate) rounds: usize,
    /// Scale section: numbers of worker processes against one server, or `none`.
    #[arg(long, default_value = "1,2,4", value_delimiter = ',')]
    pub(crate) scale: Vec<String>,
    /// Targets of the scale section (not embedded: its workers are other processes).
    #[arg(long, default_value = "standalone,dev-wal", value_delimiter = ',')]
    pub(crate) scale_targets: Vec<String>,
    /// The workload the scale section drives (--count, --concurrency, --warmup apply).
    #[arg(long, default_value = "2")]
    pub(crate) scale_workload: String,
    /// Soak section: workflows completed in one run per target, or 0 to skip.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) soak: usize,
    /// Workflows per soak slice (throughput and server RSS are reported per slice).
    #[arg(long, default_value_t = 1000)]
    pub(crate) soak_slice: usize,
    /// Targets of the soak.
    #[arg(
        long,
        default_value = "embedded,standalone,dev-wal",
        value_delimiter = ','
    )]
    pub(crate) soak_targets: Vec<String>,
    /// The workload the soak runs (--concurrency and --warmup apply).
    #[arg(long, default_value = "1")]
    pub(crate) soak_workload: String,
    /// Give the soak's namespace this retention (e.g. `30s`), lowering the server's
    /// minimum (`system.namespaceMinRetentionLocal`) so that closed workflows are deleted
    /// during the run; server targets only (standalone, standalone-pg, dev*).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) soak_retention: Option<std::time::Duration>,
    /// Visibility section: list and count timed with this many closed workflows stored and
    /// again with --visibility-large, or 0 to skip.
    #[arg(long, default_value_t = 500)]
    pub(crate) visibility: usize,
    /// The larger number of closed workflows of the visibility section.
    #[arg(long, default_value_t = 50_000)]
    pub(crate) visibility_large: usize,
    /// Targets of the visibility section.
    #[arg(
        long,
        default_value = "standalone-pg,standalone",
        value_delimiter = ','
    )]
    pub(crate) visibility_targets: Vec<String>,
    /// Growth table: closed workflows to reach, point by point (e.g. 1000,100000), on one
    /// fresh server per target; `none` skips the table.
    #[arg(long, default_value = "none", value_delimiter = ',')]
    pub(crate) growth: Vec<String>,
    /// Growth table: open workflows waiting on a signal to reach after the closed ones.
    #[arg(long, default_value = "none", value_delimiter = ',')]
    pub(crate) growth_open: Vec<String>,
    /// Targets of the growth table (servers in a process of their own: they are restarted).
    #[arg(long, default_value = "standalone", value_delimiter = ',')]
    pub(crate) growth_targets: Vec<String>,
    /// Where to write latest.md and latest.json.
    #[arg(long, default_value = "bench/results")]
    pub(crate) out: PathBuf,
}

/// How many workflows one measurement runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    pub(crate) count: usize,
    pub(crate) concurrency: usize,
    pub(crate) warmup: usize,
}

impl RunArgs {
    /// The plan of `workload` in the workload table.
    pub(crate) fn plan(&self, workload: Workload) -> Plan {
        match workload {
            Workload::FanOut => Plan {
                count: self.fanout_count,
                concurrency: self.fanout_concurrency,
                warmup: (self.warmup / 10).max(1),
            },
            _ => Plan {
                count: self.count,
                concurrency: self.concurrency,
                warmup: self.warmup,
            },
        }
    }

    /// The command line that reproduces this run.
    pub(crate) fn command_line(&self) -> String {
        format!(
            "scripts/bench --workloads {} --targets {} --count {} --concurrency {} --warmup {} \
             --fanout-count {} --fanout-concurrency {} --rounds {} --scale {} --scale-targets {} \
             --scale-workload {} --soak {} --soak-slice {} --soak-targets {} --soak-workload {} \
             --visibility {} --visibility-large {} --visibility-targets {} \
             --growth {} --growth-open {} --growth-targets {}{}",
            self.workloads.join(","),
            self.targets.join(","),
            self.count,
            self.concurrency,
            self.warmup,
            self.fanout_count,
            self.fanout_concurrency,
            self.rounds,
            self.scale.join(","),
            self.scale_targets.join(","),
            self.scale_workload,
            self.soak,
            self.soak_slice,
            self.soak_targets.join(","),
            self.soak_workload,
            self.visibility,
            self.visibility_large,
            self.visibility_targets.join(","),
            self.growth.join(","),
            self.growth_open.join(","),
            self.growth_targets.join(","),
            self.soak_retention
                .map(|r| format!(" --soak-retention {}", humantime::format_duration(r)))
                .unwrap_or_default(),
        )
    }
}

/// Workloads by number; `none` is the empty list.
pub(crate) fn workloads(list: &[String]) -> anyhow::Result<Vec<Workload>> {
    if is_none(list) {
        return Ok(Vec::new());
    }
    list.iter().map(|w| workload(w)).collect()
}

pub(crate) fn workload(number: &str) -> anyhow::Result<Workload> {
    Workload::parse(number)
        .ok_or_else(|| anyhow::anyhow!("unknown workload {number:?}: use 1 to 6"))
}

/// Targets by name; `none` is the empty list.
pub(crate) fn targets(list: &[String]) -> anyhow::Result<Vec<TargetKind>> {
    if is_none(list) {
        return Ok(Vec::new());
    }
    list.iter()
        .map(|t| {
            TargetKind::parse(t)
                .ok_or_else(|| anyhow::anyhow!("unknown target {t:?}: use {}", TargetKind::NAMES))
        })
        .collect()
}

/// Worker-process counts of the scale section; `none` (or 0) is the empty list.
pub(crate) fn worker_counts(list: &[String]) -> anyhow::Result<Vec<usize>> {
    if is_none(list) {
        return Ok(Vec::new());
    }
    let counts = list
        .iter()
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| anyhow::anyhow!("--scale {n:?}: give worker counts such as 1,2,4"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(counts.into_iter().filter(|&n| n > 0).collect())
}

/// Sizes of the growth table (`--growth`, `--growth-open`); `none` is the empty list.
pub(crate) fn sizes(flag: &str, list: &[String]) -> anyhow::Result<Vec<usize>> {
    if is_none(list) {
        return Ok(Vec::new());
    }
    list.iter()
        .map(|n| {
            n.trim().replace('_', "").parse::<usize>().map_err(|_| {
                anyhow::anyhow!("{flag} {n:?}: give workflow counts such as 1000,100000")
            })
        })
        .collect()
}

fn is_none(list: &[String]) -> bool {
    matches!(list, [one] if matches!(one.trim(), "none" | "" | "0"))
}
