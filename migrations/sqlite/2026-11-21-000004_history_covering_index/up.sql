-- A 30-day history read is a range of one node's rows. With only the UNIQUE index, each of
-- its ~8,640 entries costs a separate table lookup; this covering index answers the range
-- with one sequential index scan (the history API target is < 20 ms).
CREATE INDEX idx_history_node_range ON node_metrics_history
    (cluster_id, node_name, timestamp, cpu_usage, mem_usage, disk_usage, net_rx_bytes, net_tx_bytes, temperature);
