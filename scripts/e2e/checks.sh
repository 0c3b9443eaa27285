#!/usr/bin/env bash
# What a user checks after `pulumi up --stack e2e` (docs/e2e.md): the entry answers over HTTPS with the certificate
# the stack issued, /api/health is 200, the migration Job completed, PostgreSQL takes the app's credentials through
# the pooler (and a pod outside the app cannot reach it), Prometheus has its targets up, and a line the api logged
# reaches Loki. Every name comes from the stack's outputs or is one of the objects below, which tests/test_e2e.py
# finds in the offline render of the e2e stack.
# AMS_E2E_CHECKS=app stops after the app's checks (the day-2 change's, scripts/e2e/day2.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK="${AMS_E2E_STACK:-e2e}"
PYTHON="${PYTHON:-.venv/bin/python}"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

TLS_SECRET=ams-tls                  # the Gateway's https listener's certificateRefs
MIGRATION_SELECTOR=app.kubernetes.io/component=migration
API_DEPLOYMENT=ams-api
DB_CLUSTER=ams-db
POOLER=ams-db-pooler-rw
PROMETHEUS_SERVICE=kps-prometheus   # kube-prometheus-stack's <fullnameOverride>-prometheus, port 9090
LOKI_SERVICE=loki                   # the Loki chart's single binary, port 3100 (LOKI_HOST of the log shipper)
PROBE="e2e-$(date +%s)-$RANDOM"     # marks the request whose log line must reach Loki
OUTSIDER=e2e-outsider               # a pod the NetworkPolicies do not admit anywhere
OUTSIDER_IMAGE=busybox:1.37.0-musl  # its `nc -z` opens a TCP connection and closes it

pulumi stack output --stack "$STACK" --json >"$WORK/outputs.json"
# One value of the outputs: `output namespaces app`.
output() {
  "$PYTHON" -c 'import functools, json, sys; print(functools.reduce(lambda v, k: v[k], sys.argv[2:], json.load(open(sys.argv[1]))))' \
    "$WORK/outputs.json" "$@"
}
APP_NS="$(output namespaces app)"
DATA_NS="$(output namespaces data)"
MONITORING_NS="$(output namespaces monitoring)"
HOST="$(output url | sed 's|^https://||')"
PORT="$(output entry httpsPort)"
NODE="$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')"
echo "entry: https://$HOST:$PORT on node $NODE"

# --- the certificate the stack issued, served at the entry -------------------------------------------------------
kubectl -n "$APP_NS" get secret "$TLS_SECRET" -o jsonpath='{.data.tls\.crt}' | base64 -d >"$WORK/issued.pem"
issued="$(openssl x509 -in "$WORK/issued.pem" -noout -fingerprint -sha256)"
served="$(openssl s_client -connect "$NODE:$PORT" -servername "$HOST" </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256)"
[ "$issued" = "$served" ] || { echo "error: the entry serves $served, the stack issued $issued" >&2; exit 1; }
echo "ok: the entry serves the certificate in $APP_NS/$TLS_SECRET ($issued)"

# --- /api/health through the entry, verified against that certificate --------------------------------------------
curl --fail --silent --show-error --retry 10 --retry-delay 6 --retry-all-errors --cacert "$WORK/issued.pem" \
  --resolve "$HOST:$PORT:$NODE" "https://$HOST:$PORT/api/health?probe=$PROBE" >"$WORK/health.json"
echo "ok: https://$HOST:$PORT/api/health answered 200: $(cat "$WORK/health.json")"

# --- the migration Job ------------------------------------------------------------------------------------------
kubectl -n "$APP_NS" wait --for=condition=Complete job -l "$MIGRATION_SELECTOR" --timeout=60s
echo "ok: the migration Job completed"

# --- PostgreSQL through the pooler, with the app's credentials (the api pod's DATABASE_URL) ----------------------
kubectl -n "$DATA_NS" wait --for=condition=Ready "cluster.postgresql.cnpg.io/$DB_CLUSTER" --timeout=120s
kubectl -n "$DATA_NS" get "pooler.postgresql.cnpg.io/$POOLER"
if output images api | grep -q ams-standin; then
  kubectl -n "$APP_NS" exec "deployment/$API_DEPLOYMENT" -c api -- node dist/main.js db-check
  echo "ok: the api's DATABASE_URL logs in through $POOLER"
