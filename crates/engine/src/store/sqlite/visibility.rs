//! Visibility in SQL on SQLite: the shared lowering ([`crate::store::sql`]) in SQLite's
//! dialect. Text columns use SQLite's default `BINARY` collation, which is byte-wise like
//! the engine's order; run ids are bound as one JSON array read with `json_each`; the
//! keyset is spelled as a range on `start_ms` so that the index serves it.

use rusqlite::{Connection, types::Value};

use crate::store::{
    ClosedInfo, StoreError,
    sql::{self, Dialect, Param, Statement},
    visibility::ClosedQuery,
};

struct Sqlite;

impl Dialect for Sqlite {
    fn placeholder(&self, n: usize) -> String {
        format!("?{n}")
    }
    fn bytewise(&self, sql: &str) -> String {
        sql.to_owned()
    }
    fn among(&self, ids: &str) -> String {
        format!("run_id IN (SELECT value FROM json_each({ids}))")
    }
    fn keyset(&self, beyond: &str, start: &str, run: &str) -> String {
        format!(
            "start_ms {beyond}= {start} AND (start_ms {beyond} {start} OR run_id {beyond} {run})"
        )
    }
}

fn params(statement: &Statement) -> Vec<Value> {
    statement
        .params
        .iter()
        .map(|p| match p {
            Param::Text(v) => Value::Text(v.clone()),
            Param::Int(v) => Value::Integer(*v),
            Param::Status(v) => Value::Integer(i64::from(*v)),
            Param::Ids(v) => Value::Text(serde_json::Value::from(v.clone()).to_string()),
        })
        .collect()
}

fn pairs(conn: &Connection, statement: &Statement) -> Result<Vec<(i32, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(&statement.text)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params(statement)), |row| {
        Ok((row.get(0)?, row.get(1)?))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// One page of closed runs in the query's order.
pub(super) fn query_closed(
    conn: &Connection,
    query: &ClosedQuery,
) -> Result<Vec<ClosedInfo>, StoreError> {
    let statement = sql::page(&Sqlite, query);
    let mut stmt = conn.prepare_cached(&statement.text)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(params(&statement)), |row| {
        Ok(ClosedInfo {
            run_id: row.get(0)?,
            info: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

/// (status, count) of the closed runs the query matches: without a condition from
/// `closed_counts`, less the excluded runs; otherwise by scanning the matching rows.
pub(super) fn count_closed(
    conn: &Connection,
    query: &ClosedQuery,
) -> Result<Vec<(i32, i64)>, StoreError> {
    if query.cond.is_some() {
        return pairs(conn, &sql::count(&Sqlite, query));
    }
    let counters = pairs(conn, &sql::counters(&Sqlite, &query.namespace))?;
    let excluded = if query.exclude.is_empty() {
        Vec::new()
    } else {
        pairs(
            conn,
            &sql::excluded(&Sqlite, &query.namespace, &query.exclude),
        )?
    };
    Ok(sql::subtract(counters, excluded))
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use temporalio_protos::temporal::api::{
        common::v1::{WorkflowExecution, WorkflowType},
        workflow::v1::WorkflowExecutionInfo,
    };

    use super::*;
    use crate::store::{
        Store,
        conformance::remove_database,
        sqlite::{SqliteStore, schema::MIGRATIONS},
        visibility::{Cmp, Column, Cond, Value},
    };

    fn info(run_id: &str, start_s: i64) -> Vec<u8> {
        WorkflowExecutionInfo {
            execution: Some(WorkflowExecution {
                workflow_id: format!("wf-{run_id}"),
                run_id: run_id.into(),
            }),
            r#type: Some(WorkflowType { name: "T".into() }),
            status: 2,
            start_time: Some(prost_wkt_types::Timestamp {
                seconds: start_s,
                nanos: 0,
            }),
            close_time: Some(prost_wkt_types::Timestamp {
                seconds: start_s + 1,
                nanos: 0,
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    fn temp_path(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("engine-{name}-{}.db", uuid::Uuid::new_v4()))
    }

    #[test]
    fn closed_runs_of_a_version_4_database_are_filled_in_listed_and_counted() {
        let path = temp_path("v4");
        {
            let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
            for sql in &MIGRATIONS[..4] {
                conn.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("old schema: {e}"));
            }
            conn.pragma_update(None, "user_version", 4)
                .unwrap_or_else(|e| panic!("version: {e}"));
            for (run_id, start) in [("old1", 10), ("old2", 20)] {
                conn.execute(
                    "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info)
                     VALUES (?1, 'default', ?2, '{}', x'', ?3)",
                    rusqlite::params![run_id, format!("wf-{run_id}"), info(run_id, start)],
                )
                .unwrap_or_else(|e| panic!("insert: {e}"));
            }
        }
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("migrate: {e}"));
        let query = ClosedQuery {
            namespace: "default".into(),
            limit: 10,
            ..ClosedQuery::default()
        };
        let listed = store
            .query_closed(&query)
            .ok()
            .flatten()
            .unwrap_or_default();
        let ids: Vec<&str> = listed.iter().map(|i| i.run_id.as_str()).collect();
        assert_eq!(ids, ["old2", "old1"]);
        assert_eq!(
            store.count_closed(&query).ok().flatten(),
            Some(vec![(2, 2)])
        );
        drop(store);
        remove_database(&path);
    }

    /// The plan SQLite chooses for a statement, one line per step.
    fn plan(conn: &Connection, statement: &Statement) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {}", statement.text))
            .unwrap_or_else(|e| panic!("explain: {e}"));
        stmt.query_map(rusqlite::params_from_iter(params(statement)), |row| {
            row.get::<_, String>(3)
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .unwrap_or_else(|e| panic!("explain: {e}"))
        .join("\n")
    }

    /// What keeps a page's cost flat: every page reads an index in the list order, so it
    /// stops after the page instead of sorting every closed run.
    #[test]
    fn pages_read_an_index_in_order_instead_of_sorting() {
        let path = temp_path("plans");
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let conn = Connection::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        let text = |column, v: &str| Cond::Compare(column, Cmp::Eq, Value::Text(v.into()));
        let status = Cond::Compare(Column::Status, Cmp::Eq, Value::Int(2));
        let conds = [
            None,
            Some(text(Column::WorkflowType, "T")),
            Some(status.clone()),
            Some(Cond::And(
                Box::new(text(Column::WorkflowType, "T")),
                Box::new(status),
            )),
        ];
        for cond in conds {
            for after in [None, Some((5, "r".to_owned()))] {
                let query = ClosedQuery {
                    namespace: "default".into(),
                    cond: cond.clone(),
                    after,
                    exclude: vec!["x".into()],
                    limit: 100,
                    ..ClosedQuery::default()
                };
                let plan = plan(&conn, &sql::page(&Sqlite, &query));
                assert!(plan.contains("INDEX runs_closed_by_"), "{cond:?}: {plan}");
                assert!(!plan.contains("TEMP B-TREE"), "{cond:?}: {plan}");
            }
        }
        let counters = plan(&conn, &sql::counters(&Sqlite, "default"));
        assert!(counters.contains("PRIMARY KEY"), "{counters}");
        drop(store);
        remove_database(&path);
    }
}
