//! The deployments of every namespace: their versions (created by the first poll that
//! names them), the task queues each version polls, and the routing config that
//! `SetWorkerDeploymentCurrentVersion` and `SetWorkerDeploymentRampingVersion` change,
//! guarded by a conflict token as on the real server.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use temporalio_protos::temporal::api::common::v1::Payload;

use super::{Version, routing::Routing};

/// Why a deployment request was refused; each names what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum DeploymentsError {
    /// No poller has named this deployment or version yet.
    #[error("{0}")]
    NotFound(String),
    /// The change conflicts with the deployment's state (stale token, version in use).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is malformed.
    #[error("{0}")]
    Invalid(String),
    /// A deployment or version of that name exists already.
    #[error("{0}")]
    Exists(String),
}

type Result<T> = std::result::Result<T, DeploymentsError>;

/// One version of a deployment, as describe shows it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct VersionRecord {
    pub(crate) create_time_ms: i64,
    /// (queue name, `TaskQueueType`) pairs its pollers have polled.
    pub(crate) task_queues: BTreeSet<(String, i32)>,
    pub(crate) first_activation_ms: Option<i64>,
    pub(crate) current_since_ms: Option<i64>,
    pub(crate) ramping_since_ms: Option<i64>,
    pub(crate) routing_update_ms: Option<i64>,
    pub(crate) last_current_ms: Option<i64>,
    pub(crate) last_deactivation_ms: Option<i64>,
    pub(crate) ramp_percentage: f32,
    /// Created by `CreateWorkerDeploymentVersion` and not yet polled.
    pub(crate) created: bool,
    pub(crate) last_modifier_identity: String,
    /// The request that created it, so that a retry of it succeeds.
    pub(crate) create_request_id: String,
    /// `UpdateWorkerDeploymentVersionMetadata`'s entries.
    pub(crate) metadata: HashMap<String, Payload>,
}

/// One worker deployment.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Deployment {
    pub(crate) create_time_ms: i64,
    pub(crate) versions: BTreeMap<String, VersionRecord>,
    pub(crate) routing: Routing,
    pub(crate) current_changed_ms: Option<i64>,
    pub(crate) ramping_changed_ms: Option<i64>,
    pub(crate) ramping_percentage_changed_ms: Option<i64>,
    /// Bumped by every routing change; the conflict token is derived from it.
    pub(crate) revision: i64,
    pub(crate) last_modifier_identity: String,
    /// The identity alone allowed to change the routing (empty: anyone).
    pub(crate) manager_identity: String,
    /// The request that created it, so that a retry of it succeeds.
    pub(crate) create_request_id: String,
}

impl Deployment {
    pub(crate) fn conflict_token(&self) -> Vec<u8> {
        self.revision.to_be_bytes().to_vec()
    }

    pub(super) fn check_token(&self, token: &[u8]) -> Result<()> {
        if token.is_empty() || token == self.conflict_token().as_slice() {
            Ok(())
        } else {
            Err(DeploymentsError::Conflict("conflict token mismatch".into()))
        }
    }

    fn version_mut(&mut self, name: &str, build_id: &str) -> Result<&mut VersionRecord> {
        self.versions.get_mut(build_id).ok_or_else(|| {
            DeploymentsError::NotFound(format!(
                "build ID '{build_id}' not found in Worker Deployment '{name}'"
            ))
        })
    }
}

/// What a routing change did: the previous version, the new token, and the queues whose
/// waiting tasks may now go elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RoutingChange {
    /// The previous current (or ramping) build id; `None` is unversioned.
    pub(crate) previous: Option<String>,
    pub(crate) previous_percentage: f32,
    pub(crate) conflict_token: Vec<u8>,
    pub(crate) queues: Vec<String>,
}

/// Every deployment, by (namespace, name).
#[derive(Debug, Default)]
pub(crate) struct Deployments {
    pub(super) deployments: BTreeMap<(String, String), Deployment>,
    /// The deployment each (namespace, queue) was last polled for.
    queues: HashMap<(String, String), String>,
}

pub(super) fn key(namespace: &str, name: &str) -> (String, String) {
    (namespace.to_owned(), name.to_owned())
}

