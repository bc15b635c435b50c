//! The co-located host of the orders integration: the API layer and the worker in one
//! process. `orders-app` runs it against an external Temporal server; `orders-demo` runs the
//! same against the embedded engine.

use std::net::SocketAddr;

use anyhow::Context;
use orders_logic::{Ledger, LogicSettings, OrderActivities};
use orders_routes::ApiSettings;
use workflow::{App, Config, Services};

/// Starts the library runtime and serves the orders API on `listen` with an orders worker
/// beside it, until SIGTERM or SIGINT.
pub async fn serve(config: Config, listen: SocketAddr, logic: LogicSettings) -> anyhow::Result<()> {
    let api = ApiSettings::from_env().map_err(anyhow::Error::msg)?;
    let ledger = Ledger::open(&logic.ledger_path)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (ORDERS_LISTEN)"))?;
    let app = App::start(config).await?;
    let services = Services::new()
        .api(listener, orders_routes::router(app.client(), api))
        .worker(move |options| {
            orders_logic::register(
                options,
                OrderActivities::new(ledger, logic.payment_failure_rate),
            )
        });
    app.run(services).await?;
    Ok(())
}
