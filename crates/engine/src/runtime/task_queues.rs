//! What describing a task queue reports beyond its tasks: the pollers seen in the last five
//! minutes (identity, last poll, rate, deployment), the rates at which tasks were added and
//! dispatched, and the queue's config (`UpdateTaskQueueConfig`), whose queue rate limit a
//! token bucket enforces when a poll begins. A queue's config is durable: each change is
//! kept as a server setting (`taskqueue.config.…`, the prost-encoded config in base64)
//! written with the operation that made it, and read back at start.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    deployment::v1::WorkerDeploymentOptions,
    taskqueue::v1::{ConfigMetadata, RateLimit, RateLimitConfig, TaskQueueConfig},
};

use crate::history::{QueueKind, settings::TASK_QUEUE_CONFIG};
use crate::matching::QueueKey;
use crate::time::timestamp;

/// A poller is forgotten this long after its last poll, as on the real server.
const POLLER_TTL_MS: i64 = 5 * 60_000;
/// Rates are averaged over this window.
const RATE_WINDOW_MS: i64 = 30_000;
/// At most this many events are kept per window (enough for 300 tasks a second).
const WINDOW_CAP: usize = 9_000;

/// A poller as describe shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeenPoller {
    pub(crate) identity: String,
    pub(crate) last_access_ms: i64,
    pub(crate) rate_per_second: f64,
    pub(crate) deployment: Option<WorkerDeploymentOptions>,
}

/// Times of recent events, to compute a rate.
#[derive(Debug, Default)]
struct Window(VecDeque<i64>);

impl Window {
    fn record(&mut self, now_ms: i64) {
        self.prune(now_ms);
        if self.0.len() == WINDOW_CAP {
            self.0.pop_front();
        }
        self.0.push_back(now_ms);
    }

    fn prune(&mut self, now_ms: i64) {
        while self.0.front().is_some_and(|t| now_ms - t > RATE_WINDOW_MS) {
            self.0.pop_front();
        }
    }

    /// Events per second over the window.
    fn rate(&mut self, now_ms: i64) -> f64 {
        self.prune(now_ms);
        self.0.len() as f64 / (RATE_WINDOW_MS as f64 / 1000.0)
    }
}

/// A token bucket holding up to one second of tokens (at least one); it goes below zero
/// when polls that were already waiting take more tasks than it held.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: Option<i64>,
}

#[derive(Debug, Default)]
struct Info {
    pollers: HashMap<String, SeenPoller>,
    added: Window,
    dispatched: Window,
    config: TaskQueueConfig,
    bucket: Option<Bucket>,
}

impl Info {
    fn rate_limit(&self) -> Option<f32> {
        self.config
            .queue_rate_limit
            .as_ref()
            .and_then(|c| c.rate_limit.as_ref())
            .map(|r| r.requests_per_second)
    }
}

/// One change of a queue's config, as `UpdateTaskQueueConfig` asks for it.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigUpdate {
    /// `Some(None)` removes the queue rate limit.
    pub(crate) queue_rate_limit: Option<Option<f32>>,
    /// `Some(None)` removes the default per-fairness-key rate limit.
    pub(crate) fairness_key_rate_limit: Option<Option<f32>>,
    pub(crate) set_weights: HashMap<String, f32>,
    pub(crate) unset_weights: Vec<String>,
    pub(crate) reason: String,
    pub(crate) identity: String,
}

/// A queue's config as it is stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredConfig {
    namespace: String,
    queue: String,
    /// `workflow` or `activity`.
    kind: String,
    /// The prost-encoded `TaskQueueConfig`, in base64.
    config: String,
}

