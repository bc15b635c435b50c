//! Loading a [`Config`]: the defaults, then a TOML file, then the environment, merged and
//! validated (each error names the field and the fix).

use std::path::{Path, PathBuf};

use temporalio_client::Url;

use super::{CONFIG_FILE_ENV, Compression, Config, EngineKind};
use crate::error::ConfigError;

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
