//! Worker deployments and versioning: which deployment versions exist (learnt from the
//! pollers' deployment options), each deployment's routing (current and ramping version),
//! and where a task of a run goes given the run's versioning (pinned or not).
//!
//! The registry lives beside the task queues (`matching`) so that a task's target version is
//! resolved under the queues' lock, at the moment it is handed out: a new current version
//! applies at once to tasks already waiting.
//!
//! Here: versions and their identity; `registry` (deployments, versions, routing changes),
//! `manage` (creating deployments and versions ahead of their workers, metadata, the
//! manager, compute configs), `routing` (current and ramping versions) and `describe` (the
//! records as protos).

pub(crate) mod describe;
pub(crate) mod manage;
mod registry;
mod routing;

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::deployment::v1::WorkerDeploymentVersion;

pub(crate) use registry::{Deployments, DeploymentsError, RoutingChange};
pub(crate) use routing::Route;

/// The name the real server gives the "no version" side of a routing config.
pub(crate) const UNVERSIONED: &str = "__unversioned__";

/// One version of one worker deployment: a deployment name and a build id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Version {
    pub(crate) deployment: String,
    pub(crate) build_id: String,
}

impl Version {
    pub(crate) fn new(deployment: &str, build_id: &str) -> Self {
        Self {
            deployment: deployment.to_owned(),
            build_id: build_id.to_owned(),
        }
    }

    /// The version as the real server writes it in its deprecated string fields:
    /// `<deployment>.<build id>`.
    pub(crate) fn canonical(&self) -> String {
        format!("{}.{}", self.deployment, self.build_id)
    }

    pub(crate) fn to_proto(&self) -> WorkerDeploymentVersion {
        WorkerDeploymentVersion {
            build_id: self.build_id.clone(),
            deployment_name: self.deployment.clone(),
        }
    }

    /// A version from its proto; `None` when either part is empty.
    pub(crate) fn from_proto(v: &WorkerDeploymentVersion) -> Option<Self> {
        (!v.deployment_name.is_empty() && !v.build_id.is_empty())
            .then(|| Self::new(&v.deployment_name, &v.build_id))
    }

    /// A version from the deprecated `<deployment>.<build id>` string, split at the first
    /// dot (deployment names cannot hold one on the real server).
    pub(crate) fn parse(canonical: &str) -> Option<Self> {
        let (deployment, build_id) = canonical.split_once('.')?;
        (!deployment.is_empty() && !build_id.is_empty()).then(|| Self::new(deployment, build_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings_round_trip() {
        let v = Version::new("shop", "1.0");
        assert_eq!(v.canonical(), "shop.1.0");
        assert_eq!(Version::parse("shop.1.0"), Some(v));
        assert_eq!(Version::parse("shop"), None);
        assert_eq!(Version::parse(".1"), None);
    }
}
