//! The SQLite store on a broken or full disk: a full disk is answered `ResourceExhausted`
//! saying so, loses nothing acknowledged, and the engine carries on when space returns
//! (tested on a 3 MiB tmpfs mounted for the test: it needs root, as CI and this machine
//! run); a file that is not an engine database stops the engine at start, naming the file,
//! and is left untouched.
//!
//! Engine-only: the Temporal dev server's answers to a full disk are its own (and its
//! SQLite is not ours to break), so there is no oracle to compare with.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use prost::Message;
use temporalio_common::protos::temporal::api::{
    common::v1::{Payload, Payloads, WorkflowExecution, WorkflowType},
    taskqueue::v1::TaskQueue,
    workflowservice::v1::{DescribeWorkflowExecutionRequest, StartWorkflowExecutionRequest},
};
use temporalio_protos::{
    google::rpc::Status as RpcStatus,
    temporal::api::{
        enums::v1::{ResourceExhaustedCause, ResourceExhaustedScope},
        errordetails::v1::ResourceExhaustedFailure,
    },
};
use tonic::Code;

use crate::harness::{self, TestEngine};

/// A size-limited tmpfs, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        match status {
            Ok(s) if s.success() => Self { dir },
            other => panic!(
                "cannot mount a {size} tmpfs at {} ({other:?}): this test fills a small filesystem and needs root (mount -t tmpfs), as CI runs; run it as root",
                dir.path().display()
            ),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes `path` until the filesystem is full.
fn fill(path: &Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).unwrap_or_else(|e| panic!("filler: {e}"));
    let chunk = vec![0u8; 16 * 1024];
    while file.write_all(&chunk).is_ok() {}
    let mut small = [0u8; 512];
    small.fill(1);
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
}

fn start_request(id: &str, request_id: &str) -> StartWorkflowExecutionRequest {
    StartWorkflowExecutionRequest {
        namespace: "default".into(),
        workflow_id: id.into(),
        workflow_type: Some(WorkflowType {
            name: "Echo".into(),
        }),
        task_queue: Some(TaskQueue {
            name: "disk-faults".into(),
            ..Default::default()
        }),
        request_id: request_id.into(),
        // 20 KB, as an order with a few lines might carry: the disk fills within tens of
        // starts.
        input: Some(Payloads {
            payloads: vec![Payload {
                metadata: [("encoding".to_owned(), b"binary/plain".to_vec())].into(),
                data: vec![7u8; 20 * 1024],
                ..Default::default()
            }],
        }),
        ..Default::default()
    }
}

/// The `ResourceExhaustedFailure` detail of `status`, if it has one.
fn exhausted_detail(status: &tonic::Status) -> Option<ResourceExhaustedFailure> {
    RpcStatus::decode(status.details())
        .ok()?
        .details
        .iter()
        .find(|d| {
            d.type_url
                .ends_with("/temporal.api.errordetails.v1.ResourceExhaustedFailure")
        })
        .and_then(|d| ResourceExhaustedFailure::decode(d.value.as_slice()).ok())
}

