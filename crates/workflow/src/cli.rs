//! The shared `main` of an integration's binaries: configuration errors, the `probe`
//! subcommand, the async runtime, and exit codes.

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;

/// Exit code of a configuration error.
pub const EXIT_CONFIG: u8 = 2;

/// The command-line arguments every binary of an integration shares; flatten them into the
/// binary's own `clap` parser.
#[derive(Debug, clap::Args)]
pub struct ProcessArgs {
    /// TOML configuration file (the environment overrides it).
    #[arg(long, env = "WORKFLOW_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do instead of running.
    #[command(subcommand)]
    pub command: Option<ProcessCommand>,
}

/// Subcommands every binary has.
#[derive(Debug, clap::Subcommand)]
#[non_exhaustive]
pub enum ProcessCommand {
    /// Exits 0 if this process's /healthz answers (for container health checks).
    Probe,
}

/// Runs a binary: sets up tracing, loads the configuration over `defaults` (a bad one exits
/// 2 with the field named), answers `probe` (exit 0 when this process's `/healthz` answers),
/// else runs `body` on a multi-threaded tokio runtime and exits 0 on `Ok`, 1 on `Err` after
/// printing it.
pub fn run_binary<F, Fut, E>(name: &str, defaults: Config, args: &ProcessArgs, body: F) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    crate::init_tracing();
    let config = match Config::load(defaults, args.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if matches!(args.command, Some(ProcessCommand::Probe)) {
        return crate::health::probe_command(&config);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(body(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
