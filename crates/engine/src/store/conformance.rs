//! The same checks against every backend: runs, events, schedules and settings written and
//! read back, and visibility (list, count, paging) in `conformance/visibility.rs`.

use super::*;

pub(in crate::store) mod visibility;

/// Deletes a test database with its WAL and shared-memory files.
pub(crate) fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

fn run_write(run_id: &str, state: &str, events: &[(i64, &[u8])]) -> RunWrite {
    RunWrite {
        record: RunRecord {
            run_id: run_id.into(),
            namespace: "default".into(),
            workflow_id: format!("wf-{run_id}"),
            state: state.into(),
            buffered: vec![7],
            closed_info: None,
        },
        new_events: events.iter().map(|(id, b)| (*id, b.to_vec())).collect(),
    }
}

fn schedule_write(id: &str, record: Option<&str>) -> ScheduleWrite {
    ScheduleWrite {
        namespace: "default".into(),
        schedule_id: id.into(),
        record: record.map(str::to_owned),
    }
}

async fn load(store: &dyn Store) -> Snapshot {
    match store.load().await {
        Ok(Ok(snapshot)) => snapshot,
        _ => panic!("load failed"),
    }
}

async fn check(store: &dyn Store) {
    let batch = Batch {
        namespaces: vec![("default".into(), "{}".into())],
        runs: vec![run_write("a", "s1", &[(1, b"e1"), (2, b"e2")])],
        settings: vec![("k".into(), "1".into())],
        schedules: vec![
            schedule_write("s1", Some("one")),
            schedule_write("s2", Some("two")),
        ],
        ..Batch::default()
    };
    commit(store, batch).await;
    let second = Batch {
        namespaces: vec![],
        runs: vec![
            run_write("a", "s2", &[(3, b"e3")]),
            run_write("b", "t1", &[(1, b"f1")]),
        ],
        settings: vec![("k".into(), "2".into())],
        schedules: vec![
            schedule_write("s1", Some("uno")),
            schedule_write("s2", None),
        ],
        ..Batch::default()
    };
    commit(store, second).await;
    let snapshot = load(store).await;
    assert_eq!(
        snapshot.namespaces.get("default").map(String::as_str),
        Some("{}")
    );
    assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
    assert_eq!(
        snapshot.schedules,
        vec![("default".into(), "s1".into(), "uno".into())],
        "s1 replaced, s2 deleted"
    );
    let mut runs = snapshot.runs;
    runs.sort_by(|x, y| x.record.run_id.cmp(&y.record.run_id));
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].record.state, "s2");
    assert_eq!(runs[0].record.buffered, vec![7]);
    assert_eq!(
        runs[0].events,
        vec![b"e1".to_vec(), b"e2".to_vec(), b"e3".to_vec()]
    );
    assert_eq!(runs[1].events, vec![b"f1".to_vec()]);

    // Closing "a" and starting its successor under the same workflow id: "a" leaves the
    // snapshot but stays readable, and the newest run of the id is the successor.
    let mut closed = run_write("a", "s3", &[(4, b"e4")]);
    closed.record.closed_info = Some(b"info-a".to_vec());
    let mut successor = run_write("c", "u1", &[(1, b"g1")]);
    successor.record.workflow_id = "wf-a".into();
    let third = Batch {
        namespaces: vec![],
        runs: vec![closed, successor],
        ..Batch::default()
    };
    commit(store, third).await;
    let open: Vec<String> = load(store)
        .await
        .runs
        .into_iter()
        .map(|r| r.record.run_id)
        .collect();
    assert!(
        !open.contains(&"a".to_owned()),
        "closed run loaded: {open:?}"
    );
    let a = store
        .read_run("a")
        .unwrap_or_else(|e| panic!("read: {e}"))
        .unwrap_or_else(|| panic!("closed run a not readable"));
    assert_eq!(a.record.state, "s3");
    assert_eq!(a.events.len(), 4);
    assert_eq!(
        store
            .latest_run("default", "wf-a")
            .ok()
            .flatten()
            .as_deref(),
        Some("c")
    );
    assert_eq!(store.latest_run("default", "nope").ok().flatten(), None);
    assert_eq!(
        store.read_run("nope").ok().flatten().map(|r| r.events),
        None
    );
    let infos = store
        .closed_infos("default")
        .unwrap_or_else(|e| panic!("closed infos: {e}"));
    assert_eq!(
        infos,
        vec![ClosedInfo {
            run_id: "a".into(),
            info: b"info-a".to_vec()
        }]
    );
    assert!(store.closed_infos("other").is_ok_and(|v| v.is_empty()));
}

