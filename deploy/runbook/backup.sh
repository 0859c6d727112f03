#!/usr/bin/env bash
# Runbook: a consistent online backup of the worker's database (and, on SQLite, artifacts).
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: backup.sh [--config FILE] [--output DIR] [--keep N]

Backs up the worker's state while it runs, into a new folder
DIR/workflow-studio-YYYYMMDDTHHMMSSZ (printed on stdout when complete; a folder still
being written is named *.partial and removed if the backup fails). Where the data lives is
read the way the worker reads it: workflow_config.py (or --config, WORKFLOW_STUDIO_CONFIG)
and the WORKFLOW_* variables (WORKFLOW_SQLITE_PATH, WORKFLOW_ARTIFACT_DIR,
WORKFLOW_POSTGRES_URL, WORKFLOW_POSTGRES_SCHEMA), so run it with the worker's environment
(e.g. `systemd-run --property EnvironmentFile=/etc/workflow-studio/env ...`, or as the
worker's user from its directory).

SQLite (worker.storage.sqlite_path: one file holds the world, the queue and the control
plane: runs, steps, events, hooks, keys, deployments, schedules, secrets, audit):
  worker.db   `VACUUM INTO` (sqlite3 CLI, else Python's sqlite3): one read transaction,
              a consistent snapshot while the worker keeps writing; integrity-checked
  artifacts/  worker.storage.artifact_dir, copied after the snapshot (unpacked
              deployments only appear, so every deployment in the snapshot is there;
              checked); unfinished uploads (.incoming-*) are left out
PostgreSQL:
  postgres.dump  `pg_dump --format=custom --schema SCHEMA`: the worker's schema, data
                 included (artifacts' bytes are in it; artifact_dir is only a cache).
                 pg_dump must be at least the server's major version.
Both: backup.json (dialect, source, worker version, schema version, sha256 of each file).
Not in a backup: the environment (WORKFLOW_SECRET_KEY, seed keys, webhook secrets) and
workflow_config.py; keep those with your configuration management.

Cron, nightly, keeping two weeks:
  15 3 * * * cd /srv/workflow-studio && deploy/runbook/backup.sh --output /var/backups/workflow-studio --keep 14

Options:
  --config FILE  the worker's config file (default: ./workflow_config.py if present)
  --output DIR   where backups go (default: ./backups)
  --keep N       afterwards, remove all but the N newest complete backups in DIR
  -h, --help     show this help

Exit codes:
  0   the backup is complete and verified
  1   the backup failed (no database at the configured path, integrity check, pg_dump);
      nothing is left behind
  64  usage error (also: a bad config, pg_dump or the CLI missing)
EOF
}

config="" output=./backups keep=""
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --config) config=$(need_value "$1" "${2-}"); shift ;;
        --output) output=$(need_value "$1" "${2-}"); shift ;;
        --keep) keep=$(need_value "$1" "${2-}"); shift
            [[ $keep =~ ^[1-9][0-9]*$ ]] || usage_error "--keep: a number of backups (>= 1)" ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done

listing=$(worker_storage "$config") || die "$EX_USAGE" "cannot read the worker's settings"
mapfile -t storage <<< "$listing"
dialect=${storage[0]} sqlite_file=${storage[1]} artifact_dir=${storage[2]}
postgres_url=${storage[3]} schema=${storage[4]}
tool=("$(ws_python)" "$RUNBOOK_DIR/backup_tool.py")

umask 077  # a backup holds key hashes, the server secret and the secrets store
mkdir -p "$output"
output=$(cd "$output" && pwd)
final="$output/workflow-studio-$(date -u +%Y%m%dT%H%M%SZ)"
[ ! -e "$final" ] || die "$EX_FAILED" "$final exists (one backup per second at most)"
work="$final.partial"
mkdir "$work"
trap 'rm -rf "$work"' EXIT

if [ "$dialect" = sqlite ]; then
    [ -f "$sqlite_file" ] || die "$EX_FAILED" "no database at $sqlite_file (check the config)"
    say "snapshot of $sqlite_file"
    if command -v sqlite3 >/dev/null && [ "$(printf '%s\n' "$(sqlite3 --version | cut -d' ' -f1)" 3.27.0 |
            sort -V | head -n1)" = 3.27.0 ]; then
        sqlite3 -bail "$sqlite_file" ".timeout 30000" \
            "VACUUM INTO '${work//\'/\'\'}/worker.db'" || die "$EX_FAILED" "VACUUM INTO failed"
    else
        "${tool[@]}" snapshot "$sqlite_file" "$work/worker.db" || die "$EX_FAILED" "snapshot failed"
    fi
    mkdir "$work/artifacts"
    if [ -d "$artifact_dir" ]; then
        say "copy of $artifact_dir"
        tar -C "$artifact_dir" --exclude='./.incoming-*' -cf - . | tar -C "$work/artifacts" -xf -
    fi
    "${tool[@]}" seal-sqlite "$work" "$sqlite_file" "$artifact_dir" || die "$EX_FAILED" "backup rejected"
else
    command -v pg_dump >/dev/null || die "$EX_USAGE" "pg_dump not found (Debian: postgresql-client)"
    say "pg_dump of schema $schema"
    with_pg "$postgres_url" pg_dump --format=custom --no-owner --schema="\"$schema\"" \
        --file="$work/postgres.dump" || die "$EX_FAILED" "pg_dump failed"
    "${tool[@]}" seal-postgres "$work" "$schema" || die "$EX_FAILED" "backup rejected"
fi

mv "$work" "$final"
trap - EXIT
say "backup complete: $final"
printf '%s\n' "$final"

if [ -n "$keep" ]; then
    mapfile -t old < <(find "$output" -maxdepth 1 -type d -name 'workflow-studio-*Z' | sort -r |
        tail -n +"$((keep + 1))")
    for folder in ${old[@]+"${old[@]}"}; do
        [ -f "$folder/backup.json" ] || continue
        rm -rf -- "$folder"
        say "removed old backup $folder"
    done
fi
