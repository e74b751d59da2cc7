DROP INDEX idx_history_node_range;
