DROP TABLE command_history;
DROP TABLE clusters;
