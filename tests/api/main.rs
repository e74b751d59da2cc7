//! HTTP tests through the real server on port 0 with a real SQLite file.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod agent;
mod commands;
mod helpers;
mod liveness;
mod resources;
mod security;
