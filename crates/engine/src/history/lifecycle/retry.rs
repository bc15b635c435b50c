//! Server-side retry policies, for activities and workflows: defaults, validation, backoff
//! and when to stop.

use temporalio_protos::temporal::api::{
    common::v1::RetryPolicy,
    enums::v1::RetryState,
    enums::v1::TimeoutType,
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

/// A workflow's retry policy as the real server keeps it: unset fields get the defaults
/// (initial interval 1 s, coefficient 2, maximum interval 100x the initial one), then the
/// policy is checked, with the real server's messages.
pub(crate) fn workflow_policy(mut policy: RetryPolicy) -> Result<RetryPolicy, String> {
    let initial = duration_ms(policy.initial_interval.as_ref())
        .filter(|ms| *ms > 0)
        .unwrap_or(DEFAULT_INITIAL_INTERVAL_MS);
    policy.initial_interval = Some(duration(initial));
    if duration_ms(policy.maximum_interval.as_ref()).is_none_or(|ms| ms == 0) {
        policy.maximum_interval = Some(duration(
            initial.saturating_mul(DEFAULT_MAX_INTERVAL_FACTOR),
        ));
    }
    if policy.backoff_coefficient == 0.0 {
        policy.backoff_coefficient = DEFAULT_COEFFICIENT;
    }
    if policy.maximum_attempts == 1 {
        // One attempt disables retries: the rest does not matter.
        return Ok(policy);
    }
    if policy.backoff_coefficient < 1.0 {
        return Err("BackoffCoefficient cannot be less than 1 on retry policy.".to_owned());
    }
    if duration_ms(policy.maximum_interval.as_ref()).unwrap_or(0) < initial {
        return Err(
            "MaximumInterval cannot be less than InitialInterval on retry policy.".to_owned(),
        );
    }
    if policy.maximum_attempts < 0 {
        return Err("MaximumAttempts cannot be negative on retry policy.".to_owned());
    }
    Ok(policy)
}

/// Whether `failure` allows another attempt, as the real server decides it: cancellations,
/// terminations and timeouts other than start-to-close and heartbeat never retry; an
/// application failure does unless marked non-retryable or of a non-retryable type.
pub(crate) fn is_retryable(failure: &Failure, non_retryable_types: &[String]) -> bool {
    match failure.failure_info.as_ref() {
        Some(FailureInfo::TerminatedFailureInfo(_) | FailureInfo::CanceledFailureInfo(_)) => false,
        Some(FailureInfo::TimeoutFailureInfo(info)) => {
            let kind = TimeoutType::try_from(info.timeout_type).unwrap_or(TimeoutType::Unspecified);
            let name = match kind {
                TimeoutType::StartToClose => "StartToClose",
                TimeoutType::Heartbeat => "Heartbeat",
                _ => return false,
            };
            !non_retryable_types.contains(&format!("TemporalTimeout:{name}"))
        }
        Some(FailureInfo::ServerFailureInfo(info)) => !info.non_retryable,
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            !info.non_retryable && !non_retryable_types.contains(&info.r#type)
        }
        _ => true,
    }
}

/// Decides after a workflow's attempt `attempt` failed with `failure` (a timeout is a
/// start-to-close timeout failure), as the real server does: `expiration_ms` is the end of
/// the workflow execution timeout, across the chain; a delay the failure asks for is still
/// capped at the maximum interval.
pub(crate) fn decide_workflow(
    policy: &RetryPolicy,
    attempt: i32,
    failure: &Failure,
    now_ms: i64,
    expiration_ms: Option<i64>,
) -> Decision {
    if !is_retryable(failure, &policy.non_retryable_error_types) {
        return Decision::Stop(RetryState::NonRetryableFailure);
    }
    if policy.maximum_attempts > 0 && attempt.max(1) >= policy.maximum_attempts {
        return Decision::Stop(RetryState::MaximumAttemptsReached);
    }
    let explicit = match failure.failure_info.as_ref() {
        Some(FailureInfo::ApplicationFailureInfo(info)) => {
            duration_ms(info.next_retry_delay.as_ref())
        }
        _ => None,
    };
    let mut interval = explicit.unwrap_or_else(|| backoff_ms(policy, attempt.max(1)));
    let max = duration_ms(policy.maximum_interval.as_ref()).unwrap_or(0);
    if max == 0 && interval <= 0 {
        return Decision::Stop(RetryState::Timeout);
    }
    if max != 0 && (interval <= 0 || interval > max) {
        interval = max;
    }
    if expiration_ms.is_some_and(|end| now_ms.saturating_add(interval) > end) {
        return Decision::Stop(RetryState::Timeout);
    }
    Decision::Retry(interval)
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
    fn a_workflow_policy_gets_defaults_and_is_checked() {
        let policy = workflow_policy(RetryPolicy::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(duration_ms(policy.initial_interval.as_ref()), Some(1000));
        assert_eq!(duration_ms(policy.maximum_interval.as_ref()), Some(100_000));
        assert!((policy.backoff_coefficient - 2.0).abs() < f64::EPSILON);
        let refused = |policy: RetryPolicy| workflow_policy(policy).err().unwrap_or_default();
        assert!(
            refused(RetryPolicy {
                backoff_coefficient: 0.5,
                ..Default::default()
            })
            .starts_with("BackoffCoefficient")
        );
        assert!(
            refused(RetryPolicy {
                maximum_attempts: -1,
                ..Default::default()
            })
            .starts_with("MaximumAttempts")
        );
        assert!(
            refused(RetryPolicy {
                initial_interval: Some(duration(5000)),
                maximum_interval: Some(duration(1000)),
                ..Default::default()
            })
            .starts_with("MaximumInterval")
        );
    }

    #[test]
    fn a_workflow_retries_until_attempts_types_or_expiration_stop_it() {
        let mut policy = workflow_policy(RetryPolicy {
            initial_interval: Some(duration(1000)),
            maximum_interval: Some(duration(3000)),
            maximum_attempts: 4,
            non_retryable_error_types: vec!["Fatal".into()],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let boom = app_failure("Other", false);
        assert_eq!(
            decide_workflow(&policy, 1, &boom, 0, None),
            Decision::Retry(1000)
        );
        assert_eq!(
            decide_workflow(&policy, 3, &boom, 0, None),
            Decision::Retry(3000)
        );
        assert_eq!(
            decide_workflow(&policy, 4, &boom, 0, None),
            Decision::Stop(RetryState::MaximumAttemptsReached)
        );
        assert_eq!(
            decide_workflow(&policy, 1, &app_failure("Fatal", false), 0, None),
            Decision::Stop(RetryState::NonRetryableFailure)
        );
        assert_eq!(
            decide_workflow(&policy, 1, &boom, 0, Some(999)),
            Decision::Stop(RetryState::Timeout)
        );
        policy.maximum_attempts = 0;
        let canceled = Failure {
            failure_info: Some(FailureInfo::CanceledFailureInfo(Default::default())),
            ..Default::default()
        };
        assert_eq!(
            decide_workflow(&policy, 1, &canceled, 0, None),
            Decision::Stop(RetryState::NonRetryableFailure)
        );
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
