"""What the cluster does with the render: traffic shares, single-instance databases, chart rules, scraping.

Each test reads the render as the cluster would and fails on the defect it names.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from components.monitoring.tier import RULES_FILE
from tests.conftest import INGRESS_MODE, render_stack, stack_config, with_overrides
from tests.test_conformance import data_dir
from tools import runner

EXTERNAL_SECRETS = {
    "ams:secrets.mode": "externalSecrets",
    "ams:secrets.installOperator": True,
    "ams:secrets.vault": {"server": "https://vault.suresoft.com", "path": "secret", "role": "ams"},
}
CANARY = {
    "ams:delivery.strategy": "canary",
    "ams:delivery.canary": {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"},
    "ams:delivery.canaryWeight": 10,
}


def merged(defaults, overrides):
    """Helm's value merge: maps merge key by key, anything else replaces."""
    if isinstance(defaults, dict) and isinstance(overrides, dict):
        return {k: merged(defaults.get(k), overrides[k]) if k in overrides else v for k, v in defaults.items()} | {
            k: v for k, v in overrides.items() if k not in defaults
        }
    return copy.deepcopy(overrides)


def release(render: runner.Render, chart: str) -> dict:
    return next(r.inputs for r in render.by_type("kubernetes:helm.sh/v3:Release") if r.inputs["chart"].endswith(chart))


def test_canary_in_ingress_mode_sends_the_configured_share():
    """The main Ingress must reach only the stable track; the canary Ingress takes `canaryWeight` percent.

    Routing the main Ingress to the plain Services (which select both tracks) gave the canary its pod share
    of the remaining traffic too: at weight 10 with 3 stable and 1 canary pods, about 32 % instead of 10 %.
    """
    render = runner.run("staging", with_overrides(stack_config("staging"), {**CANARY, **INGRESS_MODE}))
    services = {s["metadata"]["name"]: s["spec"]["selector"] for s in render.of_kind("Service")}
    main = render.get("Ingress", "ams-ingress")
    canary = render.get("Ingress", "ams-ingress-canary")
    for path in main["spec"]["rules"][0]["http"]["paths"]:
        selector = services[path["backend"]["service"]["name"]]
        assert selector.get("ams.suresoft.com/track") == "stable", path
    for path in canary["spec"]["rules"][0]["http"]["paths"]:
        assert services[path["backend"]["service"]["name"]]["ams.suresoft.com/track"] == "canary", path
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "10"


@pytest.mark.parametrize("stack, instances, read_service, pdb", [("dev", 1, "ams-db-rw", False), ("prod", 3, "ams-db-ro", True)])
def test_read_url_and_pdb_follow_the_instance_count(stack, instances, read_service, pdb):
    """CloudNativePG's -ro Service selects replicas only, and its primary PDB (minAvailable 1) blocks every
    drain of a one-instance cluster; the ExternalSecret template shows the host the app reads from."""
    render = runner.run(stack, with_overrides(stack_config(stack), EXTERNAL_SECRETS))
    cluster = render.get("Cluster", "ams-db")
    assert cluster["spec"]["instances"] == instances
    assert cluster["spec"]["enablePDB"] is pdb
    template = render.get("ExternalSecret", "ams-connection")["spec"]["target"]["template"]["data"]
    assert f"@{read_service}." in template["database-read-url"]


def test_every_alert_reads_metrics_something_scrapes():
    """CertificateExpiringSoon reads cert-manager's metrics: the chart opens the controller's `http-metrics` port
    (deploy/charts/cert-manager templates/deployment.yaml, with prometheus.enabled) and the program's PodMonitor
    scrapes it (not the chart's ServiceMonitor, which would make the release wait for monitoring's CRDs)."""
    assert "certmanager_certificate_expiration_timestamp_seconds" in RULES_FILE.read_text()
    for stack in ("staging", "prod"):
        rendered = render_stack(stack)
        values = release(rendered, "cert-manager")["values"]
        assert values["prometheus"] == {"enabled": True, "servicemonitor": {"enabled": False}}, stack
        monitor = next(m for m in rendered.of_kind("PodMonitor") if m["metadata"]["namespace"] == "cert-manager")
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "controller"
        assert monitor["spec"]["podMetricsEndpoints"] == [{"port": "http-metrics"}]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_loki_values_pass_the_charts_own_validation(stack):
    """grafana-community/helm-charts charts/loki/templates/validate.yaml (loki-18.11.0): with filesystem storage,
    at most one single-binary replica and no read/write/backend replica; the defaults (3 each) fail install."""
    chart = yaml.safe_load((data_dir() / "charts" / "loki" / "values.yaml").read_text())
    values = merged(chart, release(render_stack(stack), "loki")["values"])
    assert values["loki"]["storage"]["type"] == "filesystem"
    assert values["singleBinary"]["replicas"] == 1
    assert all(values[target]["replicas"] == 0 for target in ("read", "write", "backend"))
    assert values["deploymentMode"] in ("Monolithic", "SingleBinary")


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_monitoring_chart_pods_are_sized(stack):
    """Without resources the namespace LimitRange's defaults apply: 512Mi for a Loki holding weeks of logs."""
    loki = release(render_stack(stack), "loki")["values"]
    kps = release(render_stack(stack), "kube-prometheus-stack")["values"]
    for resources in (
        loki["singleBinary"]["resources"],
        loki["lokiCanary"]["resources"],
        kps["prometheus-node-exporter"]["resources"],
    ):
        assert set(resources) == {"requests", "limits"} and resources["requests"]["memory"], resources
    prod = release(render_stack("prod"), "loki")["values"]["singleBinary"]["resources"]
    assert prod["limits"]["memory"] == "4Gi"


