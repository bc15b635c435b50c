//! One validated configuration for every role and deployment mode.
//!
//! Sources, later ones winning: the built-in defaults (or the defaults an integration passes
//! in), a TOML file, then the environment. Temporal's own variables (`TEMPORAL_ADDRESS`,
//! `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`) are honoured so that the same
//! deployment files work with other Temporal tooling; the library's own knobs use `WORKFLOW_*`.
//! [`ENVIRONMENT`] is the one table of every variable, the field it sets and how it is read.
//! [`Config::validate`] names the offending field and says how to fix it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::console::ConsoleConfig;

mod embedded;
mod env;
mod load;

pub use embedded::{DEFAULT_RETENTION, EmbeddedConfig, EngineListen};
pub use env::{ENVIRONMENT, EnvVar};

/// Environment variable that names the TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "WORKFLOW_CONFIG";

/// Where the Temporal engine comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum EngineKind {
    /// An external Temporal server or cluster reached over gRPC at `temporal.address`.
    #[default]
    Server,
    /// The embedded engine started inside this process (demo mode).
    Embedded,
}

/// Which parts of an integration this process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// API layer and worker in one process (demo and co-located modes).
    #[default]
    All,
    /// API layer only: a client, no worker (the decoupled API fleet).
    Api,
    /// Worker only: no API layer (the decoupled worker fleet).
    Worker,
}

/// gRPC compression towards Temporal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Compression {
    /// Gzip when TLS is on (a remote link such as Temporal Cloud), none otherwise (loopback
    /// and in-cluster links, where compressing costs CPU and saves nothing).
    #[default]
    Auto,
    /// Always gzip requests and accept gzip responses.
    Gzip,
    /// Never compress.
    None,
}

impl Role {
    /// Whether this role hosts a worker that polls the task queue.
    pub fn runs_worker(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }

    /// Whether this role serves the integration's API layer.
    pub fn runs_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }
}

/// The whole configuration of a process that uses the library.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the engine comes from (`server` or `embedded`).
    pub engine: EngineKind,
    /// What this process runs (`all`, `api` or `worker`).
    pub role: Role,
    /// How to reach Temporal and which namespace and task queue to use.
    pub temporal: TemporalConfig,
    /// Worker tuning and draining.
    pub worker: WorkerConfig,
    /// The health and metrics endpoint.
    pub health: HealthConfig,
    /// The embedded engine, when `engine = "embedded"`.
    pub embedded: EmbeddedConfig,
    /// The workflow console (`[console]`, see [`crate::console`]).
    pub console: ConsoleConfig,
}

/// Connection to Temporal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemporalConfig {
    /// gRPC address of the frontend, `host:port` or a URL. Default `127.0.0.1:7233`.
    pub address: String,
    /// Namespace. Default `default`.
    pub namespace: String,
    /// Task queue that workers poll and clients start workflows on. Default `default`.
    pub task_queue: String,
    /// API key (Temporal Cloud); implies TLS. Never serialised.
    #[serde(skip_serializing)]
    pub api_key: Option<String>,
    /// TLS settings.
    pub tls: TlsConfig,
    /// Total time to keep retrying the first connection before giving up. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Upper bound on any one client operation, so a server that is down gives an error,
    /// never a hang. Default 10 s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// gRPC compression: `auto` (default: gzip with TLS, none without), `gzip` or `none`.
    pub compression: Compression,
}

impl Default for TemporalConfig {
    fn default() -> Self {
        Self {
            address: "127.0.0.1:7233".to_owned(),
            namespace: "default".to_owned(),
            task_queue: "default".to_owned(),
            api_key: None,
            tls: TlsConfig::default(),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            compression: Compression::Auto,
        }
    }
}

/// TLS towards Temporal. Enabled when `enabled` is true, when any file is given, or when an
/// API key is set.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Force TLS on or off. Unset: on when a certificate, a server name or an API key is set.
    pub enabled: Option<bool>,
    /// PEM file of the CA that signed the server's certificate (default: system roots).
    pub ca_cert: Option<PathBuf>,
    /// PEM file of the client certificate (mTLS); needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM file of the client private key (mTLS); needs `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Server name to verify, when it differs from the address's host.
    pub server_name: Option<String>,
}

/// Worker tuning.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerConfig {
    /// Workflow tasks processed at once. Default 100.
    pub max_concurrent_workflow_tasks: usize,
    /// Activities executed at once. Default 100.
    pub max_concurrent_activities: usize,
    /// Workflows kept in the sticky cache (0 disables sticky execution). Default 1000.
    pub max_cached_workflows: usize,
    /// On SIGTERM/SIGINT, how long the worker may drain in-flight tasks before it cancels
    /// them and exits. Default 30 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace_period: Duration,
    /// Eager execution: starts from this process ask for the first workflow task in the
    /// start response, and the worker asks for up to 3 of a task's new activities in the
    /// completion's response, when it has free slots (the SDK's defaults), saving a round
    /// trip each. Default true.
    pub eager_execution: bool,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            max_concurrent_workflow_tasks: 100,
            max_concurrent_activities: 100,
            max_cached_workflows: 1000,
            shutdown_grace_period: Duration::from_secs(30),
            eager_execution: true,
        }
    }
}

