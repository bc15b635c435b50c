//! Managing deployments ahead of their workers, with the real server's checks and
//! messages: creating a deployment or a version before any poller names it, a version's
//! metadata, the deployment's manager (the one identity then allowed to change its
//! routing), and compute configs. No compute provider can be instantiated here (nor on the
//! dev server), so a compute config with a scaling group is refused and none is ever kept.

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::Payload,
    compute::v1::{ComputeConfig, ComputeConfigScalingGroupUpdate},
};

use super::{
    Version,
    registry::{Deployment, Deployments, DeploymentsError, VersionRecord, key, not_found},
};

type Result<T> = std::result::Result<T, DeploymentsError>;

/// The real server's check of a deployment name.
fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(DeploymentsError::Invalid(
            "deployment name cannot be empty".into(),
        ));
    }
    if name.contains('.') {
        return Err(DeploymentsError::Invalid(
            "worker deployment name cannot contain '.'".into(),
        ));
    }
    Ok(())
}

/// The real server's check of a version a request names.
pub(crate) fn check_version(deployment: &str, build_id: &str) -> Result<Version> {
    if deployment.is_empty() {
        return Err(DeploymentsError::Invalid(
            "deployment name cannot be empty".into(),
        ));
    }
    if build_id.is_empty() {
        return Err(DeploymentsError::Invalid("build ID cannot be empty".into()));
    }
    Ok(Version::new(deployment, build_id))
}

/// Refuses a compute config with a scaling group, as a server without that group's
/// compute provider does.
pub(crate) fn refuse_scaling_groups<'a>(
    groups: impl IntoIterator<Item = (&'a String, Option<&'a str>)>,
) -> Result<()> {
    let mut groups: Vec<(&String, Option<&str>)> = groups.into_iter().collect();
    groups.sort();
    match groups.first() {
        None => Ok(()),
        Some((id, provider)) => Err(DeploymentsError::Invalid(format!(
            "{id}: Could not instantiate compute provider with type '{}'",
            provider.unwrap_or_default()
        ))),
    }
}

