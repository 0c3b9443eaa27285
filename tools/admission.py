"""What the API server makes of the pods a render creates: defaulting, LimitRange admission, ResourceQuota admission and totals.

DESIGN.md section 6, rung 7 ("LimitRange/ResourceQuota"): the pods of the program's own objects and of the objects its Helm
releases install (tools/helm.py), admitted as Kubernetes 1.35 admits them. The rules, as read in kubernetes/kubernetes:

- Defaulting on decode, pkg/apis/core/v1/defaults.go. `SetDefaults_Pod`: a container or init container with a limit and no
  request for a resource gets the limit as its request. `SetDefaults_LimitRangeItem`: in a `Container` item a missing `default`
  falls back to `max`, a missing `defaultRequest` to `default`, then to `min`.
- LimitRanger, plugin/pkg/admission/limitranger/admission.go. `defaultContainerResourceRequirements` and
  `mergeContainerResources` (called by `mergePodResourceRequirements` for containers and init containers alike): each `Container`
  item's `defaultRequest` fills every request a container lacks and its `default` every limit it lacks, resource by resource.
  A container that sets only a limit therefore keeps request = limit (the defaulting above ran first); one that sets only a
  request gets the default limit. `PodLimitFunc` then refuses a container outside an item's `min`, `max` or
  `maxLimitRequestRatio`, and for `Pod` items a pod whose sum over its containers (or largest init container) is outside them.
- Validation, pkg/apis/core/validation/validation.go `ValidateResourceRequirements`, which runs after mutating admission: a
  request above its limit is refused ("must be less than or equal to ... limit"), so a container that asks for more than the
  LimitRange's default limit and sets no limit of its own is refused.
- ResourceQuota, pkg/quota/v1/evaluator/core/pods.go, a validating plugin (after LimitRanger's defaults). `Constraints`: when a
  quota's `hard` names `cpu`/`memory`, `requests.*` or `limits.*` of them, every container and init container must carry that
  request or limit, else the pod is refused ("must specify limits.memory for: ..."). `PodUsageFunc`: a pod is charged one
  `pods` and `PodRequests`/`PodLimits` (staging/src/k8s.io/component-helpers/resource/helpers.go, the sidecar formula of
  KEP 753: the larger of the sum over containers and restartable init containers (sidecars) and each other init container
  plus the sidecars started before it; pod-level `resources` win where set). A pod in a terminal phase is no longer charged:
  a finished Job's pods count only while it runs. `requests.storage` and `persistentvolumeclaims`:
  pkg/quota/v1/evaluator/core/persistent_volume_claims.go, each claim's `spec.resources.requests.storage`.

Which pods run at once (`workloads`): each Deployment, StatefulSet, ReplicaSet and bare Pod at its `replicas` (the HPA's
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
from dataclasses import dataclass, field
from decimal import Decimal

import yaml

from components.validation import parse_quantity
from tools import helm

_ZERO = Decimal(0)
COMPUTE = ("cpu", "memory")
# The quota keys `quota_excess` evaluates; a quota naming any other is reported by `unevaluated_keys`.
EVALUATED_QUOTA_KEYS = {
    "pods",
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
    "requests.storage",
    "persistentvolumeclaims",
}
# pods.go `validationSet`: the quota keys that make every container carry the matching request or limit.
REQUIRED_BY_QUOTA = {
    "cpu": ("requests", "cpu"),
    "memory": ("requests", "memory"),
    "requests.cpu": ("requests", "cpu"),
    "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"),
    "limits.memory": ("limits", "memory"),
}


def quantity(value) -> Decimal:
    return parse_quantity(str(value)) if value not in (None, "") else _ZERO


# --- which pods run -------------------------------------------------------------------------------


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
        kind, meta, spec = obj.get("kind"), obj.get("metadata") or {}, obj.get("spec") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace", "")
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
    spec, namespace = cluster.get("spec") or {}, cluster["metadata"].get("namespace", "")
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
        kind, meta, spec = obj.get("kind"), obj.get("metadata") or {}, obj.get("spec") or {}
        name, namespace, api = meta.get("name", ""), meta.get("namespace", ""), obj.get("apiVersion", "")
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


# --- admission of one pod -------------------------------------------------------------------------


def _containers(spec: dict) -> list[tuple[str, dict]]:
    init = [("init container", c) for c in spec.get("initContainers") or []]
    return init + [("container", c) for c in spec.get("containers") or []]


def _resource_lists(container: dict) -> tuple[dict, dict]:
    """The container's requests and limits, made present (and mutable) in place."""
    resources = container["resources"] = container.get("resources") or {}
    requests = resources["requests"] = resources.get("requests") or {}
    limits = resources["limits"] = resources.get("limits") or {}
    return requests, limits


