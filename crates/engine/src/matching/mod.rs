//! Task queues and long polls.
//!
//! Each (namespace, queue name, kind) has a backlog of tasks and a line of waiting pollers.
//! A new task goes to exactly one waiting poller (the longest waiting whose deployment
//! version the task resolves to) or, if there is none, to the backlog. A poller that gives
//! up (deadline, disconnect, shutdown) puts back a task that reached it in the meantime, so
//! no task is lost between hand-off and use.
//!
//! Worker versioning: every task carries its run's [`Route`], resolved against the
//! deployments registry each time it is matched, so a routing change applies to tasks
//! already waiting ([`Matching::reroute`]). Lock order: queues, then deployments.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::{sync::oneshot, time::Instant};

pub(crate) mod deployments;
mod task;

pub(crate) use deployments::{Deployments, Route, Version};
pub(crate) use task::{QueueKind, Task};

/// Names one task queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueueKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) kind: QueueKind,
}

/// Who polls: the deployment version of a versioned worker (`None` for an unversioned
/// one), and whether it polls its own sticky queue (which takes every task sent there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Worker {
    pub(crate) version: Option<Version>,
    pub(crate) sticky: bool,
}

type Routed = (Task, Route);

#[derive(Debug)]
struct Waiting {
    worker: Worker,
    tx: oneshot::Sender<Routed>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Highest priority first (key 1 before 5), first come first within a priority.
    backlog: VecDeque<Routed>,
    pollers: VecDeque<Waiting>,
}

impl Queue {
    /// Queues `routed` behind the tasks of its priority and above, or, for a task handed
    /// back, ahead of those of its priority.
    fn enqueue(&mut self, routed: Routed, front: bool) {
        let key = routed.1.priority_key();
        let at = if front {
            self.backlog
                .iter()
                .position(|(_, r)| r.priority_key() >= key)
        } else {
            self.backlog
                .iter()
                .position(|(_, r)| r.priority_key() > key)
        };
        match at {
            Some(at) => self.backlog.insert(at, routed),
            None => self.backlog.push_back(routed),
        }
    }
}

/// All task queues of the engine, and the deployments that route between their pollers.
#[derive(Debug, Default)]
pub(crate) struct Matching {
    queues: Mutex<HashMap<QueueKey, Queue>>,
    deployments: Mutex<Deployments>,
    /// The version of the worker behind each sticky queue, from its polls.
    sticky_versions: Mutex<HashMap<(String, String), Option<Version>>>,
}

/// The version `route` resolves to on `key`'s queue.
fn target(
    deployments: &Deployments,
    namespace: &str,
    queue: &str,
    route: &Route,
) -> Option<Version> {
    route.resolve(deployments.routing(namespace, queue), |v| {
        deployments.queue_has(namespace, queue, v)
    })
}

impl Matching {
    /// The deployments registry. Never hold it while calling into the queues.
    pub(crate) fn deployments(&self) -> MutexGuard<'_, Deployments> {
        self.deployments.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands `task` to a waiting poller of the version its route resolves to, or queues it.
    pub(crate) fn push(&self, key: QueueKey, task: Task, route: Route) {
        self.offer(key, (task, route), false);
    }

