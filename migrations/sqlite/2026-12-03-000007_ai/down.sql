DROP TABLE ai_proposals;
DROP TABLE ai_tool_calls;
DROP TABLE ai_messages;
DROP TABLE ai_conversations;
DROP TABLE ai_settings;
DROP TABLE ai_providers;
