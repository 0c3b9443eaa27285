"""Ingress: HTTPS entry, routes, TLS, rate limits and access lists, in both modes on every stack."""

from __future__ import annotations

import pytest

from components.settings import SettingsError
from tests.conftest import INGRESS_MODE, STACKS, render_stack, stack_config, with_overrides
from tools import runner

HOSTS = {"dev": "ams-dev.suresoft.com", "staging": "ams-staging.suresoft.com", "prod": "ams.suresoft.com"}


_INGRESS_RENDERS: dict = {}


def render_mode(stack: str, mode: str) -> runner.Render:
    """The stack as it is (gateway mode, every stack's default) or in ingress mode."""
    if mode == "gateway":
        return render_stack(stack)
    if stack not in _INGRESS_RENDERS:
        _INGRESS_RENDERS[stack] = runner.run(stack, with_overrides(stack_config(stack), INGRESS_MODE))
    return _INGRESS_RENDERS[stack]


def test_every_cluster_stack_defaults_to_a_gateway_it_installs():
    """A bare cluster has no Ingress controller (ingress-nginx is retired and no stack installs one), so every
    cluster stack must serve its host through Envoy Gateway, which it installs, with its GatewayClass."""
    for stack in STACKS:
        rendered = render_stack(stack)
        charts = {r.inputs["chart"]: r.inputs for r in rendered.by_type("kubernetes:helm.sh/v3:Release")}
        assert charts["oci://docker.io/envoyproxy/gateway-helm"]["namespace"] == "envoy-gateway-system", stack
        assert rendered.get("GatewayClass", "eg")["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
        assert rendered.of_kind("Ingress") == [], stack
        assert rendered.get("Gateway", "ams-gateway")["spec"]["gatewayClassName"] == "eg", stack


def test_prod_ingress_matches_the_seed():
    prod = render_mode("prod", "ingress")
    ingress = prod.get("Ingress", "ams-ingress")
    assert ingress["metadata"]["namespace"] == "ams"
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["ams.suresoft.com"], "secretName": "ams-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "ams.suresoft.com"
    routes = [
        (p["path"], p["pathType"], p["backend"]["service"]["name"], p["backend"]["service"]["port"]["number"])
        for p in rule["http"]["paths"]
    ]
    assert routes == [("/api", "Prefix", "ams-api-service", 4000), ("/", "Prefix", "ams-web-service", 80)]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["cert-manager.io/cluster-issuer"] == "letsencrypt-prod"
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "100"
    assert "nginx.ingress.kubernetes.io/proxy-body-size" in annotations
    assert prod.outputs["url"] == "https://ams.suresoft.com"
    assert prod.outputs["apiUrl"] == "https://ams.suresoft.com/api"


@pytest.mark.parametrize("mode", ["ingress", "gateway"])
@pytest.mark.parametrize("stack", STACKS)
def test_both_modes_route_the_seed_paths_over_tls(stack, mode):
    rendered = render_mode(stack, mode)
    host = HOSTS[stack]
    assert rendered.outputs["url"] == f"https://{host}"
    # The seed's `rate-limit` annotation does not exist in any NGINX-family controller.
    annotations = {key for obj in rendered.objects for key in obj["metadata"].get("annotations", {})}
    assert "nginx.ingress.kubernetes.io/rate-limit" not in annotations
    if mode == "ingress":
        assert rendered.of_kind("Gateway") == [] and rendered.of_kind("HTTPRoute") == []
        return
    assert rendered.of_kind("Ingress") == []
    gateway = rendered.get("Gateway", "ams-gateway")
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    assert (listeners["http"]["port"], listeners["https"]["port"]) == (80, 443)
    assert listeners["https"]["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "ams-tls"}]
    assert gateway["spec"]["gatewayClassName"] == "eg"
    assert gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
    route = rendered.get("HTTPRoute", "ams")["spec"]
    assert route["parentRefs"] == [{"name": "ams-gateway", "sectionName": "https"}]
    paths = [(r["matches"][0]["path"]["value"], r["backendRefs"][0]["name"], r["backendRefs"][0]["port"]) for r in route["rules"]]
    assert paths == [("/api", "ams-api-service", 4000), ("/", "ams-web-service", 80)]
    # A Gateway adds no HSTS header of its own (an Ingress controller does): every HTTPS answer carries it.
    hsts = {"name": "Strict-Transport-Security", "value": "max-age=31536000"}
    assert all(rule["filters"][0]["responseHeaderModifier"]["set"] == [hsts] for rule in route["rules"])
    redirect = rendered.get("HTTPRoute", "ams-https-redirect")["spec"]
    assert redirect["parentRefs"] == [{"name": "ams-gateway", "sectionName": "http"}]
    assert redirect["rules"][0]["filters"][0]["requestRedirect"] == {"scheme": "https", "statusCode": 301}
    rate_limit = rendered.get("BackendTrafficPolicy", "ams-rate-limit")["spec"]["rateLimit"]
    assert "type" not in rate_limit, "rateLimit.type is deprecated (envoyproxy/gateway api/v1alpha1/ratelimit_types.go)"
    expected = {"requests": {"dev": 20, "staging": 50, "prod": 100}[stack], "unit": "Second"}
    # One budget per client address (both families), as docs/configuration.md promises, not one for all clients.
    assert rate_limit["local"]["rules"] == [
        {"clientSelectors": [{"sourceCIDR": {"type": "Distinct", "value": cidr}}], "limit": expected}
        for cidr in ("0.0.0.0/0", "::/0")
    ]


def test_issuers_match_the_mode_and_environment():
    issuers = {i["metadata"]["name"]: i["spec"] for i in render_mode("prod", "ingress").of_kind("ClusterIssuer")}
    assert set(issuers) == {"letsencrypt-prod", "letsencrypt-staging", "selfsigned"}
    assert issuers["letsencrypt-prod"]["acme"]["server"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert issuers["letsencrypt-prod"]["acme"]["solvers"] == [{"http01": {"ingress": {"ingressClassName": "nginx"}}}]
    assert issuers["letsencrypt-prod"]["acme"]["email"]
    gateway = {i["metadata"]["name"]: i["spec"] for i in render_mode("prod", "gateway").of_kind("ClusterIssuer")}
    (solver,) = gateway["letsencrypt-prod"]["acme"]["solvers"]
    # The solver route is created in each Certificate's namespace: without a namespace of its own, its parent is
    # that namespace's Gateway, so a guest stack's challenge does not go to the owner's (who made the issuers).
    assert solver["http01"]["gatewayHTTPRoute"]["parentRefs"] == [
        {"name": "ams-gateway", "kind": "Gateway", "sectionName": "http"}
    ]
    by_stack = {
        s: render_stack(s).get("Gateway", "ams-gateway")["metadata"]["annotations"]["cert-manager.io/cluster-issuer"]
        for s in STACKS
    }
    assert by_stack == {"dev": "selfsigned", "staging": "letsencrypt-staging", "prod": "letsencrypt-prod"}


def test_cert_manager_and_controller_installs():
    charts = {r.inputs["chart"]: r.inputs for r in render_stack("prod").by_type("kubernetes:helm.sh/v3:Release")}
    assert charts["cert-manager"]["values"]["crds"] == {"enabled": True}
    config = with_overrides(
        stack_config("prod"),
        {"ams:ingress.mode": "gateway", "ams:ingress.className": "eg", "ams:ingress.installController": True},
    )
    gateway = runner.run("prod", config)
    charts = {r.inputs["chart"]: r.inputs for r in gateway.by_type("kubernetes:helm.sh/v3:Release")}
    assert charts["oci://docker.io/envoyproxy/gateway-helm"]["namespace"] == "envoy-gateway-system"
    assert charts["cert-manager"]["values"]["config"]["gatewayAPI"] == {"enabled": True}
    assert gateway.get("GatewayClass", "eg")["spec"]["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    # The Envoy proxies live in the controller's namespace: it is the one allowed into web and api.
    web_policy = gateway.get("NetworkPolicy", "ams-web")["spec"]["ingress"][0]["from"][0]
    assert web_policy["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "envoy-gateway-system"


def test_staging_admits_only_qa_and_operations_networks():
    staging = render_mode("staging", "ingress").get("Ingress", "ams-ingress")["metadata"]["annotations"]
    assert staging["nginx.ingress.kubernetes.io/whitelist-source-range"] == "10.20.0.0/16,10.30.0.0/16"
    assert (
        "nginx.ingress.kubernetes.io/whitelist-source-range"
        not in render_mode("prod", "ingress").get("Ingress", "ams-ingress")["metadata"]["annotations"]
    )
    gateway = render_mode("staging", "gateway").get("SecurityPolicy", "ams-allowlist")["spec"]["authorization"]
    assert gateway["defaultAction"] == "Deny"
    assert gateway["rules"][0]["principal"]["clientCIDRs"] == ["10.20.0.0/16", "10.30.0.0/16"]


def test_settings_annotations_merge_last():
    config = with_overrides(
        stack_config("prod"),
        {**INGRESS_MODE, "ams:ingress.annotations": {"nginx.ingress.kubernetes.io/limit-rps": "250", "x/y": "z"}},
    )
    annotations = runner.run("prod", config).get("Ingress", "ams-ingress")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/limit-rps"] == "250" and annotations["x/y"] == "z"


@pytest.mark.parametrize(
    "overrides, path",
    [
        ({"ams:ingress.host": "AMS..suresoft.com"}, "ams:ingress.host"),
        ({"ams:ingress.host": "https://ams.suresoft.com"}, "ams:ingress.host"),
        ({"ams:ingress.mode": "istio"}, "ams:ingress.mode"),
        ({"ams:ingress.rateLimitRps": 0}, "ams:ingress.rateLimitRps"),
        ({"ams:ingress.rateLimitRps": "100r/s"}, "ams:ingress.rateLimitRps"),
        ({"ams:ingress.allowSourceRanges": ["10.0.0.1/8"]}, "ams:ingress.allowSourceRanges"),
        ({"ams:ingress.issuer": "letsencrypt"}, "ams:ingress.issuer"),
        ({"ams:ingress.acmeEmail": "devops"}, "ams:ingress.acmeEmail"),
        ({"ams:ingress.mode": "ingress", "ams:ingress.installController": True}, "ams:ingress.installController"),
        ({"ams:ingress.proxy.serviceType": "ClusterIP"}, "ams:ingress.proxy.serviceType"),
        ({"ams:ingress.proxy.replicas": 0}, "ams:ingress.proxy.replicas"),
        ({"ams:ingress.bodySize": "50 MB"}, "ams:ingress.bodySize"),
    ],
)
def test_bad_edge_settings_are_refused(overrides, path):
    registered: list = []
    with pytest.raises(SettingsError) as raised:
        runner.run("prod", with_overrides(stack_config("prod"), overrides), registered=registered)
    assert [p.split(": ", 1)[0] for p in raised.value.problems] == [path]
    assert registered == []


def test_acme_solvers_are_reachable_from_the_controller():
    policy = render_stack("prod").get("NetworkPolicy", "acme-http01-solver")["spec"]
    assert policy["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    (rule,) = policy["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8089}]
    assert rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "envoy-gateway-system"
    ingress_mode = render_mode("prod", "ingress").get("NetworkPolicy", "acme-http01-solver")["spec"]["ingress"][0]
    assert ingress_mode["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "ingress-nginx"
    # A self-signed certificate (dev) needs no challenge, so nothing is opened there.
    assert not [p for p in render_stack("dev").of_kind("NetworkPolicy") if p["metadata"]["name"] == "acme-http01-solver"]


def test_the_gateway_runs_its_own_envoy_proxy_as_the_stack_sizes_it():
    """envoyproxy/gateway internal/provider/kubernetes/controller.go processGatewayParamsRef: a Gateway's
    infrastructure.parametersRef names an EnvoyProxy in the Gateway's own namespace (no namespace field), which
    takes precedence over the class's. Its Service is named so that the program can read it back."""
    prod = render_stack("prod")
    gateway = prod.get("Gateway", "ams-gateway")
    reference = gateway["spec"]["infrastructure"]["parametersRef"]
    assert reference == {"group": "gateway.envoyproxy.io", "kind": "EnvoyProxy", "name": "ams-gateway"}
    proxy = prod.get("EnvoyProxy", reference["name"])
    assert proxy["metadata"]["namespace"] == gateway["metadata"]["namespace"] == "ams"
    kubernetes = proxy["spec"]["provider"]["kubernetes"]
    assert proxy["spec"]["provider"]["type"] == "Kubernetes"
    assert kubernetes["envoyService"] == {"type": "LoadBalancer", "name": "ams-ams-gateway"}
    assert kubernetes["envoyDeployment"]["replicas"] == 2
    assert kubernetes["envoyDeployment"]["container"]["resources"]["limits"]["memory"] == "1Gi"
    # pulumi-kubernetes provider/pkg/metadata/overrides.go ReadyCondition: `up` waits for Envoy Gateway to program it.
    assert gateway["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Programmed"


def test_the_stack_outputs_where_dns_points():
    """The entry's address comes from the proxy Service Envoy Gateway made (read after the Gateway is programmed):
    a LoadBalancer's IP or hostname, or on a cluster without one, the node port of 443 on every node."""
    prod = render_stack("prod")
    assert prod.outputs["entry"] == {"serviceType": "LoadBalancer", "address": "192.0.2.80", "httpsPort": 443}
    on_premises = runner.run("prod", with_overrides(stack_config("prod"), {"ams:ingress.proxy.serviceType": "NodePort"}))
    assert on_premises.get("EnvoyProxy", "ams-gateway")["spec"]["provider"]["kubernetes"]["envoyService"]["type"] == "NodePort"
    assert on_premises.outputs["entry"] == {"serviceType": "NodePort", "address": "", "httpsPort": 30443}
    ingress = render_mode("prod", "ingress").outputs["entry"]
    assert ingress == {"serviceType": "Ingress", "address": "", "httpsPort": 443}
