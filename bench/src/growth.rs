//! The growth table: how a server's costs follow what it stores. One server per target,
//! on a fresh database, gets closed workflows up to each size in turn, then open workflows
//! waiting on a signal up to each size. At each point: a list page, a filtered list page
//! and a count (medians), a describe of a cold closed run, a signal to a cold open run until
//! its workflow has completed (p50 and max), the server's RSS, the database's size, and
//! restart to first answer (the server killed as a crash would, started again on the same
//! data, until a list page is answered).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use temporalio_client::{Connection, ConnectionOptions, Url};
use temporalio_common::protos::temporal::api::{
    common::v1::WorkflowExecution, workflowservice::v1::DescribeWorkflowExecutionRequest,
};
use workflow::{StartOptions, WorkflowClient};

use crate::driver::{self, count_all, list_page, ms_since, percentile, sorted, timed};
use crate::measure::with_worker;
use crate::proc_stats::rss_mib;
use crate::targets::{Target, TargetKind};
use crate::workloads::{Echo, WaitSignal};

/// Calls timed per measurement.
const CALLS: usize = 15;
/// The page size asked for.
const PAGE: i32 = 100;
/// The filtered list: one type and one status.
const FILTER: &str = "WorkflowType = 'BenchEcho' AND ExecutionStatus = 'Completed'";
/// How long one workflow may take before the run is called stuck.
const WAIT: Duration = Duration::from_secs(120);

/// One point of the table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct GrowthPoint {
    pub(crate) target: String,
    pub(crate) closed: usize,
    pub(crate) open: usize,
    pub(crate) list_ms: f64,
    pub(crate) filtered_ms: f64,
    pub(crate) count_ms: f64,
    pub(crate) describe_cold_ms: f64,
    /// Signal to a cold open run until its result (p50, max); none before open runs.
    pub(crate) signal_cold_ms: Option<(f64, f64)>,
    pub(crate) rss_mib: f64,
    pub(crate) database_mib: f64,
    pub(crate) restart_ms: f64,
    /// Workflows per second while this point was filled.
    pub(crate) fill_per_s: f64,
}

/// Runs the table on each target; a target that fails is described in `failures` and keeps
/// the points it reached.
pub(crate) async fn run(
    kinds: &[TargetKind],
    closed: &[usize],
    open: &[usize],
    concurrency: usize,
    failures: &mut Vec<String>,
) -> Vec<GrowthPoint> {
    let mut points = Vec::new();
    for &kind in kinds {
        eprintln!(
            "growth on {}: closed {closed:?}, then open {open:?}",
            kind.name()
        );
        if let Err(e) = one(kind, closed, open, concurrency, &mut points).await {
            eprintln!("  FAILED: {e:#}");
            failures.push(format!("growth on {}: {e:#}", kind.name()));
        }
    }
    points
}

/// What to add before a point is measured.
#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed(usize),
    Open(usize),
}

