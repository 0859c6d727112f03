-- A wake-up for a later time that arrives while the run's message is claimed (e.g. a
-- delayed queue publish) is kept here until the claim ends, instead of being dropped.
ALTER TABLE queue_messages ADD COLUMN rewake_at BIGINT
