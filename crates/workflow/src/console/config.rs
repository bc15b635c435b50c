//! The `[console]` section: where the console listens, who may use it, whether it may write.
//!
//! On by default in demo mode (`engine = "embedded"`) at `127.0.0.1:8233`, off elsewhere
//! unless `listen` (or `enabled = true`) is set. A console on a non-loopback address must
//! have API keys or a basic-auth user; start-up refuses otherwise. Secrets are never
//! serialised and never shown by `Debug`.

use std::net::{Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use crate::config::EngineKind;
use crate::error::ConfigError;

/// Where the console listens when on and `listen` is not set (start-dev's UI port).
pub const DEFAULT_CONSOLE_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 8233);

/// The workflow console: management JSON API and web pages on their own listener.
#[derive(Clone, Serialize, Deserialize, Default, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Force the console on or off. Unset: on in demo mode or when `listen` is set.
    pub enabled: Option<bool>,
    /// Socket address to serve on. Default `127.0.0.1:8233`; port 0 picks a free port.
    pub listen: Option<SocketAddr>,
    /// API keys accepted in the `x-api-key` header (or `Authorization: Bearer`). Never
    /// serialised or logged.
    #[serde(skip_serializing)]
    pub api_keys: Vec<String>,
    /// Basic-auth user name (with `password`).
    pub username: Option<String>,
    /// Basic-auth password (with `username`). Never serialised or logged.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Refuse signal, cancel and terminate (403).
    pub read_only: bool,
}

impl std::fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field(
                "api_keys",
                &format_args!("<{} hidden>", self.api_keys.len()),
            )
            .field("username", &self.username)
            .field(
                "password",
                &format_args!(
                    "{}",
                    if self.password.is_some() {
                        "<hidden>"
                    } else {
                        "None"
                    }
                ),
            )
            .field("read_only", &self.read_only)
            .finish()
    }
}

impl ConsoleConfig {
    /// The address the console serves on, or `None` when it is off.
    pub fn effective_listen(&self, engine: EngineKind) -> Option<SocketAddr> {
        let on = self
            .enabled
            .unwrap_or(self.listen.is_some() || engine == EngineKind::Embedded);
        on.then(|| self.listen.unwrap_or(DEFAULT_CONSOLE_LISTEN))
    }

    /// Whether any credential is configured.
    pub fn has_auth(&self) -> bool {
        !self.api_keys.is_empty() || self.username.is_some()
    }

    /// Keeps the secrets of `base` that the TOML merge view does not carry.
    pub(crate) fn keep_secrets_from(&mut self, base: &ConsoleConfig) {
        if self.api_keys.is_empty() {
            self.api_keys = base.api_keys.clone();
        }
        if self.password.is_none() {
            self.password = base.password.clone();
        }
    }