# Nodes the monitoring quota is sized for (docs/secrets-and-access.md, "Access per environment").
DOCUMENTED_NODES = {"staging": 4, "prod": 10}
# Containers of the monitoring charts' pods that set no resources, so the LimitRange's defaults apply:
# the Prometheus and Alertmanager config reloaders (kube-prometheus-stack values: resources {}), Alertmanager,
# Grafana and its two sidecars, the operator, kube-state-metrics, Loki's rules sidecar, the admission Job;
# plus one surge pod of each Deployment (Grafana 3 containers, operator, kube-state-metrics) during a rollout.
DEFAULTED_CONTAINERS = 1 + 2 + 3 + 1 + 1 + 1 + 1 + (3 + 1 + 1)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_monitoring_quota_holds_its_pods_on_the_documented_cluster(stack):
    from components.validation import parse_quantity

    render = render_stack(stack)
    namespace = render.outputs["namespaces"]["monitoring"]
    hard = next(q for q in render.of_kind("ResourceQuota") if q["metadata"]["namespace"] == namespace)["spec"]["hard"]
    defaults = next(lr for lr in render.of_kind("LimitRange") if lr["metadata"]["namespace"] == namespace)["spec"]["limits"][0]
    page = (Path(__file__).parent.parent / "docs" / "secrets-and-access.md").read_text()
    nodes = DOCUMENTED_NODES[stack]
    assert f"up to {nodes} nodes in {stack}" in page

    kps, loki = release(render, "kube-prometheus-stack")["values"], release(render, "loki")["values"]
    shipper = render.get("DaemonSet", "ams-log-shipper")["spec"]["template"]["spec"]["containers"][0]["resources"]
    singles = [kps["prometheus"]["prometheusSpec"]["resources"], loki["singleBinary"]["resources"]]
    per_node = [loki["lokiCanary"]["resources"], kps["prometheus-node-exporter"]["resources"], shipper]
    for kind, default in (("requests", defaults["defaultRequest"]), ("limits", defaults["default"])):
        for resource in ("cpu", "memory"):
            total = DEFAULTED_CONTAINERS * parse_quantity(default[resource])
            total += sum(parse_quantity(r[kind][resource]) for r in singles)
            total += nodes * sum(parse_quantity(r[kind][resource]) for r in per_node)
            assert total <= parse_quantity(hard[f"{kind}.{resource}"]), (stack, kind, resource, total)


# What a second stack on the same cluster turns off (docs/several-stacks.md).
GUEST = {
    "ams:ingress.installCertManager": False,
    "ams:ingress.createIssuers": False,
    "ams:ingress.installController": False,
    "ams:data.operators.installCnpg": False,
    "ams:data.operators.installBarmanPlugin": False,
    "ams:monitoring.enabled": False,
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "GatewayClass", "CustomResourceDefinition"}


def claims(render: runner.Render) -> set[tuple]:
    """What one stack takes in a cluster: object names, Helm release names, host ports."""
    taken = set()
    for obj in render.objects:
        meta = obj["metadata"]
        taken.add((obj["kind"], None if obj["kind"] in CLUSTER_SCOPED else meta.get("namespace"), meta["name"]))
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            taken |= {("hostPort", p["hostPort"]) for p in container.get("ports", []) if "hostPort" in p}
        taken |= {
            ("hostPath", v["hostPath"]["path"])
            for v in pod.get("volumes", [])
            if "hostPath" in v and v["hostPath"]["type"] != "Directory"
        }
    for release in render.by_type("kubernetes:helm.sh/v3:Release"):
        taken.add(("Release", release.inputs["namespace"], release.inputs["name"]))
    return taken


def test_a_guest_stack_shares_a_cluster_without_collisions():
    """The operators, ClusterIssuers and kube-prometheus-stack are installed once per cluster, by one stack."""
    owner = render_stack("staging")
    for stack in ("dev", "prod"):
        guest = runner.run(stack, with_overrides(stack_config(stack), GUEST))
        assert claims(owner) & claims(guest) == set(), stack
    # Without the guest settings they collide, which is why docs/several-stacks.md asks for them.
    assert claims(owner) & claims(render_stack("prod"))
