//! The runtime ties the layers together: it runs every operation against the registry
//! under one lock, settles the cross-run work it caused (a child to start, a parent to
//! notify), commits the changes to the store, waits until they are durable and only then
//! executes the effects (tasks to queues, timers to the clock, history waiters woken).
//! Every operation reads the time from one [`Clock`], which time skipping moves forward.
//!
//! Beside it: `clock` (the one clock and time skipping), `timers` (durable timers),
//! `queries` (queries to workers), `watchers` (per-run wake-ups for long polls) and
//! `task_queues` (task queue descriptions, rates and config).

mod clock;
mod queries;
mod retention;
mod task_queues;
mod timers;
mod watchers;
mod workers;

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::watch;

pub use clock::TimeSkipping;
pub(crate) use clock::{Clock, ClockError, OFFSET_SETTING};
pub(crate) use queries::{PendingQueries, QueryAnswer, QueryOutcome};
pub(crate) use retention::spawn_sweeper;
pub(crate) use task_queues::{ConfigUpdate, SeenPoller, TaskQueues, config_setting};
pub(crate) use timers::Timers;
pub(crate) use watchers::RunWatchers;
pub(crate) use workers::Workers;

use crate::{
    error::{EngineError, Result},
    history::{Effect, Effects, Registry},
    matching::{Matching, QueueKey},
    store::{ClosedInfo, Commit, Store, StoreError, visibility::ClosedQuery},
};

/// An operation that has run under the lock, before its commit and effects.
struct Done<T> {
    /// What the operation returned.
    result: Result<T>,
    /// What must happen once the changes are durable.
    effects: Effects,
    /// The runs it changed (their long polls wake if history changed).
    touched: Vec<String>,
    /// The batch's sequence number and its pending commit, when anything changed.
    commit: Option<(u64, Commit)>,
}

