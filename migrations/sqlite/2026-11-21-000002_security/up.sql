-- Users (seed 000 §9.2.1). Roles follow v2.1's numbering: 1 viewer < 2 operator < 3 admin.
CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    display_name   TEXT NOT NULL DEFAULT '',
    email          TEXT NOT NULL DEFAULT '',
    role           INTEGER NOT NULL CHECK (role IN (1, 2, 3)),
    status         INTEGER NOT NULL DEFAULT 1 CHECK (status IN (0, 1)),
    created_at     TIMESTAMP NOT NULL,
    updated_at     TIMESTAMP NOT NULL,
    last_login_at  TIMESTAMP,
    last_login_ip  TEXT
);

-- Session tokens and API keys, stored only as SHA-256 hashes of high-entropy secrets.
-- kind: 1 = session, 2 = API key. role: what the token may do (never above its user's).
CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL DEFAULT '',
    kind          INTEGER NOT NULL CHECK (kind IN (1, 2)),
    role          INTEGER NOT NULL CHECK (role IN (1, 2, 3)),
    expires_at    TIMESTAMP,
    last_used_at  TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP
);
CREATE INDEX idx_tokens_user ON tokens (user_id);

-- One agent token per cluster, stored as a SHA-256 hash.
CREATE TABLE agent_tokens (
    cluster_uid  TEXT PRIMARY KEY NOT NULL REFERENCES clusters (cluster_uid) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMP NOT NULL
);

-- Audit log (seed 000 §9.2.3). request_body is sanitized before it is written.
CREATE TABLE audit_logs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    timestamp      TIMESTAMP NOT NULL,
    user_id        INTEGER,
    username       TEXT NOT NULL DEFAULT '',
    role           INTEGER,
    source         TEXT NOT NULL DEFAULT 'web',
    action         TEXT NOT NULL,
    resource       TEXT NOT NULL,
    method         TEXT NOT NULL,
    request_body   TEXT,
    status_code    INTEGER NOT NULL,
    success        BOOLEAN NOT NULL,
    error_message  TEXT,
    ip             TEXT NOT NULL DEFAULT '',
    user_agent     TEXT NOT NULL DEFAULT '',
    duration_ms    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX idx_audit_timestamp ON audit_logs (timestamp DESC);
CREATE INDEX idx_audit_user ON audit_logs (user_id, timestamp DESC);

-- Security events (seed 000 §9.2.3).
CREATE TABLE security_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    timestamp    TIMESTAMP NOT NULL,
    event_type   TEXT NOT NULL,
    severity     TEXT NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    ip           TEXT NOT NULL DEFAULT '',
    user_id      INTEGER,
    token_id     INTEGER,
    resource     TEXT NOT NULL DEFAULT '',
    details      TEXT NOT NULL DEFAULT '{}',
    resolved     BOOLEAN NOT NULL DEFAULT 0,
    resolved_at  TIMESTAMP,
    resolved_by  INTEGER
);
CREATE INDEX idx_security_events_time ON security_events (timestamp DESC);
CREATE INDEX idx_security_events_type ON security_events (event_type, timestamp DESC);
