//! Visibility at scale: list (one page of 100, newest first) and count, timed on one fresh
//! server with `small` closed workflows stored and again with `large`. The ratio large/small
//! shows whether their cost follows the page asked for or the number of closed workflows.

use serde::{Deserialize, Serialize};
use temporalio_client::{Connection, ConnectionOptions, Url};

use crate::args::Plan;
use crate::driver::{self, count_all, list_page, percentile, sorted, timed};
use crate::measure::with_worker;
use crate::targets::{Target, TargetKind};
use crate::workloads::Workload;

/// Calls timed per measurement; the median is reported.
const CALLS: usize = 15;
/// The page size asked for.
const PAGE: i32 = 100;

/// One target's list and count times at two sizes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct VisibilityRun {
    pub(crate) target: String,
    pub(crate) small: usize,
    pub(crate) large: usize,
    pub(crate) list_small_ms: f64,
    pub(crate) list_large_ms: f64,
    pub(crate) count_small_ms: f64,
    pub(crate) count_large_ms: f64,
    pub(crate) filtered_small_ms: f64,
    pub(crate) filtered_large_ms: f64,
}

impl VisibilityRun {
    pub(crate) fn list_ratio(&self) -> f64 {
        self.list_large_ms / self.list_small_ms.max(1e-9)
    }
    pub(crate) fn count_ratio(&self) -> f64 {
        self.count_large_ms / self.count_small_ms.max(1e-9)
    }
    pub(crate) fn filtered_ratio(&self) -> f64 {
        self.filtered_large_ms / self.filtered_small_ms.max(1e-9)
    }
}

/// Runs the measurement on each target; a target that fails is left out and described in
/// `failures`.
pub(crate) async fn run(
    kinds: &[TargetKind],
    small: usize,
    large: usize,
    plan: Plan,
    failures: &mut Vec<String>,
) -> Vec<VisibilityRun> {
    let mut runs = Vec::new();
    for &kind in kinds {
        let what = format!("visibility: {small} then {large} closed on {}", kind.name());
        eprintln!("{what}");
        match one(kind, small, large, plan).await {
            Ok(run) => {
                eprintln!(
                    "  list {:.1} -> {:.1} ms (x{:.2}), count {:.1} -> {:.1} ms (x{:.2})",
                    run.list_small_ms,
                    run.list_large_ms,
                    run.list_ratio(),
                    run.count_small_ms,
                    run.count_large_ms,
                    run.count_ratio()
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

async fn one(
    kind: TargetKind,
    small: usize,
    large: usize,
    plan: Plan,
) -> anyhow::Result<VisibilityRun> {
    anyhow::ensure!(
        kind != TargetKind::EmbeddedInProcess,
        "--visibility-targets: the visibility section dials the server, so not embedded-inproc"
    );
    let target = Target::start(kind).await?;
    let address = target.address.clone();
    let result = with_worker(&target, |client| async move {
        let url = Url::parse(&format!("http://{address}"))?;
        let connection = Connection::connect(
            ConnectionOptions::new(url)
                .identity("bench-visibility")
                .build(),
        )
        .await?;
        let run = |i| Workload::Echo.run_one(&client, i);
        driver::run(small, plan.concurrency, &run, |_, _| {}).await?;
        let at_small = measure(&connection).await?;
        eprintln!(
            "  {small} closed: list {:.1} ms, count {:.1} ms",
            at_small.0, at_small.1
        );
        driver::run(
            large.saturating_sub(small),
            plan.concurrency,
            &run,
            |done, _| {
                if done % 10_000 == 0 {
                    eprintln!("  {} closed", small + done);
                }
            },
        )
        .await?;
        let at_large = measure(&connection).await?;
        Ok(VisibilityRun {
            target: kind.name().to_owned(),
            small,
            large,
            list_small_ms: at_small.0,
            list_large_ms: at_large.0,
            count_small_ms: at_small.1,
            count_large_ms: at_large.1,
            filtered_small_ms: at_small.2,
            filtered_large_ms: at_large.2,
        })
    })
    .await;
    target.stop().await;
    result
}

/// Median milliseconds of: a list page, a count, and a filtered list page.
async fn measure(connection: &Connection) -> anyhow::Result<(f64, f64, f64)> {
    let mut service = connection.workflow_service();
    let mut times = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..CALLS {
        let page = timed(
            &mut times[0],
            service.list_workflow_executions(list_page(PAGE, "")),
        )
        .await?;
        anyhow::ensure!(page.executions.len() == PAGE as usize, "a short page");
        timed(
            &mut times[1],
            service.count_workflow_executions(count_all()),
        )
        .await?;
        let filtered = list_page(
            PAGE,
            "WorkflowType = 'EchoWorkflow' AND ExecutionStatus = 'Completed'",
        );
        timed(&mut times[2], service.list_workflow_executions(filtered)).await?;
    }
    let median = |values: &[f64]| percentile(&sorted(values), 0.5);
    Ok((median(&times[0]), median(&times[1]), median(&times[2])))
}

/// The Markdown table.
pub(crate) fn table(runs: &[VisibilityRun]) -> String {
    let mut out = String::from(
        "| target | closed small / large | list page (100) ms | x | count ms | x | filtered list ms | x |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in runs {
        out.push_str(&format!(
            "| {} | {} / {} | {:.1} / {:.1} | {:.2} | {:.1} / {:.1} | {:.2} | {:.1} / {:.1} | {:.2} |\n",
            r.target,
            r.small,
            r.large,
            r.list_small_ms,
            r.list_large_ms,
            r.list_ratio(),
            r.count_small_ms,
            r.count_large_ms,
            r.count_ratio(),
            r.filtered_small_ms,
            r.filtered_large_ms,
            r.filtered_ratio()
        ));
    }
    out
}
