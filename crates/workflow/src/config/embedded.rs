//! The `[embedded]` section: the engine started inside the process in demo mode, where it
//! persists, whether and where it listens for other processes, and how that listener is
//! secured. This process's own client and worker reach the engine in process, without a
//! socket, whatever the listener.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ConfigError;

/// Where the embedded engine listens for other processes (the `temporal` CLI, other SDKs):
/// `"off"` or a socket address. This process's own client never needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineListen {
    /// No TCP listener: the engine is reached only from this process.
    Off,
    /// A TCP listener at this address (port 0 picks a free port).
    At(SocketAddr),
}

impl EngineListen {
    /// The address to listen on, `None` when off.
    pub fn address(self) -> Option<SocketAddr> {
        match self {
            EngineListen::Off => None,
            EngineListen::At(address) => Some(address),
        }
    }
}

impl From<SocketAddr> for EngineListen {
    fn from(address: SocketAddr) -> Self {
        EngineListen::At(address)
    }
}

/// What a bad `embedded.listen` value should be instead.
const LISTEN_FIX: &str = "give a socket address such as 127.0.0.1:7233 (port 0 picks a free port), or \"off\" for no listener";

impl FromStr for EngineListen {
    type Err = &'static str;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if ["off", "false", "none"].contains(&value.to_ascii_lowercase().as_str()) {
            return Ok(EngineListen::Off);
        }
        value.parse().map(EngineListen::At).map_err(|_| LISTEN_FIX)
    }
}

impl fmt::Display for EngineListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineListen::Off => f.write_str("off"),
            EngineListen::At(address) => address.fmt(f),
        }
    }
}

impl Serialize for EngineListen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EngineListen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map_err(|fix| serde::de::Error::custom(format!("embedded.listen = {text:?}: {fix}")))
    }
}

/// The engine started inside the process in demo mode.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Where the engine persists: a SQLite file, or a PostgreSQL database given as a
    /// `postgres://` / `postgresql://` URL (its password is never logged). Unset keeps
    /// everything in memory (lost on exit).
    pub database: Option<PathBuf>,
    /// Where the engine listens for other processes: a socket address, or `"off"` for no
    /// TCP listener at all. Default `127.0.0.1:0` (loopback, a free port), so the `temporal`
    /// CLI can attach.
    pub listen: EngineListen,
    /// PEM certificate the engine's listener serves TLS with; needs `tls_key`.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// PEM CA that client certificates must be signed by (mutual TLS); needs `tls_cert`.
    pub tls_client_ca: Option<PathBuf>,
    /// File of API keys, one a line: every request must carry one (`authorization: Bearer
    /// <key>`), on the listener and in process. Needs `tls_cert`. This process's own client
    /// sends `temporal.api_key`, or the file's first key.
    pub api_key_file: Option<PathBuf>,
    /// How long the namespace the engine creates keeps a closed workflow (its history and
    /// visibility record) before deleting it. Default 24 h, what `temporal server
    /// start-dev` gives; applied when the namespace is created (change an existing one with
    /// `temporal operator namespace update --retention`).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

/// The retention `temporal server start-dev` gives its namespaces.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            database: None,
            listen: EngineListen::At(SocketAddr::from(([127, 0, 0, 1], 0))),
            tls_cert: None,
            tls_key: None,
            tls_client_ca: None,
            api_key_file: None,
            retention: DEFAULT_RETENTION,
        }
    }
}

impl EmbeddedConfig {
    /// Checks the security fields of the embedded engine against each other.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, value: &str, fix: &str| ConfigError::Invalid {
            field: field.to_owned(),
            value: value.to_owned(),
            fix: fix.to_owned(),
        };
        let shown = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        if self.retention.is_zero() {
            return Err(invalid(
                "embedded.retention",
                "0s",
                "give how long closed workflows are kept, such as \"24h\" or \"7d\" (WORKFLOW_ENGINE_RETENTION)",
            ));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(invalid(
                    "embedded.tls_key",
                    "",
                    "TLS needs both tls_cert and tls_key: set tls_key (WORKFLOW_ENGINE_TLS_KEY)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "embedded.tls_cert",
                    "",
                    "TLS needs both tls_cert and tls_key: set tls_cert (WORKFLOW_ENGINE_TLS_CERT)",
                ));
            }
            _ => {}
        }
        if self.tls_cert.is_none() && self.tls_client_ca.is_some() {
            return Err(invalid(
                "embedded.tls_client_ca",
                &shown(&self.tls_client_ca),
                "client certificates need TLS: set embedded.tls_cert and embedded.tls_key too",
            ));
        }
        if self.tls_cert.is_none() && self.api_key_file.is_some() {
            return Err(invalid(
                "embedded.api_key_file",
                &shown(&self.api_key_file),
                "API keys are sent only over TLS: set embedded.tls_cert and embedded.tls_key too",
            ));
        }
        for (field, path) in [
            ("embedded.tls_cert", &self.tls_cert),
            ("embedded.tls_key", &self.tls_key),
            ("embedded.tls_client_ca", &self.tls_client_ca),
            ("embedded.api_key_file", &self.api_key_file),
        ] {
            if let Some(path) = path
                && !path.is_file()
            {
                return Err(invalid(
                    field,
                    &path.display().to_string(),
                    "point it at a readable file",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EngineKind};

    #[test]
    fn listen_takes_an_address_or_off_and_names_the_field_otherwise() {
        let c = Config::from_toml_str(Config::default(), "[embedded]\nlisten = \"off\"\n")
            .unwrap_or_else(|e| panic!("off: {e}"));
        assert_eq!(c.embedded.listen, EngineListen::Off);
        let c = Config::from_toml_str(Config::default(), "[embedded]\nlisten = \"127.0.0.1:7\"\n")
            .unwrap_or_else(|e| panic!("address: {e}"));
        assert_eq!(
            c.embedded.listen.address(),
            Some(([127, 0, 0, 1], 7).into())
        );
        assert_eq!(
            Config::default().embedded.listen,
            EngineListen::At(([127, 0, 0, 1], 0).into()),
            "on by default, on loopback"
        );
        let err = Config::from_toml_str(Config::default(), "[embedded]\nlisten = \"nowhere\"\n")
            .expect_err("not an address")
            .to_string();
        assert!(
            err.contains("embedded.listen") && err.contains("nowhere") && err.contains("off"),
            "{err}"
        );
        let err = Config::load_from(Config::default(), None, |k| {
            (k == "WORKFLOW_ENGINE_LISTEN").then(|| "port 80".to_owned())
        })
        .expect_err("not an address")
        .to_string();
        assert!(
            err.contains("WORKFLOW_ENGINE_LISTEN") && err.contains("off"),
            "{err}"
        );
        let c = Config::load_from(Config::default(), None, |k| {
            (k == "WORKFLOW_ENGINE_LISTEN").then(|| "OFF".to_owned())
        })
        .unwrap_or_else(|e| panic!("off: {e}"));
        assert_eq!(c.embedded.listen, EngineListen::Off);
        let written = toml::to_string(&Config {
            engine: EngineKind::Embedded,
            ..c
        })
        .unwrap_or_else(|e| panic!("serialise: {e}"));
        assert!(written.contains("listen = \"off\""), "{written}");
    }
}
