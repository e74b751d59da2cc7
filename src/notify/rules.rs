//! Alert rule conditions and their evaluation against a cluster snapshot.
//!
//! - [`condition`]: the metric catalogue ([`Metric`]), the comparison ([`Op`]) and the
//!   validated rule condition ([`Condition`]) with its canonical JSON and its one-line
//!   description.
//! - [`scope`]: which clusters, namespace and labels a rule covers ([`Scope`]).
//! - [`eval`]: [`Evaluator`], which finds every resource of a snapshot for which a condition
//!   holds ([`Observation`]); it remembers pod restart counts across snapshots for
//!   `pod.recent_restarts`.
//! - [`mod@enrich`]: the details shown with an alert (pod phase, node conditions, ...), looked up
//!   in the snapshot (reference §7.1 "Enrichment").
//!
//! Nothing here does I/O, holds a lock or clones a snapshot: the notifier owns an
//! [`Evaluator`] and calls it on its own thread.

/// From `atlhyper-text` (the fuzz targets build it alone).
pub use atlhyper_text::condition;
pub mod enrich;
pub mod eval;
/// From `atlhyper-text`.
pub use atlhyper_text::scope;
pub mod slo;

pub use condition::{format_duration, Condition, Metric, Op, MAX_FOR, RESOURCE_TYPES};
pub use enrich::enrich;
pub use eval::{Evaluator, Observation, EVENT_ACTIVE_WINDOW, RECENT_RESTARTS_WINDOW};
pub use scope::Scope;

/// The duration parser shared with the configuration (Go syntax: `30s`, `5m`, `1h30m`).
pub use atlhyper_text::units::parse_duration;
