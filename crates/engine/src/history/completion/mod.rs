//! Completing a workflow task (`RespondWorkflowTaskCompleted`), in phases: `commands`
//! drives them (and is the entry point), `validate` rejects what cannot be applied,
//! `command_limits` checks the real server's size and pending-work limits, and `apply`
//! records and applies each command in order; the completion then finishes in `commands`
//! (queries answered, eager activities, the next workflow task).

mod apply;
pub(in crate::history) mod command_limits;
pub(in crate::history) mod commands;
mod validate;
