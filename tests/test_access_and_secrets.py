"""Access per environment (RBAC, quotas, limit ranges) and the two secrets modes."""

from __future__ import annotations

import os
from decimal import Decimal

import pytest

from components.settings import SettingsError
from components.validation import parse_quantity
from tests.conftest import STACKS, render_stack, stack_config, with_overrides
from tools import helm, runner
from tools import render as render_cli

EXPECTED_BINDINGS = {
    "dev": {("ams-developers", "edit")},
    "staging": {("ams-qa", "view"), ("ams-operations", "edit")},
    "prod": {("ams-operations", "edit"), ("ams-developers", "view")},
}
VAULT = {"server": "https://vault.suresoft.com", "path": "secret", "role": "ams"}


@pytest.mark.parametrize("stack", STACKS)
def test_groups_are_bound_per_environment_in_every_namespace(stack):
    rendered = render_stack(stack)
    for namespace in rendered.outputs["namespaces"].values():
        bindings = {
            (b["subjects"][0]["name"], b["roleRef"]["name"])
            for b in rendered.of_kind("RoleBinding")
            if b["metadata"]["namespace"] == namespace and b["roleRef"]["kind"] == "ClusterRole"
        }
        # The monitoring namespace runs privileged pods under ServiceAccounts that read every Secret: view at most.
        expected = EXPECTED_BINDINGS[stack]
        if namespace == rendered.outputs["namespaces"]["monitoring"]:
            expected = {(group, "view") for group, _role in expected}
        assert bindings == expected, namespace
    for binding in rendered.of_kind("RoleBinding"):
        assert binding["subjects"][0]["kind"] == "Group"
        # The one Role the groups get: port-forwarding to the three monitoring pods (the test below).
        assert binding["roleRef"]["kind"] == "ClusterRole" or binding["roleRef"]["name"] == "ams-observe"


def footprint_at_max(rendered, namespace: str) -> tuple[Decimal, Decimal]:
    """CPU and memory requests with every HPA at its maximum, plus a rollout's 25 % surge."""
    maxima = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"] for h in rendered.of_kind("HorizontalPodAutoscaler")}
    cpu = memory = Decimal(0)
    for kind in ("Deployment", "StatefulSet"):
        for workload in rendered.of_kind(kind):
            if workload["metadata"]["namespace"] != namespace:
                continue
            replicas = maxima.get(workload["metadata"]["name"], workload["spec"].get("replicas", 1))
            replicas = Decimal(replicas) * Decimal("1.25")
            for container in workload["spec"]["template"]["spec"]["containers"]:
                cpu += replicas * parse_quantity(container["resources"]["requests"]["cpu"])
                memory += replicas * parse_quantity(container["resources"]["requests"]["memory"])
    for cluster in rendered.of_kind("Cluster"):
        if cluster["metadata"]["namespace"] == namespace:
            cpu += cluster["spec"]["instances"] * parse_quantity(cluster["spec"]["resources"]["requests"]["cpu"])
            memory += cluster["spec"]["instances"] * parse_quantity(cluster["spec"]["resources"]["requests"]["memory"])
    return cpu, memory


@pytest.mark.parametrize("stack", STACKS)
def test_quotas_leave_room_for_full_autoscaling(stack):
    rendered = render_stack(stack)
    namespaces = rendered.outputs["namespaces"]
    quotas = {q["metadata"]["namespace"]: q["spec"]["hard"] for q in rendered.of_kind("ResourceQuota")}
    limits = {lr["metadata"]["namespace"]: lr["spec"]["limits"][0] for lr in rendered.of_kind("LimitRange")}
    # The tiers' namespaces, and each operator's (ams:access.quotas.operators).
    operators = {
        ns["metadata"]["name"]
        for ns in rendered.of_kind("Namespace")
        if ns["metadata"]["labels"]["ams.suresoft.com/tier"] == "operators"
    }
    assert set(quotas) == set(limits) == set(namespaces.values()) | operators
    for tier in ("app", "data"):
        cpu, memory = footprint_at_max(rendered, namespaces[tier])
        hard = quotas[namespaces[tier]]
        assert parse_quantity(hard["requests.cpu"]) >= cpu, (tier, cpu)
        assert parse_quantity(hard["requests.memory"]) >= memory, (tier, memory)
    for limit in limits.values():
        assert limit["type"] == "Container" and {"cpu", "memory"} <= set(limit["defaultRequest"])


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"ams:access.bindings": {"developers": "owner"}}, "ams:access.bindings.developers"),
        ({"ams:access.bindings": {"auditors": "view"}}, "ams:access.bindings.auditors"),
        ({"ams:access.quotas.app.hard": {"requests.cpu": "lots"}}, "ams:access.quotas.app.hard.requests.cpu"),
        ({"ams:access.quotas.data.hard.services": "5"}, "ams:access.quotas.data.hard.services"),
        ({"ams:secrets.mode": "sealed"}, "ams:secrets.mode"),
        (
            {"ams:secrets.mode": "externalSecrets", "ams:secrets.vault": {"server": "http://vault", "path": "s", "role": "r"}},
            "ams:secrets.vault.server",
        ),
        ({"ams:secrets.mode": "externalSecrets"}, "ams:secrets.vault.server"),
    ],
)
def test_bad_access_and_secrets_settings_are_refused(overrides, path):
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), overrides))
    assert path in [p.split(": ", 1)[0] for p in raised.value.problems]


