//! The environment's part of the configuration: one table, [`ENVIRONMENT`], of every
//! variable, the field it sets and how its value is read. Applying the environment is a walk
//! over the table; the table is also what documents the variables (a test checks that the
//! README names each one).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::{Compression, Config, EngineKind, EngineListen, Role};
use crate::error::ConfigError;

/// One environment variable: its name, the field it sets, and how its value is read.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable, e.g. `TEMPORAL_ADDRESS`.
    pub name: &'static str,
    /// The field it sets, as its TOML path, e.g. `temporal.address`.
    pub field: &'static str,
    apply: fn(&mut Config, &'static str, &str) -> Result<(), ConfigError>,
}

/// `var!("NAME", path.to.field, parser)`: the variable `NAME` sets `config.path.to.field` to
/// `parser("NAME", value)?`.
macro_rules! var {
    ($name:literal, $($field:ident).+, $parse:expr) => {
        EnvVar {
            name: $name,
            field: stringify!($($field).+),
            apply: |config, name, value| {
                config.$($field).+ = $parse(name, value)?;
                Ok(())
            },
        }
    };
}

/// Every environment variable the library reads, in the order it applies them, with the
/// field each one sets. An empty value counts as unset. Temporal's own names are used where
/// Temporal has one, so the same deployment files work with other Temporal tooling.
#[rustfmt::skip]
pub const ENVIRONMENT: &[EnvVar] = &[
    var!("WORKFLOW_ENGINE",                        engine,                               engine_kind),
    var!("WORKFLOW_ROLE",                          role,                                 role),
    var!("TEMPORAL_ADDRESS",                       temporal.address,                     text),
    var!("TEMPORAL_NAMESPACE",                     temporal.namespace,                   text),
    var!("WORKFLOW_TASK_QUEUE",                    temporal.task_queue,                  text),
    var!("TEMPORAL_API_KEY",                       temporal.api_key,                     some_text),
    var!("TEMPORAL_TLS",                           temporal.tls.enabled,                 some_bool),
    var!("TEMPORAL_TLS_SERVER_CA_CERT_PATH",       temporal.tls.ca_cert,                 some_path),
    var!("TEMPORAL_TLS_CLIENT_CERT_PATH",          temporal.tls.client_cert,             some_path),
    var!("TEMPORAL_TLS_CLIENT_KEY_PATH",           temporal.tls.client_key,              some_path),
    var!("TEMPORAL_TLS_SERVER_NAME",               temporal.tls.server_name,             some_text),
    var!("WORKFLOW_CONNECT_TIMEOUT",               temporal.connect_timeout,             duration),
    var!("WORKFLOW_REQUEST_TIMEOUT",               temporal.request_timeout,             duration),
    var!("WORKFLOW_COMPRESSION",                   temporal.compression,                 compression),
    var!("WORKFLOW_MAX_CONCURRENT_WORKFLOW_TASKS", worker.max_concurrent_workflow_tasks, count),
    var!("WORKFLOW_MAX_CONCURRENT_ACTIVITIES",     worker.max_concurrent_activities,     count),
    var!("WORKFLOW_MAX_CACHED_WORKFLOWS",          worker.max_cached_workflows,          count),
    var!("WORKFLOW_SHUTDOWN_GRACE_PERIOD",         worker.shutdown_grace_period,         duration),
    var!("WORKFLOW_EAGER_EXECUTION",               worker.eager_execution,               boolean),
    var!("WORKFLOW_ENGINE_DB",                     embedded.database,                    some_path),
    var!("WORKFLOW_ENGINE_LISTEN",                 embedded.listen,                      engine_listen),
    var!("WORKFLOW_ENGINE_TLS_CERT",               embedded.tls_cert,                    some_path),
    var!("WORKFLOW_ENGINE_TLS_KEY",                embedded.tls_key,                     some_path),
    var!("WORKFLOW_ENGINE_TLS_CLIENT_CA",          embedded.tls_client_ca,               some_path),
    var!("WORKFLOW_ENGINE_API_KEY_FILE",           embedded.api_key_file,                some_path),
    var!("WORKFLOW_ENGINE_RETENTION",              embedded.retention,                   duration),
    var!("WORKFLOW_HEALTH_LISTEN",                 health.listen,                        health_listen),
    EnvVar { name: "WORKFLOW_CONSOLE_LISTEN", field: "console.listen", apply: console_listen },
    var!("WORKFLOW_CONSOLE_API_KEYS",              console.api_keys,                     list),
    var!("WORKFLOW_CONSOLE_USERNAME",              console.username,                     some_text),
    var!("WORKFLOW_CONSOLE_PASSWORD",              console.password,                     some_text),
    var!("WORKFLOW_CONSOLE_READ_ONLY",             console.read_only,                    boolean),
];

