-- Webhooks: one row per accepted provider delivery, so a replayed delivery is answered
-- {"duplicate": true} instead of being handled twice; and the worker's generated secret
-- (signed webhook tokens, per-run encryption keys) shared by every process and node.
CREATE TABLE webhook_deliveries (
    provider TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (provider, delivery_id)
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at);

CREATE TABLE worker_secrets (
    name TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
