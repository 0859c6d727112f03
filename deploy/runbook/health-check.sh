#!/usr/bin/env bash
# Runbook: is the worker up, is its database reachable, which deployment is active?
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: health-check.sh [--require-active] [--timeout SECONDS]

Is the worker up, is its database reachable, which deployment is active? Asks
GET /v1/health (no key needed) and prints its JSON answer, e.g.
  {"status":"ok","version":"0.1.0","database":"ok","activeDeployment":{"id":"dpl_...","version":3}}
For cron, a load balancer's external check or a CI gate after a deploy.

Environment:
  WORKFLOW_COMPUTE_BASE_URL  the worker's URL (required)

Options:
  --require-active   also fail (exit 3) when no deployment is active
  --timeout SECONDS  how long to wait for the answer (default 5)
  -h, --help         show this help

Exit codes:
  0   healthy (and, with --require-active, a deployment is active)
  1   the worker answered but is unhealthy (e.g. 503 database_unavailable)
  2   the worker is unreachable (connection refused, DNS, timeout)
  3   healthy, but no deployment is active (--require-active)
  64  usage error (unknown option, WORKFLOW_COMPUTE_BASE_URL unset)
EOF
}

require_active=0
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --require-active) require_active=1 ;;
        --timeout) HEALTH_TIMEOUT=$(need_value "$1" "${2-}"); shift
            is_number "$HEALTH_TIMEOUT" || usage_error "--timeout: not a number of seconds" ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
require_url

code=0
body=$(health_probe) || code=$?
case $code in
    0) ;;
    "$EX_UNREACHABLE") die "$EX_UNREACHABLE" "worker unreachable at $WORKFLOW_COMPUTE_BASE_URL" ;;
    *) printf '%s\n' "$body"; die "$EX_FAILED" "worker unhealthy at $WORKFLOW_COMPUTE_BASE_URL" ;;
esac
printf '%s\n' "$body"
if [ "$require_active" = 1 ] &&
        [ -z "$(printf '%s' "$body" | json_get '(d.get("activeDeployment") or {}).get("id")')" ]; then
    die 3 "no deployment is active: activate one with deploy.sh or rollback.sh --deployment-id ID"
fi
