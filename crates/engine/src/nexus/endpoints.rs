//! The Nexus endpoint registry: server-wide named routes from a caller's workflow to a
//! handler (a worker's task queue in some namespace, or an external URL), created, edited
//! and removed through `OperatorService` with the real server's validation, versions,
//! messages and paging. Each endpoint is kept as one server setting (`nexus.endpoint.<id>`,
//! a JSON record); a deleted one leaves an empty value behind.

use std::collections::{BTreeMap, BTreeSet};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use prost::Message;
use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    common::v1::Payload,
    nexus::v1::{
        Endpoint, EndpointSpec, EndpointTarget,
        endpoint_target::{External, Variant, Worker},
    },
};

use crate::time::timestamp;

/// The settings key prefix of stored endpoints.
const SETTING_PREFIX: &str = "nexus.endpoint.";
/// `limit.endpointNameMaxLength`.
const MAX_NAME_LENGTH: usize = 200;
/// `limit.maxIDLength`, which bounds a target task queue's name.
const MAX_TASK_QUEUE_LENGTH: usize = 1000;
/// `limit.endpointExternalURLMaxLength`.
const MAX_URL_LENGTH: usize = 4 * 1024;
/// `limit.endpointDescriptionMaxSize`, in encoded bytes.
const MAX_DESCRIPTION_SIZE: usize = 20_000;
/// `limit.endpointListDefaultPageSize` and `limit.endpointListMaxPageSize`.
const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: i32 = 1000;
/// The real server's pattern for endpoint names, as its message quotes it.
const NAME_PATTERN: &str = r"^[a-zA-Z][a-zA-Z0-9\-]*[a-zA-Z0-9]$";

/// Why an endpoint request was refused; the messages are the real server's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EndpointError {
    /// The request is malformed: the message lists every issue.
    #[error("{0}")]
    Invalid(String),
    /// No endpoint has that id.
    #[error("{0}")]
    NotFound(String),
    /// Another endpoint has that name.
    #[error("{0}")]
    Exists(String),
    /// The request does not fit the endpoint (stale version, unknown target namespace).
    #[error("{0}")]
    Precondition(String),
}

/// Where an endpoint sends its operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Target {
    /// Nexus tasks on a task queue that handler workers poll.
    Worker {
        namespace: String,
        task_queue: String,
    },
    /// An external Nexus HTTP server (recorded; the engine does not call out to it).
    External { url: String },
}

/// One stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct EndpointRecord {
    pub(crate) id: String,
    pub(crate) version: i64,
    pub(crate) name: String,
    /// The description payload, prost-encoded, in base64.
    #[serde(default)]
    description: Option<String>,
    pub(crate) target: Target,
    /// Set at creation; the real server's answers drop it once the endpoint is updated.
    created_ms: Option<i64>,
    modified_ms: Option<i64>,
}

impl EndpointRecord {
    /// The endpoint as the API shows it.
    pub(crate) fn to_proto(&self) -> Endpoint {
        let description = self
            .description
            .as_deref()
            .and_then(|b64| STANDARD.decode(b64).ok())
            .and_then(|bytes| Payload::decode(bytes.as_slice()).ok());
        let variant = match &self.target {
            Target::Worker {
                namespace,
                task_queue,
            } => Variant::Worker(Worker {
                namespace: namespace.clone(),
                task_queue: task_queue.clone(),
            }),
            Target::External { url } => Variant::External(External { url: url.clone() }),
        };
        Endpoint {
            version: self.version,
            id: self.id.clone(),
            spec: Some(EndpointSpec {
                name: self.name.clone(),
                description,
                target: Some(EndpointTarget {
                    variant: Some(variant),
                }),
            }),
            created_time: self.created_ms.map(timestamp),
            last_modified_time: self.modified_ms.map(timestamp),
            url_prefix: format!("/nexus/endpoints/{}/services", self.id),
        }
    }
}

/// Every endpoint by id, and the ids changed since the last batch.
#[derive(Debug, Default)]
pub(crate) struct Endpoints {
    by_id: BTreeMap<String, EndpointRecord>,
    dirty: BTreeSet<String>,
}

type Result<T> = std::result::Result<T, EndpointError>;

impl Endpoints {
    /// The endpoints among stored settings; unreadable ones are skipped with an error log.
    pub(crate) fn restore(settings: &BTreeMap<String, String>) -> Self {
        let mut endpoints = Self::default();
        for (key, json) in settings.range(SETTING_PREFIX.to_owned()..) {
            let Some(id) = key.strip_prefix(SETTING_PREFIX) else {
                break;
            };
            if json.is_empty() {
                continue;
            }
            match serde_json::from_str::<EndpointRecord>(json) {
                Ok(record) => {
                    endpoints.by_id.insert(id.to_owned(), record);
                }
                Err(e) => tracing::error!(endpoint_id = id, "skipping unreadable endpoint: {e}"),
            }
        }
        endpoints
    }

