-- SLOs per domain and path (seed 004, reference §6 done right).

-- Route mapping: a Traefik/Kong service key (or an nginx host) to (domain, path prefix).
-- Never wiped at startup; a route that disappears keeps its row with `gone_at` set.
CREATE TABLE slo_routes (
    cluster_id    TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    domain        TEXT NOT NULL,
    path_prefix   TEXT NOT NULL,
    service_key   TEXT NOT NULL,
    service_name  TEXT NOT NULL DEFAULT '',
    service_port  INTEGER NOT NULL DEFAULT 0,
    ingress_name  TEXT NOT NULL DEFAULT '',
    namespace     TEXT NOT NULL DEFAULT '',
    tls           BOOLEAN NOT NULL DEFAULT 0,
    source        TEXT NOT NULL CHECK (source IN ('agent', 'ingress')),
    first_seen    TIMESTAMP NOT NULL,
    last_seen     TIMESTAMP NOT NULL,
    gone_at       TIMESTAMP,
    PRIMARY KEY (cluster_id, domain, path_prefix)
);
CREATE INDEX idx_slo_routes_service ON slo_routes (cluster_id, service_key);

-- The last cumulative values of every counter and histogram of a cluster, as one JSON
-- document keyed by host, then by `method|status|ingress|namespace|service` and by `le`:
-- the delta of the next push is computed against it. Written in the same transaction as
-- the deltas it produced. `rolled_until`: the hourly and daily rows hold every minute
-- before it; the minutes from it on are only in the raw tier yet.
CREATE TABLE slo_push_state (
    cluster_id    TEXT NOT NULL PRIMARY KEY REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    pushed_at     TIMESTAMP NOT NULL,
    state         TEXT NOT NULL,
    rolled_until  TIMESTAMP
);

-- Per (cluster, domain, path) and clock-aligned period: the requests of the period.
-- `resolution` is the period in seconds: 60 (the raw tier, written with every push),
-- 3600 (hourly) and 86400 (daily), to which each minute is added once it is over.
-- `buckets` are the agent's own histogram bounds with cumulative counts, `le:count`
-- separated by spaces, each bound in whole nanoseconds (0.3 s is 300000000), `+Inf`
-- excluded (its count is `latency_count`).
CREATE TABLE slo_series (
    cluster_id     TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    resolution     INTEGER NOT NULL CHECK (resolution IN (60, 3600, 86400)),
    start_at       TIMESTAMP NOT NULL,
    domain         TEXT NOT NULL,
    path_prefix    TEXT NOT NULL,
    service_key    TEXT NOT NULL,
    requests       BIGINT NOT NULL DEFAULT 0,
    errors         BIGINT NOT NULL DEFAULT 0,
    client_errors  BIGINT NOT NULL DEFAULT 0,
    latency_sum    DOUBLE NOT NULL DEFAULT 0,
    latency_count  BIGINT NOT NULL DEFAULT 0,
    buckets        TEXT NOT NULL DEFAULT '',
    elapsed_ms     BIGINT NOT NULL DEFAULT 0,
    samples        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (cluster_id, resolution, start_at, domain, path_prefix)
);
CREATE INDEX idx_slo_series_age ON slo_series (resolution, start_at);

-- Targets per (cluster, domain, path prefix, time range); path_prefix '' covers every path
-- of the domain that has no target of its own. Routes without any use the configured defaults.
CREATE TABLE slo_targets (
    cluster_id      TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    domain          TEXT NOT NULL,
    path_prefix     TEXT NOT NULL,
    time_range      TEXT NOT NULL CHECK (time_range IN ('1h', '1d', '7d', '30d')),
    availability    DOUBLE NOT NULL,
    p95_latency_ms  DOUBLE NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    updated_by      INTEGER,
    PRIMARY KEY (cluster_id, domain, path_prefix, time_range)
);

-- Every status change of a route per time range (v2.1 had the table and never wrote it).
CREATE TABLE slo_status_history (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    cluster_id              TEXT NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    domain                  TEXT NOT NULL,
    path_prefix             TEXT NOT NULL,
    time_range              TEXT NOT NULL,
    old_status              TEXT NOT NULL,
    new_status              TEXT NOT NULL,
    availability            DOUBLE NOT NULL,
    p95_latency_ms          DOUBLE NOT NULL,
    error_budget_remaining  DOUBLE NOT NULL,
    changed_at              TIMESTAMP NOT NULL
);
CREATE INDEX idx_slo_status_route ON slo_status_history (cluster_id, domain, changed_at);
CREATE INDEX idx_slo_status_changed ON slo_status_history (changed_at);

-- Built-in burn-rate and latency rules (the SRE workbook's multi-window, multi-burn-rate
-- alerts): the value of a burn-rate metric is the smaller of its two windows, so `>=`
-- the threshold means both windows burn at least that fast.
INSERT INTO alert_rules (name, description, builtin, resource_type, condition, severity, cooldown_sec, created_at, updated_at) VALUES
 ('slo_burn_fast', 'A route burns its error budget fast: 2% of a 30-day budget in an hour (burn rate over 1h and over 5m).', 'slo_burn_fast', 'slo',
  '{"metric":"slo.burn_rate_fast","op":">=","threshold":14.4,"for":"0s"}', 'critical', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('slo_burn_medium', 'A route burns its error budget steadily: 5% of a 30-day budget in 6 hours (burn rate over 6h and over 30m).', 'slo_burn_medium', 'slo',
  '{"metric":"slo.burn_rate_medium","op":">=","threshold":6,"for":"0s"}', 'critical', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('slo_burn_slow', 'A route spends its error budget faster than it earns it (burn rate over 3d and over 6h).', 'slo_burn_slow', 'slo',
  '{"metric":"slo.burn_rate_slow","op":">=","threshold":1,"for":"0s"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
 ('slo_latency', 'A route''s p95 latency over the last hour is above its target (value: p95 / target).', 'slo_latency', 'slo',
  '{"metric":"slo.p95_over_target","op":">","threshold":1,"for":"10m"}', 'warning', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
