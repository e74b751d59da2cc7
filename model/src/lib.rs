//! Wire model of the AtlHyper v2.1 agent ⇄ master protocol (`model_v2` in the Go code).
//!
//! Every type (de)serializes with the exact JSON keys of the Go agent and accepts what Go's `encoding/json`
//! writes: `null` for empty lists, maps and pointers, missing keys (zero value), unknown keys (ignored) and
//! RFC 3339 times with nanoseconds and any offset ([`GoTime`]). `omitempty` fields are skipped on output when
//! empty; all other fields are always written.

mod agent;
mod command;
mod common;
mod config_storage;
mod event;
mod kind;
mod memo;
mod meta;
mod metrics;
mod network;
mod node;
mod pod;
pub mod quantity;
pub mod serde_util;
mod slo;
mod snapshot;
mod strmap;
#[cfg(test)]
mod test_support;
mod text;
mod time;
pub mod wire;
mod workload;

pub use agent::*;
pub use command::*;
pub use common::*;
pub use config_storage::*;
pub use event::*;
pub use kind::{Kind, UnknownKind, VisitItems};
pub use memo::{parse_reusing, Base, Memo, Memoized, Reuse};
pub use metrics::*;
pub use network::*;
pub use node::*;
pub use pod::*;
pub use serde_util::{is_false, is_zero_f64, is_zero_i32, is_zero_i64, null_default, null_vec};
pub use slo::*;
pub use snapshot::*;
pub use strmap::StrMap;
pub use text::{intern, interned, Text};
pub use time::{GoTime, GoTimeError};
pub use workload::*;

/// The empty map returned by [`ResourceMeta::labels`] for types without labels.
static EMPTY: std::sync::LazyLock<StrMap> = std::sync::LazyLock::new(StrMap::new);

/// Identity of an element of one of the [`ClusterSnapshot`] lists.
pub trait ResourceMeta {
    /// The [`Kind`] of the type, e.g. [`Kind::Pod`].
    fn kind() -> Kind
    where
        Self: Sized;
    /// Kubernetes kind name of the type, e.g. `"Pod"`.
    fn kind_name() -> &'static str
    where
        Self: Sized,
    {
        Self::kind().as_str()
    }
    /// Namespace, `""` for cluster-scoped objects.
    fn namespace(&self) -> &str;
    /// Object name.
    fn name(&self) -> &str;
    /// Labels (an empty map when the type carries none).
    fn labels(&self) -> &StrMap;
    /// Kubernetes UID, `""` when the type does not carry it.
    fn uid(&self) -> &str {
        ""
    }
}

/// The shared empty label map.
fn empty_labels() -> &'static StrMap {
    &EMPTY
}
