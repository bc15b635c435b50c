//! Testing your workflows: [`TestEnv`] runs the embedded engine in this process as a
//! time-skipping test server (the role of Temporal's Java test server for the other SDKs),
//! with a [`WorkflowClient`] and a worker. A workflow that waits an hour, or thirty days,
//! finishes in milliseconds of wall time.
//!
//! Time skipping is locked while the test body runs (time passes at wall pace) and unlocked
//! while a [`Handle::result`](crate::Handle::result) waits or [`TestEnv::sleep`] sleeps: then,
//! whenever no workflow task, activity or query is in flight, the server's clock jumps to the
//! next timer (workflow timers, timeouts, retry backoffs). Event timestamps and
//! `workflow.now()` follow the server's clock. With a database file the clock survives a
//! restart of the environment.
//!
//! The client and the worker reach the engine in process, without a socket; the engine also
//! listens on a free loopback port for other clients (the `temporal` CLI) unless
//! [`TestEnvBuilder::without_listener`] says otherwise.
//!
//! Behind the library's `testing` feature (which includes `embedded`).
//!
//! ```no_run
//! # use std::time::Duration;
//! # use workflow::{StartOptions, testing::TestEnv};
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let env = TestEnv::start().await?;
//! let client = env.client();
//! let register = |options: &mut temporalio_sdk::WorkerOptions| {
//!     // options.register_workflow::<MyWorkflow>()?; ...
//!     Ok(())
//! };
//! env.run_worker(register, async {
//!     let before = env.now().await?;
//!     env.sleep(Duration::from_secs(3600)).await?; // an hour passes at once
//!     assert!(env.now().await?.duration_since(before)? >= Duration::from_secs(3600));
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })
//! .await??;
//! env.shutdown().await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use temporalio_client::tonic::{IntoRequest, Status};
use temporalio_sdk::{WorkerOptions, WorkflowRegistrationError};
use tokio::sync::oneshot;
use workflow_engine::{Engine, EngineError, EngineHandle, EngineOptions, TimeSkipping};

use crate::app::{App, Services};
use crate::client::WorkflowClient;
use crate::config::{Config, EngineKind, Role};
use crate::connect::{Transport, connect};
use crate::error::StartError;
use crate::metrics::Metrics;
use crate::time_lock::TimeLock;

/// A failure of the test environment itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestEnvError {
    /// The engine did not start (its database file, most likely).
    #[error("the test engine did not start: {source}")]
    Engine {
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// The engine did not stop cleanly.
    #[error("the test engine did not stop cleanly: {source}")]
    Shutdown {
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// The client could not connect to the engine.
    #[error("cannot connect to the test engine: {source}")]
    Connect {
        /// Why.
        #[source]
        source: StartError,
    },
    /// The worker could not start or failed (e.g. nothing registered).
    #[error("the test worker failed: {source}")]
    Worker {
        /// Why.
        #[source]
        source: StartError,
    },
    /// A call to the engine's `TestService` failed.
    #[error("TestService.{operation} failed: {source}")]
    TestService {
        /// The RPC.
        operation: &'static str,
        /// The server's status.
        #[source]
        source: Status,
    },
}

/// How to start a [`TestEnv`].
#[derive(Debug, Clone)]
pub struct TestEnvBuilder {
    task_queue: String,
    database: Option<PathBuf>,
    listen: bool,
}

impl TestEnvBuilder {
    /// The task queue the client starts workflows on and the worker polls (default: a fresh
    /// `test-<uuid>`).
    #[must_use]
    pub fn task_queue(mut self, task_queue: impl Into<String>) -> Self {
        self.task_queue = task_queue.into();
        self
    }

    /// Persist to the SQLite file at `path` (default: in memory). Start another environment
    /// on the same file and workflows, and the server's clock, carry on.
    #[must_use]
    pub fn database(mut self, path: impl Into<PathBuf>) -> Self {
        self.database = Some(path.into());
        self
    }

    /// Open no TCP listener: the environment is reached only through its own client
    /// (default: a free loopback port, see [`TestEnv::address`]).
    #[must_use]
    pub fn without_listener(mut self) -> Self {
        self.listen = false;
        self
    }

    /// Starts the engine with time skipping (locked) and connects a client.
    pub async fn start(self) -> Result<TestEnv, TestEnvError> {
        let mut options = EngineOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)))
            .with_time_skipping(TimeSkipping::Locked);
        if !self.listen {
            options = options.without_listener();
        }
        if let Some(path) = &self.database {
            options = options.with_database(path.clone());
        }
        let engine = Engine::start(options)
            .await
            .map_err(|source| TestEnvError::Engine { source })?;
        let mut config = Config {
            engine: EngineKind::Server,
            role: Role::Worker,
            ..Config::default()
        };
        config.temporal.address = match engine.listener() {
            Some(address) => address.to_string(),
            None => crate::embedded::IN_PROCESS_ADDRESS.to_owned(),
        };
        config.temporal.task_queue = self.task_queue;
        config.temporal.connect_timeout = Duration::from_secs(10);
        config.health.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.worker.shutdown_grace_period = Duration::from_secs(2);
        let transport = Transport::InProcess(engine.in_process());
        let sdk_client = match connect(&config, "test-env", &transport).await {
            Ok(client) => client,
            Err(source) => {
                let _ = engine.shutdown().await;
                return Err(TestEnvError::Connect { source });
            }
        };
        let lock = TimeLock::new(sdk_client.clone());
        let client = WorkflowClient::new(
            sdk_client.clone(),
            config.temporal.task_queue.clone(),
            config.temporal.address.clone(),
            config.temporal.request_timeout,
            Metrics::new(),
        )
        .with_time_lock(Arc::clone(&lock));
        Ok(TestEnv {
            engine,
            sdk_client,
            client,
            lock,
            config,
            transport,
        })
    }
}

