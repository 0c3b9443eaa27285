"""Settings of the monitoring tier: `ams:monitoring` (charts' sizes and retention, alerting, log shipper)."""

from typing import Literal

from ..validation import Bool, Image, Model, Resources, Str, Volume, matching, via


class MonitoringSettings(Model):
    class Workload(Model):
        resources: Resources

    class Prometheus(Workload):
        retention: matching(r"^0*[1-9][0-9]*[hdw]$", "a duration like 15d or 168h")  # Prometheus-style: h, d or w
        storage: Volume

    class Loki(Prometheus):
        canary_resources: Resources

    class Grafana(Model):
        storage: Volume

    class Alerting(Model):
        receiver: Literal["none", "webhook", "slack"]
        slack_channel: Str

    class ImageWorkload(Workload):
        image: Image

    enabled: Bool
    prometheus: Prometheus
    loki: Loki
    grafana: Grafana
    alerting: Alerting
    node_exporter: Workload
    log_shipper: ImageWorkload
    web_exporter: ImageWorkload
    prometheus_retention, prometheus_storage = (
        via("prometheus.retention"),
        via("prometheus.storage"),
    )  # the components' flat names
    prometheus_resources, grafana_storage = via("prometheus.resources"), via("grafana.storage")
    loki_retention, loki_storage, loki_resources = via("loki.retention"), via("loki.storage"), via("loki.resources")
    loki_canary_resources, node_exporter_resources = via("loki.canary_resources"), via("node_exporter.resources")
    receiver, slack_channel = via("alerting.receiver"), via("alerting.slack_channel")
    log_shipper_image, log_shipper_resources = via("log_shipper.image"), via("log_shipper.resources")
    web_exporter_image, web_exporter_resources = via("web_exporter.image"), via("web_exporter.resources")

    def rules(self):
        wrong = self.receiver == "slack" and not self.slack_channel.startswith("#")
        return {"alerting.slackChannel": wrong and f"must name a channel like #ams-alerts, got {self.slack_channel!r}"}