impl Config {
    /// Applies every variable of [`ENVIRONMENT`] that `env` has a non-empty value for.
    pub(crate) fn apply_env(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        for var in ENVIRONMENT {
            if let Some(value) = env(var.name).filter(|v| !v.trim().is_empty()) {
                (var.apply)(self, var.name, &value)?;
            }
        }
        Ok(())
    }
}

fn engine_kind(name: &str, value: &str) -> Result<EngineKind, ConfigError> {
    parse_enum(
        name,
        value,
        &[
            ("server", EngineKind::Server),
            ("embedded", EngineKind::Embedded),
        ],
    )
}

fn role(name: &str, value: &str) -> Result<Role, ConfigError> {
    parse_enum(
        name,
        value,
        &[
            ("all", Role::All),
            ("api", Role::Api),
            ("worker", Role::Worker),
        ],
    )
}

fn compression(name: &str, value: &str) -> Result<Compression, ConfigError> {
    parse_enum(
        name,
        value,
        &[
            ("auto", Compression::Auto),
            ("gzip", Compression::Gzip),
            ("none", Compression::None),
        ],
    )
}

fn text(_: &str, value: &str) -> Result<String, ConfigError> {
    Ok(value.to_owned())
}

fn some_text(_: &str, value: &str) -> Result<Option<String>, ConfigError> {
    Ok(Some(value.to_owned()))
}

fn some_path(_: &str, value: &str) -> Result<Option<PathBuf>, ConfigError> {
    Ok(Some(PathBuf::from(value)))
}

fn boolean(name: &str, value: &str) -> Result<bool, ConfigError> {
    parse_enum(
        name,
        value,
        &[
            ("true", true),
            ("1", true),
            ("yes", true),
            ("false", false),
            ("0", false),
            ("no", false),
        ],
    )
}

fn some_bool(name: &str, value: &str) -> Result<Option<bool>, ConfigError> {
    boolean(name, value).map(Some)
}

