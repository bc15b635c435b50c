//! Fuzzing entry points: turn arbitrary bytes into a sequence of `WorkflowService` requests
//! and feed them, in process, to a fresh in-memory engine. The fuzz target in
//! `crates/engine/fuzz` and the `fuzz_seeds` test call [`run_requests`]; nothing here is
//! needed to run an engine.
//!
//! # Input format
//!
//! An input is a sequence of chunks `[op, len_lo, len_hi, body[len]]` (the last body may be
//! shorter). `op & 0x1f` picks one of 32 operations (the `Op` table in `fuzzing/ops.rs`):
//! most are one RPC whose request is the prost-encoded body (undecodable bodies are
//! skipped); some are turns a worker would take (poll a task, answer it with commands or a
//! result decoded from the body), a short sleep that lets timers fire, and a restart of the
//! engine from its store. A call in the foreground gives up as soon as it waits on anything
//! but the engine (a long poll, a query, an update), as a client that hangs up would; with
//! `op & 0x80` it runs in the background with a 20 ms long poll instead, so a query or an
//! update can wait while later chunks answer it.
//!
//! Task tokens are JSON naming run ids the fuzzer cannot guess, so a token of one byte `i`
//! stands for the `i`-th newest token a poll handed out, three bytes `[i, a, b]` for that
//! token with its first two numbers shifted by `a` and `b` (as `i8`), and four bytes
//! `[i, a, b, _]` for it with those numbers replaced by extremes (0, -1, `i64::MIN`, ...):
//! stale and forged attempts. Worker turns poll the namespaces and task queues that earlier requests named.
//!
//! # What is checked
//!
//! No call may panic; each ends with a response or a `tonic::Status`, or is dropped after
//! 50 ms at most. Besides:
//!
//! - history handed to a worker or a client is numbered consecutively;
//! - after a restart, every open run has the history it had before;
//! - at the end the engine still answers `DescribeNamespace` for `default`.
//!
//! A violation panics, which is what the fuzzer reports.
//!
//! Files: `ops` (the requests a byte stands for), `seen` (names and tokens remembered),
//! `call` (calling the engine briefly or patiently) and `seeds` (the seed inputs).

mod call;
mod ops;
mod seeds;
mod seen;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use temporalio_protos::temporal::api::{
    history::v1::HistoryEvent, workflowservice::v1::DescribeNamespaceRequest,
};
use tokio::{sync::watch, task::JoinHandle};
use tonic::Request;

pub use seeds::seed_inputs;

use call::{Caller, Work, block_on, bounded_unit, rethrow};
use seen::Seen;

use crate::{
    api::Service,
    engine::{self, DEFAULT_NAMESPACE, EngineOptions},
    generated::workflowservice::workflow_service_server::WorkflowService,
    runtime::{self, EngineRuntime},
    store::{MemoryStore, Store},
};

/// The longest any one call may take before the harness stops waiting for it.
const CALL_TIMEOUT: Duration = Duration::from_millis(50);
/// The long poll of background calls: long enough for later chunks to answer them.
const BACKGROUND_LONG_POLL: Duration = Duration::from_millis(20);
/// Closed runs kept in memory; small, so reads of closed runs go to the store.
const CLOSED_RUNS_IN_MEMORY: usize = 2;
/// How often a foreground call is polled (with a yield between) before the harness gives up.
const BRIEF_POLLS: usize = 4;
/// Background calls in flight at once; later ones run in the foreground.
const MAX_BACKGROUND: usize = 64;
/// How many names and tokens the harness remembers.
const MAX_SEEN: usize = 16;

/// Runs the requests encoded in `data` (see the module docs) against a fresh in-memory
/// engine, then checks that the engine still serves.
///
/// # Panics
///
/// When the engine panics or breaks one of the invariants listed in the module docs: that
/// is a bug, and the input reproduces it.
pub fn run_requests(data: &[u8]) {
    let mut session = Session::new();
    session.run(data);
    assert!(
        session.serves(),
        "the engine no longer answers DescribeNamespace(default)"
    );
    session.finish();
}

/// One in-memory engine fed any number of inputs, for checks that state accumulated over
/// many inputs does not break the engine either. [`run_requests`] uses a fresh one per input.
pub struct Session {
    store: Arc<MemoryStore>,
    live: Option<Live>,
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}

