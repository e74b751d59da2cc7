DELETE FROM alert_rules WHERE builtin IN ('slo_burn_fast', 'slo_burn_medium', 'slo_burn_slow', 'slo_latency');
DROP TABLE slo_status_history;
DROP TABLE slo_targets;
DROP TABLE slo_series;
DROP TABLE slo_push_state;
DROP TABLE slo_routes;
