//! Connecting to Temporal: TLS and API key from the configuration, bounded retries with
//! backoff, and a namespace check so a wrong namespace fails at start-up, not at first use.
//! A refusal that retrying cannot fix (TLS, API key) fails at once, naming the setting
//! (`diagnose`). The embedded engine in this process is reached without a socket
//! ([`Transport::InProcess`], `in_process`).

mod diagnose;
#[cfg(feature = "embedded")]
mod in_process;

use diagnose::Refusal;

use std::time::{Duration, Instant};

use temporalio_client::grpc::WorkflowService;
use temporalio_client::tonic::IntoRequest;
use temporalio_client::{
    Client, ClientOptions, ClientTlsOptions, Connection, ConnectionOptions, GrpcCompression,
    TlsOptions,
};
use temporalio_protos::temporal::api::workflowservice::v1::DescribeNamespaceRequest;

use crate::config::Config;
use crate::error::StartError;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const MAX_ATTEMPT: Duration = Duration::from_secs(5);

/// How this process reaches Temporal.
#[derive(Clone, Default)]
pub(crate) enum Transport {
    /// gRPC over the network to `temporal.address`.
    #[default]
    Network,
    /// The embedded engine in this process, without a socket: each RPC goes straight to the
    /// engine's service implementation.
    #[cfg(feature = "embedded")]
    InProcess(workflow_engine::InProcess),
}

/// Connects to the configured server, retrying with exponential backoff until
/// `temporal.connect_timeout` has passed, then checks that the namespace exists.
pub(crate) async fn connect(
    config: &Config,
    identity: &str,
    transport: &Transport,
) -> Result<Client, StartError> {
    let address = config.temporal.address.clone();
    let (url, tls) = match transport {
        Transport::Network => (config.server_url()?, tls_options(config)?),
        #[cfg(feature = "embedded")]
        Transport::InProcess(_) => (in_process::url(), None),
    };
    let deadline = Instant::now() + config.temporal.connect_timeout;
    let mut backoff = FIRST_BACKOFF;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let remaining = deadline.saturating_duration_since(Instant::now());
        let options = ConnectionOptions::new(url.clone())
            .identity(identity.to_owned())
            .maybe_tls_options(tls.clone())
            .maybe_api_key(config.temporal.api_key.clone())
            .connect_timeout(remaining.clamp(Duration::from_millis(100), MAX_ATTEMPT))
            .grpc_compression(if config.gzip() {
                GrpcCompression::Gzip
            } else {
                GrpcCompression::None
            })
            .build();
        #[cfg(feature = "embedded")]
        let options = match transport {
            Transport::Network => options,
            Transport::InProcess(engine) => in_process::options(options, engine.clone()),
        };
        let limit = remaining.clamp(Duration::from_millis(100), MAX_ATTEMPT);
        let attempt = tokio::time::timeout(limit, Connection::connect(options)).await;
        let error = match attempt {
            Ok(Ok(connection)) => {
                let client = Client::new(
                    connection,
                    ClientOptions::new(config.temporal.namespace.clone()).build(),
                )
                .map_err(|source| StartError::Client {
                    address: address.clone(),
                    source,
                })?;
                check_namespace(&client, config, &address).await?;
                tracing::info!(%address, namespace = %config.temporal.namespace, attempts, "connected to Temporal");
                return Ok(client);
            }
            Ok(Err(source)) => match diagnose::refusal(&source, config) {
                Some(refusal) => return Err(refused(refusal, &address, source.into())),
                None => StartError::Connect {
                    address: address.clone(),
                    attempts,
                    source: Box::new(source),
                },
            },
            Err(_) => StartError::ConnectTimeout {
                address: address.clone(),
                attempts,
                waited: limit,
            },
        };
        if Instant::now() + backoff >= deadline {
            return Err(error);
        }
        tracing::warn!(%address, attempts, %error, retry_in = ?backoff, "cannot reach Temporal yet");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn check_namespace(
    client: &Client,
    config: &Config,
    address: &str,
) -> Result<(), StartError> {
    let mut service = client.clone();
    let request = DescribeNamespaceRequest {
        namespace: config.temporal.namespace.clone(),
        ..Default::default()
    };
    match WorkflowService::describe_namespace(&mut service, request.into_request()).await {
        Ok(_) => Ok(()),
        Err(status) => match diagnose::status_refusal(&status, config) {
            Some(refusal) => Err(refused(refusal, address, Box::new(status))),
            None => Err(StartError::Namespace {
                address: address.to_owned(),
                namespace: config.temporal.namespace.clone(),
                status: Box::new(status),
            }),
        },
    }
}

fn refused(
    refusal: Refusal,
    address: &str,
    source: Box<dyn std::error::Error + Send + Sync>,
) -> StartError {
    match refusal {
        Refusal::Tls(problem) => StartError::Tls {
            address: address.to_owned(),
            problem,
            source,
        },
        Refusal::Credentials(problem) => StartError::Unauthenticated {
            address: address.to_owned(),
            problem,
            source,
        },
    }
}

fn tls_options(config: &Config) -> Result<Option<TlsOptions>, StartError> {
    if !config.tls_enabled() {
        return Ok(None);
    }
    let tls = &config.temporal.tls;
    let read = |field: &'static str, path: &std::path::Path| {
        std::fs::read(path).map_err(|source| StartError::TlsFile {
            field,
            path: path.to_path_buf(),
            source,
        })
    };
    let ca = tls
        .ca_cert
        .as_deref()
        .map(|p| read("temporal.tls.ca_cert", p))
        .transpose()?;
    let client_tls = match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => Some(
            ClientTlsOptions::builder()
                .client_cert(read("temporal.tls.client_cert", cert)?)
                .client_private_key(read("temporal.tls.client_key", key)?)
                .build(),
        ),
        _ => None,
    };
    Ok(Some(
        TlsOptions::builder()
            .maybe_server_root_ca_cert(ca)
            .maybe_domain(tls.server_name.clone())
            .maybe_client_tls_options(client_tls)
            .build(),
    ))
}
