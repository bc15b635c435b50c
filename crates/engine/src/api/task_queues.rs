//! Task queue RPCs: describing a queue (pollers, backlog and rates, config, the effective
//! rate limit; the deprecated enhanced mode's per-type view of the unversioned queue),
//! listing its partitions (one: the engine does not partition queues) and updating its
//! config (rate limits and fairness weights, read back through describe).

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    enums::v1::{DescribeTaskQueueMode, RateLimitSource, TaskQueueType},
    taskqueue::v1::{
        PollerInfo, TaskQueue, TaskQueuePartitionMetadata, TaskQueueStats, TaskQueueTypeInfo,
        TaskQueueVersionInfo,
    },
    workflowservice::v1::{
        DescribeTaskQueueRequest, DescribeTaskQueueResponse, ListTaskQueuePartitionsRequest,
        ListTaskQueuePartitionsResponse, UpdateTaskQueueConfigRequest,
        UpdateTaskQueueConfigResponse, describe_task_queue_response::EffectiveRateLimit,
        update_task_queue_config_request::RateLimitUpdate,
    },
};

use super::Service;
use crate::{
    error::{EngineError, Result},
    history::QueueKind,
    matching::QueueKey,
    runtime::{ConfigUpdate, EngineRuntime, config_setting},
    time::{now_ms, timestamp},
};

/// The queue `name` of `ty` in `namespace`, once the namespace is known to exist.
fn key(rt: &EngineRuntime, namespace: &str, name: &str, ty: i32) -> Result<QueueKey> {
    rt.read(|registry| registry.namespace(namespace).map(|_| ()))?;
    if name.is_empty() {
        return Err(EngineError::invalid("taskQueue is not set"));
    }
    let kind = match TaskQueueType::try_from(ty) {
        Ok(TaskQueueType::Activity) => QueueKind::Activity,
        Ok(TaskQueueType::Workflow | TaskQueueType::Unspecified) => QueueKind::Workflow,
        _ => {
            return Err(EngineError::invalid(format!(
                "task_queue_type {ty} is not offered: give TASK_QUEUE_TYPE_WORKFLOW or TASK_QUEUE_TYPE_ACTIVITY"
            )));
        }
    };
    Ok(QueueKey {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        kind,
    })
}

fn queue_name(queue: Option<&TaskQueue>) -> &str {
    queue.map_or("", |q| q.name.as_str())
}

fn pollers(rt: &EngineRuntime, key: &QueueKey) -> Vec<PollerInfo> {
    rt.task_queues
        .pollers(key, rt.clock.now_ms())
        .into_iter()
        .map(|p| PollerInfo {
            last_access_time: Some(timestamp(p.last_access_ms)),
            identity: p.identity,
            rate_per_second: p.rate_per_second,
            deployment_options: p.deployment,
            ..Default::default()
        })
        .collect()
}

/// The backlog and the rates of the last 30 seconds.
fn stats(rt: &EngineRuntime, key: &QueueKey) -> TaskQueueStats {
    let (added, dispatched) = rt.task_queues.rates(key, now_ms());
    let backlog = rt.matching.backlog(key);
    TaskQueueStats {
        approximate_backlog_count: i64::try_from(backlog).unwrap_or(i64::MAX),
        approximate_backlog_age: (backlog == 0).then(Default::default),
        tasks_add_rate: added as f32,
        tasks_dispatch_rate: dispatched as f32,
        rate_limiting_active: backlog > 0 && rt.task_queues.rate_limit(key).is_some(),
    }
}

/// The backlog per priority key (rates are the queue's, not split by priority).
fn by_priority(rt: &EngineRuntime, key: &QueueKey) -> HashMap<i32, TaskQueueStats> {
    rt.matching
        .backlog_by_priority(key)
        .into_iter()
        .map(|(priority, count)| {
            let stats = TaskQueueStats {
                approximate_backlog_count: i64::try_from(count).unwrap_or(i64::MAX),
                ..Default::default()
            };
            (priority, stats)
        })
        .collect()
}

pub(super) fn describe(
    svc: &Service,
    r: &DescribeTaskQueueRequest,
) -> Result<DescribeTaskQueueResponse> {
    let rt = &svc.runtime;
    let name = queue_name(r.task_queue.as_ref());
    #[allow(deprecated)]
    if r.api_mode == DescribeTaskQueueMode::Enhanced as i32 {
        return enhanced(
            rt,
            &r.namespace,
            name,
            &r.task_queue_types,
            r.report_pollers,
            r.report_stats,
        );
    }
    let key = key(rt, &r.namespace, name, r.task_queue_type)?;
    let config = rt.task_queues.config(&key);
    let effective_rate_limit = rt
        .task_queues
        .rate_limit(&key)
        .map(|rps| EffectiveRateLimit {
            requests_per_second: rps,
            rate_limit_source: RateLimitSource::Api as i32,
        });
    let stats_by_priority_key = if r.report_stats {
        by_priority(rt, &key)
    } else {
        HashMap::new()
    };
    Ok(DescribeTaskQueueResponse {
        pollers: pollers(rt, &key),
        stats: r.report_stats.then(|| stats(rt, &key)),
        stats_by_priority_key,
        config: config.filter(|_| r.report_config),
        effective_rate_limit,
        ..Default::default()
    })
}

