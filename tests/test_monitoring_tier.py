"""MonitoringTier: charts, log shipping, scrape targets, rules and dashboards, on and off."""

from __future__ import annotations

import json

import pytest
import yaml

from components.monitoring.tier import DASHBOARDS_DIR, RULES_FILE
from components.settings import SettingsError
from tests.conftest import STACKS, render_stack, stack_config, with_overrides
from tools import runner


def releases(rendered) -> dict:
    return {r.inputs["chart"]: r.inputs for r in rendered.by_type("kubernetes:helm.sh/v3:Release")}


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_charts_are_pinned_and_configured(stack):
    rendered = render_stack(stack)
    charts = releases(rendered)
    kps, loki = charts["kube-prometheus-stack"], charts["loki"]
    assert kps["version"].startswith("88.") and loki["version"].startswith("18.")
    assert loki["repositoryOpts"]["repo"] == "https://grafana-community.github.io/helm-charts"
    assert loki["values"]["deploymentMode"] == "Monolithic"
    spec = kps["values"]["prometheus"]["prometheusSpec"]
    # The chart's Prometheus must pick up our PodMonitors and rules, which carry no release label.
    for kind in ("serviceMonitor", "podMonitor", "rule"):
        assert spec[f"{kind}SelectorNilUsesHelmValues"] is False and spec[f"{kind}NamespaceSelector"] == {}
    assert spec["retention"] == {"staging": "7d", "prod": "30d"}[stack]
    assert kps["values"]["grafana"]["admin"]["existingSecret"] == "ams-grafana-admin"
    assert kps["values"]["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    (loki_source,) = kps["values"]["grafana"]["additionalDataSources"]
    assert loki_source["type"] == "loki" and loki_source["url"].startswith("http://loki.")
    assert kps["values"]["alertmanager"]["alertmanagerSpec"]["configSecret"] == "ams-alertmanager"
    assert set(rendered.get("Secret", "ams-grafana-admin")["stringData"]) == {"admin-user", "admin-password"}
    assert set(rendered.get("Secret", "ams-alertmanager")["stringData"]) == {"alertmanager.yaml"}


def test_log_shipper_sends_every_pods_logs_to_loki():
    prod = render_stack("prod")
    shipper = prod.get("DaemonSet", "ams-log-shipper")
    pod = shipper["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["LOKI_HOST"] == "loki.ams-monitoring.svc.cluster.local"
    assert {"name": "varlog", "mountPath": "/var/log", "readOnly": True} in container["volumeMounts"]
    config = prod.get("ConfigMap", "ams-log-shipper")["data"]["fluent-bit.conf"]
    assert "Path              /var/log/containers/*.log" in config and "Name              loki" in config
    # The exception is written down next to the object, and limited: no capabilities, no privilege.
    assert shipper["metadata"]["annotations"]["ams.suresoft.com/pod-security-exception"]
    context = container["securityContext"]
    assert context["capabilities"] == {"drop": ["ALL"]} and context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True and not pod.get("hostNetwork") and not pod.get("hostPID")
    # Every node's logs, tainted ones too, but only on Linux nodes, where the image and /var/log/containers exist.
    assert pod["tolerations"] == [{"operator": "Exists"}] and pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    (role,) = [r for r in prod.of_kind("ClusterRole") if r["metadata"]["name"].startswith("ams-log-shipper")]
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}]


def test_app_workloads_are_scraped_on_ports_they_expose():
    prod = render_stack("prod")
    monitors = {m["metadata"]["name"]: m["spec"] for m in prod.of_kind("PodMonitor") if m["metadata"]["namespace"] == "ams"}
    assert set(monitors) == {"ams-api", "ams-web", "ams-worker"}
    for name, spec in monitors.items():
        deployment = prod.get("Deployment", name)
        ports = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert spec["podMetricsEndpoints"][0]["port"] in ports
        assert spec["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("stack, limit", [("staging", 100), ("prod", 200)])
def test_alert_rules_ship_from_the_rule_file(stack, limit):
    rule = render_stack(stack).get("PrometheusRule", "ams-alerts")["spec"]
    shipped = {r.get("alert") or r.get("record"): r for g in rule["groups"] for r in g["rules"]}
    import yaml

    in_file = {r.get("alert") or r.get("record") for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]}
    assert set(shipped) == in_file
    assert {"HighErrorRate", "HighResponseTime", "DatabaseConnectionPoolExhausted"} <= set(shipped)
    assert shipped["ams:pgbouncer_max_client_conn"]["expr"] == f"vector({limit})"


def test_dashboards_ship_as_labelled_config_maps():
    maps = {
        m["metadata"]["name"]: m
        for m in render_stack("prod").of_kind("ConfigMap")
        if "grafana_dashboard" in m["metadata"]["labels"]
    }
    assert set(maps) == {"ams-dashboard-application", "ams-dashboard-infrastructure"}
    for path in DASHBOARDS_DIR.glob("*.json"):
        shipped = maps[f"ams-dashboard-{path.stem.removeprefix('ams-')}"]
        assert json.loads(shipped["data"][path.name]) == json.loads(path.read_text())
        assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"


@pytest.mark.parametrize("stack", STACKS)
def test_monitoring_off_deploys_none_of_it(stack):
    config = with_overrides(stack_config(stack), {"ams:monitoring.enabled": False})
    rendered = runner.run(stack, config)
    assert not any(r.type == "ams:index:MonitoringTier" for r in rendered.resources)
    assert rendered.of_kind("PodMonitor") == [] and rendered.of_kind("PrometheusRule") == []
    assert "kube-prometheus-stack" not in releases(rendered)
    web = rendered.get("Deployment", "ams-web")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in web] == ["web"]


