//! `workflow-engine`: serves the embedded engine as a standalone process. It answers to
//! the command lines the Temporal SDKs use to launch a server binary:
//!
//! - `workflow-engine server start-dev --port P [--db-filename F] ...`: the dev server's
//!   (`temporal server start-dev`), as sdk-core's `TemporalDevServerConfig` runs it;
//! - `workflow-engine <port> [--enable-time-skipping]`: the Java test server's, as sdk-core's
//!   `TestServerConfig` runs it: time skipping on, starting locked unless the flag is given;
//! - `workflow-engine --port P [--db-filename F] ...`: the same flags as `start-dev`, flat;
//! - `workflow-engine probe --port P`: a health check (a TCP connect, so it works the same
//!   with TLS and API keys on).
//!
//! `--tls-cert`/`--tls-key` serve TLS, `--tls-client-ca` requires client certificates
//! (mutual TLS), `--api-key-file` requires `authorization: Bearer <key>` on every request.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use workflow_engine::{Engine, EngineOptions, Limits, TimeSkipping};

#[derive(Debug, Parser)]
#[command(
    name = "workflow-engine",
    version,
    about = "A Temporal-compatible workflow engine",
    args_conflicts_with_subcommands = true,
    // A flag given twice takes its last value (test harnesses add to default command lines).
    args_override_self = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// The Java test server's form: serve on this port with time skipping (locked until a
    /// client unlocks it, unless --enable-time-skipping).
    #[arg(value_name = "PORT", conflicts_with = "port")]
    test_server_port: Option<u16>,
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
    /// `temporal server` compatibility.
    Server {
        #[command(subcommand)]
        command: ServerCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ServerCommand {
    /// Serve, with the flags of `temporal server start-dev`.
    StartDev(Box<ServeArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    /// Human-readable lines (what `pretty` and `text` both give here).
    Pretty,
    /// Same as pretty.
    Text,
    /// Accepted for compatibility; written as text.
    Json,
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
    /// Skip time: jump the clock to the next timer whenever nothing is pending (starts
    /// unlocked; see the TestService's LockTimeSkipping).
    #[arg(long = "enable-time-skipping")]
    enable_time_skipping: bool,
    /// Accepted for compatibility; this engine has no UI.
    #[arg(long)]
    headless: bool,
    /// Accepted for compatibility; this engine has no UI.
    #[arg(long = "ui-port")]
    ui_port: Option<u16>,
    /// A dynamic config value (KEY=VALUE, repeatable). Honoured: the suggest-continue-as-new
    /// limits (`limit.historyCount.suggestContinueAsNew`,
    /// `limit.historySize.suggestContinueAsNew`) and the limits of `workflow_engine::Limits`
    /// (`limit.blobSize.error`, `limit.historyCount.error`,
    /// `limit.numPendingActivities.error`, `history.maximumSignalsPerExecution`...) and the
    /// shortest retention (`system.namespaceMinRetentionLocal="1s"`), how long a history
    /// long poll waits (`history.longPollExpirationInterval="20s"`); others are accepted
    /// and ignored.
    #[arg(long = "dynamic-config-value", value_parser = key_value)]
    dynamic_config_values: Vec<String>,
    /// A custom search attribute to register in every namespace, as NAME=TYPE with TYPE
    /// one of Keyword, Text, Int, Double, Bool, Datetime, KeywordList (repeatable).
    #[arg(long = "search-attribute", value_parser = parse_search_attribute)]
    search_attributes: Vec<(String, IndexedValueType)>,
    /// Serve TLS with this PEM certificate (chain); needs --tls-key.
    #[arg(long = "tls-cert", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long = "tls-key", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate signed by the CA in this PEM file.
    /// Needs --tls-cert.
    #[arg(long = "tls-client-ca", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// A file of API keys, one a line (`#` starts a comment): every request must carry
    /// `authorization: Bearer <key>` with one of them, else Unauthenticated. The keys are
    /// never logged.
    #[arg(long = "api-key-file")]
    api_key_file: Option<PathBuf>,
    /// Threads that run the engine's requests (1: a single-threaded runtime, no handing
    /// work between threads). Default: one per CPU.
    #[arg(
        long = "worker-threads",
        env = "WORKFLOW_ENGINE_WORKER_THREADS",
        value_parser = clap::value_parser!(u16).range(1..)
    )]
    worker_threads: Option<u16>,
    /// Log level: error, warn, info, debug, trace, or never.
    #[arg(long = "log-level", default_value = "info")]
    log_level: String,
    /// Log format.
    #[arg(long = "log-format", value_enum, default_value = "pretty")]
    log_format: LogFormat,
}

