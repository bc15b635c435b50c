//! A run's worker versioning: the behavior and deployment version its last workflow task
//! was completed with, a versioning override (set at start or by
//! `UpdateWorkflowExecutionOptions`), and from those the [`Route`] its tasks take.
//!
//! Pinned runs (by behavior or override) stay on their version; auto-upgrade and
//! unversioned runs follow their queue's current (or ramping) version at each task.

use serde::{Deserialize, Serialize};
use temporalio_protos::temporal::api::{
    deployment::v1::WorkerDeploymentOptions,
    enums::v1::{ContinueAsNewVersioningBehavior, VersioningBehavior, WorkerVersioningMode},
    workflow::v1::{
        VersioningOverride, WorkflowExecutionVersioningInfo,
        versioning_override::{Override as OverrideKind, PinnedOverride, PinnedOverrideBehavior},
    },
};

use crate::matching::deployments::{Route, Version};

/// A versioning override: pinned to one version, or auto-upgrade whatever the worker says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Override {
    Pinned(Version),
    AutoUpgrade,
}

impl Override {
    // The deprecated fields are still what older clients send and what the server echoes.
    #[allow(deprecated)]
    /// The override a request names (`None` when it names none), or why it is invalid.
    pub(crate) fn from_proto(o: &VersioningOverride) -> Result<Option<Self>, String> {
        match &o.r#override {
            Some(OverrideKind::Pinned(p)) => p
                .version
                .as_ref()
                .and_then(Version::from_proto)
                .map(|v| Some(Self::Pinned(v)))
                .ok_or_else(|| "must provide version if override is pinned.".to_owned()),
            Some(OverrideKind::AutoUpgrade(true)) => Ok(Some(Self::AutoUpgrade)),
            _ if o.behavior == VersioningBehavior::Pinned as i32 => {
                Version::parse(&o.pinned_version)
                    .map(|v| Some(Self::Pinned(v)))
                    .ok_or_else(|| "must provide pinned_version if behavior is pinned.".to_owned())
            }
            _ if o.behavior == VersioningBehavior::AutoUpgrade as i32 => {
                Ok(Some(Self::AutoUpgrade))
            }
            _ => Ok(None),
        }
    }

    #[allow(deprecated)]
    /// As the real server echoes it: the oneof and the deprecated fields both set.
    pub(crate) fn to_proto(&self) -> VersioningOverride {
        match self {
            Self::Pinned(v) => VersioningOverride {
                behavior: VersioningBehavior::Pinned as i32,
                pinned_version: v.canonical(),
                r#override: Some(OverrideKind::Pinned(PinnedOverride {
                    behavior: PinnedOverrideBehavior::Pinned as i32,
                    version: Some(v.to_proto()),
                })),
                ..Default::default()
            },
            Self::AutoUpgrade => VersioningOverride {
                behavior: VersioningBehavior::AutoUpgrade as i32,
                r#override: Some(OverrideKind::AutoUpgrade(true)),
                ..Default::default()
            },
        }
    }
}

/// A run's versioning state, persisted with the run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) struct RunVersioning {
    /// The `VersioningBehavior` of the last completed workflow task.
    pub(crate) behavior: i32,
    /// The version of the worker that completed it; `None` for an unversioned worker.
    pub(crate) version: Option<Version>,
    pub(crate) override_: Option<Override>,
    /// A pinned version carried over continue-as-new, until the first task completes.
    pub(crate) inherited_pinned: Option<Version>,
    /// Continued as new with `USE_RAMPING_VERSION`: the first task goes to the ramping
    /// version whatever its percentage, until it completes.
    #[serde(default)]
    pub(crate) use_ramping: bool,
}

/// The worker's version from its deployment options, when it runs versioned.
pub(crate) fn worker_version(options: Option<&WorkerDeploymentOptions>) -> Option<Version> {
    let o = options?;
    (o.worker_versioning_mode == WorkerVersioningMode::Versioned as i32)
        .then(|| Version::new(&o.deployment_name, &o.build_id))
        .filter(|v| !v.deployment.is_empty() && !v.build_id.is_empty())
}

impl RunVersioning {
    /// The version the run's tasks are pinned to, if any.
    pub(crate) fn pinned(&self) -> Option<&Version> {
        match &self.override_ {
            Some(Override::Pinned(v)) => Some(v),
            Some(Override::AutoUpgrade) => None,
            None if self.behavior == VersioningBehavior::Pinned as i32 => self.version.as_ref(),
            None => self.inherited_pinned.as_ref(),
        }
    }

    pub(crate) fn route(&self, workflow_id: &str) -> Route {
        Route {
            workflow_id: workflow_id.to_owned(),
            pinned: self.pinned().cloned(),
            use_ramping: self.use_ramping,
            ..Route::default()
        }
    }

    /// Records the behavior and the version of the worker that completed a task.
    pub(crate) fn task_completed(&mut self, behavior: i32, version: Option<Version>) {
        self.behavior = if version.is_some() {
            behavior
        } else {
            VersioningBehavior::Unspecified as i32
        };
        self.version = version;
        self.inherited_pinned = None;
        self.use_ramping = false;
    }