def limit_range_items(limit_ranges: Iterable[dict]) -> list[tuple[str, dict]]:
    """Each LimitRange item as the API server stores it (`SetDefaults_LimitRangeItem` applied), with its LimitRange's name."""
    items = []
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or []:
            item = copy.deepcopy(item)
            if item.get("type") == "Container":
                default, default_request = item.setdefault("default", {}), item.setdefault("defaultRequest", {})
                for key, value in (item.get("max") or {}).items():
                    default.setdefault(key, value)
                for key, value in default.items():
                    default_request.setdefault(key, value)
                for key, value in (item.get("min") or {}).items():
                    default_request.setdefault(key, value)
            items.append((limit_range["metadata"]["name"], item))
    return items


def admit(spec: dict, limit_ranges: Iterable[dict] = ()) -> tuple[dict, list[str]]:
    """The pod spec after decoding defaults and LimitRanger, and what LimitRanger and validation refuse ([] if admitted)."""
    pod = copy.deepcopy(spec)
    items = limit_range_items(limit_ranges)
    refused = []
    for _where, container in _containers(pod):
        requests, limits = _resource_lists(container)
        for key, value in limits.items():  # SetDefaults_Pod
            requests.setdefault(key, value)
    for _name, item in items:  # mergePodResourceRequirements: every Container item's defaults, in turn
        if item.get("type") != "Container":
            continue
        for _where, container in _containers(pod):
            requests, limits = _resource_lists(container)
            for key, value in item.get("default", {}).items():
                limits.setdefault(key, value)
            for key, value in item.get("defaultRequest", {}).items():
                requests.setdefault(key, value)
    for name, item in items:
        kind = item.get("type")
        if kind == "Container":
            for where, container in _containers(pod):
                requests, limits = container["resources"]["requests"], container["resources"]["limits"]
                problems = _bounds(item, requests, limits, "Container")
                refused += [f"{where} {container.get('name')}: {problem} (LimitRange {name})" for problem in problems]
        elif kind == "Pod":
            totals = {key: value for key, value in pod_resources(pod).items() if value}
            requests = {key.split(".", 1)[1]: value for key, value in totals.items() if key.startswith("requests.")}
            limits = {key.split(".", 1)[1]: value for key, value in totals.items() if key.startswith("limits.")}
            refused += [f"pod: {p} (LimitRange {name})" for p in _bounds(item, requests, limits, "Pod")]
        # PersistentVolumeClaim items bound claims, not pods (`unevaluated_limit_range_items` reports them).
    for where, container in _containers(pod):  # ValidateResourceRequirements
        requests, limits = container["resources"]["requests"], container["resources"]["limits"]
        for key in sorted(set(requests) & set(limits)):
            if quantity(requests[key]) > quantity(limits[key]):
                refused.append(f"{where} {container.get('name')}: {key} request {requests[key]} is above its limit {limits[key]}")
    return pod, refused


def _bounds(item: dict, requests: dict, limits: dict, kind: str) -> list[str]:
    """minConstraint, maxConstraint, limitRequestRatioConstraint of admission.go (values: quantities, or Decimals for a pod)."""

    def number(value) -> Decimal:
        return value if isinstance(value, Decimal) else quantity(value)

    def text(key: str, value) -> str:
        return show(key, value) if isinstance(value, Decimal) else str(value)

    problems = []
    for key, bound in (item.get("min") or {}).items():
        if key not in requests:
            problems.append(f"minimum {key} per {kind} is {bound}, no request is specified")
        elif number(requests[key]) < quantity(bound) or (key in limits and number(limits[key]) < quantity(bound)):
            limit = text(key, limits[key]) if key in limits else "-"
            problems.append(f"minimum {key} per {kind} is {bound}, request {text(key, requests[key])}, limit {limit}")
    for key, bound in (item.get("max") or {}).items():
        if key not in limits:
            problems.append(f"maximum {key} per {kind} is {bound}, no limit is specified")
        elif number(limits[key]) > quantity(bound) or (key in requests and number(requests[key]) > quantity(bound)):
            request = text(key, requests[key]) if key in requests else "-"
            problems.append(f"maximum {key} per {kind} is {bound}, request {request}, limit {text(key, limits[key])}")
    for key, ratio in (item.get("maxLimitRequestRatio") or {}).items():
        request, limit = number(requests.get(key) or _ZERO), number(limits.get(key) or _ZERO)
        if not request or not limit:
            problems.append(f"{key} max limit to request ratio per {kind} is {ratio}, request or limit is missing or 0")
        elif limit / request > quantity(ratio):
            problems.append(f"{key} max limit to request ratio per {kind} is {ratio}, got {limit / request:.2f}")
    return problems


