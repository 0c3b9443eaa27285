"""MonitoringTier built alone, from hand-made arguments (its app targets are just names and ports here)."""

from __future__ import annotations

from components.monitoring.tier import MetricsEndpoint, MonitoringTier, MonitoringTierArgs
from tests.components import build, settings_of


def test_monitoring_alone_monitors_the_endpoints_it_is_given():
    stack = settings_of("staging")
    args = MonitoringTierArgs(
        monitoring=stack.monitoring,
        network=stack.network,
        api_server_cidrs=["198.51.100.7/32"],
        stack="lab",
        namespace="metrics",
        namespace_name="metrics",
        app_namespace="team",
        app_metrics=[MetricsEndpoint("reporting", "http")],
        pooler_max_client_connections=123,
    )
    render, tier = build(lambda: MonitoringTier("m", args))
    (monitor,) = render.of_kind("PodMonitor")
    assert monitor["metadata"] == {**monitor["metadata"], "name": "reporting", "namespace": "team"}
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http"
    rules = render.get("PrometheusRule", "ams-alerts")["spec"]["groups"]
    assert any(r.get("expr") == "vector(123)" for g in rules for r in g["rules"])
    # The stack's name keeps cluster-wide objects and host paths apart from other stacks'.
    assert render.get("ClusterRole", "ams-log-shipper-lab")
    shipper = render.get("DaemonSet", "ams-log-shipper")["spec"]["template"]["spec"]
    assert {"name": "state", "hostPath": {"path": "/var/lib/fluent-bit/lab", "type": "DirectoryOrCreate"}} in shipper["volumes"]
    assert len(tier.ready) == 1
