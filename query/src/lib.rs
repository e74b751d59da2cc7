//! The query DSL of `spec/api.md` ("Query DSL"): `pods(cluster="prod").where(restarts > 5)`.
//!
//! - [`parse`]: text to syntax tree, with byte positions on errors and hard bounds on length,
//!   nesting and comparisons;
//! - [`plan`]: the tree checked against the model (kinds, arguments, fields traced from the
//!   model's own serde impls, computed fields, bounded regular expressions);
//! - [`Plan::run_snapshot`] / [`Plan::merge`] / [`Plan::render`]: evaluation on shared
//!   snapshots, one cluster at a time, and the merge across clusters.
//!
//! No HTTP, no SQL, no actors: the master fans out to its cluster actors and storage; this
//! crate is what the fuzz target and the benchmark exercise directly.

pub mod ast;
pub mod error;
mod exec;
pub mod filter;
pub mod parse;
mod path;
mod plan;
pub mod schema;

pub use error::QueryError;
pub use exec::{Merged, Partial, MAX_GROUPS, MAX_KEY_BYTES};
pub use filter::{Filter, LabelSel};
pub use parse::parse;
pub use plan::{
    plan, Clusters, Plan, ARGS, CHANGE_FIELDS, DEFAULT_LIMIT, HISTORY_EVENT_FIELDS, MAX_LIMIT,
    MAX_REGEXES, MAX_REGEX_BYTES,
};

/// Parses and checks a query.
pub fn compile(text: &str) -> Result<Plan, QueryError> {
    plan(&parse(text)?)
}

#[cfg(test)]
mod tests;
