//! Connecting to PostgreSQL: the URL parsed once, a description of the database that never
//! carries the password, TLS through rustls, and the difference between "down for now"
//! (retry) and "wrong password / no such database" (tell the operator).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use postgres::{
    Client, NoTls,
    config::{Host, SslMode},
    error::SqlState,
};

use crate::store::StoreError;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A parsed `postgres://` URL.
#[derive(Clone)]
pub(crate) struct Target {
    config: postgres::Config,
    /// `user@host:port/database`, never the password: what logs and errors show.
    pub(crate) described: String,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.described)
    }
}

impl Target {
    /// Parses `url` (`postgres://` or `postgresql://`, with libpq's parameters such as
    /// `sslmode`).
    pub(crate) fn parse(url: &str) -> Result<Self, StoreError> {
        let mut config: postgres::Config =
            url.parse().map_err(|source| StoreError::InvalidUrl {
                url: redact(url),
                source,
            })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A peer that vanishes without closing the socket is noticed within seconds.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(5))
            .tcp_user_timeout(Duration::from_secs(10))
            .application_name("workflow-engine");
        let described = describe(&config);
        let tls = match config.get_ssl_mode() {
            SslMode::Disable => None,
            _ => Some(rustls_connector()?),
        };
        Ok(Self {
            config,
            described,
            tls,
        })
    }

    /// One connection attempt.
    pub(crate) fn connect_once(&self) -> Result<Client, postgres::Error> {
        match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
    }

    /// Connects, retrying while the server is unreachable or starting, for at most
    /// `within`. Wrong credentials and a missing database fail at once.
    pub(crate) fn connect(&self, within: Duration) -> Result<Client, StoreError> {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.connect_once() {
                Ok(client) => return Ok(client),
                Err(e) => {
                    if let Some(refused) = self.refusal(&e) {
                        return Err(refused);
                    }
                    if Instant::now() + pause >= deadline {
                        return Err(StoreError::Unreachable {
                            database: self.described.clone(),
                            waited: within,
                            source: e,
                        });
                    }
                    tracing::warn!(database = %self.described, "PostgreSQL not reachable yet: {e}");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// A typed error for failures that retrying cannot fix.
    pub(crate) fn refusal(&self, e: &postgres::Error) -> Option<StoreError> {
        let code = e.code()?;
        let user = self.config.get_user().unwrap_or("").to_owned();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Some(StoreError::Authentication {
                database: self.described.clone(),
                user,
            });
        }
        if *code == SqlState::INVALID_CATALOG_NAME {
            return Some(StoreError::MissingDatabase {
                database: self.described.clone(),
                name: self.config.get_dbname().unwrap_or(&user).to_owned(),
            });
        }
        None
    }
}

/// Whether `e` means the connection (or the server) is gone for now, so the same work may
/// succeed on a new connection.
pub(crate) fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No SQLSTATE: an I/O error or a timeout.
        None => true,
        Some(code) => {
            let class = &code.code()[..2];
            // 08 connection exception, 57 operator intervention (shutdown, starting up),
            // 53 insufficient resources, 40 serialization failure / deadlock.
            matches!(class, "08" | "57" | "53" | "40")
        }
    }
}

/// `user@host:port/database` from a parsed config.
fn describe(config: &postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                #[cfg(unix)]
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    let user = config.get_user().unwrap_or("");
    let database = config.get_dbname().unwrap_or(user);
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    format!("postgres://{user}@{hosts}/{database}")
}

/// `url` with any password replaced by `***`, for messages about a URL that did not parse.
pub(crate) fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let start = rest_start + colon + 1;
                out.replace_range(start..rest_start + at, "***");
            }
        }
    }
    if let Some(query) = out.find('?') {
        let (head, params) = out.split_at(query + 1);
        let params: Vec<String> = params
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => p.to_owned(),
            })
            .collect();
        out = format!("{head}{}", params.join("&"));
    }
    out
}

/// TLS with rustls (no OpenSSL), trusting the system's root certificates.
fn rustls_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(StoreError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/engine?sslmode=require"),
            "postgres://app:***@db:5432/engine?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://app@db/engine?password=s3cret&sslmode=disable"),
            "postgresql://app@db/engine?password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://db/engine"), "postgres://db/engine");
    }

    #[test]
    fn the_description_names_user_host_and_database_only() {
        let target = Target::parse("postgres://app:s3cret@db.example:6543/engine?sslmode=disable")
            .unwrap_or_else(|e| panic!("parse: {e}"));
        assert_eq!(target.described, "postgres://app@db.example:6543/engine");
        assert!(!format!("{target:?}").contains("s3cret"));
    }

    #[test]
    fn a_bad_url_is_refused_without_its_password() {
        let Err(e) = Target::parse("postgres://app:s3cret@db:notaport/engine") else {
            panic!("a bad port parsed");
        };
        let message = e.to_string();
        assert!(message.contains("postgres://app:***@db"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
    }
}
