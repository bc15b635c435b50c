//! Typed errors of the library. Each variant's doc says what the caller should do.

use std::path::PathBuf;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read: fix the path or its permissions.
    #[error("cannot read configuration file {path}: {message}")]
    File {
        /// The file that was named.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// The TOML is malformed or has an unknown key or a value of the wrong type: the message
    /// names the key and its line.
    #[error("invalid configuration in {source_name}: {message}")]
    Parse {
        /// The file (or "defaults") that failed to parse.
        source_name: String,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A field has a value that cannot work: the message names the field and the fix.
    #[error("invalid configuration: {field} = {value:?}: {fix}")]
    Invalid {
        /// The field (TOML path) or environment variable.
        field: String,
        /// The rejected value.
        value: String,
        /// How to fix it.
        fix: String,
    },
}

/// Failure to reach Temporal or to start the parts of the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The server did not answer within `temporal.connect_timeout`: check that it runs at the
    /// named address and that the network allows it.
    #[error("cannot connect to Temporal at {address} after {attempts} attempts: {message}")]
    Connect {
        /// The address that was tried.
        address: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        message: String,
    },
    /// A TLS file could not be read.
    #[error("cannot read {field} from {path}: {message}")]
    TlsFile {
        /// The configuration field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// The health endpoint could not bind its address: pick a free port in `health.listen`.
    #[error("cannot serve health and metrics on {address}: {message}")]
    HealthListen {
        /// The address.
        address: String,
        /// What the operating system said.
        message: String,
    },
    /// The console could not bind its address: pick a free port in `console.listen`
    /// (`WORKFLOW_CONSOLE_LISTEN`), or turn it off with `WORKFLOW_CONSOLE_LISTEN=off`.
    #[error(
        "cannot serve the workflow console on {address} (console.listen, WORKFLOW_CONSOLE_LISTEN): {source}"
    )]
    ConsoleListen {
        /// The address.
        address: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The worker could not be created (e.g. no workflows or activities registered).
    #[error("cannot create the worker: {0}")]
    Worker(String),
    /// The worker stopped with an error.
    #[error("worker failed: {0}")]
    WorkerRun(String),
    /// The embedded engine could not start (its database path, its address, or a build
    /// without the `embedded` feature).
    #[error("embedded engine: {0}")]
    Engine(String),
    /// The role needs a part that the integration did not provide.
    #[error("{0}")]
    Role(String),
}
