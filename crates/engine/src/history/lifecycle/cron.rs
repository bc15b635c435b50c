//! Cron schedules of workflows (`cron_schedule` on start): the real server's format (robfig
//! cron's standard parser: five fields, minute to weekday, in UTC, or a descriptor such as
//! `@hourly` or `@every 2s`) and its arithmetic for when the next run is due.

use std::str::FromStr as _;

use chrono::{DateTime, Utc};
use croner::{
    Cron,
    parser::{CronParser, Seconds, Year},
};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    /// `@every <duration>`: a fixed delay, whole seconds, at least one.
    Every {
        seconds: i64,
    },
    Pattern(Box<Cron>),
}

/// The real server's answer to a schedule it cannot parse.
pub(crate) const INVALID: &str = "invalid CronSchedule.";

impl Schedule {
    pub(crate) fn parse(spec: &str) -> Result<Self, String> {
        let spec = spec.trim();
        if let Some(rest) = spec.strip_prefix("@every ") {
            let delay = humantime::Duration::from_str(rest.trim()).map_err(|_| INVALID)?;
            let seconds = i64::try_from(delay.as_secs()).map_err(|_| INVALID)?;
            return Ok(Self::Every {
                seconds: seconds.max(1),
            });
        }
        let pattern = match spec {
            "@midnight" => "@daily",
            p if p.starts_with("TZ=") || p.starts_with("CRON_TZ=") => {
                return Err(
                    "CronSchedule with a time zone is not supported by this engine: \
                            write the schedule in UTC."
                        .to_owned(),
                );
            }
            p if !p.starts_with('@') && p.split_whitespace().count() != 5 => {
                return Err(INVALID.to_owned());
            }
            p => p,
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(pattern).map_err(|_| INVALID)?;
        Ok(Self::Pattern(Box::new(cron)))
    }

    /// The first scheduled time after `ms`, in epoch milliseconds.
    fn next_after(&self, ms: i64) -> Option<i64> {
        match self {
            // robfig: the delay from the start of `ms`'s second.
            Self::Every { seconds } => {
                Some(ms - ms.rem_euclid(1000) + seconds.saturating_mul(1000))
            }
            Self::Pattern(cron) => {
                let time = DateTime::<Utc>::from_timestamp_millis(ms)?;
                let next = cron.find_next_occurrence(&time, false).ok()?;
                Some(next.timestamp_millis())
            }
        }
    }

    /// How long until the run after one scheduled at `scheduled_ms` is due, seen at
    /// `now_ms`: the next scheduled time not before now, rounded up to whole seconds, as
    /// the real server's `GetBackoffForNextSchedule` does. `None` when none is left.
    pub(crate) fn backoff_ms(&self, scheduled_ms: i64, now_ms: i64) -> Option<i64> {
        let next = if now_ms < scheduled_ms {
            scheduled_ms
        } else {
            let mut next = self.next_after(scheduled_ms)?;
            while next < now_ms {
                next = self.next_after(next)?;
            }
            next
        };
        let backoff = next - now_ms;
        Some((backoff + 999).div_euclid(1000) * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

    fn parse(spec: &str) -> Schedule {
        Schedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
    }

    #[test]
    fn every_counts_from_the_whole_second() {
        let every = parse("@every 2s");
        assert_eq!(every.backoff_ms(T + 300, T + 300), Some(2000));
        // A run that took 5 s: the next slot not before now.
        assert_eq!(every.backoff_ms(T, T + 5_000), Some(1000));
    }

    #[test]
    fn patterns_find_the_next_minute_and_hour() {
        assert_eq!(parse("* * * * *").backoff_ms(T, T), Some(40_000));
        assert_eq!(
            parse("@hourly").backoff_ms(T, T),
            Some(46 * 60_000 + 40_000)
        );
        assert_eq!(parse("15 22 * * *").backoff_ms(T, T), Some(100_000));
    }

    #[test]
    fn bad_schedules_are_refused() {
        for spec in [
            "",
            "* * * *",
            "0 * * * * *",
            "61 * * * *",
            "@every x",
            "nonsense",
        ] {
            assert!(Schedule::parse(spec).is_err(), "{spec}");
        }
        assert!(Schedule::parse("CRON_TZ=Europe/Paris 0 5 * * *").is_err());
    }
}
