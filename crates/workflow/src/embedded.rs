//! Demo mode's engine: the embedded engine started inside this process when
//! `engine = "embedded"`, and the transport this process's client and worker reach it by:
//! in process, without a socket. The engine's TCP listener (`embedded.listen`) is only for
//! other processes, such as the `temporal` CLI; `"off"` opens none.

use crate::config::Config;
use crate::connect::Transport;
use crate::error::StartError;

/// What `temporal.address` reads when the engine has no listener (logs and errors only).
pub(crate) const IN_PROCESS_ADDRESS: &str = "in-process";

/// The engine running inside this process (demo mode).
#[cfg_attr(not(feature = "embedded"), allow(dead_code))]
pub(crate) struct EmbeddedEngine {
    #[cfg(feature = "embedded")]
    handle: workflow_engine::EngineHandle,
}

impl EmbeddedEngine {
    /// How this process reaches the engine.
    pub(crate) fn transport(&self) -> Transport {
        #[cfg(feature = "embedded")]
        return Transport::InProcess(self.handle.in_process());
        #[cfg(not(feature = "embedded"))]
        Transport::Network
    }

    pub(crate) async fn stop(self) {
        #[cfg(feature = "embedded")]
        if let Err(e) = self.handle.shutdown().await {
            tracing::error!(error = %e, "embedded engine did not stop cleanly");
        }
    }
}

/// Starts the embedded engine when the configuration asks for it, and points
/// `temporal.address` at its listener (or at [`IN_PROCESS_ADDRESS`] without one).
pub(crate) async fn start(config: &mut Config) -> Result<Option<EmbeddedEngine>, StartError> {
    if config.engine != crate::config::EngineKind::Embedded {
        return Ok(None);
    }
    #[cfg(feature = "embedded")]
    {
        start_engine(config).await.map(Some)
    }
    #[cfg(not(feature = "embedded"))]
    {
        Err(StartError::EngineNotBuilt)
    }
}

#[cfg(feature = "embedded")]
async fn start_engine(config: &mut Config) -> Result<EmbeddedEngine, StartError> {
    let embedded = &config.embedded;
    let mut options = match embedded.listen.address() {
        Some(address) => workflow_engine::EngineOptions::new(address),
        None => workflow_engine::EngineOptions::default().without_listener(),
    }
    .with_namespace_retention(embedded.retention);
    let url = embedded
        .database
        .as_ref()
        .and_then(|d| d.to_str())
        .filter(|d| workflow_engine::is_postgres_url(d));
    let described = match (&embedded.database, url) {
        (_, Some(url)) => {
            options = options.with_database_url(url);
            Some(workflow_engine::redact_database_url(url))
        }
        (Some(path), None) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| StartError::EngineDatabaseDir {
                    dir: dir.to_path_buf(),
                    source,
                })?;
            }
            options = options.with_database(path.clone());
            Some(path.display().to_string())
        }
        (None, None) => None,
    };
    if config.temporal.namespace != workflow_engine::DEFAULT_NAMESPACE {
        options = options.with_namespace(config.temporal.namespace.clone());
    }
    if let (Some(cert), Some(key)) = (&embedded.tls_cert, &embedded.tls_key) {
        let mut tls = workflow_engine::EngineTls::new(cert, key);
        if let Some(ca) = &embedded.tls_client_ca {
            tls = tls.with_client_ca(ca);
        }
        options = options.with_tls(tls);
    }
    if let Some(keys) = &embedded.api_key_file {
        options = options.with_api_key_file(keys);
    }
    let (tls, keys) = (embedded.tls_cert.is_some(), embedded.api_key_file.clone());
    let handle = workflow_engine::Engine::start(options)
        .await
        .map_err(StartError::Engine)?;
    let listener = handle.listener();
    match listener {
        Some(address) => {
            tracing::info!(%address, database = ?described, tls, api_keys = keys.is_some(), "embedded engine serving, and listening for other processes");
            config.temporal.address = address.to_string();
        }
        None => {
            tracing::info!(database = ?described, api_keys = keys.is_some(), "embedded engine serving this process only (no listener)");
            IN_PROCESS_ADDRESS.clone_into(&mut config.temporal.address);
        }
    }
    // This process's own client brings a key when the engine asks for one, in process too.
    if let Some(keys) = keys
        && config.temporal.api_key.is_none()
    {
        let text = std::fs::read_to_string(&keys).unwrap_or_default();
        config.temporal.api_key = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned);
    }
    Ok(EmbeddedEngine { handle })
}
