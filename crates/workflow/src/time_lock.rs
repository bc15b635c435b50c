//! The client's side of a time-skipping server's lock (`TestService.LockTimeSkipping` /
#![cfg_attr(not(feature = "testing"), allow(dead_code))]
//! `UnlockTimeSkipping`): the test environment holds one lock, and releases it while a
//! caller waits for a workflow's result, so the server may skip time to the next timer.
//! Concurrent waits share one release (the first unlocks, the last locks again), as the Java
//! SDK's `IdempotentTimeLocker` and the Python SDK's time-skipping client do.

use std::future::Future;
use std::sync::Arc;

use temporalio_client::Client;
use temporalio_client::tonic::{IntoRequest, Status};
use temporalio_protos::temporal::api::testservice::v1::{
    LockTimeSkippingRequest, SleepRequest, UnlockTimeSkippingRequest,
};
use tokio::sync::Mutex;

/// The lock the test environment holds on the server's clock.
#[derive(Debug)]
pub(crate) struct TimeLock {
    client: Client,
    /// Callers waiting with the lock released.
    waiters: Mutex<usize>,
}

impl TimeLock {
    /// A lock already held (the server starts locked).
    pub(crate) fn new(client: Client) -> Arc<Self> {
        Arc::new(Self {
            client,
            waiters: Mutex::new(0),
        })
    }

    /// Runs `wait` with time skipping unlocked, then locks again.
    pub(crate) async fn unlocked<T>(self: &Arc<Self>, wait: impl Future<Output = T>) -> T {
        let guard = self.release().await;
        let value = wait.await;
        guard.finish().await;
        value
    }

    /// Sleeps `duration` of server time: skipped at once while nothing else runs.
    pub(crate) async fn sleep(&self, duration: std::time::Duration) -> Result<(), Status> {
        let request = SleepRequest {
            duration: Some(prost_duration(duration)),
        };
        let mut service = self.client.connection().test_service();
        let waiters = self.waiters.lock().await;
        if *waiters == 0 {
            // We hold the only lock of ours: release it for the sleep, take it back after.
            // The guard stays held so a result wait starting meanwhile queues behind it.
            service
                .unlock_time_skipping_with_sleep(request.into_request())
                .await?;
            drop(waiters);
        } else {
            drop(waiters);
            service.sleep(request.into_request()).await?;
        }
        Ok(())
    }

    async fn release(self: &Arc<Self>) -> Release {
        let mut waiters = self.waiters.lock().await;
        if *waiters == 0 {
            let mut service = self.client.connection().test_service();
            if let Err(status) = service
                .unlock_time_skipping(UnlockTimeSkippingRequest::default().into_request())
                .await
            {
                // The wait still runs, at wall pace; the lock count stays as it was.
                tracing::warn!(error = %status, "cannot unlock time skipping");
                return Release {
                    lock: None,
                    finished: true,
                };
            }
        }
        *waiters += 1;
        Release {
            lock: Some(Arc::clone(self)),
            finished: false,
        }
    }

    async fn relock(&self) {
        let mut waiters = self.waiters.lock().await;
        *waiters = waiters.saturating_sub(1);
        if *waiters == 0 {
            let mut service = self.client.connection().test_service();
            if let Err(status) = service
                .lock_time_skipping(LockTimeSkippingRequest::default().into_request())
                .await
            {
                tracing::warn!(error = %status, "cannot lock time skipping again");
            }
        }
    }
}

/// A released lock; taken back by [`Release::finish`], or in the background when a wait is
/// dropped half-way.
struct Release {
    lock: Option<Arc<TimeLock>>,
    finished: bool,
}

impl Release {
    async fn finish(mut self) {
        self.finished = true;
        if let Some(lock) = self.lock.take() {
            lock.relock().await;
        }
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        if let (Some(lock), Ok(runtime)) = (self.lock.take(), tokio::runtime::Handle::try_current())
        {
            runtime.spawn(async move { lock.relock().await });
        }
    }
}

fn prost_duration(duration: std::time::Duration) -> prost_wkt_types::Duration {
    prost_wkt_types::Duration {
        seconds: i64::try_from(duration.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(duration.subsec_nanos()).unwrap_or(0),
    }
}