/// The deprecated enhanced mode: the unversioned queue's pollers and stats per type.
#[allow(deprecated)]
fn enhanced(
    rt: &EngineRuntime,
    namespace: &str,
    name: &str,
    types: &[i32],
    report_pollers: bool,
    report_stats: bool,
) -> Result<DescribeTaskQueueResponse> {
    let types = if types.is_empty() {
        vec![
            TaskQueueType::Workflow as i32,
            TaskQueueType::Activity as i32,
        ]
    } else {
        types.to_vec()
    };
    let mut types_info = HashMap::new();
    for ty in types {
        let key = key(rt, namespace, name, ty)?;
        types_info.insert(
            ty,
            TaskQueueTypeInfo {
                pollers: if report_pollers {
                    pollers(rt, &key)
                } else {
                    Vec::new()
                },
                stats: report_stats.then(|| stats(rt, &key)),
            },
        );
    }
    let unversioned = TaskQueueVersionInfo {
        types_info,
        task_reachability: 0,
    };
    Ok(DescribeTaskQueueResponse {
        versions_info: HashMap::from([(String::new(), unversioned)]),
        ..Default::default()
    })
}

/// One partition per type: the queue itself, on this engine.
pub(super) fn partitions(
    svc: &Service,
    r: &ListTaskQueuePartitionsRequest,
) -> Result<ListTaskQueuePartitionsResponse> {
    let name = queue_name(r.task_queue.as_ref());
    key(
        &svc.runtime,
        &r.namespace,
        name,
        TaskQueueType::Workflow as i32,
    )?;
    let partition = || {
        vec![TaskQueuePartitionMetadata {
            key: name.to_owned(),
            owner_host_name: svc.address.clone(),
        }]
    };
    Ok(ListTaskQueuePartitionsResponse {
        activity_task_queue_partitions: partition(),
        workflow_task_queue_partitions: partition(),
    })
}

fn rate(update: Option<&RateLimitUpdate>, field: &str) -> Result<Option<Option<f32>>> {
    let Some(update) = update else {
        return Ok(None);
    };
    let rps = update.rate_limit.as_ref().map(|r| r.requests_per_second);
    if rps.is_some_and(|rps| !rps.is_finite() || rps < 0.0) {
        return Err(EngineError::invalid(format!(
            "{field}.rate_limit.requests_per_second must be 0 or more: give a rate in requests a second"
        )));
    }
    Ok(Some(rps))
}

/// Applies the change and keeps the config that results, durable before the answer.
pub(super) async fn update_config(
    svc: &Service,
    r: &UpdateTaskQueueConfigRequest,
) -> Result<UpdateTaskQueueConfigResponse> {
    let rt = &svc.runtime;
    let key = key(rt, &r.namespace, &r.task_queue, r.task_queue_type)?;
    let reason = r
        .update_queue_rate_limit
        .as_ref()
        .or(r.update_fairness_key_rate_limit_default.as_ref())
        .map(|u| u.reason.clone())
        .unwrap_or_default();
    let update = ConfigUpdate {
        queue_rate_limit: rate(
            r.update_queue_rate_limit.as_ref(),
            "update_queue_rate_limit",
        )?,
        fairness_key_rate_limit: rate(
            r.update_fairness_key_rate_limit_default.as_ref(),
            "update_fairness_key_rate_limit_default",
        )?,
        set_weights: r.set_fairness_weight_overrides.clone(),
        unset_weights: r.unset_fairness_weight_overrides.clone(),
        reason,
        identity: r.identity.clone(),
    };
    // Under the registry's lock, so the live config and the stored one change in the
    // same order.
    let config = rt
        .execute(|registry, now, _| {
            let config = rt.task_queues.update(&key, &update, now);
            let (setting, value) = config_setting(&key, &config);
            registry.settings.put(setting, value);
            Ok(config)
        })
        .await?;
    tracing::info!(namespace = %key.namespace, queue = %key.name, identity = %r.identity, "task queue config updated");
    Ok(UpdateTaskQueueConfigResponse {
        config: Some(config),
    })
}
