"""Certificates: cert-manager and the ClusterIssuers the edge's certificates come from.

Created before the tiers: other installs (the Barman Cloud plugin) need cert-manager running too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..operator_namespace import OperatorNamespace, OperatorNamespaceArgs, OperatorPlacement, PodFlows, internet
from .settings import EdgeSettings

CERT_MANAGER_CHART = kb.Chart("cert-manager", "v1.21.2", "https://charts.jetstack.io", timeout=600)
ACME_SERVERS = {
    "letsencrypt-prod": "https://acme-v02.api.letsencrypt.org/directory",
    "letsencrypt-staging": "https://acme-staging-v02.api.letsencrypt.org/directory",
}
# The Gateway the http01 solver attaches to in gateway mode (ingress.py creates it).
GATEWAY_NAME = "ams-gateway"
CERT_MANAGER_NAMESPACE = "cert-manager"
CERT_MANAGER_METRICS_PORT = 9402  # every component's http-metrics (cert-manager deploy/charts/cert-manager values.yaml)
CERT_MANAGER_WEBHOOK_PORT = 10250  # the webhook's container port `https` (webhook.securePort); its Service maps 443 to it


def cert_manager_flows() -> list[PodFlows]:
    """cert-manager v1.21 chart pods by `app.kubernetes.io/component` (templates/deployment.yaml, webhook-deployment.yaml,
    cainjector-deployment.yaml, startupapicheck-job.yaml); every one of them watches or calls the API server."""

    def component(name: str) -> dict:
        return {"app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": name}

    metrics = (CERT_MANAGER_METRICS_PORT,)
    return [
        # ACME: the directory and order calls (443) and the http01 self-check of the public host (80).
        PodFlows("cert-manager-controller", component("controller"), metrics_ports=metrics, egress=[internet(80, 443)]),
        PodFlows("cert-manager-webhook", component("webhook"), webhook_ports=(CERT_MANAGER_WEBHOOK_PORT,), metrics_ports=metrics),
        PodFlows("cert-manager-cainjector", component("cainjector"), metrics_ports=metrics),
        PodFlows("cert-manager-startupapicheck", component("startupapicheck")),
    ]


@dataclass(frozen=True)
class CertificatesArgs:
    edge: EdgeSettings
    # With monitoring on, cert-manager's metrics are scraped (the CertificateExpiringSoon alert).
    monitoring_enabled: bool
    # What the stack's operator namespaces share: cert-manager's is one of them.
    operators: OperatorPlacement
    # In gateway mode, what installs the Gateway API CRDs (GatewayController.crds): with Gateway API
    # support on, cert-manager's controller exits at start without them (cert-manager
    # pkg/controller/context.go buildClients).
    gateway_api: Sequence[pulumi.Resource] = ()
    # With monitoring on, kube-prometheus-stack (MonitoringTier.ready): the controller's PodMonitor needs its CRDs.
    monitoring: Sequence[pulumi.Resource] = ()
    # In prod, the values that pin the chart's images by digest (components/platform/chart_images.py); else none.
    digest_values: Mapping = field(default_factory=dict)


class Certificates(pulumi.ComponentResource):
    """cert-manager (its chart, Gateway API support in gateway mode, metrics when monitoring is on) and the
    ClusterIssuers letsencrypt-prod, letsencrypt-staging and selfsigned.

    Needs: the edge settings, whether monitoring is on, the app namespace (the http01 solver's Gateway), and
    what must exist before cert-manager starts (Gateway API CRDs, kube-prometheus-stack's CRDs).
    """

    # What depends on cert-manager's CRDs and webhook waits for these (empty when installed elsewhere).
    ready: list

    def __init__(self, name: str, args: CertificatesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:Certificates", name, None, opts)
        self._name = name
        self._args = args
        self._edge = args.edge
        self.ready = self._cert_manager()
        if self._edge.create_issuers:
            self._cluster_issuers()
        self.register_outputs({})

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    # --- cert-manager ------------------------------------------------------------------------------

    def _cert_manager(self) -> list[pulumi.Resource]:
        if not self._edge.install_cert_manager:
            return []
        sizes = self._edge.cert_manager
        values: dict = {
            "crds": {"enabled": True},
            "resources": sizes.controller.as_k8s(),
            "webhook": {"resources": sizes.webhook.as_k8s()},
            "cainjector": {"resources": sizes.cainjector.as_k8s()},
            "startupapicheck": {"resources": sizes.startupapicheck.as_k8s()},
        }
        if self._edge.mode == "gateway":
            # cert-manager pkg/apis/config/controller/v1alpha1/types.go: gatewayAPI.enabled replaces the
            # deprecated enableGatewayAPI from v1.21.
            values["config"] = {
                "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                "kind": "ControllerConfiguration",
                "gatewayAPI": {"enabled": True},
            }
        if self._args.monitoring_enabled:
            # The CertificateExpiringSoon alert reads certmanager_certificate_expiration_timestamp_seconds;
            # the metrics port is the chart's (prometheus.enabled); the PodMonitor that gets it scraped is the program's,
            # not the chart's (templates/servicemonitor.yaml), so that the release waits for no monitoring CRD.
            values["prometheus"] = {"enabled": True, "servicemonitor": {"enabled": False}}
        namespace = OperatorNamespace(
            f"{self._name}-cert-manager-ns",
            OperatorNamespaceArgs(namespace=CERT_MANAGER_NAMESPACE, placement=self._args.operators, flows=cert_manager_flows()),
            opts=self._opts(),
        )
        opts = self._opts(depends_on=list(self._args.gateway_api))
        values = kb.merged_values(values, self._args.digest_values)
        release = kb.helm_release(f"{self._name}-cert-manager", CERT_MANAGER_CHART, namespace.name, opts, values)
        if self._args.monitoring_enabled:
            self._controller_monitor(namespace.name)
        return [release]

    def _controller_monitor(self, namespace: pulumi.Output[str]) -> None:
        """Prometheus scrapes the controller's http-metrics (the certificates' expiry); the PodMonitor needs
        kube-prometheus-stack's CRDs, the release does not."""
        pods = {"app.kubernetes.io/instance": "cert-manager", "app.kubernetes.io/component": "controller"}
        k8s.apiextensions.CustomResource(
            f"{self._name}-cert-manager-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata=kb.metadata("cert-manager", namespace, "certificates"),
            spec={"selector": {"matchLabels": pods}, "podMetricsEndpoints": [{"port": "http-metrics"}]},
            opts=self._opts(depends_on=list(self._args.monitoring)),
        )

    def _cluster_issuers(self) -> None:
        if self._edge.mode == "ingress":
            solver = {"http01": {"ingress": {"ingressClassName": self._edge.class_name}}}
        else:
            # No namespace: cert-manager creates the solver's HTTPRoute in the Certificate's namespace and copies these
            # parentRefs unchanged (cert-manager pkg/issuer/acme/http/httproute.go), and a ParentReference without one
            # means the route's own (Gateway API). So each stack's challenge reaches its own Gateway, also when another
            # stack on the cluster owns the ClusterIssuers.
            parent = {"name": GATEWAY_NAME, "kind": "Gateway", "sectionName": "http"}
            solver = {"http01": {"gatewayHTTPRoute": {"parentRefs": [parent]}}}
        for issuer, server in ACME_SERVERS.items():
            spec = {
                "acme": {
                    "server": server,
                    "email": self._edge.acme_email,
                    "privateKeySecretRef": {"name": f"{issuer}-account-key"},
                    "solvers": [solver],
                }
            }
            self._cluster_issuer(issuer, spec)
        self._cluster_issuer("selfsigned", {"selfSigned": {}})

    def _cluster_issuer(self, name: str, spec: dict) -> None:
        k8s.apiextensions.CustomResource(
            f"{self._name}-issuer-{name}",
            api_version="cert-manager.io/v1",
            kind="ClusterIssuer",
            metadata={"name": name, "labels": kb.part_of_labels()},
            spec=spec,
            opts=self._opts(depends_on=self.ready),
        )
