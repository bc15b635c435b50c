//! Starting an engine, connecting a client and running a worker next to a test body.

use std::{future::Future, net::SocketAddr, time::Duration};

use temporalio_client::{
    Client, ClientOptions, Connection, ConnectionOptions, Url, WorkflowGetResultOptions,
    WorkflowHandle, WorkflowStartOptions,
};
use temporalio_common::HasWorkflowDefinition;
use temporalio_sdk::{
    Runtime, Worker, WorkerOptions, WorkerOptionsBuilder, WorkflowRegistrationError,
};
use workflow_engine::{Engine, EngineHandle, EngineOptions};

/// One test's engine: in memory (unless `options` say otherwise) on a loopback port, a
/// client connected to it, and a task queue of the test's own.
pub struct TestEngine {
    pub engine: EngineHandle,
    pub client: Client,
    pub queue: String,
    runtime: Runtime,
}

impl TestEngine {
    /// An in-memory engine with the tests' [`options`]; `test` names the task queue.
    pub async fn start(test: &str) -> Self {
        Self::start_with(test, options()).await
    }

    pub async fn start_with(test: &str, options: EngineOptions) -> Self {
        let engine = start(options).await;
        let client = connect(engine.address()).await;
        Self::with_client(test, engine, client)
    }

    /// A started `engine` with a `client` connected as the test needs (e.g. over TLS).
    pub fn with_client(test: &str, engine: EngineHandle, client: Client) -> Self {
        Self {
            engine,
            client,
            queue: task_queue(test),
            runtime: runtime(),
        }
    }

    /// A worker on this test's queue, with what `register` adds (workflows, activities).
    pub fn worker(
        &self,
        register: impl FnOnce(
            WorkerOptionsBuilder,
        ) -> Result<WorkerOptionsBuilder, WorkflowRegistrationError>,
    ) -> Worker {
        let options = register(WorkerOptions::new(&self.queue))
            .unwrap_or_else(|e| panic!("register: {e}"))
            .build();
        self.worker_with(options)
    }

    /// A worker with `options` as they are.
    pub fn worker_with(&self, options: WorkerOptions) -> Worker {
        worker(&self.runtime, &self.client, options)
    }

    /// Starts workflow `id` on this test's queue.
    pub async fn start_workflow<W>(
        &self,
        workflow: W,
        input: W::Input,
        id: &str,
    ) -> WorkflowHandle<Client, W>
    where
        W: HasWorkflowDefinition,
        W::Input: Send,
    {
        let options = WorkflowStartOptions::new(&self.queue, id).build();
        self.client
            .start_workflow(workflow, input, options)
            .await
            .unwrap_or_else(|e| panic!("start {id}: {e}"))
    }

    /// Starts workflow `id` on this test's queue and waits for its result.
    pub async fn execute<W>(&self, workflow: W, input: W::Input, id: &str) -> W::Output
    where
        W: HasWorkflowDefinition,
        W::Input: Send,
    {
        self.start_workflow(workflow, input, id)
            .await
            .get_result(WorkflowGetResultOptions::default())
            .await
            .unwrap_or_else(|e| panic!("result of {id}: {e}"))
    }

    /// Shuts the engine down; fails the test if it does not stop cleanly.
    pub async fn shutdown(self) {
        self.engine
            .shutdown()
            .await
            .unwrap_or_else(|e| panic!("shutdown: {e}"));
    }
}

/// Long polls answer quickly in tests so workers shut down fast.
pub const LONG_POLL: Duration = Duration::from_secs(3);

/// Options for an in-memory engine on a free loopback port.
pub fn options() -> EngineOptions {
    EngineOptions::new(SocketAddr::from(([127, 0, 0, 1], 0))).with_long_poll_timeout(LONG_POLL)
}

/// Deletes a test database with its WAL and shared-memory files.
pub fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A database for an engine under test, deleted (or stopped) on drop.
pub enum TestDb {
    /// A SQLite file in the temporary directory.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL server of its own, and the URL of the engine's database on it.
    Postgres(workflow_testkit::PostgresServer, String),
}

impl TestDb {
    pub fn sqlite(name: &str) -> Self {
        Self::Sqlite(std::env::temp_dir().join(format!("{name}-{}.db", uuid::Uuid::new_v4())))
    }

    /// Starts a PostgreSQL server (blocking; call before the engine starts).
    pub fn postgres() -> Self {
        let server = workflow_testkit::PostgresServer::start();
        let url = server.create_database("engine");
        Self::Postgres(server, url)
    }

    /// `options` persisting to this database.
    pub fn apply(&self, options: EngineOptions) -> EngineOptions {
        match self {
            Self::Sqlite(path) => options.with_database(path),
            Self::Postgres(_, url) => options.with_database_url(url),
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Self::Sqlite(path) = self {
            remove_database(path);
        }
    }
}

pub async fn start(options: EngineOptions) -> EngineHandle {
    Engine::start(options)
        .await
        .unwrap_or_else(|e| panic!("engine failed to start: {e}"))
}

pub async fn connect(address: SocketAddr) -> Client {
    let url = Url::parse(&format!("http://{address}")).unwrap_or_else(|e| panic!("url: {e}"));
    let connection =
        Connection::connect(ConnectionOptions::new(url).identity("engine-tests").build())
            .await
            .unwrap_or_else(|e| panic!("client failed to connect: {e}"));
    Client::new(connection, ClientOptions::new("default").build())
        .unwrap_or_else(|e| panic!("client: {e}"))
}

/// A unique task queue name per test.
pub fn task_queue(test: &str) -> String {
    format!("{test}-{}", uuid::Uuid::new_v4())
}

/// Builds a worker for `options` (already holding its registrations).
pub fn worker(runtime: &Runtime, client: &Client, options: WorkerOptions) -> Worker {
    Worker::new(runtime, client.clone(), options).unwrap_or_else(|e| panic!("worker: {e}"))
}

pub fn runtime() -> Runtime {
    Runtime::from_current_tokio(Default::default()).unwrap_or_else(|e| panic!("runtime: {e}"))
}

/// Runs `body` next to `worker` on this task (the worker owns a `LocalSet`), then shuts the
/// worker down. Fails the test if either takes longer than `limit`.
pub async fn with_worker<T>(
    worker: &mut Worker,
    limit: Duration,
    body: impl Future<Output = T>,
) -> T {
    let shutdown = worker.shutdown_handle();
    let body = async {
        let value = body.await;
        shutdown();
        value
    };
    let joined = tokio::time::timeout(limit, async { tokio::join!(worker.run(), body) }).await;
    let (ran, value) = joined.unwrap_or_else(|_| panic!("test timed out after {limit:?}"));
    ran.unwrap_or_else(|e| panic!("worker failed: {e}"));
    value
}

/// Polls `check` every 100 ms until it holds; fails the test after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        if tokio::time::Instant::now() >= deadline {
            panic!("condition not reached within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
