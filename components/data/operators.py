"""DataOperators: the CloudNativePG operator and its Barman Cloud plugin, in their own namespace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..operator_namespace import OperatorNamespace, OperatorNamespaceArgs, OperatorPlacement, PodFlows
from .common import CNPG_STATUS_PORT, DB_PODS, Monitoring, flat_layout_aliases, pod_monitor
from .settings import DataSettings

CNPG_REPO = "https://cloudnative-pg.github.io/charts"
CNPG_CHART = kb.Chart("cloudnative-pg", "0.29.1", CNPG_REPO)
BARMAN_CHART = kb.Chart("plugin-barman-cloud", "0.8.1", CNPG_REPO, timeout=600)
CNPG_WEBHOOK_PORT = 9443  # the operator's webhook-server
CNPG_OPERATOR_METRICS_PORT = 8080
BARMAN_PLUGIN_PORT = 9090  # the plugin's gRPC server (--server-address=:9090), which the operator dials
OPERATOR_PODS = {"app.kubernetes.io/name": "cloudnative-pg"}
PLUGIN_PODS = {"app.kubernetes.io/name": "plugin-barman-cloud"}


@dataclass(frozen=True)
class DataOperatorsArgs:
    operators: DataSettings.Operators
    # The Barman Cloud plugin is installed only where backups run (ams:data.postgres.backup.enabled).
    backups: bool
    # What the stack's operator namespaces share: CloudNativePG's (ams:data.operators.namespace) is one of them.
    placement: OperatorPlacement | None
    # Where the database's instances run: the operator asks each one's status port.
    data_namespace: pulumi.Input[str]
    # None without monitoring: no PodMonitor for the operator.
    monitoring: Monitoring | None
    # The plugin's Issuer and Certificates come from cert-manager: its release waits for these.
    cert_manager: Sequence[pulumi.Resource] = ()


class DataOperators(pulumi.ComponentResource):
    """The operators namespace (ams:data.operators.namespace), the CloudNativePG and Barman Cloud plugin releases
    as configured, the operator's PodMonitor, and ClusterRoles for the plugin's ObjectStores.

    Needs: the operators' settings, whether backups run, the stack's operator placement, the data namespace (the
    operator reaches the instances there), Prometheus's namespace (or None) and cert-manager's releases.
    Gives: the releases whose CRDs the database's custom resources use.
    """

    # The releases that install the Cluster, Pooler, ScheduledBackup and ObjectStore CRDs (and their webhooks).
    releases: list

    def __init__(self, name: str, args: DataOperatorsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:DataOperators", name, None, opts)
        self._name = name
        self._args = args
        # These were the DataTier's own children: see flat_layout_aliases.
        self._aliases = flat_layout_aliases(opts)
        operators = args.operators
        install_plugin = operators.install_barman_plugin and args.backups
        self.releases = []
        if operators.install_cnpg or install_plugin:
            self._namespace = self._operator_namespace()
        if operators.install_cnpg:
            self.releases.append(self._cnpg())
        if install_plugin:
            # The plugin's certificates come from cert-manager: it waits for the operators passed in too.
            plugin_values = {"resources": operators.resources.barman_plugin.as_k8s()}
            depends_on = [*self.releases, *args.cert_manager]
            self.releases.append(self._chart("barman-cloud", BARMAN_CHART, plugin_values, depends_on))
            self._object_store_roles()
        self.register_outputs({})

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, aliases=self._aliases, **kwargs)

    def _cnpg(self) -> pulumi.Resource:
        # The operator's PodMonitor is the program's, not the chart's (podMonitorEnabled renders one from
        # cloudnative-pg/charts charts/cloudnative-pg/templates/podmonitor.yaml), so that the release waits for no
        # monitoring CRD: only the PodMonitor does. The chart's -view/-edit ClusterRoles join Kubernetes' view, edit
        # and admin only with aggregateClusterRoles (off by default; templates/rbac.yaml): without it the groups bound
        # to them (Access) could not see or run the database's custom resources, nor follow the restore runbook.
        values = {
            "monitoring": {"podMonitorEnabled": False},
            "rbac": {"aggregateClusterRoles": True},
            "resources": self._args.operators.resources.cnpg.as_k8s(),
        }
        release = self._chart("cnpg", CNPG_CHART, values, [])
        monitoring = self._args.monitoring
        if monitoring is not None:
            monitor = f"{self._name}-cnpg-monitor"
            pod_monitor(monitor, "cloudnative-pg", self._namespace, OPERATOR_PODS, monitoring, self._opts())
        return release

    def _chart(self, suffix: str, chart: kb.Chart, values: dict, depends_on: list) -> pulumi.Resource:
        opts = self._opts(depends_on=depends_on)
        return kb.helm_release(f"{self._name}-{suffix}", chart, self._namespace, opts, values)

    def _object_store_roles(self) -> None:
        """The Barman Cloud plugin's chart aggregates no ClusterRole for its ObjectStores (its values have no such
        option): these join Kubernetes' view, and edit and admin, as CloudNativePG's own do."""
        resources = {"apiGroups": ["barmancloud.cnpg.io"], "resources": ["objectstores"]}
        reading = ["get", "list", "watch"]
        writing = [*reading, "create", "update", "patch", "delete", "deletecollection"]
        for role, verbs, aggregate_to in (
            ("view", reading, ("view", "edit", "admin")),
            ("edit", writing, ("edit", "admin")),
        ):
            aggregation = {f"rbac.authorization.k8s.io/aggregate-to-{to}": "true" for to in aggregate_to}
            k8s.rbac.v1.ClusterRole(
                f"{self._name}-objectstores-{role}",
                metadata={"name": f"ams-barmancloud-objectstores-{role}", "labels": {**kb.part_of_labels(), **aggregation}},
                rules=[{**resources, "verbs": verbs}],
                opts=self._opts(),
            )

    def _operator_namespace(self) -> pulumi.Output[str]:
        """cnpg-system: the operator (cloudnative-pg/charts charts/cloudnative-pg/templates/deployment.yaml: webhook-server
        9443, metrics 8080) reaches each instance's status port and the plugin; the Barman Cloud plugin
        (charts/plugin-barman-cloud/templates/deployment.yaml: one unnamed port, 9090) is dialled by the operator."""
        instances = kb.from_namespace(self._args.data_namespace, DB_PODS)
        operator = PodFlows(
            "cloudnative-pg",
            OPERATOR_PODS,
            webhook_ports=(CNPG_WEBHOOK_PORT,),
            metrics_ports=(CNPG_OPERATOR_METRICS_PORT,),
            egress=[
                {"to": [instances], "ports": kb.tcp_ports(CNPG_STATUS_PORT)},
                {"to": [{"podSelector": {"matchLabels": PLUGIN_PODS}}], "ports": kb.tcp_ports(BARMAN_PLUGIN_PORT)},
            ],
        )
        plugin = PodFlows(
            "plugin-barman-cloud",
            PLUGIN_PODS,
            ingress=[{"from": [{"podSelector": {"matchLabels": OPERATOR_PODS}}], "ports": kb.tcp_ports(BARMAN_PLUGIN_PORT)}],
        )
        namespace = OperatorNamespace(
            f"{self._name}-operators-ns",
            OperatorNamespaceArgs(
                namespace=self._args.operators.namespace, placement=self._args.placement, flows=[operator, plugin]
            ),
            # Its own children follow it: the engine derives their old URNs from their parent's alias (pulumi/pulumi
            # pkg/resource/deploy/step_generator.go inheritedChildAlias).
            opts=self._opts(),
        )
        return namespace.name
