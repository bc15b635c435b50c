//! Standalone activity executions (`StartActivityExecution`, describe, poll, list, count,
//! request cancel, terminate, delete): requests in, the machine in
//! `history/machines/standalone/` does the work. Describe (with a long-poll token) and poll
//! wait for a change the way history long polls do; list and count read the executions in
//! memory, newest first.

use std::collections::BTreeMap;

use temporalio_protos::temporal::api::{
    common::v1::{Link, link},
    workflowservice::v1::{
        CountActivityExecutionsRequest, CountActivityExecutionsResponse,
        DeleteActivityExecutionRequest, DescribeActivityExecutionRequest,
        DescribeActivityExecutionResponse, ListActivityExecutionsRequest,
        ListActivityExecutionsResponse, PollActivityExecutionRequest,
        PollActivityExecutionResponse, RequestCancelActivityExecutionRequest,
        StartActivityExecutionRequest, StartActivityExecutionResponse,
        TerminateActivityExecutionRequest, count_activity_executions_response::AggregationGroup,
    },
};
use tokio::time::Instant;

use super::{
    Service,
    visibility::{decode_token, encode_token, json_string},
};
use crate::{
    error::{EngineError, Result},
    history::machines::standalone::{NewActivity, view::ActivityRow},
    visibility::{Filter, invalid, status_name},
};

const MAX_PAGE: usize = 1000;

pub(super) async fn start(
    svc: &Service,
    r: StartActivityExecutionRequest,
) -> Result<StartActivityExecutionResponse> {
    let namespace = r.namespace.clone();
    let activity_id = r.activity_id.clone();
    let spec = NewActivity {
        namespace: r.namespace,
        activity_id: r.activity_id,
        activity_type: r.activity_type.map(|t| t.name).unwrap_or_default(),
        task_queue: r.task_queue.map(|q| q.name).unwrap_or_default(),
        identity: r.identity,
        request_id: r.request_id,
        schedule_to_close: r.schedule_to_close_timeout,
        schedule_to_start: r.schedule_to_start_timeout,
        start_to_close: r.start_to_close_timeout,
        heartbeat: r.heartbeat_timeout,
        retry_policy: r.retry_policy,
        input: r.input,
        header: r.header,
        search_attributes: r.search_attributes,
        user_metadata: r.user_metadata,
        priority: r.priority,
        start_delay: r.start_delay,
        reuse_policy: r.id_reuse_policy,
        conflict_policy: r.id_conflict_policy,
    };
    let started = svc
        .runtime
        .execute(|registry, now, fx| registry.start_standalone(spec, now, fx))
        .await?;
    Ok(StartActivityExecutionResponse {
        link: Some(Link {
            variant: Some(link::Variant::Activity(link::Activity {
                namespace,
                activity_id,
                run_id: started.run_id.clone(),
            })),
        }),
        run_id: started.run_id,
        started: started.started,
    })
}

/// The long-poll token of a state: the run and how far it has come.
fn version_token(run_id: &str, (transitions, heartbeats): (i64, i64)) -> Vec<u8> {
    format!("{run_id}/{transitions}/{heartbeats}").into_bytes()
}

/// Waits (up to the long-poll time) until `done` holds for the execution, then answers
/// with `answer` of its state then.
async fn wait_for<T>(
    svc: &Service,
    namespace: &str,
    activity_id: &str,
    run_id: &str,
    done: impl Fn(&crate::history::Execution) -> bool,
    answer: impl Fn(&crate::history::Registry, &crate::history::Execution) -> T,
) -> Result<T> {
    let rt = &svc.runtime;
    let run_id = rt.read(|registry| registry.resolve_standalone(namespace, activity_id, run_id))?;
    let deadline = Instant::now() + svc.long_poll;
    let watch = rt.watchers.watch(&run_id);
    loop {
        // Armed before reading, so a change between the read and the wait is not missed.
        let changed = watch.changed();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let (finished, result) = rt.read(|registry| {
            let exec = registry.run(&run_id).map_err(|_| {
                EngineError::not_found(format!("activity not found for ID: {activity_id}"))
            })?;
            Ok::<_, EngineError>((done(exec), answer(registry, exec)))
        })?;
        if finished {
            return Ok(result);
        }
        tokio::select! {
            () = &mut changed => {}
            () = tokio::time::sleep_until(deadline) => return Ok(result),
            () = rt.shutting_down() => return Ok(result),
        }
    }
}

