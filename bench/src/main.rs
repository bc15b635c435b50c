//! The benchmark harness: the same workloads, through the same Rust worker (the library's
//! worker hosting over the official SDK), against the embedded engine in this process, the
//! standalone `workflow-engine`, and the real Temporal dev server (SQLite with default
//! pragmas, with WAL + synchronous=normal, and in memory). Each measurement starts its server
//! fresh; rounds rotate the order of the targets so a noisy machine hurts all alike. Prints a
//! Markdown report and writes it with the raw JSON under `bench/results/`.
//!
//! Layout: `args` (the command line), `workloads/` (one workflow type per workload and the
//! client side of one run), `driver` (bounded-concurrency load and timing), `targets` (the
//! servers), `child` and `proc_stats` (processes and what they cost), `measure` (a cell of
//! the workload table with the worker in this process), `fresh` (`embedded` measurements in
//! a fresh copy of this process), `orders` (workload 5 over HTTP), `worker` (the hidden
//! `worker` subcommand and its processes), `scale` (N worker processes against one server),
//! `soak` (many workflows in one run), `table` and `report` (output), `chaos` (the chaos
//! report: the orders flow under repeated faults).

mod args;
mod chaos;
mod child;
mod driver;
mod fresh;
mod growth;
mod measure;
mod orders;
mod proc_stats;
mod report;
mod scale;
mod soak;
mod table;
mod targets;
mod visibility;
mod worker;
mod workloads;

use clap::Parser;

use args::{Cli, Command, RunArgs};
use report::Report;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Worker(args)) => worker::run(args).await,
        Some(Command::Fresh(args)) => fresh::run(args).await,
        Some(Command::Chaos(args)) => chaos::run(args).await,
        None => run(cli.run).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let workloads = args::workloads(&args.workloads)?;
    let kinds = args::targets(&args.targets)?;
    let scale_workers = args::worker_counts(&args.scale)?;
    let scale_kinds = args::targets(&args.scale_targets)?;
    let scale_workload = args::workload(&args.scale_workload)?;
    scale::check(&scale_kinds, scale_workload)?;
    let soak_kinds = args::targets(&args.soak_targets)?;
    let soak_workload = args::workload(&args.soak_workload)?;
    soak::check(soak_workload)?;
    let visibility_kinds = args::targets(&args.visibility_targets)?;
    let growth_closed = args::sizes("--growth", &args.growth)?;
    let growth_open = args::sizes("--growth-open", &args.growth_open)?;
    let growth_kinds = args::targets(&args.growth_targets)?;
    anyhow::ensure!(
        !growth_kinds.iter().any(|k| k.in_this_process()),
        "--growth-targets: the growth table restarts its servers: give servers in a process of their own"
    );
    let base = args.plan(workloads::Workload::Echo);

    let mut report = Report::new(args.command_line());
    for round in 0..args.rounds {
        for &workload in &workloads {
            let mut order = kinds.clone();
            order.rotate_left(round % kinds.len().max(1));
            for &kind in &order {
                let what = format!(
                    "round {} / {}: {} on {}",
                    round + 1,
                    args.rounds,
                    workload.name(),
                    kind.name()
                );
                eprintln!("{what}");
                let plan = args.plan(workload);
                let measured = match (workload.hosted(), kind) {
                    (false, _) => orders::measure(kind, plan).await,
                    (true, kind) if kind.in_this_process() => {
                        fresh::table_cell(kind, workload, plan).await
                    }
                    (true, _) => measure::measure(kind, workload, plan).await,
                };
                match measured {
                    Ok(m) => {
                        eprintln!(
                            "  {:.1} wf/s, p50 {:.1} ms, p99 {:.1} ms",
                            m.throughput, m.p50_ms, m.p99_ms
                        );
                        report.measurements.push(m);
                    }
                    Err(e) => {
                        eprintln!("  FAILED: {e:#}");
                        report.failures.push(format!("{what}: {e:#}"));
                    }
                }
            }
        }
    }
    if !scale_workers.is_empty() {
        report.scale = scale::run(
            &scale_kinds,
            &scale_workers,
            scale_workload,
            base,
            &mut report.failures,
        )
        .await;
    }
    if args.soak > 0 {
        report.soak = soak::run(
            &soak_kinds,
            soak_workload,
            args.soak,
            args.soak_slice,
            args.soak_retention,
            base,
            &mut report.failures,
        )
        .await;
    }
    if args.visibility > 0 {
        report.visibility = visibility::run(
            &visibility_kinds,
            args.visibility,
            args.visibility_large.max(args.visibility),
            base,
            &mut report.failures,
        )
        .await;
    }
    if !growth_closed.is_empty() || !growth_open.is_empty() {
        report.growth = growth::run(
            &growth_kinds,
            &growth_closed,
            &growth_open,
            base.concurrency,
            &mut report.failures,
        )
        .await;
    }
    report.write(&args.out)?;
    anyhow::ensure!(
        report.failures.is_empty(),
        "{} measurement(s) failed (listed in the report)",
        report.failures.len()
    );
    Ok(())
}
