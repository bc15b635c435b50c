//! `ListSchedules`' query: the workflow list's query language over what a schedule has, as
//! the real server filters it: the schedule's own search attributes, `ScheduleId` and
//! `TemporalSchedulePaused`. Any other system attribute (a run's, such as `WorkflowId` or
//! `StartTime`, also in `ORDER BY`) is refused with the real server's message.

use std::collections::HashMap;

use temporalio_protos::temporal::api::{
    common::v1::{Payload, SearchAttributes, WorkflowExecution},
    enums::v1::IndexedValueType,
};

use super::{
    eval::Visible,
    parser::{Expr, Filter},
};
use crate::{
    error::{EngineError, Result},
    history::rules::search_attributes::Custom,
};

const SCHEDULE_ID: &str = "ScheduleId";
const PAUSED: &str = "TemporalSchedulePaused";

/// A parsed `ListSchedules` query.
#[derive(Debug)]
pub(crate) struct ScheduleFilter(Filter);

fn refused(name: &str) -> EngineError {
    EngineError::invalid(format!(
        "invalid query filter for schedules: cannot filter on \"{name}\""
    ))
}

fn attributes<'a>(expr: &'a Expr, into: &mut Vec<&'a str>) {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            attributes(a, into);
            attributes(b, into);
        }
        Expr::Compare(attr, ..)
        | Expr::Between(attr, ..)
        | Expr::In(attr, ..)
        | Expr::StartsWith(attr, ..)
        | Expr::IsNull(attr, ..) => into.push(&attr.name),
    }
}

impl ScheduleFilter {
    /// Parses `query` against a namespace's `custom` search attributes.
    pub(crate) fn parse(query: &str, custom: &Custom) -> Result<Self> {
        let mut known = custom.clone();
        known.insert(SCHEDULE_ID.to_owned(), IndexedValueType::Keyword as i32);
        let filter = Filter::parse(query, &known)?;
        if filter.ordered {
            return Err(refused("StartTime"));
        }
        if filter.group_by_status {
            return Err(refused("ExecutionStatus"));
        }
        let mut names = Vec::new();
        if let Some(expr) = &filter.expr {
            attributes(expr, &mut names);
        }
        if let Some(name) = names
            .into_iter()
            .find(|n| *n != SCHEDULE_ID && *n != PAUSED && !custom.contains_key(*n))
        {
            return Err(refused(name));
        }
        Ok(Self(filter))
    }

    /// Whether the schedule `id`, `paused` or not, with its own `attributes`, matches.
    pub(crate) fn matches(
        &self,
        id: &str,
        paused: bool,
        attributes: Option<&SearchAttributes>,
    ) -> bool {
        let mut fields: HashMap<String, Payload> = attributes
            .map(|a| a.indexed_fields.clone())
            .unwrap_or_default();
        fields.insert(SCHEDULE_ID.to_owned(), json(&format!("{id:?}")));
        fields.insert(
            PAUSED.to_owned(),
            json(if paused { "true" } else { "false" }),
        );
        self.0.matches(&Row(fields))
    }
}

fn json(data: &str) -> Payload {
    Payload {
        metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
        data: data.as_bytes().to_vec(),
        ..Default::default()
    }
}

/// A schedule as the evaluator sees it: only attributes (the run fields are refused above).
struct Row(HashMap<String, Payload>);

impl Visible for Row {
    fn workflow_id(&self) -> &str {
        ""
    }
    fn run_id(&self) -> &str {
        ""
    }
    fn workflow_type(&self) -> &str {
        ""
    }
    fn task_queue(&self) -> &str {
        ""
    }
    fn status(&self) -> i32 {
        0
    }
    fn start_ms(&self) -> i64 {
        0
    }
    fn close_ms(&self) -> Option<i64> {
        None
    }
    fn history_length(&self) -> Option<i64> {
        None
    }
    fn parent(&self) -> Option<WorkflowExecution> {
        None
    }
    fn root(&self) -> Option<WorkflowExecution> {
        None
    }
    fn search_attribute(&self, name: &str) -> Option<&Payload> {
        self.0.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn custom() -> Custom {
        [("Kw".to_owned(), IndexedValueType::Keyword as i32)].into()
    }

    fn attrs(value: &str) -> SearchAttributes {
        SearchAttributes {
            indexed_fields: [("Kw".to_owned(), json(&format!("{value:?}")))].into(),
        }
    }

    fn error(query: &str) -> String {
        match ScheduleFilter::parse(query, &custom()) {
            Ok(f) => panic!("{query} parsed: {f:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn filters_by_own_attributes_id_and_paused() {
        let f =
            |q: &str| ScheduleFilter::parse(q, &custom()).unwrap_or_else(|e| panic!("{q}: {e}"));
        let a = attrs("a");
        assert!(f("Kw = 'a'").matches("s1", false, Some(&a)));
        assert!(!f("Kw = 'a'").matches("s1", false, None));
        assert!(f("Kw IS NULL").matches("s1", false, None));
        assert!(f("TemporalSchedulePaused = true").matches("s1", true, None));
        assert!(!f("TemporalSchedulePaused = true").matches("s1", false, None));
        assert!(
            f("ScheduleId = 's1' AND TemporalSchedulePaused = false").matches("s1", false, None)
        );
        assert!(f("ScheduleId STARTS_WITH 's'").matches("s1", false, None));
        assert!(f("").matches("s1", false, None));
    }

    #[test]
    fn refuses_what_a_schedule_does_not_have_with_the_real_servers_messages() {
        assert_eq!(
            error("WorkflowId = 'w'"),
            "invalid query filter for schedules: cannot filter on \"WorkflowId\""
        );
        assert_eq!(
            error("Kw = 'a' ORDER BY StartTime"),
            "invalid query filter for schedules: cannot filter on \"StartTime\""
        );
        assert_eq!(
            error("Bogus = 1"),
            "invalid query: invalid search attribute: Bogus"
        );
    }
}
