"""How long the first `pulumi up` waits, modeled on the program's dependency graph (resources.json).

    python -m tools.critical_path build/prod              # DIR/resources.json, or the file itself

Pulumi creates a resource as soon as everything it waits for has been created, and creates the rest in
parallel, so the first deploy lasts as long as the longest chain of waits through the graph: its critical
path. This module computes it from the records `python -m tools.render` writes to resources.json, with an
assumed await time per kind of resource (``AWAIT_SECONDS`` below).

What a resource waits for, and where the engine and the SDK say so:

- its ``dependencies``: the Python SDK registers a resource only once the URNs of its explicit
  ``depends_on`` and of the resources whose Outputs feed its inputs have resolved
  (pulumi/pulumi sdk/python/lib/pulumi/runtime/resource.py ``prepare_resource``, which awaits
  ``_resolve_depends_on_urns`` from sdk/python/lib/pulumi/runtime/_depends_on.py and ``_expand_dependencies``
  from sdk/python/lib/pulumi/runtime/rpc.py). ``_add_dependency`` there replaces a local component by its
  children, so a dependency on a component is already a list of real resources in the record: the model
  just follows the URNs listed.
- its ``provider``: ``_create_provider_ref`` (resource.py) awaits the provider's URN and ID.
- its ``parent``: ``prepare_resource`` awaits the parent's URN. A component takes no time and waits only for
  what its own record lists (nothing, usually), so a resource whose parent is a component waits for nothing
  more; a parent outside the records (the stack) is registered first and costs nothing.
- A URN resolves when the engine answers RegisterResource, and the engine answers only after the resource's
  step has completed (pulumi/pulumi pkg/resource/deploy/source_eval.go ``RegisterResource``: "block waiting
  for the operation to finish", ``step.done``); the step executor starts a step as soon as it arrives, since
  "Pulumi language hosts can only invoke the resource monitor once all of their dependencies have resolved"
  (pkg/resource/deploy/step_executor.go, ``stepExecutor``). So a resource's finish time is its own wait plus
  the latest finish among what it waits for, and the deploy ends at the largest finish time.

resources.json records registrations only: a read of an existing object (``Resource.get``) that a resource
depends on appears as a URN without a record; the model counts it as a read (``READ``) waiting for nothing.
Default providers (resources with ``provider: ""``) are not registered by the program and are not modeled.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

# Await times per kind of resource, in seconds: MODELED ASSUMPTIONS, not measurements (issue 20 part 9's
# "typical" figures for a healthy cluster pulling images from a nearby registry). What pulumi-kubernetes
# waits for: a Helm release until its resources are ready (unless `skipAwait`); a workload until its rollout
# is available; a Job until it succeeds; any other object (a custom resource included) only until the API
# server accepted it, unless its `pulumi.com/waitFor` annotation names a condition, and nothing at all with
# `pulumi.com/skipAwait: "true"` (pulumi-kubernetes provider/pkg/metadata/overrides.go `ReadyCondition`).
HELM_RELEASE = "Helm release"
KUBE_PROMETHEUS_STACK = "Helm release of kube-prometheus-stack"
CNPG_CLUSTER = "CloudNativePG Cluster"
CNPG_POOLER = "CloudNativePG Pooler"
GATEWAY_WAIT_FOR = "Gateway with pulumi.com/waitFor"
JOB = "Job"
WORKLOAD = "workload (Deployment, StatefulSet, DaemonSet)"
NOT_AWAITED = "not awaited (skipAwait)"
OTHER = "other"
PROVIDER = "provider"
READ = "read"
COMPONENT = "component"

AWAIT_SECONDS: dict[str, int] = {
    KUBE_PROMETHEUS_STACK: 180,  # CRDs, operator, Prometheus, Alertmanager, Grafana, admission Jobs
    CNPG_CLUSTER: 120,  # initdb and the replicas cloned from the primary, until condition Ready
    HELM_RELEASE: 90,
    JOB: 60,
    GATEWAY_WAIT_FOR: 60,  # until Programmed: the Envoy proxy is ready and its Service has an address
    WORKLOAD: 45,
    CNPG_POOLER: 30,
    NOT_AWAITED: 1,
    OTHER: 1,
    PROVIDER: 1,
    READ: 1,
    COMPONENT: 0,
}

WORKLOAD_TYPES = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet")
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


class CycleError(ValueError):
    """The records wait for each other in a circle: the SDK would hang or refuse, and no deploy finishes."""


@dataclass(frozen=True)
class Step:
    """One resource on the critical path: when it finishes, having waited ``seconds`` itself after what it
    waits for (``via``: how it waits for the previous step: dependency, provider or parent)."""

    urn: str
    name: str
    type: str
    category: str
    seconds: int
    finish: int
    via: str


def load(path: str | Path) -> list[dict]:
    """The records of a resources.json file (or of DIR/resources.json)."""
    path = Path(path)
    if path.is_dir():
        path = path / "resources.json"
    return json.loads(path.read_text())


def _annotations(record: dict) -> dict:
    metadata = record.get("inputs", {}).get("metadata")
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    return annotations if isinstance(annotations, dict) else {}


def category(record: dict) -> str:
    """Which entry of ``AWAIT_SECONDS`` a record's wait is."""
    type_ = record["type"]
    if not record.get("custom", True):
        return COMPONENT
    if record.get("read"):
        return READ
    if type_.startswith("pulumi:providers:"):
        return PROVIDER
    inputs = record.get("inputs", {})
    if type_ == HELM_RELEASE_TYPE:
        if inputs.get("skipAwait") is True:
            return NOT_AWAITED
        chart = str(inputs.get("chart", "")).rstrip("/").rsplit("/", 1)[-1]
        return KUBE_PROMETHEUS_STACK if chart == "kube-prometheus-stack" else HELM_RELEASE
    annotations = _annotations(record)
    if str(annotations.get("pulumi.com/skipAwait", "")).lower() == "true":
        return NOT_AWAITED
    if type_ == "kubernetes:postgresql.cnpg.io/v1:Cluster":
        return CNPG_CLUSTER
    if type_ == "kubernetes:postgresql.cnpg.io/v1:Pooler":
        return CNPG_POOLER
    if type_ == "kubernetes:gateway.networking.k8s.io/v1:Gateway" and annotations.get("pulumi.com/waitFor"):
        return GATEWAY_WAIT_FOR
    if type_ == "kubernetes:batch/v1:Job":
        return JOB
    if type_ in WORKLOAD_TYPES:
        return WORKLOAD
    return OTHER