    /// The settings to write for the endpoints changed since the last call (an empty value
    /// for a deleted one).
    pub(crate) fn take_writes(&mut self) -> Vec<(String, String)> {
        let mut writes = Vec::new();
        for id in std::mem::take(&mut self.dirty) {
            let value = match self.by_id.get(&id).map(serde_json::to_string) {
                Some(Ok(json)) => json,
                Some(Err(e)) => {
                    tracing::error!(endpoint_id = id, "cannot serialize endpoint: {e}");
                    continue;
                }
                None => String::new(),
            };
            writes.push((format!("{SETTING_PREFIX}{id}"), value));
        }
        writes
    }

    /// The endpoint named `name`, as a workflow's `ScheduleNexusOperation` names it.
    pub(crate) fn by_name(&self, name: &str) -> Option<&EndpointRecord> {
        self.by_id.values().find(|e| e.name == name)
    }

    /// Creates an endpoint with the new `id`; `namespace_exists` checks a worker target's
    /// namespace.
    pub(crate) fn create(
        &mut self,
        spec: Option<&EndpointSpec>,
        namespace_exists: impl Fn(&str) -> bool,
        id: String,
        now_ms: i64,
    ) -> Result<Endpoint> {
        let (name, description, target) = validate(spec, namespace_exists)?;
        if self.by_name(&name).is_some() {
            return Err(EndpointError::Exists(format!(
                "error creating Nexus endpoint. Endpoint with name {name} already registered"
            )));
        }
        let record = EndpointRecord {
            id: id.clone(),
            version: 1,
            name,
            description,
            target,
            created_ms: Some(now_ms),
            modified_ms: None,
        };
        let endpoint = record.to_proto();
        self.by_id.insert(id.clone(), record);
        self.dirty.insert(id);
        Ok(endpoint)
    }

    /// Replaces the spec of endpoint `id` at `version` (the real server checks neither that
    /// the new name is free nor keeps the creation time).
    pub(crate) fn update(
        &mut self,
        id: &str,
        version: i64,
        spec: Option<&EndpointSpec>,
        namespace_exists: impl Fn(&str) -> bool,
        now_ms: i64,
    ) -> Result<Endpoint> {
        let (name, description, target) = validate(spec, namespace_exists)?;
        let Some(record) = self.by_id.get_mut(id) else {
            return Err(EndpointError::NotFound(format!(
                "error updating Nexus endpoint. endpoint ID {id} not found"
            )));
        };
        if record.version != version {
            return Err(EndpointError::Precondition(format!(
                "nexus endpoint version mismatch. received: {version} expected {}",
                record.version
            )));
        }
        *record = EndpointRecord {
            id: id.to_owned(),
            version: version + 1,
            name,
            description,
            target,
            created_ms: None,
            modified_ms: Some(now_ms),
        };
        let endpoint = record.to_proto();
        self.dirty.insert(id.to_owned());
        Ok(endpoint)
    }

    /// Deletes endpoint `id` (the real server does not compare the version).
    pub(crate) fn delete(&mut self, id: &str, version: i64) -> Result<()> {
        let mut issues = id_issues(id);
        if version <= 0 {
            issues.push("endpoint version is non-positive".to_owned());
        }
        refuse(issues)?;
        if self.by_id.remove(id).is_none() {
            return Err(EndpointError::NotFound(format!(
                "error deleting nexus endpoint with ID: {id}"
            )));
        }
        self.dirty.insert(id.to_owned());
        Ok(())
    }

    /// The endpoint with `id`, as `GetNexusEndpoint` answers.
    pub(crate) fn get(&self, id: &str) -> Result<Endpoint> {
        refuse(id_issues(id))?;
        self.by_id
            .get(id)
            .map(EndpointRecord::to_proto)
            .ok_or_else(|| {
                EndpointError::NotFound(format!("Nexus endpoint with ID `{id}` not found"))
            })
    }

    /// One page of endpoints in id order after `token`, and the token of the next page
    /// (empty after the last); with a `name`, only that endpoint (paging ignored).
    pub(crate) fn list(
        &self,
        page_size: i32,
        token: &[u8],
        name: &str,
    ) -> Result<(Vec<Endpoint>, Vec<u8>)> {
        if !name.is_empty() {
            let found = self.by_name(name).map(EndpointRecord::to_proto);
            return Ok((found.into_iter().collect(), Vec::new()));
        }
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(EndpointError::Invalid("page_size is negative".into())),
            n if n > MAX_PAGE_SIZE => {
                return Err(EndpointError::Invalid(format!(
                    "page_size exceeds limit of {MAX_PAGE_SIZE}"
                )));
            }
            n => usize::try_from(n).unwrap_or(DEFAULT_PAGE_SIZE),
        };
        let after = decode_token(token)?;
        let mut page: Vec<&EndpointRecord> = self
            .by_id
            .values()
            .filter(|e| after.as_ref().is_none_or(|last| e.id > *last))
            .take(size + 1)
            .collect();
        let more = page.len() > size;
        page.truncate(size);
        let next = match (more, page.last()) {
            (true, Some(last)) => encode_token(&last.id),
            _ => Vec::new(),
        };
        Ok((
            page.into_iter().map(EndpointRecord::to_proto).collect(),
            next,
        ))
    }
}

