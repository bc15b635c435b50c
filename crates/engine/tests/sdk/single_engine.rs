//! The engine is not clustered, and says so: a second `workflow-engine` on a database that
//! another one is using exits 1 naming it, on SQLite and on PostgreSQL. Databases that
//! cannot be used at start (unreachable, wrong password, missing) exit 1 saying which,
//! without the password.

use std::{
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use workflow_testkit::{PostgresServer, binary_path, free_port};

/// Starts `workflow-engine` with `args` and waits until it serves (it says so once its
/// store is open; the port accepts connections before that).
fn serving(args: &[&str], logs: &std::path::Path) -> Child {
    let log = logs.join(format!("engine-{}.log", free_port()));
    let out = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
    let mut child = Command::new(binary_path("workflow-engine"))
        .args(["--port", &free_port().to_string(), "--log-level", "warn"])
        .args(args)
        .env_remove("WORKFLOW_ENGINE_DB_URL")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn workflow-engine: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).is_ok_and(|said| said.contains("listening on")) {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the first engine exited: {status}");
        }
        assert!(Instant::now() < deadline, "the first engine did not serve");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Runs `workflow-engine` with `args` to its exit (it must exit within `limit`).
fn exits(args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = Command::new(binary_path("workflow-engine"))
        .args(["--port", &free_port().to_string()])
        .args(args)
        .env_remove("WORKFLOW_ENGINE_DB_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn workflow-engine: {e}"));
    while child.try_wait().ok().flatten().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let output = child.wait_with_output();
            let said = output.map(|o| stderr(&o)).unwrap_or_default();
            panic!("workflow-engine {args:?} still running after {limit:?}: {said}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("wait: {e}"));
    (output, started.elapsed())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_second_engine_on_the_same_sqlite_file_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let file = dir.path().join("engine.db");
    let file = file.to_string_lossy();
    let first = serving(&["--db-filename", &file], dir.path());
    let (output, _) = exits(&["--db-filename", &file], Duration::from_secs(20));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(file.as_ref()), "{message}");
    assert!(message.contains("in use by another engine"), "{message}");
    stop(first);
    // Once the first is gone, the file is free again.
    stop(serving(&["--db-filename", &file], dir.path()));
}

#[test]
fn a_second_engine_on_the_same_postgres_database_exits_1_naming_it() {
    let server = PostgresServer::start();
    let url = server.create_database("shared");
    let logs = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let first = serving(&["--db-url", &url], logs.path());
    let (output, _) = exits(&["--db-url", &url], Duration::from_secs(20));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains(&format!(
            "postgres://postgres@127.0.0.1:{}/shared",
            server.port()
        )),
        "{message}"
    );
    assert!(message.contains("in use by another engine"), "{message}");
    assert!(!message.contains(PostgresServer::PASSWORD), "{message}");
    stop(first);
    stop(serving(&["--db-url", &url], logs.path()));
}

#[test]
fn postgres_that_cannot_be_used_at_start_exits_1_saying_why() {
    // Unreachable: retried for the bound, then the host is named.
    let port = free_port();
    let unreachable = format!("postgres://app:hunter2@127.0.0.1:{port}/engine");
    let (output, took) = exits(
        &["--db-url", &unreachable, "--db-connect-timeout", "2s"],
        Duration::from_secs(20),
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
    assert!(
        took >= Duration::from_millis(1500),
        "gave up after {took:?}"
    );

    let server = PostgresServer::start();
    let wrong = format!(
        "postgres://postgres:wrong-password@127.0.0.1:{}/postgres",
        server.port()
    );
    let (output, _) = exits(&["--db-url", &wrong], Duration::from_secs(20));
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("wrong password or user"), "{message}");
    assert!(!message.contains("wrong-password"), "{message}");

    let (output, _) = exits(
        &["--db-url", &server.url_for("missing")],
        Duration::from_secs(20),
    );
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("\"missing\" does not exist"), "{message}");
    assert!(!message.contains(PostgresServer::PASSWORD), "{message}");
}
