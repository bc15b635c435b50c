//! The timeline of a run: its activities, timers, child workflows and Nexus operations as
//! bars over time and its signals, updates and cancel requests as marks, built from the history and drawn as
//! inline SVG (no script, no external assets).

use std::collections::HashMap;
use std::fmt::Write as _;

use temporalio_protos::temporal::api::history::v1::{HistoryEvent, history_event::Attributes};

use super::view::epoch_ms;

/// What a lane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Workflow,
    Activity,
    Timer,
    Child,
    Nexus,
    Signal,
    Update,
    Cancel,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Workflow => "workflow",
            Kind::Activity => "activity",
            Kind::Timer => "timer",
            Kind::Child => "child",
            Kind::Nexus => "nexus",
            Kind::Signal => "signal",
            Kind::Update => "update",
            Kind::Cancel => "cancel",
        }
    }
}

/// One lane: a bar from `start_ms` to `end_ms` (open while running), or a mark when `point`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lane {
    pub(crate) kind: Kind,
    pub(crate) label: String,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: Option<i64>,
    /// `running`, `completed`, `failed`, `timed_out`, `canceled`, `terminated`, `fired`, ...
    pub(crate) outcome: &'static str,
    pub(crate) point: bool,
}

/// The lanes of a history, in the order things began; `now_ms` ends the open bars.
#[derive(Debug, Clone)]
pub(crate) struct Timeline {
    pub(crate) lanes: Vec<Lane>,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
}

