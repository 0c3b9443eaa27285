"""Which pods run at once (`workloads`): each Deployment, StatefulSet, ReplicaSet and bare Pod at its `replicas` (the HPA's
minimum when the object sets none); a DaemonSet once per node (`nodes`: the stack's documented node count, see
tools/footprint.py); a Job, or a CronJob's Job, at its parallelism, counted as running during an install or upgrade (Helm's
hooks, the program's migration Job); and the pods operators make from custom resources: prometheus-operator's Prometheus and
Alertmanager (tools/helm.py `operator_pod`), CloudNativePG's instances (`cnpg_instance_pod`) and Poolers, Envoy Gateway's proxy
for each Gateway (`envoy_proxies`). A rolling update adds `maxSurge` pods to a Deployment (default 25 %, rounded up, as the
Deployment controller resolves a percentage; none for `Recreate`) and to a DaemonSet that sets one (default 0); StatefulSets,
prometheus-operator's StatefulSets and CloudNativePG's instances replace pods one by one (no surge). CloudNativePG's initdb and
join Jobs are not added: each runs while one instance fewer is up, and its resources are the instances' own.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import yaml

from components.validation import parse_quantity
from tools import helm

_ZERO = Decimal(0)


def quantity(value) -> Decimal:
    """A Kubernetes quantity as a number; nothing (None or "") is zero."""
    return parse_quantity(str(value)) if value not in (None, "") else _ZERO


@dataclass
class Workload:
    """The pods one object makes: their spec as written (before admission), and how many run at once and when."""

    source: str  # "program", or the Helm release's resource name
    kind: str
    name: str
    namespace: str
    spec: dict
    replicas: int  # pods at once when installed; a Job's parallelism
    surge: int = 0  # extra pods while a rolling update replaces them
    during: str = "always"  # "always"; "install" for Jobs (they run during an install or upgrade and then finish)

    @property
    def label(self) -> str:
        return f"{self.source}: {self.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Claim:
    """Storage a namespace's PersistentVolumeClaims ask for: a claim, or a template's claims (one per replica)."""

    source: str
    namespace: str
    name: str
    count: int
    size: Decimal


def resolve_surge(max_surge, replicas: int) -> int:
    """A Deployment's `maxSurge` as pods: an integer as is, a percentage of the replicas rounded up (the Deployment
    controller's `ResolveFenceposts` rounds the surge up)."""
    if isinstance(max_surge, str) and max_surge.endswith("%"):
        return math.ceil(replicas * int(max_surge[:-1]) / 100)
    return int(max_surge)


def _deployment_surge(strategy: dict | None, replicas: int) -> int:
    strategy = strategy or {}
    if strategy.get("type") == "Recreate":
        return 0
    return resolve_surge((strategy.get("rollingUpdate") or {}).get("maxSurge", "25%"), replicas)


def workloads(objects: list[dict], *, source: str = "program", nodes: int, context: Iterable[dict] = ()) -> list[Workload]:
    """The pods the objects make, with how many run at once. `context` holds other objects of the render the operators read
    (an HPA's minimum, a Cluster's ObjectStore, the Gateway classes); the objects themselves are always read too."""
    everything = [*objects, *context]
    hpa_minimum = {
        (h["metadata"].get("namespace"), h["spec"]["scaleTargetRef"]["name"]): int(h["spec"].get("minReplicas", 1))
        for h in everything
        if h.get("kind") == "HorizontalPodAutoscaler"
    }
    reloader = helm.reloader_resources(objects)
    found: list[Workload] = []
    for obj in objects:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        name = meta.get("name", "")
        namespace = meta.get("namespace", "")
        api = obj.get("apiVersion", "")

        def add(pod: dict, replicas: int, surge: int = 0, during: str = "always", kind=kind, name=name, namespace=namespace):
            found.append(Workload(source, kind, name, namespace, pod, replicas, surge, during))

        if kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            replicas = int(spec["replicas"]) if "replicas" in spec else hpa_minimum.get((namespace, name), 1)
            surge = _deployment_surge(spec.get("strategy"), replicas) if kind == "Deployment" else 0
            add(spec["template"]["spec"], replicas, surge)
        elif kind == "DaemonSet":
            rolling = (spec.get("updateStrategy") or {}).get("rollingUpdate") or {}
            add(spec["template"]["spec"], nodes, resolve_surge(rolling.get("maxSurge", 0), nodes))
        elif kind == "Job":
            add(spec["template"]["spec"], int(spec.get("parallelism", 1)), during="install")
        elif kind == "CronJob":
            job = spec["jobTemplate"]["spec"]
            add(job["template"]["spec"], int(job.get("parallelism", 1)), during="install")
        elif kind == "Pod":
            add(spec, 1)
        elif kind in helm.OPERATOR_APPS and api.startswith("monitoring.coreos.com/"):
            _labels, pod = helm.operator_pod(obj, reloader)
            shards = int(spec.get("shards", 1)) if kind == "Prometheus" else 1
            add(pod, int(spec.get("replicas", 1)) * shards)
        elif kind == "Cluster" and api.startswith("postgresql.cnpg.io/"):
            add(cnpg_instance_pod(obj, everything), int(spec.get("instances", 1)))
        elif kind == "Pooler" and api.startswith("postgresql.cnpg.io/"):
            pod = copy.deepcopy((spec.get("template") or {}).get("spec") or {})
            pod.setdefault("containers", [{"name": "pgbouncer"}])
            replicas = int(spec.get("instances", 1))
            add(pod, replicas, _deployment_surge(spec.get("deploymentStrategy"), replicas))
    return found