/// The setting that keeps `key`'s config: its key (under [`TASK_QUEUE_CONFIG`]) and value.
pub(crate) fn config_setting(key: &QueueKey, config: &TaskQueueConfig) -> (String, String) {
    let kind = match key.kind {
        QueueKind::Workflow => "workflow",
        QueueKind::Activity => "activity",
        QueueKind::Nexus => "nexus",
    };
    let stored = StoredConfig {
        namespace: key.namespace.clone(),
        queue: key.name.clone(),
        kind: kind.to_owned(),
        config: STANDARD.encode(config.encode_to_vec()),
    };
    let value = serde_json::to_string(&stored).unwrap_or_default();
    (
        format!("{TASK_QUEUE_CONFIG}{}\n{kind}\n{}", key.namespace, key.name),
        value,
    )
}

/// A stored config back as its queue and config; `None` (logged) if unreadable.
fn read_config(value: &str) -> Option<(QueueKey, TaskQueueConfig)> {
    let stored: StoredConfig = match serde_json::from_str(value) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!("skipping an unreadable task queue config: {e}");
            return None;
        }
    };
    let kind = match stored.kind.as_str() {
        "workflow" => QueueKind::Workflow,
        "activity" => QueueKind::Activity,
        "nexus" => QueueKind::Nexus,
        other => {
            tracing::error!(queue = %stored.queue, kind = other, "skipping a task queue config of an unknown kind");
            return None;
        }
    };
    let config = STANDARD
        .decode(&stored.config)
        .ok()
        .and_then(|bytes| TaskQueueConfig::decode(bytes.as_slice()).ok());
    let Some(config) = config else {
        tracing::error!(queue = %stored.queue, "skipping an undecodable task queue config");
        return None;
    };
    let key = QueueKey {
        namespace: stored.namespace,
        name: stored.queue,
        kind,
    };
    Some((key, config))
}

/// Every task queue's pollers, rates and config.
#[derive(Debug, Default)]
pub(crate) struct TaskQueues {
    queues: Mutex<HashMap<QueueKey, Info>>,
}

