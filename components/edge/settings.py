"""Settings of the edge: `ams:ingress` (mode, host, TLS issuer, rate limit, allowlists, installs)."""

from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from ..validation import Cidrs, DnsLabel, DnsName, Model, OptionalDnsLabel, Resources, matching

DEFAULT_CONTROLLER_NAMESPACE = {"ingress": "ingress-nginx", "gateway": "envoy-gateway-system"}


class ProxySettings(Model):
    """Gateway mode: the Envoy proxy that Envoy Gateway runs for the stack's Gateway (an EnvoyProxy resource).

    `LoadBalancer` needs a cluster that implements it (a cloud, MetalLB); on a cluster without one the Service
    never gets an address, so such a cluster sets `NodePort` and points DNS (or its own balancer) at the nodes.
    """

    service_type: Literal["LoadBalancer", "NodePort"]
    replicas: Annotated[int, Field(ge=1, le=50)]
    resources: Resources
    shutdown_manager: Resources  # the sidecar Envoy Gateway adds to drain connections when a proxy stops


class CertManagerSizes(Model):
    """cert-manager's containers (deploy/charts/cert-manager values.yaml: resources, webhook, cainjector, startupapicheck)."""

    controller: Resources
    webhook: Resources
    cainjector: Resources  # caches every Secret and CRD it injects into: grows with the cluster
    startupapicheck: Resources


class EnvoyGatewaySizes(Model):
    """Envoy Gateway's own containers (charts/gateway-helm values.yaml: deployment.envoyGateway, certgen.job)."""

    controller: Resources
    certgen: Resources


class EdgeSettings(Model):
    mode: Literal["ingress", "gateway"]
    class_name: DnsLabel
    controller_namespace: OptionalDnsLabel  # "": the mode's (DEFAULT_CONTROLLER_NAMESPACE)
    host: DnsName
    tls_secret: DnsLabel
    issuer: Literal["letsencrypt-prod", "letsencrypt-staging", "selfsigned"]
    acme_email: matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address")
    create_issuers: bool
    rate_limit_rps: Annotated[int, Field(ge=1, le=100000)]
    body_size: matching(r"^[0-9]+[km]?$", "a size like 50m or 512k")  # nginx: a number, k or m
    allow_source_ranges: Cidrs
    annotations: dict[str, str]
    install_cert_manager: bool
    install_controller: bool
    proxy: ProxySettings
    cert_manager: CertManagerSizes
    envoy_gateway: EnvoyGatewaySizes

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @field_validator("controller_namespace")
    @classmethod
    def _by_mode(cls, value: str, info: ValidationInfo) -> str:
        return value or DEFAULT_CONTROLLER_NAMESPACE.get(info.data.get("mode"), "")

    def rules(self):
        only_gateway = "only gateway mode installs a controller (ingress-nginx was retired in March 2026); "
        wrong = self.mode == "ingress" and self.install_controller
        return {"installController": wrong and f"{only_gateway}bring a maintained Ingress controller, or use mode: gateway"}
