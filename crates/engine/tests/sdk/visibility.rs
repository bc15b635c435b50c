//! The visibility query language over gRPC: time ranges, OR, ORDER BY and keyset paging.

use std::time::{Duration, SystemTime};

use temporalio_client::{Client, WorkflowGetResultOptions, WorkflowStartOptions};
use temporalio_common::protos::temporal::api::workflowservice::v1::{
    ListWorkflowExecutionsRequest, ListWorkflowExecutionsResponse,
};
use workflow_engine::EngineOptions;

use crate::{
    harness::{self, TestEngine},
    workflows::Echo,
};

/// `at` as RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T10:00:00.123Z`.
fn rfc3339(at: SystemTime) -> String {
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let (days, ms_of_day) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s, milli) = (
        ms_of_day / 3_600_000,
        ms_of_day / 60_000 % 60,
        ms_of_day / 1000 % 60,
        ms_of_day % 1000,
    );
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z")
}

async fn list(
    client: &Client,
    query: &str,
    page_size: i32,
    token: Vec<u8>,
) -> (Vec<String>, Vec<u8>) {
    let mut service = client.connection().workflow_service();
    let page: ListWorkflowExecutionsResponse = service
        .list_workflow_executions(tonic::Request::new(ListWorkflowExecutionsRequest {
            namespace: "default".into(),
            query: query.into(),
            page_size,
            next_page_token: token,
        }))
        .await
        .unwrap_or_else(|e| panic!("list {query:?}: {e}"))
        .into_inner();
    let ids = page
        .executions
        .iter()
        .filter_map(|e| e.execution.as_ref().map(|x| x.workflow_id.clone()))
        .collect();
    (ids, page.next_page_token)
}

async fn ids(client: &Client, query: &str) -> Vec<String> {
    list(client, query, 0, Vec::new()).await.0
}

#[tokio::test]
async fn list_with_time_ranges_or_order_and_paging() {
    list_and_page(harness::options()).await;
}

/// The same, with every closed run read back from the SQLite file.
#[tokio::test]
async fn list_closed_runs_from_the_store() {
    let path = std::env::temp_dir().join(format!("engine-vis-{}.db", uuid::Uuid::new_v4()));
    list_and_page(
        harness::options()
            .with_database(&path)
            .with_closed_runs_in_memory(0),
    )
    .await;
    harness::remove_database(&path);
}

/// The same on PostgreSQL, where the store filters, orders and pages closed runs in SQL.
#[tokio::test]
async fn list_closed_runs_from_postgres() {
    let db = harness::TestDb::postgres();
    list_and_page(db.apply(harness::options()).with_closed_runs_in_memory(0)).await;
}

async fn list_and_page(options: EngineOptions) {
    let t = TestEngine::start_with("visibility", options).await;
    let mut worker = t.worker(|o| o.register_workflow::<Echo>());
    let run = |id: &'static str| {
        let client = t.client.clone();
        let queue = t.queue.clone();
        async move {
            let handle = client
                .start_workflow(
                    Echo::run,
                    id.to_owned(),
                    WorkflowStartOptions::new(&queue, id).build(),
                )
                .await
                .unwrap_or_else(|e| panic!("start {id}: {e}"));
            handle
                .get_result(WorkflowGetResultOptions::default())
                .await
                .unwrap_or_else(|e| panic!("result {id}: {e}"));
        }
    };
    let pause = || tokio::time::sleep(Duration::from_millis(30));
    let marks = harness::with_worker(&mut worker, Duration::from_secs(60), async {
        let t0 = SystemTime::now();
        pause().await;
        run("v-1").await;
        pause().await;
        let t1 = SystemTime::now();
        pause().await;
        run("v-2").await;
        pause().await;
        let t2 = SystemTime::now();
        pause().await;
        run("v-3").await;
        [t0, t1, t2].map(rfc3339)
    })
    .await;
    let [t0, t1, t2] = marks;
    assert_eq!(
        rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_209_800_250)),
        "2024-02-29T12:30:00.250Z"
    );

    assert_eq!(ids(&t.client, "").await, ["v-3", "v-2", "v-1"]);
    assert_eq!(
        ids(&t.client, "ORDER BY StartTime ASC").await,
        ["v-1", "v-2", "v-3"]
    );
    assert_eq!(
        ids(
            &t.client,
            &format!("StartTime > '{t1}' AND StartTime < '{t2}'")
        )
        .await,
        ["v-2"]
    );
    assert_eq!(
        ids(&t.client, &format!("StartTime BETWEEN '{t0}' AND '{t1}'")).await,
        ["v-1"]
    );
    assert_eq!(
        ids(
            &t.client,
            &format!("CloseTime >= '{t1}' ORDER BY StartTime ASC")
        )
        .await,
        ["v-2", "v-3"]
    );
    assert_eq!(
        ids(
            &t.client,
            &format!(
                "(WorkflowId = 'v-1' OR StartTime >= '{t2}') AND ExecutionStatus = 'Completed' \
                 ORDER BY StartTime DESC"
            )
        )
        .await,
        ["v-3", "v-1"]
    );
    assert_eq!(
        ids(&t.client, "WorkflowId != 'v-2' AND WorkflowType = 'Echo'").await,
        ["v-3", "v-1"]
    );

    // Keyset paging: a workflow started between pages does not shift the next page.
    let (first, token) = list(&t.client, "", 2, Vec::new()).await;
    assert_eq!(first, ["v-3", "v-2"]);
    assert!(!token.is_empty());
    t.client
        .start_workflow(
            Echo::run,
            "v-4".to_owned(),
            WorkflowStartOptions::new(&t.queue, "v-4").build(),
        )
        .await
        .unwrap_or_else(|e| panic!("start v-4: {e}"));
    let (second, token) = list(&t.client, "", 2, token).await;
    assert_eq!(second, ["v-1"]);
    assert!(token.is_empty());
    let (first, token) = list(&t.client, "ORDER BY StartTime ASC", 3, Vec::new()).await;
    assert_eq!(first, ["v-1", "v-2", "v-3"]);
    let (second, token) = list(&t.client, "ORDER BY StartTime ASC", 3, token).await;
    assert_eq!(second, ["v-4"]);
    assert!(token.is_empty());
    assert_eq!(
        ids(&t.client, "CloseTime >= '1970-01-01T00:00:00Z'")
            .await
            .len(),
        3
    );

    t.shutdown().await;
}
