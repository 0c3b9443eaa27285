"""Ingress: the HTTPS entry. An Ingress (any class, NGINX-family annotations) or Gateway API.

Both modes route `/api` to the api and `/` to the web front end on one host, redirect HTTP to
HTTPS, take their certificate from cert-manager (see certificates.py), limit the request rate and,
per stack, admit only listed source networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..operator_namespace import OperatorNamespace, OperatorNamespaceArgs, OperatorPlacement, PodFlows
from ..settings import NetworkSettings
from .settings import EdgeSettings, EnvoyGatewaySizes, ProxySettings

ENVOY_GATEWAY_CHART = kb.Chart("oci://docker.io/envoyproxy/gateway-helm", "v1.8.2", release="envoy-gateway")
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
INGRESS_NAME = "ams-ingress"
GATEWAY_NAME = "ams-gateway"
ROUTE_NAME = "ams"
# What a canary splits by weight: the api, as the seed's canary (its VirtualService `ams-api`, 90/10 and the
# `canary: true` header). The web is reached by the header only: both the Ingress canary and weighted backendRefs
# choose per request (ingress-nginx balancer.lua, no stickiness without affinity), so a page from one track would
# load its content-hashed /assets/ from the other, which has none of them (docker/web/nginx.conf answers 404).
WEIGHTED_PATHS = ("/api",)
# Browsers keep to HTTPS for a year after an HTTPS answer. In Ingress mode that header is the controller's
# setting (ingress-nginx's `hsts` defaults to true, F5 NGINX's to false); a Gateway adds none of its own, so the
# HTTPS route sets it (Gateway API's ResponseHeaderModifier filter).
HSTS = [
    {
        "type": "ResponseHeaderModifier",
        "responseHeaderModifier": {"set": [{"name": "Strict-Transport-Security", "value": "max-age=31536000"}]},
    }
]
GATEWAY_API = "gateway.networking.k8s.io/v1"
ENVOY_API = "gateway.envoyproxy.io/v1alpha1"
NGINX = "nginx.ingress.kubernetes.io"
ACME_SOLVER_PORT = 8089
# pulumi-kubernetes waits for a custom resource only when told what to wait for (provider/pkg/await/
# await.go, the `pulumi.com/waitFor` annotation, pulumi-kubernetes 4.18+). Envoy Gateway sets the Gateway's
# Programmed condition once its proxy Service has an address and the proxy is ready (envoyproxy/gateway
# internal/gatewayapi/status/gateway.go updateGatewayProgrammedCondition), so the entry Service read below exists.
WAIT_FOR_PROGRAMMED = {"pulumi.com/waitFor": "condition=Programmed"}


@dataclass(frozen=True)
class IngressArgs:
    edge: EdgeSettings
    network: NetworkSettings
    # The canary's share of traffic, in percent, while `canary_services` is set.
    canary_weight: int
    namespace: pulumi.Input[str]
    api_service: pulumi.Input[str]
    api_port: pulumi.Input[int]
    web_service: pulumi.Input[str]
    web_port: pulumi.Input[int]
    # From AppTier.canary_services: {"api": (stable, canary), "web": (stable, canary)} during a canary.
    canary_services: dict | None = None
    # Certificates.ready: the Gateway's certificate annotation needs cert-manager running.
    cert_manager: Sequence[pulumi.Resource] = ()
    # GatewayController.ready in gateway mode: what installs the Gateway API and Envoy Gateway CRDs.
    gateway_controller: Sequence[pulumi.Resource] = ()


class Ingress(pulumi.ComponentResource):
    """The HTTPS entry: an Ingress (plus a canary Ingress during a canary) or a Gateway with HTTPRoutes and Envoy
    Gateway's rate-limit and allowlist policies, and the policy that lets ACME http01 solvers be reached.

    Needs: the edge and network settings, the app's Services and ports (stable and canary during a canary),
    the canary weight, cert-manager (its release) and, in gateway mode, what installs the Gateway API CRDs.
    """

    url: pulumi.Output[str]
    api_url: pulumi.Output[str]
    # Where DNS for the host points: {"serviceType", "address" (IP or hostname; "" for any node's), "httpsPort"}.
    entry: pulumi.Output[dict]

    def __init__(self, name: str, args: IngressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:Ingress", name, None, opts)
        self._name = name
        self._args = args
        self._edge = args.edge
        if self._edge.mode == "ingress":
            self.entry = self._ingress()
        else:
            self.entry = self._gateway(list(args.cert_manager))
        self._acme_solver_policy()
        self.url = pulumi.Output.from_input(self._edge.url)
        self.api_url = pulumi.Output.from_input(f"{self._edge.url}/api")
        self.register_outputs({"url": self.url, "api_url": self.api_url, "entry": self.entry})

    def _acme_solver_policy(self) -> None:
        """cert-manager answers http01 challenges from solver pods in this namespace; the app
        namespace denies all ingress by default, so the controller must be let in to them."""
        if not self._edge.issuer.startswith("letsencrypt"):
            return
        kb.network_policy(
            f"{self._name}-netpol-acme-solver",
            "acme-http01-solver",
            self._args.namespace,
            {"acme.cert-manager.io/http01-solver": "true"},
            self._opts(),
            ingress=[
                {
                    "from": kb.edge_peers(self._edge.controller_namespace, self._args.network),
                    "ports": kb.tcp_ports(ACME_SOLVER_PORT),
                }
            ],
        )

    def _opts(self, **kwargs) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def _metadata(self, name: str, annotations: dict | None = None) -> dict:
        return kb.metadata(name, self._args.namespace, "edge", annotations)

    def _backends(self) -> list[tuple[str, pulumi.Input[str], pulumi.Input[int]]]:
        args = self._args
        return [("/api", args.api_service, args.api_port), ("/", args.web_service, args.web_port)]

    def _canary_backends(self) -> list[tuple[str, str, str, pulumi.Input[int]]]:
        """(path, stable Service, canary Service, port) per route, during a canary release."""
        services = self._args.canary_services
        return [("/api", *services["api"], self._args.api_port), ("/", *services["web"], self._args.web_port)]

    @property
    def _canary_weight(self) -> int:
        return self._args.canary_weight

    # --- Ingress mode ------------------------------------------------------------------------------

    def ingress_annotations(self) -> dict:
        """cert-manager plus the NGINX-family controller's real annotations; settings merge last."""
        edge = self._edge
        annotations = {
            "cert-manager.io/cluster-issuer": edge.issuer,
            f"{NGINX}/ssl-redirect": "true",
            f"{NGINX}/force-ssl-redirect": "true",
            f"{NGINX}/limit-rps": str(edge.rate_limit_rps),
            f"{NGINX}/proxy-body-size": edge.body_size,
        }
        if edge.allow_source_ranges:
            annotations[f"{NGINX}/whitelist-source-range"] = ",".join(edge.allow_source_ranges)
        return {**annotations, **edge.annotations}

    def _ingress(self) -> pulumi.Output[dict]:
        # During a canary the main Ingress must reach the stable track only: the plain Services select both
        # tracks, so the canary would get its share of the main Ingress's traffic on top of canary-weight.
        main = (
            [(path, stable, port) for path, stable, _canary, port in self._canary_backends()]
            if self._args.canary_services
            else self._backends()
        )
        ingress = self._ingress_object("ingress", INGRESS_NAME, self.ingress_annotations(), main)
        if self._args.canary_services:
            # NGINX-family canaries: another Ingress for the same host and path, marked canary. The api's takes
            # its weight; the web's only the header (WEIGHTED_PATHS).
            by_header = {
                f"{NGINX}/canary": "true",
                f"{NGINX}/canary-by-header": "canary",
                f"{NGINX}/canary-by-header-value": "true",
            }
            for path, _stable, canary_service, port in self._canary_backends():
                weighted = path in WEIGHTED_PATHS
                annotations = {**by_header, f"{NGINX}/canary-weight": str(self._canary_weight)} if weighted else by_header
                suffix = "canary" if weighted else "canary-web"
                self._ingress_object(f"ingress-{suffix}", f"{INGRESS_NAME}-{suffix}", annotations, [(path, canary_service, port)])
        # pulumi-kubernetes waits until the controller publishes the Ingress's address (provider/pkg/await/
        # ingress.go: status.loadBalancer.ingress), so the address is known once the Ingress is created.
        return ingress.status.apply(lambda status: entry_from_load_balancer("Ingress", status))

    def _ingress_object(self, suffix: str, name: str, annotations: dict, backends: list) -> k8s.networking.v1.Ingress:
        edge = self._edge
        paths = [
            {"path": path, "pathType": "Prefix", "backend": {"service": {"name": service, "port": {"number": port}}}}
            for path, service, port in backends
        ]
        return k8s.networking.v1.Ingress(
            f"{self._name}-{suffix}",
            metadata=self._metadata(name, annotations),
            spec={
                "ingressClassName": edge.class_name,
                "tls": [{"hosts": [edge.host], "secretName": edge.tls_secret}],
                "rules": [{"host": edge.host, "http": {"paths": paths}}],
            },
            opts=self._opts(),
        )

    # --- Gateway mode ------------------------------------------------------------------------------

    def _gateway(self, cert_manager: list[pulumi.Resource]) -> pulumi.Output[dict]:
        edge = self._edge
        proxy_service = pulumi.Output.concat(self._args.namespace, "-", GATEWAY_NAME)
        # The Gateway's own EnvoyProxy (GEP-1867 infrastructure.parametersRef, which Envoy Gateway honours:
        # gateway.envoyproxy.io docs "Customize EnvoyProxy"): stacks sharing a GatewayClass keep their own proxy.
        self._custom("proxy", ENVOY_API, "EnvoyProxy", GATEWAY_NAME, envoy_proxy_spec(edge.proxy, proxy_service))
        listeners = [
            {
                "name": "http",
                "protocol": "HTTP",
                "port": 80,
                "hostname": edge.host,
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            },
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": edge.host,
                "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": edge.tls_secret}]},
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            },
        ]
        infrastructure = {"parametersRef": {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": GATEWAY_NAME}}
        gateway = self._custom(
            "gateway",
            GATEWAY_API,
            "Gateway",
            GATEWAY_NAME,
            {"gatewayClassName": edge.class_name, "infrastructure": infrastructure, "listeners": listeners},
            # cert-manager watches Gateways and issues the HTTPS listener's certificate.
            annotations={"cert-manager.io/cluster-issuer": edge.issuer, **WAIT_FOR_PROGRAMMED},
            depends_on=cert_manager,
        )
        self._custom("route", GATEWAY_API, "HTTPRoute", ROUTE_NAME, self._route_spec("https", self._route_rules()))
        redirect = {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]}
        self._custom(
            "route-redirect", GATEWAY_API, "HTTPRoute", f"{ROUTE_NAME}-https-redirect", self._route_spec("http", [redirect])
        )
        self._envoy_policies()
        return self._proxy_entry(gateway, proxy_service)

    def _proxy_entry(self, gateway: pulumi.Resource, service_name: pulumi.Output[str]) -> pulumi.Output[dict]:
        """The address of the proxy Service Envoy Gateway made for the Gateway, read once the Gateway is programmed.

        The read's ID depends on the Gateway, so on a first preview it is unknown and the engine skips the read
        (pulumi/pulumi pkg/resource/deploy/step.go ReadStep.Apply: an unknown ID reads nothing in a preview).
        """
        namespace = self._edge.controller_namespace
        service_id = pulumi.Output.all(gateway.id, service_name).apply(lambda values: f"{namespace}/{values[1]}")
        service = k8s.core.v1.Service.get(f"{self._name}-entry", service_id, opts=self._opts())
        if self._edge.proxy.service_type == "NodePort":
            return service.spec.apply(entry_from_node_ports)
        return service.status.apply(lambda status: entry_from_load_balancer("LoadBalancer", status))

    def _route_rules(self) -> list[dict]:
        def prefix(path: str, headers: list | None = None) -> list[dict]:
            match: dict = {"path": {"type": "PathPrefix", "value": path}}
            if headers:
                match["headers"] = headers
            return [match]

        if not self._args.canary_services:
            return [
                {"matches": prefix(path), "backendRefs": [{"name": service, "port": port}], "filters": HSTS}
                for path, service, port in self._backends()
            ]
        rules = []
        weight = self._canary_weight
        for path, stable, canary_service, port in self._canary_backends():
            header = [{"type": "Exact", "name": "canary", "value": "true"}]
            canary_only = [{"name": canary_service, "port": port}]
            rules.append({"matches": prefix(path, header), "backendRefs": canary_only, "filters": HSTS})
            split = [
                {"name": stable, "port": port, "weight": 100 - weight},
                {"name": canary_service, "port": port, "weight": weight},
            ]
            stable_only = [{"name": stable, "port": port}]
            backends = split if path in WEIGHTED_PATHS else stable_only
            rules.append({"matches": prefix(path), "backendRefs": backends, "filters": HSTS})
        return rules

    def _route_spec(self, listener: str, rules: list) -> dict:
        return {
            "parentRefs": [{"name": GATEWAY_NAME, "sectionName": listener}],
            "hostnames": [self._edge.host],
            "rules": rules,
        }

    def _envoy_policies(self) -> None:
        """Rate limit and source allowlist: Gateway API has no standard for them; these are Envoy Gateway's."""
        edge = self._edge
        target = [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": ROUTE_NAME}]
        limit = {"requests": edge.rate_limit_rps, "unit": "Second"}
        # One bucket per client address (sourceCIDR type Distinct, which local rate limits support:
        # envoyproxy/gateway v1.8.2 internal/xds/translator/local_ratelimit.go), per Envoy replica. Without a
        # client selector the limit is one budget for all clients together. `rateLimit.type` is deprecated
        # (api/v1alpha1/ratelimit_types.go): `local` alone selects it.
        per_client = [
            {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": cidr}}], "limit": limit}
            for cidr in ("0.0.0.0/0", "::/0")
        ]
        self._custom(
            "rate-limit",
            ENVOY_API,
            "BackendTrafficPolicy",
            f"{ROUTE_NAME}-rate-limit",
            {"targetRefs": target, "rateLimit": {"local": {"rules": per_client}}},
        )
        if edge.allow_source_ranges:
            allow = {"action": "Allow", "principal": {"clientCIDRs": list(edge.allow_source_ranges)}}
            self._custom(
                "allowlist",
                ENVOY_API,
                "SecurityPolicy",
                f"{ROUTE_NAME}-allowlist",
                {"targetRefs": target, "authorization": {"defaultAction": "Deny", "rules": [allow]}},
            )

    def _custom(self, suffix: str, api_version: str, kind: str, name: str, spec: dict, *, annotations=None, depends_on=()):
        """A Gateway API or Envoy Gateway resource: it waits for the release that installs its CRD."""
        return k8s.apiextensions.CustomResource(
            f"{self._name}-{suffix}",
            api_version=api_version,
            kind=kind,
            metadata=self._metadata(name, annotations),
            spec=spec,
            opts=self._opts(depends_on=[*self._args.gateway_controller, *depends_on]),
        )


def envoy_proxy_spec(proxy: ProxySettings, service_name: pulumi.Input[str]) -> dict:
    """How Envoy Gateway runs the stack's proxy: its Service (type, a name of its own to read it back by), replicas
    and the envoy container's size (envoyproxy/gateway api/v1alpha1/envoyproxy_types.go KubernetesServiceSpec)."""
    # The shutdown-manager container has no field of its own: a strategic merge patch of the Deployment sizes it
    # (api/v1alpha1/envoyproxy_types.go KubernetesDeploymentSpec.Patch; containers merge by name).
    shutdown_manager = {"name": "shutdown-manager", "resources": proxy.shutdown_manager.as_k8s()}
    patch = {"type": "StrategicMerge", "value": {"spec": {"template": {"spec": {"containers": [shutdown_manager]}}}}}
    deployment = {"replicas": proxy.replicas, "container": {"resources": proxy.resources.as_k8s()}, "patch": patch}
    kubernetes = {"envoyService": {"type": proxy.service_type, "name": service_name}, "envoyDeployment": deployment}
    return {"provider": {"type": "Kubernetes", "kubernetes": kubernetes}}


def entry_from_load_balancer(service_type: str, status) -> dict:
    """The first address the load balancer publishes: an IP, or a hostname (AWS's load balancers have none)."""
    address = ""
    if status is not None and status.load_balancer is not None and status.load_balancer.ingress:
        first = status.load_balancer.ingress[0]
        address = first.ip or first.hostname or ""
    return {"serviceType": service_type, "address": address, "httpsPort": 443}


def entry_from_node_ports(spec) -> dict:
    """A NodePort Service is reached on every node's address, at the port Kubernetes allocated for 443."""
    https_ports = [port.node_port for port in (spec.ports or []) if port.port == 443] if spec is not None else []
    https_port = https_ports[0] if https_ports else 0
    return {"serviceType": "NodePort", "address": "", "httpsPort": https_port}


ENVOY_XDS_PORT = 18000  # the controller's xDS server the proxies connect to
ENVOY_WEBHOOK_PORT = 9443  # the controller's topology injector (a mutating webhook)
ENVOY_METRICS_PORT = 19001  # the controller's and each proxy's metrics
# Listener ports below 1024 run shifted by 10000 in the proxy (envoyproxy/gateway internal/gatewayapi/listener.go
# servicePortToContainerPort), so the proxy Service's 80 and 443 reach 10080 and 10443.
ENVOY_LISTENER_PORTS = (10080, 10443)


def envoy_gateway_flows(backend_ports: tuple[int, ...]) -> list[PodFlows]:
    """envoy-gateway-system at v1.8.2: the controller (charts/gateway-helm/templates/envoy-gateway-deployment.yaml,
    `control-plane: envoy-gateway`), its certgen Job (templates/certgen.yaml, `app: certgen`: it writes the TLS Secrets
    and patches the webhook) and the proxies it runs for each Gateway (internal/infrastructure/kubernetes/proxy/
    resource.go EnvoyAppLabel; in the controller's namespace by default)."""
    proxies = {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/managed-by": "envoy-gateway"}
    controller = {"control-plane": "envoy-gateway"}
    app_pods = {
        "namespaceSelector": {"matchLabels": {"ams.suresoft.com/tier": "app", **kb.part_of_labels()}},
        "podSelector": {},
    }
    anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
    return [
        PodFlows(
            "envoy-gateway",
            controller,
            webhook_ports=(ENVOY_WEBHOOK_PORT,),
            metrics_ports=(ENVOY_METRICS_PORT,),
            ingress=[{"from": [{"podSelector": {"matchLabels": proxies}}], "ports": kb.tcp_ports(ENVOY_XDS_PORT)}],
        ),
        PodFlows("envoy-gateway-certgen", {"app": "certgen"}),
        PodFlows(
            "envoy-proxy",
            proxies,
            api_server=False,
            metrics_ports=(ENVOY_METRICS_PORT,),
            # The clients: any address (the SecurityPolicy allowlist is Envoy's, per route).
            ingress=[{"from": anywhere, "ports": kb.tcp_ports(*ENVOY_LISTENER_PORTS)}],
            egress=[
                {"to": [{"podSelector": {"matchLabels": controller}}], "ports": kb.tcp_ports(ENVOY_XDS_PORT)},
                {"to": [app_pods], "ports": kb.tcp_ports(*backend_ports)},
            ],
        ),
    ]


@dataclass(frozen=True)
class GatewayControllerArgs:
    namespace: str  # where the controller runs (ams:ingress.controllerNamespace)
    class_name: str  # the GatewayClass it serves (ams:ingress.className)
    operators: OperatorPlacement  # what the stack's operator namespaces share
    sizes: EnvoyGatewaySizes  # the controller's and the certgen Job's resources
    # The ports the proxies reach pods on in the stacks' app namespaces: the api's, the web's and the ACME solver's.
    backend_ports: tuple[int, ...]


class GatewayController(pulumi.ComponentResource):
    """Envoy Gateway: the release that installs the Gateway API and Envoy Gateway CRDs, and its GatewayClass.

    A component of its own, created before cert-manager: cert-manager's controller exits at start when Gateway
    API support is on and the CRDs are missing (cert-manager pkg/controller/context.go buildClients), and the
    Ingress's routes and policies need the CRDs too. The gateway-helm chart keeps its CRDs in a `crds` subchart
    (envoyproxy/gateway charts/gateway-helm/charts/crds/crds/), installed with the release.
    """

    # What installs the Gateway API and Envoy Gateway CRDs (the release), and with it the GatewayClass.
    crds: list
    ready: list

    def __init__(self, name: str, args: GatewayControllerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:GatewayController", name, None, opts)
        # These two were children of the Ingress component "ams-edge"; the aliases keep their URNs' history.
        moved = pulumi.Alias(parent=pulumi.create_urn("ams-edge", "ams:index:Ingress"))
        namespace = OperatorNamespace(
            f"{name}-ns",
            OperatorNamespaceArgs(
                namespace=args.namespace, placement=args.operators, flows=envoy_gateway_flows(args.backend_ports)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        values = {
            "deployment": {"envoyGateway": {"resources": args.sizes.controller.as_k8s()}},
            "certgen": {"job": {"resources": args.sizes.certgen.as_k8s()}},
        }
        release = kb.helm_release(
            "ams-edge-envoy-gateway",
            ENVOY_GATEWAY_CHART,
            namespace.name,
            pulumi.ResourceOptions(parent=self, aliases=[moved]),
            values,
        )
        gateway_class = k8s.apiextensions.CustomResource(
            "ams-edge-gateway-class",
            api_version=GATEWAY_API,
            kind="GatewayClass",
            metadata={"name": args.class_name, "labels": kb.part_of_labels()},
            spec={"controllerName": ENVOY_CONTROLLER},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release], aliases=[moved]),
        )
        self.crds = [release]
        self.ready = [release, gateway_class]
        self.register_outputs({})
