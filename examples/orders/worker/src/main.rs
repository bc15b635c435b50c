//! `orders-worker`: the decoupled mode's worker fleet. The orders workflows and activities,
//! polling the orders task queue; no API layer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orders_logic::{Ledger, LogicSettings, OrderActivities};
use workflow::{App, Config, Role, Services};

/// The orders worker (workflows and activities).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file (the environment overrides it).
    #[arg(long, env = "WORKFLOW_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Exits 0 if this process's /healthz answers (for container health checks).
    Probe,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config::load(
        orders_contract::default_config(Role::Worker),
        args.config.as_deref(),
    );
    let probe = matches!(args.command, Some(Command::Probe));
    workflow::cli::run_binary("orders-worker", config, probe, |config| async move {
        run(config).await
    })
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