async fn commit(store: &dyn Store, batch: Batch) {
    store
        .commit(batch)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("commit"));
}

/// A closed run's prost-encoded visibility record, closed at `close_ms`.
fn closed_at(close_ms: i64) -> Vec<u8> {
    use prost::Message;
    use temporalio_protos::temporal::api::workflow::v1::WorkflowExecutionInfo;
    WorkflowExecutionInfo {
        status: 2,
        start_time: Some(crate::time::timestamp(close_ms - 10)),
        close_time: Some(crate::time::timestamp(close_ms)),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Expiry by close time, deleting runs, and deleting a namespace with everything in it,
/// each in one batch; after [`check`].
async fn check_deletion(store: &dyn Store) {
    let mut runs = Vec::new();
    for (run_id, close_ms) in [("ret-x1", 1_000), ("ret-x2", 3_000), ("ret-x3", 2_000)] {
        let mut write = run_write(run_id, "closed", &[(1, b"e1"), (2, b"e2")]);
        write.record.closed_info = Some(closed_at(close_ms));
        write.record.namespace = "ret".into();
        runs.push(write);
    }
    let mut elsewhere = run_write("ret-y1", "closed", &[(1, b"e1")]);
    elsewhere.record.namespace = "ret-other".into();
    elsewhere.record.closed_info = Some(closed_at(500));
    runs.push(elsewhere);
    let mut open_elsewhere = run_write("ret-y2", "open", &[(1, b"e1")]);
    open_elsewhere.record.namespace = "ret-other".into();
    runs.push(open_elsewhere);
    commit(
        store,
        Batch {
            namespaces: vec![("ret-other".into(), "{}".into())],
            runs,
            schedules: vec![ScheduleWrite {
                namespace: "ret-other".into(),
                schedule_id: "s".into(),
                record: Some("r".into()),
            }],
            ..Batch::default()
        },
    )
    .await;
    let expired = |before, limit| {
        store
            .expired("ret", i64::MIN..before, limit)
            .unwrap_or_else(|e| panic!("expired: {e}"))
    };
    assert_eq!(
        expired(2_500, 10),
        vec!["ret-x1", "ret-x3"],
        "oldest first, open runs never"
    );
    assert_eq!(
        expired(10_000, 2),
        vec!["ret-x1", "ret-x3"],
        "at most the limit"
    );
    assert!(expired(1_000, 10).is_empty(), "strictly before");
    assert_eq!(
        store
            .expired("ret", 2_000..3_001, 10)
            .unwrap_or_else(|e| panic!("expired: {e}")),
        vec!["ret-x3", "ret-x2"],
        "closed from the start of the range on (a retention in force since then)"
    );

    commit(
        store,
        Batch {
            deleted_runs: vec!["ret-x1".into(), "ret-x3".into()],
            ..Batch::default()
        },
    )
    .await;
    for gone in ["ret-x1", "ret-x3"] {
        assert!(
            store.read_run(gone).is_ok_and(|r| r.is_none()),
            "{gone} kept"
        );
        assert!(
            store
                .latest_run("ret", &format!("wf-{gone}"))
                .is_ok_and(|r| r.is_none())
        );
    }
    assert_eq!(expired(10_000, 10), vec!["ret-x2"]);
    let listed = store
        .closed_infos("ret")
        .unwrap_or_else(|e| panic!("closed infos: {e}"));
    assert!(
        !listed
            .iter()
            .any(|c| c.run_id == "ret-x1" || c.run_id == "ret-x3"),
        "a deleted run is still listed"
    );

    commit(
        store,
        Batch {
            deleted_namespaces: vec!["ret-other".into()],
            ..Batch::default()
        },
    )
    .await;
    let snapshot = load(store).await;
    assert!(!snapshot.namespaces.contains_key("ret-other"));
    assert!(snapshot.schedules.iter().all(|s| s.0 != "ret-other"));
    assert!(
        snapshot
            .runs
            .iter()
            .all(|r| r.record.namespace != "ret-other")
    );
    for gone in ["ret-y1", "ret-y2"] {
        assert!(
            store.read_run(gone).is_ok_and(|r| r.is_none()),
            "{gone} kept"
        );
    }
    assert!(store.closed_infos("ret-other").is_ok_and(|v| v.is_empty()));
    assert!(
        store.read_run("ret-x2").is_ok_and(|r| r.is_some()),
        "other namespaces stay"
    );

    // The name can be used again at once, even in the same group of commits.
    let deleted = store.commit(Batch {
        namespaces: vec![("again".into(), "1".into())],
        ..Batch::default()
    });
    let gone = store.commit(Batch {
        deleted_namespaces: vec!["again".into()],
        ..Batch::default()
    });
    let back = store.commit(Batch {
        namespaces: vec![("again".into(), "2".into())],
        ..Batch::default()
    });
    for commit in [deleted, gone, back] {
        assert!(commit.await.is_ok_and(|r| r.is_ok()));
    }
    assert_eq!(
        load(store)
            .await
            .namespaces
            .get("again")
            .map(String::as_str),
        Some("2")
    );
}

#[tokio::test]
async fn memory_store() {
    let store = MemoryStore::default();
    check(&store).await;
    visibility::check(&store).await;
    check_deletion(&store).await;
}

#[tokio::test]
async fn postgres_store_survives_reopen() {
    let server = workflow_testkit::PostgresServer::start();
    let url = server.create_database("conformance");
    {
        let store = PostgresStore::open(&url, std::time::Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("open: {e}"));
        check(&store).await;
        visibility::check(&store).await;
        check_deletion(&store).await;
    }
    let reopened = PostgresStore::open(&url, std::time::Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("reopen: {e}"));
    let snapshot = load(&reopened).await;
    assert_eq!(snapshot.runs.len(), 2, "b and c are open");
    assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
    assert!(reopened.read_run("a").is_ok_and(|r| r.is_some()));
    visibility::check_reopened(&reopened);
}

#[tokio::test]
async fn sqlite_store_survives_reopen() {
    let path = std::env::temp_dir().join(format!("engine-store-{}.db", uuid::Uuid::new_v4()));
    {
        let store = SqliteStore::open(&path).unwrap_or_else(|e| panic!("open: {e}"));
        check(&store).await;
        visibility::check(&store).await;
        check_deletion(&store).await;
    }
    let reopened = SqliteStore::open(&path).unwrap_or_else(|e| panic!("reopen: {e}"));
    match SqliteStore::open(&path) {
        Err(e @ StoreError::FileInUse { .. }) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        }
        other => panic!("a second store opened the same file: {other:?}"),
    }
    let snapshot = load(&reopened).await;
    assert_eq!(snapshot.runs.len(), 2, "b and c are open");
    assert_eq!(snapshot.settings.get("k").map(String::as_str), Some("2"));
    assert!(reopened.read_run("a").is_ok_and(|r| r.is_some()));
    visibility::check_reopened(&reopened);
    drop(reopened);
    remove_database(&path);
}
