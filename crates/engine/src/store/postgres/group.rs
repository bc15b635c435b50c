//! What one group commit writes: the statements, prepared once per connection, and the
//! SQL of a group of batches in one transaction (each row written once, with its last value;
//! deletions; the closed-run counts kept without counting a replayed group twice).

use std::collections::HashMap;

use postgres::{Client, Statement};

use crate::store::{Batch, RunRecord, ScheduleWrite, visibility::Columns};

/// The statements the writer runs, prepared once per connection.
pub(super) struct Prepared {
    namespaces: Statement,
    already_closed: Statement,
    count_closed: Statement,
    settings: Statement,
    runs: Statement,
    events: Statement,
}

impl Prepared {
    pub(super) fn new(client: &mut Client) -> Result<Self, postgres::Error> {
        Ok(Self {
            namespaces: client.prepare(
                "INSERT INTO namespaces (name, record)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (name) DO UPDATE SET record = excluded.record",
            )?,
            already_closed: client.prepare(
                "SELECT run_id FROM runs WHERE run_id = ANY($1) AND closed_info IS NOT NULL",
            )?,
            count_closed: client.prepare(
                "INSERT INTO closed_counts (namespace, status, count)
                 SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[])
                 ON CONFLICT (namespace, status)
                 DO UPDATE SET count = closed_counts.count + excluded.count",
            )?,
            settings: client.prepare(
                "INSERT INTO settings (key, value)
                 SELECT * FROM unnest($1::text[], $2::text[])
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?,
            runs: client.prepare(
                "INSERT INTO runs (run_id, namespace, workflow_id, state, buffered, closed_info,
                                   workflow_type, status, start_ms, close_ms)
                 SELECT r, n, w, s, b, c, t, st, sm, cm
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[],
                             $6::bytea[], $7::text[], $8::int4[], $9::int8[], $10::int8[])
                      WITH ORDINALITY AS u (r, n, w, s, b, c, t, st, sm, cm, o)
                 ORDER BY o
                 ON CONFLICT (run_id) DO UPDATE SET state = excluded.state,
                                                    buffered = excluded.buffered,
                                                    closed_info = excluded.closed_info,
                                                    workflow_type = excluded.workflow_type,
                                                    status = excluded.status,
                                                    start_ms = excluded.start_ms,
                                                    close_ms = excluded.close_ms",
            )?,
            events: client.prepare(
                "INSERT INTO events (run_id, event_id, data)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[])
                 ON CONFLICT (run_id, event_id) DO UPDATE SET data = excluded.data",
            )?,
        })
    }
}

/// Writes `batches` in one transaction. A run or event written by several batches is
/// written once with its last value, so each statement touches a row at most once.
pub(super) fn write_group(
    client: &mut Client,
    prepared: &Prepared,
    batches: &[&Batch],
) -> Result<(), postgres::Error> {
    let mut namespaces: Vec<(&str, &str)> = Vec::new();
    let mut namespace_at: HashMap<&str, usize> = HashMap::new();
    let mut settings: Vec<(&str, &str)> = Vec::new();
    let mut setting_at: HashMap<&str, usize> = HashMap::new();
    let mut runs: Vec<&RunRecord> = Vec::new();
    let mut run_at: HashMap<&str, usize> = HashMap::new();
    let mut events: Vec<(&str, i64, &[u8])> = Vec::new();
    let mut event_at: HashMap<(&str, i64), usize> = HashMap::new();
    let mut schedules: Vec<&ScheduleWrite> = Vec::new();
    let mut schedule_at: HashMap<(&str, &str), usize> = HashMap::new();
    for batch in batches {
        for write in &batch.schedules {
            let key = (write.namespace.as_str(), write.schedule_id.as_str());
            upsert(&mut schedules, &mut schedule_at, key, write);
        }
        for (key, value) in &batch.settings {
            upsert(
                &mut settings,
                &mut setting_at,
                key.as_str(),
                (key.as_str(), value.as_str()),
            );
        }
        for (name, record) in &batch.namespaces {
            upsert(
                &mut namespaces,
                &mut namespace_at,
                name.as_str(),
                (name.as_str(), record.as_str()),
            );
        }
        for write in &batch.runs {
            let run_id = write.record.run_id.as_str();
            upsert(&mut runs, &mut run_at, run_id, &write.record);
            for (id, data) in &write.new_events {
                upsert(
                    &mut events,
                    &mut event_at,
                    (run_id, *id),
                    (run_id, *id, data.as_slice()),
                );
            }
        }
    }
    let mut tx = client.transaction()?;
    if !namespaces.is_empty() {
        let names: Vec<&str> = namespaces.iter().map(|n| n.0).collect();
        let records: Vec<&str> = namespaces.iter().map(|n| n.1).collect();
        tx.execute(&prepared.namespaces, &[&names, &records])?;
    }
    if !settings.is_empty() {
        let keys: Vec<&str> = settings.iter().map(|s| s.0).collect();
        let values: Vec<&str> = settings.iter().map(|s| s.1).collect();
        tx.execute(&prepared.settings, &[&keys, &values])?;
    }
    if !runs.is_empty() {
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        let spaces: Vec<&str> = runs.iter().map(|r| r.namespace.as_str()).collect();
        let workflows: Vec<&str> = runs.iter().map(|r| r.workflow_id.as_str()).collect();
        let states: Vec<&str> = runs.iter().map(|r| r.state.as_str()).collect();
        let buffered: Vec<&[u8]> = runs.iter().map(|r| r.buffered.as_slice()).collect();
        let closed: Vec<Option<&[u8]>> = runs.iter().map(|r| r.closed_info.as_deref()).collect();
        // Visibility columns of closed runs (open runs are listed from memory).
        let columns: Vec<Option<Columns>> =
            closed.iter().map(|c| c.and_then(Columns::of)).collect();
        count_newly_closed(&mut tx, prepared, &runs, &columns)?;
        let types: Vec<Option<&str>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.workflow_type.as_str()))
            .collect();
        let statuses: Vec<Option<i32>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.status))
            .collect();
        let starts: Vec<Option<i64>> = columns
            .iter()
            .map(|c| c.as_ref().map(|c| c.start_ms))
            .collect();
        let closes: Vec<Option<i64>> = columns
            .iter()
            .map(|c| c.as_ref().and_then(|c| c.close_ms))
            .collect();
        tx.execute(
            &prepared.runs,
            &[
                &ids, &spaces, &workflows, &states, &buffered, &closed, &types, &statuses, &starts,
                &closes,
            ],
        )?;
    }
    if !events.is_empty() {
        let ids: Vec<&str> = events.iter().map(|e| e.0).collect();
        let numbers: Vec<i64> = events.iter().map(|e| e.1).collect();
        let data: Vec<&[u8]> = events.iter().map(|e| e.2).collect();
        tx.execute(&prepared.events, &[&ids, &numbers, &data])?;
    }
    let deleted_runs: Vec<&str> = batches
        .iter()
        .flat_map(|b| &b.deleted_runs)
        .map(String::as_str)
        .collect();
    if !deleted_runs.is_empty() {
        delete_runs(&mut tx, &deleted_runs)?;
    }
    for write in schedules {
        let key: [&(dyn postgres::types::ToSql + Sync); 2] = [&write.namespace, &write.schedule_id];
        match &write.record {
            Some(record) => tx.execute(
                "INSERT INTO schedules (namespace, schedule_id, record) VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, schedule_id) DO UPDATE SET record = excluded.record",
                &[key[0], key[1], record],
            )?,
            None => tx.execute(
                "DELETE FROM schedules WHERE namespace = $1 AND schedule_id = $2",
                &key,
            )?,
        };
    }
    for name in batches.iter().flat_map(|b| &b.deleted_namespaces) {
        tx.execute(
            "DELETE FROM events WHERE run_id IN (SELECT run_id FROM runs WHERE namespace = $1)",
            &[name],
        )?;
        tx.execute("DELETE FROM runs WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM closed_counts WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM schedules WHERE namespace = $1", &[name])?;
        tx.execute("DELETE FROM namespaces WHERE name = $1", &[name])?;
    }
    tx.commit()
}

