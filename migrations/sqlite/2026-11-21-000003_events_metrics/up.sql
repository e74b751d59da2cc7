-- Kubernetes events kept long after their one-hour TTL (seed 000 §9.2.7).
-- Keyed by (cluster, event uid): a hostile agent cannot overwrite another cluster's events.
-- count and last_timestamp are the agent's values, never summed across pushes.
CREATE TABLE cluster_events (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_uid           TEXT NOT NULL,
    cluster_id          TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    namespace           TEXT NOT NULL DEFAULT '',
    name                TEXT NOT NULL DEFAULT '',
    type                TEXT NOT NULL DEFAULT '',
    reason              TEXT NOT NULL DEFAULT '',
    message             TEXT NOT NULL DEFAULT '',
    source_component    TEXT NOT NULL DEFAULT '',
    source_host         TEXT NOT NULL DEFAULT '',
    involved_kind       TEXT NOT NULL DEFAULT '',
    involved_name       TEXT NOT NULL DEFAULT '',
    involved_namespace  TEXT NOT NULL DEFAULT '',
    involved_uid        TEXT NOT NULL DEFAULT '',
    first_timestamp     TIMESTAMP,
    last_timestamp      TIMESTAMP NOT NULL,
    count               INTEGER NOT NULL DEFAULT 1,
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    UNIQUE (cluster_id, event_uid)
);
CREATE INDEX idx_events_cluster_time ON cluster_events (cluster_id, last_timestamp DESC);
CREATE INDEX idx_events_involved ON cluster_events (cluster_id, involved_kind, involved_namespace, involved_name);
CREATE INDEX idx_events_type ON cluster_events (cluster_id, type, last_timestamp DESC);
CREATE INDEX idx_events_reason ON cluster_events (cluster_id, reason, last_timestamp DESC);
CREATE INDEX idx_events_source_host ON cluster_events (cluster_id, source_host);

-- The involved object as seen when a Warning event was stored (optional).
CREATE TABLE event_resource_snapshot (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    event_id            INTEGER NOT NULL REFERENCES cluster_events (id) ON DELETE CASCADE,
    resource_kind       TEXT NOT NULL,
    resource_name       TEXT NOT NULL,
    resource_namespace  TEXT NOT NULL DEFAULT '',
    resource_uid        TEXT NOT NULL DEFAULT '',
    snapshot_data       TEXT NOT NULL,
    created_at          TIMESTAMP NOT NULL
);
CREATE INDEX idx_event_snapshot_event ON event_resource_snapshot (event_id);

-- Latest node hardware metrics, one row per node (seed 001 §2.1).
CREATE TABLE node_metrics_latest (
    cluster_id   TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    node_name    TEXT NOT NULL,
    timestamp    TIMESTAMP NOT NULL,
    snapshot     TEXT NOT NULL,
    cpu_usage    DOUBLE NOT NULL DEFAULT 0,
    mem_usage    DOUBLE NOT NULL DEFAULT 0,
    disk_usage   DOUBLE NOT NULL DEFAULT 0,
    temperature  DOUBLE NOT NULL DEFAULT 0,
    updated_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (cluster_id, node_name)
);

-- Sampled history for trend charts: one row per node per MASTER_METRICS_SAMPLE_INTERVAL.
CREATE TABLE node_metrics_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cluster_id    TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    node_name     TEXT NOT NULL,
    timestamp     TIMESTAMP NOT NULL,
    cpu_usage     DOUBLE NOT NULL DEFAULT 0,
    mem_usage     DOUBLE NOT NULL DEFAULT 0,
    disk_usage    DOUBLE NOT NULL DEFAULT 0,
    net_rx_bytes  DOUBLE NOT NULL DEFAULT 0,
    net_tx_bytes  DOUBLE NOT NULL DEFAULT 0,
    temperature   DOUBLE NOT NULL DEFAULT 0,
    UNIQUE (cluster_id, node_name, timestamp)
);
CREATE INDEX idx_history_timestamp ON node_metrics_history (timestamp);

-- Runtime settings (seed 000 §9.2.8), e.g. the retention policy; values are JSON.
CREATE TABLE settings (
    key          TEXT PRIMARY KEY NOT NULL,
    value        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMP NOT NULL,
    updated_by   INTEGER
);
