"""What a render asks of a cluster: CPU and memory requests and limits, and storage, per namespace.

Counted at the configured replica counts (the HPA minimum where one applies); run-to-completion Jobs are
left out, since they hold resources only while running.

- `per_namespace(objects)`: the program's own objects as written; a DaemonSet counts one pod (per node).
- `per_namespace_with_charts(objects, chart_objects, nodes=...)`: the program's objects and what its Helm
  releases deploy (tools/helm.py renders them), as the cluster admits them (tools/admission.py): a DaemonSet
  once per node (`nodes`: the stack's documented node count, `nodes_for`); the pods operators make from
  custom resources (Prometheus, Alertmanager, CloudNativePG instances with the Barman plugin's sidecar,
  Poolers, the Envoy proxy for each Gateway); each pod as the scheduler and the quota count it (init
  containers and sidecars included); a container without a request or limit at its namespace's LimitRange
  defaults (none where the namespace has no LimitRange: BestEffort, counted as 0, and listed in `unsized`).
- `of_render(render)`: the same for a tools.runner Render, rendering its releases with helm; the releases it
  could not render (helm missing, helm failing) are named, not counted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from tools import admission, helm, workloads

_ZERO = Decimal(0)


@dataclass
class Footprint:
    cpu_request: Decimal = _ZERO
    cpu_limit: Decimal = _ZERO
    memory_request: Decimal = _ZERO
    memory_limit: Decimal = _ZERO
    storage: Decimal = _ZERO
    pods: int = 0
    notes: list = field(default_factory=list)
    # per_namespace_with_charts: containers the namespace's LimitRange sized, and containers left unsized (BestEffort).
    defaulted: list = field(default_factory=list)
    unsized: list = field(default_factory=list)

    def add_containers(self, containers: list, replicas: int) -> None:
        for container in containers:
            resources = container.get("resources") or {}
            requests = resources.get("requests") or {}
            limits = resources.get("limits") or {}
            self.cpu_request += replicas * workloads.quantity(requests.get("cpu"))
            self.memory_request += replicas * workloads.quantity(requests.get("memory"))
            self.cpu_limit += replicas * workloads.quantity(limits.get("cpu"))
            self.memory_limit += replicas * workloads.quantity(limits.get("memory"))
        self.pods += replicas

    def add_pod(self, charged: dict, replicas: int) -> None:
        """A pod as tools/admission.py `pod_resources` charges it, `replicas` times."""
        self.cpu_request += replicas * charged["requests.cpu"]
        self.memory_request += replicas * charged["requests.memory"]
        self.cpu_limit += replicas * charged["limits.cpu"]
        self.memory_limit += replicas * charged["limits.memory"]
        self.pods += replicas

    def __iadd__(self, other: Footprint) -> Footprint:
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit", "storage", "pods", "defaulted", "unsized"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def _pod_containers(pod_spec: dict) -> list:
    # Native sidecars (init containers that keep running) hold resources like containers do.
    sidecars = [c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return list(pod_spec.get("containers") or []) + sidecars


def per_namespace(objects: list[dict]) -> dict[str, Footprint]:
    result: dict[str, Footprint] = {}
    for obj in objects:
        kind = obj["kind"]
        spec = obj.get("spec") or {}
        namespace = (obj.get("metadata") or {}).get("namespace") or "(cluster)"
        fp = result.setdefault(namespace, Footprint())
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            replicas = 1 if kind == "DaemonSet" else int(spec.get("replicas", 1))
            fp.add_containers(_pod_containers(spec["template"]["spec"]), replicas)
            for claim in spec.get("volumeClaimTemplates") or []:
                fp.storage += replicas * workloads.quantity(claim["spec"]["resources"]["requests"]["storage"])
        elif kind == "PersistentVolumeClaim":
            fp.storage += workloads.quantity(spec["resources"]["requests"]["storage"])
        elif kind == "Cluster" and obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            instances = int(spec.get("instances", 1))
            fp.add_containers([{"resources": spec.get("resources") or {}}], instances)
            for volume in ("storage", "walStorage"):
                if spec.get(volume):
                    fp.storage += instances * workloads.quantity(spec[volume].get("size"))
        elif kind == "Pooler" and obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            template = (spec.get("template") or {}).get("spec") or {}
            fp.add_containers(_pod_containers(template), int(spec.get("instances", 1)))
    return {ns: fp for ns, fp in sorted(result.items()) if fp.pods or fp.storage}


# Nodes each stack's cluster is documented to have at most (docs/secrets-and-access.md, "Access per environment": the
# monitoring quota holds the per-node DaemonSets "on a cluster of up to 4 nodes in staging and up to 10 nodes in prod");
# a stack the docs give no count for (dev, a stack file of one's own) is taken to run on DEFAULT_NODES.
DEFAULT_NODES = 3
DOCUMENTED_NODES = {"staging": 4, "prod": 10}


def nodes_for(stack: str) -> int:
    return DOCUMENTED_NODES.get(stack, DEFAULT_NODES)


def per_namespace_with_charts(
    objects: list[dict], chart_objects: Iterable[dict], *, nodes: int = DEFAULT_NODES
) -> dict[str, Footprint]:
    """Per namespace: the program's objects and the objects its Helm releases install (all releases of a render, as
    tools/helm.py renders them), at the configured replicas, DaemonSets on `nodes` nodes, as the cluster admits them."""
    admitted = admission.admit_render(list(objects), [("charts", list(chart_objects))], nodes=nodes)
    result: dict[str, Footprint] = {}
    for workload, pod in admitted.workloads:
        if workload.during != "always":
            continue
        fp = result.setdefault(workload.namespace or "(cluster)", Footprint())
        fp.add_pod(admission.pod_resources(pod), workload.replicas)
        for container in helm.containers(workload.spec):
            if helm.unsized(container):
                where = f"{workload.kind} {workload.name}: {container.get('name')}"
                (fp.defaulted if workload.namespace in admitted.limit_ranges else fp.unsized).append(where)
    for claim in admitted.claims:
        result.setdefault(claim.namespace or "(cluster)", Footprint()).storage += claim.count * claim.size
    return {ns: fp for ns, fp in sorted(result.items()) if fp.pods or fp.storage}


def of_render(render, *, nodes: int | None = None, helm_bin: str | None = None, charts: Path | None = None):
    """`per_namespace_with_charts` for a tools.runner Render: its releases rendered with helm (cached per process), DaemonSets
    on the stack's documented node count unless `nodes` is given. Returns the footprint per namespace and, for each release
    that could not be rendered (so is not counted), a line saying which and why."""
    releases = helm.releases(render)
    apis = helm.api_versions(render)
    helm_bin = helm_bin or helm.find_helm()
    chart_objects: list[dict] = []
    left_out: list[str] = []
    if releases and helm_bin is None:
        left_out = [f"{r.resource} ({r.chart}): helm is not installed (scripts/setup.sh installs it)" for r in releases]
    elif releases:
        done = helm.render_all([(r, apis) for r in releases], helm=helm_bin, charts=charts)
        for release in releases:
            objects = done[(release, tuple(sorted(apis)))]
            if isinstance(objects, helm.HelmError):
                left_out.append(f"{release.resource} ({release.chart}): {objects}")
            else:
                chart_objects += objects
    stack_nodes = nodes if nodes is not None else nodes_for(render.stack)
    return per_namespace_with_charts(render.objects, chart_objects, nodes=stack_nodes), left_out


def total(footprints: dict[str, Footprint]) -> Footprint:
    result = Footprint()
    for fp in footprints.values():
        result += fp
    return result


def cpu(value: Decimal) -> str:
    return f"{int(value * 1000)}m"


def memory(value: Decimal) -> str:
    mib = value / (1 << 20)
    return f"{mib / 1024:.2f}Gi" if mib >= 1024 else f"{int(mib)}Mi"
