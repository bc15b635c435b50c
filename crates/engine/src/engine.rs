//! The public face of the crate: options in, a running engine (handle) out.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use temporalio_protos::temporal::api::enums::v1::IndexedValueType;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tonic::{codec::CompressionEncoding, transport::server::TcpIncoming};

use crate::{
    api::{InProcess, MAX_RESPONSE_BYTES, Service},
    error::{EngineError, Result},
    generated::{
        operatorservice::operator_service_server::OperatorServiceServer,
        testservice::test_service_server::TestServiceServer,
        workflowservice::workflow_service_server::WorkflowServiceServer,
    },
    history::{DEFAULT_CLOSED_RUNS_IN_MEMORY, Limits, Registry, SuggestContinueAsNew},
    runtime::{self, Clock, EngineRuntime, TimeSkipping},
    security::{EngineTls, Security},
    store::{DEFAULT_PAGE_CACHE_KIB, MemoryStore, PostgresStore, SqliteStore, Store},
};

/// The namespace that always exists.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The retention `temporal server start-dev` gives `default` and its `--namespace` names.
pub(crate) const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// The real server's shortest retention for a namespace, unless its dynamic config
/// `system.namespaceMinRetentionLocal` says otherwise.
pub(crate) const MIN_RETENTION: Duration = Duration::from_secs(3600);

/// How to run an engine.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EngineOptions {
    /// Where to listen; port 0 picks a free port. Default `127.0.0.1:7233`.
    pub address: SocketAddr,
    /// Whether to listen on `address` at all. Default true. Without a listener the engine
    /// is reached only from its own process, through [`EngineHandle::in_process`].
    pub listen: bool,
    /// The SQLite file to persist to; `None` (and no [`EngineOptions::database_url`])
    /// keeps everything in memory.
    pub database: Option<PathBuf>,
    /// A PostgreSQL database to persist to instead, as a `postgres://` or `postgresql://`
    /// URL (libpq's form, e.g. `postgres://user:password@host:5432/db?sslmode=require`).
    /// Its password never appears in logs or errors.
    pub database_url: Option<String>,
    /// How long to keep trying to reach PostgreSQL at start before giving up. Default 30 s.
    pub database_connect_timeout: Duration,
    /// Namespaces to create at start, besides `default`.
    pub namespaces: Vec<String>,
    /// Custom search attributes to register in every namespace at start, as the dev
    /// server's `--search-attribute NAME=TYPE` does.
    pub search_attributes: Vec<(String, IndexedValueType)>,
    /// The history length (events) from which workflow tasks suggest continue-as-new: the
    /// dev server's dynamic config `limit.historyCount.suggestContinueAsNew`. Default 4096.
    pub suggest_continue_as_new_events: i64,
    /// The history size (bytes) from which workflow tasks suggest continue-as-new:
    /// `limit.historySize.suggestContinueAsNew`. Default 4 MiB.
    pub suggest_continue_as_new_bytes: i64,
    /// The real server's per-workflow limits (blob, memo and history sizes, pending work,
    /// signals per run), each settable with its dynamic config key through
    /// [`Limits::set`].
    pub limits: Limits,
    /// The largest request the engine decodes, in bytes: the real server's gRPC default,
    /// 4 MiB. Larger requests are refused before they reach the engine.
    pub max_request_bytes: usize,
    /// How long a long poll waits before answering empty. Default 60 s, under the SDK's
    /// 70 s deadline.
    pub long_poll_timeout: Duration,
    /// How long a history long poll (`GetWorkflowExecutionHistory` waiting for new events
    /// or the close event) waits before answering an empty page with a token to poll on
    /// with: the real server's `history.longPollExpirationInterval`, default 20 s.
    pub history_long_poll_timeout: Duration,
    /// How many closed runs stay in memory for fast reads (default 128); older ones are
    /// read back from the store when asked for, so memory stays flat.
    pub closed_runs_in_memory: usize,
    /// SQLite's page cache for each of the store's connections (two, and a third while a
    /// visibility scan runs), in KiB. Default 2048, SQLite's own; with the closed-run cache
    /// it is what bounds the engine's memory beyond its open runs.
    pub sqlite_page_cache_kib: usize,
    /// Whether the clock skips ahead to the next timer when nothing is pending (a test
    /// server, driven through `temporal.api.testservice.v1.TestService`). Default off.
    pub time_skipping: TimeSkipping,
    /// TLS (and mutual TLS) on the listener; plain gRPC when `None`.
    pub tls: Option<EngineTls>,
    /// A file of API keys, one a line (`#` starts a comment): when set, every request must
    /// carry `authorization: Bearer <key>` with one of them, else `Unauthenticated`.
    pub api_key_file: Option<PathBuf>,
    /// The retention of the namespaces created at start (`default` and
    /// [`EngineOptions::namespaces`]): how long a closed workflow is kept before it is
    /// deleted. Default 24 h, what `temporal server start-dev` gives them.
    pub namespace_retention: Duration,
    /// The shortest retention a namespace may be given: the real server's dynamic config
    /// `system.namespaceMinRetentionLocal`. Default 1 h.
    pub min_retention: Duration,
    /// Whether standalone activity executions are served: the real server's dynamic config
    /// `activity.enableStandalone`. Default on, as in `temporal server start-dev`; off, the
    /// engine refuses them as such a server does.
    pub standalone_activities: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            address: SocketAddr::from(([127, 0, 0, 1], 7233)),
            listen: true,
            database: None,
            database_url: None,
            database_connect_timeout: Duration::from_secs(30),
            namespaces: Vec::new(),
            search_attributes: Vec::new(),
            suggest_continue_as_new_events: SuggestContinueAsNew::default().events,
            suggest_continue_as_new_bytes: SuggestContinueAsNew::default().bytes,
            limits: Limits::default(),
            max_request_bytes: 4 * 1024 * 1024,
            long_poll_timeout: Duration::from_secs(60),
            history_long_poll_timeout: Duration::from_secs(20),
            closed_runs_in_memory: DEFAULT_CLOSED_RUNS_IN_MEMORY,
            sqlite_page_cache_kib: DEFAULT_PAGE_CACHE_KIB,
            time_skipping: TimeSkipping::Off,
            tls: None,
            api_key_file: None,
            namespace_retention: DEFAULT_RETENTION,
            min_retention: MIN_RETENTION,
            standalone_activities: true,
        }
    }
}

