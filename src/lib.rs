//! atlhyper-master: the control plane for a fleet of Kubernetes clusters, speaking the
//! AtlHyper v2.1 agent protocol. See the README for the topology.

pub mod ai;
pub mod audit;
pub mod auth;
pub mod changes;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod notify;
pub mod persist;
pub mod ratelimit;
pub mod secrets;
pub mod service;
pub mod slo;
pub mod startup;
pub mod state;
pub mod telemetry;
