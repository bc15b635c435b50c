//! The workers that heartbeat (`RecordWorkerHeartbeat`, and the last heartbeat a
//! `ShutdownWorker` carries), by namespace and worker instance key, for `ListWorkers`,
//! `CountWorkers` and `DescribeWorker`. Kept in memory: workers heartbeat again after a
//! restart. A worker not heard from for five minutes is forgotten.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use temporalio_protos::temporal::api::worker::v1::WorkerHeartbeat;

/// A worker is forgotten this long after its last heartbeat.
const WORKER_TTL_MS: i64 = 5 * 60_000;

#[derive(Debug)]
struct Seen {
    heartbeat: WorkerHeartbeat,
    at_ms: i64,
}

/// Every heartbeating worker, by (namespace, worker instance key); heartbeats are timed by
/// the engine's clock when they arrive.
#[derive(Debug, Default)]
pub(crate) struct Workers {
    workers: Mutex<BTreeMap<(String, String), Seen>>,
}

impl Workers {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(String, String), Seen>> {
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `heartbeat` as its worker's latest (one without an instance key is ignored).
    pub(crate) fn record(&self, namespace: &str, heartbeat: WorkerHeartbeat, now_ms: i64) {
        if heartbeat.worker_instance_key.is_empty() {
            return;
        }
        let key = (namespace.to_owned(), heartbeat.worker_instance_key.clone());
        self.lock().insert(
            key,
            Seen {
                heartbeat,
                at_ms: now_ms,
            },
        );
    }

    /// The workers of `namespace` heard from in the last five minutes that `keep` keeps, by
    /// instance key.
    pub(crate) fn list(
        &self,
        namespace: &str,
        now_ms: i64,
        keep: impl Fn(&WorkerHeartbeat) -> bool,
    ) -> Vec<WorkerHeartbeat> {
        let mut workers = self.lock();
        workers.retain(|_, seen| now_ms - seen.at_ms <= WORKER_TTL_MS);
        workers
            .iter()
            .filter(|((ns, _), seen)| ns == namespace && keep(&seen.heartbeat))
            .map(|(_, seen)| seen.heartbeat.clone())
            .collect()
    }

    pub(crate) fn get(&self, namespace: &str, key: &str, now_ms: i64) -> Option<WorkerHeartbeat> {
        self.list(namespace, now_ms, |w| w.worker_instance_key == key)
            .into_iter()
            .next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat(key: &str, identity: &str) -> WorkerHeartbeat {
        WorkerHeartbeat {
            worker_instance_key: key.into(),
            worker_identity: identity.into(),
            ..Default::default()
        }
    }

    #[test]
    fn workers_are_kept_by_key_latest_first_and_forgotten_after_five_minutes() {
        let workers = Workers::default();
        workers.record("default", heartbeat("a", "one"), 0);
        workers.record("default", heartbeat("a", "one again"), 1_000);
        workers.record("default", heartbeat("b", "two"), 200_000);
        workers.record("other", heartbeat("c", "three"), 200_000);
        workers.record("default", heartbeat("", "no key"), 200_000);
        let identities = |now| -> Vec<String> {
            workers
                .list("default", now, |_| true)
                .into_iter()
                .map(|w| w.worker_identity)
                .collect()
        };
        assert_eq!(identities(2_000), ["one again", "two"]);
        assert_eq!(identities(400_000), ["two"]);
        assert_eq!(
            workers
                .get("default", "b", 400_000)
                .map(|w| w.worker_identity),
            Some("two".to_owned())
        );
        assert_eq!(workers.get("default", "c", 400_000), None);
    }
}
