# shellcheck shell=bash
# What every runbook script shares: finding the CLI and its Python, the worker's URL and key,
# the exit codes, JSON fields, the health probe. Sourced, never run; each script sets
# `set -euo pipefail` itself.
#
# Exit codes shared by every script (each script's --help adds its own, from 3 up):
#   0 success, 1 the worker answered but the check or operation failed,
#   2 the worker is unreachable, 64 usage error (bad option, missing variable).
EX_OK=0
EX_FAILED=1
EX_UNREACHABLE=2
EX_USAGE=64
export EX_OK EX_FAILED EX_UNREACHABLE EX_USAGE

SCRIPT_NAME=$(basename "$0")
RUNBOOK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die() { local code=$1; shift; say "$*"; exit "$code"; }
usage_error() { say "$*"; say "see: $SCRIPT_NAME --help"; exit "$EX_USAGE"; }

# An option's value, or a usage error when it is missing: value=$(need_value "$1" "${2-}")
need_value() {
    if [ -z "${2-}" ] || [ "${2:0:2}" = "--" ]; then usage_error "$1 needs a value"; fi
    printf '%s' "$2"
}

is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }

# The workflow-studio CLI: $WORKFLOW_STUDIO_BIN, else the one on PATH, else ./.venv's, else
# the checkout's .venv beside deploy/ (systemd units run from the install directory).
ws_bin() {
    if [ -n "${WORKFLOW_STUDIO_BIN:-}" ]; then printf '%s' "$WORKFLOW_STUDIO_BIN"; return; fi
    local candidate
    for candidate in "$(command -v workflow-studio || true)" "$PWD/.venv/bin/workflow-studio" \
            "$RUNBOOK_DIR/../../.venv/bin/workflow-studio"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then printf '%s' "$candidate"; return; fi
    done
    die "$EX_USAGE" "workflow-studio not found: put it on PATH or set WORKFLOW_STUDIO_BIN"
}

