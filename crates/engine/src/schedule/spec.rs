//! A schedule's spec: canonicalised as the real server stores it (calendar strings and cron
//! strings become structured calendars with every default filled in), then compiled into
//! the times it matches, in its time zone, with jitter.

use jiff::{
    Timestamp,
    civil::{Date, DateTime},
    tz::TimeZone,
};
use temporalio_protos::temporal::api::schedule::v1::{
    IntervalSpec, Range, ScheduleSpec, StructuredCalendarSpec,
};

use super::calendar;
use crate::time::{duration, duration_ms, timestamp_ms};

/// Why a spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SpecError {
    #[error("invalid time zone name {0:?}: use an IANA name such as \"America/New_York\"")]
    TimeZone(String),
    #[error("invalid calendar spec: {0}")]
    Calendar(String),
    #[error("invalid cron string {cron:?}: {reason}")]
    Cron { cron: String, reason: String },
    #[error("invalid interval: {0}")]
    Interval(String),
    #[error("conflicting time zones in cron strings: {0:?} and {1:?}")]
    TimeZoneConflict(String, String),
}

/// `spec` as the real server keeps it: calendar and cron strings parsed into structured
/// calendars (and `@every` cron strings into intervals), every range with its end and step
/// filled in, the defaults of empty fields written out.
pub(crate) fn canonicalize(spec: &ScheduleSpec) -> Result<ScheduleSpec, SpecError> {
    let mut out = spec.clone();
    let mut structured: Vec<StructuredCalendarSpec> = Vec::new();
    for cal in &spec.structured_calendar {
        structured.push(normalize(cal));
    }
    for cal in &spec.calendar {
        structured.push(calendar::parse(cal).map_err(SpecError::Calendar)?);
    }
    for cron in &spec.cron_string {
        let parsed = calendar::parse_cron(cron).map_err(|reason| SpecError::Cron {
            cron: cron.clone(),
            reason,
        })?;
        if let Some(tz) = parsed.time_zone {
            if !out.timezone_name.is_empty() && out.timezone_name != tz {
                return Err(SpecError::TimeZoneConflict(out.timezone_name.clone(), tz));
            }
            out.timezone_name = tz;
        }
        structured.extend(parsed.calendar);
        out.interval.extend(parsed.interval);
    }
    let mut excluded: Vec<StructuredCalendarSpec> = spec
        .exclude_structured_calendar
        .iter()
        .map(normalize)
        .collect();
    #[allow(deprecated)]
    for cal in &spec.exclude_calendar {
        excluded.push(calendar::parse(cal).map_err(SpecError::Calendar)?);
    }
    out.structured_calendar = structured;
    out.calendar.clear();
    out.cron_string.clear();
    #[allow(deprecated)]
    out.exclude_calendar.clear();
    out.exclude_structured_calendar = excluded;
    for interval in &out.interval {
        let every = duration_ms(interval.interval.as_ref()).unwrap_or(0);
        if every <= 0 {
            return Err(SpecError::Interval("Interval is zero or negative".into()));
        }
        let phase = duration_ms(interval.phase.as_ref()).unwrap_or(0);
        if phase < 0 {
            return Err(SpecError::Interval("Phase is negative".into()));
        }
    }
    time_zone(&out.timezone_name)?;
    Ok(out)
}

/// A structured calendar with each range's end and step filled in and empty fields given
/// their defaults (second, minute, hour 0; any day of month, month, day of week; any year).
fn normalize(cal: &StructuredCalendarSpec) -> StructuredCalendarSpec {
    let fill = |ranges: &[Range], default: Range| -> Vec<Range> {
        if ranges.is_empty() {
            return vec![default];
        }
        ranges
            .iter()
            .map(|r| Range {
                start: r.start,
                end: r.end.max(r.start),
                step: r.step.max(1),
            })
            .collect()
    };
    let zero = Range {
        start: 0,
        end: 0,
        step: 1,
    };
    let span = |start, end| Range {
        start,
        end,
        step: 1,
    };
    StructuredCalendarSpec {
        second: fill(&cal.second, zero),
        minute: fill(&cal.minute, zero),
        hour: fill(&cal.hour, zero),
        day_of_month: fill(&cal.day_of_month, span(1, 31)),
        month: fill(&cal.month, span(1, 12)),
        year: cal
            .year
            .iter()
            .map(|r| Range {
                start: r.start,
                end: r.end.max(r.start),
                step: r.step.max(1),
            })
            .collect(),
        day_of_week: fill(&cal.day_of_week, span(0, 6)),
        comment: cal.comment.clone(),
    }
}

