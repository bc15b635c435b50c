//! Parsing calendar strings (`CalendarSpec`) and cron strings into structured calendars,
//! as the real server does: comma-separated ranges `a`, `a-b`, `a-b/s`, `a/s`, `*`,
//! `*/s`, month and weekday names, predefined `@daily`-style strings, `@every`, and a
//! leading `TZ=` or `CRON_TZ=` time zone.

use temporalio_protos::temporal::api::schedule::v1::{
    CalendarSpec, IntervalSpec, Range, StructuredCalendarSpec,
};

use super::spec::interval;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// What a cron string says.
#[derive(Debug, Default)]
pub(super) struct Cron {
    pub(super) calendar: Option<StructuredCalendarSpec>,
    pub(super) interval: Option<IntervalSpec>,
    pub(super) time_zone: Option<String>,
}

/// One field's ranges; `default` applies to an empty field, `(min, max)` bound `*`.
fn field(
    text: &str,
    name: &str,
    default: &str,
    (min, max): (i32, i32),
    names: &[&str],
) -> Result<Vec<Range>, String> {
    let text = if text.trim().is_empty() {
        default
    } else {
        text.trim()
    };
    let value = |word: &str| -> Result<i32, String> {
        if let Some(i) = names
            .iter()
            .position(|n| word.to_ascii_lowercase().starts_with(n))
        {
            let base = if names.len() == 12 { 1 } else { 0 };
            return Ok(i32::try_from(i).unwrap_or(0) + base);
        }
        let v: i32 = word
            .parse()
            .map_err(|_| format!("{name}: {word:?} is not a number"))?;
        // Day of week accepts 7 for Sunday.
        let top = if names.len() == 7 { 7 } else { max };
        if v < min || v > top {
            return Err(format!("{name}: {v} is out of range {min}-{max}"));
        }
        Ok(v)
    };
    let mut ranges = Vec::new();
    for part in text.split(',') {
        let (span, step) = match part.split_once('/') {
            Some((span, step)) => {
                let step: i32 = step
                    .parse()
                    .map_err(|_| format!("{name}: step {step:?} is not a number"))?;
                if step < 1 {
                    return Err(format!("{name}: step must be positive"));
                }
                (span, Some(step))
            }
            None => (part, None),
        };
        let (start, end) = if span == "*" {
            (min, max)
        } else if let Some((a, b)) = span.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let start = value(span)?;
            (start, if step.is_some() { max } else { start })
        };
        ranges.push(Range {
            start,
            end: end.max(start),
            step: step.unwrap_or(1),
        });
    }
    Ok(ranges)
}

/// A string calendar as a structured one with the real server's defaults: second, minute
/// and hour `0`, any day of month, month and day of week, any year.
pub(super) fn parse(cal: &CalendarSpec) -> Result<StructuredCalendarSpec, String> {
    let year = if cal.year.trim().is_empty() || cal.year.trim() == "*" {
        Vec::new()
    } else {
        field(&cal.year, "year", "*", (1970, 2999), &[])?
    };
    Ok(StructuredCalendarSpec {
        second: field(&cal.second, "second", "0", (0, 59), &[])?,
        minute: field(&cal.minute, "minute", "0", (0, 59), &[])?,
        hour: field(&cal.hour, "hour", "0", (0, 23), &[])?,
        day_of_month: field(&cal.day_of_month, "day_of_month", "*", (1, 31), &[])?,
        month: field(&cal.month, "month", "*", (1, 12), &MONTHS)?,
        year,
        day_of_week: field(&cal.day_of_week, "day_of_week", "*", (0, 6), &WEEKDAYS)?,
        comment: cal.comment.clone(),
    })
}