impl TaskQueues {
    /// The queues' configs kept as settings (the values under [`TASK_QUEUE_CONFIG`]).
    pub(crate) fn restore<'a>(stored: impl IntoIterator<Item = &'a str>) -> Self {
        let queues = stored
            .into_iter()
            .filter_map(read_config)
            .map(|(key, config)| {
                let info = Info {
                    config,
                    ..Info::default()
                };
                (key, info)
            })
            .collect();
        Self {
            queues: Mutex::new(queues),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<QueueKey, Info>> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a poll of `key` by `poller` (at `poller.last_access_ms`).
    pub(crate) fn polled(&self, key: &QueueKey, poller: SeenPoller) {
        let mut queues = self.lock();
        let info = queues.entry(key.clone()).or_default();
        info.pollers.insert(poller.identity.clone(), poller);
    }

    pub(crate) fn added(&self, key: &QueueKey, now_ms: i64) {
        self.lock()
            .entry(key.clone())
            .or_default()
            .added
            .record(now_ms);
    }

    pub(crate) fn dispatched(&self, key: &QueueKey, now_ms: i64) {
        self.lock()
            .entry(key.clone())
            .or_default()
            .dispatched
            .record(now_ms);
    }

    /// The pollers seen in the last five minutes, the latest first.
    pub(crate) fn pollers(&self, key: &QueueKey, now_ms: i64) -> Vec<SeenPoller> {
        let mut queues = self.lock();
        let Some(info) = queues.get_mut(key) else {
            return Vec::new();
        };
        info.pollers
            .retain(|_, p| now_ms - p.last_access_ms <= POLLER_TTL_MS);
        let mut pollers: Vec<SeenPoller> = info.pollers.values().cloned().collect();
        pollers.sort_by_key(|p| std::cmp::Reverse(p.last_access_ms));
        pollers
    }

    /// Tasks added and dispatched per second over the last 30 seconds.
    pub(crate) fn rates(&self, key: &QueueKey, now_ms: i64) -> (f64, f64) {
        let mut queues = self.lock();
        queues.get_mut(key).map_or((0.0, 0.0), |info| {
            (info.added.rate(now_ms), info.dispatched.rate(now_ms))
        })
    }

    /// The queue's config, `None` if nothing was ever set.
    pub(crate) fn config(&self, key: &QueueKey) -> Option<TaskQueueConfig> {
        self.lock()
            .get(key)
            .map(|info| info.config.clone())
            .filter(|config| *config != TaskQueueConfig::default())
    }

    /// The queue rate limit set on `key`, if any.
    pub(crate) fn rate_limit(&self, key: &QueueKey) -> Option<f32> {
        self.lock().get(key).and_then(Info::rate_limit)
    }

    /// Applies `update` and returns the config that results.
    pub(crate) fn update(
        &self,
        key: &QueueKey,
        update: &ConfigUpdate,
        now_ms: i64,
    ) -> TaskQueueConfig {
        let mut queues = self.lock();
        let info = queues.entry(key.clone()).or_default();
        let limit = |rps: Option<f32>| {
            rps.map(|requests_per_second| RateLimitConfig {
                rate_limit: Some(RateLimit {
                    requests_per_second,
                }),
                metadata: Some(ConfigMetadata {
                    reason: update.reason.clone(),
                    update_identity: update.identity.clone(),
                    update_time: Some(timestamp(now_ms)),
                }),
            })
        };
        if let Some(rps) = update.queue_rate_limit {
            info.config.queue_rate_limit = limit(rps);
            info.bucket = None;
        }
        if let Some(rps) = update.fairness_key_rate_limit {
            info.config.fairness_keys_rate_limit_default = limit(rps);
        }
        for key in &update.unset_weights {
            info.config.fairness_weight_overrides.remove(key);
        }
        info.config
            .fairness_weight_overrides
            .extend(update.set_weights.iter().map(|(k, w)| (k.clone(), *w)));
        info.config.clone()
    }

    /// Whether a poll of `key` may begin at `now_ms`: the queue has no rate limit or a
    /// token to spend; otherwise how many milliseconds until it has one. Tokens are spent
    /// when a task is dispatched ([`TaskQueues::spend`]), so polls already waiting when
    /// tasks arrive may take the bucket below zero, and later polls wait for the debt.
    pub(crate) fn admit(&self, key: &QueueKey, now_ms: i64) -> Result<(), i64> {
        let mut queues = self.lock();
        let Some((bucket, rate)) = queues.get_mut(key).and_then(Info::bucket) else {
            return Ok(());
        };
        bucket.refill(now_ms, rate);
        if rate <= 0.0 {
            // A limit of 0 stops dispatch; look again in a second.
            return Err(1000);
        }
        if bucket.tokens >= 1.0 {
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / rate * 1000.0).ceil() as i64)
        }
    }

    /// Spends a token for a task dispatched from `key` at `now_ms`.
    pub(crate) fn spend(&self, key: &QueueKey, now_ms: i64) {
        let mut queues = self.lock();
        if let Some((bucket, rate)) = queues.get_mut(key).and_then(Info::bucket) {
            bucket.refill(now_ms, rate);
            bucket.tokens -= 1.0;
        }
    }
}

impl Info {
    /// The token bucket of a rate-limited queue, with its rate.
    fn bucket(&mut self) -> Option<(&mut Bucket, f64)> {
        let rate = f64::from(self.rate_limit()?);
        let bucket = self.bucket.get_or_insert(Bucket {
            tokens: rate.max(1.0),
            at_ms: None,
        });
        Some((bucket, rate))
    }
}

