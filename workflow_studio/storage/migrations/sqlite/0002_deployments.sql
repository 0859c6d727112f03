-- Deployments: one row per verified upload, and the single-row active pointer.
CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    version INTEGER NOT NULL UNIQUE,
    status TEXT NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    artifact_size INTEGER NOT NULL,
    manifest_json TEXT NOT NULL,
    workflows_json TEXT NOT NULL,
    steps_json TEXT NOT NULL,
    concurrency INTEGER NULL,
    step_timeout REAL NULL,
    default_retries INTEGER NOT NULL DEFAULT 3,
    created_at INTEGER NOT NULL,
    created_by_key_id TEXT,
    activated_at INTEGER,
    activated_by_key_id TEXT
);

CREATE TABLE active_deployment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    deployment_id TEXT NOT NULL REFERENCES deployments (id),
    activated_at INTEGER NOT NULL,
    activated_by_key_id TEXT,
    previous_deployment_id TEXT REFERENCES deployments (id)
);
