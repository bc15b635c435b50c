//! Counting a scenario: orders placed and accepted, their final outcomes, and what the
//! ledger says about their side effects.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long every accepted order has to reach its final state once the faults stop.
const FINAL_TIMEOUT: Duration = Duration::from_secs(180);
/// Every this many orders, one from a customer whose card is declined (compensated).
const DECLINED_EVERY: usize = 4;

/// One line of the report.
#[derive(Debug, Default, Clone)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    pub(crate) faults: usize,
    pub(crate) accepted: usize,
    pub(crate) refused: usize,
    pub(crate) completed: usize,
    pub(crate) compensated: usize,
    pub(crate) lost: usize,
    /// Extra executions of a side effect that the ledger absorbed (one row, `executions > 1`).
    pub(crate) absorbed: i64,
    /// Side effects the ledger does not account for as exactly once (a missing or extra
    /// action for the order's outcome).
    pub(crate) not_absorbed: usize,
    pub(crate) seconds: f64,
}

/// The orders a scenario has placed so far.
#[derive(Default)]
pub(crate) struct Orders {
    prefix: String,
    placed: usize,
    pub(crate) accepted: Vec<String>,
    pub(crate) refused: usize,
}

impl Orders {
    pub(crate) fn new(prefix: &str) -> Self {
        Self {
            prefix: format!(
                "{prefix}-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            ..Self::default()
        }
    }

    /// Places `n` orders through `api`; an order is accepted when answered 201.
    pub(crate) async fn place(&mut self, http: &reqwest::Client, api: &str, n: usize) {
        for _ in 0..n {
            let i = self.placed;
            self.placed += 1;
            let id = format!("{}-{i:03}", self.prefix);
            let customer = if i % DECLINED_EVERY == DECLINED_EVERY - 1 {
                "declined-chaos"
            } else {
                "chaos"
            };
            let body = workflow_testkit::orders::order(&id, customer, 2_500);
            let accepted = matches!(
                http.post(format!("{api}/orders")).json(&body).send().await,
                Ok(r) if r.status() == StatusCode::CREATED
            );
            if accepted {
                self.accepted.push(id);
            } else {
                self.refused += 1;
            }
        }
    }
}

/// Waits for each accepted order's outcome through `api`: `completed`, compensated (any
/// other final state), or `None` when it never finished (lost).
async fn outcomes(
    http: &reqwest::Client,
    api: &str,
    ids: &[String],
    timeout: Duration,
) -> BTreeMap<String, Option<String>> {
    let deadline = Instant::now() + timeout;
    let mut tasks = Vec::new();
    for id in ids {
        let (http, id) = (http.clone(), id.clone());
        let url = format!("{api}/orders/{id}/result?wait=5s");
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if let Ok(response) = http.get(&url).send().await
                    && response.status() == StatusCode::OK
                    && let Ok(body) = response.json::<Value>().await
                    && body["done"] == json!(true)
                {
                    return (id, body["outcome"].as_str().map(str::to_owned));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            (id, None)
        }));
    }
    let mut done = BTreeMap::new();
    for task in tasks {
        if let Ok((id, outcome)) = task.await {
            done.insert(id, outcome);
        }
    }
    done
}

/// How many accepted orders have not finished within `timeout`.
pub(crate) async fn unfinished(
    http: &reqwest::Client,
    api: &str,
    orders: &Orders,
    timeout: Duration,
) -> usize {
    let outcomes = outcomes(http, api, &orders.accepted, timeout).await;
    outcomes.values().filter(|o| o.is_none()).count()
}

/// Counts the outcomes and checks the ledger at `ledger` against them.
pub(crate) async fn count(
    row: &mut Row,
    orders: &Orders,
    http: &reqwest::Client,
    api: &str,
    ledger: &Path,
) -> anyhow::Result<()> {
    let outcomes = outcomes(http, api, &orders.accepted, FINAL_TIMEOUT).await;
    let ledger =
        orders_logic::Ledger::open(ledger).map_err(|e| anyhow::anyhow!("open the ledger: {e}"))?;
    let mut effects: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for entry in ledger
        .entries()
        .await
        .map_err(|e| anyhow::anyhow!("read the ledger: {e}"))
        .context("ledger")?
    {
        effects
            .entry(entry.order_id)
            .or_default()
            .insert(entry.action, entry.executions);
    }
    row.accepted = orders.accepted.len();
    row.refused = orders.refused;
    for id in &orders.accepted {
        let actions = effects.remove(id).unwrap_or_default();
        row.absorbed += actions.values().map(|n| n - 1).sum::<i64>();
        let found: BTreeSet<&str> = actions.keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = match outcomes.get(id).cloned().flatten().as_deref() {
            Some("completed") => {
                row.completed += 1;
                ["charge", "reserve", "ship"].into()
            }
            Some(_) => {
                row.compensated += 1;
                // A declined card: the reservation is released; nothing was charged.
                ["release", "reserve"].into()
            }
            None => {
                row.lost += 1;
                continue;
            }
        };
        if found != expected {
            eprintln!("chaos: order {id}: ledger {found:?}, expected {expected:?}");
            row.not_absorbed += 1;
        }
    }
    // Effects of orders nobody was told were accepted (a refused request that ran anyway
    // is fine; they are not counted as duplicates).
    for (id, actions) in effects {
        row.absorbed += actions.values().map(|n| n - 1).sum::<i64>();
        tracing::debug!(
            id,
            "ledger rows for an order whose placing was not acknowledged"
        );
    }
    Ok(())
}
