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

/// Epoch milliseconds of an RFC 3339 timestamp such as `2024-05-01T10:00:00.5+02:00`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut at = 19;
    let mut millis = 0;
    if b[at] == b'.' {
        let start = at + 1;
        at = start;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        if at == start {
            return None;
        }
        let frac = text.get(start..at.min(start + 3))?;
        millis = format!("{frac:0<3}").parse::<i64>().ok()?;
    }
    let offset_minutes = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() && b[at + 3] == b':' => {
            let minutes = digits(at + 1..at + 3)? * 60 + digits(at + 4..at + 6)?;
            if *sign == b'+' { minutes } else { -minutes }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1000 + millis)
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

    #[test]
    fn parses_rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:00.25+02:00"),
            Some(1_709_202_600_250)
        );
        assert_eq!(parse_rfc3339("2024-02-29"), None);
    }
}
