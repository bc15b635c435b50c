//! `orders-worker`: the decoupled mode's worker fleet. The orders workflows and activities,
//! polling the orders task queue; no API layer.

use std::process::ExitCode;

use clap::Parser;
use orders_logic::{Ledger, LogicSettings, OrderActivities};
use workflow::cli::ProcessArgs;
use workflow::{App, Config, Role, Services};

/// The orders worker (workflows and activities) (see the module documentation).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    process: ProcessArgs,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let defaults = orders_contract::default_config(Role::Worker);
    workflow::cli::run_binary(
        "orders-worker",
        defaults,
        &args.process,
        |config| async move { run(config).await },
    )
}

async fn run(config: Config) -> anyhow::Result<()> {
    let logic = LogicSettings::from_env().map_err(anyhow::Error::msg)?;
    let ledger = Ledger::open(&logic.ledger_path)?;
    let app = App::start(config).await?;
    let services = Services::new().worker(move |options| {
        orders_logic::register(
            options,
            OrderActivities::new(ledger, logic.payment_failure_rate),
        )
    });
    app.run(services).await?;
    Ok(())
}
