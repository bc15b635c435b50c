//! The visibility query language (`ListWorkflowExecutions`, `CountWorkflowExecutions`): the
//! subset of Temporal's SQL-like queries the engine understands, shared by the API layer
//! and every store. `lexer` turns the text into tokens, `parser` into a typed [`Filter`]
//! (checked against a namespace's search attributes), `eval` evaluates it over a run in
//! memory and `lower` turns it into a condition a store evaluates itself (in SQL). One
//! comparison type, [`Cmp`], runs from the parser to the SQL. `schedules` applies the
//! same language to `ListSchedules` and `CountSchedules`, over what a schedule has.

mod eval;
mod lexer;
mod lower;
mod parser;
mod schedules;

pub(crate) use eval::Visible;
pub(crate) use lexer::Cmp;
pub(crate) use parser::{Filter, status_name};
pub(crate) use schedules::ScheduleFilter;

use crate::error::EngineError;

/// An error in a query, worded as the real server words it.
pub(crate) fn invalid(what: impl std::fmt::Display) -> EngineError {
    EngineError::invalid(format!("invalid query: {what}"))
}
