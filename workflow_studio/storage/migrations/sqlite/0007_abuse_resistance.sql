-- Abuse resistance (issue 13).
-- Failed authentications per client address and per key prefix, in one-minute windows,
-- shared by every process: the throttle reads and counts them (storage/ratelimit.py).
CREATE TABLE auth_failure_windows (
    bucket TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX auth_failure_windows_start ON auth_failure_windows (window_start);

-- Auth-failure audit rows are aggregated: one row per (credential, client, window), found
-- again through aggregate_key, with the number of failures and the time of the last one.
-- Other rows leave aggregate_key NULL (never equal, so never in conflict) and count 1.
ALTER TABLE audit_log ADD COLUMN aggregate_key TEXT;
ALTER TABLE audit_log ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit_log ADD COLUMN last_at BIGINT;
CREATE UNIQUE INDEX audit_log_aggregate ON audit_log (aggregate_key);

-- Periodic maintenance shared by every process and node: a pass runs where it claims its
-- slot (next_at in the past), so one process at a time does it (storage/retention.py).
CREATE TABLE maintenance_slots (
    name TEXT PRIMARY KEY,
    next_at BIGINT NOT NULL
);