def external(stack: str, **extra) -> runner.Render:
    overrides = {"ams:secrets.mode": "externalSecrets", "ams:secrets.vault": VAULT, **extra}
    return runner.run(stack, with_overrides(stack_config(stack), overrides))


@pytest.mark.parametrize("stack", STACKS)
def test_external_secrets_produce_the_same_secrets(stack):
    generated = {
        (s["metadata"]["namespace"], s["metadata"]["name"]): set(s["stringData"])
        for s in render_stack(stack).of_kind("Secret")
        if s["metadata"]["namespace"] != render_stack(stack).outputs["namespaces"]["monitoring"]
    }
    rendered = external(stack)
    produced = {
        (e["metadata"]["namespace"], e["spec"]["target"]["name"]): set(e["spec"]["target"]["template"]["data"])
        for e in rendered.of_kind("ExternalSecret")
    }
    assert produced == generated
    assert {(ns, name) for ns, name in generated} & {
        (s["metadata"]["namespace"], s["metadata"]["name"]) for s in rendered.of_kind("Secret")
    } == set()
    app_data = [r for r in rendered.resources if r.type.startswith("random:") and "monitoring" not in r.parent]
    assert app_data == [], "with External Secrets, Vault holds every app and data credential"


def test_external_secrets_read_the_seed_keys_from_vault():
    rendered = external("prod")
    prefix = "ams/production/"
    jwt = rendered.get("ExternalSecret", "ams-jwt")["spec"]
    assert {d["remoteRef"]["key"] for d in jwt["data"]} == {prefix + "jwt-access-secret", prefix + "jwt-refresh-secret"}
    connection = rendered.get("ExternalSecret", "ams-connection")["spec"]
    templates = connection["target"]["template"]["data"]
    assert templates["database-url"].startswith("postgresql://ams:{{ .databasePassword }}@ams-db-pooler-rw.")
    assert templates["redis-url"].startswith("redis://:{{ .redisPassword }}@ams-redis.")
    assert {d["remoteRef"]["key"] for d in connection["data"]} == {prefix + "database-password", prefix + "redis-password"}
    for store in rendered.of_kind("SecretStore"):
        vault = store["spec"]["provider"]["vault"]
        assert (vault["server"], vault["path"], vault["auth"]["kubernetes"]["role"]) == (VAULT["server"], "secret", "ams")
    assert {s["metadata"]["namespace"] for s in rendered.of_kind("SecretStore")} == {"ams", "ams-data"}
    assert rendered.of_kind("ExternalSecret")[0]["apiVersion"] == "external-secrets.io/v1"


def test_external_secrets_operator_install_is_optional():
    assert "external-secrets" not in {r.inputs["chart"] for r in external("prod").by_type("kubernetes:helm.sh/v3:Release")}
    installed = external("prod", **{"ams:secrets.installOperator": True})
    assert "external-secrets" in {r.inputs["chart"] for r in installed.by_type("kubernetes:helm.sh/v3:Release")}


