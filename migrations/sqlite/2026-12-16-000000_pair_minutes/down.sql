DROP TABLE pair_minutes;