    fn offer(&self, mut key: QueueKey, (mut task, mut route): Routed, front: bool) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let deployments = self.deployments();
        if let Some(normal) = route.normal_queue.clone() {
            // A sticky task whose worker is not of the version the run now goes to (an
            // auto-upgrade run after a new current version) goes to the normal queue.
            let goes_to = target(&deployments, &key.namespace, &normal, &route);
            let sticky = self
                .sticky_versions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let worker = sticky.get(&(key.namespace.clone(), key.name.clone()));
            if worker.is_some_and(|w| *w != goes_to) {
                key.name = normal;
                route.normal_queue = None;
            }
        }
        let goes_to = target(&deployments, &key.namespace, &key.name, &route);
        let queue = queues.entry(key).or_default();
        while let Some(at) = queue
            .pollers
            .iter()
            .position(|p| p.worker.sticky || p.worker.version == goes_to)
        {
            let Some(poller) = queue.pollers.remove(at) else {
                break;
            };
            match poller.tx.send((task, route)) {
                Ok(()) => return,
                Err(returned) => (task, route) = returned,
            }
        }
        queue.enqueue((task, route), front);
    }

    /// After a routing change of the deployment of `queues`: hands their waiting tasks to
    /// waiting pollers of the versions they now resolve to.
    pub(crate) fn reroute(&self, namespace: &str, queues_of_deployment: &[String]) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let deployments = self.deployments();
        for (key, queue) in queues.iter_mut() {
            if key.namespace != namespace || !queues_of_deployment.contains(&key.name) {
                continue;
            }
            let backlog = std::mem::take(&mut queue.backlog);
            for (task, route) in backlog {
                let goes_to = target(&deployments, namespace, &key.name, &route);
                let mut routed = Some((task, route));
                while let Some(at) = queue
                    .pollers
                    .iter()
                    .position(|p| p.worker.version == goes_to)
                {
                    let (Some(poller), Some(r)) = (queue.pollers.remove(at), routed.take()) else {
                        break;
                    };
                    match poller.tx.send(r) {
                        Ok(()) => break,
                        Err(returned) => routed = Some(returned),
                    }
                }
                if let Some(r) = routed {
                    queue.enqueue(r, false);
                }
            }
        }
    }

    /// Waits until a task for `worker` arrives on `key`, `deadline` passes or `cancel`
    /// resolves.
    pub(crate) async fn poll(
        self: &Arc<Self>,
        key: &QueueKey,
        worker: &Worker,
        deadline: Instant,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Option<Task> {
        if worker.sticky {
            self.sticky_versions
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(
                    (key.namespace.clone(), key.name.clone()),
                    worker.version.clone(),
                );
        }
        let rx = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let deployments = self.deployments();
            let queue = queues.entry(key.clone()).or_default();
            let mine = queue.backlog.iter().position(|(_, route)| {
                worker.sticky
                    || target(&deployments, &key.namespace, &key.name, route) == worker.version
            });
            if let Some((task, _)) = mine.and_then(|at| queue.backlog.remove(at)) {
                return Some(task);
            }
            queue.pollers.retain(|p| !p.tx.is_closed());
            let (tx, rx) = oneshot::channel();
            queue.pollers.push_back(Waiting {
                worker: worker.clone(),
                tx,
            });
            rx
        };
        let mut waiter = Waiter {
            rx: Some(rx),
            matching: Arc::clone(self),
            key: key.clone(),
        };
        let rx = waiter.rx.as_mut()?;
        tokio::select! {
            task = rx => {
                waiter.rx = None;
                task.ok().map(|(task, _)| task)
            }
            () = tokio::time::sleep_until(deadline) => None,
            () = cancel => None,
        }
    }

    /// How many tasks wait on `key` per priority key.
    pub(crate) fn backlog_by_priority(&self, key: &QueueKey) -> BTreeMap<i32, usize> {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let mut counts = BTreeMap::new();
        for (_, route) in queues.get(key).map(|q| &q.backlog).into_iter().flatten() {
            *counts.entry(route.priority_key()).or_default() += 1;
        }
        counts
    }

    /// How many tasks wait on `key` (a hint for pollers).
    pub(crate) fn backlog(&self, key: &QueueKey) -> usize {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.get(key).map_or(0, |q| q.backlog.len())
    }
}