# CloudNativePG (pkg/specs/pods.go, `createBootstrapContainer` and `createPostgresContainers`): an instance pod runs the
# `postgres` container with the Cluster's `resources`, after the `bootstrap-controller` init container with
# `initContainerResources` (else the same `resources`). The Barman Cloud plugin (cloudnative-pg/plugin-barman-cloud
# internal/cnpgi/operator/lifecycle.go `reconcilePodSpec`, lifecycle_resources.go) adds its `plugin-barman-cloud` sidecar
# (an init container with restartPolicy Always) to a Cluster that names it, with the resources of the ObjectStore's
# `spec.instanceSidecarConfiguration.resources` (none when unset).
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"


def cnpg_instance_pod(cluster: dict, objects: Iterable[dict]) -> dict:
    """The pod spec of one CloudNativePG instance of the Cluster (`objects`: where its ObjectStore is)."""
    spec = cluster.get("spec") or {}
    namespace = cluster["metadata"].get("namespace", "")
    resources = spec.get("resources") or {}
    init = [{"name": "bootstrap-controller", "resources": copy.deepcopy(spec.get("initContainerResources") or resources)}]
    stores = {
        o["metadata"]["name"]: o
        for o in objects
        if o.get("kind") == "ObjectStore" and o["metadata"].get("namespace", "") == namespace
    }
    for plugin in spec.get("plugins") or []:
        store_name = helm.get_path(plugin, "parameters", "barmanObjectName")
        if plugin.get("name") != BARMAN_PLUGIN or plugin.get("enabled") is False or not store_name:
            continue
        sidecar = helm.get_path(stores.get(store_name), "spec", "instanceSidecarConfiguration", "resources") or {}
        init.append({"name": "plugin-barman-cloud", "restartPolicy": "Always", "resources": copy.deepcopy(sidecar)})
    return {"initContainers": init, "containers": [{"name": "postgres", "resources": copy.deepcopy(resources)}]}


# Envoy Gateway (api/v1alpha1/shared_types.go, internal/infrastructure/kubernetes/proxy): each Gateway of a class its
# controller owns gets a proxy Deployment, in the controller's namespace unless the EnvoyGateway configuration's
# `provider.kubernetes.deploy.type` is `GatewayNamespace` (then the Gateway's). Its pod: the `envoy` container with the
# EnvoyProxy's `envoyDeployment.container.resources` (default: requests 100m CPU, 512Mi memory) and the `shutdown-manager`
# (requests 10m, 32Mi); `envoyDeployment.replicas` pods (default 1; `envoyHpa.minReplicas` when set),
# `envoyDeployment.strategy` (default RollingUpdate).
ENVOY_GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
ENVOY_DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "512Mi"}}
SHUTDOWN_MANAGER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}}


