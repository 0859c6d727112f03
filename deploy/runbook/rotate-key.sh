#!/usr/bin/env bash
# Runbook: rotate an API key: create its successor, print it once, revoke the old one later.
set -euo pipefail
# shellcheck source=deploy/runbook/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    cat <<'EOF'
Usage: rotate-key.sh [--grace SECONDS | --keep-old] [--name NAME] [--output FILE] KEY_ID

Rotates the API key KEY_ID (an id from `workflow-studio keys list`) without downtime:
  1. creates a new key with the old one's scopes and rate limit (and its name, or NAME);
  2. prints the new secret once: on stdout (one line, nothing else), or into FILE
     (created with mode 0600); the worker keeps only its hash, so save it now;
  3. waits the grace period (--grace, default 300 s) while you roll the new key out,
     reporting when the old key was last used;
  4. revokes the old key: requests with it get 401 from then on, on every process and node.
With --keep-old it stops after step 2 and prints the command that revokes the old key (for
a grace period of days). Seed keys (source "seed": worker.auth.seed_api_keys and
WORKFLOW_COMPUTE_API_KEY) follow the config and are refused here: rotate those by adding the
new seed beside the old, restarting, then removing the old (docs/operations.md).

Environment:
  WORKFLOW_COMPUTE_BASE_URL  the worker's URL (required)
  WORKFLOW_COMPUTE_API_KEY   an admin key (required); it may be KEY_ID itself, if that is
                             not a seed key: it is used for the last time to revoke itself

Options:
  --grace SECONDS  wait this long before revoking the old key (default 300; 0: at once)
  --keep-old       do not revoke the old key
  --name NAME      the new key's name (default: the old key's)
  --output FILE    write the new secret to FILE (mode 0600) instead of stdout
  -h, --help       show this help

Exit codes:
  0   rotated: the new key exists, the old one is revoked (or kept, with --keep-old)
  1   refused: unknown or revoked KEY_ID, a seed key, or the admin key lacks the scope;
      nothing was created
  2   the worker is unreachable
  3   the new key was created (and printed) but revoking the old key failed: revoke it
      with `workflow-studio keys revoke KEY_ID`
  64  usage error
EOF
}

grace=300 keep_old=0 name="" output="" old_id=""
while [ "$#" -gt 0 ]; do
    case $1 in
        -h|--help) usage; exit 0 ;;
        --grace) grace=$(need_value "$1" "${2-}"); shift
            is_number "$grace" || usage_error "--grace: not a number of seconds" ;;
        --keep-old) keep_old=1 ;;
        --name) name=$(need_value "$1" "${2-}"); shift ;;
        --output) output=$(need_value "$1" "${2-}"); shift ;;
        -*) usage_error "unknown option: $1" ;;
        *) [ -z "$old_id" ] || usage_error "one KEY_ID only"; old_id=$1 ;;
    esac
    shift
done
[ -n "$old_id" ] || usage_error "which key? give KEY_ID (see workflow-studio keys list)"
[[ $old_id =~ ^key_[0-9A-Za-z]+$ ]] || usage_error "$old_id is not a key id (key_...)"
require_url
require_key
[ -z "$output" ] || [ ! -e "$output" ] || usage_error "--output $output exists: not overwriting"

code=0
health_probe >/dev/null || code=$?
[ "$code" != "$EX_UNREACHABLE" ] ||
    die "$EX_UNREACHABLE" "worker unreachable at $WORKFLOW_COMPUTE_BASE_URL"

keys=$(api GET /v1/keys) || die "$EX_FAILED" "cannot list keys (an admin key is needed)"
old=$(printf '%s' "$keys" | json_get \
    "json.dumps(k) if (k := next((k for k in d['data'] if k['id'] == '$old_id'), None)) else None")
[ -n "$old" ] || die "$EX_FAILED" "no key $old_id"
[ -z "$(printf '%s' "$old" | json_get 'd["revokedAt"]')" ] || die "$EX_FAILED" "$old_id is revoked"
[ "$(printf '%s' "$old" | json_get 'd["source"]')" != "seed" ] ||
    die "$EX_FAILED" "$old_id is a seed key: rotate it in the config (see --help)"

body=$(printf '%s' "$old" | NAME=$name json_get 'json.dumps({
    "name": __import__("os").environ["NAME"] or d["name"], "scopes": d["scopes"],
    "rateLimitPerMinute": d["rateLimitPerMinute"]})')
created=$(api POST /v1/keys "$body") || die "$EX_FAILED" "could not create the new key"
new_id=$(printf '%s' "$created" | json_get 'd["id"]')
if [ -n "$output" ]; then
    (umask 077 && printf '%s' "$created" | json_get 'd["secret"]' > "$output")
    say "new key $new_id: secret written to $output"
else
    printf '%s' "$created" | json_get 'd["secret"]'
    say "new key $new_id: its secret is on stdout, shown this once"
fi

if [ "$keep_old" = 1 ]; then
    say "kept $old_id; once nothing uses it: workflow-studio keys revoke $old_id"
    exit 0
fi
if [ "$grace" != 0 ]; then
    say "grace period: revoking $old_id in ${grace}s; move its users to $new_id now"
    sleep "$grace"
fi
last=$(api GET /v1/keys | json_get \
    "next((k['lastUsedAt'] for k in d['data'] if k['id'] == '$old_id'), None)") || last=""
[ -z "$last" ] || say "$old_id last used at $last"
api DELETE "/v1/keys/$old_id" >/dev/null || die 3 "created $new_id, but revoking $old_id failed"
say "revoked $old_id"
