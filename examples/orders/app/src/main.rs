//! `orders-app`: the co-located mode. The orders API and the orders worker in one process,
//! against an external Temporal server; run N replicas behind a load balancer.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use orders_logic::LogicSettings;
use workflow::Role;
use workflow::cli::ProcessArgs;

/// The orders integration, API and worker in one process (see the module documentation).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    process: ProcessArgs,
    /// Where the orders HTTP API listens.
    #[arg(long, env = "ORDERS_LISTEN", default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let defaults = orders_contract::default_config(Role::All);
    workflow::cli::run_binary("orders-app", defaults, &args.process, |config| async move {
        let logic = LogicSettings::from_env().map_err(anyhow::Error::msg)?;
        orders_app::serve(config, args.listen, logic).await
    })
}
