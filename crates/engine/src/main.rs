//! `workflow-engine`: serves the embedded engine as a standalone process, with flags
//! compatible with `temporal server start-dev`, plus a `probe` health check.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use workflow_engine::{Engine, EngineOptions};

#[derive(Debug, Parser)]
#[command(
    name = "workflow-engine",
    version,
    about = "A Temporal-compatible workflow engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Exit 0 if something accepts TCP connections on 127.0.0.1:PORT, 1 otherwise.
    Probe {
        /// The port to probe.
        #[arg(long, default_value_t = 7233)]
        port: u16,
    },
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The IP address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    ip: std::net::IpAddr,
    /// The gRPC port.
    #[arg(long, short = 'p', default_value_t = 7233)]
    port: u16,
    /// Extra namespaces to create (repeatable); `default` always exists.
    #[arg(long = "namespace", short = 'n')]
    namespaces: Vec<String>,
    /// The SQLite file to persist to; in memory when neither this nor --db-url is given.
    #[arg(long = "db-filename", short = 'f', conflicts_with = "db_url")]
    db_filename: Option<PathBuf>,
    /// A PostgreSQL database to persist to instead: postgres://user:password@host:5432/db
    /// (libpq's URL form; sslmode=disable|prefer|require). Also read from
    /// WORKFLOW_ENGINE_DB_URL, which keeps the password out of the process list.
    #[arg(
        long = "db-url",
        env = "WORKFLOW_ENGINE_DB_URL",
        hide_env_values = true
    )]
    db_url: Option<String>,
    /// How long to keep trying to reach PostgreSQL at start, e.g. 30s or 2m.
    #[arg(long = "db-connect-timeout", default_value = "30s", value_parser = humantime::parse_duration)]
    db_connect_timeout: Duration,
    /// Accepted for compatibility; this engine has no UI.
    #[arg(long)]
    headless: bool,
    /// Accepted for compatibility and ignored.
    #[arg(long = "dynamic-config-value")]
    dynamic_config_values: Vec<String>,
    /// Accepted for compatibility and ignored.
    #[arg(long = "search-attribute")]
    search_attributes: Vec<String>,
    /// Log level: error, warn, info, debug or trace.
    #[arg(long = "log-level", default_value = "info")]
    log_level: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Probe { port }) = cli.command {
        return probe(port);
    }
    match serve(cli.serve) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workflow-engine: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn probe(port: u16) -> ExitCode {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    match std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level {:?}", args.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if args.headless {
        tracing::debug!("--headless: this engine has no UI anyway");
    }
    for value in &args.dynamic_config_values {
        tracing::info!(value, "ignoring --dynamic-config-value");
    }
    for attribute in &args.search_attributes {
        tracing::info!(attribute, "ignoring --search-attribute");
    }
    let mut options = EngineOptions::new(SocketAddr::new(args.ip, args.port));
    options.namespaces = args.namespaces;
    options.database = args.db_filename;
    if let Some(url) = args.db_url {
        if !workflow_engine::is_postgres_url(&url) {
            anyhow::bail!(
                "--db-url must be a postgres:// or postgresql:// URL; for a SQLite file use --db-filename"
            );
        }
        options.database_url = Some(url);
    }
    options.database_connect_timeout = args.db_connect_timeout;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = Engine::start(options)
            .await
            .context("starting the engine")?;
        println!("workflow-engine listening on {}", engine.address());
        wait_for_signal().await;
        tracing::info!("shutting down");
        engine.shutdown().await.context("shutting down")
    })
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
