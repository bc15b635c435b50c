//! Proves that the workflow logic agrees with the contract the API fleet is built from:
//! same workflow, signal, query and update names, same payload types, all registered.

use orders_logic::{Ledger, OrderActivities};
use temporalio_sdk::WorkerOptions;
use workflow::contract::WorkflowSpec;

fn order_workflow_as_implemented() -> WorkflowSpec {
    use orders_logic::OrderWorkflow as Impl;
    WorkflowSpec::of(&Impl::run)
        .signal(&Impl::approve)
        .signal(&Impl::reject)
        .query(&Impl::status)
        .update(&Impl::change_shipping_address)
}

#[test]
fn order_workflow_implements_the_contract() {
    let contract = orders_contract::OrderWorkflow::spec();
    if let Err(problems) = contract.assert_implemented_by(&order_workflow_as_implemented()) {
        panic!("orders-logic drifted from orders-contract: {problems}");
    }
}

#[test]
fn shipping_workflow_implements_the_contract() {
    let contract = orders_contract::ShippingWorkflow::spec();
    let implemented = WorkflowSpec::of(&orders_logic::ShippingWorkflow::run);
    if let Err(problems) = contract.assert_implemented_by(&implemented) {
        panic!("orders-logic drifted from orders-contract: {problems}");
    }
}

#[test]
fn the_worker_registers_every_contract_workflow_and_handler() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path().join("ledger.db")).unwrap();
    let mut options = WorkerOptions::new(orders_contract::TASK_QUEUE).build();
    orders_logic::register(&mut options, OrderActivities::new(ledger, 0.0)).unwrap();
    let registered = options.workflows();
    for spec in [
        orders_contract::OrderWorkflow::spec(),
        orders_contract::ShippingWorkflow::spec(),
    ] {
        if let Err(problem) = spec.assert_registered(&registered) {
            panic!("{problem}");
        }
    }
}

#[test]
fn a_drifted_contract_is_reported() {
    // A contract whose signal carries another type and whose query has another name must
    // fail the agreement check, naming both differences.
    workflow::contract! {
        workflow Drifted = "OrderWorkflow" (orders_contract::OrderRequest) -> orders_contract::OrderOutcome {
            signals {
                Approve = "approve" (String);
                Reject = "reject" (orders_contract::Decision);
            }
            queries { Status = "order_status" (()) -> orders_contract::OrderStatus; }
            updates {
                Change = "change_shipping_address" (orders_contract::Address) -> orders_contract::OrderStatus;
            }
        }
    }
    let problems = Drifted::spec()
        .assert_implemented_by(&order_workflow_as_implemented())
        .expect_err("a drifted contract must not pass");
    assert!(
        problems.contains("signal \"approve\" types differ"),
        "{problems}"
    );
    assert!(
        problems.contains("query \"order_status\" is not implemented"),
        "{problems}"
    );
    assert!(
        problems.contains("query \"status\" is implemented but not in the contract"),
        "{problems}"
    );
}
