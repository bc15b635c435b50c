//! The API fleet's binary must not carry the workflow logic: its dependency graph may hold
//! the contract and the library, never `orders-logic`.

use std::collections::HashSet;
use std::process::Command;

/// Names of every package `package` depends on through normal and build edges.
fn dependency_closure(package: &str) -> HashSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn orders_api_does_not_depend_on_the_logic() {
    let api = dependency_closure("orders-api");
    assert!(
        api.contains("orders-contract") && api.contains("workflow"),
        "{api:?}"
    );
    assert!(
        !api.contains("orders-logic"),
        "orders-api must not depend on orders-logic (the API fleet carries no workflow logic)"
    );
    // The check can fail: the worker's graph does hold the logic.
    let worker = dependency_closure("orders-worker");
    assert!(worker.contains("orders-logic"), "{worker:?}");
}
