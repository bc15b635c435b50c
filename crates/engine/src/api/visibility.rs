//! Listing and counting workflows. Stage 1 understands a small subset of Temporal's list
//! filter: an empty query (everything), and `AND`-ed equalities on `WorkflowId`,
//! `WorkflowType` and `ExecutionStatus`, optionally followed by `ORDER BY ...` (ignored;
//! results are newest first) or, for counts, `GROUP BY ExecutionStatus`.

use std::collections::BTreeMap;

use temporalio_protos::temporal::api::{
    common::v1::Payload,
    enums::v1::WorkflowExecutionStatus,
    workflowservice::v1::{
        CountWorkflowExecutionsRequest, CountWorkflowExecutionsResponse,
        ListWorkflowExecutionsRequest, ListWorkflowExecutionsResponse,
        count_workflow_executions_response::AggregationGroup,
    },
};

use super::{Service, history::execution_info};
use crate::{
    error::{EngineError, Result},
    history::Execution,
};

const MAX_PAGE: usize = 1000;

/// A parsed list filter.
#[derive(Debug, Default, PartialEq, Eq)]
struct Filter {
    workflow_id: Option<String>,
    workflow_type: Option<String>,
    status: Option<i32>,
    group_by_status: bool,
}

impl Filter {
    fn parse(query: &str) -> Result<Self> {
        let mut filter = Self::default();
        let mut rest = query.trim();
        if let Some(at) = find_ci(rest, "group by") {
            let group = rest[at + "group by".len()..].trim();
            if !group.eq_ignore_ascii_case("ExecutionStatus") {
                return Err(unsupported(query));
            }
            filter.group_by_status = true;
            rest = rest[..at].trim();
        }
        if let Some(at) = find_ci(rest, "order by") {
            rest = rest[..at].trim();
        }
        if rest.is_empty() {
            return Ok(filter);
        }
        for clause in split_ci(rest, " and ") {
            let (key, value) = clause.split_once('=').ok_or_else(|| unsupported(query))?;
            let value = unquote(value.trim()).ok_or_else(|| unsupported(query))?;
            match key.trim() {
                "WorkflowId" => filter.workflow_id = Some(value),
                "WorkflowType" => filter.workflow_type = Some(value),
                "ExecutionStatus" => {
                    filter.status = Some(parse_status(&value).ok_or_else(|| unsupported(query))?);
                }
                _ => return Err(unsupported(query)),
            }
        }
        Ok(filter)
    }

    fn matches(&self, exec: &Execution) -> bool {
        self.workflow_id
            .as_ref()
            .is_none_or(|id| *id == exec.state.workflow_id)
            && self
                .workflow_type
                .as_ref()
                .is_none_or(|t| *t == exec.state.workflow_type)
            && self.status.is_none_or(|s| s == exec.state.status)
    }
}

fn unsupported(query: &str) -> EngineError {
    EngineError::invalid(format!(
        "unsupported list query {query:?}: this engine understands WorkflowId, WorkflowType and \
         ExecutionStatus equalities joined by AND"
    ))
}

fn find_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.to_ascii_lowercase().find(needle)
}

fn split_ci<'a>(text: &'a str, separator: &str) -> Vec<&'a str> {
    let lower = text.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut start = 0;
    while let Some(offset) = lower[start..].find(separator) {
        parts.push(&text[start..start + offset]);
        start += offset + separator.len();
    }
    parts.push(&text[start..]);
    parts
}

fn unquote(value: &str) -> Option<String> {
    let inner = value
        .strip_prefix('\'')
        .and_then(|v| v.strip_suffix('\''))
        .or_else(|| value.strip_prefix('"').and_then(|v| v.strip_suffix('"')))?;
    Some(inner.to_owned())
}

const STATUS_NAMES: [(&str, WorkflowExecutionStatus); 7] = [
    ("Running", WorkflowExecutionStatus::Running),
    ("Completed", WorkflowExecutionStatus::Completed),
    ("Failed", WorkflowExecutionStatus::Failed),
    ("Canceled", WorkflowExecutionStatus::Canceled),
    ("Terminated", WorkflowExecutionStatus::Terminated),
    ("ContinuedAsNew", WorkflowExecutionStatus::ContinuedAsNew),
    ("TimedOut", WorkflowExecutionStatus::TimedOut),
];

