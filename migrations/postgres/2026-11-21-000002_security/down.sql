DROP TABLE security_events;
DROP TABLE audit_logs;
DROP TABLE agent_tokens;
DROP TABLE tokens;
DROP TABLE users;