impl Timeline {
    pub(crate) fn build(events: &[HistoryEvent], now_ms: i64) -> Timeline {
        let mut lanes: Vec<Lane> = Vec::new();
        // scheduled / started / initiated event id -> lane index
        let mut open: HashMap<i64, usize> = HashMap::new();
        let mut attempts: HashMap<usize, i32> = HashMap::new();
        let time = |e: &HistoryEvent| e.event_time.as_ref().map(epoch_ms).unwrap_or(now_ms);
        for event in events {
            let at = time(event);
            match &event.attributes {
                Some(Attributes::WorkflowExecutionStartedEventAttributes(a)) => {
                    let name = a
                        .workflow_type
                        .as_ref()
                        .map(|t| t.name.as_str())
                        .unwrap_or("workflow");
                    let i = push(
                        &mut lanes,
                        at,
                        Kind::Workflow,
                        name.to_owned(),
                        false,
                        "running",
                    );
                    open.insert(event.event_id, i);
                }
                Some(Attributes::WorkflowExecutionCompletedEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "completed")
                }
                Some(Attributes::WorkflowExecutionFailedEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "failed")
                }
                Some(Attributes::WorkflowExecutionTimedOutEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "timed_out")
                }
                Some(Attributes::WorkflowExecutionCanceledEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "canceled")
                }
                Some(Attributes::WorkflowExecutionTerminatedEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "terminated")
                }
                Some(Attributes::WorkflowExecutionContinuedAsNewEventAttributes(_)) => {
                    close(&mut lanes, &open, 1, at, "continued_as_new")
                }
                Some(Attributes::ActivityTaskScheduledEventAttributes(a)) => {
                    let name = a
                        .activity_type
                        .as_ref()
                        .map(|t| t.name.as_str())
                        .unwrap_or("activity");
                    let i = push(
                        &mut lanes,
                        at,
                        Kind::Activity,
                        format!("{name} #{}", a.activity_id),
                        false,
                        "running",
                    );
                    open.insert(event.event_id, i);
                }
                Some(Attributes::ActivityTaskStartedEventAttributes(a)) => {
                    if let Some(&i) = open.get(&a.scheduled_event_id) {
                        attempts.insert(i, a.attempt);
                    }
                }
                Some(Attributes::ActivityTaskCompletedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "completed")
                }
                Some(Attributes::ActivityTaskFailedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "failed")
                }
                Some(Attributes::ActivityTaskTimedOutEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "timed_out")
                }
                Some(Attributes::ActivityTaskCanceledEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "canceled")
                }
                Some(Attributes::TimerStartedEventAttributes(a)) => {
                    let i = push(
                        &mut lanes,
                        at,
                        Kind::Timer,
                        format!("timer {}", a.timer_id),
                        false,
                        "running",
                    );
                    open.insert(event.event_id, i);
                }
                Some(Attributes::TimerFiredEventAttributes(a)) => {
                    close(&mut lanes, &open, a.started_event_id, at, "fired")
                }
                Some(Attributes::TimerCanceledEventAttributes(a)) => {
                    close(&mut lanes, &open, a.started_event_id, at, "canceled")
                }
                Some(Attributes::StartChildWorkflowExecutionInitiatedEventAttributes(a)) => {
                    let name = a
                        .workflow_type
                        .as_ref()
                        .map(|t| t.name.as_str())
                        .unwrap_or("child");
                    let i = push(
                        &mut lanes,
                        at,
                        Kind::Child,
                        format!("child {name} {}", a.workflow_id),
                        false,
                        "running",
                    );
                    open.insert(event.event_id, i);
                }
                Some(Attributes::StartChildWorkflowExecutionFailedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "failed")
                }
                Some(Attributes::ChildWorkflowExecutionCompletedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "completed")
                }
                Some(Attributes::ChildWorkflowExecutionFailedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "failed")
                }
                Some(Attributes::ChildWorkflowExecutionCanceledEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "canceled")
                }
                Some(Attributes::ChildWorkflowExecutionTimedOutEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "timed_out")
                }
                Some(Attributes::ChildWorkflowExecutionTerminatedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.initiated_event_id, at, "terminated")
                }
                Some(Attributes::NexusOperationScheduledEventAttributes(a)) => {
                    let i = push(
                        &mut lanes,
                        at,
                        Kind::Nexus,
                        format!("nexus {}.{} @{}", a.service, a.operation, a.endpoint),
                        false,
                        "running",
                    );
                    open.insert(event.event_id, i);
                }
                Some(Attributes::NexusOperationCompletedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "completed")
                }
                Some(Attributes::NexusOperationFailedEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "failed")
                }
                Some(Attributes::NexusOperationCanceledEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "canceled")
                }
                Some(Attributes::NexusOperationTimedOutEventAttributes(a)) => {
                    close(&mut lanes, &open, a.scheduled_event_id, at, "timed_out")
                }
                Some(Attributes::NexusOperationCancelRequestedEventAttributes(_)) => {
                    push(
                        &mut lanes,
                        at,
                        Kind::Cancel,
                        "nexus cancel requested".to_owned(),
                        true,
                        "requested",
                    );
                }
                Some(Attributes::WorkflowExecutionSignaledEventAttributes(a)) => {
                    push(
                        &mut lanes,
                        at,
                        Kind::Signal,
                        format!("signal {}", a.signal_name),
                        true,
                        "received",
                    );
                }
                Some(Attributes::WorkflowExecutionUpdateAcceptedEventAttributes(a)) => {
                    let name = a
                        .accepted_request
                        .as_ref()
                        .and_then(|r| r.input.as_ref())
                        .map(|i| i.name.as_str())
                        .unwrap_or("update");
                    push(
                        &mut lanes,
                        at,
                        Kind::Update,
                        format!("update {name}"),
                        true,
                        "accepted",
                    );
                }
                Some(Attributes::WorkflowExecutionCancelRequestedEventAttributes(_)) => {
                    push(
                        &mut lanes,
                        at,
                        Kind::Cancel,
                        "cancel requested".to_owned(),
                        true,
                        "requested",
                    );
                }
                _ => {}
            }
        }
        for (i, attempt) in attempts {
            if attempt > 1 {
                let label = format!("{} ({attempt} attempts)", lanes[i].label);
                lanes[i].label = label;
            }
        }
        // Once the run has closed, what never finished (a timer left behind by a select, an
        // activity abandoned by a termination) ends with it.
        let closed_at = lanes
            .first()
            .filter(|l| l.kind == Kind::Workflow)
            .and_then(|l| l.end_ms);
        if let Some(closed_at) = closed_at {
            for lane in lanes.iter_mut().filter(|l| l.end_ms.is_none()) {
                lane.end_ms = Some(closed_at.max(lane.start_ms));
                lane.outcome = "unfinished";
            }
        }
        let start_ms = lanes.iter().map(|l| l.start_ms).min().unwrap_or(now_ms);
        let end_ms = lanes
            .iter()
            .map(|l| l.end_ms.unwrap_or(now_ms))
            .max()
            .unwrap_or(now_ms)
            .max(start_ms + 1);
        Timeline {
            lanes,
            start_ms,
            end_ms,
        }
    }

    /// The timeline as an SVG picture, `width` pixels wide.
    pub(crate) fn svg(&self, width: u32) -> String {
        const LABEL: f64 = 260.0;
        const ROW: f64 = 24.0;
        const TOP: f64 = 26.0;
        let width = f64::from(width.max(400));
        let plot = width - LABEL - 16.0;
        let span = (self.end_ms - self.start_ms) as f64;
        let x = |ms: i64| LABEL + (ms - self.start_ms) as f64 / span * plot;
        let height = TOP + ROW * self.lanes.len() as f64 + 8.0;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" aria-label="timeline" width="{width}" height="{height}" viewBox="0 0 {width} {height}">"#
        );
        for tick in 0..=4 {
            let ms = self.start_ms + (self.end_ms - self.start_ms) * tick / 4;
            let tx = x(ms);
            let _ = write!(
                out,
                r#"<line class="tick" x1="{tx:.1}" y1="{}" x2="{tx:.1}" y2="{height}"/><text class="axis" x="{tx:.1}" y="14" text-anchor="middle">+{}</text>"#,
                TOP - 6.0,
                short_duration(ms - self.start_ms)
            );
        }
        for (row, lane) in self.lanes.iter().enumerate() {
            let y = TOP + ROW * row as f64;
            let kind = lane.kind.name();
            let outcome = lane.outcome;
            let end = lane.end_ms.unwrap_or(self.end_ms);
            let title = format!(
                "{} — {outcome}, {}",
                lane.label,
                if lane.point {
                    format!("at +{}", short_duration(lane.start_ms - self.start_ms))
                } else {
                    format!("{} long", short_duration(end - lane.start_ms))
                }
            );
            let _ = write!(
                out,
                r#"<g class="lane {kind} {outcome}" data-kind="{kind}"><title>{}</title><text class="label" x="4" y="{:.1}">{}</text>"#,
                escape(&title),
                y + 15.0,
                escape(&truncate(&lane.label, 38))
            );
            if lane.point {
                let px = x(lane.start_ms);
                let _ = write!(
                    out,
                    r#"<path class="mark" d="M{px:.1} {:.1} l6 8 l-6 8 l-6 -8 z"/>"#,
                    y + 3.0
                );
            } else {
                let x0 = x(lane.start_ms);
                let w = (x(end) - x0).max(3.0);
                let _ = write!(
                    out,
                    r#"<rect class="bar" x="{x0:.1}" y="{:.1}" width="{w:.1}" height="16" rx="3"/>"#,
                    y + 3.0
                );
            }
            out.push_str("</g>");
        }
        out.push_str("</svg>");
        out
    }
}

