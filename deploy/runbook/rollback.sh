#!/usr/bin/env bash
# Runbook: switch the active pointer back to an earlier deployment, then validate.
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: rollback.sh [--deployment-id ID] [--app-url URL] [--timeout SECONDS] [--no-validate]

Makes an earlier deployment the active one: `workflow-studio rollback` (the worker proves the
target still imports first; if it does not, the pointer stays where it is), waits until
GET /v1/health shows it active, then runs `workflow-studio compute validate-ownership
--strict`. Without --deployment-id the target is the deployment that was active before the
current one (so two rollbacks in a row return to where you started, and after deploy.sh
rolled back, it is the deployment that failed: give --deployment-id). Runs already started
stay pinned to the deployment they started on; new runs use the target.
Also the runbook's answer to 409 no_active_deployment: rollback.sh --deployment-id ID
activates ID (list them with `workflow-studio deployments list`).
Progress goes to stderr; stdout gets one line: the id of the deployment now active.

Environment:
  WORKFLOW_COMPUTE_BASE_URL   the worker's URL (required)
  WORKFLOW_COMPUTE_API_KEY    a key with deploy:write and deploy:read (required)
  WORKFLOW_VALIDATE_API_KEY   the key validate-ownership uses (default: the same key)
  WORKFLOW_APP_URL            default for --app-url

Options:
  --deployment-id ID  the deployment to activate (default: the previously active one)
  --app-url URL       the application's base URL, for validate-ownership --app-url
  --timeout SECONDS   how long to wait for the switch to show (default 60)
  --no-validate       skip validate-ownership
  -h, --help          show this help

Exit codes:
  0   the target is active (and validated)
  1   the rollback was refused (no earlier deployment, unknown id, the target does not
      import: 400 activation_failed); the active deployment is unchanged
  2   the worker is unreachable
  3   the target is active but validate-ownership failed
  64  usage error
EOF
}

target="" app_url=${WORKFLOW_APP_URL:-} timeout=60 validate=1
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --deployment-id) target=$(need_value "$1" "${2-}"); shift ;;
        --app-url) app_url=$(need_value "$1" "${2-}"); shift ;;
        --timeout) timeout=$(need_value "$1" "${2-}"); shift
            is_number "$timeout" || usage_error "--timeout: not a number of seconds" ;;
        --no-validate) validate=0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
require_url
require_key

code=0
before=$(active_deployment_id) || code=$?
[ "$code" != "$EX_UNREACHABLE" ] ||
    die "$EX_UNREACHABLE" "worker unreachable at $WORKFLOW_COMPUTE_BASE_URL"
say "active before: ${before:-none}"

rollback=(rollback --json)
[ -z "$target" ] || rollback+=(--deployment-id "$target")
answer=$(ws "${rollback[@]}") ||
    die "$EX_FAILED" "rollback refused; the active deployment is unchanged (${before:-none})"
now=$(printf '%s' "$answer" | json_get 'd["id"]')
wait_for_active "$now" "$timeout" ||
    die "$EX_FAILED" "$now did not show as active within ${timeout}s"
say "active now: $now"
printf '%s\n' "$now"

if [ "$validate" = 1 ]; then
    checks=(compute validate-ownership --strict)
    [ -z "$app_url" ] || checks+=(--app-url "$app_url")
    WORKFLOW_COMPUTE_API_KEY=${WORKFLOW_VALIDATE_API_KEY:-$WORKFLOW_COMPUTE_API_KEY} \
        ws "${checks[@]}" >&2 || die 3 "$now is active but validate-ownership failed"
fi
