//! Visibility in SQL on PostgreSQL: the shared lowering ([`crate::store::sql`]) in
//! PostgreSQL's dialect. Text compares byte-wise (`COLLATE "C"`), as the engine does in
//! memory, so pages merge in one order; run ids are bound as one `text[]`.

use postgres::{Client, types::ToSql};

use crate::store::{
    ClosedInfo,
    sql::{self, Dialect, Param, Statement},
    visibility::ClosedQuery,
};

struct Postgres;

impl Dialect for Postgres {
    fn placeholder(&self, n: usize) -> String {
        format!("${n}")
    }
    fn bytewise(&self, sql: &str) -> String {
        format!("{sql} COLLATE \"C\"")
    }
    fn among(&self, ids: &str) -> String {
        format!("run_id = ANY({ids})")
    }
    fn keyset(&self, beyond: &str, start: &str, run: &str) -> String {
        format!("(start_ms, run_id COLLATE \"C\") {beyond} ({start}, {run} COLLATE \"C\")")
    }
}

fn params(statement: &Statement) -> Vec<Box<dyn ToSql + Sync>> {
    statement
        .params
        .iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Param::Text(v) => Box::new(v.clone()),
                Param::Int(v) => Box::new(*v),
                Param::Status(v) => Box::new(*v),
                Param::Ids(v) => Box::new(v.clone()),
            }
        })
        .collect()
}

fn query(
    client: &mut Client,
    statement: &Statement,
) -> Result<Vec<postgres::Row>, postgres::Error> {
    let owned = params(statement);
    let refs: Vec<&(dyn ToSql + Sync)> = owned.iter().map(AsRef::as_ref).collect();
    client.query(&statement.text, &refs)
}

/// One page of closed runs in the query's order.
pub(super) fn query_closed(
    client: &mut Client,
    query_: &ClosedQuery,
) -> Result<Vec<ClosedInfo>, postgres::Error> {
    Ok(query(client, &sql::page(&Postgres, query_))?
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
    query_: &ClosedQuery,
) -> Result<Vec<(i32, i64)>, postgres::Error> {
    let pairs = |rows: Vec<postgres::Row>| -> Vec<(i32, i64)> {
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    };
    if query_.cond.is_some() {
        return Ok(pairs(query(client, &sql::count(&Postgres, query_))?));
    }
    let counters = pairs(query(client, &sql::counters(&Postgres, &query_.namespace))?);
    let excluded = if query_.exclude.is_empty() {
        Vec::new()
    } else {
        pairs(query(
            client,
            &sql::excluded(&Postgres, &query_.namespace, &query_.exclude),
        )?)
    };
    Ok(sql::subtract(counters, excluded))
}
