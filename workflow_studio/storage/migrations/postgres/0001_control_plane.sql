-- Control plane: API keys, audit log, rate-limit windows (shared by every node).
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    scopes TEXT NOT NULL,
    rate_limit_per_minute INTEGER,
    source TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);

CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at BIGINT NOT NULL,
    key_id TEXT,
    method TEXT NOT NULL,
    route TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    run_id TEXT,
    metadata_json TEXT NOT NULL
);
CREATE INDEX audit_log_correlation ON audit_log (correlation_id, id);
CREATE INDEX audit_log_created ON audit_log (created_at);

CREATE TABLE rate_limit_windows (
    key_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, window_start)
);
