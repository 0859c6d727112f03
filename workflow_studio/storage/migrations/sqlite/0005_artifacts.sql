-- Deployment artifacts' bytes (kept in PostgreSQL for multi-node fetches; on SQLite, one node
-- unpacks at upload and the table stays empty: it exists so both dialects share one schema).
CREATE TABLE deployment_artifacts (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id),
    manifest_raw BLOB NOT NULL,
    artifact BLOB NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