def unevaluated_limit_range_items(limit_ranges: Iterable[dict]) -> list[str]:
    """LimitRange items `admit` does not evaluate (type PersistentVolumeClaim bounds claims, not pods)."""
    items = limit_range_items(limit_ranges)
    return [f"LimitRange {name}: type {item.get('type')}" for name, item in items if item.get("type") not in ("Container", "Pod")]


def quota_refusals(pod: dict, hard: dict) -> list[str]:
    """pods.go `Constraints` on an admitted pod: the requests and limits a quota's `hard` makes every container carry."""
    missing: dict[str, list[str]] = {}
    for key in sorted(set(hard) & set(REQUIRED_BY_QUOTA)):
        section, resource = REQUIRED_BY_QUOTA[key]
        for _where, container in _containers(pod):
            if resource not in ((container.get("resources") or {}).get(section) or {}):
                missing.setdefault(key, []).append(container.get("name", ""))
    return [f"must specify {key} for: {', '.join(sorted(names))}" for key, names in missing.items()]


def pod_resources(pod: dict) -> dict[str, Decimal]:
    """What one pod is charged: `requests.cpu`, `requests.memory`, `limits.cpu`, `limits.memory` (component-helpers
    PodRequests/PodLimits: KEP 753's formula; pod-level resources win where set)."""
    result: dict[str, Decimal] = {}
    for section in ("requests", "limits"):
        for resource in COMPUTE:
            total = sum((quantity(helm.get_path(c, "resources", section, resource)) for c in pod.get("containers") or []), _ZERO)
            sidecars, init_peak = _ZERO, _ZERO
            for container in pod.get("initContainers") or []:
                amount = quantity(helm.get_path(container, "resources", section, resource))
                if container.get("restartPolicy") == "Always":
                    sidecars += amount
                    total += amount
                    init_peak = max(init_peak, sidecars)
                else:
                    init_peak = max(init_peak, amount + sidecars)
            pod_level = helm.get_path(pod, "resources", section, resource)
            result[f"{section}.{resource}"] = quantity(pod_level) if pod_level is not None else max(total, init_peak)
    return result


# --- a namespace's totals -------------------------------------------------------------------------


