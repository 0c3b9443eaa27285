#!/usr/bin/env bash
# One day-2 change from README "Day 2: Changing settings" ("Sizes, replicas ... are in-place updates"), as a platform
# team runs it: edit the stack file with `pulumi config set --path`, `pulumi up`, then check the change landed and
# the system still answers (scripts/e2e/checks.sh). The web goes from 1 to 2 replicas and the api's memory limit
# from 256Mi to 384Mi, which rolls the api's pods (a new pod template) behind its PodDisruptionBudget.
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK="${AMS_E2E_STACK:-e2e}"
WEB_REPLICAS=2
API_MEMORY_LIMIT=384Mi

pulumi config set --stack "$STACK" --path ams:app.web.replicas "$WEB_REPLICAS"
pulumi config set --stack "$STACK" --path ams:app.api.resources.limits.memory "$API_MEMORY_LIMIT"
pulumi up --stack "$STACK" --yes --policy-pack policy

APP_NS="$(pulumi stack output --stack "$STACK" namespaces --json | "${PYTHON:-.venv/bin/python}" -c 'import json, sys; print(json.load(sys.stdin)["app"])')"
kubectl -n "$APP_NS" rollout status deployment/ams-web --timeout=120s
kubectl -n "$APP_NS" rollout status deployment/ams-api --timeout=120s
ready="$(kubectl -n "$APP_NS" get deployment/ams-web -o jsonpath='{.status.readyReplicas}')"
[ "$ready" = "$WEB_REPLICAS" ] || { echo "error: ams-web has $ready ready replicas, expected $WEB_REPLICAS" >&2; exit 1; }
limit="$(kubectl -n "$APP_NS" get deployment/ams-api -o jsonpath='{.spec.template.spec.containers[?(@.name=="api")].resources.limits.memory}')"
[ "$limit" = "$API_MEMORY_LIMIT" ] || { echo "error: ams-api's memory limit is $limit, expected $API_MEMORY_LIMIT" >&2; exit 1; }
echo "ok: ams-web runs $ready replicas and ams-api's memory limit is $limit"
AMS_E2E_CHECKS=app scripts/e2e/checks.sh
