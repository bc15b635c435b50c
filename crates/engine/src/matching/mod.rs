//! Task queues and long polls.
//!
//! Each (namespace, queue name, kind) has a backlog of tasks and a line of waiting pollers.
//! A new task goes to exactly one waiting poller (the longest waiting) or, if there is
//! none, to the backlog. A poller that gives up (deadline, disconnect, shutdown) puts back
//! a task that reached it in the meantime, so no task is lost between hand-off and use.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::{sync::oneshot, time::Instant};

use crate::history::{QueueKind, Task};

/// Names one task queue.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct QueueKey {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) kind: QueueKind,
}

#[derive(Debug, Default)]
struct Queue {
    backlog: VecDeque<Task>,
    pollers: VecDeque<oneshot::Sender<Task>>,
}

/// All task queues of the engine.
#[derive(Debug, Default)]
pub(crate) struct Matching {
    queues: Mutex<HashMap<QueueKey, Queue>>,
}

impl Matching {
    /// Hands `task` to a waiting poller, or queues it.
    pub(crate) fn push(&self, key: QueueKey, task: Task) {
        self.offer(key, task, false);
    }

    fn offer(&self, key: QueueKey, mut task: Task, front: bool) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let queue = queues.entry(key).or_default();
        while let Some(poller) = queue.pollers.pop_front() {
            match poller.send(task) {
                Ok(()) => return,
                Err(returned) => task = returned,
            }
        }
        if front {
            queue.backlog.push_front(task);
        } else {
            queue.backlog.push_back(task);
        }
    }

    /// Waits until a task arrives on `key`, `deadline` passes or `cancel` resolves.
    pub(crate) async fn poll(
        self: &Arc<Self>,
        key: &QueueKey,
        deadline: Instant,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Option<Task> {
        let rx = {
            let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            let queue = queues.entry(key.clone()).or_default();
            if let Some(task) = queue.backlog.pop_front() {
                return Some(task);
            }
            queue.pollers.retain(|p| !p.is_closed());
            let (tx, rx) = oneshot::channel();
            queue.pollers.push_back(tx);
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
                task.ok()
            }
            () = tokio::time::sleep_until(deadline) => None,
            () = cancel => None,
        }
    }

    /// How many tasks wait on `key` (a hint for pollers).
    pub(crate) fn backlog(&self, key: &QueueKey) -> usize {
        let queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        queues.get(key).map_or(0, |q| q.backlog.len())
    }
}

/// A registered poller; on drop, returns a task that reached it too late.
struct Waiter {
    rx: Option<oneshot::Receiver<Task>>,
    matching: Arc<Matching>,
    key: QueueKey,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        if let Some(mut rx) = self.rx.take() {
            rx.close();
            if let Ok(task) = rx.try_recv() {
                self.matching.offer(self.key.clone(), task, true);
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
        matching.push(key(), task(1));
        let soon = Instant::now() + Duration::from_millis(50);
        assert_eq!(
            matching.poll(&key(), soon, std::future::pending()).await,
            Some(task(1))
        );
        let waiting = {
            let matching = Arc::clone(&matching);
            tokio::spawn(async move {
                let later = Instant::now() + Duration::from_secs(5);
                matching.poll(&key(), later, std::future::pending()).await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        matching.push(key(), task(2));
        assert_eq!(waiting.await.ok().flatten(), Some(task(2)));
    }

    #[tokio::test]
    async fn expired_poll_returns_nothing_and_loses_nothing() {
        let matching = Arc::new(Matching::default());
        let soon = Instant::now() + Duration::from_millis(20);
        assert_eq!(
            matching.poll(&key(), soon, std::future::pending()).await,
            None
        );
        matching.push(key(), task(3));
        assert_eq!(matching.backlog(&key()), 1);
    }
}
