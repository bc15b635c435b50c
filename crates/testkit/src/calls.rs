//! HTTP calls of the tests: one client, and answers read as (status, JSON body).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// An HTTP client with a 30 s timeout for talking to the binaries.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("build an HTTP client")
}

/// An HTTP answer: status and body (JSON, or the raw text as a JSON string).
pub async fn answer(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Sends `request`; a transport error reads as 503 with the error as the body, so that
/// pollers retry it like an unavailable server.
pub async fn call(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    match request.send().await {
        Ok(response) => answer(response).await,
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Value::String(e.to_string()),
        ),
    }
}

/// `POST url` with a JSON body; panics on a transport error.
pub async fn post(http: &reqwest::Client, url: &str, body: &Value) -> (StatusCode, Value) {
    send(http.post(url).json(body), "POST", url).await
}

/// `POST url` with no body; panics on a transport error.
pub async fn post_empty(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    send(http.post(url), "POST", url).await
}

/// `GET url`; panics on a transport error.
pub async fn get(http: &reqwest::Client, url: &str) -> (StatusCode, Value) {
    send(http.get(url), "GET", url).await
}

async fn send(request: reqwest::RequestBuilder, method: &str, url: &str) -> (StatusCode, Value) {
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    answer(response).await
}