pub(super) fn not_found(name: &str) -> DeploymentsError {
    DeploymentsError::NotFound(format!(
        "no Worker Deployment found with name '{name}'; does your Worker Deployment have pollers?"
    ))
}

impl Deployments {
    /// Records that a poller of `version` polls `queue` (of `TaskQueueType` `queue_type`).
    pub(crate) fn register(
        &mut self,
        namespace: &str,
        version: &Version,
        queue: &str,
        queue_type: i32,
        now_ms: i64,
    ) {
        let deployment = self
            .deployments
            .entry(key(namespace, &version.deployment))
            .or_insert_with(|| Deployment {
                create_time_ms: now_ms,
                ..Default::default()
            });
        let record = deployment
            .versions
            .entry(version.build_id.clone())
            .or_insert_with(|| VersionRecord {
                create_time_ms: now_ms,
                ..Default::default()
            });
        record.created = false;
        record.task_queues.insert((queue.to_owned(), queue_type));
        self.queues
            .insert(key(namespace, queue), version.deployment.clone());
    }

    pub(crate) fn get(&self, namespace: &str, name: &str) -> Result<&Deployment> {
        self.deployments
            .get(&key(namespace, name))
            .ok_or_else(|| not_found(name))
    }

    /// Every deployment of `namespace`, by name.
    pub(crate) fn list(&self, namespace: &str) -> impl Iterator<Item = (&str, &Deployment)> {
        self.deployments
            .iter()
            .filter(move |((ns, _), _)| ns == namespace)
            .map(|((_, name), d)| (name.as_str(), d))
    }

    /// The deployment `queue` belongs to, with its routing.
    pub(crate) fn routing(&self, namespace: &str, queue: &str) -> Option<(&str, &Routing)> {
        let name = self.queues.get(&key(namespace, queue))?;
        let deployment = self.deployments.get(&key(namespace, name))?;
        Some((name.as_str(), &deployment.routing))
    }

    /// Whether pollers of `version` have polled `queue`.
    pub(crate) fn queue_has(&self, namespace: &str, queue: &str, version: &Version) -> bool {
        self.deployments
            .get(&key(namespace, &version.deployment))
            .and_then(|d| d.versions.get(&version.build_id))
            .is_some_and(|v| v.task_queues.iter().any(|(q, _)| q == queue))
    }

    /// Whether pollers of `version` have polled `queue` for tasks of `queue_type`.
    pub(crate) fn polls(
        &self,
        namespace: &str,
        queue: &str,
        queue_type: i32,
        version: &Version,
    ) -> bool {
        self.deployments
            .get(&key(namespace, &version.deployment))
            .and_then(|d| d.versions.get(&version.build_id))
            .is_some_and(|v| v.task_queues.contains(&(queue.to_owned(), queue_type)))
    }

    /// Makes `build_id` (`None`: unversioned) the current version of deployment `name`.
    /// Setting the version that is already current changes nothing; setting the ramping
    /// version ends the ramp.
    pub(crate) fn set_current(
        &mut self,
        namespace: &str,
        name: &str,
        build_id: Option<&str>,
        token: &[u8],
        identity: &str,
        now_ms: i64,
    ) -> Result<RoutingChange> {
        let deployment = self
            .deployments
            .get_mut(&key(namespace, name))
            .ok_or_else(|| not_found(name))?;
        deployment.check_token(token)?;
        deployment.check_manager(identity)?;
        let previous = deployment.routing.current.clone();
        if previous.as_deref() == build_id {
            return Ok(RoutingChange {
                previous,
                previous_percentage: 0.0,
                conflict_token: deployment.conflict_token(),
                queues: Vec::new(),
            });
        }
        if let Some(build_id) = build_id {
            let version = deployment.version_mut(name, build_id)?;
            version.first_activation_ms.get_or_insert(now_ms);
            version.current_since_ms = Some(now_ms);
            version.last_current_ms = Some(now_ms);
            version.routing_update_ms = Some(now_ms);
            version.ramping_since_ms = None;
            version.ramp_percentage = 0.0;
        }
        if let Some(old) = previous.as_deref()
            && let Some(version) = deployment.versions.get_mut(old)
        {
            version.current_since_ms = None;
            version.last_deactivation_ms = Some(now_ms);
            version.routing_update_ms = Some(now_ms);
        }
        if deployment.routing.ramping.as_ref().map(|(b, _)| b.as_str()) == build_id {
            deployment.routing.ramping = None;
            deployment.ramping_changed_ms = Some(now_ms);
        }
        deployment.routing.current = build_id.map(str::to_owned);
        deployment.current_changed_ms = Some(now_ms);
        Ok(self.changed(namespace, name, previous, 0.0, identity))
    }