impl Bucket {
    /// Adds the tokens earned since the last look, up to one second's worth (at least one).
    fn refill(&mut self, now_ms: i64, rate: f64) {
        let elapsed = self.at_ms.map_or(0, |at| (now_ms - at).max(0)) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        self.at_ms = Some(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::QueueKind;

    fn key() -> QueueKey {
        QueueKey {
            namespace: "default".into(),
            name: "q".into(),
            kind: QueueKind::Activity,
        }
    }

    fn limited(rps: f32) -> ConfigUpdate {
        ConfigUpdate {
            queue_rate_limit: Some(Some(rps)),
            reason: "test".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_rate_limit_lets_through_its_rate_and_no_more() {
        let queues = TaskQueues::default();
        assert_eq!(queues.admit(&key(), 0), Ok(()), "no limit: always");
        queues.update(&key(), &limited(2.0), 0);
        // A burst of one second's worth, then one every 500 ms.
        for _ in 0..2 {
            assert_eq!(queues.admit(&key(), 0), Ok(()));
            queues.spend(&key(), 0);
        }
        assert_eq!(queues.admit(&key(), 0), Err(500));
        assert_eq!(queues.admit(&key(), 250), Err(250));
        assert_eq!(queues.admit(&key(), 500), Ok(()));
        // Polls already waiting took three more: 1.5 s of debt to wait out.
        for _ in 0..3 {
            queues.spend(&key(), 500);
        }
        assert_eq!(queues.admit(&key(), 500), Err(1500));
        assert_eq!(queues.admit(&key(), 2_000), Ok(()));
        let unset = ConfigUpdate {
            queue_rate_limit: Some(None),
            ..Default::default()
        };
        queues.update(&key(), &unset, 2_000);
        queues.spend(&key(), 2_000);
        assert_eq!(queues.admit(&key(), 2_000), Ok(()));
        assert_eq!(queues.config(&key()), None);
    }

    #[test]
    fn config_reads_back_with_its_metadata() {
        let queues = TaskQueues::default();
        let mut update = limited(7.5);
        update.identity = "me".into();
        update.set_weights.insert("a".into(), 2.0);
        queues.update(&key(), &update, 1_000);
        let config = queues.config(&key()).expect("set");
        let limit = config.queue_rate_limit.expect("queue limit");
        assert_eq!(limit.rate_limit.map(|r| r.requests_per_second), Some(7.5));
        let metadata = limit.metadata.expect("metadata");
        assert_eq!(
            (metadata.reason.as_str(), metadata.update_identity.as_str()),
            ("test", "me")
        );
        assert_eq!(config.fairness_weight_overrides.get("a"), Some(&2.0));
    }

    #[test]
    fn a_config_survives_being_stored_and_restored() {
        let queues = TaskQueues::default();
        let config = queues.update(&key(), &limited(3.0), 1_000);
        let (setting, value) = config_setting(&key(), &config);
        assert!(setting.starts_with(TASK_QUEUE_CONFIG));
        let restored = TaskQueues::restore([value.as_str(), "not json"]);
        assert_eq!(restored.config(&key()), Some(config));
        assert_eq!(restored.rate_limit(&key()), Some(3.0));
        assert_eq!(restored.admit(&key(), 0), Ok(()));
    }

    #[test]
    fn pollers_are_forgotten_after_five_minutes_and_rates_after_thirty_seconds() {
        let queues = TaskQueues::default();
        let poller = |identity: &str, at: i64| SeenPoller {
            identity: identity.into(),
            last_access_ms: at,
            rate_per_second: 100_000.0,
            deployment: None,
        };
        queues.polled(&key(), poller("old", 0));
        queues.polled(&key(), poller("new", 200_000));
        let seen: Vec<String> = queues
            .pollers(&key(), 310_000)
            .into_iter()
            .map(|p| p.identity)
            .collect();
        assert_eq!(seen, ["new"]);
        for at in [0, 1_000, 2_000] {
            queues.added(&key(), at);
        }
        queues.dispatched(&key(), 2_000);
        assert_eq!(queues.rates(&key(), 3_000), (0.1, 1.0 / 30.0));
        assert_eq!(queues.rates(&key(), 40_000), (0.0, 0.0));
    }
}