impl EngineOptions {
    /// Options listening on `address`, in memory.
    pub fn new(address: SocketAddr) -> Self {
        Self {
            address,
            ..Self::default()
        }
    }

    /// Open no TCP listener: the engine is reached only through
    /// [`EngineHandle::in_process`].
    #[must_use]
    pub fn without_listener(mut self) -> Self {
        self.listen = false;
        self
    }

    /// Register the custom search attribute `name` of type `ty` in every namespace at start.
    pub fn with_search_attribute(mut self, name: impl Into<String>, ty: IndexedValueType) -> Self {
        self.search_attributes.push((name.into(), ty));
        self
    }

    /// Persist to the SQLite file at `path`.
    #[must_use]
    pub fn with_database(mut self, path: impl Into<PathBuf>) -> Self {
        self.database = Some(path.into());
        self
    }

    /// Persist to the PostgreSQL database at `url` (`postgres://...`).
    #[must_use]
    pub fn with_database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Keep at most `count` closed runs in memory (see
    /// [`EngineOptions::closed_runs_in_memory`]).
    #[must_use]
    pub fn with_closed_runs_in_memory(mut self, count: usize) -> Self {
        self.closed_runs_in_memory = count;
        self
    }

    /// Give the namespaces created at start this retention (see
    /// [`EngineOptions::namespace_retention`]).
    #[must_use]
    pub fn with_namespace_retention(mut self, retention: Duration) -> Self {
        self.namespace_retention = retention;
        self
    }

    /// Also create `namespace` at start.
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespaces.push(namespace.into());
        self
    }

