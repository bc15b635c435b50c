//! `orders-api`: the decoupled mode's API fleet. The orders HTTP API with a client only; the
//! workflow logic runs in `orders-worker` processes, which this binary knows nothing of.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use orders_routes::ApiSettings;
use workflow::{App, Config, Role, Services};

/// The orders HTTP API (client only).
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
        orders_contract::default_config(Role::Api),
        args.config.as_deref(),
    );
    let probe = matches!(args.command, Some(Command::Probe));
    workflow::cli::run_binary("orders-api", config, probe, |config| async move {
        run(config, args.listen).await
    })
}

async fn run(config: Config, listen: SocketAddr) -> anyhow::Result<()> {
    let api = ApiSettings::from_env().map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (ORDERS_LISTEN)"))?;
    let app = App::start(config).await?;
    let services = Services::new().api(listener, orders_routes::router(app.client(), api));
    app.run(services).await?;
    Ok(())
}
