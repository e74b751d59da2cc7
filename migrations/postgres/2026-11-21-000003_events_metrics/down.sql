DROP TABLE settings;
DROP TABLE node_metrics_history;
DROP TABLE node_metrics_latest;
DROP TABLE event_resource_snapshot;
DROP TABLE cluster_events;
