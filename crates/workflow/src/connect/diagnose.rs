//! Telling apart why a connection to Temporal failed, so that start-up says which setting to
//! fix instead of a generic transport error: the server's certificate not trusted or not for
//! this name, a client certificate missing or refused, an API key missing or refused. These
//! fail at once; retrying cannot fix them.

use std::error::Error as StdError;

use rustls::{AlertDescription, CertificateError};
use temporalio_client::errors::ClientConnectError;
use temporalio_client::tonic::{Code, Status};

use crate::config::Config;

/// Why retrying will not help, in words that name the setting to change.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The TLS handshake failed.
    Tls(String),
    /// The server refused the request's credentials.
    Credentials(String),
}

/// A refusal that retrying cannot fix, if `error` is one.
pub(crate) fn refusal(error: &ClientConnectError, config: &Config) -> Option<Refusal> {
    if let ClientConnectError::SystemInfoCallError(status) = error {
        return status_refusal(status, config);
    }
    let tls = chain(error).find_map(tls_error)?;
    Some(Refusal::Tls(explain_tls(&tls, config)))
}

/// The same for a status (the namespace check, the first call after connecting).
pub(crate) fn status_refusal(status: &Status, config: &Config) -> Option<Refusal> {
    credentials(status, config).or_else(|| {
        let tls = chain(status).find_map(tls_error)?;
        Some(Refusal::Tls(explain_tls(&tls, config)))
    })
}

fn credentials(status: &Status, config: &Config) -> Option<Refusal> {
    let said = status.message();
    if !matches!(
        status.code(),
        Code::Unauthenticated | Code::PermissionDenied
    ) {
        return None;
    }
    Some(Refusal::Credentials(if config.temporal.api_key.is_some() {
        format!(
            "the server refused the API key ({said}): set temporal.api_key (TEMPORAL_API_KEY) to a valid key"
        )
    } else {
        format!("the server needs an API key ({said}): set temporal.api_key (TEMPORAL_API_KEY)")
    }))
}

fn chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |e: &&'a (dyn StdError + 'static)| {
        (*e).source()
    })
}

fn tls_error(error: &(dyn StdError + 'static)) -> Option<rustls::Error> {
    if let Some(tls) = error.downcast_ref::<rustls::Error>() {
        return Some(tls.clone());
    }
    let io = error.downcast_ref::<std::io::Error>()?;
    let inner = io.get_ref()?;
    if let Some(tls) = inner.downcast_ref::<rustls::Error>() {
        return Some(tls.clone());
    }
    // An alert that arrives after the handshake (TLS 1.3 sends "certificate required" then)
    // reaches the client only as the text of an I/O error.
    let text = inner.to_string();
    let name = text.strip_prefix("received fatal alert: ")?;
    [
        AlertDescription::CertificateRequired,
        AlertDescription::BadCertificate,
        AlertDescription::UnknownCA,
        AlertDescription::CertificateUnknown,
        AlertDescription::UnsupportedCertificate,
        AlertDescription::CertificateExpired,
        AlertDescription::CertificateRevoked,
        AlertDescription::HandshakeFailure,
        AlertDescription::AccessDenied,
        AlertDescription::DecryptError,
    ]
    .into_iter()
    .find(|alert| format!("{alert:?}") == name.trim())
    .map(rustls::Error::AlertReceived)
}

fn explain_tls(error: &rustls::Error, config: &Config) -> String {
    const CA: &str = "temporal.tls.ca_cert (TEMPORAL_TLS_SERVER_CA_CERT_PATH)";
    const CLIENT: &str = "temporal.tls.client_cert and temporal.tls.client_key (TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH)";
    let trusted = match &config.temporal.tls.ca_cert {
        Some(path) => format!("the CA in {}", path.display()),
        None => "the system's root CAs".to_owned(),
    };
    match error {
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature,
        ) => format!(
            "TLS: the server's certificate is not signed by {trusted}: set {CA} to the CA that signed it"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "TLS: the server's certificate is not valid for the name this client checks ({}): set temporal.tls.server_name (TEMPORAL_TLS_SERVER_NAME) to a name in the certificate",
            config
                .temporal
                .tls
                .server_name
                .clone()
                .unwrap_or_else(|| format!("the host of {}", config.temporal.address))
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => "TLS: the server's certificate has expired or is not valid yet (or this machine's clock is wrong): renew it".to_owned(),
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure,
        ) if config.temporal.tls.client_cert.is_none() => {
            format!("TLS: the server requires a client certificate (mutual TLS): set {CLIENT}")
        }
        rustls::Error::AlertReceived(alert) => format!(
            "TLS: the server refused this client's certificate ({alert:?}): give {CLIENT} a certificate signed by the CA the server trusts for clients"
        ),
        rustls::Error::InvalidMessage(_) => {
            "TLS: the server does not answer in TLS: turn TLS off (temporal.tls.enabled = false, TEMPORAL_TLS=false) or turn it on at the server".to_owned()
        }
        other => format!("TLS: {other}: check temporal.tls.*"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tls_failure_names_its_setting() {
        let config = Config::default();
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(explain_tls(&unknown, &config).contains("temporal.tls.ca_cert"));
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(explain_tls(&name, &config).contains("temporal.tls.server_name"));
        let required = rustls::Error::AlertReceived(AlertDescription::CertificateRequired);
        assert!(explain_tls(&required, &config).contains("requires a client certificate"));
    }

    #[test]
    fn an_alert_known_only_by_its_text_is_recognised() {
        let io = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received fatal alert: CertificateRequired",
        );
        assert_eq!(
            tls_error(&io),
            Some(rustls::Error::AlertReceived(
                AlertDescription::CertificateRequired
            ))
        );
        let other = std::io::Error::other("connection reset");
        assert_eq!(tls_error(&other), None);
    }

    #[test]
    fn an_unauthenticated_answer_says_whether_a_key_was_sent() {
        let mut config = Config::default();
        let status = Status::unauthenticated("no API key");
        let missing = credentials(&status, &config);
        assert!(
            matches!(&missing, Some(Refusal::Credentials(m)) if m.contains("needs an API key"))
        );
        config.temporal.api_key = Some("k".into());
        let wrong = credentials(&status, &config);
        assert!(
            matches!(&wrong, Some(Refusal::Credentials(m)) if m.contains("refused the API key"))
        );
        assert_eq!(credentials(&Status::unavailable("down"), &config), None);
    }
}