def await_seconds(record: dict) -> int:
    """How long the engine waits for this resource itself, once what it waits for is done (modeled)."""
    return AWAIT_SECONDS[category(record)]


def _read_record(urn: str) -> dict:
    """A URN without a record: a read (``Resource.get``), named and typed from its URN."""
    parts = urn.split("::", 3)  # urn:pulumi:STACK::PROJECT::PARENT-TYPES$TYPE::NAME
    qualified_type, name = (parts[2], parts[3]) if len(parts) == 4 else ("", urn)
    return {"type": qualified_type.rsplit("$", 1)[-1], "name": name, "urn": urn, "custom": True, "read": True}


def _graph(records: list[dict]) -> tuple[dict[str, dict], dict[str, list[tuple[str, str]]]]:
    """The records by URN (reads added) and, per URN, what it waits for as (URN, how) pairs."""
    by_urn = {record["urn"]: record for record in records}
    for record in records:
        for urn in [*record.get("dependencies", []), record.get("provider") or ""]:
            if urn and urn not in by_urn:
                by_urn[urn] = _read_record(urn)
    waits: dict[str, list[tuple[str, str]]] = {}
    for urn, record in by_urn.items():
        edges = [(dep, "dependency") for dep in record.get("dependencies", [])]
        if record.get("provider"):
            edges.append((record["provider"], "provider"))
        if record.get("parent") in by_urn:
            edges.append((record["parent"], "parent"))
        waits[urn] = edges
    return by_urn, waits


