//! The orders saga under time skipping, through the library's `TestEnv`: an hour-long
//! approval timeout, a retry backoff of minutes and a 30-day approval window each pass in a
//! moment of wall time. Each test asserts the server time that passed and the wall time it
//! took; updates, queries and visibility (list with filters) work while time is skipped.
// The SDK's macros generate undocumented marker constants for each method.
#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;

use orders_contract::{
    Address, ApprovalPolicy, Approve, ChangeShippingAddress, Decision, GetStatus, LineItem,
    OrderRequest, OrderState, OrderWorkflow, order_workflow_id,
};
use orders_logic::{Ledger, OrderActivities};
use temporalio_macros::{activities, workflow, workflow_methods};
use temporalio_sdk::activities::{ActivityContext, ActivityError};
use temporalio_sdk::{ActivityOptions, WorkerOptions, WorkflowContext, WorkflowResult};
use temporalio_workflow::common::RetryPolicy;
use workflow::StartOptions;
use workflow::testing::TestEnv;

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);
/// Wall-time budget of one test's waits. A time-skipped hour takes a fraction of a second
/// here; the margin is for a loaded CI machine.
const WALL_BUDGET: Duration = Duration::from_secs(5);
/// How long a result wait may take in wall time before the test fails.
const WAIT: Duration = Duration::from_secs(30);

fn order(order_id: &str, approval_timeout: Duration) -> OrderRequest {
    OrderRequest {
        order_id: order_id.to_owned(),
        customer: "ann".to_owned(),
        items: vec![LineItem {
            sku: "tv".to_owned(),
            quantity: 1,
        }],
        amount_cents: 250_000,
        shipping_address: Address {
            line1: "1 Main St".to_owned(),
            city: "Springfield".to_owned(),
            postal_code: "12345".to_owned(),
            country: "US".to_owned(),
        },
        approval: ApprovalPolicy {
            threshold_cents: 100_000,
            timeout_secs: approval_timeout.as_secs(),
        },
    }
}

fn elapsed(from: SystemTime, to: SystemTime) -> anyhow::Result<Duration> {
    to.duration_since(from)
        .context("the server's clock went back")
}

/// The ledger's actions for an order, in recording order of the saga's steps.
async fn actions(ledger: &Ledger, order_id: &str) -> anyhow::Result<Vec<String>> {
    let mut entries: Vec<_> = ledger
        .entries()
        .await?
        .into_iter()
        .filter(|e| e.order_id == order_id)
        .map(|e| e.action)
        .collect();
    entries.sort();
    Ok(entries)
}

