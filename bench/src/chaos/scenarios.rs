//! The four fault scenarios. Each places orders in rounds, injects one fault after each
//! round (while the orders are in flight), places a last round once the faults stop, then
//! waits for every accepted order's outcome and checks the ledger.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::nodes::{Engine, Node};
use super::tally::{self, Orders, Row};

/// How long the disk scenario waits for its orders before it tries an engine restart.
const STUCK_AFTER: Duration = Duration::from_secs(60);

/// How hard and how long a run is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Faults per scenario.
    pub(crate) faults: usize,
    /// Orders placed before each fault (and once after the last).
    pub(crate) orders_per_round: usize,
    /// How long orders run before the fault hits them.
    pub(crate) pause: Duration,
}

fn row(scenario: &str, faults: usize, started: Instant) -> Row {
    Row {
        scenario: scenario.to_owned(),
        faults,
        seconds: started.elapsed().as_secs_f64(),
        ..Row::default()
    }
}

/// `orders-demo` (API, worker and embedded engine in one process) SIGKILLed and restarted.
pub(crate) async fn demo_killed(
    plan: Plan,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let data = dir.join("demo");
    let env = [("ORDERS_DEMO_DATA", data.display().to_string())];
    let mut demo = Node::start("orders-demo", "demo", &env, dir, http).await?;
    let mut orders = Orders::new("demo");
    for _ in 0..plan.faults {
        orders
            .place(http, &demo.url()?, plan.orders_per_round)
            .await;
        tokio::time::sleep(plan.pause).await;
        demo.kill();
        demo.restart(http).await?;
    }
    orders
        .place(http, &demo.url()?, plan.orders_per_round)
        .await;
    let mut row = row("orders-demo SIGKILLed", plan.faults, started);
    tally::count(
        &mut row,
        &orders,
        http,
        &demo.url()?,
        &data.join("orders-ledger.db"),
    )
    .await?;
    row.seconds = started.elapsed().as_secs_f64();
    Ok(row)
}

/// The standalone engine SIGKILLed and restarted under two co-located `orders-app`.
pub(crate) async fn engine_killed(
    plan: Plan,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let mut engine = Engine::start(&dir.join("engine.db"), dir).await?;
    let ledger = dir.join("ledger.db");
    let env = [
        ("TEMPORAL_ADDRESS", engine.address()),
        ("ORDERS_LEDGER_PATH", ledger.display().to_string()),
    ];
    let a = Node::start("orders-app", "app-a", &env, dir, http).await?;
    let b = Node::start("orders-app", "app-b", &env, dir, http).await?;
    let mut orders = Orders::new("engine");
    let half = plan.orders_per_round.div_ceil(2);
    for _ in 0..plan.faults {
        orders.place(http, &a.url()?, half).await;
        orders
            .place(http, &b.url()?, plan.orders_per_round - half)
            .await;
        tokio::time::sleep(plan.pause).await;
        engine.kill();
        tokio::time::sleep(Duration::from_millis(500)).await;
        engine.restart().await?;
    }
    orders.place(http, &b.url()?, plan.orders_per_round).await;
    let mut row = row("engine SIGKILLed under 2 orders-app", plan.faults, started);
    tally::count(&mut row, &orders, http, &a.url()?, &ledger).await?;
    row.seconds = started.elapsed().as_secs_f64();
    Ok(row)
}

/// One of two `orders-worker` SIGKILLed and restarted; `orders-api` and the engine stay up.
pub(crate) async fn worker_killed(
    plan: Plan,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let engine = Engine::start(&dir.join("engine.db"), dir).await?;
    let ledger = dir.join("ledger.db");
    let env = [
        ("TEMPORAL_ADDRESS", engine.address()),
        ("ORDERS_LEDGER_PATH", ledger.display().to_string()),
    ];
    let api = Node::start("orders-api", "api", &env, dir, http).await?;
    let mut w1 = Node::start("orders-worker", "worker-1", &env, dir, http).await?;
    let _w2 = Node::start("orders-worker", "worker-2", &env, dir, http).await?;
    let mut orders = Orders::new("worker");
    for _ in 0..plan.faults {
        orders.place(http, &api.url()?, plan.orders_per_round).await;
        tokio::time::sleep(plan.pause).await;
        w1.kill();
        w1.restart(http).await?;
    }
    orders.place(http, &api.url()?, plan.orders_per_round).await;
    let mut row = row("worker SIGKILLed (decoupled)", plan.faults, started);
    tally::count(&mut row, &orders, http, &api.url()?, &ledger).await?;
    row.seconds = started.elapsed().as_secs_f64();
    Ok(row)
}

/// The engine's database on a small tmpfs that fills up mid-run (root only): the disk is
/// filled, orders are placed against the full disk, then the space is freed.
pub(crate) async fn disk_full(
    plan: Plan,
    dir: &Path,
    http: &reqwest::Client,
) -> anyhow::Result<Row> {
    let started = Instant::now();
    let scenario = "engine's disk fills up";
    if !is_root() {
        eprintln!("chaos: {scenario}: skipped (mounting a tmpfs needs root)");
        return Ok(row(
            &format!("{scenario} (skipped: needs root)"),
            0,
            started,
        ));
    }
    let disk = dir.join("small-disk");
    std::fs::create_dir_all(&disk)?;
    run(Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&disk))?;
    let result = disk_full_on(plan, dir, &disk, http, scenario, started).await;
    let _ = Command::new("umount").arg("-l").arg(&disk).status();
    result
}

async fn disk_full_on(
    plan: Plan,
    dir: &Path,
    disk: &Path,
    http: &reqwest::Client,
    scenario: &str,
    started: Instant,
) -> anyhow::Result<Row> {
    let mut engine = Engine::start(&disk.join("engine.db"), dir).await?;
    let ledger = dir.join("ledger.db");
    let env = [
        ("TEMPORAL_ADDRESS", engine.address()),
        ("ORDERS_LEDGER_PATH", ledger.display().to_string()),
    ];
    let app = Node::start("orders-app", "app", &env, dir, http).await?;
    let mut orders = Orders::new("disk");
    let filler = disk.join("filler");
    for _ in 0..plan.faults.max(1) {
        orders.place(http, &app.url()?, plan.orders_per_round).await;
        tokio::time::sleep(plan.pause).await;
        fill(&filler)?;
        orders.place(http, &app.url()?, plan.orders_per_round).await;
        tokio::time::sleep(plan.pause).await;
        std::fs::remove_file(&filler).context("free the disk")?;
    }
    orders.place(http, &app.url()?, plan.orders_per_round).await;
    // Orders still stuck a while after the space came back: does a restart recover them
    // (nothing durable lost) or not (lost)?
    let stuck = tally::unfinished(http, &app.url()?, &orders, STUCK_AFTER).await;
    let scenario = if stuck > 0 {
        eprintln!(
            "chaos: {stuck} orders stuck {STUCK_AFTER:?} after the disk was freed; restarting the engine"
        );
        engine.kill();
        engine.restart().await?;
        format!("{scenario}: {stuck} orders stuck until an engine restart")
    } else {
        scenario.to_owned()
    };
    let mut row = row(&scenario, plan.faults.max(1), started);
    tally::count(&mut row, &orders, http, &app.url()?, &ledger).await?;
    row.seconds = started.elapsed().as_secs_f64();
    Ok(row)
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path).context("create the filler")?;
    let block = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = file.write_all(&block).and_then(|()| file.sync_data()) {
            eprintln!("chaos: disk full ({e})");
            return Ok(());
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("run {command:?}"))?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(())
}