    /// Checks the section; the error names the field and the fix.
    pub(crate) fn validate(&self, engine: EngineKind) -> Result<(), ConfigError> {
        let invalid = |field: &str, value: String, fix: String| ConfigError::Invalid {
            field: field.to_owned(),
            value,
            fix,
        };
        if self.api_keys.iter().any(|k| k.trim().len() < 8) {
            return Err(invalid(
                "console.api_keys",
                "<hidden>".to_owned(),
                "each API key needs at least 8 characters".to_owned(),
            ));
        }
        match (&self.username, &self.password) {
            (Some(u), Some(p)) if u.trim().is_empty() || u.contains(':') || p.is_empty() => {
                return Err(invalid(
                    "console.username",
                    u.clone(),
                    "basic auth needs a non-empty user name without ':' and a non-empty password"
                        .to_owned(),
                ));
            }
            (Some(u), None) => {
                return Err(invalid(
                    "console.password",
                    String::new(),
                    format!(
                        "console.username = {u:?} needs console.password (WORKFLOW_CONSOLE_PASSWORD)"
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "console.username",
                    String::new(),
                    "console.password needs console.username (WORKFLOW_CONSOLE_USERNAME)"
                        .to_owned(),
                ));
            }
            _ => {}
        }
        if let Some(listen) = self.effective_listen(engine)
            && !listen.ip().is_loopback()
            && !self.has_auth()
        {
            return Err(invalid(
                "console.listen",
                listen.to_string(),
                "a console on a non-loopback address needs credentials: set console.api_keys (WORKFLOW_CONSOLE_API_KEYS) or console.username and console.password (WORKFLOW_CONSOLE_USERNAME, WORKFLOW_CONSOLE_PASSWORD), or listen on 127.0.0.1".to_owned(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[test]
    fn on_by_default_only_in_demo_mode() {
        let c = ConsoleConfig::default();
        assert_eq!(
            c.effective_listen(EngineKind::Embedded),
            Some(DEFAULT_CONSOLE_LISTEN)
        );
        assert_eq!(c.effective_listen(EngineKind::Server), None);
        let mut c = crate::Config::default();
        c.apply_env(env(&[("WORKFLOW_CONSOLE_LISTEN", "127.0.0.1:9999")]))
            .unwrap();
        assert_eq!(
            c.console.effective_listen(EngineKind::Server),
            Some("127.0.0.1:9999".parse().unwrap())
        );
        c.apply_env(env(&[("WORKFLOW_CONSOLE_LISTEN", "off")]))
            .unwrap();
        assert_eq!(c.console.effective_listen(EngineKind::Embedded), None);
    }

    #[test]
    fn non_loopback_needs_credentials_and_names_the_setting() {
        let mut c = ConsoleConfig {
            listen: Some("0.0.0.0:8233".parse().unwrap()),
            ..ConsoleConfig::default()
        };
        let err = c.validate(EngineKind::Server).unwrap_err().to_string();
        assert!(
            err.contains("console.listen") && err.contains("console.api_keys"),
            "{err}"
        );
        c.api_keys = vec!["a-long-enough-key".to_owned()];
        c.validate(EngineKind::Server).unwrap();
    }

    #[test]
    fn secrets_are_not_in_debug_or_serialised() {
        let c = ConsoleConfig {
            api_keys: vec!["secret-key-1234".to_owned()],
            username: Some("ops".to_owned()),
            password: Some("hunter2-password".to_owned()),
            ..ConsoleConfig::default()
        };
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("secret-key-1234") && !debug.contains("hunter2"),
            "{debug}"
        );
        let toml = toml::to_string(&c).unwrap();
        assert!(
            !toml.contains("secret-key-1234") && !toml.contains("hunter2"),
            "{toml}"
        );
    }

    #[test]
    fn secrets_survive_the_file_merge() {
        let text = "[console]\nlisten = \"0.0.0.0:8233\"\napi_keys = [\"file-key-123456\"]\nusername = \"ops\"\npassword = \"file-password\"\nread_only = true\n";
        let c = crate::Config::from_toml_str(crate::Config::default(), text).unwrap();
        assert_eq!(c.console.api_keys, ["file-key-123456"]);
        assert_eq!(c.console.password.as_deref(), Some("file-password"));
        assert!(c.console.read_only);
        c.validate().unwrap();
        // Keys given by the integration's defaults are kept when the file does not set them.
        let again = crate::Config::from_toml_str(c, "[console]\nread_only = false\n").unwrap();
        assert_eq!(again.console.api_keys, ["file-key-123456"]);
        assert!(!again.console.read_only);
    }

    #[test]
    fn bad_values_are_named() {
        let mut c = crate::Config::default();
        let err = c
            .apply_env(env(&[("WORKFLOW_CONSOLE_LISTEN", "everywhere")]))
            .unwrap_err();
        assert!(err.to_string().contains("WORKFLOW_CONSOLE_LISTEN"), "{err}");
        let c = ConsoleConfig {
            username: Some("ops".to_owned()),
            ..ConsoleConfig::default()
        };
        let err = c.validate(EngineKind::Server).unwrap_err();
        assert!(err.to_string().contains("console.password"), "{err}");
    }
}
