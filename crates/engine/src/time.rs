//! Wall-clock time in milliseconds and conversions to and from protobuf timestamps and
//! durations. Durable deadlines are stored as epoch milliseconds so they survive restarts.

use std::time::{SystemTime, UNIX_EPOCH};

use prost_wkt_types::{Duration, Timestamp};

/// Wall-clock milliseconds since the Unix epoch. The engine's own time is
/// `runtime::Clock::now_ms`, which is this plus the time skipped.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A protobuf timestamp for epoch milliseconds.
pub(crate) fn timestamp(ms: i64) -> Timestamp {
    Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// Epoch milliseconds of a protobuf timestamp (the inverse of [`timestamp`]).
pub(crate) fn timestamp_ms(t: &Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos / 1_000_000))
}

/// A protobuf duration of `ms` milliseconds.
pub(crate) fn duration(ms: i64) -> Duration {
    Duration {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// The longest duration there is: Go's `time.Duration` (int64 nanoseconds), to which the
/// Temporal server saturates longer ones. Capping here keeps every deadline (now plus a
/// duration from a request) far from overflowing.
const MAX_DURATION_MS: i64 = i64::MAX / 1_000_000;

/// Milliseconds of an optional duration; `None` when absent or not positive (the protocol's
/// "unset"), at most [`MAX_DURATION_MS`].
pub(crate) fn duration_ms(d: Option<&Duration>) -> Option<i64> {
    let d = d?;
    let ms = d
        .seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(d.nanos / 1_000_000));
    (ms > 0).then_some(ms.min(MAX_DURATION_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let ts = timestamp(1_700_000_000_123);
        assert_eq!((ts.seconds, ts.nanos), (1_700_000_000, 123_000_000));
        assert_eq!(timestamp_ms(&ts), 1_700_000_000_123);
        assert_eq!(duration_ms(Some(&duration(1500))), Some(1500));
        assert_eq!(duration_ms(Some(&duration(0))), None);
        assert_eq!(duration_ms(None), None);
        let forever = Duration {
            seconds: i64::MAX,
            nanos: 999_999_999,
        };
        assert_eq!(duration_ms(Some(&forever)), Some(MAX_DURATION_MS));
    }
}
