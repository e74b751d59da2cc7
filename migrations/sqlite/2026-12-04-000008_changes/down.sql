DELETE FROM alert_rules WHERE builtin = 'agent_outdated';
DROP TABLE change_state;
DROP TABLE cluster_changes;
DROP TABLE agent_versions;
DROP TABLE cluster_agents;
