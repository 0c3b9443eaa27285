#!/usr/bin/env bash
# What a failed run leaves to read (uploaded by .github/workflows/e2e.yml): the cluster's events, every pod's state,
# the logs of the pods that are not running or ready or have restarted (the previous container's too), and the stack's
# state summary. Never fails: it runs after a failure, on whatever is left.
set -uo pipefail
cd "$(dirname "$0")/../.."

OUT="${1:?usage: collect.sh <directory>}"
CONTEXT="kind-${AMS_E2E_CLUSTER:-ams-e2e}"
mkdir -p "$OUT/pods"

kubectl --context "$CONTEXT" get events -A --sort-by=.lastTimestamp >"$OUT/events.txt" 2>&1
kubectl --context "$CONTEXT" get pods -A -o wide >"$OUT/pods.txt" 2>&1
kubectl --context "$CONTEXT" get nodes,storageclass,pvc -A -o wide >"$OUT/cluster.txt" 2>&1
kubectl --context "$CONTEXT" get pods -A -o json >"$OUT/pods.json" 2>/dev/null
pulumi stack --stack "${AMS_E2E_STACK:-e2e}" >"$OUT/stack.txt" 2>&1

# namespace/name of every pod that is not Succeeded and is not Ready, or whose containers restarted.
"${PYTHON:-.venv/bin/python}" - "$OUT/pods.json" >"$OUT/failing-pods.txt" <<'PY'
import json, sys
try:
    pods = json.load(open(sys.argv[1]))["items"]
except (OSError, ValueError):
    pods = []
for pod in pods:
    status = pod.get("status", {})
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", []))
    restarted = any(c.get("restartCount", 0) for c in status.get("containerStatuses", []))
    if status.get("phase") != "Succeeded" and (not ready or restarted):
        print(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}")
PY
failing="$(cat "$OUT/failing-pods.txt")"
for pod in $failing; do
  namespace="${pod%%/*}"
  name="${pod#*/}"
  kubectl --context "$CONTEXT" -n "$namespace" describe pod "$name" >"$OUT/pods/$namespace.$name.describe.txt" 2>&1
  kubectl --context "$CONTEXT" -n "$namespace" logs "$name" --all-containers --prefix >"$OUT/pods/$namespace.$name.log" 2>&1
  kubectl --context "$CONTEXT" -n "$namespace" logs "$name" --all-containers --prefix --previous >"$OUT/pods/$namespace.$name.previous.log" 2>&1
done
echo "collected into $OUT: $(echo "$failing" | grep -c . || true) failing pod(s)"
exit 0
