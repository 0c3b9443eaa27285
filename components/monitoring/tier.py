"""MonitoringTier: Prometheus, Alertmanager and Grafana (kube-prometheus-stack), Loki, Fluent Bit,
the app's scrape targets, alert rules and dashboards.

Rules and dashboards are data files next to this module (`monitoring/rules`, `monitoring/dashboards`),
tested with promtool; this module only ships them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from .. import k8s as kb
from ..settings import NetworkSettings
from .log_shipper import FLUENT_BIT_PORT, LOG_SHIPPER, LogShipper, log_shipper
from .observers import observer_access
from .settings import MonitoringSettings

DATA_DIR = Path(__file__).parent
RULES_FILE = DATA_DIR / "rules" / "ams-alerts.yaml"
DASHBOARDS_DIR = DATA_DIR / "dashboards"

KPS_CHART = kb.Chart("kube-prometheus-stack", "88.6.4", "https://prometheus-community.github.io/helm-charts", timeout=900)
LOKI_CHART = kb.Chart("loki", "18.11.3", "https://grafana-community.github.io/helm-charts", timeout=600)
GRAFANA_ADMIN = "ams-grafana-admin"
ALERTMANAGER_CONFIG = "ams-alertmanager"
LOKI_PORT = 3100
PROMETHEUS_PODS = kb.PROMETHEUS_PODS
# The chart's operator keeps its chart-derived name under fullnameOverride (templates/_helpers.tpl).
KPS_OPERATOR_NAME = "kube-prometheus-stack-prometheus-operator"
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093
GRAFANA_PORT = 3000
OPERATOR_PORT = 10250
CONFIG_RELOADER_PORT = 8080
LOKI_GRPC_PORT = 9095
LOKI_MEMBERLIST_PORT = 7946
LOKI_CANARY_PORT = 3500
CRD_UPGRADE_PODS = {"app.kubernetes.io/name": KPS_OPERATOR_NAME, "app.kubernetes.io/component": "crds-upgrade"}
NODE_SCRAPE_PORTS = (10250, 9100)  # kubelet, node-exporter
# kube-prometheus-stack's control-plane scrapes and their alerts (each rule file is gated by `<component>.enabled`,
# charts/kube-prometheus-stack/templates/prometheus/rules-1.14/*.yaml), with their ports: kube-proxy, etcd's
# metrics, kube-controller-manager, kube-scheduler (the chart's values.yaml service ports).
CONTROL_PLANE = ("kubeControllerManager", "kubeScheduler", "kubeProxy", "kubeEtcd")
CONTROL_PLANE_PORTS = (10249, 2381, 10257, 10259)
MAX_CLIENT_CONN_RULE = "ams:pgbouncer_max_client_conn"


@dataclass(frozen=True)
class MetricsEndpoint:
    """A workload of another tier that serves Prometheus metrics on a named container port."""

    workload: str  # its app.kubernetes.io/name
    port: str


@dataclass(frozen=True)
class MonitoringTierArgs:
    monitoring: MonitoringSettings
    network: NetworkSettings
    # The API server's addresses (Cluster.api_server_cidrs): what ams:network.apiServer.cidrs sets or the cluster publishes.
    api_server_cidrs: pulumi.Input[list]
    stack: str  # names the cluster-wide objects and host paths that two stacks on one cluster must not share
    namespace: pulumi.Input[str]
    namespace_name: str  # the same namespace as a plain name, for in-cluster hosts
    app_namespace: pulumi.Input[str]
    # The app's metrics endpoints: a PodMonitor each.
    app_metrics: Sequence[MetricsEndpoint]
    # PgBouncer's client connection limit, which no exporter publishes (an alert compares against it).
    pooler_max_client_connections: int
    alert_receiver_url: pulumi.Output[str] | None = None
    # The identity provider's groups that may port-forward to Prometheus, Alertmanager and Grafana (observers.py).
    observer_groups: Sequence[str] = ()
    # In prod, the values that pin each chart's images by digest (components/platform/chart_images.py); else none.
    kps_digest_values: Mapping = field(default_factory=dict)
    loki_digest_values: Mapping = field(default_factory=dict)


def alert_groups(max_client_connections: int) -> list[dict]:
    """The rule file's groups, with PgBouncer's client limit (no exporter publishes it) set per stack."""
    # libyaml's loader where PyYAML has it (its wheels do): the rule file is read on every run.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    groups = yaml.load(RULES_FILE.read_text(), Loader=loader)["groups"]
    for group in groups:
        for rule in group["rules"]:
            if rule.get("record") == MAX_CLIENT_CONN_RULE:
                rule["expr"] = f"vector({max_client_connections})"
    return groups


class MonitoringTier(pulumi.ComponentResource):
    """kube-prometheus-stack (Prometheus, Alertmanager, Grafana), Loki, the Fluent Bit log shipper, PodMonitors for
    the app, the alert rules and dashboards (data files beside this module), their Secrets and the monitoring
    namespace's NetworkPolicies.

    Needs: its settings, the network settings, the stack's name, its and the app's namespaces, the app's
    metrics endpoints, PgBouncer's client limit (for an alert) and the alert receiver URL (a secret Output).
    """

    grafana_admin_secret: pulumi.Output[str]
    # The chart that brings the Prometheus Operator's CRDs (PodMonitor, PrometheusRule).
    ready: list

    def __init__(self, name: str, args: MonitoringTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:MonitoringTier", name, None, opts)
        self._name = name
        self._args = args
        self._mon = args.monitoring
        self._ns = args.namespace
        self._loki_host = f"loki.{args.namespace_name}.svc.cluster.local"

        # Policies first: the charts' pods start in a namespace that already admits exactly their flows.
        self._policies = self._network_policies()
        self._grafana_admin()
        self._alertmanager_config()
        stack = self._kube_prometheus_stack()
        self.ready = [stack]
        loki = self._loki()
        log_shipper(
            self._name,
            LogShipper(
                settings=self._mon.log_shipper,
                namespace=self._ns,
                stack=args.stack,
                loki_host=self._loki_host,
                loki_port=LOKI_PORT,
            ),
            loki,
            self._opts(),
        )
        self._app_monitors(stack)
        self._alert_rules(stack)
        self._dashboards()
        observer_access(self._name, self._ns, args.observer_groups, self._opts())
        self.grafana_admin_secret = pulumi.Output.from_input(GRAFANA_ADMIN)
        self.register_outputs({"grafana_admin_secret": self.grafana_admin_secret})

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _secret(self, suffix: str, name: str, values: dict) -> None:
        k8s.core.v1.Secret(
            f"{self._name}-{suffix}",
            metadata=kb.metadata(name, self._ns, "monitoring"),
            type="Opaque",
            string_data={key: pulumi.Output.secret(value) for key, value in values.items()},
            opts=self._opts(),
        )

    # --- secrets -----------------------------------------------------------------------------------

    def _grafana_admin(self) -> None:
        password = random.RandomPassword(f"{self._name}-grafana-admin", length=32, special=False, opts=self._opts()).result
        self._secret("grafana-admin", GRAFANA_ADMIN, {"admin-user": "admin", "admin-password": password})

    def _alertmanager_config(self) -> None:
        """Alertmanager's whole configuration, in a Secret: the receiver URL is a credential."""
        alerting = self._mon.alerting
        url = self._args.alert_receiver_url

        def render(secret_url: str | None) -> str:
            default: dict = {"name": "default"}
            if alerting.receiver == "webhook":
                default["webhook_configs"] = [{"url": secret_url, "send_resolved": True}]
            elif alerting.receiver == "slack":
                default["slack_configs"] = [{"api_url": secret_url, "channel": alerting.slack_channel, "send_resolved": True}]
            config = {
                "route": {
                    "receiver": "default",
                    "group_by": ["alertname", "namespace"],
                    "group_wait": "30s",
                    "group_interval": "5m",
                    "repeat_interval": "4h",
                    # The chart's always-firing heartbeat is for dead-man switches, not for people.
                    "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}],
                },
                "receivers": [{"name": "null"}, default],
            }
            return yaml.safe_dump(config, sort_keys=False)

        config = url.apply(render) if url is not None else pulumi.Output.from_input(render(None))
        self._secret("alertmanager", ALERTMANAGER_CONFIG, {"alertmanager.yaml": config})

    # --- charts ------------------------------------------------------------------------------------

    def _node_scrape_ports(self) -> tuple[int, ...]:
        return NODE_SCRAPE_PORTS + (CONTROL_PLANE_PORTS if self._mon.control_plane else ())

    def _release(self, suffix: str, chart: kb.Chart, values: dict):
        return kb.helm_release(f"{self._name}-{suffix}", chart, self._ns, self._opts(depends_on=self._policies), values)

    def _kube_prometheus_stack(self) -> pulumi.Resource:
        mon = self._mon
        storage = kb.claim_spec(mon.prometheus.storage)
        grafana_persistence = kb.sized_volume(mon.grafana.storage, "size", "storageClassName", enabled=True)
        charts = mon.charts
        values = {
            "fullnameOverride": "kps",
            # ClusterRoles for the Prometheus Operator's kinds that join Kubernetes' view, edit and admin (off by
            # default): the groups bound in the app and data namespaces can then see and change their PodMonitors.
            "global": {"rbac": {"createAggregateClusterRoles": True}},
            # Helm installs a chart's crds/ once and never upgrades them; this hook Job re-applies the
            # Prometheus Operator CRDs before every upgrade (charts/crds/templates/upgrade/job.yaml). Its pod
            # has no labels unless given some: these let the monitoring policies admit it to the API server.
            "crds": {
                "upgradeJob": {
                    "enabled": True,
                    "podLabels": CRD_UPGRADE_PODS,
                    "image": {"busybox": {"tag": "1.38.0"}},  # the chart's default is "latest"
                    # Both its containers (charts/crds/templates/upgrade/job.yaml).
                    "resources": charts.crds_upgrade_job.as_k8s(),
                }
            },
            "prometheusOperator": {
                "resources": charts.prometheus_operator.as_k8s(),
                # Every config reloader the operator adds to Prometheus and Alertmanager, init container included
                # (prometheus-operator --config-reloader-cpu-request and friends, set from these by the chart).
                "prometheusConfigReloader": {"resources": charts.config_reloader.as_k8s()},
                "admissionWebhooks": {"patch": {"resources": charts.admission_jobs.as_k8s()}},
            },
            "kube-state-metrics": {"resources": charts.kube_state_metrics.as_k8s()},
            "prometheus": {
                "prometheusSpec": {
                    "retention": mon.prometheus.retention,
                    "resources": mon.prometheus.resources.as_k8s(),
                    "storageSpec": {"volumeClaimTemplate": {"spec": storage}},
                    # Select every ServiceMonitor, PodMonitor and PrometheusRule in every namespace,
                    # not only those carrying this chart's release label.
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "serviceMonitorNamespaceSelector": {},
                    "podMonitorNamespaceSelector": {},
                    "ruleNamespaceSelector": {},
                }
            },
            # Where the cluster does not serve them (the chart enables all four), their *Down alerts fire for ever.
            **{component: {"enabled": mon.control_plane} for component in CONTROL_PLANE},
            "alertmanager": {
                "alertmanagerSpec": {"configSecret": ALERTMANAGER_CONFIG, "resources": charts.alertmanager.as_k8s()}
            },
            "prometheus-node-exporter": {"resources": mon.node_exporter.resources.as_k8s()},
            "grafana": {
                "admin": {"existingSecret": GRAFANA_ADMIN, "userKey": "admin-user", "passwordKey": "admin-password"},
                "persistence": grafana_persistence,
                # The chart keeps RollingUpdate with a ReadWriteOnce claim: a new pod on another node never
                # attaches the volume the old one holds, and the atomic release rolls back after its timeout
                # (grafana chart values.yaml deploymentStrategy; grafana/helm-charts#146).
                "deploymentStrategy": {"type": "Recreate"},
                # A StatefulSet, so that its pod's name is fixed and a Role can grant port-forwarding to it alone
                # (observers.py); the chart then claims the volume from a claim template.
                "useStatefulSet": True,
                # Viewers need no account: only Prometheus and those port-forwarders reach it (its NetworkPolicy).
                "grafana.ini": {"auth.anonymous": {"enabled": True, "org_role": "Viewer"}},
                "resources": charts.grafana.as_k8s(),
                # The chart's init container chowns the volume as root; the pod's fsGroup (472) already makes it
                # Grafana's (grafana chart values.yaml securityContext, initChownData).
                "initChownData": {"enabled": False},
                "sidecar": {
                    "resources": charts.grafana_sidecar.as_k8s(),
                    "dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1", "searchNamespace": "ALL"},
                    "datasources": {"enabled": True},
                },
                "additionalDataSources": [
                    {
                        "name": "Loki",
                        "type": "loki",
                        "uid": "loki",
                        "access": "proxy",
                        "url": f"http://{self._loki_host}:{LOKI_PORT}",
                    }
                ],
            },
        }
        return self._release("kube-prometheus-stack", KPS_CHART, kb.merged_values(values, self._args.kps_digest_values))

    def _loki(self) -> pulumi.Resource:
        mon = self._mon
        persistence = kb.sized_volume(mon.loki.storage, "size", "storageClass", enabled=True)
        values = {
            "deploymentMode": "Monolithic",
            "loki": {
                "auth_enabled": False,
                "commonConfig": {"replication_factor": 1},
                "storage": {"type": "filesystem"},
                "schemaConfig": {
                    "configs": [
                        {
                            "from": "2026-01-01",
                            "store": "tsdb",
                            "object_store": "filesystem",
                            "schema": "v13",
                            "index": {"prefix": "index_", "period": "24h"},
                        }
                    ]
                },
                "limits_config": {"retention_period": mon.loki.retention},
                "compactor": {"retention_enabled": True, "delete_request_store": "filesystem"},
            },
            # One single-binary replica on the filesystem, the simple-scalable targets at zero: the chart's
            # templates/validate.yaml refuses filesystem storage with any read/write/backend replica (their
            # default is 3), as upstream's ci/default-monolithic-filesystem-values.yaml shows.
            "singleBinary": {"replicas": 1, "persistence": persistence, "resources": mon.loki.resources.as_k8s()},
            "read": {"replicas": 0},
            "write": {"replicas": 0},
            "backend": {"replicas": 0},
            "lokiCanary": {"resources": mon.loki.canary_resources.as_k8s()},
            # The rules sidecar beside the single binary (templates/_pod.tpl loki-sc-rules).
            "sidecar": {"resources": mon.charts.loki_sidecar.as_k8s()},
            "gateway": {"enabled": False},
            "chunksCache": {"enabled": False},
            "resultsCache": {"enabled": False},
        }
        return self._release("loki", LOKI_CHART, kb.merged_values(values, self._args.loki_digest_values))

    # --- network ------------------------------------------------------------------------------------

    def _network_policies(self) -> list[pulumi.Resource]:
        """Default deny, then each chart pod's flows. Labels are the ones upstream gives the pods:
        prometheus-operator pkg/prometheus/server/operator.go and pkg/alertmanager/operator.go (Prometheus,
        Alertmanager), kube-prometheus-stack templates/prometheus-operator/deployment.yaml and
        admission-webhooks/ (operator, its certificate Jobs), grafana-community charts/grafana/templates/_pod.tpl,
        prometheus-community charts/kube-state-metrics, grafana-community charts/loki/templates/_pod.tpl and
        loki-canary/daemonset.yaml. node-exporter runs on the host network, where policies do not apply.
        """
        network = self._args.network
        ns = self._ns
        api_server = kb.api_server_egress(self._args.api_server_cidrs, network.api_server.ports)
        prometheus = PROMETHEUS_PODS
        grafana = {"app.kubernetes.io/name": "grafana"}
        alertmanager = {"app.kubernetes.io/name": "alertmanager"}
        operator = {"app.kubernetes.io/name": KPS_OPERATOR_NAME, "app.kubernetes.io/component": "prometheus-operator"}
        loki = {"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "single-binary"}
        canary = {"app.kubernetes.io/name": "loki", "app.kubernetes.io/component": "canary"}
        shipper = kb.selector_labels(LOG_SHIPPER)

        def pods(labels: dict) -> dict:
            return {"podSelector": {"matchLabels": labels}}

        def allow(sources: list[dict], *ports: int) -> dict:
            return {"from": [pods(labels) for labels in sources], "ports": kb.tcp_ports(*ports)}

        def to(labels: dict, *ports: int) -> dict:
            return {"to": [pods(labels)], "ports": kb.tcp_ports(*ports)}

        policies = kb.baseline_policies(self._name, ns, self._opts(), network.dns_cidrs)
        # An egress rule whose `to` is empty admits every destination: with no node addresses recorded, none is opened.
        nodes = [{"to": kb.ip_blocks(network.node_cidrs), "ports": kb.tcp_ports(*self._node_scrape_ports())}]
        if not network.node_cidrs:
            nodes = []
            pulumi.log.warn(
                "ams:network.nodeCidrs is empty: Prometheus cannot scrape the kubelets and node exporters until the nodes' "
                "subnets are recorded (docs/network-assumptions.md)"
            )
        rules = {
            # Prometheus scrapes whatever the monitors name, in every namespace, and the nodes (kubelet,
            # node-exporter, kube-proxy, etcd, controller-manager, scheduler: kube-prometheus-stack's defaults).
            "prometheus": (
                prometheus,
                [allow([grafana], PROMETHEUS_PORT), allow([prometheus], PROMETHEUS_PORT, CONFIG_RELOADER_PORT)],
                [
                    {"to": [{"namespaceSelector": {}}]},
                    *nodes,
                    api_server,
                ],
            ),
            "alertmanager": (
                alertmanager,
                [allow([prometheus, grafana], ALERTMANAGER_PORT), allow([prometheus], CONFIG_RELOADER_PORT)],
                # The receiver (webhook or Slack) is outside the cluster.
                [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": kb.tcp_ports(443)}],
            ),
            "grafana": (
                grafana,
                [allow([prometheus], GRAFANA_PORT)],
                # Its sidecars watch ConfigMaps for dashboards and data sources.
                [to(prometheus, PROMETHEUS_PORT), to(alertmanager, ALERTMANAGER_PORT), to(loki, LOKI_PORT), api_server],
            ),
            "prometheus-operator": (
                operator,
                # The API server calls its admission webhook for PrometheusRules and the like.
                [
                    {"from": kb.ip_blocks(self._args.api_server_cidrs), "ports": kb.tcp_ports(OPERATOR_PORT)},
                    allow([prometheus], OPERATOR_PORT),
                ],
                [api_server],
            ),
            "prometheus-operator-webhook-jobs": (
                {"app.kubernetes.io/name": KPS_OPERATOR_NAME, "app.kubernetes.io/component": "prometheus-operator-webhook"},
                None,
                [api_server],
            ),
            "kube-state-metrics": (
                {"app.kubernetes.io/name": "kube-state-metrics"},
                [allow([prometheus], 8080, 8081)],
                [api_server],
            ),
            "crds-upgrade-job": (CRD_UPGRADE_PODS, None, [api_server]),
            "loki": (
                loki,
                [allow([shipper, grafana, canary, prometheus], LOKI_PORT), allow([loki], LOKI_GRPC_PORT, LOKI_MEMBERLIST_PORT)],
                [to(loki, LOKI_GRPC_PORT, LOKI_MEMBERLIST_PORT), api_server],
            ),
            "loki-canary": (canary, [allow([prometheus], LOKI_CANARY_PORT)], [to(loki, LOKI_PORT)]),
            "log-shipper": (shipper, [allow([prometheus], FLUENT_BIT_PORT)], [to(loki, LOKI_PORT), api_server]),
        }
        for suffix, (selector, ingress, egress) in rules.items():
            policies.append(
                kb.network_policy(
                    f"{self._name}-netpol-{suffix}", suffix, ns, selector, self._opts(), ingress=ingress, egress=egress
                )
            )
        return policies

    # --- scrape targets, rules, dashboards ---------------------------------------------------------

    def _custom(self, suffix: str, kind: str, name: str, namespace, spec: dict, depends_on=()) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version="monitoring.coreos.com/v1",
            kind=kind,
            metadata=kb.metadata(name, namespace, "monitoring"),
            spec=spec,
            opts=self._opts(depends_on=list(depends_on)),
        )

    def _app_monitors(self, stack: pulumi.Resource) -> None:
        for endpoint in self._args.app_metrics:
            self._custom(
                f"{endpoint.workload.removeprefix('ams-')}-monitor",
                "PodMonitor",
                endpoint.workload,
                self._args.app_namespace,
                {
                    "selector": {"matchLabels": kb.selector_labels(endpoint.workload)},
                    "podMetricsEndpoints": [{"port": endpoint.port, "path": "/metrics", "interval": "30s"}],
                },
                depends_on=[stack],
            )

    def _alert_rules(self, stack: pulumi.Resource) -> None:
        groups = alert_groups(self._args.pooler_max_client_connections)
        self._custom("alert-rules", "PrometheusRule", "ams-alerts", self._ns, {"groups": groups}, depends_on=[stack])

    def _dashboards(self) -> None:
        for path in sorted(DASHBOARDS_DIR.glob("*.json")):
            meta = kb.metadata(f"ams-dashboard-{path.stem.removeprefix('ams-')}", self._ns, "monitoring")
            meta["labels"]["grafana_dashboard"] = "1"
            k8s.core.v1.ConfigMap(
                f"{self._name}-dashboard-{path.stem}",
                metadata=meta,
                data={path.name: path.read_text()},
                opts=self._opts(),
            )
