//! Decoupled mode against a real Temporal server: an `orders-api` fleet and an
//! `orders-worker` fleet, each failing on its own without taking the other down.
//!
//! (a) the API dies while orders run: the workers finish them, and a new API sees them;
//! (b) every worker stops: the API still takes orders, which wait and then complete when a
//!     worker is back;
//! (c) a worker dies mid-flight: the other worker finishes every order.

mod common;

use std::time::{Duration, Instant};

use common::{API, FINAL_TIMEOUT, Harness, WORKER, assert_exactly_once, shipped_count};
use serde_json::json;
use workflow_testkit::get;
use workflow_testkit::orders::{
    approve, assert_all_completed, order, order_ids, place, wait_all_done, wait_state,
};

const APPROVAL_THRESHOLD: u64 = 100_000;

/// The environment of every process in these tests.
const ENV: [(&str, &str); 3] = [
    ("ORDERS_PAYMENT_FAILURE_RATE", "0.3"),
    ("ORDERS_APPROVAL_TIMEOUT", "10m"),
    ("ORDERS_APPROVAL_THRESHOLD_CENTS", "100000"),
];

fn amount(gated: bool, i: usize) -> u64 {
    if gated {
        APPROVAL_THRESHOLD + 1_000 * i as u64
    } else {
        2_000 + i as u64
    }
}

