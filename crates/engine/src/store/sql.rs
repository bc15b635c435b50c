//! Visibility queries lowered to SQL once, for every SQL store: a [`ClosedQuery`] becomes
//! one statement over the indexed columns of closed runs (`workflow_id`, `workflow_type`,
//! `status`, `start_ms`, `close_ms`), paged with a keyset on (start time, run id). The
//! stores differ only in their [`Dialect`]: how a parameter is written, how text compares
//! byte-wise, how a list of run ids is bound and how the keyset is spelled.

use super::visibility::{ClosedQuery, Cmp, Column, Cond, Value};

/// A bound parameter, converted by each store to its driver's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Param {
    Text(String),
    Int(i64),
    /// A `WorkflowExecutionStatus` (a 32-bit column).
    Status(i32),
    /// Run ids, bound as one parameter.
    Ids(Vec<String>),
}

/// What tells one SQL dialect from another.
pub(crate) trait Dialect {
    /// The placeholder of the `n`-th parameter (1-based).
    fn placeholder(&self, n: usize) -> String;
    /// `sql` (a column or a placeholder) compared byte-wise, as the engine orders text.
    fn bytewise(&self, sql: &str) -> String;
    /// `run_id` is one of the ids bound at `ids`.
    fn among(&self, ids: &str) -> String;
    /// (start_ms, run_id) lies `beyond` (`<` or `>`) the key bound at `start` and `run`.
    fn keyset(&self, beyond: &str, start: &str, run: &str) -> String;
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    pub(crate) text: String,
    pub(crate) params: Vec<Param>,
}

/// Builds a statement's text while binding its parameters.
struct Builder<'d, D: Dialect + ?Sized> {
    dialect: &'d D,
    params: Vec<Param>,
}

impl<D: Dialect + ?Sized> Builder<'_, D> {
    fn bind(&mut self, param: Param) -> String {
        self.params.push(param);
        self.dialect.placeholder(self.params.len())
    }

    fn value(&mut self, column: Column, value: &Value) -> String {
        match (column, value) {
            (Column::Status, Value::Int(v)) => {
                self.bind(Param::Status(i32::try_from(*v).unwrap_or(i32::MAX)))
            }
            (_, Value::Int(v)) => self.bind(Param::Int(*v)),
            (_, Value::Text(v)) => {
                let at = self.bind(Param::Text(v.clone()));
                self.dialect.bytewise(&at)
            }
        }
    }

    fn cond(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::And(a, b) => format!("({} AND {})", self.cond(a), self.cond(b)),
            Cond::Or(a, b) => format!("({} OR {})", self.cond(a), self.cond(b)),
            // Equality is byte-wise in every collation the stores use, and written plainly
            // it can use the indexes; order comparisons on text are byte-wise like the
            // engine's.
            Cond::Compare(column, cmp @ (Cmp::Eq | Cmp::Ne), Value::Text(text)) => {
                let value = self.bind(Param::Text(text.clone()));
                format!("{} {} {value}", plain(*column), symbol(*cmp))
            }
            Cond::Compare(column, cmp, value) => {
                let value = self.value(*column, value);
                format!("{} {} {value}", self.name(*column), symbol(*cmp))
            }
            Cond::Between(column, low, high) => {
                let low = self.value(*column, low);
                let high = self.value(*column, high);
                // In parentheses: PostgreSQL takes no COLLATE on a bare BETWEEN bound.
                format!("({} BETWEEN ({low}) AND ({high}))", self.name(*column))
            }
        }
    }

    fn name(&self, column: Column) -> String {
        match column {
            Column::WorkflowId | Column::WorkflowType => self.dialect.bytewise(plain(column)),
            Column::Status | Column::StartMs | Column::CloseMs => plain(column).to_owned(),
        }
    }

    /// The conditions every query has: the namespace, closed, matching, not excluded.
    fn filter(&mut self, query: &ClosedQuery) -> String {
        let namespace = self.bind(Param::Text(query.namespace.clone()));
        let mut sql =
            format!("namespace = {namespace} AND closed_info IS NOT NULL AND start_ms IS NOT NULL");
        if let Some(cond) = &query.cond {
            sql.push_str(&format!(" AND {}", self.cond(cond)));
        }
        if !query.exclude.is_empty() {
            let exclude = self.bind(Param::Ids(query.exclude.clone()));
            sql.push_str(&format!(" AND NOT ({})", self.dialect.among(&exclude)));
        }
        sql
    }

    fn finish(self, text: String) -> Statement {
        Statement {
            text,
            params: self.params,
        }
    }
}

fn plain(column: Column) -> &'static str {
    match column {
        Column::WorkflowId => "workflow_id",
        Column::WorkflowType => "workflow_type",
        Column::Status => "status",
        Column::StartMs => "start_ms",
        Column::CloseMs => "close_ms",
    }
}

fn symbol(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Eq => "=",
        Cmp::Ne => "<>",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
    }
}