# The Python the CLI runs on (its shebang), for the worker's own settings and sqlite3.
ws_python() {
    if [ -n "${WORKFLOW_STUDIO_PYTHON:-}" ]; then printf '%s' "$WORKFLOW_STUDIO_PYTHON"; return; fi
    local bin line candidate
    bin=$(ws_bin)
    [ -f "$bin" ] || bin=$(command -v "$bin" || true)
    if [ -f "$bin" ]; then
        IFS= read -r line < "$bin" || true
        candidate=${line#\#!}
        candidate=${candidate%% *}
        # pip's console scripts: `#!/path/python`, or for long paths `#!/bin/sh` then
        # `'''exec' "/path/python" "$0" "$@"`.
        if [[ $candidate != */python* ]]; then
            candidate=$(sed -n "2s/^'''exec' \"\\([^\"]*\\)\".*/\\1/p" "$bin")
        fi
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then
            printf '%s' "$candidate"; return
        fi
        if [ -x "$(dirname "$bin")/python3" ]; then printf '%s' "$(dirname "$bin")/python3"; return; fi
    fi
    command -v python3 || die "$EX_USAGE" "no Python found: set WORKFLOW_STUDIO_PYTHON"
}

ws() { "$(ws_bin)" "$@"; }

require_url() {
    [ -n "${WORKFLOW_COMPUTE_BASE_URL:-}" ] ||
        usage_error "set WORKFLOW_COMPUTE_BASE_URL to the worker's URL"
    WORKFLOW_COMPUTE_BASE_URL=${WORKFLOW_COMPUTE_BASE_URL%/}
    export WORKFLOW_COMPUTE_BASE_URL
}

require_key() {
    [ -n "${WORKFLOW_COMPUTE_API_KEY:-}" ] ||
        usage_error "set WORKFLOW_COMPUTE_API_KEY to an API key of the worker"
    export WORKFLOW_COMPUTE_API_KEY
}

# json_get EXPR < json: print a field of the JSON on stdin; EXPR is a Python expression
# over `d` (the parsed document; `json` is the module); None prints as an empty line.
json_get() {
    "$(ws_python)" -I -c '
import json, sys
d = json.load(sys.stdin)
value = eval(sys.argv[1], {"json": json}, {"d": d})
print("" if value is None else value)' "$1"
}

# api METHOD PATH [JSON]: the worker's API with the key (sent from a file descriptor, never
# on a command line); prints the answer's body. An error answer prints its code and message
# on stderr and returns 1; no answer at all returns 2.
api() {
    local method=$1 path=$2 answer status
    local extra=()
    [ -z "${3-}" ] || extra=(--header "Content-Type: application/json" --data-binary "$3")
    answer=$(curl --silent --show-error --max-time "${API_TIMEOUT:-30}" --request "$method" \
        --header @<(printf 'Authorization: Bearer %s\n' "$WORKFLOW_COMPUTE_API_KEY") \
        ${extra[@]+"${extra[@]}"} --write-out '\n%{http_code}' \
        "$WORKFLOW_COMPUTE_BASE_URL$path") || return "$EX_UNREACHABLE"
    status=${answer##*$'\n'}
    answer=${answer%$'\n'*}
    if [[ $status == 2?? ]]; then
        printf '%s\n' "$answer"
        return 0
    fi
    say "$method $path: HTTP $status $(printf '%s' "$answer" |
        json_get '"%s: %s" % (d.get("code"), d.get("message"))' 2>/dev/null || true)"
    return "$EX_FAILED"
}

# health_probe: GET /v1/health; 0 healthy (body on stdout), 1 unhealthy, 2 unreachable.
health_probe() {
    local body status
    body=$(curl --silent --show-error --max-time "${HEALTH_TIMEOUT:-5}" \
        --write-out '\n%{http_code}' "$WORKFLOW_COMPUTE_BASE_URL/v1/health") ||
        return "$EX_UNREACHABLE"
    status=${body##*$'\n'}
    printf '%s\n' "${body%$'\n'*}"
    [ "$status" = "200" ] || return "$EX_FAILED"
}

# The active deployment's id from /v1/health, or empty when none is active.
active_deployment_id() {
    local body
    body=$(health_probe) || return $?
    printf '%s' "$body" | json_get '(d.get("activeDeployment") or {}).get("id")'
}

# wait_for_active ID SECONDS: until /v1/health shows ID active (1 if it never does).
wait_for_active() {
    local want=$1 deadline=$((SECONDS + ${2%.*})) now
    while :; do
        now=$(active_deployment_id 2>/dev/null || true)
        [ "$now" = "$want" ] && return 0
        [ "$SECONDS" -lt "$deadline" ] || return "$EX_FAILED"
        sleep 1
    done
}

# worker_storage [CONFIG]: the worker's storage settings, resolved by the worker's own rules
# (config file, WORKFLOW_* variables), one per line: dialect (sqlite|postgres), the SQLite
# file, the artifact directory, the PostgreSQL URL (empty on SQLite), the schema.
worker_storage() {
    "$(ws_python)" - "${1:-}" <<'PY'
import sys

from workflow_studio.config.settings import ConfigError, load_settings

try:
    settings = load_settings(sys.argv[1] or None)
except ConfigError as exc:
    sys.exit(f"config: {exc}")
print("postgres" if settings.postgres_url else "sqlite")
print(settings.sqlite_file)
print(settings.artifact_path)
print(settings.postgres_url or "")
print(settings.postgres_schema)
PY
}

# sqlite_is_open FILE: some process on this machine has FILE (or its WAL) open; prints
# their pids (only processes this user may inspect: run as the worker's user or root).
sqlite_is_open() {
    local pattern pids
    pattern=$(printf '%s' "$1" | sed 's/[][*?\\]/\\&/g')  # find -lname takes a glob
    pids=$(find /proc/[0-9]*/fd -maxdepth 1 \( -lname "$pattern" -o -lname "$pattern-wal" \) \
        2>/dev/null | cut -d/ -f3 | sort -un | tr '\n' ' ') || true
    [ -n "$pids" ] || return 1
    printf '%s\n' "${pids% }"
}

# pg_env URL: the libpq variables (PGHOST, PGUSER, PGPASSWORD...) for a libpq URL, one
# NAME=VALUE per line, so pg_dump/psql get the password in their environment, not their
# command line (which every local user can read in ps).
pg_env() {
    PG_URL=$1 "$(ws_python)" - <<'PY'
import os
import sys

from psycopg.conninfo import conninfo_to_dict

NAMES = {"host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE",
         "user": "PGUSER", "password": "PGPASSWORD", "passfile": "PGPASSFILE",
         "service": "PGSERVICE", "options": "PGOPTIONS", "sslmode": "PGSSLMODE",
         "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslrootcert": "PGSSLROOTCERT",
         "sslcrl": "PGSSLCRL", "sslsni": "PGSSLSNI", "requiressl": "PGREQUIRESSL",
         "channel_binding": "PGCHANNELBINDING", "connect_timeout": "PGCONNECT_TIMEOUT",
         "gssencmode": "PGGSSENCMODE", "krbsrvname": "PGKRBSRVNAME",
         "target_session_attrs": "PGTARGETSESSIONATTRS", "application_name": "PGAPPNAME",
         "client_encoding": "PGCLIENTENCODING"}
for key, value in conninfo_to_dict(os.environ["PG_URL"]).items():
    if key not in NAMES:
        sys.exit(f"WORKFLOW_POSTGRES_URL: {key} has no libpq variable; set it in PGSERVICE")
    if "\n" in str(value):
        sys.exit(f"WORKFLOW_POSTGRES_URL: {key} contains a newline")
    print(f"{NAMES[key]}={value}")
PY
}

# with_pg URL COMMAND...: run COMMAND with the database's libpq variables set.
with_pg() {
    local url=$1 listing line vars=()
    shift
    listing=$(pg_env "$url") || die "$EX_USAGE" "cannot read the PostgreSQL URL"
    while IFS= read -r line; do [ -z "$line" ] || vars+=("$line"); done <<< "$listing"
    env ${vars[@]+"${vars[@]}"} "$@"
}
