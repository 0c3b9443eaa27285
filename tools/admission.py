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

Which pods run at once, and the claims they make: tools/workloads.py.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from tools import helm
from tools.workloads import Claim, Workload, claims, envoy_proxies, quantity, workloads

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
                default = item.setdefault("default", {})
                default_request = item.setdefault("defaultRequest", {})
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
                requests = container["resources"]["requests"]
                limits = container["resources"]["limits"]
                problems = _bounds(item, requests, limits, "Container")
                refused += [f"{where} {container.get('name')}: {problem} (LimitRange {name})" for problem in problems]
        elif kind == "Pod":
            totals = {key: value for key, value in pod_resources(pod).items() if value}
            requests = {key.split(".", 1)[1]: value for key, value in totals.items() if key.startswith("requests.")}
            limits = {key.split(".", 1)[1]: value for key, value in totals.items() if key.startswith("limits.")}
            refused += [f"pod: {p} (LimitRange {name})" for p in _bounds(item, requests, limits, "Pod")]
        # PersistentVolumeClaim items bound claims, not pods (`unevaluated_limit_range_items` reports them).
    for where, container in _containers(pod):  # ValidateResourceRequirements
        requests = container["resources"]["requests"]
        limits = container["resources"]["limits"]
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
        request = number(requests.get(key) or _ZERO)
        limit = number(limits.get(key) or _ZERO)
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
            sidecars = _ZERO
            init_peak = _ZERO
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
        steady = show(key, self.steady.get(key, _ZERO))
        jobs = show(key, self.jobs.get(key, _ZERO))
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
    admitted = []
    lr_refusals = []
    q_refusals = []
    for workload in found:
        pod, refused = admit(workload.spec, limit_ranges.get(workload.namespace, []))
        admitted.append((workload, pod))
        lr_refusals += [f"{workload.label}: {problem}" for problem in refused]
        for quota in quotas.get(workload.namespace, []):
            problems = quota_refusals(pod, quota["spec"].get("hard") or {})
            q_refusals += [f"{workload.label}: {problem} (ResourceQuota {quota['metadata']['name']})" for problem in problems]
    usages = {ns: usage(ns, admitted, claimed) for ns in sorted(quotas)}
    return Admission(admitted, claimed, lr_refusals, q_refusals, usages, quotas, limit_ranges)
