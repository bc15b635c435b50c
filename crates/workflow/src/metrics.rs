//! Prometheus metrics: client operations, workflow starts and activity executions.
//!
//! Recorded by the client facade (every operation, with its outcome and latency) and by an
//! activity interceptor installed on the worker (every activity attempt). Served as text by
//! the health endpoint at `/metrics`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use temporalio_sdk::interceptors::{
    ActivityInboundInterceptor, ExecuteActivityInput, ExecuteActivityOutput, Next,
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationOnly {
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkflowTypeLabel {
    workflow_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityLabels {
    activity_type: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActivityTypeLabel {
    activity_type: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms .. ~65 s
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

struct Inner {
    registry: Mutex<Registry>,
    client_calls: Family<OperationLabels, Counter>,
    client_latency: Family<OperationOnly, Histogram, fn() -> Histogram>,
    workflows_started: Family<WorkflowTypeLabel, Counter>,
    activities: Family<ActivityLabels, Counter>,
    activity_latency: Family<ActivityTypeLabel, Histogram, fn() -> Histogram>,
    activities_running: Gauge,
    ready: Gauge,
}

/// The process's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with the library's metrics registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("workflow");
        let client_calls = Family::<OperationLabels, Counter>::default();
        let client_latency =
            Family::<OperationOnly, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let workflows_started = Family::<WorkflowTypeLabel, Counter>::default();
        let activities = Family::<ActivityLabels, Counter>::default();
        let activity_latency =
            Family::<ActivityTypeLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        let activities_running = Gauge::default();
        let ready = Gauge::default();
        registry.register(
            "client_requests",
            "Client operations (start, signal, query, update, result, cancel, ...) by outcome",
            client_calls.clone(),
        );
        registry.register(
            "client_request_duration_seconds",
            "Latency of client operations",
            client_latency.clone(),
        );
        registry.register(
            "workflows_started",
            "Workflow executions started by this process's client, by type",
            workflows_started.clone(),
        );
        registry.register(
            "activity_executions",
            "Activity attempts executed by this worker, by type and outcome",
            activities.clone(),
        );
        registry.register(
            "activity_duration_seconds",
            "Duration of activity attempts executed by this worker",
            activity_latency.clone(),
        );
        registry.register(
            "activities_running",
            "Activity attempts in progress on this worker",
            activities_running.clone(),
        );
        registry.register(
            "ready",
            "1 when the process is ready to serve",
            ready.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                client_calls,
                client_latency,
                workflows_started,
                activities,
                activity_latency,
                activities_running,
                ready,
            }),
        }
    }

    pub(crate) fn record_client_call(
        &self,
        operation: &'static str,
        outcome: &'static str,
        took: Duration,
    ) {
        self.inner
            .client_calls
            .get_or_create(&OperationLabels { operation, outcome })
            .inc();
        self.inner
            .client_latency
            .get_or_create(&OperationOnly { operation })
            .observe(took.as_secs_f64());
    }

    pub(crate) fn record_workflow_started(&self, workflow_type: &str) {
        self.inner
            .workflows_started
            .get_or_create(&WorkflowTypeLabel {
                workflow_type: workflow_type.to_owned(),
            })
            .inc();
    }

    pub(crate) fn set_ready(&self, ready: bool) {
        self.inner.ready.set(i64::from(ready));
    }

    /// An activity interceptor that records every activity attempt into these metrics.
    pub fn activity_interceptor(&self) -> ActivityMetrics {
        ActivityMetrics {
            metrics: self.clone(),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = match self.inner.registry.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        out
    }
}

/// Records activity attempts: installed on the worker by the runtime.
pub struct ActivityMetrics {
    metrics: Metrics,
}

impl ActivityInboundInterceptor for ActivityMetrics {
    fn execute_activity<'a>(
        &'a self,
        input: ExecuteActivityInput,
        next: Next<'a, ExecuteActivityInput, ExecuteActivityOutput<'a>>,
    ) -> ExecuteActivityOutput<'a> {
        let activity_type = input.activity_info().activity_type.clone();
        let inner = self.metrics.inner.clone();
        inner.activities_running.inc();
        let started = Instant::now();
        next.run(input)
            .map(move |result| {
                inner.activities_running.dec();
                let outcome = if result.is_ok() {
                    "completed"
                } else {
                    "failed"
                };
                inner
                    .activity_latency
                    .get_or_create(&ActivityTypeLabel {
                        activity_type: activity_type.clone(),
                    })
                    .observe(started.elapsed().as_secs_f64());
                inner
                    .activities
                    .get_or_create(&ActivityLabels {
                        activity_type,
                        outcome,
                    })
                    .inc();
                result
            })
            .boxed()
    }
}
