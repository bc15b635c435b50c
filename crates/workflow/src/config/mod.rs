//! One validated configuration for every role and deployment mode.
//!
//! Sources, later ones winning: the built-in defaults (or the defaults an integration passes
//! in), a TOML file, then the environment. Temporal's own variables (`TEMPORAL_ADDRESS`,
//! `TEMPORAL_NAMESPACE`, `TEMPORAL_API_KEY`, `TEMPORAL_TLS_*`) are honoured so that the same
//! deployment files work with other Temporal tooling; the library's own knobs use `WORKFLOW_*`.
//! [`ENVIRONMENT`] is the one table of every variable, the field it sets and how it is read.
//! [`Config::validate`] names the offending field and says how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::Url;

use crate::console::ConsoleConfig;
use crate::error::ConfigError;

mod embedded;
mod env;

pub use embedded::{EmbeddedConfig, EngineListen};
pub use env::{ENVIRONMENT, EnvVar};

/// Environment variable that names the TOML configuration file.
pub const CONFIG_FILE_ENV: &str = "WORKFLOW_CONFIG";

/// Where the Temporal engine comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
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

impl Config {
    /// Loads the configuration for a process: `base` (the integration's defaults), then the
    /// file named by `file` or by `WORKFLOW_CONFIG`, then the process environment; validated.
    pub fn load(base: Config, file: Option<&Path>) -> Result<Config, ConfigError> {
        let env_file = std::env::var_os(CONFIG_FILE_ENV).map(PathBuf::from);
        let file = file.map(Path::to_path_buf).or(env_file);
        Self::load_from(base, file.as_deref(), |key| std::env::var(key).ok())
    }

    /// Like [`Config::load`], with the environment given as a lookup function (for tests).
    pub fn load_from(
        base: Config,
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => Self::merge_file(base, path)?,
            None => base,
        };
        config.apply_env(env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document on top of `base`: keys present in the document win.
    pub fn from_toml_str(base: Config, text: &str) -> Result<Config, ConfigError> {
        let parse = |source| ConfigError::Parse {
            source_name: "configuration".to_owned(),
            source,
        };
        let overlay: toml::Table = toml::from_str(text).map_err(parse)?;
        let mut merged = toml::Table::try_from(&base).map_err(ConfigError::Defaults)?;
        merge_tables(&mut merged, overlay);
        let mut config: Config = toml::Value::Table(merged).try_into().map_err(parse)?;
        // Secrets are not serialised into the merge view; carry them over unless overridden.
        if config.temporal.api_key.is_none() {
            config.temporal.api_key = base.temporal.api_key;
        }
        config.console.keep_secrets_from(&base.console);
        Ok(config)
    }

    fn merge_file(base: Config, path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(base, &text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                source_name: path.display().to_string(),
                source,
            },
            other => other,
        })
    }

    /// Checks every field; the error names the first bad one and how to fix it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.temporal;
        let invalid = |field: &str, value: &str, fix: &str| ConfigError::Invalid {
            field: field.to_owned(),
            value: value.to_owned(),
            fix: fix.to_owned(),
        };
        if self.engine == EngineKind::Server {
            self.server_url()?;
        }
        if t.namespace.trim().is_empty() {
            return Err(invalid(
                "temporal.namespace",
                &t.namespace,
                "set a namespace, e.g. \"default\"",
            ));
        }
        if t.task_queue.trim().is_empty() {
            return Err(invalid(
                "temporal.task_queue",
                &t.task_queue,
                "set a task queue name, e.g. \"orders\"",
            ));
        }
        if t.connect_timeout.is_zero() {
            return Err(invalid(
                "temporal.connect_timeout",
                "0s",
                "give a positive duration such as \"30s\"",
            ));
        }
        if t.request_timeout.is_zero() {
            return Err(invalid(
                "temporal.request_timeout",
                "0s",
                "give a positive duration such as \"10s\"",
            ));
        }
        match (&t.tls.client_cert, &t.tls.client_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "temporal.tls.client_key",
                    "",
                    "mTLS needs both client_cert and client_key: set client_key (TEMPORAL_TLS_CLIENT_KEY_PATH)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "temporal.tls.client_cert",
                    "",
                    "mTLS needs both client_cert and client_key: set client_cert (TEMPORAL_TLS_CLIENT_CERT_PATH)",
                ));
            }
            _ => {}
        }
        for (field, path) in [
            ("temporal.tls.ca_cert", &t.tls.ca_cert),
            ("temporal.tls.client_cert", &t.tls.client_cert),
            ("temporal.tls.client_key", &t.tls.client_key),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(invalid(
                    field,
                    &path.display().to_string(),
                    "point it at a readable PEM file",
                ));
            }
        }
        if t.tls.enabled == Some(false) && t.api_key.is_some() {
            return Err(invalid(
                "temporal.tls.enabled",
                "false",
                "an API key is only sent over TLS: remove enabled = false or the API key",
            ));
        }
        let w = &self.worker;
        if w.max_concurrent_workflow_tasks < 2 && w.max_cached_workflows > 0 {
            return Err(invalid(
                "worker.max_concurrent_workflow_tasks",
                &w.max_concurrent_workflow_tasks.to_string(),
                "use at least 2 (or set worker.max_cached_workflows = 0)",
            ));
        }
        if w.max_concurrent_activities == 0 {
            return Err(invalid(
                "worker.max_concurrent_activities",
                "0",
                "use at least 1",
            ));
        }
        if self.engine == EngineKind::Embedded {
            self.embedded.validate()?;
        }
        self.console.validate(self.engine)?;
        Ok(())
    }

    /// Whether gRPC calls to Temporal are gzip-compressed.
    pub fn gzip(&self) -> bool {
        match self.temporal.compression {
            Compression::Auto => self.tls_enabled(),
            Compression::Gzip => true,
            Compression::None => false,
        }
    }

    /// Whether TLS is used towards the server.
    pub fn tls_enabled(&self) -> bool {
        let tls = &self.temporal.tls;
        tls.enabled.unwrap_or(
            tls.ca_cert.is_some()
                || tls.client_cert.is_some()
                || tls.server_name.is_some()
                || self.temporal.api_key.is_some(),
        )
    }

    /// The server address as a URL, with the scheme that matches the TLS setting.
    pub fn server_url(&self) -> Result<Url, ConfigError> {
        let address = self.temporal.address.trim();
        let with_scheme = if address.contains("://") {
            address.to_owned()
        } else if self.tls_enabled() {
            format!("https://{address}")
        } else {
            format!("http://{address}")
        };
        let url = Url::parse(&with_scheme).map_err(|e| ConfigError::Invalid {
            field: "temporal.address".to_owned(),
            value: address.to_owned(),
            fix: format!("give host:port such as 127.0.0.1:7233 ({e})"),
        })?;
        if url.host_str().is_none_or(str::is_empty) || url.port_or_known_default().is_none() {
            return Err(ConfigError::Invalid {
                field: "temporal.address".to_owned(),
                value: address.to_owned(),
                fix: "give host:port such as 127.0.0.1:7233".to_owned(),
            });
        }
        Ok(url)
    }
}

fn merge_tables(base: &mut toml::Table, overlay: toml::Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge_tables(b, o),
            (_, v) => {
                base.insert(key, v);
            }
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
