//! Evaluating a parsed filter over a run, with the real server's SQL semantics: an unset
//! attribute is NULL (no comparison holds, `IS NULL` does), a KeywordList equals a value it
//! contains, and a Text attribute equals a phrase whose words all appear in it.

use std::cmp::Ordering;

use temporalio_protos::temporal::api::{
    common::v1::{Payload, WorkflowExecution},
    enums::v1::IndexedValueType,
};

use super::{
    lexer::Cmp,
    parser::{Attr, Expr, Filter, Value},
};
use crate::history::rules::search_attributes::{Typed, decode};

/// What a filter looks at in a run.
pub(crate) trait Visible {
    fn workflow_id(&self) -> &str;
    fn run_id(&self) -> &str;
    fn workflow_type(&self) -> &str;
    /// A standalone activity's type (`ActivityType` in its queries); none for a workflow.
    fn activity_type(&self) -> &str {
        ""
    }
    fn task_queue(&self) -> &str;
    /// A `WorkflowExecutionStatus` value.
    fn status(&self) -> i32;
    fn start_ms(&self) -> i64;
    /// `None` while the run is open.
    fn close_ms(&self) -> Option<i64>;
    /// Set once the run has closed, as in the real server's visibility records.
    fn history_length(&self) -> Option<i64>;
    fn parent(&self) -> Option<WorkflowExecution>;
    fn root(&self) -> Option<WorkflowExecution>;
    /// A search attribute the run carries (custom, or system ones that runs set).
    fn search_attribute(&self, name: &str) -> Option<&Payload>;
}

/// An attribute's value in one run.
#[derive(Debug, PartialEq)]
enum Cell {
    Value(Value),
    Text(String),
    List(Vec<String>),
}

fn cell(attr: &Attr, run: &impl Visible) -> Option<Cell> {
    let text = |s: &str| Some(Cell::Value(Value::Str(s.to_owned())));
    match attr.name.as_str() {
        "WorkflowId" | "ActivityId" => text(run.workflow_id()),
        "ActivityType" => text(run.activity_type()),
        "RunId" => text(run.run_id()),
        "WorkflowType" => text(run.workflow_type()),
        "TaskQueue" => text(run.task_queue()),
        "ExecutionStatus" => Some(Cell::Value(Value::Status(run.status()))),
        "StartTime" | "ExecutionTime" => Some(Cell::Value(Value::Time(run.start_ms()))),
        "CloseTime" => run.close_ms().map(|t| Cell::Value(Value::Time(t))),
        "ExecutionDuration" => run.close_ms().map(|close| {
            Cell::Value(Value::Int(
                close
                    .saturating_sub(run.start_ms())
                    .saturating_mul(1_000_000),
            ))
        }),
        "HistoryLength" => run.history_length().map(|n| Cell::Value(Value::Int(n))),
        "ParentWorkflowId" => run.parent().map(|p| Cell::Value(Value::Str(p.workflow_id))),
        "ParentRunId" => run.parent().map(|p| Cell::Value(Value::Str(p.run_id))),
        "RootWorkflowId" => run.root().map(|r| Cell::Value(Value::Str(r.workflow_id))),
        "RootRunId" => run.root().map(|r| Cell::Value(Value::Str(r.run_id))),
        name => {
            let typed = decode(run.search_attribute(name)?, attr.ty).ok()?;
            Some(match typed {
                Typed::Str(s) if attr.ty == IndexedValueType::Text => Cell::Text(s),
                Typed::Str(s) => Cell::Value(Value::Str(s)),
                Typed::Int(i) => Cell::Value(Value::Int(i)),
                Typed::Double(d) => Cell::Value(Value::Double(d)),
                Typed::Bool(b) => Cell::Value(Value::Bool(b)),
                Typed::Time(t) => Cell::Value(Value::Time(t)),
                Typed::List(items) => Cell::List(items),
            })
        }
    }
}

fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Int(b)) | (Value::Time(a), Value::Time(b)) => Some(a.cmp(b)),
        (Value::Status(a), Value::Status(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Double(b)) => (*a as f64).partial_cmp(b),
        (Value::Double(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Value::Double(a), Value::Double(b)) => a.partial_cmp(b),
        _ => None,
    }
}

/// Lower-cased words, as a full-text index splits them.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `cell` equals `value` (contains it, for lists; matches it, for text).
fn equals(cell: &Cell, value: &Value) -> bool {
    match (cell, value) {
        (Cell::Value(v), value) => order(v, value).is_some_and(Ordering::is_eq),
        (Cell::List(items), Value::Str(s)) => items.contains(s),
        (Cell::Text(text), Value::Str(phrase)) => {
            let have = words(text);
            let want = words(phrase);
            !want.is_empty() && want.iter().all(|w| have.contains(w))
        }
        _ => false,
    }
}