else
  echo "the api runs the app's own image: its readiness (/health/ready, checked above through the entry) covers the database"
fi

if [ "${AMS_E2E_CHECKS:-all}" = "app" ]; then
  echo "AMS_E2E_CHECKS=app: the outsider, Prometheus and Loki not checked again"
  exit 0
fi

# --- a pod outside the app's namespace (in `default`, no policy of ours) cannot open a connection to the pooler ---------
# The CNI enforces the policies, so the flows above passed because they are allowed, not because nothing is checked.
# Its control, the same probe to the cluster's DNS over TCP (no policy there), must connect: a probe that fails for any
# other reason (the image, DNS, nc's flags) fails the check instead of passing it.
kubectl -n default run "$OUTSIDER-control" --image="$OUTSIDER_IMAGE" --restart=Never --command -- \
  nc -z -w 5 kube-dns.kube-system.svc.cluster.local 53
kubectl -n default wait --for=jsonpath='{.status.phase}'=Succeeded "pod/$OUTSIDER-control" --timeout=90s
kubectl -n default run "$OUTSIDER" --image="$OUTSIDER_IMAGE" --restart=Never --command -- \
  nc -z -w 5 "$POOLER.$DATA_NS.svc.cluster.local" 5432
kubectl -n default wait --for=jsonpath='{.status.phase}'=Failed "pod/$OUTSIDER" --timeout=90s
kubectl -n default delete pod "$OUTSIDER" "$OUTSIDER-control" --wait=false
echo "ok: a pod outside the app's namespace cannot reach $POOLER"

# --- Prometheus: every target in the app and data namespaces up, the app's three among them ----------------------
kubectl -n "$MONITORING_NS" port-forward "service/$PROMETHEUS_SERVICE" 19090:9090 >"$WORK/prometheus-forward.log" 2>&1 &
targets_up() {
  curl --silent --fail "http://127.0.0.1:19090/api/v1/targets?state=active" >"$WORK/targets.json" || return 1
  "$PYTHON" - "$WORK/targets.json" "$APP_NS" "$DATA_NS" <<'PY'
import json, sys
targets = json.load(open(sys.argv[1]))["data"]["activeTargets"]
ours = [t for t in targets if t["labels"].get("namespace") in sys.argv[2:]]
down = [t["scrapeUrl"] for t in ours if t["health"] != "up"]
pods = {t["labels"].get("pod", "").rsplit("-", 2)[0] for t in ours if t["health"] == "up"}
missing = {"ams-api", "ams-web", "ams-worker"} - pods
print(f"{len(ours)} targets, down: {down}, app pods missing: {sorted(missing)}")
sys.exit(1 if down or missing or not ours else 0)
PY
}
for attempt in $(seq 1 24); do
  if targets_up; then break; fi
  [ "$attempt" -lt 24 ] || { echo "error: Prometheus targets not all up" >&2; exit 1; }
  sleep 5
done
echo "ok: Prometheus scrapes every target of $APP_NS and $DATA_NS"

# --- Loki: the api's log line of the probe above ------------------------------------------------------------------
kubectl -n "$MONITORING_NS" port-forward "service/$LOKI_SERVICE" 13100:3100 >"$WORK/loki-forward.log" 2>&1 &
query="{namespace=\"$APP_NS\", container=\"api\"} |= \"$PROBE\""
for attempt in $(seq 1 24); do
  if curl --silent --fail --get "http://127.0.0.1:13100/loki/api/v1/query_range" --data-urlencode "query=$query" \
    --data-urlencode "since=30m" >"$WORK/loki.json" && grep -q "$PROBE" "$WORK/loki.json"; then
    break
  fi
  [ "$attempt" -lt 24 ] || { echo "error: the api's line with $PROBE did not reach Loki" >&2; exit 1; }
  sleep 5
done
echo "ok: Loki has the api's line for $PROBE"
