//! The client's side of the in-process transport: the official client's service override
//! (`temporalio_client::callback_based`) handing each RPC, by service and method name, with
//! its metadata and encoded request, to the embedded engine's [`InProcess`] entry. No socket,
//! no HTTP/2, no compression (the client turns compression off with an override).

use std::sync::Arc;

use futures::FutureExt;
use temporalio_client::callback_based::{
    CallbackBasedGrpcService, GrpcRequest, GrpcSuccessResponse,
};
use temporalio_client::{ConnectionOptions, Url};
use workflow_engine::InProcess;

/// The client wants a target even when it never dials it.
pub(super) fn url() -> Url {
    Url::parse("http://in-process.invalid").unwrap_or_else(|e| unreachable!("a fixed URL: {e}"))
}

/// `options` with every RPC routed to `engine` instead of the network.
pub(super) fn options(mut options: ConnectionOptions, engine: InProcess) -> ConnectionOptions {
    options.service_override = Some(CallbackBasedGrpcService {
        callback: Arc::new(move |request: GrpcRequest| {
            engine
                .call(
                    &request.service,
                    &request.rpc,
                    request.headers,
                    request.proto,
                )
                .map(|reply| {
                    reply.map(|reply| GrpcSuccessResponse {
                        headers: reply.headers,
                        proto: reply.message,
                    })
                })
                .boxed()
        }),
    });
    // The client refuses DNS load balancing beside a service override.
    options.dns_load_balancing = None;
    options.tls_options = None;
    options
}
