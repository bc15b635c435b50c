//! Dynamic config that changes what a client sees: `--dynamic-config-value` on the server's
//! command line.

use workflow::StartOptions;

use super::workflows::Suggested;
use super::{WAIT, id, with_worker, with_worker_on};

/// The suggestion comes on a workflow task whose history before it holds at least the
/// limit: 2 events before the first task, 7 before the second, 11 before the third.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_count_limit_suggests_continue_as_new() {
    const ARGS: &[&str] = &[
        "--dynamic-config-value",
        "limit.historyCount.suggestContinueAsNew=10",
    ];
    with_worker_on(ARGS, |client| async move {
        let handle = client
            .start(Suggested::run, id("suggest"), 20, StartOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_suggestion_under_the_default_limits() {
    with_worker(|client| async move {
        let handle = client
            .start(Suggested::run, id("no-suggest"), 3, StartOptions::default())
            .await
            .unwrap();
        assert_eq!(handle.result(WAIT).await.unwrap(), 4);
    })
    .await;
}
