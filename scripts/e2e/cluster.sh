#!/usr/bin/env bash
# A throwaway kind cluster for the e2e stack (docs/e2e.md), with what README "What a bare cluster must bring" asks:
# a CNI that enforces NetworkPolicy (Calico), a default StorageClass that allows expansion, and a registry the nodes
# pull from (every container pulls Always: components/k8s.py). Needs docker, kind and kubectl on PATH.
set -euo pipefail

CLUSTER="${AMS_E2E_CLUSTER:-ams-e2e}"
REGISTRY_NAME="${CLUSTER}-registry"
REGISTRY_PORT=5001
# registry: the distribution project's image, as kind's own local-registry example runs it
# (kubernetes-sigs/kind site/static/examples/kind-with-registry.sh).
REGISTRY_IMAGE="registry:3.0.0"
# The manifest install of Calico (projectcalico/calico manifests/calico.yaml at the tag; docs.tigera.io "Component
# versions" lists 3.31.3). Its default IPv4 pool is 192.168.0.0/16, so kind's pod subnet is set to it.
CALICO_VERSION="v3.31.3"
POD_SUBNET="192.168.0.0/16"

# 1. The registry, on the host's loopback for `docker push` and on kind's network for the nodes.
if [ "$(docker inspect -f '{{.State.Running}}' "$REGISTRY_NAME" 2>/dev/null || true)" != "true" ]; then
  docker run -d --restart=always -p "127.0.0.1:${REGISTRY_PORT}:5000" --network bridge --name "$REGISTRY_NAME" "$REGISTRY_IMAGE"
fi

# 2. The cluster without kind's own CNI. kindnet enforces NetworkPolicy since kind v0.24.0 (kubernetes-sigs/kind issue
# 842), but Calico is what README's prerequisites name and what most self-managed clusters run.
kind create cluster --name "$CLUSTER" --wait 0s --config - <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
networking:
  disableDefaultCNI: true
  podSubnet: "${POD_SUBNET}"
KIND

# 3. The nodes reach the registry by its container name: localhost:5001 inside a node is the node itself
# (kind docs, Local Registry; containerd docs/hosts.md: one hosts.toml per registry host).
for node in $(kind get nodes --name "$CLUSTER"); do
  docker exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:${REGISTRY_PORT}"
  printf '[host."http://%s:5000"]\n' "$REGISTRY_NAME" | docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:${REGISTRY_PORT}/hosts.toml"
done
if [ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$REGISTRY_NAME")" = "null" ]; then
  docker network connect kind "$REGISTRY_NAME"
fi

# 4. Calico, then wait until the node is Ready (it is not before a CNI runs).
kubectl --context "kind-${CLUSTER}" apply --server-side -f "https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/calico.yaml"
kubectl --context "kind-${CLUSTER}" -n kube-system rollout status daemonset/calico-node --timeout=180s
kubectl --context "kind-${CLUSTER}" wait --for=condition=Ready nodes --all --timeout=120s

# 5. kind's default class (`standard`, rancher.io/local-path) does not declare expansion. The program only reads a
# named class; the default must show ALLOWVOLUMEEXPANSION true (README: What a bare cluster must bring). local-path
# itself cannot grow a volume, so the workflow's day-2 change is not a volume resize (docs/e2e.md).
kubectl --context "kind-${CLUSTER}" patch storageclass standard --type merge -p '{"allowVolumeExpansion": true}'
kubectl --context "kind-${CLUSTER}" get storageclass
