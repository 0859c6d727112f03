-- Schedules (cron and interval triggers) and their tick ledger. Exactly one run per tick:
-- the run created for tick T carries (schedule_id, scheduled_at = T), unique, written in the
-- transaction that records the tick, so processes and nodes racing for a tick cannot both win.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    workflow_name TEXT NOT NULL,
    args_json TEXT NOT NULL,
    kwargs_json TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    overlap TEXT NOT NULL,
    catchup TEXT NOT NULL,
    catchup_window_seconds INTEGER NOT NULL,
    max_catchup INTEGER NOT NULL,
    paused INTEGER NOT NULL DEFAULT 0,
    pause_note TEXT,
    paused_by TEXT,
    paused_at INTEGER,
    remaining_actions INTEGER,
    deployment_id TEXT,
    source TEXT NOT NULL,
    config_deployment_id TEXT,
    next_tick_at INTEGER,
    next_fire_at INTEGER,
    buffered INTEGER NOT NULL DEFAULT 0,
    created_by TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
CREATE INDEX schedules_buffered ON schedules (id) WHERE buffered > 0;

CREATE TABLE schedule_ticks (
    schedule_id TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    run_id TEXT,
    source TEXT NOT NULL,
    until_at INTEGER,
    tick_count INTEGER,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, scheduled_at)
);
CREATE INDEX schedule_ticks_buffered ON schedule_ticks (schedule_id, scheduled_at)
    WHERE outcome = 'buffered';
CREATE INDEX schedule_ticks_recorded ON schedule_ticks (recorded_at);

ALTER TABLE workflow_runs ADD COLUMN schedule_id TEXT;
ALTER TABLE workflow_runs ADD COLUMN scheduled_at INTEGER;
CREATE UNIQUE INDEX workflow_runs_schedule_tick ON workflow_runs (schedule_id, scheduled_at)
    WHERE scheduled_at IS NOT NULL;
CREATE INDEX workflow_runs_schedule ON workflow_runs (schedule_id, id)
    WHERE schedule_id IS NOT NULL;
CREATE INDEX workflow_runs_schedule_live ON workflow_runs (schedule_id)
    WHERE schedule_id IS NOT NULL AND status IN ('pending', 'running');
