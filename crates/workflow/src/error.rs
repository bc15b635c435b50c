//! Typed errors of the library. Each variant's doc says what the caller should do; the error
//! that caused it stays reachable as its `source`.

use std::path::PathBuf;
use std::time::Duration;

use temporalio_client::tonic::Status;

use crate::config::Role;

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration file could not be read: fix the path or its permissions.
    #[error("cannot read configuration file {path}: {source}")]
    File {
        /// The file that was named.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unknown key or a value of the wrong type: the message
    /// names the key and its line.
    #[error("invalid configuration in {source_name}: {source}")]
    Parse {
        /// The file (or "defaults") that failed to parse.
        source_name: String,
        /// The parser's error, naming the key.
        #[source]
        source: toml::de::Error,
    },
    /// The defaults could not be written as TOML to merge a file over them (a bug).
    #[error("cannot merge the configuration over its defaults: {0}")]
    Defaults(#[source] toml::ser::Error),
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
    /// The server refused every attempt within `temporal.connect_timeout`: check that it runs
    /// at the named address and that the network allows it.
    #[error("cannot connect to Temporal at {address} after {attempts} attempts: {source}")]
    Connect {
        /// The address that was tried.
        address: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: Box<temporalio_client::errors::ClientConnectError>,
    },
    /// The last attempt got no answer before `temporal.connect_timeout` ran out: check that
    /// the server runs at the named address and that the network allows it.
    #[error(
        "cannot connect to Temporal at {address} after {attempts} attempts: connection attempt timed out after {waited:?}"
    )]
    ConnectTimeout {
        /// The address that was tried.
        address: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long the last attempt waited.
        waited: Duration,
    },
    /// The TLS handshake with Temporal failed (certificate not trusted or not for this name,
    /// client certificate missing or refused): the message names the setting to fix.
    #[error("cannot connect to Temporal at {address}: {problem}")]
    Tls {
        /// The address that was tried.
        address: String,
        /// What went wrong and which setting fixes it.
        problem: String,
        /// The transport's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Temporal refused this client's credentials (an API key missing or not valid): set
    /// `temporal.api_key` (`TEMPORAL_API_KEY`).
    #[error("Temporal at {address} refused this client: {problem}")]
    Unauthenticated {
        /// The address.
        address: String,
        /// What the server said and which setting fixes it.
        problem: String,
        /// The server's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The SDK could not build a client over the connection.
    #[error("cannot create a Temporal client for {address}: {source}")]
    Client {
        /// The address.
        address: String,
        /// The SDK's error.
        #[source]
        source: temporalio_client::errors::ClientNewError,
    },
    /// The namespace does not exist or cannot be described: create it or fix
    /// `temporal.namespace` / `TEMPORAL_NAMESPACE`.
    #[error(
        "Temporal at {address}: namespace {namespace:?} is not usable ({}): create it or fix temporal.namespace / TEMPORAL_NAMESPACE",
        .status.message()
    )]
    Namespace {
        /// The address.
        address: String,
        /// The namespace.
        namespace: String,
        /// The server's answer.
        #[source]
        status: Box<Status>,
    },
    /// A TLS file could not be read.
    #[error("cannot read {field} from {path}: {source}")]
    TlsFile {
        /// The configuration field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The health endpoint could not bind its address: pick a free port in `health.listen`.
    #[error("cannot serve health and metrics on {address}: {source}")]
    HealthListen {
        /// The address.
        address: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The SDK's runtime could not start.
    #[error("cannot create the worker's runtime: {0}")]
    SdkRuntime(#[source] temporalio_sdk::RuntimeError),
    /// The integration's workflows or activities could not be registered.
    #[error("cannot register the workflow logic: {0}")]
    Register(#[source] temporalio_sdk::WorkflowRegistrationError),
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
    Worker(#[source] temporalio_sdk::WorkerCreateError),
    /// The worker stopped with an error.
    #[error("worker failed: {0}")]
    WorkerRun(#[source] temporalio_sdk::WorkerRunError),
    /// The API layer's HTTP server failed while serving.
    #[error("API server failed: {0}")]
    ApiServe(#[source] std::io::Error),
    /// The folder of `embedded.database` could not be created: fix the path or its
    /// permissions.
    #[error("embedded engine: cannot create {dir} for embedded.database: {source}")]
    EngineDatabaseDir {
        /// The folder.
        dir: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The embedded engine could not start (its database or its address).
    #[cfg(feature = "embedded")]
    #[error("embedded engine: {0}")]
    Engine(#[source] workflow_engine::EngineError),
    /// `engine = "embedded"` in a binary built without the library's `embedded` feature.
    #[error(
        "embedded engine: engine = \"embedded\" needs a binary built with the library's `embedded` feature: use orders-demo, or set engine = \"server\" (WORKFLOW_ENGINE=server) and point temporal.address at a Temporal server"
    )]
    EngineNotBuilt,
    /// The role needs a part that the integration did not provide: choose another role.
    #[error(
        "role {role:?} needs {needs}, which this binary does not have: choose another role (WORKFLOW_ROLE)"
    )]
    Role {
        /// The configured role.
        role: Role,
        /// The part it needs.
        needs: &'static str,
    },
}
