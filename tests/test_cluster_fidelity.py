"""What the cluster does with the render: traffic shares, single-instance databases, chart rules, scraping.

Each test reads the render as the cluster would and fails on the defect it names.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from components.monitoring_tier import RULES_FILE
from tests.conftest import render_stack, stack_config, with_overrides
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
    render = runner.run("staging", with_overrides(stack_config("staging"), CANARY))
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
    """CertificateExpiringSoon reads cert-manager's metrics: the chart must create its ServiceMonitor."""
    rules = RULES_FILE.read_text()
    for stack in ("staging", "prod"):
        values = release(render_stack(stack), "cert-manager")["values"]
        if "certmanager_" in rules:
            assert values["prometheus"] == {"enabled": True, "servicemonitor": {"enabled": True}}, stack


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
