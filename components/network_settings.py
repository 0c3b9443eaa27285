"""Settings of what the NetworkPolicies assume about the cluster's network (`ams:network`).

NetworkPolicies name pods by label, but the API server, the nodes and host-network pods have only
addresses, which differ per cluster; so do DNS caches that listen outside kube-dns's pods.
"""

from __future__ import annotations

from dataclasses import dataclass

from .edge_settings import cidrs
from .validation import Node


@dataclass(frozen=True)
class NetworkSettings:
    # Where pods reach the Kubernetes API: the addresses and ports of its endpoints as the CNI sees them
    # after the kubernetes Service is resolved (`kubectl get endpointslices -l kubernetes.io/service-name=kubernetes`).
    api_server_cidrs: tuple[str, ...]
    api_server_ports: tuple[int, ...]
    # Extra DNS resolvers, e.g. NodeLocal DNSCache's link-local address (169.254.20.10/32).
    dns_cidrs: tuple[str, ...]
    # The nodes' addresses: Prometheus scrapes kubelets and node-exporter (host network) there.
    node_cidrs: tuple[str, ...]
    # A host-network ingress controller has node addresses, not pod labels: admit nodeCidrs to the edge ports.
    ingress_controller_host_network: bool


def parse_network(node: Node) -> NetworkSettings:
    api_server = node.child("apiServer")
    result = NetworkSettings(
        api_server_cidrs=cidrs(api_server, "cidrs"),
        api_server_ports=_ports(api_server, "ports"),
        dns_cidrs=cidrs(node, "dnsCidrs"),
        node_cidrs=cidrs(node, "nodeCidrs"),
        ingress_controller_host_network=node.boolean("ingressControllerHostNetwork"),
    )
    for required, key in ((result.api_server_cidrs, "cidrs"), (result.api_server_ports, "ports")):
        if not required:
            api_server.problems.add(api_server.key(key), "must list at least one entry")
    api_server.close()
    node.close()
    return result


def _ports(node: Node, key: str) -> tuple[int, ...]:
    value = node.raw(key)
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in value):
        node.problems.add(node.key(key), f"must be a list of ports (1-65535), got {value!r}")
        return ()
    return tuple(value)
