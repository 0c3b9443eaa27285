"""Settings of the edge (`ams:ingress`): entry mode, host, TLS issuer, rate limit, access lists."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .validation import Node

MODES = ("ingress", "gateway")
ISSUERS = ("letsencrypt-prod", "letsencrypt-staging", "selfsigned")
DEFAULT_CONTROLLER_NAMESPACE = {"ingress": "ingress-nginx", "gateway": "envoy-gateway-system"}


@dataclass(frozen=True)
class EdgeSettings:
    mode: str
    class_name: str
    controller_namespace: str
    host: str
    tls_secret: str
    issuer: str
    acme_email: str
    create_issuers: bool
    rate_limit_rps: int
    body_size: str
    allow_source_ranges: tuple[str, ...]
    annotations: dict
    install_cert_manager: bool
    install_controller: bool

    @property
    def url(self) -> str:
        return f"https://{self.host}"


def parse_edge(node: Node) -> EdgeSettings:
    mode = node.string("mode", choices=MODES)
    controller_namespace = node.raw("controllerNamespace") or DEFAULT_CONTROLLER_NAMESPACE.get(mode, "")
    if not isinstance(controller_namespace, str):
        node.problems.add(node.key("controllerNamespace"), "must be a string")
        controller_namespace = ""
    elif node.value.get("controllerNamespace"):
        controller_namespace = node.dns_label("controllerNamespace")
    result = EdgeSettings(
        mode=mode,
        class_name=node.dns_label("className"),
        controller_namespace=controller_namespace,
        host=node.dns_name("host"),
        tls_secret=node.dns_label("tlsSecret"),
        issuer=node.string("issuer", choices=ISSUERS),
        acme_email=_email(node, "acmeEmail"),
        create_issuers=node.boolean("createIssuers"),
        rate_limit_rps=node.integer("rateLimitRps", minimum=1, maximum=100000),
        body_size=_body_size(node),
        allow_source_ranges=cidrs(node, "allowSourceRanges"),
        annotations=_annotations(node),
        install_cert_manager=node.boolean("installCertManager"),
        install_controller=node.boolean("installController"),
    )
    if mode == "ingress" and result.install_controller:
        node.problems.add(
            node.key("installController"),
            "only gateway mode installs a controller (ingress-nginx was retired in March 2026); "
            "bring a maintained Ingress controller, or use mode: gateway",
        )
    node.close()
    return result


def _email(node: Node, key: str) -> str:
    value = node.string(key)
    local, _, domain = value.partition("@")
    if value and not (local and "." in domain):
        node.problems.add(node.key(key), f"must be an email address, got {value!r}")
    return value


def _body_size(node: Node) -> str:
    value = node.string("bodySize")
    # nginx sizes: a number with an optional k or m suffix.
    if value and not (value[:-1].isdigit() and value[-1] in "km" or value.isdigit()):
        node.problems.add(node.key("bodySize"), f"must be a size like 50m or 512k, got {value!r}")
    return value


def cidrs(node: Node, key: str) -> tuple[str, ...]:
    values = node.str_list(key) if node.raw(key) else ()
    for value in values:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            node.problems.add(node.key(key), f"must be CIDR ranges like 10.20.0.0/16, got {value!r}")
    return values


def _annotations(node: Node) -> dict:
    value = node.raw("annotations") or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        node.problems.add(node.key("annotations"), "must map annotation names to string values")
        return {}
    return dict(value)
