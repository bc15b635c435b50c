//! The shared `main` of an integration's binaries: configuration errors, the `probe`
//! subcommand, the async runtime, and exit codes.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use crate::config::Config;
use crate::error::ConfigError;

/// Exit code of a configuration error.
pub const EXIT_CONFIG: u8 = 2;

/// Runs a binary: sets up tracing, reports a bad configuration (exit 2), answers `probe`
/// (exit 0 when this process's `/healthz` answers), else runs `body` on a multi-threaded
/// tokio runtime and exits 0 on `Ok`, 1 on `Err` after printing it.
pub fn run_binary<F, Fut, E>(
    name: &str,
    config: Result<Config, ConfigError>,
    probe: bool,
    body: F,
) -> ExitCode
where
    F: FnOnce(Config) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    crate::init_tracing();
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{name}: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    if probe {
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