fn push(
    lanes: &mut Vec<Lane>,
    at: i64,
    kind: Kind,
    label: String,
    point: bool,
    outcome: &'static str,
) -> usize {
    lanes.push(Lane {
        kind,
        label,
        start_ms: at,
        end_ms: point.then_some(at),
        outcome,
        point,
    });
    lanes.len() - 1
}

fn close(lanes: &mut [Lane], open: &HashMap<i64, usize>, id: i64, at: i64, outcome: &'static str) {
    if let Some(&i) = open.get(&id) {
        lanes[i].end_ms = Some(at);
        lanes[i].outcome = outcome;
    }
}

fn short_duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1_000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else if ms < 3_600_000 {
        format!("{}m{}s", ms / 60_000, (ms % 60_000) / 1000)
    } else {
        format!("{}h{}m", ms / 3_600_000, (ms % 3_600_000) / 60_000)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// Escapes text for SVG/HTML content and attributes.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use prost_wkt_types::Timestamp;
    use temporalio_protos::temporal::api::common::v1::ActivityType;
    use temporalio_protos::temporal::api::history::v1::{
        ActivityTaskCompletedEventAttributes, ActivityTaskScheduledEventAttributes,
        ActivityTaskStartedEventAttributes, TimerStartedEventAttributes,
        WorkflowExecutionSignaledEventAttributes, WorkflowExecutionStartedEventAttributes,
    };

    use super::*;

    fn event(id: i64, ms: i64, attributes: Attributes) -> HistoryEvent {
        HistoryEvent {
            event_id: id,
            event_time: Some(Timestamp {
                seconds: ms / 1000,
                nanos: i32::try_from((ms % 1000) * 1_000_000).unwrap(),
            }),
            attributes: Some(attributes),
            ..Default::default()
        }
    }

    #[test]
    fn activities_timers_and_signals_become_lanes() {
        let events = vec![
            event(
                1,
                10_000,
                WorkflowExecutionStartedEventAttributes::default().into(),
            ),
            event(
                5,
                10_100,
                ActivityTaskScheduledEventAttributes {
                    activity_id: "1".into(),
                    activity_type: Some(ActivityType {
                        name: "charge_payment".into(),
                    }),
                    ..Default::default()
                }
                .into(),
            ),
            event(
                6,
                10_900,
                ActivityTaskStartedEventAttributes {
                    scheduled_event_id: 5,
                    attempt: 3,
                    ..Default::default()
                }
                .into(),
            ),
            event(
                7,
                11_000,
                ActivityTaskCompletedEventAttributes {
                    scheduled_event_id: 5,
                    ..Default::default()
                }
                .into(),
            ),
            event(
                10,
                11_100,
                TimerStartedEventAttributes {
                    timer_id: "2".into(),
                    ..Default::default()
                }
                .into(),
            ),
            event(
                11,
                12_000,
                WorkflowExecutionSignaledEventAttributes {
                    signal_name: "approve".into(),
                    ..Default::default()
                }
                .into(),
            ),
        ];
        let timeline = Timeline::build(&events, 13_000);
        let kinds: Vec<Kind> = timeline.lanes.iter().map(|l| l.kind).collect();
        assert_eq!(
            kinds,
            [Kind::Workflow, Kind::Activity, Kind::Timer, Kind::Signal]
        );
        let activity = &timeline.lanes[1];
        assert_eq!(activity.label, "charge_payment #1 (3 attempts)");
        assert_eq!((activity.start_ms, activity.end_ms), (10_100, Some(11_000)));
        assert_eq!(activity.outcome, "completed");
        assert_eq!(timeline.lanes[2].end_ms, None, "the timer has not fired");
        assert_eq!((timeline.start_ms, timeline.end_ms), (10_000, 13_000));
        let svg = timeline.svg(900);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert_eq!(svg.matches("class=\"mark\"").count(), 1);
        assert!(svg.contains("signal approve"));
    }

    #[test]
    fn open_work_ends_when_the_run_closes() {
        use temporalio_protos::temporal::api::history::v1::WorkflowExecutionCompletedEventAttributes;
        let events = vec![
            event(
                1,
                1_000,
                WorkflowExecutionStartedEventAttributes::default().into(),
            ),
            event(
                5,
                1_100,
                TimerStartedEventAttributes {
                    timer_id: "1".into(),
                    ..Default::default()
                }
                .into(),
            ),
            event(
                9,
                2_000,
                WorkflowExecutionCompletedEventAttributes::default().into(),
            ),
        ];
        let timeline = Timeline::build(&events, 60_000);
        assert_eq!(timeline.lanes[0].outcome, "completed");
        assert_eq!(timeline.lanes[1].end_ms, Some(2_000));
        assert_eq!(timeline.lanes[1].outcome, "unfinished");
        assert_eq!(
            timeline.end_ms, 2_000,
            "a closed run's picture ends at its close"
        );
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
