//! Nexus, the server-wide part: the endpoint registry (`endpoints`), which the
//! `OperatorService` endpoint RPCs edit and the `ScheduleNexusOperation` command reads, and
//! the completion token the engine hands a handler so that the workflow behind an async
//! operation reports back to the caller's run (`token`). The per-run operation machine is
//! `history/nexus.rs`; the RPCs are `api/nexus.rs`.

pub(crate) mod endpoints;
pub(crate) mod token;

pub(crate) use endpoints::{EndpointError, Endpoints};
