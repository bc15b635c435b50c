//! Visibility in SQL: a [`ClosedQuery`] rendered as one statement over the indexed columns
//! of closed runs, paged with a keyset on (start time, run id). Text compares byte-wise
//! (`COLLATE "C"`), as the engine does in memory, so pages merge in one order.

use postgres::{Client, types::ToSql};

use crate::store::{
    ClosedInfo,
    visibility::{ClosedQuery, Cmp, Column, Cond, Value},
};

type Param = Box<dyn ToSql + Sync + Send>;

/// A statement being built, with its parameters.
#[derive(Default)]
struct Sql {
    params: Vec<Param>,
}

impl Sql {
    fn bind(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(value));
        format!("${}", self.params.len())
    }

    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }

    fn value(&mut self, column: Column, value: &Value) -> String {
        match (column, value) {
            (Column::Status, Value::Int(v)) => self.bind(i32::try_from(*v).unwrap_or(i32::MAX)),
            (_, Value::Int(v)) => self.bind(*v),
            (_, Value::Text(v)) => format!("{} COLLATE \"C\"", self.bind(v.clone())),
        }
    }

    fn cond(&mut self, cond: &Cond) -> String {
        match cond {
            Cond::And(a, b) => format!("({} AND {})", self.cond(a), self.cond(b)),
            Cond::Or(a, b) => format!("({} OR {})", self.cond(a), self.cond(b)),
            // Equality needs no collation (it is byte-wise anyway) and so can use the
            // indexes; order comparisons on text are byte-wise like the engine's.
            Cond::Compare(column, cmp @ (Cmp::Eq | Cmp::Ne), Value::Text(text)) => {
                let value = self.bind(text.clone());
                format!("{} {} {value}", plain(*column), symbol(*cmp))
            }
            Cond::Compare(column, cmp, value) => {
                let value = self.value(*column, value);
                format!("{} {} {value}", name(*column), symbol(*cmp))
            }
            Cond::Between(column, low, high) => {
                let low = self.value(*column, low);
                let high = self.value(*column, high);
                format!("({} BETWEEN {low} AND {high})", name(*column))
            }
        }
    }

    /// The conditions every query has: the namespace, closed, matching, not excluded.
    fn filter(&mut self, query: &ClosedQuery) -> String {
        let namespace = self.bind(query.namespace.clone());
        let mut sql =
            format!("namespace = {namespace} AND closed_info IS NOT NULL AND start_ms IS NOT NULL");
        if let Some(cond) = &query.cond {
            sql.push_str(&format!(" AND {}", self.cond(cond)));
        }
        if !query.exclude.is_empty() {
            let exclude = self.bind(query.exclude.clone());
            sql.push_str(&format!(" AND NOT (run_id = ANY({exclude}))"));
        }
        sql
    }
}

fn name(column: Column) -> &'static str {
    match column {
        Column::WorkflowId => "workflow_id COLLATE \"C\"",
        Column::WorkflowType => "workflow_type COLLATE \"C\"",
        Column::Status => "status",
        Column::StartMs => "start_ms",
        Column::CloseMs => "close_ms",
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

/// One page of closed runs in the query's order.
pub(super) fn query_closed(
    client: &mut Client,
    query: &ClosedQuery,
) -> Result<Vec<ClosedInfo>, postgres::Error> {
    let mut sql = Sql::default();
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
        let start = sql.bind(*start_ms);
        let run = sql.bind(run_id.clone());
        text.push_str(&format!(
            " AND (start_ms, run_id COLLATE \"C\") {beyond} ({start}, {run} COLLATE \"C\")"
        ));
    }
    let limit = sql.bind(i64::try_from(query.limit).unwrap_or(i64::MAX));
    text.push_str(&format!(
        " ORDER BY start_ms {direction}, run_id COLLATE \"C\" {direction} LIMIT {limit}"
    ));
    Ok(client
        .query(&text, &sql.params())?
        .iter()
        .map(|row| ClosedInfo {
            run_id: row.get(0),
            info: row.get(1),
        })
        .collect())
}

/// (status, count) of the closed runs the query matches: without a condition from
/// `closed_counts`, less the excluded runs; otherwise by scanning the matching rows.
pub(super) fn count_closed(
    client: &mut Client,
    query: &ClosedQuery,
) -> Result<Vec<(i32, i64)>, postgres::Error> {
    if query.cond.is_none() {
        let mut counts: std::collections::BTreeMap<i32, i64> = client
            .query(
                "SELECT status, count FROM closed_counts WHERE namespace = $1",
                &[&query.namespace],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        if !query.exclude.is_empty() {
            for row in client.query(
                "SELECT status, count(*) FROM runs
                 WHERE namespace = $1 AND run_id = ANY($2)
                   AND closed_info IS NOT NULL AND status IS NOT NULL
                 GROUP BY status",
                &[&query.namespace, &query.exclude],
            )? {
                *counts.entry(row.get(0)).or_default() -= row.get::<_, i64>(1);
            }
        }
        return Ok(counts.into_iter().filter(|(_, n)| *n > 0).collect());
    }
    let mut sql = Sql::default();
    let text = format!(
        "SELECT status, count(*) FROM runs WHERE {} GROUP BY status",
        sql.filter(query)
    );
    Ok(client
        .query(&text, &sql.params())?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect())
}
