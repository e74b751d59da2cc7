//! The service layer: business rules between the HTTP handlers and the storage layer.
//!
//! A handler parses the request, calls one service function and shapes the reply. A
//! service takes the narrow pieces it needs (the `Db`, the agent-token cache, the
//! registry address, the secret box), decides (who may do what to whom, what a command
//! row holds, how a channel config merges), and calls named repository functions of
//! `db/` for everything stored. Services never see a connection, SQL or a transaction;
//! where a rule must hold atomically, the repository runs it inside its transaction.

pub mod agents;
pub mod ai;
pub mod changes;
pub mod clusters;
pub mod commands;
pub mod events;
pub mod node_metrics;
pub mod notify;
pub mod overview;
pub mod query;
pub mod resources;
pub mod slo;
pub mod users;
