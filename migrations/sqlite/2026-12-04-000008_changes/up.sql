-- What changed, and when (seed 003: clients, inventory history, agent versions).

-- Per cluster, what its agent said about itself and where it connected from. The live
-- values are the cluster actor's; this row is what survives a restart (first seen, the
-- last connect and disconnect, the version and address last observed).
CREATE TABLE cluster_agents (
    cluster_id       TEXT PRIMARY KEY NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    agent_version    TEXT,
    version_source   TEXT NOT NULL DEFAULT '',
    hostname         TEXT NOT NULL DEFAULT '',
    reported_ip      TEXT NOT NULL DEFAULT '',
    remote_addr      TEXT NOT NULL DEFAULT '',
    user_agent       TEXT NOT NULL DEFAULT '',
    first_seen       TIMESTAMP NOT NULL,
    last_seen        TIMESTAMP NOT NULL,
    connected_at     TIMESTAMP,
    disconnected_at  TIMESTAMP,
    updated_at       TIMESTAMP NOT NULL
);

-- The agent version catalogue. At most one row is `is_latest`, at most one `is_minimum`
-- (the policy: an agent older than it is outdated).
CREATE TABLE agent_versions (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    version             TEXT NOT NULL UNIQUE,
    release_date        TIMESTAMP,
    is_latest           BOOLEAN NOT NULL DEFAULT 0,
    is_minimum          BOOLEAN NOT NULL DEFAULT 0,
    min_master_version  TEXT,
    notes               TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);

-- Changes found by diffing a cluster's consecutive snapshots: never copies, never values.
-- `time` is the snapshot's time of the first change of the row, `last_time` of the latest
-- one folded into it (`count` changes in all: a noisy object is summarised in one row).
-- `tier` marks periodic snapshots for tiered retention: `day`, `month` or `quarter`.
CREATE TABLE cluster_changes (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cluster_id   TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    time         TIMESTAMP NOT NULL,
    last_time    TIMESTAMP NOT NULL,
    kind         TEXT NOT NULL,
    namespace    TEXT NOT NULL DEFAULT '',
    name         TEXT NOT NULL DEFAULT '',
    change_type  TEXT NOT NULL,
    summary      TEXT NOT NULL,
    old_value    TEXT NOT NULL DEFAULT '',
    new_value    TEXT NOT NULL DEFAULT '',
    count        INTEGER NOT NULL DEFAULT 1,
    command_id   TEXT,
    tier         TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMP NOT NULL
);
CREATE INDEX idx_changes_cluster_time ON cluster_changes (cluster_id, time DESC);
CREATE INDEX idx_changes_object ON cluster_changes (cluster_id, kind, namespace, name, time DESC);
CREATE INDEX idx_changes_type ON cluster_changes (cluster_id, change_type, time DESC);

-- The inventory the change persister last diffed, per cluster, written in the same
-- transaction as the changes it found: a restart diffs the next snapshot against it and
-- records nothing twice.
CREATE TABLE change_state (
    cluster_id   TEXT PRIMARY KEY NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    snapshot_at  TIMESTAMP NOT NULL,
    state        TEXT NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

-- The built-in rule of the agent version policy: one alert per cluster whose agent is older
-- than the catalogue's minimum version; tunable (severity, cooldown, scope, channels). A
-- user rule already named `agent_outdated` is left alone (and this rule is then not added).
INSERT INTO alert_rules (name, description, builtin, resource_type, condition, severity, cooldown_sec, created_at, updated_at)
SELECT 'agent_outdated', 'The cluster''s agent is older than the agent version policy''s minimum (see /api/v2/agent-versions).', 'agent_outdated', 'cluster',
  '{"metric":"cluster.agent_outdated","op":">=","threshold":1,"for":"0s"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
WHERE NOT EXISTS (SELECT 1 FROM alert_rules WHERE name = 'agent_outdated');
