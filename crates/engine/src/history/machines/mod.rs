//! The per-entity state machines of a run, each with its states, transitions (`on_<event>`)
//! and unit tests together: `workflow_task`, `activity` (with its timeouts, pause and
//! options), `timer`, `child` (child workflows), `external` (signalling and cancelling other
//! workflows), `update` (workflow updates), `query` (queries riding on workflow tasks),
//! `sticky` (sticky task queues), `eager` (eager workflow start and activities) and `nexus`
//! (Nexus operations, their handler side and completion callbacks), and `standalone`
//! (standalone activity executions: hidden runs around one activity).

pub(crate) mod activity;
pub(in crate::history) mod child;
pub(in crate::history) mod eager;
pub(in crate::history) mod external;
pub(crate) mod nexus;
pub(in crate::history) mod query;
pub(crate) mod standalone;
pub(in crate::history) mod sticky;
pub(in crate::history) mod timer;
pub(in crate::history) mod update;
pub(crate) mod workflow_task;