/// How long a request waits for its change to become durable before it is answered
/// `Unavailable` (the database is down or overloaded).
pub(crate) const COMMIT_ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a request waits for its commit while the store already reports a stall (a full
/// disk) before it is answered with the cause.
const STALLED_ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_millis(500);

/// How often a request waiting for its commit asks the store whether it has stalled.
const STALL_CHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// Shared engine state; one per engine, behind an `Arc`.
pub(crate) struct EngineRuntime {
    registry: Mutex<Registry>,
    store: Arc<dyn Store>,
    /// Every batch up to this sequence number is durable.
    durable_seq: AtomicU64,
    pub(crate) matching: Arc<Matching>,
    /// Task queues' pollers, rates and config, for describe and rate limits.
    pub(crate) task_queues: TaskQueues,
    /// Workers that heartbeat, for `ListWorkers` and `DescribeWorker`.
    pub(crate) workers: Workers,
    pub(crate) timers: Timers,
    /// Long polls waiting for a run's history (or its updates) to change.
    pub(crate) watchers: RunWatchers,
    pub(crate) queries: PendingQueries,
    /// The server's time: wall time plus what time skipping has skipped.
    pub(crate) clock: Clock,
    shutdown: watch::Receiver<bool>,
    /// This runtime, for work that outlives a request (effects of a late commit).
    me: std::sync::Weak<EngineRuntime>,
}

impl EngineRuntime {
    /// A runtime over `registry`, writing to `store`, keeping at most `keep_closed` closed
    /// runs in memory, reading the time from `clock`.
    pub(crate) fn new(
        mut registry: Registry,
        store: Arc<dyn Store>,
        keep_closed: usize,
        clock: Clock,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        registry.attach_store(Arc::clone(&store), keep_closed);
        let task_queues = TaskQueues::restore(
            registry
                .settings
                .under(crate::history::settings::TASK_QUEUE_CONFIG)
                .map(|(_, value)| value),
        );
        Arc::new_cyclic(|me| Self {
            registry: Mutex::new(registry),
            store,
            durable_seq: AtomicU64::new(0),
            matching: Arc::new(Matching::default()),
            task_queues,
            workers: Workers::default(),
            timers: Timers::default(),
            watchers: RunWatchers::default(),
            queries: PendingQueries::default(),
            clock,
            shutdown,
            me: me.clone(),
        })
    }

    /// Runs `op` on the registry, makes its changes durable, then executes its effects.
    /// The result is returned only after the commit, so an acknowledged request survives a
    /// crash. A commit that takes longer than [`COMMIT_ANSWER_WITHIN`] (the database is
    /// down) is answered `Unavailable`; the change stays queued in the store, and its effects
    /// run once it is durable, even if the caller has gone.
    pub(crate) async fn execute<T>(
        &self,
        op: impl FnOnce(&mut Registry, i64, &mut Effects) -> Result<T>,
    ) -> Result<T> {
        let mut done = self.run_op(op);
        if done.commit.is_none() && self.store.stalled().is_some() {
            // An answer that changed nothing (a repeated start) may rest on a change still
            // waiting for disk space: an empty batch behind it is durable only after it.
            let seq = self.lock().batch_seq();
            done.commit = Some((seq, self.store.commit(crate::store::Batch::default())));
        }
        let Some((seq, commit)) = done.commit else {
            self.apply(done.effects, &done.touched);
            return done.result;
        };
        let Some(runtime) = self.me.upgrade() else {
            return Err(EngineError::Storage("the engine is stopping".into()));
        };
        let (effects, touched) = (done.effects, done.touched);
        let durable = tokio::spawn(async move {
            let durable = runtime.await_commit(seq, commit).await;
            if durable.is_ok() {
                runtime.apply(effects, &touched);
            }
            durable
        });
        // A stall (the disk is full) is told as soon as the store reports it, even when it
        // begins while this commit waits: the change stays queued and is written later.
        let began = tokio::time::Instant::now();
        let mut durable = durable;
        loop {
            let within = match self.store.stalled() {
                Some(_) => STALLED_ANSWER_WITHIN,
                None => STALL_CHECK_EVERY,
            };
            match tokio::time::timeout(within, &mut durable).await {
                Ok(Ok(durable)) => return durable.and(done.result),
                Ok(Err(e)) => {
                    return Err(EngineError::Storage(format!("commit task failed: {e}")));
                }
                Err(_) => {
                    if let Some(stalled) = self.store.stalled() {
                        return Err(EngineError::store(stalled));
                    }
                    if began.elapsed() >= COMMIT_ANSWER_WITHIN {
                        break;
                    }
                }
            }
        }
        tracing::warn!("a commit is taking over {COMMIT_ANSWER_WITHIN:?}; answering Unavailable");
        Err(EngineError::Unavailable(
            "the database is not answering; the change is kept and written once it is back, retry the request".into(),
        ))
    }

    /// Like [`EngineRuntime::execute`], but answers without waiting for the commit. Only for
    /// changes a crash may lose harmlessly: handing a task to a worker. If the record that
    /// it started is lost, the task is handed out again after the restart, and the worker's
    /// answer to the forgotten attempt is refused as stale. Commits stay ordered, so
    /// anything acknowledged later is durable only with this change.
    pub(crate) fn execute_unacknowledged<T>(
        self: &Arc<Self>,
        op: impl FnOnce(&mut Registry, i64, &mut Effects) -> Result<T>,
    ) -> Result<T> {
        let done = self.run_op(op);
        if let Some((seq, commit)) = done.commit {
            let runtime = Arc::clone(self);
            tokio::spawn(async move {
                // Failures are logged there; nobody is waiting for this one.
                let _ = runtime.await_commit(seq, commit).await;
            });
        }
        self.apply(done.effects, &done.touched);
        done.result
    }

    /// Runs `op` and its cross-run work under the lock; queues the changes for commit.
    fn run_op<T>(&self, op: impl FnOnce(&mut Registry, i64, &mut Effects) -> Result<T>) -> Done<T> {
        let mut registry = self.lock();
        let mut effects = Effects::default();
        let now = self.clock.now_ms();
        let result = op(&mut registry, now, &mut effects);
        registry.enforce_history_limits(now, &mut effects);
        registry.settle(now, &mut effects);
        // Cross-run work (a child started, a signal delivered) may push another run over.
        if registry.enforce_history_limits(now, &mut effects) {
            registry.settle(now, &mut effects);
        }
        let (mut batch, touched) = registry.take_batch();
        // A jump of the clock is durable with the first batch after it, before anything
        // stamped with the new time.
        if let Some(offset) = self.clock.take_dirty_offset() {
            batch
                .settings
                .push((clock::OFFSET_SETTING.to_owned(), offset.to_string()));
        }
        let commit = (!batch.is_empty()).then(|| (registry.batch_seq(), self.store.commit(batch)));
        Done {
            result,
            effects,
            touched,
            commit,
        }
    }

    /// Waits until batch `seq` is durable.
    async fn await_commit(&self, seq: u64, commit: Commit) -> Result<()> {
        match commit.await {
            Ok(Ok(())) => {
                self.durable_seq.fetch_max(seq, Ordering::AcqRel);
                Ok(())
            }
            Ok(Err(e)) => {
                if matches!(e, StoreError::Unavailable(_)) {
                    tracing::warn!("commit not yet durable: {e}");
                } else {
                    tracing::error!("commit failed: {e}");
                }
                Err(EngineError::store(e))
            }
            Err(_) => Err(EngineError::Storage("the store has stopped".into())),
        }
    }

    /// Reads the registry. Nothing `f` does is persisted: it may only load closed runs back
    /// into memory (through `Registry::resolve` and `Registry::load`), not change them.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut Registry) -> T) -> T {
        f(&mut self.lock())
    }

    /// Every closed run of `namespace` that is stored, for visibility.
    pub(crate) fn stored_closed_runs(
        &self,
        namespace: &str,
    ) -> std::result::Result<Vec<ClosedInfo>, StoreError> {
        self.store.closed_infos(namespace)
    }

    /// A page of stored closed runs, filtered by the store; `None` if it cannot.
    pub(crate) fn query_stored_closed_runs(
        &self,
        query: &ClosedQuery,
    ) -> std::result::Result<Option<Vec<ClosedInfo>>, StoreError> {
        self.store.query_closed(query)
    }

    /// Stored closed runs by status, counted by the store; `None` if it cannot.
    pub(crate) fn count_stored_closed_runs(
        &self,
        query: &ClosedQuery,
    ) -> std::result::Result<Option<Vec<(i32, i64)>>, StoreError> {
        self.store.count_closed(query)
    }

    /// Executes effects: dispatch tasks, arm timers, wake the long polls on the `touched`
    /// runs.
    fn apply(&self, effects: Effects, touched: &[String]) {
        let mut history_changed = false;
        for effect in effects.0 {
            match effect {
                Effect::Dispatch {
                    namespace,
                    queue,
                    kind,
                    task,
                    route,
                } => {
                    let key = QueueKey {
                        namespace,
                        name: queue,
                        kind,
                    };
                    self.task_queues.added(&key, crate::time::now_ms());
                    self.matching.push(key, task, route);
                }
                Effect::Timer { at_ms, timer } => self.timers.arm(at_ms, timer),
                Effect::HistoryChanged => history_changed = true,
            }
        }
        if history_changed {
            self.watchers.wake(touched);
        }
        // Work may have finished: the time skipper looks again.
        self.clock.poke();
    }

    /// With time skipping unlocked and nothing pending (no workflow task or activity in
    /// flight, no query waiting for a worker), moves the clock to the next deadline: of a
    /// timer that still applies, or of a sleeper. Checked and moved under the registry lock,
    /// so no operation sees work appear across the jump. Returns whether it jumped.
    pub(crate) fn skip_idle_time(&self) -> bool {
        let registry = self.lock();
        if !self.clock.unlocked() || self.queries.in_flight() {
            return false;
        }
        if let Some(run_id) = registry.pending_work() {
            tracing::trace!(run_id, "time skipping waits for pending work");
            return false;
        }
        let timer = self.timers.next_live(|timer| registry.timer_is_live(timer));
        let next = match (timer, self.clock.next_sleeper()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        next.is_some_and(|deadline| self.clock.jump_to(deadline))
    }

    /// Resolves when the engine begins shutting down.
    pub(crate) async fn shutting_down(&self) {
        let mut shutdown = self.shutdown.clone();
        let _ = shutdown.wait_for(|stop| *stop).await;
    }

    /// The registry, after dropping closed runs that are durable and beyond the cache.
    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        registry.evict(self.durable_seq.load(Ordering::Acquire));
        registry
    }
}

/// Starts the background task that fires durable timers.
pub(crate) fn spawn_timer_driver(runtime: Arc<EngineRuntime>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(timers::drive(runtime))
}
