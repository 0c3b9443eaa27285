"""Ingress, GatewayController and Certificates built alone, from hand-made arguments."""

from __future__ import annotations

from components.edge.certificates import Certificates, CertificatesArgs
from components.edge.ingress import GatewayController, GatewayControllerArgs, Ingress, IngressArgs
from components.operator_namespace import ClusterNetwork, OperatorPlacement
from tests.components import build, changed, settings_of

OPERATORS = OperatorPlacement(
    network=ClusterNetwork(api_server_cidrs=["198.51.100.7/32"], api_server_ports=(443,)),
    quota=settings_of("prod").access.quotas["operators"],
)


def ingress(**changes) -> IngressArgs:
    stack = settings_of("prod")
    args = {
        "edge": stack.edge,
        "network": stack.network,
        "canary_weight": 10,
        "namespace": "team",
        "api_service": "api",
        "api_port": 8000,
        "web_service": "web",
        "web_port": 80,
        **changes,
    }
    return IngressArgs(**args)


def ingress_mode(**changes) -> IngressArgs:
    edge = settings_of("prod").edge.model_copy(
        update={"mode": "ingress", "class_name": "nginx", "controller_namespace": "ingress-nginx"}
    )
    return ingress(edge=edge, **changes)


def test_ingress_alone_routes_to_the_services_it_is_given():
    render, component = build(lambda: Ingress("e", ingress_mode()))
    paths = render.get("Ingress", "ams-ingress")["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"]) for p in paths] == [
        ("/api", "api", 8000),
        ("/", "web", 80),
    ]


def test_ingress_alone_during_a_canary_sends_the_main_route_to_stable():
    services = {"api": ("api-stable", "api-canary"), "web": ("web-stable", "web-canary")}
    render, _ = build(lambda: Ingress("e", ingress_mode(canary_services=services, canary_weight=25)))
    main = render.get("Ingress", "ams-ingress")["spec"]["rules"][0]["http"]["paths"]
    assert [p["backend"]["service"]["name"] for p in main] == ["api-stable", "web-stable"]
    canary = render.get("Ingress", "ams-ingress-canary")
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "25"


def test_gateway_controller_alone_installs_the_crds_and_class():
    sizes = settings_of("prod").edge.envoy_gateway
    args = GatewayControllerArgs(namespace="gw", class_name="eg", operators=OPERATORS, sizes=sizes, backend_ports=(8000,))
    render, controller = build(lambda: GatewayController("g", args))
    assert render.get("GatewayClass", "eg")["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert len(controller.ready) == 2
    # Its namespace is the program's: restricted, closed, and the proxies reach the app pods on the ports given.
    namespace = render.get("Namespace", "gw")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    proxy = render.get("NetworkPolicy", "envoy-proxy")["spec"]
    assert proxy["egress"][1]["ports"] == [{"protocol": "TCP", "port": 8000}]
    (release,) = [r for r in render.resources if r.type.endswith(":Release")]
    assert release.inputs["namespace"] == "gw" and release.inputs["createNamespace"] is False


def test_certificates_alone_scrape_cert_manager_only_with_monitoring():
    edge = settings_of("prod").edge
    for monitored in (False, True):
        render, _ = build(
            lambda m=monitored: Certificates("c", CertificatesArgs(edge=edge, monitoring_enabled=m, operators=OPERATORS))
        )
        values = next(r.inputs["values"] for r in render.resources if r.type.endswith(":Release"))
        assert ("prometheus" in values) is monitored
        assert {i["metadata"]["name"] for i in render.of_kind("ClusterIssuer")} == {
            "letsencrypt-prod",
            "letsencrypt-staging",
            "selfsigned",
        }
    no_install = changed(edge, install_cert_manager=False)
    render, certificates = build(
        lambda: Certificates("c", CertificatesArgs(edge=no_install, monitoring_enabled=False, operators=OPERATORS))
    )
    assert certificates.ready == [] and not any(r.type.endswith(":Release") for r in render.resources)
