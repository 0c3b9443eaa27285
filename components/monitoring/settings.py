"""Settings of the monitoring tier: `ams:monitoring` (charts' sizes and retention, alerting, log shipper)."""

from typing import Literal

from ..validation import Image, Model, Resources, Volume, matching


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
        slack_channel: str

    class ImageWorkload(Workload):
        image: Image

    enabled: bool
    # Scrape and alert on kube-controller-manager, kube-scheduler, kube-proxy and etcd: only where the cluster
    # serves their metrics to Prometheus (managed control planes do not; kubeadm binds them to 127.0.0.1).
    control_plane: bool
    prometheus: Prometheus
    loki: Loki
    grafana: Grafana
    alerting: Alerting
    node_exporter: Workload
    log_shipper: ImageWorkload
    web_exporter: ImageWorkload

    def rules(self):
        wrong = self.alerting.receiver == "slack" and not self.alerting.slack_channel.startswith("#")
        return {"alerting.slackChannel": wrong and f"must name a channel like #ams-alerts, got {self.alerting.slack_channel!r}"}