/// The health (`/healthz`, `/readyz`) and metrics (`/metrics`) endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// Socket address to serve on. Default `0.0.0.0:9090`; port 0 picks a free port.
    pub listen: SocketAddr,
}

impl Default for HealthConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 9090)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_are_valid() {
        let c = Config::load_from(Config::default(), None, no_env).unwrap();
        assert_eq!(c.temporal.address, "127.0.0.1:7233");
        assert_eq!(c.server_url().unwrap().as_str(), "http://127.0.0.1:7233/");
        assert_eq!(c.role, Role::All);
    }

    #[test]
    fn file_overrides_base_and_env_overrides_file() {
        let mut base = Config::default();
        base.temporal.task_queue = "orders".into();
        let c = Config::from_toml_str(base, "role = \"worker\"\n[temporal]\nnamespace = \"ns1\"\n")
            .unwrap();
        assert_eq!(c.role, Role::Worker);
        assert_eq!(c.temporal.namespace, "ns1");
        assert_eq!(
            c.temporal.task_queue, "orders",
            "untouched keys keep the base value"
        );
        let mut c2 = c.clone();
        c2.apply_env(|k| (k == "TEMPORAL_NAMESPACE").then(|| "ns2".to_owned()))
            .unwrap();
        assert_eq!(c2.temporal.namespace, "ns2");
    }

    #[test]
    fn unknown_key_is_named() {
        let err =
            Config::from_toml_str(Config::default(), "[temporal]\nadress = \"x:1\"\n").unwrap_err();
        assert!(err.to_string().contains("adress"), "{err}");
    }

    #[test]
    fn bad_role_names_field_and_choices() {
        let err = Config::from_toml_str(Config::default(), "role = \"both\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("role") && msg.contains("both"), "{msg}");
    }

    #[test]
    fn bad_env_value_names_variable() {
        let err = Config::load_from(Config::default(), None, |k| {
            (k == "WORKFLOW_SHUTDOWN_GRACE_PERIOD").then(|| "soon".to_owned())
        })
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("WORKFLOW_SHUTDOWN_GRACE_PERIOD") && msg.contains("soon"),
            "{msg}"
        );
    }

    #[test]
    fn compression_follows_tls_unless_set() {
        let mut c = Config::default();
        assert!(!c.gzip(), "plain loopback: no gzip");
        c.temporal.api_key = Some("k".into());
        assert!(c.gzip(), "TLS (here via an API key): gzip");
        let c = Config::from_toml_str(Config::default(), "[temporal]\ncompression = \"gzip\"\n")
            .unwrap();
        assert!(c.gzip());
        let mut c2 = c.clone();
        c2.apply_env(|k| (k == "WORKFLOW_COMPRESSION").then(|| "none".to_owned()))
            .unwrap();
        assert!(!c2.gzip());
        let err = c2
            .apply_env(|k| (k == "WORKFLOW_COMPRESSION").then(|| "zstd".to_owned()))
            .unwrap_err();
        assert!(err.to_string().contains("WORKFLOW_COMPRESSION"), "{err}");
    }

    #[test]
    fn half_mtls_is_rejected() {
        let mut c = Config::default();
        c.temporal.tls.client_cert = Some("/nonexistent.pem".into());
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("temporal.tls.client_key"), "{err}");
    }

    #[test]
    fn embedded_retention_defaults_to_the_dev_servers_and_zero_is_refused() {
        let c = Config::from_toml_str(Config::default(), "[embedded]\nretention = \"72h\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.embedded.retention, Duration::from_secs(72 * 3600));
        assert_eq!(Config::default().embedded.retention, DEFAULT_RETENTION);
        let mut c = Config {
            engine: EngineKind::Embedded,
            ..Config::default()
        };
        c.embedded.retention = Duration::ZERO;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("embedded.retention"), "{err}");
    }

    #[test]
    fn embedded_security_is_checked_field_by_field() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("embedded-security-{}.pem", std::process::id()));
        std::fs::write(&file, "x").unwrap_or_else(|e| panic!("write: {e}"));
        let mut c = Config {
            engine: EngineKind::Embedded,
            ..Config::default()
        };
        c.embedded.api_key_file = Some(file.clone());
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("embedded.api_key_file") && err.contains("tls_cert"),
            "{err}"
        );
        c.embedded.tls_cert = Some(file.clone());
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("embedded.tls_key"), "{err}");
        c.embedded.tls_key = Some(file.clone());
        c.embedded.tls_client_ca = Some(file.clone());
        c.validate().unwrap_or_else(|e| panic!("complete: {e}"));
        let _ = std::fs::remove_file(&file);
    }

    #[test]
    fn api_key_implies_https() {
        let mut c = Config::default();
        c.temporal.api_key = Some("k".into());
        c.temporal.address = "ns.acct.tmprl.cloud:7233".into();
        assert!(c.tls_enabled());
        assert_eq!(c.server_url().unwrap().scheme(), "https");
    }

    #[test]
    fn empty_address_is_rejected() {
        let mut c = Config::default();
        c.temporal.address = "".into();
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("temporal.address"), "{err}");
    }
}
