-- Clusters known to the master (seed 000 §9.2.2), plus when each was last seen.
-- Timestamps are TIMESTAMP (diesel writes one sortable text format: "YYYY-MM-DD HH:MM:SS.ffffff", UTC).
CREATE TABLE clusters (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cluster_uid   TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    environment   TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    last_seen_at  TIMESTAMP
);

-- Command history (seed 000 §9.2.4) extended with what the durable lifecycle needs:
-- the long-poll topic, who created it, and the agent's result split into columns.
CREATE TABLE command_history (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    command_id        TEXT NOT NULL UNIQUE,
    cluster_id        TEXT NOT NULL,
    topic             TEXT NOT NULL DEFAULT 'ops',
    source            TEXT NOT NULL DEFAULT 'web',
    user_id           INTEGER,
    created_by        TEXT,
    action            TEXT NOT NULL,
    target_kind       TEXT NOT NULL DEFAULT '',
    target_namespace  TEXT NOT NULL DEFAULT '',
    target_name       TEXT NOT NULL DEFAULT '',
    params            TEXT NOT NULL DEFAULT '{}',
    status            TEXT NOT NULL CHECK (status IN ('pending','running','success','failed','timeout','cancelled','expired')),
    result            TEXT,
    success           BOOLEAN,
    output            TEXT,
    output_truncated  BOOLEAN NOT NULL DEFAULT 0,
    error_message     TEXT,
    executed_at       TEXT,
    created_at        TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    duration_ms       BIGINT
);
CREATE INDEX idx_cmd_cluster ON command_history (cluster_id, created_at DESC);
-- Startup reloads unfinished commands; a partial index keeps that cheap on a large history.
CREATE INDEX idx_cmd_unfinished ON command_history (status) WHERE status IN ('pending', 'running');
