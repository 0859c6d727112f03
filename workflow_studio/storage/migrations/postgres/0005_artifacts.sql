-- Deployment artifacts' bytes, so a node that never received an upload can fetch, verify and
-- unpack it (multi-node PostgreSQL). The manifest is kept byte for byte: it carries the
-- digests the fetched artifact is verified against.
CREATE TABLE deployment_artifacts (
    deployment_id TEXT PRIMARY KEY REFERENCES deployments (id),
    manifest_raw BYTEA NOT NULL,
    artifact BYTEA NOT NULL,
    artifact_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
ALTER TABLE deployment_artifacts ALTER COLUMN artifact SET STORAGE EXTERNAL;
