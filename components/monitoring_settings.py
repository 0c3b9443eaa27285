"""Settings of the monitoring tier (`ams:monitoring`)."""

from __future__ import annotations

from dataclasses import dataclass

from .data_settings import Volume, read_volume
from .validation import Node, Resources, read_resources

RECEIVERS = ("none", "webhook", "slack")


@dataclass(frozen=True)
class MonitoringSettings:
    enabled: bool
    prometheus_retention: str
    prometheus_storage: Volume
    prometheus_resources: Resources
    loki_retention: str
    loki_storage: Volume
    loki_resources: Resources
    loki_canary_resources: Resources
    node_exporter_resources: Resources
    grafana_storage: Volume
    receiver: str
    slack_channel: str
    log_shipper_image: str
    log_shipper_resources: Resources
    web_exporter_image: str
    web_exporter_resources: Resources


def parse_monitoring(node: Node) -> MonitoringSettings:
    prometheus, loki, grafana, alerting = (node.child(k) for k in ("prometheus", "loki", "grafana", "alerting"))
    log_shipper, web_exporter, node_exporter = node.child("logShipper"), node.child("webExporter"), node.child("nodeExporter")
    result = MonitoringSettings(
        enabled=node.boolean("enabled"),
        prometheus_retention=_duration(prometheus, "retention"),
        prometheus_storage=read_volume(prometheus.child("storage")),
        prometheus_resources=read_resources(prometheus.child("resources")),
        loki_retention=_duration(loki, "retention"),
        loki_storage=read_volume(loki.child("storage")),
        loki_resources=read_resources(loki.child("resources")),
        loki_canary_resources=read_resources(loki.child("canaryResources")),
        node_exporter_resources=read_resources(node_exporter.child("resources")),
        grafana_storage=read_volume(grafana.child("storage")),
        receiver=alerting.string("receiver", choices=RECEIVERS),
        slack_channel=alerting.string("slackChannel", optional=True),
        log_shipper_image=log_shipper.image("image"),
        log_shipper_resources=read_resources(log_shipper.child("resources")),
        web_exporter_image=web_exporter.image("image"),
        web_exporter_resources=read_resources(web_exporter.child("resources")),
    )
    if result.receiver == "slack" and not result.slack_channel.startswith("#"):
        alerting.problems.add(alerting.key("slackChannel"), f"must name a channel like #ams-alerts, got {result.slack_channel!r}")
    for child in (prometheus, loki, grafana, alerting, log_shipper, web_exporter, node_exporter, node):
        child.close()
    return result


def _duration(node: Node, key: str) -> str:
    """A Prometheus-style duration: a number and one of h, d, w (e.g. 15d, 168h)."""
    value = node.string(key)
    if value and not (value[:-1].isdigit() and value[-1] in "hdw" and int(value[:-1]) > 0):
        node.problems.add(node.key(key), f"must be a duration like 15d or 168h, got {value!r}")
    return value
