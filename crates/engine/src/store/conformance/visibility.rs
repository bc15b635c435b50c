//! Visibility on every store: closed runs filtered, ordered (start time then run id, newest
//! first unless ascending), paged with a keyset, counted by status with and without a
//! condition, runs in memory left out, open runs and other namespaces never listed, and a
//! closed run written again counted once.

use prost::Message;
use temporalio_protos::temporal::api::{
    common::v1::{WorkflowExecution, WorkflowType},
    workflow::v1::WorkflowExecutionInfo,
};

use crate::time::timestamp;

use super::super::{
    Batch, ClosedInfo, RunRecord, RunWrite, Store,
    visibility::{ClosedQuery, Cmp, Column, Cond, Value},
};

/// The namespace these checks write to, apart from the other checks' runs.
const NS: &str = "visibility";

const COMPLETED: i32 = 2;
const FAILED: i32 = 3;
const TERMINATED: i32 = 5;

fn record(run_id: &str, namespace: &str) -> RunRecord {
    RunRecord {
        run_id: run_id.into(),
        namespace: namespace.into(),
        workflow_id: format!("wf-{run_id}"),
        state: "{}".into(),
        buffered: Vec::new(),
        closed_info: None,
    }
}

/// A closed run with a real visibility record, closed 500 ms after it started.
fn closed(run_id: &str, workflow_type: &str, start_ms: i64, status: i32) -> RunWrite {
    closed_in(NS, run_id, workflow_type, start_ms, status)
}

fn closed_in(
    namespace: &str,
    run_id: &str,
    workflow_type: &str,
    start_ms: i64,
    status: i32,
) -> RunWrite {
    let mut record = record(run_id, namespace);
    record.closed_info = Some(closed_info(run_id, workflow_type, start_ms, 500, status));
    RunWrite {
        record,
        new_events: vec![(1, b"e".to_vec())],
    }
}

/// The visibility record of run `run_id` (workflow `wf-{run_id}`), closed with `status`
/// `took_ms` after it started at `start_ms`, as a store keeps it.
pub(in crate::store) fn closed_info(
    run_id: &str,
    workflow_type: &str,
    start_ms: i64,
    took_ms: i64,
    status: i32,
) -> Vec<u8> {
    WorkflowExecutionInfo {
        execution: Some(WorkflowExecution {
            workflow_id: format!("wf-{run_id}"),
            run_id: run_id.into(),
        }),
        r#type: Some(WorkflowType {
            name: workflow_type.into(),
        }),
        status,
        start_time: Some(timestamp(start_ms)),
        close_time: Some(timestamp(start_ms + took_ms)),
        ..Default::default()
    }
    .encode_to_vec()
}

fn open(run_id: &str) -> RunWrite {
    RunWrite {
        record: record(run_id, NS),
        new_events: vec![(1, b"e".to_vec())],
    }
}

async fn commit(store: &dyn Store, runs: Vec<RunWrite>) {
    let batch = Batch {
        runs,
        ..Batch::default()
    };
    assert!(
        matches!(store.commit(batch).await, Ok(Ok(()))),
        "commit failed"
    );
}

fn query(cond: Option<Cond>) -> ClosedQuery {
    ClosedQuery {
        namespace: NS.into(),
        cond,
        limit: 100,
        ..ClosedQuery::default()
    }
}

fn ids(infos: &[ClosedInfo]) -> Vec<&str> {
    infos.iter().map(|i| i.run_id.as_str()).collect()
}

fn page(store: &dyn Store, q: &ClosedQuery) -> Vec<ClosedInfo> {
    store
        .query_closed(q)
        .unwrap_or_else(|e| panic!("query: {e:?}"))
        .unwrap_or_else(|| panic!("every store filters closed runs itself"))
}

fn listed(store: &dyn Store, cond: Option<Cond>) -> Vec<String> {
    ids(&page(store, &query(cond)))
        .into_iter()
        .map(str::to_owned)
        .collect()
}

fn counted(store: &dyn Store, q: &ClosedQuery) -> Vec<(i32, i64)> {
    let mut counts = store
        .count_closed(q)
        .unwrap_or_else(|e| panic!("count: {e}"))
        .unwrap_or_else(|| panic!("every store counts closed runs itself"));
    counts.sort_unstable();
    counts
}

/// Every page of `q`, `size` at a time, following the keyset of each page's last run.
fn all_pages(store: &dyn Store, mut q: ClosedQuery, size: usize) -> Vec<String> {
    q.limit = size;
    let mut seen = Vec::new();
    loop {
        let rows = page(store, &q);
        assert!(rows.len() <= size, "a page longer than asked for");
        let Some(last) = rows.last() else {
            return seen;
        };
        let info = WorkflowExecutionInfo::decode(last.info.as_slice())
            .unwrap_or_else(|e| panic!("record: {e}"));
        let start = info.start_time.map_or(0, |t| t.seconds * 1000);
        q.after = Some((start, last.run_id.clone()));
        seen.extend(rows.into_iter().map(|r| r.run_id));
        assert!(seen.len() < 100, "paging does not end");
    }
}

fn text(column: Column, cmp: Cmp, value: &str) -> Cond {
    Cond::Compare(column, cmp, Value::Text(value.into()))
}

fn int(column: Column, cmp: Cmp, value: i64) -> Cond {
    Cond::Compare(column, cmp, Value::Int(value))
}

fn and(a: Cond, b: Cond) -> Cond {
    Cond::And(Box::new(a), Box::new(b))
}

fn or(a: Cond, b: Cond) -> Cond {
    Cond::Or(Box::new(a), Box::new(b))
}

