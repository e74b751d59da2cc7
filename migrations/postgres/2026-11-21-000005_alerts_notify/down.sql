DROP TABLE notify_deliveries;
DROP TABLE notify_channels;
DROP TABLE silences;
DROP TABLE alert_history;
DROP TABLE alert_rules;