    /// Ramps `percentage` of new and auto-upgrade runs to `build_id`; `None` ends the ramp.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn set_ramping(
        &mut self,
        namespace: &str,
        name: &str,
        build_id: Option<&str>,
        percentage: f32,
        token: &[u8],
        identity: &str,
        now_ms: i64,
    ) -> Result<RoutingChange> {
        if !(0.0..=100.0).contains(&percentage) {
            return Err(DeploymentsError::Invalid(
                "Percentage must be between 0 and 100 (inclusive)".into(),
            ));
        }
        let deployment = self
            .deployments
            .get_mut(&key(namespace, name))
            .ok_or_else(|| not_found(name))?;
        deployment.check_token(token)?;
        deployment.check_manager(identity)?;
        let (previous, previous_percentage) = deployment
            .routing
            .ramping
            .clone()
            .map_or((None, 0.0), |(b, p)| (Some(b), p));
        if let Some(build_id) = build_id {
            if deployment.routing.current.as_deref() == Some(build_id) {
                return Err(DeploymentsError::Conflict(format!(
                    "requested ramping version {} is already current",
                    Version::new(name, build_id).canonical()
                )));
            }
            let version = deployment.version_mut(name, build_id)?;
            version.first_activation_ms.get_or_insert(now_ms);
            version.ramping_since_ms.get_or_insert(now_ms);
            version.routing_update_ms = Some(now_ms);
            version.ramp_percentage = percentage;
        }
        if let Some(old) = previous.as_deref().filter(|old| Some(*old) != build_id)
            && let Some(version) = deployment.versions.get_mut(old)
        {
            version.ramping_since_ms = None;
            version.ramp_percentage = 0.0;
            version.last_deactivation_ms = Some(now_ms);
            version.routing_update_ms = Some(now_ms);
        }
        if previous.as_deref() != build_id {
            deployment.ramping_changed_ms = Some(now_ms);
        }
        deployment.ramping_percentage_changed_ms = Some(now_ms);
        deployment.routing.ramping = build_id.map(|b| (b.to_owned(), percentage));
        Ok(self.changed(namespace, name, previous, previous_percentage, identity))
    }

    /// Bumps the revision after a change and lists the queues it may reroute.
    fn changed(
        &mut self,
        namespace: &str,
        name: &str,
        previous: Option<String>,
        previous_percentage: f32,
        identity: &str,
    ) -> RoutingChange {
        let queues = self
            .queues
            .iter()
            .filter(|((ns, _), d)| ns == namespace && d.as_str() == name)
            .map(|((_, q), _)| q.clone())
            .collect();
        let Some(deployment) = self.deployments.get_mut(&key(namespace, name)) else {
            return RoutingChange {
                previous,
                previous_percentage,
                conflict_token: Vec::new(),
                queues,
            };
        };
        deployment.revision += 1;
        deployment.last_modifier_identity = identity.to_owned();
        RoutingChange {
            previous,
            previous_percentage,
            conflict_token: deployment.conflict_token(),
            queues,
        }
    }

    /// Forgets a version that is neither current nor ramping.
    pub(crate) fn delete_version(&mut self, namespace: &str, version: &Version) -> Result<()> {
        let deployment = self
            .deployments
            .get_mut(&key(namespace, &version.deployment))
            .ok_or_else(|| not_found(&version.deployment))?;
        let build = Some(version.build_id.as_str());
        if deployment.routing.current.as_deref() == build
            || deployment.routing.ramping.as_ref().map(|(b, _)| b.as_str()) == build
        {
            return Err(DeploymentsError::Conflict(format!(
                "version '{}:{}' cannot be deleted since it is current or ramping",
                version.deployment, version.build_id
            )));
        }
        deployment.version_mut(&version.deployment, &version.build_id)?;
        deployment.versions.remove(&version.build_id);
        Ok(())
    }

    /// Forgets a deployment that has no versions left.
    pub(crate) fn delete_deployment(&mut self, namespace: &str, name: &str) -> Result<()> {
        let deployment = self.get(namespace, name)?;
        if !deployment.versions.is_empty() {
            return Err(DeploymentsError::Conflict(
                "deployment has versions, can't be deleted".into(),
            ));
        }
        self.deployments.remove(&key(namespace, name));
        self.queues
            .retain(|(ns, _), d| !(ns == namespace && d.as_str() == name));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_two_versions() -> Deployments {
        let mut d = Deployments::default();
        d.register("ns", &Version::new("shop", "1"), "q", 1, 10);
        d.register("ns", &Version::new("shop", "2"), "q", 1, 20);
        d
    }

    #[test]
    fn polls_create_deployments_and_versions() {
        let d = with_two_versions();
        let shop = d.get("ns", "shop").expect("registered");
        assert_eq!(shop.create_time_ms, 10);
        assert_eq!(shop.versions.len(), 2);
        assert!(d.queue_has("ns", "q", &Version::new("shop", "2")));
        assert!(!d.queue_has("ns", "other", &Version::new("shop", "2")));
        assert_eq!(
            d.routing("ns", "q").map(|(n, r)| (n, r.current.clone())),
            Some(("shop", None))
        );
        assert!(matches!(
            d.get("ns", "none"),
            Err(DeploymentsError::NotFound(_))
        ));
    }

    #[test]
    fn current_version_changes_under_the_conflict_token() {
        let mut d = with_two_versions();
        let token = d.get("ns", "shop").expect("exists").conflict_token();
        let change = d
            .set_current("ns", "shop", Some("1"), &token, "me", 30)
            .expect("set");
        assert_eq!(change.previous, None);
        assert_eq!(change.queues, vec!["q".to_owned()]);
        assert_ne!(change.conflict_token, token);
        assert_eq!(
            d.set_current("ns", "shop", Some("2"), &token, "me", 40),
            Err(DeploymentsError::Conflict("conflict token mismatch".into()))
        );
        assert!(matches!(
            d.set_current("ns", "shop", Some("9"), &[], "me", 40),
            Err(DeploymentsError::NotFound(_))
        ));
        // The same version again: nothing changes, the token stays.
        let again = d
            .set_current("ns", "shop", Some("1"), &[], "me", 50)
            .expect("same");
        assert_eq!(again.conflict_token, change.conflict_token);
        assert_eq!(again.previous.as_deref(), Some("1"));
        let shop = d.get("ns", "shop").expect("exists");
        assert_eq!(shop.revision, 1);
        assert_eq!(shop.versions["1"].current_since_ms, Some(30));
    }

    #[test]
    fn ramps_refuse_the_current_version_and_bad_percentages() {
        let mut d = with_two_versions();
        d.set_current("ns", "shop", Some("1"), &[], "me", 30)
            .expect("set");
        assert!(matches!(
            d.set_ramping("ns", "shop", Some("1"), 10.0, &[], "me", 40),
            Err(DeploymentsError::Conflict(_))
        ));
        assert!(matches!(
            d.set_ramping("ns", "shop", Some("2"), 150.0, &[], "me", 40),
            Err(DeploymentsError::Invalid(_))
        ));
        d.set_ramping("ns", "shop", Some("2"), 25.0, &[], "me", 40)
            .expect("ramp");
        let change = d
            .set_ramping("ns", "shop", Some("2"), 50.0, &[], "me", 50)
            .expect("ramp");
        assert_eq!(
            (change.previous.as_deref(), change.previous_percentage),
            (Some("2"), 25.0)
        );
        assert!(matches!(
            d.delete_version("ns", &Version::new("shop", "2")),
            Err(DeploymentsError::Conflict(_))
        ));
        // Promoting the ramping version ends the ramp.
        d.set_current("ns", "shop", Some("2"), &[], "me", 60)
            .expect("promote");
        let shop = d.get("ns", "shop").expect("exists");
        assert_eq!(shop.routing.ramping, None);
        assert_eq!(shop.versions["1"].last_deactivation_ms, Some(60));
        d.delete_version("ns", &Version::new("shop", "1"))
            .expect("delete");
        assert!(matches!(
            d.delete_deployment("ns", "shop"),
            Err(DeploymentsError::Conflict(_))
        ));
    }
}
