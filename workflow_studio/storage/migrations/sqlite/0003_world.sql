-- The world: event-sourced runs, steps, hooks, waits, streams; the durable queue; idempotency.
-- Every state change appends a workflow_events row and updates its entity in one transaction.
CREATE TABLE workflow_runs (
    id TEXT PRIMARY KEY,
    workflow_name TEXT NOT NULL,
    deployment_id TEXT NOT NULL,
    trigger_type TEXT NOT NULL,
    status TEXT NOT NULL,
    input_json TEXT NOT NULL,
    output_json TEXT,
    error_json TEXT,
    waiting_json TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE INDEX workflow_runs_created ON workflow_runs (created_at DESC, id DESC);
CREATE INDEX workflow_runs_status ON workflow_runs (status, created_at DESC);
CREATE INDEX workflow_runs_workflow ON workflow_runs (workflow_name, created_at DESC);

CREATE TABLE workflow_events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    run_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    correlation_id TEXT,
    payload_json TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX workflow_events_run ON workflow_events (run_id, position);
CREATE INDEX workflow_events_correlation ON workflow_events (correlation_id, position);
CREATE UNIQUE INDEX workflow_events_creation ON workflow_events (run_id, event_type, correlation_id)
    WHERE event_type IN ('run_created', 'step_created', 'hook_created', 'wait_created',
                         'value_recorded');

CREATE TABLE workflow_steps (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    step_name TEXT NOT NULL,
    status TEXT NOT NULL,
    input_json TEXT,
    output_json TEXT,
    error_json TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    retry_at INTEGER,
    dispatched INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    completed_at INTEGER,
    updated_at INTEGER NOT NULL,
    UNIQUE (run_id, seq)
);

CREATE TABLE workflow_hooks (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    token TEXT NOT NULL,
    status TEXT NOT NULL,
    metadata_json TEXT,
    payload_json TEXT,
    timeout_at INTEGER,
    created_at INTEGER NOT NULL,
    received_at INTEGER,
    disposed_at INTEGER,
    UNIQUE (run_id, seq)
);
CREATE UNIQUE INDEX workflow_hooks_live_token ON workflow_hooks (token)
    WHERE disposed_at IS NULL AND status != 'conflict';
CREATE INDEX workflow_hooks_token ON workflow_hooks (token);

CREATE TABLE workflow_waits (
    id TEXT PRIMARY KEY,
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    status TEXT NOT NULL,
    resume_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    completed_at INTEGER,
    UNIQUE (run_id, seq)
);

CREATE TABLE workflow_values (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value_json TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE stream_chunks (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_json TEXT,
    is_close INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX stream_chunks_run ON stream_chunks (run_id, name, position);

CREATE TABLE queue_messages (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step_seq INTEGER,
    deployment_id TEXT NOT NULL,
    concurrency_limit INTEGER,
    visible_at INTEGER NOT NULL,
    claim_token TEXT,
    claimed_by_host TEXT,
    claimed_by_pid INTEGER,
    lease_expires_at INTEGER,
    rewake INTEGER NOT NULL DEFAULT 0,
    claims INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX queue_messages_one_per_run ON queue_messages (run_id) WHERE kind = 'run';
CREATE UNIQUE INDEX queue_messages_one_per_step ON queue_messages (run_id, step_seq)
    WHERE kind = 'step';
CREATE INDEX queue_messages_ready ON queue_messages (visible_at) WHERE claim_token IS NULL;
CREATE INDEX queue_messages_leases ON queue_messages (lease_expires_at)
    WHERE claim_token IS NOT NULL;
CREATE INDEX queue_messages_owner ON queue_messages (claimed_by_pid)
    WHERE claim_token IS NOT NULL;
CREATE INDEX queue_messages_deployment ON queue_messages (deployment_id)
    WHERE claim_token IS NOT NULL;

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    response_json TEXT NOT NULL,
    run_id TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);