/// The embedded engine as a time-skipping test server, with a client and a worker.
pub struct TestEnv {
    engine: EngineHandle,
    sdk_client: temporalio_client::Client,
    client: WorkflowClient,
    lock: Arc<TimeLock>,
    config: Config,
    transport: Transport,
}

impl TestEnv {
    /// Options for an environment.
    pub fn builder() -> TestEnvBuilder {
        TestEnvBuilder {
            task_queue: format!("test-{}", uuid::Uuid::new_v4()),
            database: None,
            listen: true,
        }
    }

    /// An environment in memory on a fresh task queue.
    pub async fn start() -> Result<TestEnv, TestEnvError> {
        Self::builder().start().await
    }

    /// The client; its result waits unlock time skipping while they wait.
    pub fn client(&self) -> WorkflowClient {
        self.client.clone()
    }

    /// Where the engine listens for other clients (e.g. the `temporal` CLI); `None` when
    /// it was started [without a listener](TestEnvBuilder::without_listener).
    pub fn address(&self) -> Option<SocketAddr> {
        self.engine.listener()
    }

    /// The task queue the client and the worker use.
    pub fn task_queue(&self) -> &str {
        &self.config.temporal.task_queue
    }

    /// Runs `body` next to a worker with what `register` puts on it (as
    /// [`Services::worker`] takes it), then stops the worker. Returns what `body` returns.
    pub async fn run_worker<T>(
        &self,
        register: impl FnOnce(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError> + 'static,
        body: impl Future<Output = T>,
    ) -> Result<T, TestEnvError> {
        let app = App::start_with(self.config.clone(), None, self.transport.clone())
            .await
            .map_err(|source| TestEnvError::Worker { source })?;
        let (done, stop) = oneshot::channel::<()>();
        let test = async move {
            let value = body.await;
            let _ = done.send(());
            value
        };
        let host = app.run_until(Services::new().worker(register), async {
            let _ = stop.await;
        });
        let (value, hosted) = tokio::join!(test, host);
        hosted.map_err(|source| TestEnvError::Worker { source })?;
        Ok(value)
    }

    /// Lets `duration` of server time pass: at once while nothing is in flight (time
    /// skipping is unlocked for the sleep), otherwise as the work allows.
    pub async fn sleep(&self, duration: Duration) -> Result<(), TestEnvError> {
        self.lock
            .sleep(duration)
            .await
            .map_err(|source| TestEnvError::TestService {
                operation: "UnlockTimeSkippingWithSleep",
                source,
            })
    }

    /// The server's current time (wall time plus what has been skipped).
    pub async fn now(&self) -> Result<SystemTime, TestEnvError> {
        let mut service = self.sdk_client.connection().test_service();
        let response = service
            .get_current_time(().into_request())
            .await
            .map_err(|source| TestEnvError::TestService {
                operation: "GetCurrentTime",
                source,
            })?;
        let time = response.into_inner().time.unwrap_or_default();
        let since_epoch = Duration::from_secs(u64::try_from(time.seconds).unwrap_or(0))
            + Duration::from_nanos(u64::try_from(time.nanos).unwrap_or(0));
        Ok(UNIX_EPOCH + since_epoch)
    }

    /// Stops the engine (a database file keeps its workflows and its clock).
    pub async fn shutdown(self) -> Result<(), TestEnvError> {
        drop(self.client);
        self.engine
            .shutdown()
            .await
            .map_err(|source| TestEnvError::Shutdown { source })
    }
}