def test_the_bound_groups_reach_the_operators_kinds_through_aggregated_roles():
    """`view`/`edit` cover a CRD's kinds only through ClusterRoles that aggregate to them. CloudNativePG's chart and
    kube-prometheus-stack create theirs aggregated only when asked (cloudnative-pg charts templates/rbac.yaml;
    kube-prometheus-stack global.rbac.createAggregateClusterRoles); the Barman plugin's chart has none, so the
    program adds them for ObjectStores. Without them operations could not run the restore runbook."""
    prod = render_stack("prod")
    charts = {r.inputs["chart"]: r.inputs["values"] for r in prod.by_type("kubernetes:helm.sh/v3:Release")}
    assert charts["cloudnative-pg"]["rbac"] == {"aggregateClusterRoles": True}
    assert charts["kube-prometheus-stack"]["global"]["rbac"] == {"createAggregateClusterRoles": True}
    roles = {r["metadata"]["name"]: r for r in prod.of_kind("ClusterRole") if "barmancloud" in r["metadata"]["name"]}
    aggregated = {
        name: {k.rsplit("-", 1)[1] for k in role["metadata"]["labels"] if k.startswith("rbac.authorization.k8s.io/aggregate-to")}
        for name, role in roles.items()
    }
    assert aggregated == {
        "ams-barmancloud-objectstores-view": {"view", "edit", "admin"},
        "ams-barmancloud-objectstores-edit": {"edit", "admin"},
    }
    assert all(r["rules"][0]["resources"] == ["objectstores"] for r in roles.values())


def test_uninstalling_external_secrets_keeps_its_crds_and_so_every_secret_it_owns():
    """The chart templates its CRDs; without Helm's keep policy an uninstall deletes them, every ExternalSecret on
    the cluster, and (ownerReferences, creationPolicy Owner) the Secrets they made."""
    rendered = runner.run("prod", with_overrides(stack_config("prod"), {"ams:secrets.mode": "externalSecrets",
        "ams:secrets.installOperator": True, "ams:secrets.vault": VAULT}))  # fmt: skip
    (eso,) = [r.inputs for r in rendered.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "external-secrets"]
    assert eso["values"]["installCRDs"] is True
    assert eso["values"]["crds"]["annotations"] == {"helm.sh/resource-policy": "keep"}


def test_operations_reach_prometheus_alertmanager_and_grafana_by_port_forward_alone():
    """`view` (all the monitoring namespace grants) cannot port-forward; a Role grants `pods/portforward` on exactly the
    three pods, whose names their StatefulSets keep fixed (prometheus-operator pkg/prometheus/server/statefulset.go,
    pkg/alertmanager/statefulset.go: `<kind>-<name>-<ordinal>`; Grafana's chart with `useStatefulSet`)."""
    pods = ["prometheus-kps-prometheus-0", "alertmanager-kps-alertmanager-0", "kube-prometheus-stack-grafana-0"]
    for stack, group in (("staging", "ams-operations"), ("prod", "ams-operations")):
        rendered = render_stack(stack)
        role = rendered.get("Role", "ams-observe")
        assert role["metadata"]["namespace"] == rendered.outputs["namespaces"]["monitoring"]
        assert role["rules"] == [
            {"apiGroups": [""], "resources": ["pods"], "resourceNames": pods, "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/portforward"], "resourceNames": pods, "verbs": ["create"]},
        ]
        binding = rendered.get("RoleBinding", "ams-observe")
        assert binding["subjects"] == [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group}]
        grafana = next(
            r.inputs for r in rendered.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "kube-prometheus-stack"
        )
        assert grafana["values"]["grafana"]["useStatefulSet"] is True
        assert grafana["values"]["grafana"]["grafana.ini"]["auth.anonymous"] == {"enabled": True, "org_role": "Viewer"}
    assert [r for r in render_stack("dev").of_kind("Role") if r["metadata"]["name"] == "ams-observe"] == []


def test_the_observed_pods_are_the_ones_the_charts_make():
    """The Role's pod names against what helm renders: Grafana a StatefulSet, Prometheus and Alertmanager custom
    resources whose operator names their pods `<kind>-<name>-0`."""
    records = render_cli.resource_records(render_stack("prod"))
    binary = helm.find_helm()
    if binary is None and os.environ.get("CI"):
        pytest.fail("helm is not installed; .ci/run installs it (scripts/setup.sh)")
    if binary is None:
        pytest.skip("helm is not installed here (scripts/setup.sh installs it)")
    (release,) = [r for r in helm.releases(records) if r.chart_dir_name == "kube-prometheus-stack"]
    pods = helm.pod_specs(helm.render_release(release, helm.api_versions(records), helm=binary))
    made = {f"{pod.kind.lower()}-{pod.name}-0" if pod.kind in ("Prometheus", "Alertmanager") else f"{pod.name}-0"
            for pod in pods if pod.kind in ("Prometheus", "Alertmanager", "StatefulSet")}  # fmt: skip
    assert {"prometheus-kps-prometheus-0", "alertmanager-kps-alertmanager-0", "kube-prometheus-stack-grafana-0"} <= made
