//! Co-located mode against a real Temporal server: two `orders-app` replicas (API + worker
//! each) share one ledger; one is SIGKILLed while orders are in flight and the survivor takes
//! the rest. No order is lost and no effect is duplicated.

mod common;

use std::time::{Duration, Instant};

use common::{APP, FINAL_TIMEOUT, Harness, assert_exactly_once, shipped_count, wait_listed};
use serde_json::json;
use workflow_testkit::orders::{
    approve, assert_all_completed, order, order_ids, place, wait_all_done, wait_state,
};

const ORDERS: usize = 50;
/// Orders placed before the kill; the rest go to the survivor.
const BEFORE_KILL: usize = 30;
const APPROVAL_THRESHOLD: u64 = 100_000;

fn needs_approval(i: usize) -> bool {
    i.is_multiple_of(5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replica_killed_mid_flight_loses_no_order() {
    let h = Harness::start("co_located");
    let env = [
        ("ORDERS_PAYMENT_FAILURE_RATE", "0.3"),
        ("ORDERS_APPROVAL_TIMEOUT", "10m"),
        ("ORDERS_APPROVAL_THRESHOLD_CENTS", "100000"),
    ];
    let mut a = h.spawn(APP, "app-A", &env);
    let mut b = h.spawn(APP, "app-B", &env);
    a.wait_ready(&h.http, common::READY_TIMEOUT).await;
    b.wait_ready(&h.http, common::READY_TIMEOUT).await;
    let (api_a, api_b) = (a.api().to_owned(), b.api().to_owned());

    let ids = order_ids("co", ORDERS);
    let amount = |i: usize| {
        if needs_approval(i) {
            APPROVAL_THRESHOLD + 50_000
        } else {
            1_000 + i as u64 * 10
        }
    };

    // Phase 1: alternate between the replicas. Approval-gated orders placed on B are approved
    // through A at once; those placed on A are held, so they are certainly in flight when A
    // dies, and approved later through B.
    let started = Instant::now();
    let mut held = Vec::new();
    let (mut via_a, mut via_b) = (0, 0);
    for (i, id) in ids.iter().enumerate().take(BEFORE_KILL) {
        let on_a = i.is_multiple_of(2);
        let api = if on_a { &api_a } else { &api_b };
        place(
            &h.http,
            api,
            &order(id, &format!("customer-{i}"), amount(i)),
        )
        .await;
        if on_a {
            via_a += 1;
        } else {
            via_b += 1;
        }
        if needs_approval(i) {
            if on_a {
                held.push(id.clone());
            } else {
                approve(&h.http, &api_a, id).await;
            }
        }
    }
    // The idempotent retry of a client that did not see the answer: same order, other replica.
    let (status, repeat) = workflow_testkit::post(
        &h.http,
        &format!("{api_b}/orders"),
        &order(&ids[0], "customer-0", amount(0)),
    )
    .await;
    assert_eq!(status.as_u16(), 200, "repeated POST: {repeat}");
    assert_eq!(repeat["created"], json!(false), "repeated POST: {repeat}");

    a.kill_hard();
    let killed_at = Instant::now();
    let shipped_at_kill = shipped_count(&h.ledger, &ids[..BEFORE_KILL]).await;
    let in_flight_at_kill = BEFORE_KILL - shipped_at_kill;
    println!(
        "placed {BEFORE_KILL} orders ({via_a} via A, {via_b} via B) in {:.1?}; A killed with {in_flight_at_kill} of them not yet shipped ({} held for approval)",
        killed_at - started,
        held.len()
    );
    assert!(
        in_flight_at_kill >= held.len() && in_flight_at_kill > 0,
        "orders were supposed to be in flight when A was killed"
    );

    // Phase 2: the survivor takes the rest, including the approvals.
    for (i, id) in ids.iter().enumerate().skip(BEFORE_KILL) {
        place(
            &h.http,
            &api_b,
            &order(id, &format!("customer-{i}"), amount(i)),
        )
        .await;
        via_b += 1;
        if needs_approval(i) {
            approve(&h.http, &api_b, id).await;
        }
    }
    // The held orders were placed through A; the survivor sees them waiting and approves them.
    for id in &held {
        wait_state(&h.http, &api_b, id, "awaiting_approval", FINAL_TIMEOUT).await;
        approve(&h.http, &api_b, id).await;
    }
    let approvals = ids
        .iter()
        .enumerate()
        .filter(|(i, _)| needs_approval(*i))
        .count();

    let results = wait_all_done(&h.http, &api_b, &ids, FINAL_TIMEOUT).await;
    let recovered_in = killed_at.elapsed();
    assert_all_completed(&results, &ids);
    let ledger = assert_exactly_once(&h.ledger, &ids).await;

    // The survivor's list shows all of them, completed.
    wait_listed(&h.http, &api_b, &ids, "Completed", Duration::from_secs(30)).await;

    let transient_failures = a.count_in_output("payment provider unavailable")
        + b.count_in_output("payment provider unavailable");
    println!(
        "orders: {ORDERS} placed ({via_a} via A, {via_b} via B), {approvals} approved across replicas, {} completed, 0 lost",
        results.len()
    );
    println!(
        "all final {recovered_in:.1?} after the kill (total {:.1?})",
        started.elapsed()
    );
    println!("simulated transient payment failures (retried): {transient_failures}");
    println!(
        "ledger: {} orders x reserve/charge/ship exactly once, no refund/release; {ledger}",
        ids.len(),
    );
    assert!(
        transient_failures > 0,
        "with a 0.3 failure rate over {ORDERS} payments, some must have failed and been retried"
    );
    let (status, _) = b.terminate(Duration::from_secs(30));
    assert!(status.success(), "survivor exit status {status}");
}