    /// Skip time as a test server does (see [`TimeSkipping`]).
    #[must_use]
    pub fn with_time_skipping(mut self, mode: TimeSkipping) -> Self {
        self.time_skipping = mode;
        self
    }

    /// Serve TLS (and mutual TLS when `tls.client_ca` is set).
    #[must_use]
    pub fn with_tls(mut self, tls: EngineTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Require an API key from the file at `path` on every request.
    #[must_use]
    pub fn with_api_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.api_key_file = Some(path.into());
        self
    }

    /// Enforce `limits` instead of the real server's defaults.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Answer long polls empty after `timeout` (history long polls too).
    #[must_use]
    pub fn with_long_poll_timeout(mut self, timeout: Duration) -> Self {
        self.long_poll_timeout = timeout;
        self.history_long_poll_timeout = timeout;
        self
    }
}

/// Whether `database` names a PostgreSQL database (`postgres://` or `postgresql://`)
/// rather than a SQLite file.
pub fn is_postgres_url(database: &str) -> bool {
    database.starts_with("postgres://") || database.starts_with("postgresql://")
}

/// `url` with its password replaced by `***`, for logs and messages.
pub fn redact_database_url(url: &str) -> String {
    crate::store::redact_url(url)
}

/// Starts engines.
#[derive(Debug)]
pub struct Engine;

impl Engine {
    /// Binds `options.address` (unless [`EngineOptions::listen`] is off), recovers
    /// persisted state and serves in the background.
    pub async fn start(options: EngineOptions) -> Result<EngineHandle> {
        let security = Security::load(options.tls.as_ref(), options.api_key_file.as_deref())?;
        let listener = match options.listen {
            true => Some(TcpListener::bind(options.address).await?),
            false => None,
        };
        let listening = listener.as_ref().map(TcpListener::local_addr).transpose()?;
        if let Some(address) = listening {
            security.announce(address);
        }
        let (stop, stopped) = watch::channel(false);
        let prepared = prepare(&options, stopped.clone()).await?;
        // One service for both ways in, so state it keeps (batch jobs) is the same on each.
        let service = prepared.service(listening.map(|a| a.to_string()).unwrap_or_default());
        let in_process = InProcess::new(
            service.clone(),
            security.clone(),
            prepared.max_request_bytes,
            stopped.clone(),
        );
        let signal = async move {
            let mut stopped = stopped;
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let runtime = Arc::downgrade(&prepared.runtime);
        let task = tokio::spawn(run(prepared, service, security, listener, signal));
        Ok(EngineHandle {
            address: listening.unwrap_or(options.address),
            listening,
            in_process,
            runtime,
            stop,
            task,
        })
    }
}

/// How long [`EngineHandle::shutdown`] waits for requests in flight to let go of the engine.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// A running engine. Dropping it leaves the engine running until the runtime ends; call
/// [`EngineHandle::shutdown`] to stop it.
#[derive(Debug)]
pub struct EngineHandle {
    address: SocketAddr,
    listening: Option<SocketAddr>,
    in_process: InProcess,
    /// Gone once every request and task has let go of the engine (and its store).
    runtime: std::sync::Weak<EngineRuntime>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<()>>,
}

impl EngineHandle {
    /// The address the engine listens on; without a listener, the address in its options
    /// (nothing is bound there: see [`EngineHandle::listener`]).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The address the engine listens on, `None` when it has no listener
    /// ([`EngineOptions::without_listener`]).
    pub fn listener(&self) -> Option<SocketAddr> {
        self.listening
    }

    /// The in-process transport into this engine, for a client in the same process: no
    /// socket, whether or not the engine also listens.
    pub fn in_process(&self) -> InProcess {
        self.in_process.clone()
    }

