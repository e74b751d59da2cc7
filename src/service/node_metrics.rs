//! Node hardware metrics as the persister stored them: the latest snapshot of every node
//! of a cluster, read back for the dashboard APIs (ours and the AtlHyper dashboard's).

use std::collections::BTreeMap;

use atlhyper_actors::model::NodeMetricsSnapshot;

use crate::db::{Db, DbError};

/// Longest history window a client may ask for, hours: the 30 days the history is kept.
pub const MAX_HISTORY_HOURS: i64 = 720;

/// The latest metrics of every node of `cluster_id`, by node name. A row that no longer
/// parses is logged and skipped: one unreadable row must not hide the other nodes.
pub async fn latest(
    db: &Db,
    cluster_id: &str,
) -> Result<BTreeMap<String, NodeMetricsSnapshot>, DbError> {
    let rows = db.node_metrics().list_latest(cluster_id).await?;
    let mut nodes = BTreeMap::new();
    for (name, json) in rows {
        match serde_json::from_str::<NodeMetricsSnapshot>(&json) {
            Ok(m) => {
                nodes.insert(name, m);
            }
            Err(e) => {
                tracing::warn!(%cluster_id, node = %name, error = %e, "corrupt node_metrics_latest row")
            }
        }
    }
    Ok(nodes)
}
