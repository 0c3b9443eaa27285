"""What a render asks of a cluster: CPU and memory requests and limits, and storage, per namespace.

Counted at the configured replica counts (the HPA minimum where one applies). DaemonSets count one
pod (per node); run-to-completion Jobs are left out, since they hold resources only while running.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from components.validation import parse_quantity

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

    def add_containers(self, containers: list, replicas: int) -> None:
        for container in containers:
            resources = container.get("resources") or {}
            requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
            self.cpu_request += replicas * _q(requests.get("cpu"))
            self.memory_request += replicas * _q(requests.get("memory"))
            self.cpu_limit += replicas * _q(limits.get("cpu"))
            self.memory_limit += replicas * _q(limits.get("memory"))
        self.pods += replicas

    def __iadd__(self, other: Footprint) -> Footprint:
        for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit", "storage", "pods"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


def _q(value) -> Decimal:
    return parse_quantity(str(value)) if value not in (None, "") else _ZERO


def _pod_containers(pod_spec: dict) -> list:
    # Native sidecars (init containers that keep running) hold resources like containers do.
    sidecars = [c for c in pod_spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return list(pod_spec.get("containers") or []) + sidecars


def per_namespace(objects: list[dict]) -> dict[str, Footprint]:
    result: dict[str, Footprint] = {}
    for obj in objects:
        kind, spec = obj["kind"], obj.get("spec") or {}
        namespace = (obj.get("metadata") or {}).get("namespace") or "(cluster)"
        fp = result.setdefault(namespace, Footprint())
        if kind in ("Deployment", "StatefulSet", "DaemonSet"):
            replicas = 1 if kind == "DaemonSet" else int(spec.get("replicas", 1))
            fp.add_containers(_pod_containers(spec["template"]["spec"]), replicas)
            for claim in spec.get("volumeClaimTemplates") or []:
                fp.storage += replicas * _q(claim["spec"]["resources"]["requests"]["storage"])
        elif kind == "PersistentVolumeClaim":
            fp.storage += _q(spec["resources"]["requests"]["storage"])
        elif kind == "Cluster" and obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            instances = int(spec.get("instances", 1))
            fp.add_containers([{"resources": spec.get("resources") or {}}], instances)
            for volume in ("storage", "walStorage"):
                if spec.get(volume):
                    fp.storage += instances * _q(spec[volume].get("size"))
        elif kind == "Pooler" and obj["apiVersion"].startswith("postgresql.cnpg.io/"):
            template = (spec.get("template") or {}).get("spec") or {}
            fp.add_containers(_pod_containers(template), int(spec.get("instances", 1)))
    return {ns: fp for ns, fp in sorted(result.items()) if fp.pods or fp.storage}


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
