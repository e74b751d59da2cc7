//! One object of a cluster's latest snapshot, for the resources API and the assistant's
//! `get_resource` tool.

use serde::Serialize;

use atlhyper_actors::model::{ClusterSnapshot, Kind, ResourceMeta, VisitItems};

/// The object of `kind` named `namespace/name` (namespace `""` for cluster-scoped kinds),
/// as JSON in the shape the agent sent it.
pub fn find(
    snap: &ClusterSnapshot,
    kind: Kind,
    namespace: &str,
    name: &str,
) -> Option<serde_json::Value> {
    struct One<'k>(&'k str, &'k str);
    impl VisitItems<'_> for One<'_> {
        type Output = Option<serde_json::Value>;
        fn visit<T: ResourceMeta + Serialize + 'static>(self, items: &[T]) -> Self::Output {
            items
                .iter()
                .find(|r| r.namespace() == self.0 && r.name() == self.1)
                .and_then(|r| serde_json::to_value(r).ok())
        }
    }
    kind.visit(snap, One(namespace, name))
}
