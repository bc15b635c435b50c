//! The workflow console in a real browser: `orders-demo` (demo mode, console on) takes the
//! README's orders over HTTP, then headless Chromium opens the console, filters the list,
//! opens an order's page and its timeline, cancels a waiting order and sees it compensated,
//! approves another with a signal and terminates a third, all from the page. Screenshots go
//! to `target/console-screenshots/`.
//!
//! Needs Chromium and chromedriver (`scripts/setup` installs them).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use workflow_testkit::{Browser, Process, free_port, workspace_root};

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(30);

fn order(order_id: &str, customer: &str, amount_cents: u64) -> Value {
    json!({
        "order_id": order_id, "customer": customer,
        "items": [{"sku": "tv", "quantity": 1}],
        "amount_cents": amount_cents,
        "shipping_address": {"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US"}
    })
}

fn screenshots() -> PathBuf {
    workspace_root().join("target/console-screenshots")
}

/// The demo process, its orders API and its console.
struct Demo {
    process: Process,
    api: String,
    console: String,
    _data: tempfile::TempDir,
}

impl Demo {
    async fn start(http: &reqwest::Client) -> Demo {
        let data = tempfile::tempdir().expect("a data folder");
        let api = format!("127.0.0.1:{}", free_port());
        let health = format!("127.0.0.1:{}", free_port());
        let console = format!("127.0.0.1:{}", free_port());
        let env = [
            ("ORDERS_LISTEN", api.clone()),
            ("WORKFLOW_HEALTH_LISTEN", health.clone()),
            ("WORKFLOW_CONSOLE_LISTEN", console.clone()),
            ("ORDERS_DEMO_DATA", data.path().display().to_string()),
            ("WORKFLOW_SHUTDOWN_GRACE_PERIOD", "2s".to_owned()),
        ];
        let mut process = Process::spawn("orders-demo", &env, data.path());
        process
            .wait_ready(http, &format!("http://{health}/readyz"), READY_TIMEOUT)
            .await;
        Demo {
            process,
            api: format!("http://{api}"),
            console: format!("http://{console}"),
            _data: data,
        }
    }
}

/// Opens the workflow page of `workflow_id` and runs one of its forms, accepting the
/// confirmation; waits until the page shows `status`.
async fn act(
    browser: &Browser,
    demo: &Demo,
    workflow_id: &str,
    fields: &[(&str, &str)],
    button: &str,
    status: &str,
) {
    browser
        .goto(&format!("{}/workflows/{workflow_id}", demo.console))
        .await;
    browser.wait_for("#timeline svg", WAIT).await;
    for (css, text) in fields {
        browser.fill_in(css, text).await;
    }
    browser.click_on(button).await;
    let question = browser.accept_dialog().await;
    assert!(
        question.contains('?'),
        "a confirmation was asked: {question:?}"
    );
    // The page reloads itself after the action; its status follows the workflow.
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = browser.wait_for_text("#status", WAIT, |_| true).await;
        if shown == status {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{workflow_id} shows {shown:?}, not {status:?}; log:\n{}",
            demo.process.output()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        browser
            .goto(&format!("{}/workflows/{workflow_id}", demo.console))
            .await;
    }
}