/// A comma-separated list; empty items are dropped.
fn list(_: &str, value: &str) -> Result<Vec<String>, ConfigError> {
    Ok(value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `off` (or `false`, `none`) turns the console off; an address turns it on there.
fn console_listen(config: &mut Config, name: &'static str, value: &str) -> Result<(), ConfigError> {
    let console = &mut config.console;
    match value.trim().to_ascii_lowercase().as_str() {
        "off" | "false" | "none" => console.enabled = Some(false),
        _ => {
            console.listen = Some(value.trim().parse().map_err(|_| ConfigError::Invalid {
                field: name.to_owned(),
                value: value.to_owned(),
                fix: "give a socket address such as 127.0.0.1:8233 (port 0 picks a free port), or \"off\"".to_owned(),
            })?);
            console.enabled = Some(true);
        }
    }
    Ok(())
}

fn duration(name: &str, value: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(value.trim()).map_err(|e| ConfigError::Invalid {
        field: name.to_owned(),
        value: value.to_owned(),
        fix: format!("give a duration such as \"30s\" or \"2m\" ({e})"),
    })
}

fn count(name: &str, value: &str) -> Result<usize, ConfigError> {
    value.trim().parse().map_err(|_| ConfigError::Invalid {
        field: name.to_owned(),
        value: value.to_owned(),
        fix: "give a whole number".to_owned(),
    })
}

fn engine_listen(name: &str, value: &str) -> Result<EngineListen, ConfigError> {
    value.parse().map_err(|fix: &str| ConfigError::Invalid {
        field: name.to_owned(),
        value: value.to_owned(),
        fix: fix.to_owned(),
    })
}

fn health_listen(name: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    socket(name, value, "0.0.0.0:9090")
}

fn socket(name: &str, value: &str, example: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| ConfigError::Invalid {
        field: name.to_owned(),
        value: value.to_owned(),
        fix: format!("give a socket address such as {example} (port 0 picks a free port)"),
    })
}

fn parse_enum<T: Copy>(name: &str, value: &str, choices: &[(&str, T)]) -> Result<T, ConfigError> {
    let wanted = value.trim().to_ascii_lowercase();
    choices
        .iter()
        .find(|(choice, _)| *choice == wanted)
        .map(|(_, v)| *v)
        .ok_or_else(|| ConfigError::Invalid {
            field: name.to_owned(),
            value: value.to_owned(),
            fix: format!(
                "use one of: {}",
                choices
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_sets_its_field() {
        let mut c = Config::default();
        c.apply_env(|k| {
            let v = match k {
                "WORKFLOW_ENGINE" => "embedded",
                "WORKFLOW_ROLE" => "api",
                "TEMPORAL_TLS" => "no",
                "TEMPORAL_API_KEY" | "TEMPORAL_TLS_SERVER_CA_CERT_PATH" => return None,
                "TEMPORAL_TLS_CLIENT_CERT_PATH" | "TEMPORAL_TLS_CLIENT_KEY_PATH" => return None,
                "WORKFLOW_CONNECT_TIMEOUT" | "WORKFLOW_REQUEST_TIMEOUT" => "7s",
                "WORKFLOW_SHUTDOWN_GRACE_PERIOD" => "3s",
                "WORKFLOW_ENGINE_RETENTION" => "72h",
                "WORKFLOW_COMPRESSION" => "gzip",
                "WORKFLOW_MAX_CONCURRENT_WORKFLOW_TASKS" => "7",
                "WORKFLOW_MAX_CONCURRENT_ACTIVITIES" | "WORKFLOW_MAX_CACHED_WORKFLOWS" => "7",
                "WORKFLOW_ENGINE_LISTEN" | "WORKFLOW_HEALTH_LISTEN" => "127.0.0.1:7",
                "WORKFLOW_CONSOLE_LISTEN" => "127.0.0.1:7",
                "WORKFLOW_CONSOLE_API_KEYS" => "key-one-1234, key-two-1234,,",
                "WORKFLOW_CONSOLE_READ_ONLY" => "yes",
                "WORKFLOW_EAGER_EXECUTION" => "no",
                _ => "seven",
            };
            Some(v.to_owned())
        })
        .unwrap();
        assert_eq!(c.engine, EngineKind::Embedded);
        assert_eq!(c.role, Role::Api);
        assert_eq!(c.temporal.address, "seven");
        assert_eq!(c.temporal.namespace, "seven");
        assert_eq!(c.temporal.task_queue, "seven");
        assert_eq!(c.temporal.tls.enabled, Some(false));
        assert_eq!(c.temporal.tls.server_name.as_deref(), Some("seven"));
        assert_eq!(c.temporal.connect_timeout, Duration::from_secs(7));
        assert_eq!(c.temporal.request_timeout, Duration::from_secs(7));
        assert_eq!(c.temporal.compression, Compression::Gzip);
        assert_eq!(c.worker.max_concurrent_workflow_tasks, 7);
        assert_eq!(c.worker.max_concurrent_activities, 7);
        assert_eq!(c.worker.max_cached_workflows, 7);
        assert_eq!(c.worker.shutdown_grace_period, Duration::from_secs(3));
        assert!(!c.worker.eager_execution);
        assert_eq!(c.embedded.database, Some(PathBuf::from("seven")));
        assert_eq!(
            c.embedded.listen,
            EngineListen::At(([127, 0, 0, 1], 7).into())
        );
        assert_eq!(c.embedded.retention, Duration::from_secs(72 * 3600));
        assert_eq!(c.health.listen, SocketAddr::from(([127, 0, 0, 1], 7)));
        assert_eq!(c.console.enabled, Some(true));
        assert_eq!(
            c.console.listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 7)))
        );
        assert_eq!(c.console.api_keys, ["key-one-1234", "key-two-1234"]);
        assert_eq!(c.console.username.as_deref(), Some("seven"));
        assert_eq!(c.console.password.as_deref(), Some("seven"));
        assert!(c.console.read_only);
        let mut c = Config::default();
        c.apply_env(|k| match k {
            "TEMPORAL_API_KEY" => Some("k".to_owned()),
            "TEMPORAL_TLS_SERVER_CA_CERT_PATH" => Some("ca.pem".to_owned()),
            "TEMPORAL_TLS_CLIENT_CERT_PATH" => Some("c.pem".to_owned()),
            "TEMPORAL_TLS_CLIENT_KEY_PATH" => Some("c.key".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.temporal.api_key.as_deref(), Some("k"));
        assert_eq!(c.temporal.tls.ca_cert, Some(PathBuf::from("ca.pem")));
        assert_eq!(c.temporal.tls.client_cert, Some(PathBuf::from("c.pem")));
        assert_eq!(c.temporal.tls.client_key, Some(PathBuf::from("c.key")));
    }

    #[test]
    fn the_table_is_the_documentation() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"));
        let mut seen = std::collections::HashSet::new();
        for var in ENVIRONMENT {
            assert!(seen.insert(var.name), "{} listed twice", var.name);
            let key = var.field.rsplit('.').next().unwrap_or(var.field);
            assert!(
                readme
                    .lines()
                    .any(|l| l.contains(var.name) && l.contains(key))
                    || var.name == "TEMPORAL_TLS" && readme.contains("TEMPORAL_TLS=true|false"),
                "README.md's configuration block does not document {} ({})",
                var.name,
                var.field
            );
        }
    }
}
