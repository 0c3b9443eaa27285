#!/usr/bin/env bash
# The images the e2e stack runs: the app's own (dev's, Pulumi.dev.yaml) when this machine can read them, otherwise
# the stand-ins (docker/standin) built here and pushed to the registry beside the cluster (scripts/e2e/cluster.sh).
# Every container pulls Always (components/k8s.py): "every time the kubelet launches a container, the kubelet queries
# the container image registry" (Kubernetes docs, Images: Image pull policy), so an image loaded with
# `kind load docker-image` alone would fail to start: it must be in a registry the nodes reach.
set -euo pipefail
cd "$(dirname "$0")/../.."

STACK="${AMS_E2E_STACK:-e2e}"

# The stack file's value of ams:delivery.images.<name>, and dev's.
image_of() {
  .venv/bin/python - "$1" "$2" <<'PY'
import sys, yaml
print(yaml.safe_load(open(f"Pulumi.{sys.argv[1]}.yaml"))["config"]["ams:delivery"]["images"][sys.argv[2]])
PY
}

for name in api web; do
  app_image="$(image_of dev "$name")"
  if docker manifest inspect "$app_image" >/dev/null 2>&1; then
    echo "the app's $name image $app_image is readable: the e2e stack runs it"
    pulumi config set --stack "$STACK" --path "ams:delivery.images.$name" "$app_image"
    continue
  fi
  standin="$(image_of "$STACK" "$name")"
  echo "the app's $name image $app_image is not readable here: building the stand-in $standin"
  docker build --file "docker/standin/$name/Dockerfile" --tag "$standin" docker/standin
  docker push "$standin"
done