/// The words in the timeline picture (its lane labels).
async fn timeline_text(browser: &Browser) -> String {
    browser.wait_for("#timeline svg", WAIT).await;
    let text = browser
        .script("return document.getElementById('timeline').textContent")
        .await;
    text.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_in_a_browser() {
    let http = workflow_testkit::http();
    let demo = Demo::start(&http).await;
    for (id, customer, amount) in [
        ("a1", "ann", 2_500),
        ("b1", "bob", 250_000),
        ("c1", "cat", 180_000),
        ("d1", "dan", 150_000),
    ] {
        let response = http
            .post(format!("{}/orders", demo.api))
            .json(&order(id, customer, amount))
            .send()
            .await
            .expect("the orders API answers");
        assert_eq!(response.status(), StatusCode::CREATED, "order {id}");
    }
    let browser = Browser::start(1280, 1500).await;
    let dir = screenshots();

    // The list shows the orders (and a1's shipping child); a1 completes on its own.
    browser.goto(&format!("{}/", demo.console)).await;
    browser
        .wait_for(
            "tr[data-workflow-id='order-a1'][data-status='Completed']",
            WAIT,
        )
        .await;
    for id in ["order-b1", "order-c1", "order-d1", "shipping-a1"] {
        browser
            .wait_for(&format!("tr[data-workflow-id='{id}']"), WAIT)
            .await;
    }
    browser.screenshot(&dir.join("list.png")).await;

    // Filter by status: only the orders waiting for approval.
    browser.click_on("a.chip[data-status='Running']").await;
    browser.wait_for("#visibility-query", WAIT).await;
    let rows = browser.find_all("#rows tr[data-workflow-id]").await;
    assert_eq!(
        rows.len(),
        3,
        "b1, c1 and d1 wait: {}",
        browser.body_text().await
    );
    assert!(
        browser
            .find_all("#rows tr[data-workflow-id]:not([data-status='Running'])")
            .await
            .is_empty()
    );
    // Search by id.
    browser
        .fill_in("form#search input[name='id']", "order-c1")
        .await;
    browser.click_on("form#search button[type='submit']").await;
    browser
        .wait_for_text("#visibility-query", WAIT, |q| {
            q.contains("WorkflowId = 'order-c1'")
        })
        .await;
    let rows = browser.find_all("#rows tr[data-workflow-id]").await;
    assert_eq!(rows.len(), 1);
    browser.screenshot(&dir.join("list-filtered.png")).await;

    // Open the order: input, pending timer, timeline with its activities.
    browser.click_on("#rows a").await;
    browser.wait_for("#timeline svg", WAIT).await;
    let lanes = browser.find_all("#timeline svg g.lane.activity").await;
    assert!(lanes.len() >= 2, "reserve and charge in the timeline");
    browser.wait_for("#timeline svg g.lane.timer", WAIT).await;
    browser.wait_for("tr.pending-timer", WAIT).await;
    let input = browser.wait_for_text("#input", WAIT, |_| true).await;
    assert!(input.contains("\"customer\": \"cat\""), "{input}");

    // Cancel it from the page: the saga refunds and releases, and the order ends cancelled.
    act(
        &browser,
        &demo,
        "order-c1",
        &[("#cancel-form input[name='reason']", "customer changed mind")],
        "#cancel-button",
        "Canceled",
    )
    .await;
    let timeline = timeline_text(&browser).await;
    assert!(
        timeline.contains("refund_payment") && timeline.contains("release_inventory"),
        "compensations in the timeline: {timeline}"
    );
    browser.wait_for("#timeline svg g.lane.cancel", WAIT).await;
    browser
        .screenshot(&dir.join("workflow-cancelled.png"))
        .await;

    // Approve b1 with a signal from the page: it ships and completes.
    act(
        &browser,
        &demo,
        "order-b1",
        &[
            ("#signal-form input[name='name']", "approve"),
            ("#signal-form textarea[name='input']", "{\"by\": \"carol\"}"),
        ],
        "#signal-button",
        "Completed",
    )
    .await;
    let timeline = timeline_text(&browser).await;
    assert!(
        timeline.contains("signal approve") && timeline.contains("ShippingWorkflow"),
        "{timeline}"
    );
    browser.screenshot(&dir.join("workflow-approved.png")).await;

    // Terminate d1 from the page.
    act(
        &browser,
        &demo,
        "order-d1",
        &[("#terminate-form input[name='reason']", "test")],
        "#terminate-button",
        "Terminated",
    )
    .await;
    let reason = browser.wait_for_text("#reason", WAIT, |_| true).await;
    assert_eq!(reason, "test");
    browser
        .screenshot(&dir.join("workflow-terminated.png"))
        .await;
}