fn registrar(
    ledger: &Ledger,
) -> impl FnOnce(&mut WorkerOptions) -> Result<(), temporalio_sdk::WorkflowRegistrationError> + 'static
{
    let activities = OrderActivities::new(ledger.clone(), 0.0);
    move |options| orders_logic::register(options, activities)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hour_without_approval_rejects_and_compensates_at_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open(dir.path().join("ledger.db"))?;
    let env = TestEnv::start().await?;
    let client = env.client();
    env.run_worker(registrar(&ledger), async {
        let before = env.now().await?;
        let wall = Instant::now();
        let handle = client
            .start(
                OrderWorkflow,
                order_workflow_id("late"),
                order("late", HOUR),
                StartOptions::default(),
            )
            .await?;
        let outcome = handle.result(WAIT).await?;
        let wall = wall.elapsed();
        let passed = elapsed(before, env.now().await?)?;
        assert_eq!(outcome.state, OrderState::Rejected, "{outcome:?}");
        assert_eq!(outcome.reason.as_deref(), Some("no decision within 3600s"));
        assert_eq!(
            actions(&ledger, "late").await?,
            ["charge", "refund", "release", "reserve"],
            "charged and reserved, then refunded and released"
        );
        assert!(passed >= HOUR, "only {passed:?} of server time passed");
        assert!(passed < 2 * HOUR, "{passed:?} of server time passed");
        assert!(wall < WALL_BUDGET, "took {wall:?} of wall time");
        println!("1-hour approval timeout: {wall:?} of wall time for {passed:?} of server time");
        anyhow::Ok(())
    })
    .await??;
    env.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thirty_day_approval_window_with_an_update_a_query_and_a_late_approval()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open(dir.path().join("ledger.db"))?;
    let env = TestEnv::start().await?;
    let client = env.client();
    env.run_worker(registrar(&ledger), async {
        let before = env.now().await?;
        let wall = Instant::now();
        let approved = client
            .start(
                OrderWorkflow,
                order_workflow_id("patient"),
                order("patient", 30 * DAY),
                StartOptions::default(),
            )
            .await?;
        let forgotten = client
            .start(
                OrderWorkflow,
                order_workflow_id("forgotten"),
                order("forgotten", 30 * DAY),
                StartOptions::default(),
            )
            .await?;

        // 29 days on, both still wait; the first gets a new address (an update) and an
        // approval, the second nothing.
        env.sleep(29 * DAY).await?;
        let status = approved.query(GetStatus, ()).await?;
        assert_eq!(status.state, OrderState::AwaitingApproval, "{status:?}");
        let new_address = Address {
            line1: "2 Elm St".to_owned(),
            city: "Shelbyville".to_owned(),
            postal_code: "54321".to_owned(),
            country: "US".to_owned(),
        };
        let updated = approved
            .update(ChangeShippingAddress, new_address.clone())
            .await?;
        assert_eq!(updated.shipping_address, new_address);
        approved.signal(Approve, Decision::default()).await?;
        let done = approved.result(WAIT).await?;
        assert_eq!(done.state, OrderState::Completed, "{done:?}");
        assert_eq!(done.shipping_address, new_address);
        // Its close time is server time; the clock itself may be further on already: once
        // that run closed, nothing held it from jumping to the other order's timer.
        let summary = approved.describe().await?;
        let approved_after = Duration::from_millis(
            summary.close_time_ms.unwrap_or_default() - summary.start_time_ms.unwrap_or_default(),
        );
        assert!(
            approved_after >= 29 * DAY && approved_after < 30 * DAY,
            "approved after {approved_after:?} of server time"
        );

        // The other one's 30-day timer fires.
        let rejected = forgotten.result(WAIT).await?;
        assert_eq!(rejected.state, OrderState::Rejected, "{rejected:?}");
        let passed = elapsed(before, env.now().await?)?;
        let wall = wall.elapsed();
        assert!(passed >= 30 * DAY, "only {passed:?} of server time passed");
        assert!(wall < WALL_BUDGET, "took {wall:?} of wall time");
        println!("30-day approval window: {wall:?} of wall time for {passed:?} of server time");

        // Visibility under time skipping: filters apply, and the times are server time.
        let orders = client
            .list(
                "WorkflowType = 'OrderWorkflow' AND ExecutionStatus = 'Completed'",
                10,
            )
            .await?;
        let mut open_for: Vec<_> = orders
            .iter()
            .map(|s| {
                let ms = s.close_time_ms.unwrap_or_default() - s.start_time_ms.unwrap_or_default();
                (s.workflow_id.clone(), Duration::from_millis(ms) >= 30 * DAY)
            })
            .collect();
        open_for.sort();
        assert_eq!(
            open_for,
            [
                (order_workflow_id("forgotten"), true),
                (order_workflow_id("patient"), false)
            ],
            "{orders:?}"
        );
        let shipments = client.list("WorkflowType = 'ShippingWorkflow'", 10).await?;
        assert_eq!(
            shipments.len(),
            1,
            "only the approved order shipped: {shipments:?}"
        );
        let running = client.list("ExecutionStatus = 'Running'", 10).await?;
        assert!(running.is_empty(), "{running:?}");
        anyhow::Ok(())
    })
    .await??;
    env.shutdown().await?;
    Ok(())
}

/// An activity that fails its first two attempts.
struct Flaky {
    attempts: Arc<AtomicU32>,
}

