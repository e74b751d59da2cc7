//! atlhyper-master: the control plane for a fleet of Kubernetes clusters, speaking the
//! AtlHyper v2.1 agent protocol. See the README for the topology.

pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod startup;
pub mod telemetry;
