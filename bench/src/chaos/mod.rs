//! The chaos report (`workflow-bench chaos`, run by `scripts/chaos`): the orders flow under
//! repeated faults, one table out. Scenarios (`scenarios`): `orders-demo` SIGKILLed; the
//! standalone engine SIGKILLed under two co-located `orders-app`; a worker SIGKILLed in the
//! decoupled shape (`orders-api` and two `orders-worker`); the engine's disk filling up
//! (a size-limited tmpfs, as root). Processes (`nodes`) bind loopback only; counts and the
//! ledger check are `tally`'s. Lost orders or side effects the ledger does not account for
//! make the command fail.

mod nodes;
mod scenarios;
mod tally;

use std::time::Duration;

use crate::args::ChaosArgs;
use crate::child::http_client;
use scenarios::Plan;
use tally::Row;

/// Runs the scenarios, prints the table; an error if any order was lost or any side effect
/// was not absorbed.
pub(crate) async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let plan = Plan {
        faults: args.faults,
        orders_per_round: args.orders,
        pause: Duration::from_millis(args.pause_ms),
    };
    let http = http_client()?;
    let base = tempfile::Builder::new().prefix("chaos-").tempdir()?;
    let mut rows = Vec::new();
    for (i, name) in ["demo", "engine", "worker", "disk"].iter().enumerate() {
        if !args.scenarios.iter().any(|s| s == name) {
            continue;
        }
        let dir = base.path().join(format!("{i}-{name}"));
        std::fs::create_dir_all(&dir)?;
        eprintln!("chaos: scenario {name} (logs in {})", dir.display());
        let row = match *name {
            "demo" => scenarios::demo_killed(plan, &dir, &http).await,
            "engine" => scenarios::engine_killed(plan, &dir, &http).await,
            "worker" => scenarios::worker_killed(plan, &dir, &http).await,
            _ => scenarios::disk_full(plan, &dir, &http).await,
        };
        match row {
            Ok(row) => rows.push(row),
            Err(e) => {
                if args.keep_logs {
                    let _ = base.keep();
                }
                return Err(e.context(format!("scenario {name}")));
            }
        }
    }
    println!("{}", table(&rows));
    if args.keep_logs {
        eprintln!("chaos: logs kept in {}", base.keep().display());
    }
    let bad: Vec<&Row> = rows
        .iter()
        .filter(|r| r.lost > 0 || r.not_absorbed > 0)
        .collect();
    anyhow::ensure!(
        bad.is_empty(),
        "orders lost or side effects not absorbed in: {}",
        bad.iter()
            .map(|r| r.scenario.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// The report as a Markdown table.
fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | faults | orders accepted | refused while faulty | completed | compensated | lost | side effects re-run, absorbed by the ledger | not absorbed | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |\n",
            r.scenario,
            r.faults,
            r.accepted,
            r.refused,
            r.completed,
            r.compensated,
            r.lost,
            r.absorbed,
            r.not_absorbed,
            r.seconds
        ));
    }
    out
}
