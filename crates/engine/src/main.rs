//! `workflow-engine`: serves the embedded engine as a standalone process, with flags
//! compatible with `temporal server start-dev`, plus a `probe` health check.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
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
    /// The SQLite file to persist to; in memory when absent.
    #[arg(long = "db-filename", short = 'f')]
    db_filename: Option<PathBuf>,
    /// Accepted for compatibility; this engine has no UI.
    #[arg(long)]
    headless: bool,
    /// Accepted for compatibility and ignored.
    #[arg(long = "dynamic-config-value")]
    dynamic_config_values: Vec<String>,
    /// A custom search attribute to register in every namespace, as NAME=TYPE with TYPE
    /// one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList (repeatable).
    #[arg(long = "search-attribute", value_parser = parse_search_attribute)]
    search_attributes: Vec<(String, IndexedValueType)>,
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

fn parse_search_attribute(value: &str) -> Result<(String, IndexedValueType), String> {
    const TYPES: &str = "Keyword, Text, Int, Double, Bool, Datetime, KeywordList";
    let (name, ty) = value
        .split_once('=')
        .ok_or_else(|| format!("want NAME=TYPE (TYPE one of {TYPES}), got {value:?}"))?;
    let ty = [
        ("Keyword", IndexedValueType::Keyword),
        ("Text", IndexedValueType::Text),
        ("Int", IndexedValueType::Int),
        ("Double", IndexedValueType::Double),
        ("Bool", IndexedValueType::Bool),
        ("Datetime", IndexedValueType::Datetime),
        ("KeywordList", IndexedValueType::KeywordList),
    ]
    .into_iter()
    .find(|(n, _)| n.eq_ignore_ascii_case(ty.trim()))
    .map(|(_, t)| t)
    .ok_or_else(|| format!("unknown search attribute type {ty:?}: use one of {TYPES}"))?;
    if name.trim().is_empty() {
        return Err(format!("the search attribute name is empty in {value:?}"));
    }
    Ok((name.trim().to_owned(), ty))
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
    let mut options = EngineOptions::new(SocketAddr::new(args.ip, args.port));
    options.namespaces = args.namespaces;
    options.search_attributes = args.search_attributes;
    options.database = args.db_filename;
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
