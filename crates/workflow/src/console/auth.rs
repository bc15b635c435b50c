//! Who may use the console: API keys (`x-api-key: KEY` or `Authorization: Bearer KEY`) and/or
//! one basic-auth user, from `[console]`. With neither configured (allowed only on a
//! loopback address) every request passes. Credentials are compared in constant time and
//! never logged.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::config::ConsoleConfig;
use super::error::ConsoleError;

/// The credentials the console accepts.
#[derive(Clone, Default)]
pub(crate) struct Auth {
    api_keys: Vec<String>,
    basic: Option<(String, String)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field(
                "api_keys",
                &format_args!("<{} hidden>", self.api_keys.len()),
            )
            .field("basic_user", &self.basic.as_ref().map(|(user, _)| user))
            .finish()
    }
}

impl Auth {
    pub(crate) fn from_config(config: &ConsoleConfig) -> Self {
        Auth {
            api_keys: config.api_keys.clone(),
            basic: config.username.clone().zip(config.password.clone()),
        }
    }

    fn required(&self) -> bool {
        !self.api_keys.is_empty() || self.basic.is_some()
    }

    /// Checks the request's headers.
    pub(crate) fn check(&self, headers: &HeaderMap) -> Result<(), ConsoleError> {
        if !self.required() {
            return Ok(());
        }
        let unauthorized = |message: &str| ConsoleError::Unauthorized {
            message: message.to_owned(),
            basic: self.basic.is_some(),
        };
        let authorization = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let key = headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .or_else(|| authorization.and_then(|a| a.strip_prefix("Bearer ")));
        if let Some(key) = key {
            return if self.api_keys.iter().any(|k| same(k, key.trim())) {
                Ok(())
            } else {
                Err(unauthorized("the API key is not valid"))
            };
        }
        if let Some(encoded) = authorization.and_then(|a| a.strip_prefix("Basic ")) {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            let ok = match (
                &self.basic,
                decoded.as_deref().and_then(|d| d.split_once(':')),
            ) {
                (Some((user, password)), Some((u, p))) => same(user, u) & same(password, p),
                _ => false,
            };
            return if ok {
                Ok(())
            } else {
                Err(unauthorized("the user name or password is not valid"))
            };
        }
        Err(unauthorized(
            "credentials required: send the x-api-key header (or Authorization: Bearer) or basic auth, as configured in [console]",
        ))
    }
}

/// Equal in time that depends only on the lengths.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Middleware: refuses requests without valid credentials.
pub(crate) async fn require(
    State(auth): State<Arc<Auth>>,
    request: Request,
    next: Next,
) -> Response {
    match auth.check(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn auth() -> Auth {
        Auth::from_config(&ConsoleConfig {
            api_keys: vec!["key-one-12345".into()],
            username: Some("ops".into()),
            password: Some("s3cret-pw".into()),
            ..ConsoleConfig::default()
        })
    }

    fn headers(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn keys_and_basic_auth_are_checked() {
        let a = auth();
        assert!(a.check(&headers("x-api-key", "key-one-12345")).is_ok());
        assert!(
            a.check(&headers("authorization", "Bearer key-one-12345"))
                .is_ok()
        );
        assert!(a.check(&headers("x-api-key", "key-one-12346")).is_err());
        let basic = format!("Basic {}", STANDARD.encode("ops:s3cret-pw"));
        assert!(a.check(&headers("authorization", &basic)).is_ok());
        let wrong = format!("Basic {}", STANDARD.encode("ops:guess"));
        assert!(a.check(&headers("authorization", &wrong)).is_err());
        assert!(matches!(
            a.check(&HeaderMap::new()),
            Err(ConsoleError::Unauthorized { basic: true, .. })
        ));
        assert!(Auth::default().check(&HeaderMap::new()).is_ok());
        assert!(!format!("{a:?}").contains("key-one") && !format!("{a:?}").contains("s3cret"));
    }
}
