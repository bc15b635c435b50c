//! The runtime of one process: it starts what the configured role needs (client, worker,
//! API layer), serves health and metrics, and shuts down gracefully.
//!
//! [`App::start`] serves `/healthz` at once and connects (readiness stays false until it
//! has). [`App::run`] then hosts the worker and the API layer until SIGTERM or SIGINT, when
//! it stops taking new work, lets the worker drain within `worker.shutdown_grace_period`,
//! and returns `Ok(())` so the process exits 0.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use temporalio_sdk::runtime::RuntimeOptions;
use temporalio_sdk::runtime::worker_tuner::{FixedSizeSlotSupplier, TunerHolder};
use temporalio_sdk::{Runtime, Worker, WorkerOptions, WorkflowRegistrationError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::WorkflowClient;
use crate::config::{Config, Role};
use crate::connect::{Transport, connect};
use crate::embedded::EmbeddedEngine;
use crate::error::StartError;
use crate::health::{self, Readiness};
use crate::metrics::Metrics;

/// Extra time, beyond the grace period, for the runtime to wind down before it gives up.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(5);

type Registrar = Box<dyn FnOnce(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError>>;

/// The parts an integration offers; the role decides which of them run.
#[derive(Default)]
pub struct Services {
    worker: Option<Registrar>,
    api: Option<(TcpListener, Router)>,
}

impl Services {
    /// No parts yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The workflow logic: a function that registers workflows and activities on the worker.
    pub fn worker(
        mut self,
        register: impl FnOnce(&mut WorkerOptions) -> Result<(), WorkflowRegistrationError> + 'static,
    ) -> Self {
        self.worker = Some(Box::new(register));
        self
    }

    /// The API layer: an axum router served on `listener`.
    pub fn api(mut self, listener: TcpListener, router: Router) -> Self {
        self.api = Some((listener, router));
        self
    }
}

/// A started process: connected client, health endpoint, configuration.
pub struct App {
    config: Config,
    client: WorkflowClient,
    metrics: Metrics,
    readiness: Readiness,
    health_addr: SocketAddr,
    health_task: JoinHandle<()>,
    engine: Option<EmbeddedEngine>,
    console: Option<crate::console::Console>,
}

impl App {
    /// Serves health and metrics, then connects to Temporal with bounded retries. In demo
    /// mode (`engine = "embedded"`) it first starts the engine in this process, and reaches
    /// it in process, without a socket.
    pub async fn start(config: Config) -> Result<App, StartError> {
        config.validate()?;
        let mut config = config;
        let engine = crate::embedded::start(&mut config).await?;
        let transport = engine
            .as_ref()
            .map_or_else(Transport::default, EmbeddedEngine::transport);
        Self::start_with(config, engine, transport).await
    }

    /// Like [`App::start`], for an engine this process started itself with its own options:
    /// the client and the worker reach `engine` in process (whether or not it listens), and
    /// `temporal.address` is only shown in logs and errors. The caller keeps the engine and
    /// shuts it down after the app.
    #[cfg(feature = "embedded")]
    pub async fn start_on(
        config: Config,
        engine: &workflow_engine::EngineHandle,
    ) -> Result<App, StartError> {
        config.validate()?;
        let mut config = config;
        config.temporal.address = match engine.listener() {
            Some(address) => address.to_string(),
            None => crate::embedded::IN_PROCESS_ADDRESS.to_owned(),
        };
        Self::start_with(config, None, Transport::InProcess(engine.in_process())).await
    }

    pub(crate) async fn start_with(
        config: Config,
        engine: Option<EmbeddedEngine>,
        transport: Transport,
    ) -> Result<App, StartError> {
        let metrics = Metrics::new();
        let readiness = Readiness::new(config.role.runs_worker(), metrics.clone());
        let health_listen = |source| StartError::HealthListen {
            address: config.health.listen.to_string(),
            source,
        };
        let listener = TcpListener::bind(config.health.listen)
            .await
            .map_err(health_listen)?;
        let health_addr = listener.local_addr().map_err(health_listen)?;
        let routes = health::router(readiness.clone(), metrics.clone());
        let health_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, routes).await {
                tracing::error!(error = %e, "health endpoint stopped");
            }
        });
        tracing::info!(%health_addr, role = ?config.role, "health and metrics endpoint up");

        let identity = process_identity();
        let sdk_client = match connect(&config, &identity, &transport).await {
            Ok(client) => client,
            Err(e) => {
                health_task.abort();
                if let Some(engine) = engine {
                    engine.stop().await;
                }
                return Err(e);
            }
        };
        readiness.set_connected(true);
        let client = WorkflowClient::new(
            sdk_client,
            config.temporal.task_queue.clone(),
            config.temporal.address.clone(),
            config.temporal.request_timeout,
            metrics.clone(),
        )
        .with_eager_start(config.worker.eager_execution);
        let console = match crate::console::start(&config, &client).await {
            Ok(console) => console,
            Err(e) => {
                health_task.abort();
                if let Some(engine) = engine {
                    engine.stop().await;
                }
                return Err(e);
            }
        };
        Ok(App {
            config,
            client,
            metrics,
            readiness,
            health_addr,
            health_task,
            engine,
            console,
        })
    }

    /// The client for the API layer.
    pub fn client(&self) -> WorkflowClient {
        self.client.clone()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The metrics registry, to add the integration's own metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    pub fn health_addr(&self) -> SocketAddr {
        self.health_addr
    }

    /// Where the workflow console is served, when it is on (`[console]`).
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console.as_ref().map(crate::console::Console::addr)
    }

    /// Runs the role's parts until SIGTERM or SIGINT, then drains and returns.
    pub async fn run(self, services: Services) -> Result<(), StartError> {
        self.run_until(services, shutdown_signal()).await
    }

    /// Runs the role's parts until `shutdown` resolves, then drains and returns.
    pub async fn run_until(
        self,
        services: Services,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), StartError> {
        let role = self.config.role;
        let Services { worker, api } = services;
        let worker = pick(
            role.runs_worker(),
            worker,
            role,
            "workflow logic (a worker)",
        )?;
        let api = pick(role.runs_api(), api, role, "an API layer")?;

        // The SDK runtime must outlive its worker, so it lives in this frame.
        let (_sdk_runtime, mut sdk_worker) = match worker {
            Some(register) => {
                let (runtime, worker) = self.build_worker(register)?;
                (Some(runtime), Some(worker))
            }
            None => (None, None),
        };
        let stop_worker = sdk_worker.as_ref().map(Worker::shutdown_handle);
        let (stop_tx, stop_rx) = watch::channel(false);
        let grace = self.config.worker.shutdown_grace_period;
        let task_queue = self.config.temporal.task_queue.clone();

        let worker_part = async {
            let Some(worker) = sdk_worker.as_mut() else {
                return Ok(());
            };
            tracing::info!(%task_queue, "worker polling");
            self.readiness.set_worker_polling(true);
            let result = worker.run().await;
            self.readiness.set_worker_polling(false);
            if let Err(e) = &result {
                tracing::error!(error = %e, %task_queue, "worker stopped with an error");
                let _ = stop_tx.send(true);
            }
            result.map_err(StartError::WorkerRun)
        };
        let api_part = async {
            let Some((listener, router)) = api else {
                return Ok(());
            };
            let mut stop = stop_rx.clone();
            let addr = listener.local_addr().ok();
            tracing::info!(?addr, "API layer serving");
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|stopped| *stopped).await;
                })
                .await
                .map_err(StartError::ApiServe)
        };
        let work = async { tokio::join!(worker_part, api_part) };
        tokio::pin!(work);
        tokio::pin!(shutdown);

        let (worker_result, api_result) = tokio::select! {
            results = &mut work => results,
            () = &mut shutdown => {
                tracing::info!(grace_period = ?grace, "shutdown requested: draining");
                self.readiness.set_shutting_down();
                let _ = stop_tx.send(true);
                if let Some(stop) = &stop_worker {
                    stop();
                }
                match tokio::time::timeout(grace + SHUTDOWN_MARGIN, &mut work).await {
                    Ok(results) => results,
                    Err(_) => {
                        tracing::warn!("drain did not finish within the grace period; exiting");
                        (Ok(()), Ok(()))
                    }
                }
            }
        };
        self.health_task.abort();
        if let Some(console) = self.console {
            console.stop();
        }
        if let Some(engine) = self.engine {
            engine.stop().await;
        }
        worker_result?;
        api_result?;
        tracing::info!("stopped");
        Ok(())
    }

    fn build_worker(&self, register: Registrar) -> Result<(Runtime, Worker), StartError> {
        let runtime = Runtime::from_current_tokio(RuntimeOptions::default())
            .map_err(StartError::SdkRuntime)?;
        let w = &self.config.worker;
        let tuner = TunerHolder::builder()
            .workflow_task_slot_supplier(FixedSizeSlotSupplier::new(
                w.max_concurrent_workflow_tasks,
            ))
            .activity_task_slot_supplier(FixedSizeSlotSupplier::new(w.max_concurrent_activities))
            .local_activity_task_slot_supplier(FixedSizeSlotSupplier::new(
                w.max_concurrent_activities,
            ))
            .nexus_task_slot_supplier(FixedSizeSlotSupplier::new(1))
            .build();
        let mut options = WorkerOptions::new(self.config.temporal.task_queue.clone())
            .max_cached_workflows(w.max_cached_workflows)
            .tuner(tuner)
            .graceful_shutdown_period(w.shutdown_grace_period)
            .max_eager_activity_reservations_per_workflow_task(if w.eager_execution {
                3
            } else {
                0
            })
            .activity_inbound_interceptor(self.metrics.activity_interceptor())
            .build();
        register(&mut options).map_err(StartError::Register)?;
        let worker = Worker::new(&runtime, self.client.sdk_client().clone(), options)
            .map_err(StartError::Worker)?;
        Ok((runtime, worker))
    }
}

fn pick<T>(
    needed: bool,
    part: Option<T>,
    role: Role,
    what: &'static str,
) -> Result<Option<T>, StartError> {
    match (needed, part) {
        (true, None) => Err(StartError::Role { role, needs: what }),
        (true, Some(part)) => Ok(Some(part)),
        (false, Some(_)) => {
            tracing::info!(?role, "role does not run {what}; leaving it off");
            Ok(None)
        }
        (false, None) => Ok(None),
    }
}

fn process_identity() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    format!("{}@{host}", std::process::id())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
