//! Macros for the identity parts shared by several types: the Go `CommonMeta` fields and the
//! [`ResourceMeta`](super::ResourceMeta) impls.
//!
//! Paths inside the macros are absolute, so an invocation needs no particular imports.

/// Declares a struct that embeds Go's `CommonMeta` and implements [`ResourceMeta`](super::ResourceMeta).
///
/// Go embeds `CommonMeta`, so its nine keys (`uid`, `name`, `namespace`, `kind`, `node_name`, `owner_kind`,
/// `owner_name`, `labels`, `created_at`, snake_case) come first in the JSON, before the type's own fields.
/// The macro writes `#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]` and
/// `#[serde(default)]` itself (no `rename_all`: the `CommonMeta` keys are snake_case); the attributes given
/// (the doc comment) are kept, as are the own fields with their attributes and docs, in order.
/// The path after the name is the [`Kind`](super::Kind) returned by `kind()`.
///
/// ```text
/// common_meta_struct! {
///     /// One Job (CommonMeta keys inline).
///     pub struct Job: Kind::Job {
///         /// Active pods.
///         pub active: i32,
///     }
/// }
/// ```
macro_rules! common_meta_struct {
    (
        $(#[$attr:meta])*
        pub struct $name:ident: $kind:path {
            $(
                $(#[$field_attr:meta])*
                pub $field:ident: $ty:ty
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Default, PartialEq, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(default)]
        pub struct $name {
            /// Kubernetes UID.
            pub uid: $crate::Text,
            /// Object name.
            pub name: $crate::Text,
            /// Namespace (empty for cluster-scoped objects).
            #[serde(skip_serializing_if = "crate::Text::is_empty")]
            pub namespace: $crate::Text,
            /// Kubernetes kind.
            pub kind: $crate::Text,
            /// Node the object is bound to, if any.
            #[serde(skip_serializing_if = "crate::Text::is_empty")]
            pub node_name: $crate::Text,
            /// Kind of the controlling owner.
            #[serde(skip_serializing_if = "crate::Text::is_empty")]
            pub owner_kind: $crate::Text,
            /// Name of the controlling owner.
            #[serde(skip_serializing_if = "crate::Text::is_empty")]
            pub owner_name: $crate::Text,
            /// Labels.
            #[serde(
                default,
                deserialize_with = "crate::serde_util::null_default",
                skip_serializing_if = "crate::StrMap::is_empty"
            )]
            pub labels: $crate::StrMap,
            /// Creation time.
            pub created_at: $crate::GoTime,
            $(
                $(#[$field_attr])*
                pub $field: $ty,
            )*
        }

        impl $crate::ResourceMeta for $name {
            fn kind() -> $crate::Kind {
                $kind
            }
            fn namespace(&self) -> &str {
                &self.namespace
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn labels(&self) -> &$crate::StrMap {
                &self.labels
            }
            fn uid(&self) -> &str {
                &self.uid
            }
        }
    };
}

/// Implements [`ResourceMeta`](super::ResourceMeta) for a type whose name (and namespace) live in its
/// `summary` and whose labels are its top-level `labels`.
///
/// `summary_meta!(Service, Kind::Service)` reads `summary.namespace`; `summary_meta!(Node, Kind::Node,
/// cluster_scoped)` is for a cluster-scoped type (its summary has no namespace) and returns `""` as the
/// namespace. Either form fails to compile when it disagrees with [`Kind::is_namespaced`](super::Kind).
/// `uid()` keeps the trait default (`""`).
macro_rules! summary_meta {
    (@namespace $this:ident) => {
        &$this.summary.namespace
    };
    (@namespace $this:ident, cluster_scoped) => {
        ""
    };
    (@check $kind:path) => {
        const _: () = assert!($kind.is_namespaced(), "a namespaced kind reads summary.namespace");
    };
    (@check $kind:path, cluster_scoped) => {
        const _: () = assert!(!$kind.is_namespaced(), "cluster_scoped on a namespaced kind");
    };
    ($ty:ty, $kind:path $(, $cluster_scoped:ident)?) => {
        $crate::meta::summary_meta!(@check $kind $(, $cluster_scoped)?);
        impl $crate::ResourceMeta for $ty {
            fn kind() -> $crate::Kind {
                $kind
            }
            fn namespace(&self) -> &str {
                $crate::meta::summary_meta!(@namespace self $(, $cluster_scoped)?)
            }
            fn name(&self) -> &str {
                &self.summary.name
            }
            fn labels(&self) -> &$crate::StrMap {
                &self.labels
            }
        }
    };
}

pub(crate) use common_meta_struct;
pub(crate) use summary_meta;
