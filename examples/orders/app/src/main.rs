//! `orders-app`: the co-located mode. The orders API and the orders worker in one process,
//! against an external Temporal server; run N replicas behind a load balancer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orders_logic::LogicSettings;
use workflow::{Config, Role};

/// The orders integration, API and worker in one process.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// TOML configuration file (the environment overrides it).
    #[arg(long, env = "WORKFLOW_CONFIG")]
    config: Option<PathBuf>,
    /// Where the orders HTTP API listens.
    #[arg(long, env = "ORDERS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
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
        orders_contract::default_config(Role::All),
        args.config.as_deref(),
    );
    let probe = matches!(args.command, Some(Command::Probe));
    workflow::cli::run_binary("orders-app", config, probe, |config| async move {
        run(config, args.listen).await
    })
}

async fn run(config: Config, listen: SocketAddr) -> anyhow::Result<()> {
    let logic = LogicSettings::from_env().map_err(anyhow::Error::msg)?;
    orders_app::serve(config, listen, logic).await
}
