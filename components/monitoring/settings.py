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

    class Charts(Model):
        """kube-prometheus-stack's and Loki's other containers: sized here, not by the namespace's LimitRange defaults."""

        grafana: Resources
        grafana_sidecar: Resources  # the dashboards' and the datasources' sidecars, each
        kube_state_metrics: Resources  # grows with the number of objects in the cluster
        prometheus_operator: Resources
        config_reloader: Resources  # Prometheus's and Alertmanager's config reloaders (init and sidecar), each
        alertmanager: Resources
        admission_jobs: Resources  # the operator's admission webhook certificate Jobs
        crds_upgrade_job: Resources  # the CRD upgrade Job's two containers, each
        loki_sidecar: Resources  # Loki's rules sidecar

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
    charts: Charts

    def rules(self):
        wrong = self.alerting.receiver == "slack" and not self.alerting.slack_channel.startswith("#")
        return {"alerting.slackChannel": wrong and f"must name a channel like #ams-alerts, got {self.alerting.slack_channel!r}"}