pub(super) async fn describe(
    svc: &Service,
    r: &DescribeActivityExecutionRequest,
) -> Result<DescribeActivityExecutionResponse> {
    let token = r.long_poll_token.clone();
    wait_for(
        svc,
        &r.namespace,
        &r.activity_id,
        &r.run_id,
        |exec| token.is_empty() || version_token(exec.run_id(), exec.activity_version()) != token,
        |registry, exec| DescribeActivityExecutionResponse {
            run_id: exec.run_id().to_owned(),
            info: Some(registry.activity_info(
                exec,
                r.include_heartbeat_details,
                r.include_last_failure,
            )),
            input: if r.include_input {
                exec.activity_input()
            } else {
                None
            },
            outcome: if r.include_outcome {
                exec.activity_outcome()
            } else {
                None
            },
            long_poll_token: version_token(exec.run_id(), exec.activity_version()),
            callbacks: Vec::new(),
        },
    )
    .await
}

pub(super) async fn poll(
    svc: &Service,
    r: &PollActivityExecutionRequest,
) -> Result<PollActivityExecutionResponse> {
    wait_for(
        svc,
        &r.namespace,
        &r.activity_id,
        &r.run_id,
        |exec| !exec.is_open(),
        |_, exec| PollActivityExecutionResponse {
            run_id: exec.run_id().to_owned(),
            outcome: exec.activity_outcome(),
        },
    )
    .await
}

fn parse(svc: &Service, namespace: &str, query: &str) -> Result<Filter> {
    let custom = svc.runtime.read(|registry| {
        registry
            .namespace(namespace)
            .map(|n| n.search_attributes.clone())
    })?;
    Filter::parse_activities(query, &custom)
}

pub(super) fn list(
    svc: &Service,
    r: &ListActivityExecutionsRequest,
) -> Result<ListActivityExecutionsResponse> {
    let filter = parse(svc, &r.namespace, &r.query)?;
    if filter.group_by_status {
        return Err(invalid(
            "'GROUP BY' clause is only supported for count queries",
        ));
    }
    let after = decode_token(&r.next_page_token)?;
    let page = usize::try_from(r.page_size)
        .ok()
        .filter(|p| *p > 0)
        .map_or(MAX_PAGE, |p| p.min(MAX_PAGE));
    let mut rows = svc.runtime.read(|registry| {
        registry
            .activities_in(&r.namespace)
            .filter(|exec| filter.matches(&ActivityRow(exec)))
            .map(|exec| {
                let key = (exec.start_time_ms(), exec.run_id().to_owned());
                (key, registry.activity_list_info(exec))
            })
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key < a))
            .collect::<Vec<_>>()
    });
    rows.sort_by(|a, b| b.0.cmp(&a.0));
    let more = rows.len() > page;
    rows.truncate(page);
    let next_page_token = match rows.last() {
        Some((key, _)) if more => encode_token(key),
        _ => Vec::new(),
    };
    Ok(ListActivityExecutionsResponse {
        executions: rows.into_iter().map(|(_, info)| info).collect(),
        next_page_token,
    })
}

pub(super) fn count(
    svc: &Service,
    r: &CountActivityExecutionsRequest,
) -> Result<CountActivityExecutionsResponse> {
    let filter = parse(svc, &r.namespace, &r.query)?;
    let groups: BTreeMap<&'static str, i64> = svc.runtime.read(|registry| {
        let mut groups = BTreeMap::new();
        for exec in registry.activities_in(&r.namespace) {
            if filter.matches(&ActivityRow(exec)) {
                *groups.entry(status_name(exec.status())).or_default() += 1;
            }
        }
        groups
    });
    Ok(CountActivityExecutionsResponse {
        count: groups.values().sum(),
        groups: if filter.group_by_status {
            groups
                .into_iter()
                .map(|(status, count)| AggregationGroup {
                    group_values: vec![json_string(status)],
                    count,
                })
                .collect()
        } else {
            Vec::new()
        },
    })
}

pub(super) async fn request_cancel(
    svc: &Service,
    r: RequestCancelActivityExecutionRequest,
) -> Result<()> {
    svc.runtime
        .execute(|registry, now, fx| {
            let run_id = registry.resolve_standalone(&r.namespace, &r.activity_id, &r.run_id)?;
            registry.request_cancel_standalone(&run_id, &r.reason, &r.identity, now, fx)
        })
        .await
}

pub(super) async fn terminate(svc: &Service, r: TerminateActivityExecutionRequest) -> Result<()> {
    svc.runtime
        .execute(|registry, now, fx| {
            let run_id = registry.resolve_standalone(&r.namespace, &r.activity_id, &r.run_id)?;
            registry.terminate_standalone(&run_id, &r.reason, &r.identity, &r.request_id, now, fx)
        })
        .await
}

pub(super) async fn delete(svc: &Service, r: DeleteActivityExecutionRequest) -> Result<()> {
    svc.runtime
        .execute(|registry, _, _| {
            let run_id = registry.resolve_standalone(&r.namespace, &r.activity_id, &r.run_id)?;
            registry.delete_standalone(&run_id);
            Ok(())
        })
        .await
}