impl Expr {
    fn matches(&self, run: &impl Visible) -> bool {
        match self {
            Self::And(a, b) => a.matches(run) && b.matches(run),
            Self::Or(a, b) => a.matches(run) || b.matches(run),
            Self::IsNull(attr, negated) => cell(attr, run).is_none() != *negated,
            Self::Compare(attr, cmp, value) => {
                let Some(cell) = cell(attr, run) else {
                    return false;
                };
                match (&cell, cmp) {
                    (Cell::Value(v), cmp) => order(v, value).is_some_and(|o| cmp.holds(o)),
                    (_, Cmp::Eq) => equals(&cell, value),
                    (_, Cmp::Ne) => !equals(&cell, value),
                    _ => false,
                }
            }
            Self::Between(attr, low, high) => match cell(attr, run) {
                Some(Cell::Value(v)) => {
                    order(&v, low).is_some_and(Ordering::is_ge)
                        && order(&v, high).is_some_and(Ordering::is_le)
                }
                _ => false,
            },
            Self::In(attr, values, negated) => cell(attr, run)
                .is_some_and(|cell| values.iter().any(|v| equals(&cell, v)) != *negated),
            Self::StartsWith(attr, prefix, negated) => match cell(attr, run) {
                Some(Cell::Value(Value::Str(s))) => s.starts_with(prefix.as_str()) != *negated,
                _ => false,
            },
        }
    }
}

impl Filter {
    pub(crate) fn matches(&self, run: &impl Visible) -> bool {
        self.expr.as_ref().is_none_or(|e| e.matches(run))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::history::rules::search_attributes::Custom;

    struct Run {
        close_ms: Option<i64>,
        attributes: HashMap<String, Payload>,
    }

    impl Visible for Run {
        fn workflow_id(&self) -> &str {
            "order-17"
        }
        fn run_id(&self) -> &str {
            "r1"
        }
        fn workflow_type(&self) -> &str {
            "Order"
        }
        fn task_queue(&self) -> &str {
            "orders"
        }
        fn status(&self) -> i32 {
            1
        }
        fn start_ms(&self) -> i64 {
            1000
        }
        fn close_ms(&self) -> Option<i64> {
            self.close_ms
        }
        fn history_length(&self) -> Option<i64> {
            self.close_ms.map(|_| 5)
        }
        fn parent(&self) -> Option<WorkflowExecution> {
            None
        }
        fn root(&self) -> Option<WorkflowExecution> {
            Some(WorkflowExecution {
                workflow_id: "order-17".into(),
                run_id: "r1".into(),
            })
        }
        fn search_attribute(&self, name: &str) -> Option<&Payload> {
            self.attributes.get(name)
        }
    }

    fn run() -> Run {
        let json = |s: &str| Payload {
            metadata: [("encoding".to_owned(), b"json/plain".to_vec())].into(),
            data: s.as_bytes().to_vec(),
            ..Default::default()
        };
        Run {
            close_ms: None,
            attributes: [
                ("Tags".to_owned(), json("[\"red\",\"big\"]")),
                ("Note".to_owned(), json("\"Hello, big World\"")),
                ("Size".to_owned(), json("5")),
                ("Price".to_owned(), json("1.5")),
            ]
            .into(),
        }
    }

    fn matches(query: &str) -> bool {
        let custom: Custom = [
            ("Tags".to_owned(), IndexedValueType::KeywordList as i32),
            ("Note".to_owned(), IndexedValueType::Text as i32),
            ("Size".to_owned(), IndexedValueType::Int as i32),
            ("Price".to_owned(), IndexedValueType::Double as i32),
            ("Color".to_owned(), IndexedValueType::Keyword as i32),
        ]
        .into();
        match Filter::parse(query, &custom) {
            Ok(filter) => filter.matches(&run()),
            Err(e) => panic!("{query:?}: {e}"),
        }
    }

    #[test]
    fn evaluates_like_the_real_server() {
        for (query, expected) in [
            ("Tags = 'red'", true),
            ("Tags = 'blue'", false),
            ("Tags != 'blue'", true),
            ("Tags IN ('blue', 'big')", true),
            ("Note = 'big'", true),
            ("Note = 'hello world'", true),
            ("Note = 'bi'", false),
            ("Size > 4 AND Size <= 5", true),
            ("Size = 5.0", true),
            ("Size BETWEEN 6 AND 9", false),
            ("Price > 1", true),
            ("Color IS NULL", true),
            ("Color = 'x'", false),
            ("Color != 'x'", false),
            ("Color NOT IN ('x')", false),
            ("Size IS NOT NULL", true),
            ("WorkflowId STARTS_WITH 'order-'", true),
            ("WorkflowId NOT STARTS_WITH 'order-'", false),
            ("TaskQueue IN ('orders', 'x')", true),
            ("TaskQueue NOT IN ('orders')", false),
            ("RunId = 'r1' AND RootWorkflowId = 'order-17'", true),
            ("ParentWorkflowId IS NULL", true),
            ("HistoryLength >= 0", false),
            ("CloseTime IS NULL AND ExecutionStatus IN ('Running')", true),
            ("ExecutionTime = '1970-01-01T00:00:01Z'", true),
        ] {
            assert_eq!(matches(query), expected, "{query}");
        }
    }
}
