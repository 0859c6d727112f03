#!/usr/bin/env bash
# Runbook: is the worker up, is its database reachable, which deployment is active?
# Usage: WORKFLOW_COMPUTE_BASE_URL=https://worker.example.com deploy/runbook/health-check.sh
# Exits non-zero (and says why) when the worker is unreachable or unhealthy.
set -euo pipefail
url="${WORKFLOW_COMPUTE_BASE_URL:?set WORKFLOW_COMPUTE_BASE_URL to the worker URL}"
body=$(curl --silent --show-error --max-time 5 --write-out '\n%{http_code}' "$url/v1/health") || {
    echo "worker unreachable at $url" >&2; exit 2; }
status=${body##*$'\n'}
json=${body%$'\n'*}
echo "$json"
if [ "$status" != "200" ]; then
    echo "worker unhealthy: HTTP $status" >&2
    exit 1
fi
