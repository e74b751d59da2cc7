-- The AI assistant (seed 000 §9.2.5; reference §4 ai_* tables, without v2.1's defects).

-- Model providers. `api_key` is encrypted at rest by the master's secret box (empty for a
-- local server that needs no key); replies show it masked only. Usage counters are kept per
-- provider.
CREATE TABLE ai_providers (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    name                 TEXT NOT NULL UNIQUE,
    kind                 TEXT NOT NULL CHECK (kind IN ('openai', 'anthropic', 'gemini')),
    base_url             TEXT,
    model                TEXT NOT NULL,
    api_key              TEXT NOT NULL DEFAULT '',
    description          TEXT NOT NULL DEFAULT '',
    total_requests       BIGINT NOT NULL DEFAULT 0,
    total_input_tokens   BIGINT NOT NULL DEFAULT 0,
    total_output_tokens  BIGINT NOT NULL DEFAULT 0,
    total_errors         BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    last_error_at        TIMESTAMP,
    last_used_at         TIMESTAMP,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    created_by           INTEGER
);

-- The one active configuration: whether chat is on, which provider answers and how long an
-- agent tool may take. Seeded on first start from MASTER_AI_ENABLED / MASTER_AI_TOOL_TIMEOUT.
-- A provider in use cannot be deleted (RESTRICT; the API answers 409 first).
CREATE TABLE ai_settings (
    id                 INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    enabled            BOOLEAN NOT NULL DEFAULT 0,
    provider_id        INTEGER REFERENCES ai_providers (id) ON DELETE RESTRICT,
    tool_timeout_secs  INTEGER NOT NULL CHECK (tool_timeout_secs > 0),
    updated_at         TIMESTAMP NOT NULL,
    updated_by         INTEGER
);

-- Conversations belong to one user; deleting the user or the conversation deletes its
-- messages and tool calls.
CREATE TABLE ai_conversations (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    user_id              INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    cluster_id           TEXT,
    title                TEXT NOT NULL,
    message_count        INTEGER NOT NULL DEFAULT 0,
    total_input_tokens   BIGINT NOT NULL DEFAULT 0,
    total_output_tokens  BIGINT NOT NULL DEFAULT 0,
    total_tool_calls     INTEGER NOT NULL DEFAULT 0,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL
);
CREATE INDEX ai_conversations_user ON ai_conversations (user_id, updated_at);

-- Messages: `status` is `complete`, `interrupted` (the client went away: the partial
-- answer) or `error` (the provider failed: `error` says how).
CREATE TABLE ai_messages (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    conversation_id  INTEGER NOT NULL REFERENCES ai_conversations (id) ON DELETE CASCADE,
    role             TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content          TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'interrupted', 'error')),
    error            TEXT,
    input_tokens     BIGINT NOT NULL DEFAULT 0,
    output_tokens    BIGINT NOT NULL DEFAULT 0,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX ai_messages_conversation ON ai_messages (conversation_id, id);

-- Every tool call of an answer, in order.
CREATE TABLE ai_tool_calls (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    message_id       INTEGER NOT NULL REFERENCES ai_messages (id) ON DELETE CASCADE,
    round            INTEGER NOT NULL,
    call_id          TEXT NOT NULL,
    name             TEXT NOT NULL,
    input            TEXT NOT NULL,
    output           TEXT NOT NULL,
    success          BOOLEAN NOT NULL,
    duration_ms      BIGINT NOT NULL,
    created_at       TIMESTAMP NOT NULL
);
CREATE INDEX ai_tool_calls_message ON ai_tool_calls (message_id, id);

-- Commands the assistant proposed. Nothing runs until an operator approves; approval
-- creates an ordinary command (`command_id`). A pending proposal past `expires_at` is
-- expired. The proposal outlives its conversation (who proposed what stays on record).
CREATE TABLE ai_proposals (
    id                INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    conversation_id   INTEGER REFERENCES ai_conversations (id) ON DELETE SET NULL,
    user_id           INTEGER NOT NULL,
    username          TEXT NOT NULL,
    cluster_id        TEXT NOT NULL,
    action            TEXT NOT NULL,
    target_kind       TEXT NOT NULL,
    target_namespace  TEXT NOT NULL,
    target_name       TEXT NOT NULL,
    params            TEXT NOT NULL,
    reason            TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at        TIMESTAMP NOT NULL,
    expires_at        TIMESTAMP NOT NULL,
    decided_at        TIMESTAMP,
    decided_by        TEXT,
    command_id        TEXT
);
CREATE INDEX ai_proposals_created ON ai_proposals (created_at);
