#!/usr/bin/env bash
# Runbook: restore a backup made by backup.sh into a stopped worker.
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: restore.sh [--config FILE] BACKUP_DIR

Restores BACKUP_DIR (a folder backup.sh printed) into the worker configured here: the
same settings the worker reads (workflow_config.py or --config, WORKFLOW_SQLITE_PATH,
WORKFLOW_ARTIFACT_DIR, WORKFLOW_POSTGRES_URL, WORKFLOW_POSTGRES_SCHEMA). The worker must
be stopped (drain.sh; on PostgreSQL every node). Then start it: it serves the backup's
runs, deployments, keys and schedules, and resumes the runs that were in flight (a step
that was running at backup time runs again: steps are at-least-once).

First the backup is checked: every file's sha256 against backup.json, SQLite's
integrity_check, every deployment's artifacts present, and a schema no newer than this
installation knows (an older one is migrated forward when the worker starts).
SQLite: the current worker.db (with its -wal and -shm) and artifact_dir are moved into
<database folder>/pre-restore-YYYYMMDDTHHMMSSZ/, then the backup's copies take their place.
PostgreSQL: the current schema, if it exists, is renamed <schema>_pre_restore_<time>, then
the dump is restored with pg_restore (no owners: the connecting role owns the tables);
drop the renamed schema once you are satisfied.
Nothing is deleted: the previous state stays beside it, named on stderr.

Environment:
  WORKFLOW_COMPUTE_BASE_URL  if set, the worker there must not answer /v1/health
  (and the worker's storage variables, as above)

Options:
  --config FILE  the worker's config file (default: ./workflow_config.py if present)
  -h, --help     show this help

Exit codes:
  0   restored: start the worker
  1   the backup is damaged, incomplete, of the other database kind or from a newer
      schema, or restoring failed (the previous state is where stderr says)
  3   the worker is running (a process has the database open, a workflow-studio session
      is connected to the PostgreSQL database, or WORKFLOW_COMPUTE_BASE_URL answers):
      stop it first; nothing was changed
  64  usage error
EOF
}

config="" backup=""
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --config) config=$(need_value "$1" "${2-}"); shift ;;
        -*) usage_error "unknown option: $1" ;;
        *) [ -z "$backup" ] || usage_error "one BACKUP_DIR only"; backup=$1 ;;
    esac
    shift
done
[ -n "$backup" ] || usage_error "which backup? give BACKUP_DIR"
[ -d "$backup" ] || usage_error "$backup is not a folder"
backup=$(cd "$backup" && pwd)

listing=$(worker_storage "$config") || die "$EX_USAGE" "cannot read the worker's settings"
mapfile -t storage <<< "$listing"
dialect=${storage[0]} sqlite_file=${storage[1]} artifact_dir=${storage[2]}
postgres_url=${storage[3]} schema=${storage[4]}

say "checking $backup"
kind=$("$(ws_python)" "$RUNBOOK_DIR/backup_tool.py" check "$backup") ||
    die "$EX_FAILED" "not restoring a damaged or unusable backup"
[ "$kind" = "$dialect" ] ||
    die "$EX_FAILED" "the backup is of a $kind worker; this worker is configured for $dialect"

if [ -n "${WORKFLOW_COMPUTE_BASE_URL:-}" ]; then
    WORKFLOW_COMPUTE_BASE_URL=${WORKFLOW_COMPUTE_BASE_URL%/}
    code=0
    health_probe >/dev/null 2>&1 || code=$?
    [ "$code" = "$EX_UNREACHABLE" ] ||
        die 3 "a worker answers at $WORKFLOW_COMPUTE_BASE_URL: stop it first (drain.sh)"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)

if [ "$dialect" = sqlite ]; then
    if pids=$(sqlite_is_open "$sqlite_file"); then
        die 3 "$sqlite_file is open (pid $pids): stop the worker first (drain.sh)"
    fi
    data_dir=$(dirname "$sqlite_file")
    aside="$data_dir/pre-restore-$stamp"
    mkdir -p "$data_dir"
    # The new copies are complete beside their targets before anything moves.
    cp "$backup/worker.db" "$sqlite_file.restoring"
    rm -rf "$artifact_dir.restoring"
    mkdir -p "$(dirname "$artifact_dir")"
    cp -R "$backup/artifacts" "$artifact_dir.restoring"
    if [ "$(id -u)" = 0 ]; then  # run as root: the worker's user must own what it writes
        chown -R "$(stat -c %u:%g "$data_dir")" "$sqlite_file.restoring" "$artifact_dir.restoring"
    fi
    mkdir "$aside"
    for file in "$sqlite_file" "$sqlite_file-wal" "$sqlite_file-shm"; do
        [ ! -e "$file" ] || mv "$file" "$aside/"
    done
    [ ! -e "$artifact_dir" ] || mv "$artifact_dir" "$aside/artifacts"
    mv "$artifact_dir.restoring" "$artifact_dir"
    mv "$sqlite_file.restoring" "$sqlite_file"
    say "the previous database and artifacts are in $aside"
else
    if ! command -v pg_restore >/dev/null || ! command -v psql >/dev/null; then
        die "$EX_USAGE" "pg_restore and psql are needed (Debian: postgresql-client)"
    fi
    psql_run() { with_pg "$postgres_url" psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
    sessions=$(psql_run -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND application_name LIKE 'workflow-studio pid=%'") ||
        die "$EX_FAILED" "cannot connect to the database"
    [ -z "$sessions" ] ||
        die 3 "workflow-studio sessions are connected (backend pids $sessions): stop every node"
    aside="${schema:0:40}_pre_restore_${stamp,,}"
    exists=$(echo "SELECT count(*) FROM pg_namespace WHERE nspname = :'schema';" |
        psql_run -v schema="$schema")
    if [ "$exists" != 0 ]; then
        printf 'ALTER SCHEMA :"schema" RENAME TO :"aside";\n' |
            psql_run -v schema="$schema" -v aside="$aside"
        say "the previous schema is now $aside"
    fi
    pg_restore --no-owner --no-privileges --file=- "$backup/postgres.dump" |
        psql_run --single-transaction -f - >/dev/null ||
        die "$EX_FAILED" "pg_restore failed; the previous schema is $aside"
fi
say "restored $backup; start the worker (systemctl start workflow-studio.socket workflow-studio)"