/// Deletes runs with their events, and takes the closed ones out of `closed_counts`. Only
/// rows still there are counted, so a replayed group takes nothing off twice.
fn delete_runs(
    tx: &mut postgres::Transaction<'_>,
    run_ids: &[&str],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM events WHERE run_id = ANY($1)", &[&run_ids])?;
    let gone = tx.query(
        "DELETE FROM runs WHERE run_id = ANY($1) RETURNING namespace, status",
        &[&run_ids],
    )?;
    let mut counts: HashMap<(String, i32), i64> = HashMap::new();
    for row in &gone {
        if let Some(status) = row.get::<_, Option<i32>>(1) {
            *counts.entry((row.get(0), status)).or_default() += 1;
        }
    }
    for ((namespace, status), n) in counts {
        tx.execute(
            "UPDATE closed_counts SET count = count - $3 WHERE namespace = $1 AND status = $2",
            &[&namespace, &status, &n],
        )?;
    }
    Ok(())
}

/// Adds the runs of this group that close now (not those already closed: a replayed group
/// counts nothing twice) to `closed_counts`, before their rows are written.
fn count_newly_closed(
    tx: &mut postgres::Transaction<'_>,
    prepared: &Prepared,
    runs: &[&RunRecord],
    columns: &[Option<Columns>],
) -> Result<(), postgres::Error> {
    let closing: Vec<(&RunRecord, i32)> = runs
        .iter()
        .zip(columns)
        .filter_map(|(run, c)| c.as_ref().map(|c| (*run, c.status)))
        .collect();
    if closing.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = closing.iter().map(|(r, _)| r.run_id.as_str()).collect();
    let already: std::collections::HashSet<String> = tx
        .query(&prepared.already_closed, &[&ids])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut counts: HashMap<(&str, i32), i64> = HashMap::new();
    for (run, status) in closing {
        if !already.contains(&run.run_id) {
            *counts.entry((run.namespace.as_str(), status)).or_default() += 1;
        }
    }
    if counts.is_empty() {
        return Ok(());
    }
    let spaces: Vec<&str> = counts.keys().map(|k| k.0).collect();
    let statuses: Vec<i32> = counts.keys().map(|k| k.1).collect();
    let numbers: Vec<i64> = counts.values().copied().collect();
    tx.execute(&prepared.count_closed, &[&spaces, &statuses, &numbers])?;
    Ok(())
}

/// Appends `value`, or replaces the one already there under `key`.
fn upsert<K: std::hash::Hash + Eq, V>(
    values: &mut Vec<V>,
    at: &mut HashMap<K, usize>,
    key: K,
    value: V,
) {
    match at.get(&key) {
        Some(&i) => values[i] = value,
        None => {
            at.insert(key, values.len());
            values.push(value);
        }
    }
}
