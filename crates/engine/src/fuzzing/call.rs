//! Calling the engine from the harness: a caller that waits briefly (foreground) or up to
//! a timeout (background), and the per-thread runtime the harness blocks on.

use std::{future::Future, task::Poll};

use super::{BRIEF_POLLS, CALL_TIMEOUT};
use crate::api::Service;

pub(super) type Work = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

pub(super) async fn bounded_unit(work: Work) {
    let _ = tokio::time::timeout(CALL_TIMEOUT, work).await;
}

/// The engine's service, and how long its caller waits for an answer.
#[derive(Clone)]
pub(super) struct Caller {
    pub(super) service: Service,
    /// Background callers wait (up to [`CALL_TIMEOUT`]); foreground ones give up as soon as
    /// a call waits on anything but the engine itself.
    pub(super) patient: bool,
}

impl Caller {
    /// The response of a call that finished in time, `None` for a status or a timeout.
    pub(super) async fn call<T>(
        &self,
        call: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Option<T> {
        let answer = if self.patient {
            tokio::time::timeout(CALL_TIMEOUT, call).await.ok()
        } else {
            brief(call).await
        };
        answer.and_then(Result::ok).map(tonic::Response::into_inner)
    }
}

/// Polls `call` until it finishes or stays pending across a few yields (it waits on a long
/// poll, a query or an update), then drops it, as a client that gives up would. Unlike a
/// timeout this takes no wall-clock time, so runs are fast and repeatable.
async fn brief<F: Future>(call: F) -> Option<F::Output> {
    let mut call = std::pin::pin!(call);
    for _ in 0..BRIEF_POLLS {
        let polled = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
        if let Poll::Ready(output) = polled {
            return Some(output);
        }
        tokio::task::yield_now().await;
    }
    None
}

pub(super) fn rethrow<T>(joined: Result<T, tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

thread_local! {
    /// One single-threaded runtime per thread, reused across inputs.
    static TOKIO: tokio::runtime::Runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => panic!("cannot build a tokio runtime for fuzzing: {e}"),
    };
}

pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    TOKIO.with(|rt| rt.block_on(future))
}
