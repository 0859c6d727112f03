-- A digest of each step call's arguments (engine/log.py ``args_digest``): a replay that
-- calls a recorded step with other arguments fails with nondeterministic_replay instead
-- of returning the old result. Steps recorded before this migration have none (NULL),
-- which never counts as a mismatch.
ALTER TABLE workflow_steps ADD COLUMN args_digest TEXT
