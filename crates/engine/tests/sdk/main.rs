//! End-to-end tests: the engine on a loopback port, the official Temporal SDK client and a
//! real SDK worker talking gRPC to it. One binary, one file per scenario.

// Items are `pub` for sibling modules; this binary exports nothing.
#![allow(unreachable_pub)]

mod activities;
mod bad_input;
mod basics;
mod children;
mod cli;
mod control;
mod disk_faults;
mod harness;
mod history;
mod persistence;
mod postgres_faults;
mod queries;
mod retention;
mod security;
mod single_engine;
mod sticky;
mod time_skipping;
mod updates;
mod visibility;
mod workflows;
