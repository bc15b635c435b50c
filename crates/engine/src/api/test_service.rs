//! `temporal.api.testservice.v1.TestService`: the time-skipping test server's API, with the
//! Java test server's semantics. Locks are counted; an unlock without a lock fails with
//! `UNKNOWN`, the status the Java server's unhandled "Unbalanced lock and unlock calls"
//! gives; a missing or negative duration is `INVALID_ARGUMENT`; `SleepUntil` a time already
//! passed returns at once (as the proto documents).

use prost_wkt_types::{Duration, Timestamp};
use temporalio_protos::temporal::api::testservice::v1::{
    GetCurrentTimeResponse, LockTimeSkippingRequest, LockTimeSkippingResponse, SleepRequest,
    SleepResponse, SleepUntilRequest, UnlockTimeSkippingRequest, UnlockTimeSkippingResponse,
};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use super::{Rpc, Service, ok};
use crate::{
    generated::testservice::test_service_server::TestService,
    runtime::{ClockError, EngineRuntime},
    time::{timestamp, timestamp_ms},
};

impl From<ClockError> for Status {
    fn from(error: ClockError) -> Self {
        match error {
            ClockError::Unbalanced => Status::unknown(error.to_string()),
        }
    }
}

/// Milliseconds of a request's duration: present and not negative.
fn sleep_ms(rpc: &str, duration: Option<&Duration>) -> Result<i64, Status> {
    let Some(d) = duration else {
        return Err(Status::invalid_argument(format!(
            "{rpc}: SleepRequest.duration is required: give how long to sleep (0 or more)"
        )));
    };
    if d.seconds < 0 || d.nanos < 0 {
        return Err(Status::invalid_argument(format!(
            "{rpc}: SleepRequest.duration is negative ({}s {}ns): give a duration of 0 or more",
            d.seconds, d.nanos
        )));
    }
    Ok(d.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(d.nanos / 1_000_000))
        // Keeps now + duration far from overflowing, as the Temporal server's Go durations do.
        .min(i64::MAX / 1_000_000))
}

/// Waits for a sleeper to wake, or the engine to stop.
async fn wait(runtime: &EngineRuntime, woken: oneshot::Receiver<()>) -> Rpc<SleepResponse> {
    tokio::select! {
        result = woken => match result {
            Ok(()) => ok(SleepResponse::default()),
            Err(_) => Err(Status::unavailable("the engine's clock stopped")),
        },
        () = runtime.shutting_down() => Err(Status::unavailable("the engine is shutting down")),
    }
}

#[tonic::async_trait]
impl TestService for Service {
    async fn lock_time_skipping(
        &self,
        _: Request<LockTimeSkippingRequest>,
    ) -> Rpc<LockTimeSkippingResponse> {
        self.runtime.clock.lock_skipping();
        ok(LockTimeSkippingResponse::default())
    }

    async fn unlock_time_skipping(
        &self,
        _: Request<UnlockTimeSkippingRequest>,
    ) -> Rpc<UnlockTimeSkippingResponse> {
        self.runtime.clock.unlock_skipping()?;
        ok(UnlockTimeSkippingResponse::default())
    }

    async fn sleep(&self, request: Request<SleepRequest>) -> Rpc<SleepResponse> {
        let ms = sleep_ms("Sleep", request.get_ref().duration.as_ref())?;
        let clock = &self.runtime.clock;
        let woken = clock.sleep_until(clock.now_ms().saturating_add(ms), false)?;
        wait(&self.runtime, woken).await
    }

    async fn sleep_until(&self, request: Request<SleepUntilRequest>) -> Rpc<SleepResponse> {
        let Some(at) = request.get_ref().timestamp.as_ref() else {
            return Err(Status::invalid_argument(
                "SleepUntil: SleepUntilRequest.timestamp is required: give the time to sleep until",
            ));
        };
        let at_ms = timestamp_ms(at);
        let clock = &self.runtime.clock;
        if at_ms <= clock.now_ms() {
            return ok(SleepResponse::default());
        }
        let woken = clock.sleep_until(at_ms, false)?;
        wait(&self.runtime, woken).await
    }

    async fn unlock_time_skipping_with_sleep(
        &self,
        request: Request<SleepRequest>,
    ) -> Rpc<SleepResponse> {
        let ms = sleep_ms(
            "UnlockTimeSkippingWithSleep",
            request.get_ref().duration.as_ref(),
        )?;
        let clock = &self.runtime.clock;
        let woken = clock.sleep_until(clock.now_ms().saturating_add(ms), true)?;
        wait(&self.runtime, woken).await
    }

    async fn get_current_time(&self, _: Request<()>) -> Rpc<GetCurrentTimeResponse> {
        let time: Timestamp = timestamp(self.runtime.clock.now_ms());
        Ok(Response::new(GetCurrentTimeResponse { time: Some(time) }))
    }
}