def _finish_times(by_urn: dict[str, dict], waits: dict[str, list[tuple[str, str]]]) -> dict[str, int]:
    """Each resource's modeled finish time; raises CycleError naming the resources of a cycle."""
    finish: dict[str, int] = {}
    visiting: list[str] = []
    on_stack: set[str] = set()

    def cycle_error(urn: str) -> CycleError:
        loop = [*visiting[visiting.index(urn) :], urn]
        names = " -> ".join(by_urn[u]["name"] for u in loop)
        return CycleError(f"dependency cycle: {names} ({' -> '.join(loop)})")

    for start in sorted(by_urn):
        if start in finish:
            continue
        # Iterative depth-first walk: deep graphs must not hit the recursion limit.
        stack: list[tuple[str, int]] = [(start, 0)]
        visiting.append(start)
        on_stack.add(start)
        while stack:
            urn, index = stack[-1]
            edges = waits[urn]
            if index < len(edges):
                stack[-1] = (urn, index + 1)
                need = edges[index][0]
                if need in on_stack:
                    raise cycle_error(need)
                if need not in finish:
                    stack.append((need, 0))
                    visiting.append(need)
                    on_stack.add(need)
                continue
            stack.pop()
            visiting.pop()
            on_stack.discard(urn)
            finish[urn] = await_seconds(by_urn[urn]) + max((finish[need] for need, _ in edges), default=0)
    return finish


def critical_steps(records: list[dict]) -> list[Step]:
    """The longest chain of waits, first resource first; each step waits for the one before it."""
    by_urn, waits = _graph(records)
    if not by_urn:
        return []
    finish = _finish_times(by_urn, waits)
    # The last to finish; ties broken by URN so the chain is the same on every run.
    urn = min(finish, key=lambda u: (-finish[u], u))
    chain: list[Step] = []
    while True:
        record = by_urn[urn]
        edges = waits[urn]
        best = min(edges, key=lambda edge: (-finish[edge[0]], edge[0]), default=None)
        if best is not None and finish[best[0]] == 0:
            best = None  # what it waits for is done at once: the chain starts here
        via = best[1] if best else ""
        chain.append(Step(urn, record["name"], record["type"], category(record), await_seconds(record), finish[urn], via))
        if best is None:
            return chain[::-1]
        urn = best[0]


def critical_path(records: list[dict]) -> tuple[int, list[str]]:
    """The first deploy's modeled duration in seconds and the names of the resources along its critical path."""
    steps = critical_steps(records)
    return (steps[-1].finish if steps else 0), [step.name for step in steps]


def serial_seconds(records: list[dict]) -> int:
    """The sum of every wait: how long the first deploy would take if nothing ran in parallel."""
    by_urn, _ = _graph(records)
    return sum(await_seconds(record) for record in by_urn.values())


def describe(steps: list[Step]) -> list[str]:
    """The critical path as lines: finish time, own wait, what it is, and how it waits for the previous step."""
    lines = []
    for step in steps:
        kind = step.type.rsplit(":", 1)[-1]
        how = f"  (after the previous: {step.via})" if step.via else ""
        lines.append(f"{step.finish:>6} s  +{step.seconds:<4} {step.name} [{kind}; {step.category}]{how}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a render directory (with resources.json) or a resources.json file")
    args = parser.parse_args(argv)
    records = load(args.path)
    try:
        steps = critical_steps(records)
    except CycleError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    total = steps[-1].finish if steps else 0
    print(f"critical path: {total} s ({total / 60:.1f} min); serial: {serial_seconds(records)} s (modeled, not measured)")
    print("\n".join(describe(steps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
