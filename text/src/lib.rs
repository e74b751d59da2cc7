//! The text formats operators write, parsed with no actors, no HTTP and no SQL (so the fuzz
//! targets build them alone): durations and sizes ([`units`], settings and alert rules),
//! alert-rule conditions ([`condition`]) and scopes ([`scope`]), and the silence matcher's
//! resource patterns ([`glob`]).

pub mod condition;
pub mod glob;
pub mod scope;
pub mod units;