impl Session {
    /// Starts an in-memory engine with only the `default` namespace.
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::default());
        let live = block_on(Live::start(Arc::clone(&store)));
        Self {
            store,
            live: Some(live),
            seen: Arc::new(Mutex::new(Seen::default())),
        }
    }

    /// Runs the requests encoded in `data`. Background calls may still be waiting when this
    /// returns; they end within 50 ms, at [`Session::finish`] or at the next restart.
    ///
    /// # Panics
    ///
    /// When the engine panics or breaks an invariant (see the module docs).
    pub fn run(&mut self, data: &[u8]) {
        block_on(self.run_async(data));
    }

    /// Whether the engine answers `DescribeNamespace` for `default`.
    pub fn serves(&self) -> bool {
        let Some(live) = self.live.as_ref() else {
            return false;
        };
        let request = DescribeNamespaceRequest {
            namespace: DEFAULT_NAMESPACE.to_owned(),
            ..Default::default()
        };
        let fast = &live.fast;
        block_on(fast.call(fast.service.describe_namespace(Request::new(request)))).is_some()
    }

    /// Stops the engine and waits until its tasks have ended.
    pub fn finish(mut self) {
        if let Some(live) = self.live.take() {
            block_on(live.shutdown());
        }
    }

    async fn run_async(&mut self, data: &[u8]) {
        let mut rest = data;
        while let [op, lo, hi, tail @ ..] = rest {
            let len = usize::from(u16::from_le_bytes([*lo, *hi])).min(tail.len());
            let (body, next) = tail.split_at(len);
            rest = next;
            self.step(*op, body).await;
        }
        if let Some(live) = self.live.as_mut() {
            live.reap_background().await;
        }
    }

    async fn step(&mut self, op: u8, body: &[u8]) {
        match ops::Op::from_byte(op) {
            ops::Op::Restart => self.restart().await,
            ops::Op::Sleep => {
                let ms = body.first().map_or(0, |b| u64::from(b % 3));
                if ms == 0 {
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            kind => {
                let Some(live) = self.live.as_mut() else {
                    return;
                };
                if live.background.len() >= MAX_BACKGROUND {
                    live.reap_background().await;
                }
                let background = op & 0x80 != 0 && live.background.len() < MAX_BACKGROUND;
                let service = if background { &live.slow } else { &live.fast };
                let Some(work) = ops::work(kind, service, &self.seen, body) else {
                    return;
                };
                if background {
                    live.background
                        .push(tokio::spawn(async move { bounded_unit(work).await }));
                } else {
                    bounded_unit(work).await;
                }
                // Let timers and background calls (the one just spawned: up to where it
                // waits) make progress between chunks.
                tokio::task::yield_now().await;
            }
        }
    }

    /// Stops the engine, starts a new one from the same store (only what was committed
    /// survives) and checks that open runs kept their history.
    async fn restart(&mut self) {
        let Some(live) = self.live.take() else {
            return;
        };
        let old = Arc::clone(&live.fast.service.runtime);
        live.shutdown().await;
        let before = open_histories(&old);
        let next = Live::start(Arc::clone(&self.store)).await;
        let after = open_histories(&next.fast.service.runtime);
        for (run_id, events) in &before {
            assert_eq!(
                after.get(run_id),
                Some(events),
                "run {run_id} lost or changed history across a restart"
            );
        }
        self.live = Some(next);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(live) = self.live.as_ref() {
            let _ = live.stop.send(true);
        }
    }
}

/// A running engine: its service twice (answering long polls at once, for foreground calls,
/// and after [`BACKGROUND_LONG_POLL`], for background ones), its timer driver and the
/// background calls in flight.
struct Live {
    fast: Caller,
    slow: Caller,
    stop: watch::Sender<bool>,
    timers: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
}

impl Live {
    async fn start(store: Arc<MemoryStore>) -> Self {
        let (stop, stopped) = watch::channel(false);
        let options = EngineOptions {
            closed_runs_in_memory: CLOSED_RUNS_IN_MEMORY,
            ..EngineOptions::default()
        };
        let store: Arc<dyn Store> = store;
        let prepared = match engine::recover(store, &options, stopped).await {
            Ok(prepared) => prepared,
            Err(e) => panic!("the engine cannot start from its own store: {e}"),
        };
        let runtime = prepared.runtime;
        let timers = runtime::spawn_timer_driver(Arc::clone(&runtime));
        Self {
            fast: Caller {
                service: Service::new(Arc::clone(&runtime), Duration::ZERO, String::new()),
                patient: false,
            },
            slow: Caller {
                service: Service::new(runtime, BACKGROUND_LONG_POLL, String::new()),
                patient: true,
            },
            stop,
            timers,
            background: Vec::new(),
        }
    }

    /// Waits for the background calls; a panic in one is re-raised here.
    async fn join_background(&mut self) {
        for handle in self.background.drain(..) {
            rethrow(handle.await);
        }
    }

    /// Forgets the background calls that have ended, re-raising their panics.
    async fn reap_background(&mut self) {
        let (done, running) = std::mem::take(&mut self.background)
            .into_iter()
            .partition(|h| h.is_finished());
        self.background = running;
        for handle in done {
            rethrow(handle.await);
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.join_background().await;
        rethrow(self.timers.await);
    }
}

/// Every open run's history as (event id, event type), by run id.
fn open_histories(rt: &EngineRuntime) -> BTreeMap<String, Vec<(i64, i32)>> {
    rt.read(|registry| {
        registry
            .runs_in_memory()
            .filter(|exec| exec.is_open())
            .map(|exec| {
                let events = exec
                    .history()
                    .iter()
                    .map(|e| (e.event_id, e.event_type))
                    .collect();
                (exec.run_id().to_owned(), events)
            })
            .collect()
    })
}

/// Panics unless `events` are numbered consecutively.
fn check_numbering(events: &[HistoryEvent]) {
    for pair in events.windows(2) {
        if let [a, b] = pair {
            assert_eq!(
                a.event_id.checked_add(1),
                Some(b.event_id),
                "history events out of sequence: {} then {}",
                a.event_id,
                b.event_id
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::{
        common::v1::WorkflowExecution, enums::v1::EventType,
        workflowservice::v1::GetWorkflowExecutionHistoryRequest,
    };

    use super::*;

    impl Session {
        /// Event types of the history of every run of `workflow_id`, oldest run first.
        fn event_types(&self, namespace: &str, workflow_id: &str) -> Vec<EventType> {
            let Some(live) = self.live.as_ref() else {
                return Vec::new();
            };
            let fast = &live.fast;
            let mut run_id = String::new();
            let mut runs = Vec::new();
            // Walk back from the latest run through the continued-as-new chain.
            loop {
                let request = GetWorkflowExecutionHistoryRequest {
                    namespace: namespace.into(),
                    execution: Some(WorkflowExecution {
                        workflow_id: workflow_id.into(),
                        run_id: run_id.clone(),
                    }),
                    ..Default::default()
                };
                let Some(answer) = block_on(
                    fast.call(
                        fast.service
                            .get_workflow_execution_history(Request::new(request)),
                    ),
                ) else {
                    break;
                };
                let events = answer.history.map(|h| h.events).unwrap_or_default();
                let previous = events.first().and_then(|e| match &e.attributes {
                    Some(temporalio_protos::temporal::api::history::v1::history_event::Attributes::WorkflowExecutionStartedEventAttributes(a)) => Some(a.continued_execution_run_id.clone()),
                    _ => None,
                });
                runs.push(
                    events
                        .iter()
                        .map(|e| {
                            EventType::try_from(e.event_type).unwrap_or(EventType::Unspecified)
                        })
                        .collect::<Vec<_>>(),
                );
                match previous.filter(|p| !p.is_empty()) {
                    Some(p) => run_id = p,
                    None => break,
                }
            }
            runs.into_iter().rev().flatten().collect()
        }
    }

    /// Each seed must reach the states it was written for, or the fuzzer starts shallow.
    #[test]
    fn seeds_reach_deep_states() {
        use EventType as E;
        let expected: [(&str, &str, &str, &[EventType]); 15] = [
            (
                "complete",
                "default",
                "wf-1",
                &[E::WorkflowExecutionCompleted],
            ),
            (
                "activity",
                "default",
                "wf-a",
                &[E::ActivityTaskCompleted, E::WorkflowExecutionCompleted],
            ),
            (
                "activity_retry",
                "default",
                "wf-r",
                &[E::ActivityTaskFailed, E::WorkflowExecutionFailed],
            ),
            (
                "timer_signal_cancel",
                "default",
                "wf-t",
                &[
                    E::TimerStarted,
                    E::WorkflowExecutionSignaled,
                    E::WorkflowExecutionCanceled,
                ],
            ),
            (
                "update_query",
                "default",
                "wf-u",
                &[
                    E::WorkflowExecutionUpdateAccepted,
                    E::WorkflowExecutionUpdateCompleted,
                ],
            ),
            (
                "child_continue_restart",
                "default",
                "wf-p",
                &[
                    E::ChildWorkflowExecutionStarted,
                    E::WorkflowExecutionContinuedAsNew,
                    E::WorkflowExecutionCompleted,
                ],
            ),
            (
                "sticky",
                "default",
                "wf-s",
                &[E::WorkflowExecutionSignaled, E::WorkflowExecutionCompleted],
            ),
            ("task_failures", "default", "wf-f", &[E::WorkflowTaskFailed]),
            (
                "namespaces",
                "ns2",
                "wf-n",
                &[E::WorkflowExecutionSignaled, E::WorkflowExecutionCompleted],
            ),
            (
                "timeouts",
                "default",
                "wf-to",
                &[E::WorkflowExecutionTimedOut],
            ),
            (
                "externals",
                "default",
                "wf-x1",
                &[
                    E::WorkflowExecutionSignaled,
                    E::WorkflowExecutionCancelRequested,
                    E::TimerCanceled,
                    E::ActivityTaskCancelRequested,
                ],
            ),
            (
                "externals",
                "default",
                "wf-x2",
                &[
                    E::ExternalWorkflowExecutionSignaled,
                    E::ExternalWorkflowExecutionCancelRequested,
                    E::MarkerRecorded,
                    E::UpsertWorkflowSearchAttributes,
                    E::WorkflowPropertiesModified,
                ],
            ),
            (
                "huge_durations",
                "default",
                "wf-h",
                &[
                    E::TimerStarted,
                    E::ActivityTaskScheduled,
                    E::WorkflowExecutionSignaled,
                ],
            ),
            (
                "forged_tokens",
                "default",
                "wf-k",
                &[E::ActivityTaskScheduled, E::WorkflowExecutionCompleted],
            ),
            ("bad_requests", "default", "nope", &[]),
        ];
        let seeds: BTreeMap<_, _> = seed_inputs().into_iter().collect();
        assert_eq!(seeds.len(), 14);
        for (name, namespace, workflow_id, events) in expected {
            let mut session = Session::new();
            session.run(&seeds[name]);
            let seen = session.event_types(namespace, workflow_id);
            for event in events {
                assert!(
                    seen.contains(event),
                    "seed {name}: no {event:?} in {seen:?}"
                );
            }
            assert!(session.serves());
            session.finish();
        }
    }

    #[test]
    fn short_tokens_stand_for_tokens_seen() {
        let mut seen = Seen::default();
        assert_eq!(seen.resolve_token(vec![0]), vec![0], "nothing seen yet");
        seen.token(br#"{"Workflow":{"run_id":"r","scheduled_event_id":2,"started_event_id":3}}"#);
        seen.token(b"newest");
        assert_eq!(seen.resolve_token(vec![0]), b"newest".to_vec());
        assert_eq!(seen.resolve_token(vec![3]), seen.tokens[0]);
        let shifted = seen.resolve_token(vec![1, 0xff, 2]);
        let value: serde_json::Value = serde_json::from_slice(&shifted).unwrap_or_default();
        assert_eq!(value["Workflow"]["scheduled_event_id"], 1);
        assert_eq!(value["Workflow"]["started_event_id"], 5);
        let extreme = seen.resolve_token(vec![1, 2, 3, 0]);
        let value: serde_json::Value = serde_json::from_slice(&extreme).unwrap_or_default();
        assert_eq!(value["Workflow"]["scheduled_event_id"], i64::MIN);
        assert_eq!(value["Workflow"]["started_event_id"], i64::MAX);
        assert_eq!(seen.resolve_token(vec![1, 2, 3, 4, 5]), vec![1, 2, 3, 4, 5]);
    }
}
