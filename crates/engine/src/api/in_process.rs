//! The in-process transport: a client in the same process hands the engine an RPC by service
//! and method name with its encoded request and metadata, and gets the encoded response or
//! the status back, with no socket, no HTTP/2 framing and no compression.
//!
//! What the network path does around a handler is done here too, in the same order and with
//! the same statuses, so that a client cannot tell the two apart: the API key check (the
//! listener's interceptor), the client's deadline (`grpc-timeout`, answered `CANCELLED`
//! "Timeout expired" as tonic's server does), the request and response size limits, and
//! `UNIMPLEMENTED` for an RPC the engine does not know. Dropping the returned future cancels
//! the call, as a reset stream does on the network. The routing table is generated from the
//! service descriptors by `build.rs`.

use std::{future::Future, sync::Arc, time::Duration};

use prost::Message;
use tokio::sync::watch;
use tonic::{
    Request, Response, Status,
    codegen::{
        Bytes,
        http::{Extensions, HeaderMap},
    },
    metadata::MetadataMap,
};

use super::Service;
use crate::security::Security;

/// The largest response the `WorkflowService` encodes, in bytes (a long history).
pub(crate) const MAX_RESPONSE_BYTES: usize = 128 * 1024 * 1024;

const WORKFLOW_SERVICE: &str = "temporal.api.workflowservice.v1.WorkflowService";

/// A way into a running engine from its own process, without a socket: what a Temporal
/// client's service override (`temporalio_client::callback_based`) calls for each RPC.
/// Cheap to clone; calls after the engine has stopped answer `UNAVAILABLE`, as a closed
/// listener would.
#[derive(Clone)]
pub struct InProcess {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None` once the engine has stopped, so that clients kept alive after the engine
    /// (a test's SDK client) do not keep its runtime, and its database, open.
    service: std::sync::RwLock<Option<Service>>,
    security: Security,
    max_request_bytes: usize,
    stopped: watch::Receiver<bool>,
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess")
            .field("security", &self.inner.security)
            .finish_non_exhaustive()
    }
}

/// A successful in-process call: the response's metadata (as headers) and its encoded
/// message.
#[derive(Debug)]
#[non_exhaustive]
pub struct InProcessReply {
    /// The response metadata the handler set.
    pub headers: HeaderMap,
    /// The encoded response message.
    pub message: Vec<u8>,
}

impl InProcess {
    pub(crate) fn new(
        service: Service,
        security: Security,
        max_request_bytes: usize,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                service: std::sync::RwLock::new(Some(service)),
                security,
                max_request_bytes,
                stopped,
            }),
        }
    }

    /// Lets go of the engine: later calls answer `UNAVAILABLE`.
    pub(crate) fn close(&self) {
        *self
            .inner
            .service
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Runs the RPC `method` of `service` (its full name, e.g.
    /// `temporal.api.workflowservice.v1.WorkflowService`) on the encoded `message`, with
    /// `headers` as its metadata (`authorization`, `grpc-timeout`, ...).
    pub fn call(
        &self,
        service: &str,
        method: &str,
        headers: HeaderMap,
        message: Bytes,
    ) -> impl Future<Output = Result<InProcessReply, Status>> + Send + use<> {
        let inner = Arc::clone(&self.inner);
        let (service, method) = (service.to_owned(), method.to_owned());
        async move {
            if *inner.stopped.borrow() {
                return Err(Status::unavailable(
                    "the engine has stopped: it takes no more calls",
                ));
            }
            let deadline = grpc_timeout(&headers);
            let call = inner.call(&service, &method, headers, message);
            let response = match deadline {
                Some(deadline) => tokio::time::timeout(deadline, call)
                    .await
                    .map_err(|_| Status::cancelled("Timeout expired"))?,
                None => call.await,
            }?;
            let (metadata, message, _) = response.into_parts();
            if service == WORKFLOW_SERVICE && message.len() > MAX_RESPONSE_BYTES {
                return Err(Status::out_of_range(format!(
                    "Error, encoded message length too large: found {} bytes, the limit is: {MAX_RESPONSE_BYTES} bytes",
                    message.len()
                )));
            }
            Ok(InProcessReply {
                headers: metadata.into_headers(),
                message,
            })
        }
    }
}

impl Inner {
    async fn call(
        &self,
        service_name: &str,
        method: &str,
        headers: HeaderMap,
        message: Bytes,
    ) -> Result<Response<Vec<u8>>, Status> {
        let checked = self.security.check(Request::from_parts(
            MetadataMap::from_headers(headers),
            Extensions::default(),
            (),
        ))?;
        if message.len() > self.max_request_bytes {
            return Err(Status::out_of_range(format!(
                "Error, decoded message length too large: found {} bytes, the limit is: {} bytes",
                message.len(),
                self.max_request_bytes
            )));
        }
        let (metadata, extensions, ()) = checked.into_parts();
        let request = Request::from_parts(metadata, extensions, message);
        let service = self
            .service
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| Status::unavailable("the engine has stopped: it takes no more calls"))?;
        let service = &service;
        include!(concat!(env!("OUT_DIR"), "/in_process_routes.rs"))
    }
}

/// Decodes the request, runs the handler, encodes its answer: what tonic's codec does around
/// a unary handler, with tonic's status for a message that does not decode.
async fn unary<Req, Resp, Fut>(
    request: Request<Bytes>,
    handler: impl FnOnce(Request<Req>) -> Fut,
) -> Result<Response<Vec<u8>>, Status>
where
    Req: Message + Default,
    Resp: Message,
    Fut: Future<Output = Result<Response<Resp>, Status>>,
{
    let (metadata, extensions, bytes) = request.into_parts();
    let message = Req::decode(bytes).map_err(|e| Status::internal(e.to_string()))?;
    let response = handler(Request::from_parts(metadata, extensions, message)).await?;
    let (metadata, message, extensions) = response.into_parts();
    Ok(Response::from_parts(
        metadata,
        message.encode_to_vec(),
        extensions,
    ))
}

/// The client's deadline from `grpc-timeout` (gRPC over HTTP/2: at most 8 digits and a unit
/// letter); a value that does not parse is ignored, as tonic's server ignores it.
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get("grpc-timeout")?.to_str().ok()?;
    let unit = text.len().checked_sub(1)?;
    let (digits, unit) = text.split_at(unit);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    fn timeout(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        headers.insert(
            "grpc-timeout",
            value.parse().unwrap_or_else(|e| panic!("{value}: {e}")),
        );
        grpc_timeout(&headers)
    }

    #[test]
    fn grpc_timeouts_parse_as_the_protocol_writes_them() {
        assert_eq!(timeout("1S"), Some(Duration::from_secs(1)));
        assert_eq!(timeout("70000m"), Some(Duration::from_secs(70)));
        assert_eq!(timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(timeout("5n"), Some(Duration::from_nanos(5)));
        for bad in ["S", "123456789S", "1s", "-1S", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad}");
        }
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }
}
