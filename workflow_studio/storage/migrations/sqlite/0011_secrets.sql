-- Named secrets (issue 21): operator-managed values that deployed steps read with
-- ws.secret(name). Only ciphertext is stored: AES-256-GCM under a key derived from the worker
-- secret, the name as associated data; key_id says which derived key sealed it, so a value
-- sealed under another worker secret is reported as such instead of failing to decrypt.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    nonce BLOB NOT NULL,
    ciphertext BLOB NOT NULL,
    key_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    created_by_key_id TEXT,
    updated_at BIGINT NOT NULL,
    updated_by_key_id TEXT
);
