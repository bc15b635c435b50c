//! Where a task goes: the route a run gives its tasks, resolved against the routing config
//! of the queue's deployment into the one version (or "unversioned") whose pollers may take
//! it.

use super::Version;

/// What a run says about where its tasks go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Route {
    /// The workflow id, which decides whether a ramp takes the run.
    pub(crate) workflow_id: String,
    /// The version the run is pinned to (by its behavior or an override).
    pub(crate) pinned: Option<Version>,
    /// For a task sent to a worker's sticky queue: the normal queue it goes to instead when
    /// that worker is not of the version the task resolves to.
    pub(crate) normal_queue: Option<String>,
    /// The first task of a run continued as new with `USE_RAMPING_VERSION`: the ramping
    /// version takes it whatever the ramp's percentage (the current one when none ramps).
    pub(crate) use_ramping: bool,
    /// The task's priority key: 1 (highest) to 5; 0 is the default, 3.
    pub(crate) priority: i32,
}

/// The priority key tasks without one get, as on the real server.
pub(crate) const DEFAULT_PRIORITY: i32 = 3;

impl Route {
    /// The priority key, 1 to 5 (0 and anything out of range read as the default, 3).
    pub(crate) fn priority_key(&self) -> i32 {
        if (1..=5).contains(&self.priority) {
            self.priority
        } else {
            DEFAULT_PRIORITY
        }
    }
}

/// A deployment's routing, as far as dispatch needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Routing {
    /// The current build id; `None` is "unversioned".
    pub(crate) current: Option<String>,
    /// The ramping build id and its percentage (0 to 100).
    pub(crate) ramping: Option<(String, f32)>,
}

impl Route {
    /// The version whose pollers take this task on a queue of `deployment` (with its
    /// `routing` and the build ids polling the queue); `None` means unversioned pollers.
    /// A run pinned to a version the queue has keeps it; any other run follows the
    /// deployment: the ramping version if the ramp takes its workflow id (or the run asks
    /// for the ramping version), else the current.
    pub(crate) fn resolve(
        &self,
        deployment: Option<(&str, &Routing)>,
        queue_has: impl Fn(&Version) -> bool,
    ) -> Option<Version> {
        if let Some(pinned) = self.pinned.as_ref().filter(|v| queue_has(v)) {
            return Some(pinned.clone());
        }
        let (name, routing) = deployment?;
        if let Some((build_id, percentage)) = &routing.ramping
            && (self.use_ramping || ramps(&self.workflow_id, *percentage))
        {
            return Some(Version::new(name, build_id));
        }
        routing.current.as_deref().map(|b| Version::new(name, b))
    }
}

/// Whether a ramp of `percentage` takes `workflow_id`: deterministic per id, so a run and
/// its later tasks land on the same side. (FNV-1a here; the real server hashes the id with
/// farmhash, so the same id may fall on the other side of a ramp there.)
pub(crate) fn ramps(workflow_id: &str, percentage: f32) -> bool {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in workflow_id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let point = f64::from(hash) / (f64::from(u32::MAX) + 1.0) * 100.0;
    point < f64::from(percentage)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str, pinned: Option<&str>) -> Route {
        Route {
            workflow_id: id.into(),
            pinned: pinned.map(|b| Version::new("d", b)),
            ..Route::default()
        }
    }

    #[test]
    fn unpinned_runs_follow_the_current_version() {
        let routing = Routing {
            current: Some("2".into()),
            ramping: None,
        };
        let all = |_: &Version| true;
        assert_eq!(
            route("w", None).resolve(Some(("d", &routing)), all),
            Some(Version::new("d", "2"))
        );
        assert_eq!(route("w", None).resolve(None, all), None);
        let unversioned = Routing::default();
        assert_eq!(
            route("w", None).resolve(Some(("d", &unversioned)), all),
            None
        );
    }

    #[test]
    fn pinned_runs_stay_where_the_queue_has_their_version() {
        let routing = Routing {
            current: Some("2".into()),
            ramping: None,
        };
        let pinned = route("w", Some("1"));
        assert_eq!(
            pinned.resolve(Some(("d", &routing)), |_| true),
            Some(Version::new("d", "1"))
        );
        // A queue without the pinned version (an activity queue of another deployment).
        assert_eq!(
            pinned.resolve(Some(("d", &routing)), |_| false),
            Some(Version::new("d", "2"))
        );
    }

    #[test]
    fn ramps_take_a_stable_share_of_ids() {
        assert!(!ramps("any", 0.0));
        assert!(ramps("any", 100.0));
        let taken = (0..1000)
            .filter(|i| ramps(&format!("wf-{i}"), 30.0))
            .count();
        assert!((200..400).contains(&taken), "{taken} of 1000 at 30%");
        assert_eq!(ramps("wf-7", 30.0), ramps("wf-7", 30.0));
        let routing = Routing {
            current: Some("1".into()),
            ramping: Some(("2".into(), 100.0)),
        };
        assert_eq!(
            route("w", None).resolve(Some(("d", &routing)), |_| true),
            Some(Version::new("d", "2"))
        );
        // A run that asks for the ramping version gets it even at 0 %.
        let at_zero = Routing {
            current: Some("1".into()),
            ramping: Some(("2".into(), 0.0)),
        };
        let mut asks = route("w", None);
        assert_eq!(
            asks.resolve(Some(("d", &at_zero)), |_| true),
            Some(Version::new("d", "1"))
        );
        asks.use_ramping = true;
        assert_eq!(
            asks.resolve(Some(("d", &at_zero)), |_| true),
            Some(Version::new("d", "2"))
        );
        let none_ramps = Routing {
            current: Some("1".into()),
            ramping: None,
        };
        assert_eq!(
            asks.resolve(Some(("d", &none_ramps)), |_| true),
            Some(Version::new("d", "1"))
        );
    }
}
