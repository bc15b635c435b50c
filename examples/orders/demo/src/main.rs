//! `orders-demo`: the demo mode. The orders API, the orders worker and the embedded engine in
//! one process, with nothing else to install. Data lives in `.data/` (the engine's SQLite
//! file and the orders ledger) unless `--in-memory` is given; `--database-url postgres://...`
//! keeps the engine's state in PostgreSQL instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use orders_logic::LogicSettings;
use workflow::cli::ProcessArgs;
use workflow::{EngineKind, Role};

/// The orders integration with its own embedded engine, in one process (see the module documentation).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(flatten)]
    process: ProcessArgs,
    /// Where the orders HTTP API listens.
    #[arg(long, env = "ORDERS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the engine's database and the ledger live.
    #[arg(long, env = "ORDERS_DEMO_DATA", default_value = ".data")]
    data_dir: PathBuf,
    /// Keep the engine's state in memory (lost on exit) instead of `<data-dir>/engine.db`.
    #[arg(long, conflicts_with = "database_url")]
    in_memory: bool,
    /// Keep the engine's state in this PostgreSQL database instead of `<data-dir>/engine.db`:
    /// postgres://user:password@host:5432/db (sslmode=disable|prefer|require). The engine is
    /// not clustered: one engine per database.
    #[arg(long, env = "ORDERS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let mut defaults = orders_contract::default_config(Role::All);
    defaults.engine = EngineKind::Embedded;
    defaults.health.listen = SocketAddr::from(([127, 0, 0, 1], 9090));
    if let Some(url) = &args.database_url {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            eprintln!("orders-demo: --database-url must be a postgres:// or postgresql:// URL");
            return ExitCode::FAILURE;
        }
        defaults.embedded.database = Some(PathBuf::from(url));
    } else if !args.in_memory {
        defaults.embedded.database = Some(args.data_dir.join("engine.db"));
    }
    let ledger = args.data_dir.join("orders-ledger.db");
    workflow::cli::run_binary(
        "orders-demo",
        defaults,
        &args.process,
        |config| async move {
            std::fs::create_dir_all(&args.data_dir)?;
            let mut logic = LogicSettings::from_env().map_err(anyhow::Error::msg)?;
            if std::env::var_os("ORDERS_LEDGER_PATH").is_none() {
                logic.ledger_path = ledger;
            }
            orders_app::serve(config, args.listen, logic).await
        },
    )
}
