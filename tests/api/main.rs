//! HTTP tests through the real server on port 0 with a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod agent;
mod cleanup;
mod commands;
mod events;
mod helpers;
mod liveness;
mod metrics;
mod node_metrics;
mod notify;
mod resources;
mod security;
#[path = "../support/sinks.rs"]
mod sinks;
