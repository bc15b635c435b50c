//! How batch jobs are kept across a restart: each job is one server setting (its request
//! and its progress as `DescribeBatchOperation` shows it, both prost-encoded), and the runs
//! it works through another, written once they are known. A job still running when the
//! engine stopped carries on from its counts after the restart.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    common::v1::WorkflowExecution,
    workflowservice::v1::{DescribeBatchOperationResponse, StartBatchOperationRequest},
};

use crate::history::settings::{BATCH_JOB, BATCH_TARGETS};

/// One job as it is stored.
#[derive(Debug, Serialize, Deserialize)]
struct StoredJob {
    namespace: String,
    job_id: String,
    /// The prost-encoded `StartBatchOperationRequest`, in base64.
    request: String,
    /// The prost-encoded `DescribeBatchOperationResponse`, in base64.
    info: String,
}

/// A job read back: its namespace, request and progress.
#[derive(Debug)]
pub(super) struct Restored {
    pub(super) namespace: String,
    pub(super) request: StartBatchOperationRequest,
    pub(super) info: DescribeBatchOperationResponse,
}

fn suffix(namespace: &str, job_id: &str) -> String {
    format!("{namespace}\n{job_id}")
}

/// The setting key of a job.
pub(super) fn job_key(namespace: &str, job_id: &str) -> String {
    format!("{BATCH_JOB}{}", suffix(namespace, job_id))
}

/// The setting key of a job's runs.
pub(super) fn targets_key(namespace: &str, job_id: &str) -> String {
    format!("{BATCH_TARGETS}{}", suffix(namespace, job_id))
}

/// A request, encoded once for every write of its job.
pub(super) fn encode_request(request: &StartBatchOperationRequest) -> String {
    STANDARD.encode(request.encode_to_vec())
}

/// The value of a job's setting.
pub(super) fn job_value(
    namespace: &str,
    request: &str,
    info: &DescribeBatchOperationResponse,
) -> String {
    let stored = StoredJob {
        namespace: namespace.to_owned(),
        job_id: info.job_id.clone(),
        request: request.to_owned(),
        info: STANDARD.encode(info.encode_to_vec()),
    };
    serde_json::to_string(&stored).unwrap_or_default()
}

/// The value of a job's runs' setting: `[[workflow id, run id], ...]`.
pub(super) fn targets_value(targets: &[WorkflowExecution]) -> String {
    let pairs: Vec<(&str, &str)> = targets
        .iter()
        .map(|e| (e.workflow_id.as_str(), e.run_id.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_default()
}

/// A job's setting read back; `None` (logged) if unreadable.
pub(super) fn read_job(value: &str) -> Option<Restored> {
    let stored: StoredJob = match serde_json::from_str(value) {
        Ok(stored) => stored,
        Err(e) => {
            tracing::error!("skipping an unreadable batch job: {e}");
            return None;
        }
    };
    let decode = |b64: &str| STANDARD.decode(b64).ok();
    let request = decode(&stored.request)
        .and_then(|bytes| StartBatchOperationRequest::decode(bytes.as_slice()).ok());
    let info = decode(&stored.info)
        .and_then(|bytes| DescribeBatchOperationResponse::decode(bytes.as_slice()).ok());
    let (Some(request), Some(info)) = (request, info) else {
        tracing::error!(job_id = %stored.job_id, "skipping an undecodable batch job");
        return None;
    };
    Some(Restored {
        namespace: stored.namespace,
        request,
        info,
    })
}

/// A job's runs read back; `None` (logged) if unreadable.
pub(super) fn read_targets(value: &str) -> Option<Vec<WorkflowExecution>> {
    match serde_json::from_str::<Vec<(String, String)>>(value) {
        Ok(pairs) => Some(
            pairs
                .into_iter()
                .map(|(workflow_id, run_id)| WorkflowExecution {
                    workflow_id,
                    run_id,
                })
                .collect(),
        ),
        Err(e) => {
            tracing::error!("skipping the unreadable runs of a batch job: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_and_its_runs_read_back_as_written() {
        let request = StartBatchOperationRequest {
            namespace: "ns".into(),
            job_id: "j".into(),
            reason: "r".into(),
            visibility_query: "WorkflowType = 'x'".into(),
            ..Default::default()
        };
        let info = DescribeBatchOperationResponse {
            job_id: "j".into(),
            total_operation_count: 3,
            complete_operation_count: 1,
            ..Default::default()
        };
        let value = job_value("ns", &encode_request(&request), &info);
        let restored = read_job(&value).expect("readable");
        assert_eq!(
            (restored.namespace.as_str(), restored.request, restored.info),
            ("ns", request, info)
        );
        assert!(read_job("{").is_none());
        let runs = vec![WorkflowExecution {
            workflow_id: "w".into(),
            run_id: String::new(),
        }];
        assert_eq!(read_targets(&targets_value(&runs)), Some(runs));
        assert!(job_key("ns", "j").starts_with(BATCH_JOB));
        assert!(targets_key("ns", "j").starts_with(BATCH_TARGETS));
    }
}
