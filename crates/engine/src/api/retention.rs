//! Deleting and keeping: `DeleteWorkflowExecution` (an open run is terminated first, as on
//! the real server), `UpdateNamespace` (retention, description, owner email, data) and the
//! operator's `DeleteNamespace` (its runs and schedules go with it; the name comes free at
//! once). The retention sweep itself runs in `runtime/retention.rs`.

use std::time::Duration;

use temporalio_protos::temporal::api::{
    operatorservice::v1::{DeleteNamespaceRequest, DeleteNamespaceResponse},
    workflowservice::v1::{
        DeleteWorkflowExecutionRequest, UpdateNamespaceRequest, UpdateNamespaceResponse,
    },
};

use super::namespaces::describe;
use crate::{
    error::{EngineError, Result},
    runtime::EngineRuntime,
};

/// The real server's answer to a retention under its minimum.
const BAD_RETENTION: &str = "A valid retention period is not set on request.";

/// The identity recorded on the terminate that deleting an open run writes first.
const DELETE_IDENTITY: &str = "history-service";

/// A requested retention in milliseconds, checked against the shortest allowed; `None` when
/// the request leaves it unset (zero).
pub(super) fn retention_ms(
    requested: Option<&prost_wkt_types::Duration>,
    min: Duration,
) -> Result<Option<i64>> {
    let Some(d) = requested else {
        return Ok(None);
    };
    if d.seconds == 0 && d.nanos == 0 {
        return Ok(None);
    }
    let ms = d
        .seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(i64::from(d.nanos) / 1_000_000))
        .filter(|ms| *ms > 0)
        .ok_or_else(|| EngineError::invalid(BAD_RETENTION))?;
    if u128::try_from(ms).unwrap_or(0) < min.as_millis() {
        return Err(EngineError::invalid(BAD_RETENTION));
    }
    Ok(Some(ms))
}

pub(super) async fn delete_workflow_execution(
    rt: &EngineRuntime,
    request: DeleteWorkflowExecutionRequest,
) -> Result<()> {
    let execution = request.workflow_execution.unwrap_or_default();
    rt.execute(|registry, now, fx| {
        let run_id = registry.resolve(
            &request.namespace,
            &execution.workflow_id,
            &execution.run_id,
        )?;
        if registry.run(&run_id)?.is_open() {
            registry.terminate(
                &run_id,
                "Delete workflow execution",
                None,
                DELETE_IDENTITY,
                now,
                fx,
            )?;
        }
        registry.forget_run(&run_id);
        Ok(())
    })
    .await
}

pub(super) async fn update_namespace(
    rt: &EngineRuntime,
    min_retention: Duration,
    request: UpdateNamespaceRequest,
) -> Result<UpdateNamespaceResponse> {
    let retention = retention_ms(
        request
            .config
            .as_ref()
            .and_then(|c| c.workflow_execution_retention_ttl.as_ref()),
        min_retention,
    )?;
    let record = rt
        .execute(|registry, now, _| {
            let mut record = registry.namespace(&request.namespace)?.clone();
            if let Some(info) = &request.update_info {
                if !info.description.is_empty() {
                    record.description.clone_from(&info.description);
                }
                if !info.owner_email.is_empty() {
                    record.owner_email.clone_from(&info.owner_email);
                }
                record
                    .data
                    .extend(info.data.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            if let Some(ms) = retention {
                // Runs already closed keep the retention they closed under.
                record.change_retention(ms, now);
            }
            registry.put_namespace(record.clone());
            Ok(record)
        })
        .await?;
    let described = rt.read(|registry| describe(&record, &registry.limits));
    Ok(UpdateNamespaceResponse {
        namespace_info: described.namespace_info,
        config: described.config,
        replication_config: described.replication_config,
        failover_version: described.failover_version,
        is_global_namespace: described.is_global_namespace,
    })
}

pub(super) async fn delete_namespace(
    rt: &EngineRuntime,
    request: DeleteNamespaceRequest,
) -> Result<DeleteNamespaceResponse> {
    let name = rt
        .execute(|registry, _, _| {
            let name = if request.namespace.is_empty() && !request.namespace_id.is_empty() {
                registry
                    .namespace_by_id(&request.namespace_id)?
                    .name
                    .clone()
            } else {
                registry.namespace(&request.namespace)?.name.clone()
            };
            registry.delete_namespace(&name);
            Ok(name)
        })
        .await?;
    tracing::info!(
        namespace = name,
        "deleted a namespace with its runs and schedules"
    );
    // The real server renames a namespace it deletes; the name answered says which.
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..5].to_owned();
    Ok(DeleteNamespaceResponse {
        deleted_namespace: format!("{name}-deleted-{suffix}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: i64) -> prost_wkt_types::Duration {
        prost_wkt_types::Duration { seconds, nanos: 0 }
    }

    #[test]
    fn retention_under_the_minimum_is_refused_as_the_real_server_does() {
        let hour = Duration::from_secs(3600);
        assert_eq!(retention_ms(None, hour).ok(), Some(None));
        assert_eq!(retention_ms(Some(&secs(0)), hour).ok(), Some(None));
        assert_eq!(
            retention_ms(Some(&secs(3600)), hour).ok(),
            Some(Some(3_600_000))
        );
        for bad in [secs(3599), secs(10), secs(-5)] {
            let e = retention_ms(Some(&bad), hour).err().map(|e| e.to_string());
            assert!(e.is_some_and(|e| e.contains(BAD_RETENTION)), "{bad:?}");
        }
        assert_eq!(
            retention_ms(Some(&secs(2)), Duration::from_secs(1)).ok(),
            Some(Some(2000))
        );
    }
}
