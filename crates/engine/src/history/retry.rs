//! Server-side retry policy for activities: defaults, backoff and when to stop.

use temporalio_protos::temporal::api::{
    common::v1::RetryPolicy,
    enums::v1::RetryState,
    failure::v1::{Failure, failure::FailureInfo},
};

use crate::time::{duration, duration_ms};

const DEFAULT_INITIAL_INTERVAL_MS: i64 = 1000;
const DEFAULT_COEFFICIENT: f64 = 2.0;
const DEFAULT_MAX_INTERVAL_FACTOR: i64 = 100;

/// `policy` with Temporal's defaults filled in: initial interval 1 s, coefficient 2,
/// maximum interval 100x the initial one, unlimited attempts.
pub(crate) fn with_defaults(policy: Option<RetryPolicy>) -> RetryPolicy {
    let mut policy = policy.unwrap_or_default();
    let initial =
        duration_ms(policy.initial_interval.as_ref()).unwrap_or(DEFAULT_INITIAL_INTERVAL_MS);
    policy.initial_interval = Some(duration(initial));
    if policy.backoff_coefficient < 1.0 {
        policy.backoff_coefficient = DEFAULT_COEFFICIENT;
    }
    if duration_ms(policy.maximum_interval.as_ref()).is_none() {
        policy.maximum_interval = Some(duration(
            initial.saturating_mul(DEFAULT_MAX_INTERVAL_FACTOR),
        ));
    }
    policy
}

/// Whether and when to run another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Retry after this many milliseconds.
    Retry(i64),
    /// Give up, for this reason.
    Stop(RetryState),
}

/// Decides after attempt `attempt` failed with `failure` (`None`: a timeout). `deadline_ms`
/// is the schedule-to-close deadline, if any.
pub(crate) fn decide(
    policy: &RetryPolicy,
    attempt: i32,
    failure: Option<&Failure>,
    now_ms: i64,
    deadline_ms: Option<i64>,
) -> Decision {
    let mut explicit_delay = None;
    // A server failure marked non-retryable (an oversized result) stops, as on the real
    // server.
    if let Some(FailureInfo::ServerFailureInfo(info)) =
        failure.and_then(|f| f.failure_info.as_ref())
        && info.non_retryable
    {
        return Decision::Stop(RetryState::NonRetryableFailure);
    }
    if let Some(FailureInfo::ApplicationFailureInfo(info)) =
        failure.and_then(|f| f.failure_info.as_ref())
    {
        if info.non_retryable || policy.non_retryable_error_types.contains(&info.r#type) {
            return Decision::Stop(RetryState::NonRetryableFailure);
        }
        explicit_delay = duration_ms(info.next_retry_delay.as_ref());
    }
    if policy.maximum_attempts > 0 && attempt >= policy.maximum_attempts {
        return Decision::Stop(RetryState::MaximumAttemptsReached);
    }
    let backoff = explicit_delay.unwrap_or_else(|| backoff_ms(policy, attempt));
    if deadline_ms.is_some_and(|deadline| now_ms + backoff >= deadline) {
        return Decision::Stop(RetryState::Timeout);
    }
    Decision::Retry(backoff)
}

/// initial * coefficient^(attempt - 1), capped at the maximum interval.
fn backoff_ms(policy: &RetryPolicy, attempt: i32) -> i64 {
    let initial =
        duration_ms(policy.initial_interval.as_ref()).unwrap_or(DEFAULT_INITIAL_INTERVAL_MS);
    let max = duration_ms(policy.maximum_interval.as_ref()).unwrap_or(i64::MAX);
    let exponent = attempt.saturating_sub(1).clamp(0, 64);
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let raw = (initial as f64) * policy.backoff_coefficient.powi(exponent);
    #[allow(clippy::cast_possible_truncation)]
    let raw_ms = if raw.is_finite() && raw < i64::MAX as f64 {
        raw as i64
    } else {
        i64::MAX
    };
    raw_ms.min(max)
}

#[cfg(test)]
mod tests {
    use temporalio_protos::temporal::api::failure::v1::ApplicationFailureInfo;

    use super::*;

    fn app_failure(kind: &str, non_retryable: bool) -> Failure {
        Failure {
            message: "boom".into(),
            failure_info: Some(FailureInfo::ApplicationFailureInfo(
                ApplicationFailureInfo {
                    r#type: kind.into(),
                    non_retryable,
                    ..Default::default()
                },
            )),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_back_off_exponentially_and_cap() {
        let policy = with_defaults(None);
        assert_eq!(decide(&policy, 1, None, 0, None), Decision::Retry(1000));
        assert_eq!(decide(&policy, 2, None, 0, None), Decision::Retry(2000));
        assert_eq!(decide(&policy, 3, None, 0, None), Decision::Retry(4000));
        assert_eq!(decide(&policy, 30, None, 0, None), Decision::Retry(100_000));
    }

    #[test]
    fn stops_on_attempts_non_retryable_and_deadline() {
        let mut policy = with_defaults(None);
        policy.maximum_attempts = 2;
        policy.non_retryable_error_types = vec!["Fatal".into()];
        assert_eq!(
            decide(&policy, 2, None, 0, None),
            Decision::Stop(RetryState::MaximumAttemptsReached)
        );
        assert_eq!(
            decide(&policy, 1, Some(&app_failure("Fatal", false)), 0, None),
            Decision::Stop(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            decide(&policy, 1, Some(&app_failure("Other", true)), 0, None),
            Decision::Stop(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            decide(&policy, 1, None, 0, Some(500)),
            Decision::Stop(RetryState::Timeout)
        );
    }
}