/// A `KEY=VALUE` argument.
fn key_value(value: &str) -> Result<String, String> {
    match value.split_once('=') {
        Some((key, _)) if !key.is_empty() => Ok(value.to_owned()),
        _ => Err(format!("{value:?} is not KEY=VALUE")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (args, time_skipping) = match cli.command {
        Some(Command::Probe { port }) => return probe(port),
        Some(Command::Server {
            command: ServerCommand::StartDev(args),
        }) => {
            let mode = mode(&args, false);
            (*args, mode)
        }
        None => match cli.test_server_port {
            Some(port) => {
                let args = ServeArgs { port, ..cli.serve };
                let mode = mode(&args, true);
                (args, mode)
            }
            None => {
                let mode = mode(&cli.serve, false);
                (cli.serve, mode)
            }
        },
    };
    match serve(args, time_skipping) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("workflow-engine: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The real server's dynamic config key for the shortest retention of a namespace.
const MIN_RETENTION_KEY: &str = "system.namespaceMinRetentionLocal";

/// The real server's dynamic config key for how long a history long poll waits.
const HISTORY_LONG_POLL_KEY: &str = "history.longPollExpirationInterval";

/// A duration given as the real server takes it: a JSON string such as `"1s"` or `"72h"`
/// (a bare `1s` is taken too).
fn dynamic_duration(key: &str, raw: &str) -> anyhow::Result<std::time::Duration> {
    let text = raw.trim().trim_matches('"');
    humantime::parse_duration(text).with_context(|| {
        format!(
            "--dynamic-config-value {key}: want a duration such as \"1h\" or \"30s\", got {raw:?}"
        )
    })
}

/// Applies one `--dynamic-config-value KEY=VALUE` (already checked to have a `=`).
fn apply_dynamic_config(options: &mut EngineOptions, value: &str) -> anyhow::Result<()> {
    let (key, raw) = value.split_once('=').unwrap_or((value, ""));
    if key == "activity.enableStandalone" {
        let text = raw.trim().trim_matches('"');
        options.standalone_activities = text.parse().with_context(|| {
            format!("--dynamic-config-value {key}: want true or false, got {raw:?}")
        })?;
        return Ok(());
    }
    if key == MIN_RETENTION_KEY {
        options.min_retention = dynamic_duration(key, raw)?;
        return Ok(());
    }
    if key == HISTORY_LONG_POLL_KEY {
        options.history_long_poll_timeout = dynamic_duration(key, raw)?;
        return Ok(());
    }
    let known = key == "limit.historyCount.suggestContinueAsNew"
        || key == "limit.historySize.suggestContinueAsNew"
        || Limits::default().set(key, 0);
    if !known {
        tracing::info!(value, "ignoring --dynamic-config-value");
        return Ok(());
    }
    let n: usize = raw
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| {
            format!("--dynamic-config-value {key}: want a positive whole number, got {raw:?}")
        })?;
    match key {
        "limit.historyCount.suggestContinueAsNew" => {
            options.suggest_continue_as_new_events = i64::try_from(n)?;
        }
        "limit.historySize.suggestContinueAsNew" => {
            options.suggest_continue_as_new_bytes = i64::try_from(n)?;
        }
        _ => {
            options.limits.set(key, n);
        }
    }
    Ok(())
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

/// Time skipping: on with --enable-time-skipping (unlocked), or in the test server's form
/// (locked, as the Java test server starts).
fn mode(args: &ServeArgs, test_server: bool) -> TimeSkipping {
    match (args.enable_time_skipping, test_server) {
        (true, _) => TimeSkipping::Unlocked,
        (false, true) => TimeSkipping::Locked,
        (false, false) => TimeSkipping::Off,
    }
}

fn serve(args: ServeArgs, time_skipping: TimeSkipping) -> anyhow::Result<()> {
    // The dev server's `never` is "no logs".
    let level = if args.log_level == "never" {
        "off"
    } else {
        args.log_level.as_str()
    };
    let filter = tracing_subscriber::EnvFilter::try_new(level).with_context(|| {
        format!(
            "invalid --log-level {:?}: give error, warn, info, debug, trace or never",
            args.log_level
        )
    })?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    if args.headless || args.ui_port.is_some() {
        tracing::debug!("--headless / --ui-port: this engine has no UI");
    }
    if args.log_format == LogFormat::Json {
        tracing::debug!("--log-format json: logs are written as text");
    }
    let mut options = EngineOptions::new(SocketAddr::new(args.ip, args.port));
    for value in &args.dynamic_config_values {
        apply_dynamic_config(&mut options, value)?;
    }
    options.namespaces = args.namespaces;
    options.search_attributes = args.search_attributes;
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
    options.time_skipping = time_skipping;
    if let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) {
        let mut tls = workflow_engine::EngineTls::new(cert, key);
        if let Some(ca) = args.tls_client_ca {
            tls = tls.with_client_ca(ca);
        }
        options.tls = Some(tls);
    }
    options.api_key_file = args.api_key_file;
    let secured = match (&options.tls, &options.api_key_file) {
        (Some(tls), keys) => format!(
            "TLS{}{}",
            if tls.client_ca.is_some() {
                ", client certificates required"
            } else {
                ""
            },
            if keys.is_some() {
                ", API keys required"
            } else {
                ""
            }
        ),
        (None, Some(_)) => "API keys required, no TLS".to_owned(),
        (None, None) => "plain".to_owned(),
    };
    let runtime = match args.worker_threads {
        Some(1) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        Some(n) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(usize::from(n))
            .enable_all()
            .build(),
        None => tokio::runtime::Runtime::new(),
    }
    .context("starting the async runtime")?;
    runtime.block_on(async move {
        let engine = Engine::start(options)
            .await
            .context("starting the engine")?;
        println!(
            "workflow-engine listening on {} ({secured}; time skipping: {time_skipping:?})",
            engine.address()
        );
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
