//! The change history: what changed in each cluster, and when (seed 003's inventory
//! history, built from the snapshots the agents already send).
//!
//! - [`inventory`]: what of a snapshot is followed, and the diff of two.
//! - [`persister`]: the actor that diffs each cluster's consecutive snapshots and records
//!   the changes (`db::changes`).
//!
//! Reading them (the changes list, the timeline, the notifier's "recent changes") is
//! `service::changes`.

pub mod inventory;
pub mod persister;
