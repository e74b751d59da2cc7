//! SLOs per domain and path (seed 004; reference §6, corrected).
//!
//! Data flows one way: an SLO push is published on the bus by its cluster actor; the
//! [`persister`] turns it into per-route deltas ([`ingest`]) and stores them in clock-aligned
//! series rows at three resolutions ([`window`]); the API and the persister's own
//! evaluation read windows of those rows ([`query`]) and compute the metrics ([`maths`]).
//! Everything but the persister is pure or a thin read, tested on its own.

pub mod ingest;
pub mod maths;
pub mod persister;
pub mod query;
pub mod window;