/// A cron string: 5 fields (minute hour day-of-month month day-of-week), 6 (plus year)
/// or 7 (second first, then year last), a predefined name or `@every <duration>[/<phase>]`.
pub(super) fn parse_cron(cron: &str) -> Result<Cron, String> {
    let mut text = cron.trim();
    let mut out = Cron::default();
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let (tz, rest) = rest.split_once(' ').ok_or("a time zone and nothing else")?;
            out.time_zone = Some(tz.to_owned());
            text = rest.trim();
        }
    }
    let (text, comment) = match text.split_once('#') {
        Some((text, comment)) => (text.trim(), comment.trim().to_owned()),
        None => (text, String::new()),
    };
    if let Some(every) = text.strip_prefix("@every") {
        let (every, phase) = match every.trim().split_once('/') {
            Some((every, phase)) => (every, Some(phase)),
            None => (every.trim(), None),
        };
        let ms = |d: &str| -> Result<i64, String> {
            humantime::parse_duration(d.trim())
                .map_err(|e| format!("duration {d:?}: {e}"))
                .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        let phase = phase.map(ms).transpose()?.unwrap_or(0);
        out.interval = Some(interval(ms(every)?, phase));
        return Ok(out);
    }
    let predefined = match text {
        "@yearly" | "@annually" => Some("0 0 1 1 *"),
        "@monthly" => Some("0 0 1 * *"),
        "@weekly" => Some("0 0 * * 0"),
        "@daily" | "@midnight" => Some("0 0 * * *"),
        "@hourly" => Some("0 * * * *"),
        _ => None,
    };
    let fields: Vec<&str> = predefined.unwrap_or(text).split_whitespace().collect();
    let mut cal = CalendarSpec {
        comment,
        ..Default::default()
    };
    match fields.as_slice() {
        [min, hour, dom, month, dow] => {
            (
                cal.minute,
                cal.hour,
                cal.day_of_month,
                cal.month,
                cal.day_of_week,
            ) = (s(min), s(hour), s(dom), s(month), s(dow));
        }
        [min, hour, dom, month, dow, year] => {
            (
                cal.minute,
                cal.hour,
                cal.day_of_month,
                cal.month,
                cal.day_of_week,
                cal.year,
            ) = (s(min), s(hour), s(dom), s(month), s(dow), s(year));
        }
        [sec, min, hour, dom, month, dow, year] => {
            cal.second = s(sec);
            (
                cal.minute,
                cal.hour,
                cal.day_of_month,
                cal.month,
                cal.day_of_week,
                cal.year,
            ) = (s(min), s(hour), s(dom), s(month), s(dow), s(year));
        }
        _ => return Err("expected 5, 6 or 7 fields".into()),
    }
    out.calendar = Some(parse(&cal)?);
    Ok(out)
}

fn s(text: &&str) -> String {
    // `?` means "any" in cron, as `*`.
    if *text == "?" {
        "*".into()
    } else {
        (*text).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: i32, end: i32, step: i32) -> Range {
        Range { start, end, step }
    }

    #[test]
    fn fields_ranges_steps_and_names() {
        let cal = parse(&CalendarSpec {
            minute: "*/15".into(),
            hour: "1,3-5".into(),
            month: "Jan-Mar".into(),
            day_of_week: "mon,7".into(),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cal.second, vec![r(0, 0, 1)]);
        assert_eq!(cal.minute, vec![r(0, 59, 15)]);
        assert_eq!(cal.hour, vec![r(1, 1, 1), r(3, 5, 1)]);
        assert_eq!(cal.month, vec![r(1, 3, 1)]);
        assert_eq!(cal.day_of_week, vec![r(1, 1, 1), r(7, 7, 1)]);
        assert_eq!(cal.day_of_month, vec![r(1, 31, 1)]);
        assert!(
            parse(&CalendarSpec {
                hour: "25".into(),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn cron_strings() {
        let daily =
            parse_cron("TZ=Europe/Paris @daily # nightly").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(daily.time_zone.as_deref(), Some("Europe/Paris"));
        let cal = daily.calendar.unwrap_or_default();
        assert_eq!(cal.hour, vec![r(0, 0, 1)]);
        assert_eq!(cal.comment, "nightly");
        let every = parse_cron("@every 10s/2s").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(every.interval, Some(interval(10_000, 2_000)));
        assert!(parse_cron("* * *").is_err());
    }
}