fn parse_status(name: &str) -> Option<i32> {
    STATUS_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, s)| *s as i32)
}

fn status_name(status: i32) -> &'static str {
    STATUS_NAMES
        .iter()
        .find(|(_, s)| *s as i32 == status)
        .map_or("Unspecified", |(n, _)| n)
}

pub(super) fn list(
    svc: &Service,
    r: &ListWorkflowExecutionsRequest,
) -> Result<ListWorkflowExecutionsResponse> {
    let filter = Filter::parse(&r.query)?;
    let offset = if r.next_page_token.is_empty() {
        0
    } else {
        let bytes: [u8; 8] = r
            .next_page_token
            .as_slice()
            .try_into()
            .map_err(|_| EngineError::invalid("malformed next page token"))?;
        usize::try_from(u64::from_be_bytes(bytes)).unwrap_or(usize::MAX)
    };
    let page = usize::try_from(r.page_size)
        .ok()
        .filter(|p| *p > 0)
        .map_or(MAX_PAGE, |p| p.min(MAX_PAGE));
    svc.runtime.read(|registry| {
        registry.namespace(&r.namespace)?;
        let mut runs: Vec<&Execution> = registry
            .runs
            .values()
            .filter(|e| e.state.namespace == r.namespace && filter.matches(e))
            .collect();
        runs.sort_by(|a, b| {
            (b.state.start_time_ms, &b.state.run_id).cmp(&(a.state.start_time_ms, &a.state.run_id))
        });
        let end = (offset + page).min(runs.len());
        let executions = runs
            .get(offset.min(end)..end)
            .unwrap_or_default()
            .iter()
            .map(|e| execution_info(registry, e))
            .collect();
        let next_page_token = if end < runs.len() {
            u64::try_from(end)
                .unwrap_or(u64::MAX)
                .to_be_bytes()
                .to_vec()
        } else {
            Vec::new()
        };
        Ok(ListWorkflowExecutionsResponse {
            executions,
            next_page_token,
        })
    })
}

pub(super) fn count(
    svc: &Service,
    r: &CountWorkflowExecutionsRequest,
) -> Result<CountWorkflowExecutionsResponse> {
    let filter = Filter::parse(&r.query)?;
    svc.runtime.read(|registry| {
        registry.namespace(&r.namespace)?;
        let mut groups: BTreeMap<i32, i64> = BTreeMap::new();
        let mut count = 0;
        for exec in registry
            .runs
            .values()
            .filter(|e| e.state.namespace == r.namespace && filter.matches(e))
        {
            count += 1;
            *groups.entry(exec.state.status).or_default() += 1;
        }
        let groups = if filter.group_by_status {
            groups
                .into_iter()
                .map(|(status, count)| AggregationGroup {
                    group_values: vec![json_string(status_name(status))],
                    count,
                })
                .collect()
        } else {
            Vec::new()
        };
        Ok(CountWorkflowExecutionsResponse { count, groups })
    })
}

fn json_string(value: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: format!("\"{value}\"").into_bytes(),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_supported_queries() {
        assert_eq!(Filter::parse("").ok(), Some(Filter::default()));
        let f = Filter::parse(
            "WorkflowId = 'a' and ExecutionStatus=\"Running\" ORDER BY StartTime DESC",
        );
        assert_eq!(
            f.ok(),
            Some(Filter {
                workflow_id: Some("a".into()),
                status: Some(WorkflowExecutionStatus::Running as i32),
                ..Filter::default()
            })
        );
        assert!(Filter::parse("GROUP BY ExecutionStatus").is_ok_and(|f| f.group_by_status));
        assert!(Filter::parse("CustomField = 'x'").is_err());
        assert!(Filter::parse("WorkflowId = a").is_err());
    }
}