@dataclass
class Usage:
    """What a namespace's quota is charged at its peak: every pod at its replicas, plus the largest rolling-update surge,
    plus the Jobs that run during an install or upgrade; and the storage its claims ask for."""

    namespace: str
    steady: dict = field(default_factory=dict)
    surge: dict = field(default_factory=dict)
    surge_of: dict = field(default_factory=dict)  # per key: which workload's surge it is
    jobs: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)

    KEYS = ("pods", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")

    def total(self, key: str) -> Decimal:
        if key in ("cpu", "memory"):
            key = f"requests.{key}"
        if key == "requests.storage":
            return sum((c.count * c.size for c in self.claims), _ZERO)
        if key == "persistentvolumeclaims":
            return Decimal(sum(c.count for c in self.claims))
        return self.steady.get(key, _ZERO) + self.surge.get(key, _ZERO) + self.jobs.get(key, _ZERO)

    def breakdown(self, key: str) -> str:
        if key == "requests.storage":
            return ", ".join(f"{c.name} {c.count}x{show(key, c.size)}" for c in self.claims) or "no claims"
        if key == "persistentvolumeclaims":
            return ", ".join(f"{c.name} {c.count}x" for c in self.claims) or "no claims"
        key = {"cpu": "requests.cpu", "memory": "requests.memory"}.get(key, key)
        steady, jobs = show(key, self.steady.get(key, _ZERO)), show(key, self.jobs.get(key, _ZERO))
        surge = f"surge {show(key, self.surge.get(key, _ZERO))}"
        if self.surge_of.get(key):
            surge += f" ({self.surge_of[key]})"
        return f"pods at their replicas {steady} + {surge} + install Jobs {jobs}"


def usage(namespace: str, admitted: list[tuple[Workload, dict]], claimed: list[Claim]) -> Usage:
    """The namespace's peak usage from its workloads (each with its admitted pod spec) and claims."""
    result = Usage(namespace, claims=[c for c in claimed if c.namespace == namespace])
    for workload, pod in admitted:
        if workload.namespace != namespace:
            continue
        charged = {"pods": Decimal(1), **pod_resources(pod)}
        bucket = result.jobs if workload.during == "install" else result.steady
        for key, value in charged.items():
            bucket[key] = bucket.get(key, _ZERO) + workload.replicas * value
            if workload.surge and workload.surge * value > result.surge.get(key, _ZERO):
                result.surge[key] = workload.surge * value
                result.surge_of[key] = f"{workload.surge} more of {workload.kind} {workload.name}"
    return result


def quota_excess(quota: dict, used: Usage) -> list[str]:
    """Each `hard` key the namespace's peak exceeds: the namespace, the total with its parts, and the hard limit."""
    hard = quota["spec"].get("hard") or {}
    problems = []
    for key in sorted(set(hard) & EVALUATED_QUOTA_KEYS):
        total = used.total(key)
        if total > quantity(hard[key]):
            problems.append(
                f"{used.namespace}: {key} {show(key, total)} exceeds the ResourceQuota {quota['metadata']['name']}'s hard "
                f"{hard[key]}: {used.breakdown(key)}"
            )
    return problems


def unevaluated_keys(quota: dict) -> list[str]:
    spec = quota.get("spec") or {}
    found = [f"hard {key}" for key in sorted(set(spec.get("hard") or {}) - EVALUATED_QUOTA_KEYS)]
    found += ["scopes"] * bool(spec.get("scopes")) + ["scopeSelector"] * bool(spec.get("scopeSelector"))
    return [f"ResourceQuota {quota['metadata'].get('namespace')}/{quota['metadata']['name']}: {what}" for what in found]


def show(key: str, value: Decimal) -> str:
    """A quantity for a message: CPU in millicores, memory and storage in Mi or Gi, counts as integers."""
    if key.endswith("cpu"):
        return f"{int(value * 1000)}m"
    if key.endswith(("memory", "storage")):
        mib = value / (1 << 20)
        return f"{mib / 1024:.2f}Gi" if mib >= 1024 else f"{mib:.0f}Mi"
    return f"{int(value)}"


# --- a whole render -------------------------------------------------------------------------------


@dataclass
class Admission:
    """Every pod of a render admitted in its namespace: what is refused, and each quota'd namespace's peak."""

    workloads: list  # (Workload, admitted pod spec)
    claims: list
    limit_range_refusals: list
    quota_refusals: list
    usages: dict  # namespace -> Usage, for each namespace with a ResourceQuota
    quotas: dict  # namespace -> [ResourceQuota]
    limit_ranges: dict  # namespace -> [LimitRange]

    def excess(self) -> list[str]:
        return [problem for ns, used in self.usages.items() for quota in self.quotas[ns] for problem in quota_excess(quota, used)]


def admit_render(program_objects: list[dict], releases: Iterable[tuple[str, list[dict]]], *, nodes: int) -> Admission:
    """Admit every pod of a render: the program's objects, and each release's (resource name, rendered objects).

    The LimitRanges and ResourceQuotas are the program's own (the charts install none into its namespaces)."""
    releases = list(releases)
    chart_objects = [o for _name, objects in releases for o in objects]
    found = workloads(program_objects, nodes=nodes)
    found += envoy_proxies(program_objects, chart_objects)
    claimed = claims(program_objects)
    for name, objects in releases:
        found += workloads(objects, source=name, nodes=nodes, context=program_objects)
        claimed += claims(objects, source=name)
    everything = [*program_objects, *chart_objects]
    limit_ranges: dict[str, list] = {}
    quotas: dict[str, list] = {}
    for obj in everything:
        if obj.get("kind") == "LimitRange":
            limit_ranges.setdefault(obj["metadata"].get("namespace", ""), []).append(obj)
        elif obj.get("kind") == "ResourceQuota":
            quotas.setdefault(obj["metadata"].get("namespace", ""), []).append(obj)
    admitted, lr_refusals, q_refusals = [], [], []
    for workload in found:
        pod, refused = admit(workload.spec, limit_ranges.get(workload.namespace, []))
        admitted.append((workload, pod))
        lr_refusals += [f"{workload.label}: {problem}" for problem in refused]
        for quota in quotas.get(workload.namespace, []):
            problems = quota_refusals(pod, quota["spec"].get("hard") or {})
            q_refusals += [f"{workload.label}: {problem} (ResourceQuota {quota['metadata']['name']})" for problem in problems]
    usages = {ns: usage(ns, admitted, claimed) for ns in sorted(quotas)}
    return Admission(admitted, claimed, lr_refusals, q_refusals, usages, quotas, limit_ranges)
