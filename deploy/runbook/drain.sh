#!/usr/bin/env bash
# Runbook: drain a worker for maintenance: stop claiming, let running steps finish, stop.
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: drain.sh [--unit NAME | --pid PID | --pidfile FILE] [--timeout SECONDS]

Drains this machine's worker before maintenance (an upgrade, a restore, a reboot). The
worker has no drain endpoint: draining is its graceful stop, and that is what this does.
It sends SIGTERM to the gunicorn master, by systemd (`systemctl stop NAME.socket
NAME.service`: the socket too, or the next connection would start the worker again; the
unit's TimeoutStopSec=45 bounds the wait) or directly (`kill -TERM PID`, the master's pid;
waiting up to --timeout). On SIGTERM every worker process:
  1. stops claiming: its executor takes no new flow or step from the queue;
  2. stops accepting connections and answers the requests it has (gunicorn's graceful
     timeout, 30 s; a long-poll is cut short and the client retries);
  3. lets the flows and steps it is executing finish, for up to 25 s;
  4. releases the claims it still holds, so another node (PostgreSQL) or this one, when it
     starts again, takes them over at once instead of after the lease (30 s);
  5. exits; then the master exits.
Runs are not stopped or failed by a drain: runs in flight stay pending/running in the
database and continue when a worker claims them again; a step cut off at 25 s runs again
(steps are at-least-once). On PostgreSQL, the other nodes go on serving meanwhile; take
this node out of the load balancer first (its /v1/health stops answering once the
socket closes). With WORKFLOW_COMPUTE_BASE_URL and a runs:read key set, it first says
how many runs are running. Start again with
`systemctl start NAME.socket NAME.service` (or the command you run the worker with).

Environment (optional):
  WORKFLOW_COMPUTE_BASE_URL, WORKFLOW_COMPUTE_API_KEY  to report the running runs

Options:
  --unit NAME      the systemd unit (default workflow-studio, when systemctl exists and
                   no --pid is given)
  --pid PID        the gunicorn master's pid (not systemd: a Procfile, a shell, a container)
  --pidfile FILE   read the master's pid from FILE (gunicorn --pid)
  --timeout SECONDS  with --pid/--pidfile: how long to wait for the exit (default 45)
  -h, --help       show this help

Exit codes:
  0   drained: the worker has stopped
  1   the stop failed (systemctl refused, no such process, PID is not a gunicorn master)
  3   the worker did not stop in time (with --pid: still running after --timeout, nothing
      was killed; with systemd: it was killed at TimeoutStopSec, so steps were cut off)
  64  usage error
EOF
}

unit="" pid="" timeout=45
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --unit) unit=$(need_value "$1" "${2-}"); shift ;;
        --pid) pid=$(need_value "$1" "${2-}"); shift ;;
        --pidfile) file=$(need_value "$1" "${2-}"); shift
            [ -r "$file" ] || die "$EX_FAILED" "cannot read $file"
            pid=$(tr -d '[:space:]' < "$file") ;;
        --timeout) timeout=$(need_value "$1" "${2-}"); shift
            is_number "$timeout" || usage_error "--timeout: not a number of seconds" ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
[ -z "$unit" ] || [ -z "$pid" ] || usage_error "--unit or --pid, not both"
[ -z "$pid" ] || [[ $pid =~ ^[1-9][0-9]*$ ]] || usage_error "--pid: not a process id: $pid"
if [ -z "$pid" ] && [ -z "$unit" ]; then
    command -v systemctl >/dev/null || usage_error "no systemctl here: give --pid PID"
    unit=workflow-studio
fi

if [ -n "${WORKFLOW_COMPUTE_BASE_URL:-}" ] && [ -n "${WORKFLOW_COMPUTE_API_KEY:-}" ]; then
    WORKFLOW_COMPUTE_BASE_URL=${WORKFLOW_COMPUTE_BASE_URL%/}
    running=$(api GET "/v1/runs?status=running&limit=1000" 2>/dev/null |
        json_get 'len(d["data"]) if not d["hasMore"] else "1000+"' 2>/dev/null) || running="?"
    say "$running runs running; steps in flight get up to 25 s to finish"
fi

state() {  # a process's state letter (Z: exited, waiting for its parent), or empty
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    printf '%s' "${stat%% *}"
}

if [ -n "$pid" ]; then
    [ -r "/proc/$pid/cmdline" ] || die "$EX_FAILED" "no process $pid"
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q gunicorn ||
        die "$EX_FAILED" "process $pid is not gunicorn"
    stat=$(cat "/proc/$pid/stat")
    stat=${stat##*) }
    parent=$(printf '%s' "$stat" | cut -d' ' -f2)
    if [ -r "/proc/$parent/cmdline" ] && tr '\0' ' ' < "/proc/$parent/cmdline" | grep -q gunicorn
    then
        die "$EX_FAILED" "process $pid is a gunicorn worker process: give its master, $parent"
    fi
    say "SIGTERM to the gunicorn master $pid; waiting up to ${timeout}s"
    kill -TERM "$pid" || die "$EX_FAILED" "cannot signal $pid"
    deadline=$((SECONDS + ${timeout%.*}))
    while [ -n "$(state "$pid")" ] && [ "$(state "$pid")" != Z ]; do
        [ "$SECONDS" -lt "$deadline" ] ||
            die 3 "$pid still running after ${timeout}s (nothing was killed)"
        sleep 0.2
    done
    say "drained: $pid has exited"
    exit 0
fi

units=("$unit.service")
if [ "$(systemctl show -p LoadState --value "$unit.socket" 2>/dev/null)" = loaded ]; then
    units=("$unit.socket" "${units[@]}")
fi
say "systemctl stop ${units[*]} (waits up to the unit's TimeoutStopSec)"
systemctl stop "${units[@]}" || die "$EX_FAILED" "systemctl stop failed"
result=$(systemctl show -p Result --value "$unit.service" 2>/dev/null || true)
[ "$result" != timeout ] || die 3 "$unit.service was killed at TimeoutStopSec"
say "drained: $unit.service is $(systemctl show -p ActiveState --value "$unit.service")"
