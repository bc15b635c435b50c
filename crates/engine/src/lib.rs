//! The embedded engine.
pub mod generated;