def envoy_proxies(program_objects: list[dict], chart_objects: list[dict]) -> list[Workload]:
    """The Envoy proxy pods Envoy Gateway makes for the program's Gateways; none when no release installs Envoy Gateway
    (a controller the program does not install is not counted)."""
    config = next(
        (o for o in chart_objects if o.get("kind") == "ConfigMap" and o["metadata"].get("name") == "envoy-gateway-config"), None
    )
    if config is None:
        return []
    gateway_config = yaml.safe_load((config.get("data") or {}).get("envoy-gateway.yaml") or "") or {}
    controller = (gateway_config.get("gateway") or {}).get("controllerName", ENVOY_GATEWAY_CONTROLLER)
    deploy_type = helm.get_path(gateway_config, "provider", "kubernetes", "deploy", "type")
    classes = {c["metadata"]["name"]: c for c in program_objects if c.get("kind") == "GatewayClass"}
    classes = {name: c for name, c in classes.items() if c["spec"].get("controllerName") == controller}
    proxies = {
        (p["metadata"].get("namespace", ""), p["metadata"]["name"]): p for p in program_objects if p.get("kind") == "EnvoyProxy"
    }
    found = []
    for gateway in (o for o in program_objects if o.get("kind") == "Gateway"):
        gateway_class = classes.get(gateway["spec"].get("gatewayClassName"))
        if gateway_class is None:
            continue
        namespace = gateway["metadata"].get("namespace", "")
        ref = (gateway["spec"].get("infrastructure") or {}).get("parametersRef") or {}
        proxy = proxies.get((namespace, ref.get("name"))) if ref.get("kind") == "EnvoyProxy" else None
        if proxy is None and (class_ref := gateway_class["spec"].get("parametersRef") or {}).get("kind") == "EnvoyProxy":
            proxy = proxies.get((class_ref.get("namespace", ""), class_ref.get("name")))
        deployment = helm.get_path(proxy, "spec", "provider", "kubernetes", "envoyDeployment") or {}
        resources = helm.get_path(deployment, "container", "resources") or ENVOY_DEFAULT_RESOURCES
        # A strategic merge patch of the Deployment (envoyDeployment.patch) may size the shutdown-manager: containers merge
        # by name, and `resources` replaces the default.
        patched = helm.get_path(deployment, "patch", "value", "spec", "template", "spec", "containers") or []
        shutdown = next((c.get("resources") for c in patched if c.get("name") == "shutdown-manager"), None)
        pod = {
            "containers": [
                {"name": "envoy", "resources": copy.deepcopy(resources)},
                {"name": "shutdown-manager", "resources": copy.deepcopy(shutdown or SHUTDOWN_MANAGER_RESOURCES)},
            ]
        }
        replicas = int(
            (helm.get_path(proxy, "spec", "provider", "kubernetes", "envoyHpa") or {}).get(
                "minReplicas", deployment.get("replicas", 1)
            )
        )
        where = namespace if deploy_type == "GatewayNamespace" else config["metadata"]["namespace"]
        name = f"envoy-{namespace}-{gateway['metadata']['name']}"
        surge = _deployment_surge(deployment.get("strategy"), replicas)
        found.append(Workload("Envoy Gateway", "Deployment (Envoy proxy)", name, where, pod, replicas, surge))
    return found


def claims(objects: list[dict], *, source: str = "program") -> list[Claim]:
    """The storage the objects claim: PersistentVolumeClaims, StatefulSets' claim templates, CloudNativePG's instance volumes,
    prometheus-operator's storage templates (one claim per replica and shard)."""
    found = []
    for obj in objects:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        name = meta.get("name", "")
        namespace = meta.get("namespace", "")
        api = obj.get("apiVersion", "")
        if kind == "PersistentVolumeClaim":
            found.append(Claim(source, namespace, name, 1, quantity(helm.get_path(spec, "resources", "requests", "storage"))))
        elif kind == "StatefulSet":
            for template in spec.get("volumeClaimTemplates") or []:
                size = quantity(helm.get_path(template, "spec", "resources", "requests", "storage"))
                claim = f"{helm.get_path(template, 'metadata', 'name')}-{name}"
                found.append(Claim(source, namespace, claim, int(spec.get("replicas", 1)), size))
        elif kind == "Cluster" and api.startswith("postgresql.cnpg.io/"):
            instances = int(spec.get("instances", 1))
            for volume in ("storage", "walStorage"):
                if spec.get(volume):
                    found.append(Claim(source, namespace, f"{name} {volume}", instances, quantity(spec[volume].get("size"))))
        elif kind in helm.OPERATOR_APPS and api.startswith("monitoring.coreos.com/"):
            template = (spec.get("storage") or {}).get("volumeClaimTemplate")
            if template:
                count = int(spec.get("replicas", 1)) * (int(spec.get("shards", 1)) if kind == "Prometheus" else 1)
                size = quantity(helm.get_path(template, "spec", "resources", "requests", "storage"))
                found.append(Claim(source, namespace, f"{kind} {name}", count, size))
    return found
