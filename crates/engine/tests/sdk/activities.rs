//! Activities: one that succeeds, one that fails twice and is retried by the server.

use std::{sync::Arc, time::Duration};

use crate::{
    harness::{self, TestEngine},
    workflows::{Flaky, Greet, Greetings, Retrying},
};

#[tokio::test]
async fn activity_result_reaches_the_workflow() {
    let t = TestEngine::start("greet").await;
    let mut worker = t.worker(|o| {
        Ok(o.register_workflow::<Greet>()?
            .register_activities(Greetings))
    });
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        t.execute(Greet::run, "Ada".to_owned(), "greet-1").await
    })
    .await;
    assert_eq!(result, "Hello, Ada!");
    t.shutdown().await;
}

#[tokio::test]
async fn failing_activity_is_retried_by_the_server() {
    let t = TestEngine::start("flaky").await;
    let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flaky = Flaky {
        attempts: Arc::clone(&attempts),
    };
    let mut worker = t.worker(|o| {
        Ok(o.register_workflow::<Retrying>()?
            .register_activities(flaky))
    });
    let result = harness::with_worker(&mut worker, Duration::from_secs(30), async {
        t.execute(Retrying::run, (), "flaky-1").await
    })
    .await;
    assert_eq!(result, 3);
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);
    t.shutdown().await;
}
