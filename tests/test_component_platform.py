"""Namespaces and Access built alone, from hand-made arguments."""

from __future__ import annotations

from components.platform.access import Access, AccessArgs
from components.platform.namespaces import create_namespaces
from tests.components import build, settings_of


def test_namespaces_alone_create_storage_only_for_in_cluster_storage():
    names = settings_of("staging").namespaces
    for in_cluster in (True, False):
        render, created = build(
            lambda c=in_cluster: create_namespaces(names, istio_sidecars=False, in_cluster_storage=c, monitoring_enabled=True)
        )
        tiers = {n["metadata"]["labels"]["ams.suresoft.com/tier"] for n in render.of_kind("Namespace")}
        assert tiers == {"app", "data", "monitoring", *(["storage"] if in_cluster else [])}
        assert (created.storage is not None) is in_cluster
    render, _ = build(lambda: create_namespaces(names, istio_sidecars=True, in_cluster_storage=False, monitoring_enabled=False))
    app = next(n for n in render.of_kind("Namespace") if n["metadata"]["name"] == names.app)
    assert app["metadata"]["labels"]["istio-injection"] == "enabled"
    # Without monitoring, nothing in its namespace needs `privileged`.
    monitoring = next(n for n in render.of_kind("Namespace") if n["metadata"]["name"] == names.monitoring)
    assert monitoring["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_access_alone_binds_groups_and_sizes_each_namespace_it_is_given():
    access = settings_of("prod").access
    namespaces = {"app": "team", "data": "team-data", "monitoring": "team-monitoring"}
    render, _ = build(lambda: Access("a", AccessArgs(access=access, namespaces=namespaces)))
    assert {q["metadata"]["namespace"] for q in render.of_kind("ResourceQuota")} == set(namespaces.values())
    bindings = {(b["metadata"]["namespace"], b["roleRef"]["name"]) for b in render.of_kind("RoleBinding")}
    assert ("team", "edit") in bindings and ("team", "view") in bindings
    # At most view where privileged pods run under ServiceAccounts that read every Secret of the cluster.
    assert {role for namespace, role in bindings if namespace == "team-monitoring"} == {"view"}
