#!/usr/bin/env bash
# Runbook: post-deploy validation: does the worker own execution, and does the app route to it?
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: validate.sh [--app-url URL] [--json] [--timeout SECONDS]

The seed's post-deploy validation, as a gate for CI or cron: runs
`workflow-studio compute validate-ownership --strict`, which checks that the worker answers
/v1/health, that the key is valid with trigger:write and runs:read (or admin), that a
deployment is active and, with --app-url, that the app's diagnostics show
WORKFLOW_TARGET_WORLD=workflow-studio/world-remote, a worker URL and key, and no
unexpected local callback hits. Prints its table (or --json); each failed row carries the
runbook's action.

Environment:
  WORKFLOW_COMPUTE_BASE_URL  the worker's URL (required)
  WORKFLOW_COMPUTE_API_KEY   the key to check: use the application's key (required)
  WORKFLOW_APP_URL           default for --app-url

Options:
  --app-url URL      the application's base URL, to check its routing too
  --json             print {"status": ..., "checks": [...]} instead of the table
  --timeout SECONDS  seconds to wait for each request (default 10)
  -h, --help         show this help

Exit codes:
  0   every check passed (app diagnostics are skipped without --app-url)
  1   a check failed (wrong key or scopes, no active deployment, the app's routing)
  2   the worker is unreachable
  64  usage error
EOF
}

app_url=${WORKFLOW_APP_URL:-} json=0 timeout=10
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --app-url) app_url=$(need_value "$1" "${2-}"); shift ;;
        --json) json=1 ;;
        --timeout) timeout=$(need_value "$1" "${2-}"); shift
            is_number "$timeout" || usage_error "--timeout: not a number of seconds" ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
require_url
require_key

code=0
health_probe >/dev/null || code=$?
[ "$code" != "$EX_UNREACHABLE" ] ||
    die "$EX_UNREACHABLE" "worker unreachable at $WORKFLOW_COMPUTE_BASE_URL"

checks=(compute validate-ownership --strict --timeout "$timeout")
[ -z "$app_url" ] || checks+=(--app-url "$app_url")
[ "$json" = 0 ] || checks+=(--json)
ws "${checks[@]}" || die "$EX_FAILED" "validation failed"
say "validation passed"