async fn one(
    kind: TargetKind,
    closed: &[usize],
    open: &[usize],
    concurrency: usize,
    points: &mut Vec<GrowthPoint>,
) -> anyhow::Result<()> {
    let mut target = Target::start(kind).await?;
    let phases = closed
        .iter()
        .map(|&n| Phase::Closed(n))
        .chain(open.iter().map(|&n| Phase::Open(n)));
    let (mut have_closed, mut have_open, mut signalled) = (0_usize, 0_usize, 0_usize);
    let result = async {
        for (index, phase) in phases.enumerate() {
            let address = target.address.clone();
            let started = Instant::now();
            let mut point = with_worker(&target, |client| async move {
                let connection = connect(&address).await?;
                let added = match phase {
                    Phase::Closed(n) => {
                        let add = n.saturating_sub(have_closed);
                        fill_closed(&client, have_closed, add, concurrency).await?;
                        add
                    }
                    Phase::Open(n) => {
                        let add = n.saturating_sub(have_open);
                        fill_open(&client, &connection, have_open, add, concurrency).await?;
                        add
                    }
                };
                let fill_per_s = added as f64 / started.elapsed().as_secs_f64().max(1e-9);
                let mut point = measure(&connection, index).await?;
                point.fill_per_s = fill_per_s;
                if matches!(phase, Phase::Open(_)) {
                    point.signal_cold_ms = Some(signal_cold(&client, signalled).await?);
                }
                Ok(point)
            })
            .await?;
            match phase {
                Phase::Closed(n) => have_closed = have_closed.max(n),
                Phase::Open(n) => {
                    have_open = have_open.max(n);
                    // The signalled runs completed: they count as closed now.
                    signalled += CALLS;
                }
            }
            point.target = kind.name().to_owned();
            point.closed = have_closed + signalled;
            point.open = have_open.saturating_sub(signalled);
            point.rss_mib = rss_mib(target.pid()).0;
            point.database_mib = target.database_bytes() as f64 / (1024.0 * 1024.0);
            point.restart_ms = restart(&mut target).await?;
            eprintln!(
                "  {} closed, {} open: list {:.1} ms, filtered {:.1} ms, count {:.1} ms, describe cold {:.1} ms, \
                 signal cold {:?}, RSS {:.0} MiB, db {:.0} MiB, restart {:.0} ms ({:.0} wf/s filling)",
                point.closed,
                point.open,
                point.list_ms,
                point.filtered_ms,
                point.count_ms,
                point.describe_cold_ms,
                point.signal_cold_ms,
                point.rss_mib,
                point.database_mib,
                point.restart_ms,
                point.fill_per_s
            );
            points.push(point);
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    target.stop().await;
    result
}

async fn connect(address: &str) -> anyhow::Result<Connection> {
    let url = Url::parse(&format!("http://{address}"))?;
    Ok(Connection::connect(ConnectionOptions::new(url).identity("bench-growth").build()).await?)
}

fn closed_id(i: usize) -> String {
    format!("growth-closed-{i}")
}

fn open_id(i: usize) -> String {
    format!("growth-open-{i}")
}

async fn fill_closed(
    client: &WorkflowClient,
    from: usize,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let one = |i: u64| async move {
        let i = from + usize::try_from(i)?;
        let h = client
            .start(Echo::run, closed_id(i), i as u64, StartOptions::default())
            .await?;
        h.result(WAIT).await?;
        Ok(())
    };
    driver::run(count, concurrency, one, |done, _| {
        if done % 50_000 == 0 {
            eprintln!("  {} closed", from + done);
        }
    })
    .await?;
    Ok(())
}

/// Starts `count` workflows that wait on a signal, and waits until the last ones have
/// finished their first workflow task (they are then waiting, nothing in flight).
async fn fill_open(
    client: &WorkflowClient,
    connection: &Connection,
    from: usize,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let one = |i: u64| async move {
        let i = from + usize::try_from(i)?;
        client
            .start(
                WaitSignal::run,
                open_id(i),
                i as u64,
                StartOptions::default(),
            )
            .await?;
        Ok(())
    };
    driver::run(count, concurrency, one, |done, _| {
        if done % 50_000 == 0 {
            eprintln!("  {} open", from + done);
        }
    })
    .await?;
    let mut service = connection.workflow_service();
    let give_up = Instant::now() + WAIT;
    for i in (from + count).saturating_sub(concurrency)..from + count {
        loop {
            let described = service
                .describe_workflow_execution(tonic::Request::new(
                    DescribeWorkflowExecutionRequest {
                        namespace: "default".into(),
                        execution: Some(WorkflowExecution {
                            workflow_id: open_id(i),
                            run_id: String::new(),
                        }),
                    },
                ))
                .await?
                .into_inner();
            if described.pending_workflow_task.is_none() {
                break;
            }
            anyhow::ensure!(Instant::now() < give_up, "{} never settled", open_id(i));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(())
}

/// Median milliseconds of a list page, a filtered page and a count, and of describes of
/// closed runs started long ago (the `index`-th group of [`CALLS`], none described before).
async fn measure(connection: &Connection, index: usize) -> anyhow::Result<GrowthPoint> {
    let mut service = connection.workflow_service();
    let mut times = [Vec::new(), Vec::new(), Vec::new(), Vec::new()];
    for call in 0..CALLS {
        let page = timed(
            &mut times[0],
            service.list_workflow_executions(list_page(PAGE, "")),
        )
        .await?;
        anyhow::ensure!(!page.executions.is_empty(), "an empty page");
        timed(
            &mut times[1],
            service.list_workflow_executions(list_page(PAGE, FILTER)),
        )
        .await?;
        timed(
            &mut times[2],
            service.count_workflow_executions(count_all()),
        )
        .await?;
        let describe = DescribeWorkflowExecutionRequest {
            namespace: "default".into(),
            execution: Some(WorkflowExecution {
                workflow_id: closed_id(index * CALLS + call),
                run_id: String::new(),
            }),
        };
        let describe = service.describe_workflow_execution(tonic::Request::new(describe));
        timed(&mut times[3], describe).await?;
    }
    let median = |values: &[f64]| percentile(&sorted(values), 0.5);
    Ok(GrowthPoint {
        list_ms: median(&times[0]),
        filtered_ms: median(&times[1]),
        count_ms: median(&times[2]),
        describe_cold_ms: median(&times[3]),
        ..GrowthPoint::default()
    })
}

/// Signals [`CALLS`] open runs started long ago, one at a time, each until its workflow
/// has completed: (p50, max) milliseconds.
async fn signal_cold(client: &WorkflowClient, from: usize) -> anyhow::Result<(f64, f64)> {
    let mut times = Vec::new();
    for i in from..from + CALLS {
        let handle = client.handle::<WaitSignal>(open_id(i));
        let started = Instant::now();
        handle.signal(WaitSignal::release, ()).await?;
        handle.result(WAIT).await?;
        times.push(ms_since(started));
    }
    let times = sorted(&times);
    Ok((percentile(&times, 0.5), percentile(&times, 1.0)))
}

/// Kills and restarts the server; milliseconds until it answered a list page.
async fn restart(target: &mut Target) -> anyhow::Result<f64> {
    let started = Instant::now();
    target.restart().await?;
    let connection = connect(&target.address).await?;
    connection
        .workflow_service()
        .list_workflow_executions(list_page(PAGE, ""))
        .await?;
    Ok(ms_since(started))
}

/// The Markdown table.
pub(crate) fn table(points: &[GrowthPoint]) -> String {
    let mut out = String::from(
        "| target | closed | open | list page (100) ms | filtered list ms | count ms | describe cold ms | signal cold p50 / max ms | RSS MiB | database MiB | restart to first answer ms | filled at wf/s |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in points {
        let signal = p
            .signal_cold_ms
            .map_or("-".to_owned(), |(p50, max)| format!("{p50:.1} / {max:.1}"));
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            p.target,
            p.closed,
            p.open,
            p.list_ms,
            p.filtered_ms,
            p.count_ms,
            p.describe_cold_ms,
            signal,
            p.rss_mib,
            p.database_mib,
            p.restart_ms,
            p.fill_per_s
        ));
    }
    out
}
