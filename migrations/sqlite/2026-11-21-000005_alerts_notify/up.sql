-- Alert rules (seed 000 §9.2.6). Built-in rules carry a `builtin` key: they can be tuned or
-- disabled through the API but not deleted. `condition` is canonical JSON
-- {metric, op, threshold, for, reasons?}; `labels` a JSON object; `notify_channels` a JSON
-- array of channel types (empty: every effective channel).
CREATE TABLE alert_rules (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name             TEXT NOT NULL UNIQUE,
    description      TEXT NOT NULL DEFAULT '',
    builtin          TEXT UNIQUE,
    cluster_id       TEXT,
    namespace        TEXT,
    labels           TEXT NOT NULL DEFAULT '{}',
    resource_type    TEXT NOT NULL,
    condition        TEXT NOT NULL,
    severity         TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    enabled          BOOLEAN NOT NULL DEFAULT 1,
    notify_channels  TEXT NOT NULL DEFAULT '[]',
    cooldown_sec     INTEGER NOT NULL DEFAULT 0 CHECK (cooldown_sec >= 0),
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    created_by       INTEGER
);

INSERT INTO alert_rules (name, description, builtin, resource_type, condition, severity, cooldown_sec, created_at, updated_at) VALUES
 ('agent_offline', 'The cluster''s agent stopped talking to the master (heartbeat timeout).', 'agent_offline', 'cluster',
  '{"metric":"cluster.offline","op":">=","threshold":1,"for":"0s"}', 'critical', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('warning_events', 'Warning events with a reason worth a page, seen at least `threshold` times; one alert per involved object and reason.', 'warning_events', 'event',
  '{"metric":"event.count","op":">=","threshold":3,"for":"0s","reasons":["BackOff","CrashLoopBackOff","Failed","FailedScheduling","FailedMount","FailedAttachVolume","FailedCreate","FailedCreatePodSandBox","Unhealthy","OOMKilling","Evicted","NodeNotReady","FailedKillPod","ImagePullBackOff","ErrImagePull"]}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('node_cpu_high', 'Node CPU usage stays high.', 'node_cpu_high', 'node',
  '{"metric":"node.cpu_usage","op":">=","threshold":90,"for":"5m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('node_memory_high', 'Node memory usage stays high.', 'node_memory_high', 'node',
  '{"metric":"node.memory_usage","op":">=","threshold":90,"for":"5m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('node_disk_high', 'The node''s primary disk is filling up.', 'node_disk_high', 'node',
  '{"metric":"node.disk_usage","op":">=","threshold":85,"for":"5m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('node_temperature_high', 'The node''s CPU runs hot.', 'node_temperature_high', 'node',
  '{"metric":"node.temperature","op":">=","threshold":85,"for":"5m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('node_not_ready', 'A node is not Ready.', 'node_not_ready', 'node',
  '{"metric":"node.not_ready","op":">=","threshold":1,"for":"1m"}', 'critical', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('deployment_unavailable', 'A Deployment has unavailable replicas.', 'deployment_unavailable', 'deployment',
  '{"metric":"deployment.unavailable_replicas","op":">","threshold":0,"for":"5m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('pod_restarting', 'A pod restarted repeatedly within 15 minutes.', 'pod_restarting', 'pod',
  '{"metric":"pod.recent_restarts","op":">=","threshold":3,"for":"0s"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('command_failed', 'An operational command failed or timed out.', 'command_failed', 'command',
  '{"metric":"command.failed","op":">=","threshold":1,"for":"0s"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);

-- Alert history (seed 000 §9.2.6): one row per firing episode of a fingerprint
-- (rule, cluster, resource). `suppressed` says why a firing was not notified
-- (silenced, inhibited, cooldown, no_channel); the row is recorded either way.
CREATE TABLE alert_history (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    uid                 TEXT NOT NULL UNIQUE,
    rule_id             INTEGER REFERENCES alert_rules (id) ON DELETE SET NULL,
    rule_name           TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    cluster_id          TEXT NOT NULL,
    severity            TEXT NOT NULL,
    title               TEXT NOT NULL,
    message             TEXT NOT NULL,
    resource_kind       TEXT NOT NULL,
    resource_namespace  TEXT NOT NULL,
    resource_name       TEXT NOT NULL,
    value               DOUBLE,
    details             TEXT NOT NULL DEFAULT '[]',
    status              TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
    fired_at            TIMESTAMP NOT NULL,
    resolved_at         TIMESTAMP,
    notified            BOOLEAN NOT NULL DEFAULT 0,
    suppressed          TEXT,
    last_notified_at    TIMESTAMP
);
-- At most one firing episode per fingerprint: a restart can never fire a duplicate.
CREATE UNIQUE INDEX idx_alert_history_firing ON alert_history (fingerprint) WHERE status = 'firing';
CREATE INDEX idx_alert_history_fired ON alert_history (fired_at DESC);
CREATE INDEX idx_alert_history_cluster ON alert_history (cluster_id, fired_at DESC);

-- Silences: matchers (NULL = any; `resource` may use `*` globs) and a time window.
CREATE TABLE silences (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cluster_id  TEXT,
    rule        TEXT,
    resource    TEXT,
    starts_at   TIMESTAMP NOT NULL,
    ends_at     TIMESTAMP NOT NULL,
    comment     TEXT NOT NULL DEFAULT '',
    created_by  TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX idx_silences_ends ON silences (ends_at);

-- Channels, one row per type (seed 000 §9.2.6). `config` is the whole JSON config,
-- AES-256-GCM encrypted (`enc:v1:`), never stored in clear.
CREATE TABLE notify_channels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    type        TEXT NOT NULL UNIQUE CHECK (type IN ('slack', 'email', 'webhook', 'dingtalk', 'feishu')),
    name        TEXT NOT NULL,
    enabled     BOOLEAN NOT NULL DEFAULT 0,
    config      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    updated_by  INTEGER
);

-- The outbox: every message is written here before it is sent, one row per channel.
-- status: pending (waiting or retrying), delivered, failed (gave up or permanent error),
-- folded (merged into the digest row `digest_id` because the channel's budget overflowed).
CREATE TABLE notify_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    channel          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    alert_uid        TEXT,
    cluster_id       TEXT NOT NULL DEFAULT '',
    rule_name        TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL,
    message          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'folded')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMP NOT NULL,
    last_error       TEXT,
    digest_id        INTEGER REFERENCES notify_deliveries (id) ON DELETE SET NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    delivered_at     TIMESTAMP
);
CREATE INDEX idx_deliveries_due ON notify_deliveries (status, next_attempt_at);
CREATE INDEX idx_deliveries_created ON notify_deliveries (created_at DESC);
