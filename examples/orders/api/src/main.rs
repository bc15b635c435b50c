//! `orders-api`: the decoupled mode's API fleet. The orders HTTP API with a client only; the
//! workflow logic runs in `orders-worker` processes, which this binary knows nothing of.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use orders_routes::ApiSettings;
use workflow::cli::ProcessArgs;
use workflow::{App, Config, Role, Services};

/// The orders HTTP API (client only) (see the module documentation).
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
    let defaults = orders_contract::default_config(Role::Api);
    workflow::cli::run_binary("orders-api", defaults, &args.process, |config| async move {
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
