"""tools/critical_path.py: the first deploy's modeled wait on the dependency graph.

Hand-made graphs with figures worked out by hand, then the real prod render: its critical path must be a real
chain of waits. The figure itself is reported, not asserted: timing targets belong to scripts/benchmark.py.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from tests.conftest import render_stack
from tools import critical_path as cp
from tools.render import resource_records

STACK = "urn:pulumi:test::ams::pulumi:pulumi:Stack::ams-test"


def record(name: str, type_: str, *, deps=(), provider="", parent=STACK, custom=True, **inputs) -> dict:
    return {
        "type": type_,
        "name": name,
        "urn": urn(name, type_),
        "parent": parent,
        "custom": custom,
        "dependencies": list(deps),
        "provider": provider,
        "inputs": inputs,
    }


def urn(name: str, type_: str) -> str:
    return f"urn:pulumi:test::ams::{type_}::{name}"


NAMESPACE = "kubernetes:core/v1:Namespace"
CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
RELEASE = "kubernetes:helm.sh/v3:Release"
PROVIDER = "pulumi:providers:kubernetes"
COMPONENT = "ams:index:Tier"


def test_the_table_gives_each_kind_its_modeled_wait():
    gateway = "kubernetes:gateway.networking.k8s.io/v1:Gateway"
    waits = {
        "release": (record("r", RELEASE, chart="cert-manager"), 90),
        "kube-prometheus-stack": (record("kps", RELEASE, chart="kube-prometheus-stack"), 180),
        "kube-prometheus-stack from an OCI reference": (record("k", RELEASE, chart="oci://x/kube-prometheus-stack"), 180),
        "release not awaited": (record("s", RELEASE, chart="loki", skipAwait=True), 1),
        "CloudNativePG Cluster": (record("db", "kubernetes:postgresql.cnpg.io/v1:Cluster"), 120),
        "Pooler": (record("pooler", "kubernetes:postgresql.cnpg.io/v1:Pooler"), 30),
        "Job": (record("job", JOB), 60),
        "Deployment": (record("d", DEPLOYMENT), 45),
        "StatefulSet": (record("s", "kubernetes:apps/v1:StatefulSet"), 45),
        "DaemonSet": (record("ds", "kubernetes:apps/v1:DaemonSet"), 45),
        "Deployment with skipAwait": (
            record("d", DEPLOYMENT, metadata={"annotations": {"pulumi.com/skipAwait": "true"}}),
            1,
        ),
        "Gateway with waitFor": (
            record("g", gateway, metadata={"annotations": {"pulumi.com/waitFor": "condition=Programmed"}}),
            60,
        ),
        "Gateway without waitFor": (record("g", gateway, metadata={"name": "g"}), 1),
        "ConfigMap": (record("cm", CONFIG_MAP), 1),
        "provider": (record("p", PROVIDER), 1),
        "component": (record("c", COMPONENT, custom=False), 0),
    }
    assert {what: cp.await_seconds(r) for what, (r, _) in waits.items()} == {what: s for what, (_, s) in waits.items()}


def test_a_chain_takes_the_sum_of_its_waits():
    ns = record("ns", NAMESPACE)
    app = record("app", DEPLOYMENT, deps=[ns["urn"]])
    job = record("job", JOB, deps=[app["urn"]])
    records = [job, app, ns]  # the order of the records does not matter
    assert cp.critical_path(records) == (1 + 45 + 60, ["ns", "app", "job"])
    assert cp.serial_seconds(records) == 106


def test_a_diamond_takes_its_longer_side():
    top = record("top", NAMESPACE)
    left = record("left", RELEASE, deps=[top["urn"]], chart="cert-manager")
    right = record("right", JOB, deps=[top["urn"]])
    bottom = record("bottom", DEPLOYMENT, deps=[left["urn"], right["urn"]])
    records = [top, left, right, bottom]
    assert cp.critical_path(records) == (1 + 90 + 45, ["top", "left", "bottom"])
    assert cp.serial_seconds(records) == 1 + 90 + 60 + 45
    steps = cp.critical_steps(records)
    assert [(s.finish, s.seconds, s.via) for s in steps] == [(1, 1, ""), (91, 90, "dependency"), (136, 45, "dependency")]


def test_a_resource_waits_for_its_provider_and_the_provider_for_its_dependencies():
    release = record("crds", RELEASE, chart="gateway-helm")
    provider = record("cluster", PROVIDER, deps=[release["urn"]])
    app = record("app", DEPLOYMENT, provider=provider["urn"])
    records = [release, provider, app]
    assert cp.critical_path(records) == (90 + 1 + 45, ["crds", "cluster", "app"])
    assert [s.via for s in cp.critical_steps(records)] == ["", "dependency", "provider"]


def test_a_urn_without_a_record_is_a_read():
    # resources.json records registrations only; a provider configured from a read (Resource.get) depends on its URN.
    read = "urn:pulumi:test::ams::ams:index:Cluster$kubernetes:core/v1:Namespace::kube-system"
    provider = record("cluster", PROVIDER, deps=[read])
    job = record("job", JOB, provider=provider["urn"])
    assert cp.critical_path([provider, job]) == (1 + 1 + 60, ["kube-system", "cluster", "job"])
    assert cp.serial_seconds([provider, job]) == 62


def test_a_component_takes_nothing_and_its_children_wait_only_for_what_it_waits_for():
    tier = record("tier", COMPONENT, custom=False)
    child = record("child", DEPLOYMENT, parent=tier["urn"])
    # A dependency on a component reaches the engine as its children (the SDK's _expand_dependencies).
    after = record("after", JOB, deps=[child["urn"]])
    assert cp.critical_path([tier, child, after]) == (45 + 60, ["child", "after"])
    # A component given depends_on registers after it, and its children after the component.
    migrate = record("migrate", JOB)
    gated = record("gated", COMPONENT, custom=False, deps=[migrate["urn"]])
    app = record("app", DEPLOYMENT, parent=gated["urn"])
    total, names = cp.critical_path([migrate, gated, app])
    assert (total, names) == (60 + 0 + 45, ["migrate", "gated", "app"])
    assert cp.serial_seconds([tier, child, after, migrate, gated, app]) == 45 + 60 + 60 + 45


def test_a_cycle_is_refused_naming_its_resources():
    a_urn, b_urn, c_urn = urn("a", CONFIG_MAP), urn("b", JOB), urn("c", DEPLOYMENT)
    records = [
        record("a", CONFIG_MAP, deps=[c_urn]),
        record("b", JOB, deps=[a_urn]),
        record("c", DEPLOYMENT, deps=[b_urn]),
        record("d", DEPLOYMENT, deps=[a_urn]),
    ]
    with pytest.raises(cp.CycleError, match=r"dependency cycle: (a -> c -> b -> a|b -> a -> c -> b|c -> b -> a -> c)"):
        cp.critical_path(records)
    with pytest.raises(cp.CycleError, match="dependency cycle: self -> self"):
        cp.critical_path([record("self", JOB, deps=[urn("self", JOB)])])


def test_an_empty_graph_waits_for_nothing():
    assert cp.critical_path([]) == (0, [])
    assert cp.serial_seconds([]) == 0


def test_load_reads_a_render_directory_or_the_file(tmp_path):
    records = [record("ns", NAMESPACE)]
    (tmp_path / "resources.json").write_text(json.dumps(records))
    assert cp.load(tmp_path) == records
    assert cp.load(tmp_path / "resources.json") == records


@cache
def prod_records() -> list[dict]:
    return resource_records(render_stack("prod"))


def test_the_prod_critical_path_is_a_chain_of_real_waits():
    records = prod_records()
    by_urn = {r["urn"]: r for r in records}
    steps = cp.critical_steps(records)
    total, names = cp.critical_path(records)
    figure = f"prod's modeled first deploy: {total} s ({total / 60:.1f} min) of {cp.serial_seconds(records)} s serial: " + (
        " -> ".join(names)
    )
    assert steps and names == [s.name for s in steps] and total == steps[-1].finish, figure
    first = steps[0]
    assert first.finish == first.seconds, f"the chain starts with a resource that waits for nothing: {figure}"
    for previous, step in zip(steps, steps[1:], strict=False):
        waiting = by_urn.get(step.urn)
        assert waiting is not None, f"{step.name} is on the path but not a registered resource: {figure}"
        waits_for = {*waiting["dependencies"], waiting["provider"], waiting["parent"]} - {""}
        assert previous.urn in waits_for, f"{step.name} does not wait for {previous.name}: {figure}"
        assert step.finish == previous.finish + step.seconds == previous.finish + cp.await_seconds(waiting), figure
    assert total <= cp.serial_seconds(records), figure


def test_the_prod_critical_path_is_the_longest_one():
    """An independent longest-path computation (memoized recursion over every resource) finds the same length."""
    records = prod_records()
    by_urn = {r["urn"]: r for r in records}

    @cache
    def finish(urn_: str) -> int:
        r = by_urn.get(urn_)
        if r is None:  # a read
            return cp.AWAIT_SECONDS[cp.READ]
        needs = {*r["dependencies"], r["provider"]} - {""}
        if r["parent"] in by_urn:
            needs.add(r["parent"])
        return cp.await_seconds(r) + max((finish(n) for n in needs), default=0)

    total, names = cp.critical_path(records)
    assert total == max(finish(u) for u in by_urn), f"prod's modeled first deploy: {total} s: {' -> '.join(names)}"