    /// Pinned by the behavior of its last task (not by an override), and to which version:
    /// the runs the real server tells when their target version moves on.
    pub(crate) fn pinned_by_behavior(&self) -> Option<&Version> {
        (self.override_.is_none() && self.behavior == VersioningBehavior::Pinned as i32)
            .then_some(self.version.as_ref())
            .flatten()
    }

    /// The versioning a run continued from this one starts with: the override carries
    /// over; a pinned run stays on its version on the same queue unless the command's
    /// `initial` behavior (a `ContinueAsNewVersioningBehavior`) asks to start as
    /// auto-upgrade, or on the ramping version.
    pub(crate) fn continued(&self, same_queue: bool, initial: i32) -> Self {
        let use_ramping = initial == ContinueAsNewVersioningBehavior::UseRampingVersion as i32;
        let unpinned =
            use_ramping || initial == ContinueAsNewVersioningBehavior::AutoUpgrade as i32;
        let pinned = self.pinned().filter(|_| same_queue && !unpinned).cloned();
        Self {
            override_: self.override_.clone(),
            inherited_pinned: pinned,
            use_ramping,
            ..Default::default()
        }
    }

    #[allow(deprecated)]
    /// Describe's `versioning_info`; `None` for a run that never saw versioning.
    pub(crate) fn info(&self) -> Option<WorkflowExecutionVersioningInfo> {
        if self.version.is_none() && self.override_.is_none() {
            return None;
        }
        Some(WorkflowExecutionVersioningInfo {
            behavior: self.behavior,
            version: self
                .version
                .as_ref()
                .map(Version::canonical)
                .unwrap_or_default(),
            deployment_version: self.version.as_ref().map(Version::to_proto),
            versioning_override: self.override_.as_ref().map(Override::to_proto),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(b: &str) -> Version {
        Version::new("d", b)
    }

    #[test]
    fn pinned_behavior_and_overrides_decide_the_route() {
        let mut run = RunVersioning::default();
        assert_eq!(run.route("w").pinned, None);
        run.task_completed(VersioningBehavior::Pinned as i32, Some(v("1")));
        assert_eq!(run.route("w").pinned, Some(v("1")));
        run.task_completed(VersioningBehavior::AutoUpgrade as i32, Some(v("2")));
        assert_eq!(run.route("w").pinned, None);
        run.override_ = Some(Override::Pinned(v("1")));
        assert_eq!(run.route("w").pinned, Some(v("1")));
        // An unversioned worker leaves no behavior.
        run.task_completed(VersioningBehavior::Pinned as i32, None);
        assert_eq!(run.behavior, VersioningBehavior::Unspecified as i32);
    }

    #[test]
    #[allow(deprecated)]
    fn overrides_round_trip_through_their_proto() {
        for o in [Override::Pinned(v("1")), Override::AutoUpgrade] {
            assert_eq!(Override::from_proto(&o.to_proto()), Ok(Some(o)));
        }
        let deprecated = VersioningOverride {
            behavior: VersioningBehavior::Pinned as i32,
            pinned_version: "d.1".into(),
            ..Default::default()
        };
        assert_eq!(
            Override::from_proto(&deprecated),
            Ok(Some(Override::Pinned(v("1"))))
        );
        let no_version = VersioningOverride {
            r#override: Some(OverrideKind::Pinned(PinnedOverride::default())),
            ..Default::default()
        };
        assert!(Override::from_proto(&no_version).is_err());
    }

    #[test]
    fn continue_as_new_keeps_a_pin_unless_asked_to_upgrade() {
        let mut run = RunVersioning::default();
        run.task_completed(VersioningBehavior::Pinned as i32, Some(v("1")));
        let (keep, upgrade, ramp) = (
            ContinueAsNewVersioningBehavior::Unspecified as i32,
            ContinueAsNewVersioningBehavior::AutoUpgrade as i32,
            ContinueAsNewVersioningBehavior::UseRampingVersion as i32,
        );
        assert_eq!(run.continued(true, keep).route("w").pinned, Some(v("1")));
        assert_eq!(run.continued(true, upgrade).route("w").pinned, None);
        assert_eq!(run.continued(false, keep).route("w").pinned, None);
        let ramped = run.continued(true, ramp);
        assert_eq!(ramped.route("w").pinned, None);
        assert!(ramped.route("w").use_ramping);
        // Only the first task: once it completes the run follows its behavior.
        let mut ramped = ramped;
        ramped.task_completed(VersioningBehavior::Pinned as i32, Some(v("2")));
        assert!(!ramped.route("w").use_ramping);
        assert_eq!(ramped.pinned_by_behavior(), Some(&v("2")));
        ramped.override_ = Some(Override::Pinned(v("1")));
        assert_eq!(ramped.pinned_by_behavior(), None);
    }
}