#[activities]
impl Flaky {
    #[activity]
    async fn call_supplier(
        self: Arc<Self>,
        _ctx: ActivityContext,
        _order_id: String,
    ) -> Result<u32, ActivityError> {
        let attempt = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        if attempt < 3 {
            return Err(ActivityError::from(anyhow::anyhow!(
                "supplier busy (attempt {attempt})"
            )));
        }
        Ok(attempt)
    }
}

/// Calls the supplier with retries five minutes apart, doubling.
#[workflow]
#[derive(Default)]
struct Restock;

#[workflow_methods]
impl Restock {
    #[run]
    async fn run(ctx: &mut WorkflowContext<Self>, order_id: String) -> WorkflowResult<u32> {
        let options = ActivityOptions::with_start_to_close_timeout(Duration::from_secs(10))
            .retry_policy(
                RetryPolicy::builder()
                    .initial_interval(Duration::from_secs(300))
                    .backoff_coefficient(2.0)
                    .maximum_attempts(5)
                    .build(),
            )
            .build();
        Ok(ctx
            .execute_activity(Flaky::call_supplier, order_id, options)
            .await?)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_minutes_apart_pass_at_once() -> anyhow::Result<()> {
    let attempts = Arc::new(AtomicU32::new(0));
    let env = TestEnv::start().await?;
    let client = env.client();
    let flaky = Flaky {
        attempts: Arc::clone(&attempts),
    };
    let register = move |options: &mut WorkerOptions| {
        options
            .register_workflow::<Restock>()?
            .register_activities(flaky);
        Ok(())
    };
    env.run_worker(register, async {
        let before = env.now().await?;
        let wall = Instant::now();
        let handle = client
            .start(
                Restock::run,
                "restock-1",
                "o1".to_owned(),
                StartOptions::default(),
            )
            .await?;
        let attempt = handle.result(WAIT).await?;
        let wall = wall.elapsed();
        let passed = elapsed(before, env.now().await?)?;
        assert_eq!(attempt, 3);
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        // Backoffs of 5 and 10 minutes.
        let backoffs = Duration::from_secs(15 * 60);
        assert!(passed >= backoffs, "only {passed:?} of server time passed");
        assert!(passed < backoffs + HOUR, "{passed:?} of server time passed");
        assert!(wall < WALL_BUDGET, "took {wall:?} of wall time");
        println!("retries 5 and 10 minutes apart: {wall:?} of wall time for {passed:?}");
        anyhow::Ok(())
    })
    .await??;
    env.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_clock_survives_a_restart_of_the_environment() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ledger = Ledger::open(dir.path().join("ledger.db"))?;
    let database = dir.path().join("engine.db");
    let queue = "orders-restart";
    let env = TestEnv::builder()
        .task_queue(queue)
        .database(&database)
        .start()
        .await?;
    let before = env.now().await?;
    env.run_worker(registrar(&ledger), async {
        env.client()
            .start(
                OrderWorkflow,
                order_workflow_id("durable"),
                order("durable", 30 * DAY),
                StartOptions::default(),
            )
            .await?;
        env.sleep(10 * DAY).await?;
        anyhow::Ok(())
    })
    .await??;
    env.shutdown().await?;

    let env = TestEnv::builder()
        .task_queue(queue)
        .database(&database)
        .start()
        .await?;
    let restarted = env.now().await?;
    let after_restart = elapsed(before, restarted)?;
    assert!(
        after_restart >= 10 * DAY,
        "the clock went back to {after_restart:?} after the start"
    );
    let client = env.client();
    env.run_worker(registrar(&ledger), async {
        let outcome = client
            .handle::<OrderWorkflow>(order_workflow_id("durable"))
            .result(WAIT)
            .await?;
        assert_eq!(outcome.state, OrderState::Rejected, "{outcome:?}");
        let passed = elapsed(before, env.now().await?)?;
        assert!(passed >= 30 * DAY, "only {passed:?} of server time passed");
        anyhow::Ok(())
    })
    .await??;
    env.shutdown().await?;
    Ok(())
}