fn time_zone(name: &str) -> Result<TimeZone, SpecError> {
    if name.is_empty() || name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    TimeZone::get(name).map_err(|_| SpecError::TimeZone(name.to_owned()))
}

/// A calendar as bit sets, for matching.
#[derive(Debug, Clone)]
struct Matcher {
    seconds: u64,
    minutes: u64,
    hours: u32,
    /// Bit `d` for day of month `d` (1..=31).
    days: u32,
    /// Bit `m` for month `m` (1..=12).
    months: u16,
    /// Bit 0 is Sunday.
    weekdays: u8,
    /// Empty: any year.
    years: Vec<Range>,
}

fn bits(ranges: &[Range], max: i32) -> u64 {
    let mut set = 0u64;
    for r in ranges {
        let mut v = r.start.max(0);
        while v <= r.end.max(r.start).min(max) {
            set |= 1 << v;
            v += r.step.max(1);
        }
    }
    set
}

impl Matcher {
    fn new(cal: &StructuredCalendarSpec) -> Self {
        let weekdays = bits(&cal.day_of_week, 7);
        // 7 is Sunday too.
        let weekdays = (weekdays & 0x7f) | ((weekdays >> 7) & 1);
        Self {
            seconds: bits(&cal.second, 59),
            minutes: bits(&cal.minute, 59),
            hours: u32::try_from(bits(&cal.hour, 23)).unwrap_or(0),
            days: u32::try_from(bits(&cal.day_of_month, 31)).unwrap_or(0),
            months: u16::try_from(bits(&cal.month, 12)).unwrap_or(0),
            weekdays: u8::try_from(weekdays).unwrap_or(0),
            years: cal.year.clone(),
        }
    }

    fn year_matches(&self, year: i16) -> bool {
        let year = i32::from(year);
        self.years.is_empty()
            || self.years.iter().any(|r| {
                year >= r.start
                    && year <= r.end.max(r.start)
                    && (year - r.start) % r.step.max(1) == 0
            })
    }

    fn day_matches(&self, date: Date) -> bool {
        self.year_matches(date.year())
            && self.months & (1 << date.month()) != 0
            && self.days & (1 << date.day()) != 0
            && self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0
    }

