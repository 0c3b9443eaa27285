#!/usr/bin/env bash
# Whatever happened: destroy the stack (README "Destroying a stack": outside prod everything but the retained data and
# storage namespaces goes), then delete the cluster and its registry, which takes those namespaces with it. The cluster
# goes even when the destroy fails; the step fails then.
set -uo pipefail
cd "$(dirname "$0")/../.."

CLUSTER="${AMS_E2E_CLUSTER:-ams-e2e}"
status=0
# No stack yet (the run failed before `pulumi up`): nothing to destroy.
if pulumi stack select --stack "${AMS_E2E_STACK:-e2e}" >/dev/null 2>&1; then
  pulumi destroy --stack "${AMS_E2E_STACK:-e2e}" --yes || status=$?
fi
kind delete cluster --name "$CLUSTER" || status=$?
docker rm --force "${CLUSTER}-registry" >/dev/null 2>&1 || true
exit "$status"
