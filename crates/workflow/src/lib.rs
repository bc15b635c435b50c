//! # workflow: durable workflows for Rust integrations, on Temporal
//!
//! The Workflow Library sits on the official Temporal Rust SDK (`temporalio-sdk`) and adds
//! what an integration needs to run the same code in three deployment modes (demo,
//! co-located, decoupled): one validated [`Config`], an [`App`] that starts what the
//! configured [`Role`] needs, a [`WorkflowClient`] typed by a shared [contract](contract!),
//! worker hosting, `/healthz`, `/readyz` and `/metrics`, and graceful shutdown.
//!
//! ## Layout
//!
//! - [`config`]: the configuration, from defaults, a TOML file and the environment.
//! - [`contract`]: marker types shared by the API layer and the workflow logic.
//! - [`client`]: the client facade that the API layer uses.
//! - [`app`]: the process runtime (roles, worker hosting, shutdown).
//! - [`health`], [`metrics`]: the operational endpoint.
//! - [`console`]: the workflow console (JSON API and web pages) on its own listener.
//! - `testing` (feature `testing`): `TestEnv`, a time-skipping test server in the process.
//!
//! ## Example
//!
//! ```no_run
//! use workflow::{App, Config, Role, Services};
//!
//! # async fn example() -> anyhow::Result<()> {
//! let mut defaults = Config::default();
//! defaults.temporal.task_queue = "greetings".into();
//! defaults.role = Role::Api;
//! let config = Config::load(defaults, None)?;      // + WORKFLOW_CONFIG file + environment
//! let app = App::start(config).await?;             // health endpoint up, then connect
//! let client = app.client();                       // hand this to your HTTP routes
//! let router = axum::Router::new().with_state(client);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! app.run(Services::new().api(listener, router)).await?; // until SIGTERM, then drain
//! # Ok(()) }
//! ```

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
mod connect;
pub mod console;
pub mod contract;
mod embedded;
pub mod error;
pub mod health;
pub mod metrics;
#[cfg(feature = "testing")]
pub mod testing;
mod time_lock;

pub use app::{App, Services, shutdown_signal};
pub use client::{
    ClientError, ExecutionSummary, Handle, IdConflict, IdReuse, StartOptions, WorkflowClient,
};
pub use config::{Compression, Config, EngineKind, EngineListen, Role};
pub use console::ConsoleConfig;
pub use error::{ConfigError, StartError};
pub use metrics::Metrics;

/// Re-exports used by [`contract!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use temporalio_common::{
        HasWorkflowDefinition, QueryDefinition, SignalDefinition, UpdateDefinition,
        WorkflowDefinition,
    };
}

/// Sets up `tracing` output for a binary: `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