    /// Stops accepting requests, answers pending long polls, waits for the server and the
    /// store to finish: once it returns, the database is free for another engine, even while
    /// in-process clients of this one are still alive (their calls answer `UNAVAILABLE`).
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.in_process.close();
        let served = self.task.await?;
        // Requests still in flight hold the runtime until they are answered, which the stop
        // makes prompt (long polls return empty).
        let deadline = tokio::time::Instant::now() + RELEASE_WAIT;
        while self.runtime.strong_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if self.runtime.strong_count() > 0 {
            tracing::warn!(
                waited = ?RELEASE_WAIT,
                "requests still hold the stopped engine; its store closes when they finish"
            );
        }
        served
    }
}

/// Serves on `listener` until `shutdown` resolves. For callers that own the socket and the
/// shutdown signal (tests, embedding); [`Engine::start`] wraps this.
pub async fn serve(
    listener: TcpListener,
    options: EngineOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let security = Security::load(options.tls.as_ref(), options.api_key_file.as_deref())?;
    security.announce(listener.local_addr()?);
    let (stop, stopped) = watch::channel(false);
    let prepared = prepare(&options, stopped).await?;
    let service = prepared.service(listener.local_addr()?.to_string());
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    run(prepared, service, security, Some(listener), signal).await
}

pub(crate) struct Prepared {
    pub(crate) runtime: Arc<EngineRuntime>,
    pub(crate) long_poll: Duration,
    pub(crate) history_long_poll: Duration,
    /// The largest request decoded, in bytes.
    pub(crate) max_request_bytes: usize,
    /// The shortest retention a namespace may be given.
    pub(crate) min_retention: Duration,
    pub(crate) standalone_activities: bool,
}

impl Prepared {
    /// The service implementation over this engine's runtime, answering `address` as its
    /// own (empty without a listener).
    /// Also carries on with batch jobs that were running when the engine last stopped.
    fn service(&self, address: String) -> Service {
        let service = Service::new(Arc::clone(&self.runtime), self.long_poll, address)
            .with_min_retention(self.min_retention)
            .with_history_long_poll(self.history_long_poll)
            .with_standalone_activities(self.standalone_activities);
        service.resume_batches();
        service
    }
}

/// Opens the store, recovers state and puts recovered tasks and timers back in motion.
async fn prepare(options: &EngineOptions, stopped: watch::Receiver<bool>) -> Result<Prepared> {
    let store: Arc<dyn Store> = match (&options.database, &options.database_url) {
        (Some(_), Some(_)) => {
            return Err(EngineError::invalid(
                "both a SQLite file (database) and a PostgreSQL URL (database_url) are set; set one",
            ));
        }
        (Some(path), None) => Arc::new(
            SqliteStore::open_with_cache(path, options.sqlite_page_cache_kib)
                .map_err(|e| EngineError::Storage(e.to_string()))?,
        ),
        (None, Some(url)) => {
            let (url, within) = (url.clone(), options.database_connect_timeout);
            let opened = tokio::task::spawn_blocking(move || PostgresStore::open(&url, within))
                .await
                .map_err(|e| EngineError::Storage(format!("opening PostgreSQL stopped: {e}")))?;
            Arc::new(opened.map_err(|e| EngineError::Storage(e.to_string()))?)
        }
        (None, None) => Arc::new(MemoryStore::default()),
    };
    recover(store, options, stopped).await
}

