//! The storage the actors need, as a small trait: the service implements it with diesel,
//! the actor unit tests with an in-memory fake.
//!
//! Every call returns a boxed `Send` future so an actor can spawn it without blocking its
//! mailbox; the implementation is responsible for running blocking I/O off the actor thread.

use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::command::CommandState;
use crate::messages::{QueuedCommand, RunningCommand};

/// A storage failure. The message is for the log, never for a client.
#[derive(Debug, thiserror::Error)]
#[error("store error: {0}")]
pub struct StoreError(pub String);

/// What the store returns, boxed so that the trait stays object-safe.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'static>>;

/// Durable state the cluster actors and the registry write.
pub trait Store: Send + Sync + 'static {
    /// Moves `command_id` to `to` if, and only if, its current state is one of `from`.
    /// Returns whether the row changed. The timestamps that go with `to` (started,
    /// finished, duration) are the store's business.
    fn transition(
        &self,
        command_id: &str,
        from: &'static [CommandState],
        to: CommandState,
        at: DateTime<Utc>,
    ) -> StoreFuture<bool>;

    /// Records that a cluster exists (first contact). A no-op when it is already known.
    fn register_cluster(&self, cluster_id: &str, at: DateTime<Utc>) -> StoreFuture<()>;

    /// Remembers when a cluster was last seen, so that a restart can still show it.
    fn record_last_seen(&self, cluster_id: &str, at: DateTime<Utc>) -> StoreFuture<()>;

    /// The cluster's pending commands (oldest first) and running ones, for an actor the
    /// registry restarts after it died (a panic).
    fn unfinished(
        &self,
        cluster_id: &str,
    ) -> StoreFuture<(Vec<QueuedCommand>, Vec<RunningCommand>)>;
}