    /// The first matching time strictly after `after_ms`, in `tz`.
    fn next(&self, tz: &TimeZone, after_ms: i64) -> Option<i64> {
        let after = Timestamp::from_millisecond(after_ms)
            .ok()?
            .to_zoned(tz.clone());
        let start = after.datetime();
        let mut date = start.date();
        // Days searched: a hundred years, enough for any calendar that matches at all.
        for _ in 0..36_600 {
            if !self.year_matches(date.year()) {
                date = Date::new(date.year().checked_add(1)?, 1, 1).ok()?;
                continue;
            }
            if self.months & (1 << date.month()) == 0 {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.day_matches(date)
                && let Some(found) = self.within_day(tz, date, start, after_ms)
            {
                return Some(found);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn within_day(&self, tz: &TimeZone, date: Date, start: DateTime, after_ms: i64) -> Option<i64> {
        let first_day = date == start.date();
        for hour in (0..24i8).filter(|h| self.hours & (1 << h) != 0) {
            if first_day && hour < start.hour() {
                continue;
            }
            for minute in (0..60i8).filter(|m| self.minutes & (1 << m) != 0) {
                if first_day && (hour, minute) < (start.hour(), start.minute()) {
                    continue;
                }
                for second in (0..60i8).filter(|s| self.seconds & (1 << s) != 0) {
                    let civil = date.at(hour, minute, second, 0);
                    let Ok(zoned) = tz.to_ambiguous_zoned(civil).compatible() else {
                        continue;
                    };
                    let ms = zoned.timestamp().as_millisecond();
                    if ms > after_ms {
                        return Some(ms);
                    }
                }
            }
        }
        None
    }
}

/// A canonical spec, ready to say which times it matches.
#[derive(Debug, Clone)]
pub(crate) struct CompiledSpec {
    calendars: Vec<Matcher>,
    excluded: Vec<Matcher>,
    /// (every, phase) in milliseconds.
    intervals: Vec<(i64, i64)>,
    tz: TimeZone,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    jitter_ms: i64,
}

/// One time the spec matches: when it is nominally due and when it actually fires
/// (later by the jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Due {
    pub(crate) nominal_ms: i64,
    pub(crate) actual_ms: i64,
}

impl CompiledSpec {
    /// Compiles a canonical spec (see [`canonicalize`]).
    pub(crate) fn new(spec: &ScheduleSpec) -> Result<Self, SpecError> {
        Ok(Self {
            calendars: spec.structured_calendar.iter().map(Matcher::new).collect(),
            excluded: spec
                .exclude_structured_calendar
                .iter()
                .map(Matcher::new)
                .collect(),
            intervals: spec
                .interval
                .iter()
                .map(|i: &IntervalSpec| {
                    (
                        duration_ms(i.interval.as_ref()).unwrap_or(0),
                        duration_ms(i.phase.as_ref()).unwrap_or(0),
                    )
                })
                .filter(|(every, _)| *every > 0)
                .collect(),
            tz: time_zone(&spec.timezone_name)?,
            start_ms: spec.start_time.as_ref().map(timestamp_ms),
            end_ms: spec.end_time.as_ref().map(timestamp_ms),
            jitter_ms: duration_ms(spec.jitter.as_ref()).unwrap_or(0).max(0),
        })
    }

    fn excluded(&self, ms: i64) -> bool {
        !self.excluded.is_empty()
            && self.excluded.iter().any(|m| {
                Timestamp::from_millisecond(ms).is_ok_and(|t| {
                    let local = t.to_zoned(self.tz.clone()).datetime();
                    m.day_matches(local.date())
                        && m.hours & (1 << local.hour()) != 0
                        && m.minutes & (1 << local.minute()) != 0
                        && m.seconds & (1 << local.second()) != 0
                })
            })
    }

    /// The first nominal time strictly after `after_ms`, within the start and end times.
    pub(crate) fn next_nominal(&self, after_ms: i64) -> Option<i64> {
        let mut after = match self.start_ms {
            Some(start) if after_ms < start => start - 1,
            _ => after_ms,
        };
        loop {
            let calendar = self
                .calendars
                .iter()
                .filter_map(|m| m.next(&self.tz, after));
            let interval = self.intervals.iter().map(|&(every, phase)| {
                let k = (after - phase).div_euclid(every);
                (k + 1) * every + phase
            });
            let next = calendar.chain(interval).min()?;
            if self.end_ms.is_some_and(|end| next > end) {
                return None;
            }
            if !self.excluded(next) {
                return Some(next);
            }
            after = next;
        }
    }

    /// The first time due strictly after `after_ms` (nominally), with its jitter: a
    /// deterministic share of the jitter, never reaching the following nominal time.
    pub(crate) fn next(&self, after_ms: i64) -> Option<Due> {
        let nominal_ms = self.next_nominal(after_ms)?;
        let mut cap = self.jitter_ms;
        if cap > 0
            && let Some(following) = self.next_nominal(nominal_ms)
        {
            cap = cap.min(following - nominal_ms);
        }
        let offset = if cap > 0 {
            i64::try_from(spread(nominal_ms) % u64::try_from(cap).unwrap_or(1)).unwrap_or(0)
        } else {
            0
        };
        Some(Due {
            nominal_ms,
            actual_ms: nominal_ms + offset,
        })
    }

    /// Times (actual, with jitter) of the nominal times after `start_ms` that fire by
    /// `end_ms`, at most `limit`: as the real server answers, a time whose jitter takes it
    /// past the end is left out. (Jitter stays below the next nominal time, so the times
    /// only grow.)
    pub(crate) fn matching(&self, start_ms: i64, end_ms: i64, limit: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let mut after = start_ms;
        while out.len() < limit {
            let Some(due) = self.next(after) else { break };
            if due.actual_ms > end_ms {
                break;
            }
            out.push(due.actual_ms);
            after = due.nominal_ms;
        }
        out
    }
}

/// A well-mixed hash of a time (splitmix64), so jitter looks random but is the same after
/// a restart.
fn spread(ms: i64) -> u64 {
    let mut z = u64::from_ne_bytes(ms.to_ne_bytes()).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An interval spec of `every` milliseconds (for tests and cron `@every`).
pub(super) fn interval(every_ms: i64, phase_ms: i64) -> IntervalSpec {
    IntervalSpec {
        interval: Some(duration(every_ms)),
        phase: (phase_ms > 0).then(|| duration(phase_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{parse_rfc3339, timestamp};

    fn at(text: &str) -> i64 {
        parse_rfc3339(text).unwrap_or_else(|| panic!("bad time {text}"))
    }

    fn compiled(spec: ScheduleSpec) -> CompiledSpec {
        let spec = canonicalize(&spec).unwrap_or_else(|e| panic!("{e}"));
        CompiledSpec::new(&spec).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn intervals_align_to_the_epoch_plus_phase() {
        let spec = compiled(ScheduleSpec {
            interval: vec![interval(2_000, 0), interval(3_600_000, 900_000)],
            ..Default::default()
        });
        assert_eq!(spec.next_nominal(1_001), Some(2_000));
        assert_eq!(spec.next_nominal(2_000), Some(4_000));
        let hourly = compiled(ScheduleSpec {
            interval: vec![interval(3_600_000, 900_000)],
            ..Default::default()
        });
        assert_eq!(
            hourly.next_nominal(at("2024-01-01T10:20:00Z")),
            Some(at("2024-01-01T11:15:00Z"))
        );
    }

    #[test]
    fn cron_in_a_time_zone_follows_daylight_saving() {
        let spec = compiled(ScheduleSpec {
            cron_string: vec!["CRON_TZ=America/New_York 30 9 * * MON-FRI".into()],
            ..Default::default()
        });
        // Friday 2024-03-08 09:30 EST is 14:30 UTC; the next is Monday 03-11, after the
        // switch to EDT: 13:30 UTC.
        assert_eq!(
            spec.next_nominal(at("2024-03-08T12:00:00Z")),
            Some(at("2024-03-08T14:30:00Z"))
        );
        assert_eq!(
            spec.next_nominal(at("2024-03-08T14:30:00Z")),
            Some(at("2024-03-11T13:30:00Z"))
        );
    }

    #[test]
    fn canonical_calendars_fill_the_defaults_the_real_server_shows() {
        let spec = canonicalize(&ScheduleSpec {
            structured_calendar: vec![StructuredCalendarSpec {
                hour: vec![Range {
                    start: 2,
                    end: 4,
                    step: 0,
                }],
                day_of_week: vec![Range {
                    start: 1,
                    end: 0,
                    step: 0,
                }],
                ..Default::default()
            }],
            cron_string: vec!["0 12 * * MON-FRI".into(), "@every 90m".into()],
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let r = |start, end| Range {
            start,
            end,
            step: 1,
        };
        let first = &spec.structured_calendar[0];
        assert_eq!(first.second, vec![r(0, 0)]);
        assert_eq!(first.hour, vec![r(2, 4)]);
        assert_eq!(first.day_of_month, vec![r(1, 31)]);
        assert_eq!(first.month, vec![r(1, 12)]);
        assert_eq!(first.day_of_week, vec![r(1, 1)]);
        assert!(first.year.is_empty());
        let cron = &spec.structured_calendar[1];
        assert_eq!(cron.hour, vec![r(12, 12)]);
        assert_eq!(cron.day_of_week, vec![r(1, 5)]);
        assert_eq!(spec.interval, vec![interval(5_400_000, 0)]);
        assert!(spec.cron_string.is_empty());
    }

    #[test]
    fn start_end_exclusions_and_bad_specs() {
        let spec = compiled(ScheduleSpec {
            interval: vec![interval(60_000, 0)],
            start_time: Some(timestamp(at("2024-01-01T00:05:00Z"))),
            end_time: Some(timestamp(at("2024-01-01T00:07:00Z"))),
            exclude_structured_calendar: vec![StructuredCalendarSpec {
                minute: vec![Range {
                    start: 6,
                    end: 6,
                    step: 1,
                }],
                hour: vec![Range {
                    start: 0,
                    end: 23,
                    step: 1,
                }],
                ..Default::default()
            }],
            ..Default::default()
        });
        let times = spec.matching(0, at("2024-01-02T00:00:00Z"), 10);
        assert_eq!(
            times,
            vec![at("2024-01-01T00:05:00Z"), at("2024-01-01T00:07:00Z")]
        );
        let bad_zone = ScheduleSpec {
            timezone_name: "Mars/Olympus".into(),
            ..Default::default()
        };
        assert!(matches!(
            canonicalize(&bad_zone),
            Err(SpecError::TimeZone(_))
        ));
        let zero = ScheduleSpec {
            interval: vec![IntervalSpec::default()],
            ..Default::default()
        };
        assert!(matches!(canonicalize(&zero), Err(SpecError::Interval(_))));
    }

    #[test]
    fn jitter_is_deterministic_and_stays_before_the_next_time() {
        let spec = compiled(ScheduleSpec {
            interval: vec![interval(1_000, 0)],
            jitter: Some(duration(60_000)),
            ..Default::default()
        });
        let due = spec.next(10_500).unwrap_or_else(|| panic!("no time"));
        assert_eq!(due.nominal_ms, 11_000);
        assert!((11_000..12_000).contains(&due.actual_ms), "{due:?}");
        assert_eq!(spec.next(10_500), Some(due));
        let jittered = spec.matching(10_000, 12_000, 10);
        assert!(jittered.len() == 1 || jittered.len() == 2, "{jittered:?}");
        assert!(
            jittered.iter().all(|t| *t <= 12_000),
            "past the end: {jittered:?}"
        );
    }
}