/// Recovers state from `store` and puts recovered tasks and timers back in motion. The
/// fuzzing harness calls this directly to restart an engine on the same store.
pub(crate) async fn recover(
    store: Arc<dyn Store>,
    options: &EngineOptions,
    stopped: watch::Receiver<bool>,
) -> Result<Prepared> {
    let snapshot = match store.load().await {
        Ok(Ok(snapshot)) => snapshot,
        Ok(Err(e)) => return Err(EngineError::Storage(e.to_string())),
        Err(_) => return Err(EngineError::Storage("the store has stopped".into())),
    };
    let offset = match snapshot.settings.get(runtime::OFFSET_SETTING) {
        Some(value) => value.parse::<i64>().map_err(|e| {
            EngineError::Storage(format!(
                "unreadable clock offset {value:?} in the store: {e}"
            ))
        })?,
        None => 0,
    };
    if offset > 0 {
        tracing::info!(
            offset_ms = offset,
            "the clock carries on ahead of wall time"
        );
    }
    let mut registry = Registry::restore(snapshot);
    registry.suggest_continue_as_new = SuggestContinueAsNew {
        events: options.suggest_continue_as_new_events,
        bytes: options.suggest_continue_as_new_bytes,
    };
    registry.limits = options.limits;
    let recovered = registry.runs_in_memory().count();
    let runtime = EngineRuntime::new(
        registry,
        store,
        options.closed_runs_in_memory,
        Clock::new(options.time_skipping, offset),
        stopped,
    );
    runtime
        .execute(|registry, now, fx| {
            let retention_ms =
                i64::try_from(options.namespace_retention.as_millis()).unwrap_or(i64::MAX);
            registry.ensure_namespace(DEFAULT_NAMESPACE, retention_ms);
            for namespace in &options.namespaces {
                registry.ensure_namespace(namespace, retention_ms);
            }
            let attributes: std::collections::HashMap<String, i32> = options
                .search_attributes
                .iter()
                .map(|(name, ty)| (name.clone(), *ty as i32))
                .collect();
            let namespaces: Vec<String> = registry.namespaces.keys().cloned().collect();
            for namespace in namespaces.iter().filter(|_| !attributes.is_empty()) {
                registry.add_search_attributes(namespace, &attributes)?;
            }
            *fx = registry.recovery_effects(now);
            Ok(())
        })
        .await?;
    if recovered > 0 {
        tracing::info!(runs = recovered, "recovered persisted workflow runs");
    }
    Ok(Prepared {
        runtime,
        long_poll: options.long_poll_timeout,
        history_long_poll: options.history_long_poll_timeout,
        max_request_bytes: options.max_request_bytes,
        min_retention: options.min_retention,
        standalone_activities: options.standalone_activities,
    })
}

async fn run(
    prepared: Prepared,
    service: Service,
    security: Security,
    listener: Option<TcpListener>,
    signal: impl Future<Output = ()>,
) -> Result<()> {
    let timers = runtime::spawn_timer_driver(Arc::clone(&prepared.runtime));
    let sweeper = runtime::spawn_sweeper(Arc::clone(&prepared.runtime));
    let served = match listener {
        Some(listener) => serve_grpc(&prepared, service, security, listener, signal).await,
        None => {
            signal.await;
            Ok(())
        }
    };
    let _ = timers.await;
    let _ = sweeper.await;
    served
}

/// Serves the three gRPC services (and the gRPC health service) on `listener` until
/// `signal` resolves.
async fn serve_grpc(
    prepared: &Prepared,
    service: Service,
    security: Security,
    listener: TcpListener,
    signal: impl Future<Output = ()>,
) -> Result<()> {
    let max_request_bytes = prepared.max_request_bytes;
    // The gRPC health service (`temporal operator cluster health` asks it about the
    // `WorkflowService`): serving for as long as the engine serves.
    let (health_reporter, health) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<WorkflowServiceServer<Service>>()
        .await;
    let health = health.accept_compressed(CompressionEncoding::Gzip);
    // Gzip-compressed requests are accepted; responses go out uncompressed even to clients
    // that accept gzip: on loopback, compressing costs CPU (a fresh deflate state per
    // message) and saves nothing.
    let workflow = WorkflowServiceServer::new(service.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes)
        .max_encoding_message_size(MAX_RESPONSE_BYTES);
    let operator = OperatorServiceServer::new(service.clone())
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes);
    let test = TestServiceServer::new(service)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_request_bytes);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = security.tls.clone() {
        // Checked when the files were loaded.
        server = server.tls_config(tls)?;
    }
    let served = server
        .layer(tonic::service::InterceptorLayer::new(
            security.interceptor(),
        ))
        .add_service(workflow)
        .add_service(operator)
        .add_service(test)
        .add_service(health)
        .serve_with_incoming_shutdown(incoming, signal)
        .await;
    served.map_err(EngineError::from)
}
