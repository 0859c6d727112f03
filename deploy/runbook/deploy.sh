#!/usr/bin/env bash
# Runbook: build, deploy and activate the project; validate; roll back when validation fails.
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: deploy.sh [--project DIR] [--app-url URL] [--smoke WORKFLOW [--smoke-args JSON]]
                 [--timeout SECONDS] [--no-rollback] [-- DEPLOY-OPTIONS...]

Deploys the project in DIR (its workflow_config.py) to the worker, the whole rollout:
  1. checks the worker is healthy and notes the active deployment;
  2. `workflow-studio deploy`: build, upload, activate (the worker proves the artifact
     imports before it switches the active pointer, so a broken build never goes live);
  3. waits until GET /v1/health shows the new deployment active (--timeout);
  4. validates: `workflow-studio compute validate-ownership --strict` (with --app-url, the
     app's routing too) and, with --smoke, one run of WORKFLOW that must complete;
  5. if step 3 or 4 fails, rolls back to the deployment that was active before
     (`workflow-studio rollback --deployment-id PREVIOUS`) and exits 3.
Progress goes to stderr; stdout gets one line: the id of the deployment left active.

Environment:
  WORKFLOW_COMPUTE_BASE_URL   the worker's URL (required)
  WORKFLOW_COMPUTE_API_KEY    a key with deploy:write and deploy:read (required)
  WORKFLOW_VALIDATE_API_KEY   the key validate-ownership and --smoke use (default: the
                              deploy key); give the app's key (trigger:write runs:read)
                              when the deploy key has only the deploy scopes
  WORKFLOW_APP_URL            default for --app-url
  WORKFLOW_STUDIO_BIN         the workflow-studio CLI (default: on PATH, else ./.venv)

Options:
  --project DIR       the project to build (default: the current directory)
  --app-url URL       the application's base URL, for validate-ownership --app-url
  --smoke WORKFLOW    start one run of WORKFLOW after activation; it must complete
  --smoke-args JSON   its positional arguments as a JSON list (default [])
  --timeout SECONDS   how long to wait for activation and the smoke run (default 60)
  --no-rollback       on a failed validation, leave the new deployment active (exit 4)
  -- DEPLOY-OPTIONS   passed to `workflow-studio deploy` (--concurrency, --step-timeout...)
  -h, --help          show this help

Exit codes:
  0   deployed, active and validated
  1   the deploy failed before activation (build error, upload refused, activation_failed);
      the active deployment is unchanged
  2   the worker is unreachable
  3   the new deployment failed validation and was rolled back to the previous one
  4   the new deployment failed validation and is still active: nothing to roll back to
      (the first deployment), the rollback failed, or --no-rollback; or the deploy failed
      and the worker no longer says which deployment is active: check by hand
  64  usage error
EOF
}

project=. app_url=${WORKFLOW_APP_URL:-} smoke="" smoke_args="[]" timeout=60 rollback=1
deploy_options=()
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --project) project=$(need_value "$1" "${2-}"); shift ;;
        --app-url) app_url=$(need_value "$1" "${2-}"); shift ;;
        --smoke) smoke=$(need_value "$1" "${2-}"); shift ;;
        --smoke-args) smoke_args=$(need_value "$1" "${2-}"); shift ;;
        --timeout) timeout=$(need_value "$1" "${2-}"); shift
            is_number "$timeout" || usage_error "--timeout: not a number of seconds" ;;
        --no-rollback) rollback=0 ;;
        --) shift; deploy_options=("$@"); break ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done
require_url
require_key
[ -f "$project/workflow_config.py" ] || usage_error "no workflow_config.py in $project"
# The validating key goes to the CLI in its environment, never on a command line (ps).
as_validator() {
    WORKFLOW_COMPUTE_API_KEY=${WORKFLOW_VALIDATE_API_KEY:-$WORKFLOW_COMPUTE_API_KEY} "$@"
}

code=0
previous=$(active_deployment_id) || code=$?
case $code in
    0) ;;
    "$EX_UNREACHABLE") die "$EX_UNREACHABLE" "worker unreachable at $WORKFLOW_COMPUTE_BASE_URL" ;;
    *) die "$EX_FAILED" "worker unhealthy at $WORKFLOW_COMPUTE_BASE_URL: not deploying" ;;
esac
say "active before: ${previous:-none}"

answer=$(cd "$project" && ws deploy --json ${deploy_options[@]+"${deploy_options[@]}"}) || {
    now=$(active_deployment_id 2>/dev/null || true)
    if [ "$now" = "$previous" ]; then
        die "$EX_FAILED" "deploy failed; the active deployment is unchanged (${previous:-none})"
    fi
    [ -n "$now" ] || die 4 "deploy failed and the worker no longer says what is active"
    answer="{\"id\": \"$now\"}"  # activated, then the CLI failed: validate what is live
}
new=$(printf '%s' "$answer" | json_get 'd["id"]')
say "deployed $new; waiting until it is active"

failure=""
if ! wait_for_active "$new" "$timeout"; then
    failure="$new did not become active within ${timeout}s"
fi
if [ -z "$failure" ]; then
    validate=(compute validate-ownership --strict)
    [ -z "$app_url" ] || validate+=(--app-url "$app_url")
    as_validator ws "${validate[@]}" >&2 || failure="validate-ownership failed"
fi
if [ -z "$failure" ] && [ -n "$smoke" ]; then
    say "smoke run: $smoke $smoke_args"
    run=$(as_validator ws runs start "$smoke" --args "$smoke_args" --deployment-id "$new" \
        --wait "$timeout" --json) || true
    status=$(printf '%s' "$run" | json_get 'd.get("status")' 2>/dev/null) || status=""
    status=${status:-"not started"}
    [ "$status" = "completed" ] || failure="smoke run of $smoke ended $status"
fi
if [ -z "$failure" ]; then
    say "$new is active and validated"
    printf '%s\n' "$new"
    exit 0
fi

say "$failure"
if [ "$rollback" = 0 ]; then
    printf '%s\n' "$new"
    die 4 "--no-rollback: $new stays active"
fi
if [ -z "$previous" ]; then
    printf '%s\n' "$new"
    die 4 "no deployment was active before: nothing to roll back to; $new stays active"
fi
if ws rollback --deployment-id "$previous" >&2 && wait_for_active "$previous" "$timeout"; then
    printf '%s\n' "$previous"
    die 3 "rolled back to $previous"
fi
printf '%s\n' "$(active_deployment_id 2>/dev/null || true)"
die 4 "rollback to $previous failed: check with deployments list, then rollback.sh"