pub(super) async fn check(store: &dyn Store) {
    commit(
        store,
        vec![
            closed("r1", "A", 1000, COMPLETED),
            closed("r2", "B", 2000, COMPLETED),
            closed("r3", "A", 3000, FAILED),
            closed("r4", "A", 3000, COMPLETED),
            open("o1"),
            closed_in("elsewhere", "x1", "A", 9000, COMPLETED),
        ],
    )
    .await;
    commit(store, vec![closed("r5", "B", 4000, TERMINATED)]).await;

    // Newest first, the run id breaking the tie; open runs and other namespaces left out.
    assert_eq!(listed(store, None), ["r5", "r4", "r3", "r2", "r1"]);
    let mut ascending = query(None);
    ascending.ascending = true;
    assert_eq!(
        ids(&page(store, &ascending)),
        ["r1", "r2", "r3", "r4", "r5"]
    );

    // Pages of two follow on without a repeat or a gap, both ways.
    assert_eq!(
        all_pages(store, query(None), 2),
        ["r5", "r4", "r3", "r2", "r1"]
    );
    assert_eq!(
        all_pages(store, ascending, 2),
        ["r1", "r2", "r3", "r4", "r5"]
    );
    let type_a = text(Column::WorkflowType, Cmp::Eq, "A");
    assert_eq!(
        all_pages(store, query(Some(type_a.clone())), 1),
        ["r4", "r3", "r1"]
    );

    // Conditions on each column.
    assert_eq!(listed(store, Some(type_a.clone())), ["r4", "r3", "r1"]);
    assert_eq!(
        listed(store, Some(text(Column::WorkflowType, Cmp::Ne, "A"))),
        ["r5", "r2"]
    );
    assert_eq!(
        listed(store, Some(int(Column::Status, Cmp::Eq, i64::from(FAILED)))),
        ["r3"]
    );
    assert_eq!(
        listed(
            store,
            Some(and(
                type_a.clone(),
                int(Column::Status, Cmp::Ne, i64::from(FAILED))
            ))
        ),
        ["r4", "r1"]
    );
    assert_eq!(
        listed(
            store,
            Some(or(
                Cond::Between(Column::StartMs, Value::Int(1500), Value::Int(2500)),
                int(Column::Status, Cmp::Eq, i64::from(TERMINATED)),
            ))
        ),
        ["r5", "r2"]
    );
    assert_eq!(
        listed(store, Some(int(Column::CloseMs, Cmp::Ge, 3500))),
        ["r5", "r4", "r3"]
    );
    assert_eq!(
        listed(store, Some(int(Column::StartMs, Cmp::Lt, 2000))),
        ["r1"]
    );
    // Text orders byte-wise.
    assert_eq!(
        listed(store, Some(text(Column::WorkflowId, Cmp::Le, "wf-r2"))),
        ["r2", "r1"]
    );
    assert_eq!(
        listed(
            store,
            Some(Cond::Between(
                Column::WorkflowId,
                Value::Text("wf-r2".into()),
                Value::Text("wf-r3".into())
            ))
        ),
        ["r3", "r2"]
    );
    assert!(listed(store, Some(text(Column::WorkflowType, Cmp::Eq, "a"))).is_empty());

    // Runs the caller has in memory are left out of pages and counts.
    let mut without = query(None);
    without.exclude = vec!["r4".into(), "r1".into(), "o1".into()];
    assert_eq!(ids(&page(store, &without)), ["r5", "r3", "r2"]);
    assert_eq!(
        counted(store, &without),
        [(COMPLETED, 1), (FAILED, 1), (TERMINATED, 1)]
    );
    let mut a_without = query(Some(type_a.clone()));
    a_without.exclude = vec!["r4".into()];
    assert_eq!(counted(store, &a_without), [(COMPLETED, 1), (FAILED, 1)]);

    // Counts by status, with and without a condition.
    assert_eq!(
        counted(store, &query(None)),
        [(COMPLETED, 3), (FAILED, 1), (TERMINATED, 1)]
    );
    assert_eq!(
        counted(store, &query(Some(type_a.clone()))),
        [(COMPLETED, 2), (FAILED, 1)]
    );
    assert!(
        counted(
            store,
            &query(Some(text(Column::WorkflowType, Cmp::Eq, "none")))
        )
        .is_empty()
    );

    // A closed run written again (a replayed group) counts once; an open run that closes
    // counts from then on.
    commit(
        store,
        vec![closed("r1", "A", 1000, COMPLETED), {
            let mut o1 = closed("o1", "B", 5000, FAILED);
            o1.new_events = vec![(2, b"f".to_vec())];
            o1
        }],
    )
    .await;
    assert_eq!(
        counted(store, &query(None)),
        [(COMPLETED, 3), (FAILED, 2), (TERMINATED, 1)]
    );
    assert_eq!(listed(store, None), ["o1", "r5", "r4", "r3", "r2", "r1"]);

    let elsewhere = ClosedQuery {
        namespace: "elsewhere".into(),
        ..query(None)
    };
    assert_eq!(ids(&page(store, &elsewhere)), ["x1"]);
    assert_eq!(counted(store, &elsewhere), [(COMPLETED, 1)]);
    let nowhere = ClosedQuery {
        namespace: "nowhere".into(),
        ..query(None)
    };
    assert!(page(store, &nowhere).is_empty());
    assert!(counted(store, &nowhere).is_empty());
}

/// After a reopen: what [`check`] left is still listed and counted.
pub(super) fn check_reopened(store: &dyn Store) {
    assert_eq!(listed(store, None), ["o1", "r5", "r4", "r3", "r2", "r1"]);
    assert_eq!(
        counted(store, &query(None)),
        [(COMPLETED, 3), (FAILED, 2), (TERMINATED, 1)]
    );
}