/// The scaling groups of an update, with their providers' types.
pub(crate) fn update_groups(
    groups: &HashMap<String, ComputeConfigScalingGroupUpdate>,
) -> impl Iterator<Item = (&String, Option<&str>)> {
    groups.iter().map(|(id, update)| {
        let provider = update
            .scaling_group
            .as_ref()
            .and_then(|g| g.provider.as_ref())
            .map(|p| p.r#type.as_str());
        (id, provider)
    })
}

/// The scaling groups of a config, with their providers' types.
pub(crate) fn config_groups(
    config: Option<&ComputeConfig>,
) -> impl Iterator<Item = (&String, Option<&str>)> {
    config.into_iter().flat_map(|c| {
        c.scaling_groups.iter().map(|(id, group)| {
            let provider = group.provider.as_ref().map(|p| p.r#type.as_str());
            (id, provider)
        })
    })
}

impl Deployment {
    /// Refuses a routing change by `identity` while another identity manages the
    /// deployment.
    pub(super) fn check_manager(&self, identity: &str) -> Result<()> {
        if self.manager_identity.is_empty() || self.manager_identity == identity {
            return Ok(());
        }
        Err(DeploymentsError::Conflict(format!(
            "ManagerIdentity '{}' is set and does not match user identity '{identity}'; to proceed, set your own identity as the ManagerIdentity, remove the ManagerIdentity, or wait for the other client to do so",
            self.manager_identity
        )))
    }
}

impl Deployments {
    /// Creates deployment `name`; returns its conflict token. Repeating the request that
    /// created it (same request id) answers the same.
    pub(crate) fn create_deployment(
        &mut self,
        namespace: &str,
        name: &str,
        identity: &str,
        request_id: &str,
        now_ms: i64,
    ) -> Result<Vec<u8>> {
        check_name(name)?;
        if let Some(existing) = self.deployments.get(&key(namespace, name)) {
            if !request_id.is_empty() && existing.create_request_id == request_id {
                return Ok(existing.conflict_token());
            }
            return Err(DeploymentsError::Exists(format!(
                "Worker Deployment with name \"{name}\" already exists"
            )));
        }
        let deployment = Deployment {
            create_time_ms: now_ms,
            last_modifier_identity: identity.to_owned(),
            create_request_id: request_id.to_owned(),
            ..Default::default()
        };
        let token = deployment.conflict_token();
        self.deployments.insert(key(namespace, name), deployment);
        Ok(token)
    }

    /// Creates `version` of an existing deployment, before any of its workers polls.
    pub(crate) fn create_version(
        &mut self,
        namespace: &str,
        version: &Version,
        identity: &str,
        request_id: &str,
        now_ms: i64,
    ) -> Result<()> {
        let deployment = self
            .deployments
            .get_mut(&key(namespace, &version.deployment))
            .ok_or_else(|| not_found(&version.deployment))?;
        if let Some(existing) = deployment.versions.get(&version.build_id) {
            if !request_id.is_empty() && existing.create_request_id == request_id {
                return Ok(());
            }
            return Err(DeploymentsError::Exists(format!(
                "Worker Deployment Version \"{}\" already exists",
                version.canonical()
            )));
        }
        let record = VersionRecord {
            create_time_ms: now_ms,
            created: true,
            last_modifier_identity: identity.to_owned(),
            create_request_id: request_id.to_owned(),
            ..Default::default()
        };
        deployment.versions.insert(version.build_id.clone(), record);
        Ok(())
    }

    /// The version, or the real server's answer when it does not exist.
    pub(crate) fn version_mut(
        &mut self,
        namespace: &str,
        version: &Version,
    ) -> Result<&mut VersionRecord> {
        self.deployments
            .get_mut(&key(namespace, &version.deployment))
            .and_then(|d| d.versions.get_mut(&version.build_id))
            .ok_or_else(|| {
                DeploymentsError::NotFound(format!(
                    "build ID '{}' not found in Worker Deployment '{}'",
                    version.build_id, version.deployment
                ))
            })
    }

    /// Sets and removes metadata entries of `version`; returns all its entries.
    pub(crate) fn update_metadata(
        &mut self,
        namespace: &str,
        version: &Version,
        upsert: &HashMap<String, Payload>,
        remove: &[String],
    ) -> Result<HashMap<String, Payload>> {
        if upsert.is_empty() && remove.is_empty() {
            return Err(DeploymentsError::Invalid(
                "At least one of remove_entries or upsert_entries must be provided".into(),
            ));
        }
        let record = self
            .deployments
            .get_mut(&key(namespace, &version.deployment))
            .and_then(|d| d.versions.get_mut(&version.build_id))
            .ok_or_else(|| {
                DeploymentsError::NotFound(format!(
                    "workflow not found for ID: temporal-sys-worker-deployment-version:{}:{}",
                    version.deployment, version.build_id
                ))
            })?;
        record
            .metadata
            .extend(upsert.iter().map(|(k, v)| (k.clone(), v.clone())));
        for key in remove {
            record.metadata.remove(key);
        }
        Ok(record.metadata.clone())
    }

    /// Makes `manager` (empty: nobody) the manager of deployment `name`; returns the new
    /// conflict token and the previous manager.
    pub(crate) fn set_manager(
        &mut self,
        namespace: &str,
        name: &str,
        manager: &str,
        token: &[u8],
        identity: &str,
    ) -> Result<(Vec<u8>, String)> {
        if identity.is_empty() {
            return Err(DeploymentsError::Invalid("Identity is required".into()));
        }
        if name.is_empty() {
            return Err(DeploymentsError::Invalid(
                "WorkerDeploymentName cannot be empty".into(),
            ));
        }
        let deployment = self
            .deployments
            .get_mut(&key(namespace, name))
            .ok_or_else(|| {
                DeploymentsError::NotFound(format!(
                    "workflow not found for ID: temporal-sys-worker-deployment:{name}"
                ))
            })?;
        deployment.check_token(token)?;
        let previous = deployment.manager_identity.clone();
        if previous != manager {
            deployment.manager_identity = manager.to_owned();
            deployment.revision += 1;
            deployment.last_modifier_identity = identity.to_owned();
        }
        Ok((deployment.conflict_token(), previous))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployments_and_versions_are_created_once_with_the_real_servers_checks() {
        let mut d = Deployments::default();
        assert!(matches!(
            d.create_deployment("ns", "a.b", "me", "", 1),
            Err(DeploymentsError::Invalid(_))
        ));
        let token = d
            .create_deployment("ns", "shop", "me", "r1", 1)
            .expect("created");
        assert_eq!(d.create_deployment("ns", "shop", "me", "r1", 2), Ok(token));
        assert_eq!(
            d.create_deployment("ns", "shop", "me", "r2", 2),
            Err(DeploymentsError::Exists(
                "Worker Deployment with name \"shop\" already exists".into()
            ))
        );
        let v1 = Version::new("shop", "1");
        assert!(matches!(
            d.create_version("ns", &Version::new("none", "1"), "me", "", 3),
            Err(DeploymentsError::NotFound(_))
        ));
        d.create_version("ns", &v1, "me", "", 3).expect("created");
        assert!(matches!(
            d.create_version("ns", &v1, "me", "", 4),
            Err(DeploymentsError::Exists(_))
        ));
        let record = &d.get("ns", "shop").expect("exists").versions["1"];
        assert!(record.created && record.task_queues.is_empty());
        // Its first poller makes it an ordinary version.
        d.register("ns", &v1, "q", 1, 5);
        assert!(!d.get("ns", "shop").expect("exists").versions["1"].created);
    }

    #[test]
    fn metadata_entries_are_set_and_removed() {
        let mut d = Deployments::default();
        d.register("ns", &Version::new("shop", "1"), "q", 1, 1);
        let v1 = Version::new("shop", "1");
        let none: HashMap<String, Payload> = HashMap::new();
        assert!(matches!(
            d.update_metadata("ns", &v1, &none, &[]),
            Err(DeploymentsError::Invalid(_))
        ));
        let entry = HashMap::from([("k".to_owned(), Payload::default())]);
        let entries = d.update_metadata("ns", &v1, &entry, &[]).expect("set");
        assert_eq!(entries.len(), 1);
        let entries = d
            .update_metadata("ns", &v1, &none, &["k".into(), "other".into()])
            .expect("removed");
        assert!(entries.is_empty());
        assert!(matches!(
            d.update_metadata("ns", &Version::new("shop", "9"), &entry, &[]),
            Err(DeploymentsError::NotFound(_))
        ));
    }

    #[test]
    fn a_manager_alone_may_change_the_routing() {
        let mut d = Deployments::default();
        d.register("ns", &Version::new("shop", "1"), "q", 1, 1);
        let before = d.get("ns", "shop").expect("exists").conflict_token();
        let (token, previous) = d.set_manager("ns", "shop", "boss", &[], "me").expect("set");
        assert_ne!(token, before);
        assert_eq!(previous, "");
        let (same, previous) = d
            .set_manager("ns", "shop", "boss", &[], "me")
            .expect("again");
        assert_eq!((same, previous.as_str()), (token.clone(), "boss"));
        assert!(matches!(
            d.set_current("ns", "shop", Some("1"), &[], "me", 2),
            Err(DeploymentsError::Conflict(_))
        ));
        d.set_current("ns", "shop", Some("1"), &[], "boss", 2)
            .expect("the manager may");
        assert!(matches!(
            d.set_manager("ns", "shop", "", &[], ""),
            Err(DeploymentsError::Invalid(_))
        ));
        assert!(matches!(
            d.set_manager("ns", "none", "", &[], "me"),
            Err(DeploymentsError::NotFound(_))
        ));
    }

    #[test]
    fn a_scaling_group_is_refused_naming_its_provider() {
        let groups = HashMap::from([("g".to_owned(), ComputeConfigScalingGroupUpdate::default())]);
        assert_eq!(
            refuse_scaling_groups(update_groups(&groups)),
            Err(DeploymentsError::Invalid(
                "g: Could not instantiate compute provider with type ''".into()
            ))
        );
        assert_eq!(refuse_scaling_groups(config_groups(None)), Ok(()));
    }
}
