//! HTTP tests through the real server on port 0 with a real SQLite file, or a real
//! PostgreSQL schema when `MASTER_TEST_PG_URL` is set (see `support/db.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod agent;
mod ai;
mod changes;
mod cleanup;
mod commands;
mod console;
#[path = "../support/db.rs"]
mod db;
mod events;
mod fake_llm;
mod helpers;
mod liveness;
mod metrics;
mod node_metrics;
mod notify;
mod openapi;
mod query;
mod resources;
mod security;
#[path = "../support/sinks.rs"]
mod sinks;
mod slo;
mod storage;
mod v21;
#[path = "../support/webdriver.rs"]
mod webdriver;