/// One page of closed runs in the query's order: `SELECT run_id, closed_info ...`.
pub(crate) fn page(dialect: &(impl Dialect + ?Sized), query: &ClosedQuery) -> Statement {
    let mut sql = Builder {
        dialect,
        params: Vec::new(),
    };
    let mut text = format!(
        "SELECT run_id, closed_info FROM runs WHERE {}",
        sql.filter(query)
    );
    let (direction, beyond) = if query.ascending {
        ("ASC", ">")
    } else {
        ("DESC", "<")
    };
    if let Some((start_ms, run_id)) = &query.after {
        let start = sql.bind(Param::Int(*start_ms));
        let run = sql.bind(Param::Text(run_id.clone()));
        text.push_str(&format!(" AND {}", dialect.keyset(beyond, &start, &run)));
    }
    let limit = sql.bind(Param::Int(i64::try_from(query.limit).unwrap_or(i64::MAX)));
    text.push_str(&format!(
        " ORDER BY start_ms {direction}, {} {direction} LIMIT {limit}",
        dialect.bytewise("run_id")
    ));
    sql.finish(text)
}

/// (status, count) of the closed runs the query matches, by scanning the matching rows.
pub(crate) fn count(dialect: &(impl Dialect + ?Sized), query: &ClosedQuery) -> Statement {
    let mut sql = Builder {
        dialect,
        params: Vec::new(),
    };
    let text = format!(
        "SELECT status, count(*) FROM runs WHERE {} GROUP BY status",
        sql.filter(query)
    );
    sql.finish(text)
}

/// The per-status counters of a namespace's closed runs: (status, count).
pub(crate) fn counters(dialect: &(impl Dialect + ?Sized), namespace: &str) -> Statement {
    Statement {
        text: format!(
            "SELECT status, count FROM closed_counts WHERE namespace = {}",
            dialect.placeholder(1)
        ),
        params: vec![Param::Text(namespace.to_owned())],
    }
}

/// (status, count) of the closed runs among `ids`, to take off the counters.
pub(crate) fn excluded(
    dialect: &(impl Dialect + ?Sized),
    namespace: &str,
    ids: &[String],
) -> Statement {
    Statement {
        text: format!(
            "SELECT status, count(*) FROM runs
             WHERE namespace = {} AND {}
               AND closed_info IS NOT NULL AND status IS NOT NULL
             GROUP BY status",
            dialect.placeholder(1),
            dialect.among(&dialect.placeholder(2))
        ),
        params: vec![Param::Text(namespace.to_owned()), Param::Ids(ids.to_vec())],
    }
}

/// Counters less the excluded runs, without the statuses that come to nothing.
pub(crate) fn subtract(counters: Vec<(i32, i64)>, excluded: Vec<(i32, i64)>) -> Vec<(i32, i64)> {
    let mut counts: std::collections::BTreeMap<i32, i64> = counters.into_iter().collect();
    for (status, n) in excluded {
        *counts.entry(status).or_default() -= n;
    }
    counts.into_iter().filter(|(_, n)| *n > 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dialect that shows what the shared part decides.
    struct Plain;

    impl Dialect for Plain {
        fn placeholder(&self, n: usize) -> String {
            format!("${n}")
        }
        fn bytewise(&self, sql: &str) -> String {
            format!("{sql} BYTES")
        }
        fn among(&self, ids: &str) -> String {
            format!("run_id IN {ids}")
        }
        fn keyset(&self, beyond: &str, start: &str, run: &str) -> String {
            format!("(start_ms, run_id) {beyond} ({start}, {run})")
        }
    }

    #[test]
    fn a_page_binds_every_value_and_orders_by_the_keyset() {
        let query = ClosedQuery {
            namespace: "ns".into(),
            cond: Some(Cond::And(
                Box::new(Cond::Compare(
                    Column::WorkflowType,
                    Cmp::Eq,
                    Value::Text("T".into()),
                )),
                Box::new(Cond::Compare(Column::Status, Cmp::Ne, Value::Int(2))),
            )),
            exclude: vec!["x".into()],
            after: Some((5, "r".into())),
            ascending: false,
            limit: 10,
        };
        let statement = page(&Plain, &query);
        assert_eq!(
            statement.text,
            "SELECT run_id, closed_info FROM runs WHERE namespace = $1 AND closed_info IS NOT NULL \
             AND start_ms IS NOT NULL AND (workflow_type = $2 AND status <> $3) AND NOT (run_id IN $4) \
             AND (start_ms, run_id) < ($5, $6) ORDER BY start_ms DESC, run_id BYTES DESC LIMIT $7"
        );
        assert_eq!(
            statement.params,
            vec![
                Param::Text("ns".into()),
                Param::Text("T".into()),
                Param::Status(2),
                Param::Ids(vec!["x".into()]),
                Param::Int(5),
                Param::Text("r".into()),
                Param::Int(10),
            ]
        );
    }

    #[test]
    fn order_comparisons_on_text_are_bytewise_and_counts_group_by_status() {
        let query = ClosedQuery {
            namespace: "ns".into(),
            cond: Some(Cond::Between(
                Column::WorkflowId,
                Value::Text("a".into()),
                Value::Text("b".into()),
            )),
            ..ClosedQuery::default()
        };
        assert_eq!(
            count(&Plain, &query).text,
            "SELECT status, count(*) FROM runs WHERE namespace = $1 AND closed_info IS NOT NULL \
             AND start_ms IS NOT NULL AND (workflow_id BYTES BETWEEN ($2 BYTES) AND ($3 BYTES)) \
             GROUP BY status"
        );
        assert_eq!(
            subtract(vec![(2, 5), (3, 1)], vec![(2, 1), (3, 1)]),
            vec![(2, 4)]
        );
    }
}