/// The real server's page token: `{"LastID":"<base64 of the id's 16 bytes>"}`.
fn encode_token(id: &str) -> Vec<u8> {
    let bytes = uuid::Uuid::parse_str(id)
        .map(|u| u.as_bytes().to_vec())
        .unwrap_or_else(|_| id.as_bytes().to_vec());
    serde_json::json!({ "LastID": STANDARD.encode(bytes) })
        .to_string()
        .into_bytes()
}

fn decode_token(token: &[u8]) -> Result<Option<String>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || EndpointError::Invalid("invalid next_page_token".into());
    let value: serde_json::Value = serde_json::from_slice(token).map_err(|_| invalid())?;
    let last = value
        .get("LastID")
        .and_then(|v| v.as_str())
        .and_then(|s| STANDARD.decode(s).ok())
        .ok_or_else(invalid)?;
    let id = uuid::Uuid::from_slice(&last)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| String::from_utf8_lossy(&last).into_owned());
    Ok(Some(id))
}

fn refuse(issues: Vec<String>) -> Result<()> {
    if issues.is_empty() {
        Ok(())
    } else {
        Err(EndpointError::Invalid(issues.join(", ")))
    }
}

fn id_issues(id: &str) -> Vec<String> {
    if id.is_empty() {
        return vec!["endpoint ID not set".into()];
    }
    match uuid::Uuid::parse_str(id) {
        Ok(_) => Vec::new(),
        Err(e) => vec![format!("malformed endpoint ID: {:?}", e.to_string())],
    }
}

fn name_is_valid(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() >= 2
        && first.is_ascii_alphabetic()
        && last.is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// The scheme of `url` as Go's `url.Parse` reads it (lower-cased; empty when absent).
fn url_scheme(url: &str) -> String {
    let Some((scheme, _)) = url.split_once(':') else {
        return String::new();
    };
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if valid {
        scheme.to_ascii_lowercase()
    } else {
        String::new()
    }
}

/// Checks a spec as the real server does: every issue in one `InvalidArgument`, except an
/// unknown target namespace, which is `FailedPrecondition`.
fn validate(
    spec: Option<&EndpointSpec>,
    namespace_exists: impl Fn(&str) -> bool,
) -> Result<(String, Option<String>, Target)> {
    let default = EndpointSpec::default();
    let spec = spec.unwrap_or(&default);
    let mut issues = Vec::new();
    let name = spec.name.clone();
    if name.is_empty() {
        issues.push("endpoint name not set".to_owned());
    } else {
        if name.len() > MAX_NAME_LENGTH {
            issues.push(format!(
                "endpoint name exceeds length limit of {MAX_NAME_LENGTH}"
            ));
        }
        if !name_is_valid(&name) {
            issues.push(format!(
                "endpoint name must match the regex: {:?}",
                NAME_PATTERN
            ));
        }
    }
    let Some(variant) = spec.target.as_ref().and_then(|t| t.variant.as_ref()) else {
        issues.push("empty target variant".to_owned());
        return Err(EndpointError::Invalid(issues.join(", ")));
    };
    let target = match variant {
        Variant::Worker(worker) => {
            if worker.namespace.is_empty() {
                issues.push("target namespace not set".to_owned());
            } else if !namespace_exists(&worker.namespace) {
                return Err(EndpointError::Precondition(format!(
                    "could not verify namespace referenced by target exists: Namespace {} is not found.",
                    worker.namespace
                )));
            }
            let queue = &worker.task_queue;
            let queue_issue = if queue.is_empty() {
                Some("taskQueue is not set".to_owned())
            } else if queue.len() > MAX_TASK_QUEUE_LENGTH {
                Some("taskQueue length exceeds limit".to_owned())
            } else if queue.starts_with("/_sys/") {
                Some("task queue name cannot start with reserved prefix /_sys/".to_owned())
            } else {
                None
            };
            if let Some(issue) = queue_issue {
                issues.push(format!("invalid target task queue: {issue:?}"));
            }
            Target::Worker {
                namespace: worker.namespace.clone(),
                task_queue: queue.clone(),
            }
        }
        Variant::External(external) => {
            let url = &external.url;
            if url.is_empty() {
                issues.push("empty target URL".to_owned());
            } else if url.len() > MAX_URL_LENGTH {
                issues.push(format!(
                    "target URL length exceeds limit of {MAX_URL_LENGTH}"
                ));
            } else {
                let scheme = url_scheme(url);
                if scheme != "http" && scheme != "https" {
                    issues.push(format!(
                        "invalid target URL scheme: {scheme:?}, expected http or https"
                    ));
                }
            }
            Target::External { url: url.clone() }
        }
    };
    let description = spec.description.as_ref().map(Message::encode_to_vec);
    if description
        .as_ref()
        .is_some_and(|d| d.len() > MAX_DESCRIPTION_SIZE)
    {
        issues.push(format!(
            "description size exceeds limit of {MAX_DESCRIPTION_SIZE}"
        ));
    }
    refuse(issues)?;
    Ok((name, description.map(|d| STANDARD.encode(d)), target))
}

#[cfg(test)]
#[path = "endpoints_tests.rs"]
mod tests;