/// Waits until `n` of `ids` have shipped according to the ledger (no API involved).
async fn wait_shipped(h: &Harness, ids: &[String], n: usize, timeout: Duration) {
    let started = Instant::now();
    loop {
        let shipped = shipped_count(&h.ledger, ids).await;
        if shipped >= n {
            return;
        }
        assert!(
            started.elapsed() < timeout,
            "only {shipped} of {n} orders shipped after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_api_killed_while_orders_run() {
    let h = Harness::start("decoupled_a");
    let mut api1 = h.spawn(API, "api-1", &ENV);
    let mut w1 = h.spawn(WORKER, "worker-1", &ENV);
    let mut w2 = h.spawn(WORKER, "worker-2", &ENV);
    for node in [&mut api1, &mut w1, &mut w2] {
        node.wait_ready(&h.http, common::READY_TIMEOUT).await;
    }

    // 12 orders; every 4th waits for approval, which only an API can give: those are
    // certainly still running when the API dies.
    let ids = order_ids("dec-a", 12);
    let gated: Vec<bool> = (0..ids.len()).map(|i| i.is_multiple_of(4)).collect();
    let started = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        place(
            &h.http,
            api1.api(),
            &order(id, "alice", amount(gated[i], i)),
        )
        .await;
    }
    api1.kill_hard();
    let killed_at = Instant::now();
    let shipped_at_kill = shipped_count(&h.ledger, &ids).await;
    let gated_ids: Vec<String> = ids
        .iter()
        .zip(&gated)
        .filter(|(_, g)| **g)
        .map(|(id, _)| id.clone())
        .collect();
    let free_ids: Vec<String> = ids
        .iter()
        .zip(&gated)
        .filter(|(_, g)| !**g)
        .map(|(id, _)| id.clone())
        .collect();
    println!(
        "placed {} orders ({} approval-gated) in {:.1?}; API killed with {} of them not yet shipped",
        ids.len(),
        gated_ids.len(),
        killed_at - started,
        ids.len() - shipped_at_kill
    );
    assert!(
        ids.len() - shipped_at_kill >= gated_ids.len(),
        "the approval-gated orders cannot have shipped before the API died"
    );

    // With no API process at all, the workers finish every order that needs no decision.
    wait_shipped(&h, &free_ids, free_ids.len(), FINAL_TIMEOUT).await;
    let no_api_for = killed_at.elapsed();
    println!(
        "{} orders without approval shipped {no_api_for:.1?} after the API died (no API running)",
        free_ids.len()
    );

    // A new API process sees the running orders, approves them, and reads every result.
    let api2 = h.spawn_ready(API, "api-2", &ENV).await;
    for id in &gated_ids {
        wait_state(&h.http, api2.api(), id, "awaiting_approval", FINAL_TIMEOUT).await;
        approve(&h.http, api2.api(), id).await;
    }
    let results = wait_all_done(&h.http, api2.api(), &ids, FINAL_TIMEOUT).await;
    assert_all_completed(&results, &ids);
    let ledger = assert_exactly_once(&h.ledger, &ids).await;
    println!(
        "(a) {} of {} orders completed (all), total {:.1?}; ledger exactly once; {} effects re-executed",
        results.len(),
        ids.len(),
        started.elapsed(),
        ledger.re_executed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_all_workers_stopped_api_still_accepts() {
    let h = Harness::start("decoupled_b");
    let mut api = h.spawn(API, "api", &ENV);
    let mut w1 = h.spawn(WORKER, "worker-1", &ENV);
    let mut w2 = h.spawn(WORKER, "worker-2", &ENV);
    for node in [&mut api, &mut w1, &mut w2] {
        node.wait_ready(&h.http, common::READY_TIMEOUT).await;
    }
    let ids = order_ids("dec-b", 8);

    // One order through the full fleet first, so the workers have something cached.
    place(&h.http, api.api(), &order(&ids[0], "alice", 1_500)).await;
    let first = wait_all_done(&h.http, api.api(), &ids[..1], FINAL_TIMEOUT).await;
    assert_all_completed(&first, &ids[..1]);

    // Stop every worker gracefully: each exits 0.
    for worker in [&mut w1, &mut w2] {
        let (status, took) = worker.terminate(Duration::from_secs(30));
        assert!(
            status.success(),
            "{} exit status {status}; output:\n{}",
            worker.label,
            worker.process.output()
        );
        assert!(
            took < Duration::from_secs(10),
            "{} took {took:?} to stop",
            worker.label
        );
    }

    // The API still takes orders; they wait for a worker.
    let waiting = &ids[1..];
    let accepted_at = Instant::now();
    for (i, id) in waiting.iter().enumerate() {
        place(&h.http, api.api(), &order(id, "bob", amount(false, i))).await;
    }
    let mut checks = Vec::new();
    for id in waiting {
        let (http, url) = (
            h.http.clone(),
            format!("{}/orders/{id}/result?wait=1s", api.api()),
        );
        checks.push(tokio::spawn(async move {
            (url.clone(), get(&http, &url).await)
        }));
    }
    for check in checks {
        let (url, (status, body)) = check.await.expect("result check task");
        assert_eq!(status.as_u16(), 202, "GET {url} with no worker: {body}");
        assert_eq!(body["done"], json!(false), "GET {url}: {body}");
    }
    let effects = common::ledger_effects(&h.ledger).await;
    let touched = waiting
        .iter()
        .filter(|id| effects.contains_key(*id))
        .count();
    assert_eq!(
        touched, 0,
        "no worker runs, yet the ledger has effects: {effects:?}"
    );
    common::wait_listed(
        &h.http,
        api.api(),
        waiting,
        "Running",
        Duration::from_secs(30),
    )
    .await;
    println!(
        "no worker: {} orders accepted (201), still running after {:.1?}, no ledger effects",
        waiting.len(),
        accepted_at.elapsed()
    );

    // A worker comes back: every waiting order completes.
    let back_at = Instant::now();
    let _w3 = h.spawn_ready(WORKER, "worker-3", &ENV).await;
    let results = wait_all_done(&h.http, api.api(), &ids, FINAL_TIMEOUT).await;
    assert_all_completed(&results, &ids);
    let ledger = assert_exactly_once(&h.ledger, &ids).await;
    println!(
        "(b) {} waiting orders completed {:.1?} after a worker came back; ledger exactly once; {} effects re-executed",
        waiting.len(),
        back_at.elapsed(),
        ledger.re_executed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_worker_killed_mid_flight_other_finishes() {
    let h = Harness::start("decoupled_c");
    let mut api = h.spawn(API, "api", &ENV);
    let mut w1 = h.spawn(WORKER, "worker-1", &ENV);
    let mut w2 = h.spawn(WORKER, "worker-2", &ENV);
    for node in [&mut api, &mut w1, &mut w2] {
        node.wait_ready(&h.http, common::READY_TIMEOUT).await;
    }

    // 20 orders: 12 wait for approval, 8 do not.
    let ids = order_ids("dec-c", 20);
    let gated: Vec<bool> = (0..ids.len()).map(|i| i < 12).collect();
    let started = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        place(&h.http, api.api(), &order(id, "carol", amount(gated[i], i))).await;
    }
    let gated_ids: Vec<String> = ids[..12].to_vec();
    for id in &gated_ids {
        wait_state(&h.http, api.api(), id, "awaiting_approval", FINAL_TIMEOUT).await;
    }
    // Approve half right before the kill (their shipping is in flight when worker-1 dies);
    // the other half is approved after it.
    for id in &gated_ids[..6] {
        approve(&h.http, api.api(), id).await;
    }
    w1.kill_hard();
    let killed_at = Instant::now();
    let in_flight = ids.len() - shipped_count(&h.ledger, &ids).await;
    println!(
        "{} orders placed, {} gated orders awaited approval after {:.1?}; 6 approved, worker-1 killed with {in_flight} orders not yet shipped",
        ids.len(),
        gated_ids.len(),
        killed_at - started
    );
    assert!(
        in_flight >= 6,
        "the 6 unapproved orders cannot have shipped"
    );
    for id in &gated_ids[6..] {
        approve(&h.http, api.api(), id).await;
    }

    let results = wait_all_done(&h.http, api.api(), &ids, FINAL_TIMEOUT).await;
    let recovered_in = killed_at.elapsed();
    assert_all_completed(&results, &ids);
    let ledger = assert_exactly_once(&h.ledger, &ids).await;
    let failures = |n: &common::Node| n.count_in_output("payment provider unavailable");
    println!(
        "(c) all {} orders completed {recovered_in:.1?} after worker-1 died; transient payment failures seen by worker-1: {}, worker-2: {}",
        results.len(),
        failures(&w1),
        failures(&w2)
    );
    println!("ledger exactly once; {ledger}");
    let (status, _) = w2.terminate(Duration::from_secs(30));
    assert!(status.success(), "worker-2 exit status {status}");
}
