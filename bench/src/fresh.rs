//! Fresh processes for the `embedded` target: the engine shares the harness's process, so
//! after a few measurements that process's memory says more about what ran before than
//! about the engine. Each `embedded` cell of the workload table and the `embedded` soak
//! therefore run in a new copy of the harness (the hidden `fresh` subcommand), which prints
//! its measurement as JSON for this process to read.

use std::process::Stdio;

use serde::de::DeserializeOwned;

use crate::args::{FreshArgs, Plan, Section};
use crate::soak::SoakRun;
use crate::table::Measurement;
use crate::targets::TargetKind;
use crate::workloads::Workload;
use crate::{args, measure, soak};

/// `workflow-bench fresh`: one `embedded` measurement, printed as JSON on stdout.
pub(crate) async fn run(args: FreshArgs) -> anyhow::Result<()> {
    let workload = args::workload(&args.workload)?;
    let kind = TargetKind::parse(&args.target)
        .filter(|k| k.in_this_process())
        .ok_or_else(|| {
            anyhow::anyhow!("fresh --target {:?}: not an in-process target", args.target)
        })?;
    let plan = Plan {
        count: args.count,
        concurrency: args.concurrency,
        warmup: args.warmup,
    };
    let json = match args.section {
        Section::Table => {
            let m = measure::measure(kind, workload, plan).await?;
            serde_json::to_string(&m)?
        }
        Section::Soak => {
            let run = soak::soak(kind, workload, plan.count, args.slice, None, plan).await?;
            serde_json::to_string(&run)?
        }
    };
    println!("{json}");
    Ok(())
}

/// A cell of the workload table on an in-process target, measured in a fresh process.
pub(crate) async fn table_cell(
    kind: TargetKind,
    workload: Workload,
    plan: Plan,
) -> anyhow::Result<Measurement> {
    in_fresh_process(kind, "table", workload, plan, 0).await
}

/// The soak on an in-process target, in a fresh process.
pub(crate) async fn soak(
    kind: TargetKind,
    workload: Workload,
    slice: usize,
    plan: Plan,
) -> anyhow::Result<SoakRun> {
    in_fresh_process(kind, "soak", workload, plan, slice).await
}

async fn in_fresh_process<T: DeserializeOwned>(
    kind: TargetKind,
    section: &str,
    workload: Workload,
    plan: Plan,
    slice: usize,
) -> anyhow::Result<T> {
    let output = tokio::process::Command::new(std::env::current_exe()?)
        .args(["fresh", "--section", section, "--target", kind.name()])
        .args(["--workload", &workload.number().to_string()])
        .args(["--count", &plan.count.to_string()])
        .args(["--concurrency", &plan.concurrency.to_string()])
        .args(["--warmup", &plan.warmup.to_string()])
        .args(["--slice", &slice.max(1).to_string()])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(
        output.status.success(),
        "the fresh harness process failed ({}): {}",
        output.status,
        stderr.trim()
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(json).map_err(|e| {
        anyhow::anyhow!("the fresh harness process printed no measurement ({e}): {stdout}")
    })
}