def test_alert_receiver_needs_its_secret_url():
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), {"ams:monitoring.alerting": {"receiver": "webhook"}}))
    assert [p.split(": ", 1)[0] for p in raised.value.problems] == ["ams:alertReceiverUrl"]
    config = with_overrides(
        stack_config("prod"),
        {
            "ams:monitoring.alerting": {"receiver": "slack", "slackChannel": "#ams-alerts"},
            "ams:alertReceiverUrl": {"secure": "v1:x"},
        },
    )
    rendered = runner.run("prod", config)
    alertmanager = yaml.safe_load(rendered.get("Secret", "ams-alertmanager")["stringData"]["alertmanager.yaml"])
    receiver = next(r for r in alertmanager["receivers"] if r["name"] == "default")
    # The URL is the secret config value, masked where it is used; the rest of the configuration shows.
    assert receiver["slack_configs"] == [{"api_url": runner.SECRET, "channel": "#ams-alerts", "send_resolved": True}]


def test_control_plane_scrapes_their_alerts_and_their_ports_follow_the_setting():
    """kube-prometheus-stack enables its kube-controller-manager, kube-scheduler, kube-proxy and etcd scrapes by
    default, and each `*Down` alert file is rendered only while its component is enabled (the chart's
    templates/prometheus/rules-1.14/kubernetes-system-*.yaml, etcd.yaml): off, as managed control planes serve
    none of them, neither the scrapes, the alerts, nor Prometheus's way to their node ports remain."""
    from components.monitoring.tier import CONTROL_PLANE, CONTROL_PLANE_PORTS, NODE_SCRAPE_PORTS

    nodes = {"ams:network.nodeCidrs": ["10.0.1.0/24"]}  # test data: the nodes' subnet, as a first deploy records it
    off = runner.run("prod", with_overrides(stack_config("prod"), nodes))
    on = runner.run("prod", with_overrides(stack_config("prod"), {**nodes, "ams:monitoring.controlPlane": True}))
    for rendered, enabled in ((off, False), (on, True)):
        values = releases(rendered)["kube-prometheus-stack"]["values"]
        assert {component: values[component] for component in CONTROL_PLANE} == dict.fromkeys(CONTROL_PLANE, {"enabled": enabled})
        egress = rendered.get("NetworkPolicy", "prometheus")["spec"]["egress"]
        node_ports = [
            [p["port"] for p in rule["ports"]] for rule in egress if 10250 in [p["port"] for p in rule.get("ports", [])]
        ]
        assert node_ports == [list(NODE_SCRAPE_PORTS) + (list(CONTROL_PLANE_PORTS) if enabled else [])]


def test_grafana_is_recreated_because_its_volume_attaches_to_one_node():
    """A ReadWriteOnce claim with the chart's RollingUpdate: the new pod waits for the volume the old one holds
    (on another node, for ever), and the atomic release rolls back after its timeout."""
    grafana = releases(render_stack("prod"))["kube-prometheus-stack"]["values"]["grafana"]
    assert grafana["persistence"]["enabled"] is True and grafana["deploymentStrategy"] == {"type": "Recreate"}


def test_the_log_shipper_buffers_on_the_node_and_retries_until_loki_takes_the_logs():
    """fluent-bit v4.2.8 src/flb_output.c: `retry_limit` defaults to 1, after which a chunk is dropped; the single
    Loki replica is away longer than that on every restart. The buffer lives on the state hostPath."""
    prod = render_stack("prod")
    sections: dict[str, dict] = {}
    for line in prod.get("ConfigMap", "ams-log-shipper")["data"]["fluent-bit.conf"].splitlines():
        if line.startswith("["):
            section = sections.setdefault(line.strip("[]"), {})
        elif line.strip() and not line.lstrip().startswith("#"):
            key, value = line.split(None, 1)
            section[key] = value.strip()
    assert sections["OUTPUT"]["Retry_Limit"] == "no_limits" and sections["OUTPUT"]["storage.total_limit_size"]
    assert sections["INPUT"]["storage.type"] == "filesystem" and "Mem_Buf_Limit" not in sections["INPUT"]
    mounts = prod.get("DaemonSet", "ams-log-shipper")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    state = next(m["mountPath"] for m in mounts if m["name"] == "state")
    assert sections["SERVICE"]["storage.path"].startswith(f"{state}/")


def test_without_recorded_node_subnets_prometheus_reaches_no_node_and_says_so():
    """Staging and prod record their nodes' subnets (0.0.0.0/0 is refused there); until then no node rule is opened,
    since an egress rule with an empty `to` would admit every destination, and the render warns."""
    rendered = render_stack("prod")
    egress = rendered.get("NetworkPolicy", "prometheus")["spec"]["egress"]
    assert all(rule.get("to") for rule in egress), "an egress rule without `to` admits every destination"
    assert [
        rule for rule in egress if any("ipBlock" in peer and peer["ipBlock"]["cidr"] != "192.0.2.1/32" for peer in rule["to"])
    ] == []
    assert any(w.startswith("ams:network.nodeCidrs is empty") for w in rendered.warnings)
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), {"ams:network.nodeCidrs": ["0.0.0.0/0"]}))
    assert raised.value.problems == ["ams:network.nodeCidrs: must not hold 0.0.0.0/0 in prod: record the nodes' subnets"]