/// A registered poller; on drop, returns a task that reached it too late.
struct Waiter {
    rx: Option<oneshot::Receiver<Routed>>,
    matching: Arc<Matching>,
    key: QueueKey,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(routed) = rx.try_recv() {
                self.matching.offer(self.key.clone(), routed, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key() -> QueueKey {
        QueueKey {
            namespace: "default".into(),
            name: "q".into(),
            kind: QueueKind::Workflow,
        }
    }

    fn task(n: i64) -> Task {
        Task::Workflow {
            run_id: "r".into(),
            scheduled_event_id: n,
        }
    }

    #[tokio::test]
    async fn backlog_then_waiting_poller() {
        let matching = Arc::new(Matching::default());
        matching.push(key(), task(1), Route::default());
        let soon = Instant::now() + Duration::from_millis(50);
        assert_eq!(
            matching
                .poll(&key(), &Worker::default(), soon, std::future::pending())
                .await,
            Some(task(1))
        );
        let waiting = {
            let matching = Arc::clone(&matching);
            tokio::spawn(async move {
                let later = Instant::now() + Duration::from_secs(5);
                matching
                    .poll(&key(), &Worker::default(), later, std::future::pending())
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        matching.push(key(), task(2), Route::default());
        assert_eq!(waiting.await.ok().flatten(), Some(task(2)));
    }

    #[tokio::test]
    async fn higher_priorities_go_first_and_each_priority_in_order() {
        let matching = Arc::new(Matching::default());
        let at = |priority| Route {
            priority,
            ..Route::default()
        };
        for (n, priority) in [(1, 5), (2, 0), (3, 1), (4, 5), (5, 1), (6, 3)] {
            matching.push(key(), task(n), at(priority));
        }
        assert_eq!(
            matching.backlog_by_priority(&key()),
            BTreeMap::from([(1, 2), (3, 2), (5, 2)])
        );
        let mut order = Vec::new();
        for _ in 0..6 {
            let soon = Instant::now() + Duration::from_millis(20);
            let polled = matching
                .poll(&key(), &Worker::default(), soon, std::future::pending())
                .await;
            order.extend(polled);
        }
        let expected: Vec<Task> = [3, 5, 2, 6, 1, 4].into_iter().map(task).collect();
        assert_eq!(
            order, expected,
            "1 before 3 (or none) before 5, first come first"
        );
    }

    #[tokio::test]
    async fn expired_poll_returns_nothing_and_loses_nothing() {
        let matching = Arc::new(Matching::default());
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            matching
                .poll(&key(), &Worker::default(), soon, std::future::pending())
                .await,
            None
        );
        matching.push(key(), task(3), Route::default());
        assert_eq!(matching.backlog(&key()), 1);
    }

    #[tokio::test]
    async fn tasks_wait_for_the_version_they_resolve_to() {
        let matching = Arc::new(Matching::default());
        let (v1, v2) = (Version::new("d", "1"), Version::new("d", "2"));
        for v in [&v1, &v2] {
            matching.deployments().register("default", v, "q", 1, 0);
        }
        let worker = |v: &Version| Worker {
            version: Some(v.clone()),
            sticky: false,
        };
        let soon = || Instant::now() + Duration::from_millis(20);
        // No current version yet: an unpinned task is for unversioned pollers only.
        matching.push(key(), task(1), Route::default());
        assert_eq!(
            matching
                .poll(&key(), &worker(&v1), soon(), std::future::pending())
                .await,
            None
        );
        // Waiting v2 poller gets it once v2 becomes current.
        let waiting = {
            let matching = Arc::clone(&matching);
            let w = worker(&v2);
            tokio::spawn(async move {
                let later = Instant::now() + Duration::from_secs(5);
                matching
                    .poll(&key(), &w, later, std::future::pending())
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let change = matching
            .deployments()
            .set_current("default", "d", Some("2"), &[], "me", 1)
            .expect("current");
        matching.reroute("default", &change.queues);
        assert_eq!(waiting.await.ok().flatten(), Some(task(1)));
        // A task pinned to v1 stays for v1 although v2 is current.
        let pinned = Route {
            workflow_id: "w".into(),
            pinned: Some(v1.clone()),
            ..Route::default()
        };
        matching.push(key(), task(2), pinned);
        assert_eq!(
            matching
                .poll(&key(), &worker(&v2), soon(), std::future::pending())
                .await,
            None
        );
        assert_eq!(
            matching
                .poll(&key(), &worker(&v1), soon(), std::future::pending())
                .await,
            Some(task(2))
        );
    }

    #[tokio::test]
    async fn a_sticky_task_for_another_version_goes_to_the_normal_queue() {
        let matching = Arc::new(Matching::default());
        let (v1, v2) = (Version::new("d", "1"), Version::new("d", "2"));
        for v in [&v1, &v2] {
            matching.deployments().register("default", v, "q", 1, 0);
        }
        matching
            .deployments()
            .set_current("default", "d", Some("2"), &[], "me", 1)
            .expect("current");
        let sticky_key = QueueKey {
            name: "sticky-1".into(),
            ..key()
        };
        let sticky_worker = Worker {
            version: Some(v1.clone()),
            sticky: true,
        };
        let soon = Instant::now() + Duration::from_millis(10);
        matching
            .poll(&sticky_key, &sticky_worker, soon, std::future::pending())
            .await;
        let route = Route {
            workflow_id: "w".into(),
            normal_queue: Some("q".into()),
            ..Route::default()
        };
        matching.push(sticky_key.clone(), task(3), route);
        assert_eq!(matching.backlog(&sticky_key), 0);
        assert_eq!(matching.backlog(&key()), 1);
    }
}