fn describe(id: &str) -> tonic::Request<DescribeWorkflowExecutionRequest> {
    tonic::Request::new(DescribeWorkflowExecutionRequest {
        namespace: "default".into(),
        execution: Some(WorkflowExecution {
            workflow_id: id.into(),
            run_id: String::new(),
        }),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_said_loses_nothing_and_the_engine_carries_on_when_space_returns() {
    let disk = Tmpfs::mount("3m");
    let db = disk.path().join("engine.db");
    let t = TestEngine::start_with("disk-full", harness::options().with_database(&db)).await;
    let mut service = t.client.connection().workflow_service();
    for i in 0..3 {
        let id = format!("before-{i}");
        service
            .start_workflow_execution(tonic::Request::new(start_request(&id, &id)))
            .await
            .unwrap_or_else(|e| panic!("start {id} with room on the disk: {e}"));
    }

    let filler = disk.path().join("filler");
    fill(&filler);
    let mut acknowledged: Vec<String> = (0..3).map(|i| format!("before-{i}")).collect();
    let mut refused = None;
    for i in 0..500 {
        let id = format!("full-{i}");
        let began = Instant::now();
        match service
            .start_workflow_execution(tonic::Request::new(start_request(&id, &id)))
            .await
        {
            Ok(_) => acknowledged.push(id),
            Err(status) => {
                refused = Some((id, status, began.elapsed()));
                break;
            }
        }
    }
    let (refused_id, status, took) =
        refused.unwrap_or_else(|| panic!("500 starts fit on a full disk"));
    println!(
        "  disk full: {} starts acknowledged, {refused_id} refused after {took:.1?}: {}",
        acknowledged.len(),
        status.message()
    );
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(
        status.message().contains("disk") && status.message().contains("full"),
        "the message says the disk is full: {status:?}"
    );
    // The detail the real server sends when its store's disk guard refuses a write.
    assert_eq!(
        exhausted_detail(&status),
        Some(ResourceExhaustedFailure {
            cause: ResourceExhaustedCause::PersistenceStorageLimit as i32,
            scope: ResourceExhaustedScope::System as i32,
        }),
        "{status:?}"
    );
    // The start that meets the full disk is told at once (not when the client gives up):
    // the change stays queued and is written once there is room.
    assert!(
        took < Duration::from_secs(2),
        "the first start on a full disk waited {took:?}"
    );
    // The next write is refused at once now that the engine knows, and reads still work.
    let quick = Instant::now();
    let again = service
        .start_workflow_execution(tonic::Request::new(start_request(
            "while-full",
            "while-full",
        )))
        .await
        .expect_err("still full");
    assert_eq!(again.code(), Code::ResourceExhausted, "{again:?}");
    assert!(
        quick.elapsed() < Duration::from_secs(3),
        "{:?}",
        quick.elapsed()
    );
    service
        .describe_workflow_execution(describe("before-0"))
        .await
        .unwrap_or_else(|e| panic!("a read with the disk full: {e}"));

    std::fs::remove_file(&filler).unwrap_or_else(|e| panic!("remove the filler: {e}"));
    // Space is back: the same start (same request id) is answered, and new ones work.
    harness::eventually(Duration::from_secs(20), || {
        let mut service = service.clone();
        let id = refused_id.clone();
        async move {
            service
                .start_workflow_execution(tonic::Request::new(start_request(&id, &id)))
                .await
                .is_ok()
        }
    })
    .await;
    service
        .start_workflow_execution(tonic::Request::new(start_request("after", "after")))
        .await
        .unwrap_or_else(|e| panic!("a start once space is back: {e}"));
    acknowledged.extend([refused_id, "after".to_owned()]);
    t.shutdown().await;

    // A restart finds every acknowledged start.
    let t = TestEngine::start_with("disk-full", harness::options().with_database(&db)).await;
    let mut service = t.client.connection().workflow_service();
    for id in &acknowledged {
        service
            .describe_workflow_execution(describe(id))
            .await
            .unwrap_or_else(|e| panic!("{id} was acknowledged but is gone after a restart: {e}"));
    }
    t.shutdown().await;
}

/// Runs the engine binary on `db` and returns its exit code and what it printed.
fn engine_on(db: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_workflow-engine"))
        .args(["--port", "0", "--log-level", "warn", "--db-filename"])
        .arg(db)
        .output()
        .unwrap_or_else(|e| panic!("run workflow-engine: {e}"));
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

#[test]
fn a_database_that_is_not_ours_or_not_sqlite_stops_the_engine_untouched() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let garbage: PathBuf = dir.path().join("garbage.db");
    let bytes: Vec<u8> = (0..8192u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::write(&garbage, &bytes).unwrap_or_else(|e| panic!("write: {e}"));
    let foreign = dir.path().join("inventory.db");
    {
        let conn = rusqlite::Connection::open(&foreign).unwrap_or_else(|e| panic!("open: {e}"));
        conn.execute_batch(
            "CREATE TABLE items (sku TEXT PRIMARY KEY); INSERT INTO items VALUES ('a1');",
        )
        .unwrap_or_else(|e| panic!("foreign schema: {e}"));
    }
    let foreign_before = std::fs::read(&foreign).unwrap_or_else(|e| panic!("read: {e}"));
    for (path, says, before) in [
        (
            &garbage,
            "not a SQLite database or is damaged",
            bytes.clone(),
        ),
        (&foreign, "not an engine database", foreign_before),
    ] {
        let (code, out) = engine_on(path);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains(&path.display().to_string()) && out.contains(says),
            "{out}"
        );
        let after = std::fs::read(path).unwrap_or_else(|e| panic!("read: {e}"));
        assert!(after == before, "{} was changed", path.display());
    }
}
