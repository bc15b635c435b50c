//! The run record and what is derived from it: `execution` (one run: its history, buffered
//! events and mutable state), `events` (building history events), `properties` (memo and
//! search attributes, derived from history), `started` (what the started event fixes: when
//! the run was due, its deadlines, its priority), `token` (task tokens), `persist` (what to
//! write, and rebuilding runs from the store) and `view` (what the API layer may read of a
//! run).

pub(crate) mod events;
pub(crate) mod execution;
pub(in crate::history) mod persist;
pub(in crate::history) mod properties;
mod started;
pub(crate) mod token;
pub(in crate::history) mod view;
