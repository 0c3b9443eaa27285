"""The app namespace's NetworkPolicies: default deny, then the edge to the web and the api, Prometheus to the metrics
ports, the api, the worker and the migration to the data services, and the sidecars to istiod when Istio runs."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from .names import (
    API_NAME,
    ISTIO_METRICS_PORT,
    ISTIO_NAMESPACE,
    ISTIOD_XDS_PORT,
    MIGRATE_NAME,
    WEB_CONTAINER_PORT,
    WEB_METRICS_PORT,
    WEB_NAME,
    WORKER_NAME,
)


def network_policies(tier: str, args, opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
    """Default deny for the namespace, then only the flows the tiers need. `args` is the AppTier's; the policies are
    named after the tier `tier` and created with `opts` (its children)."""
    network = args.network
    namespace = args.namespace
    controller = kb.edge_peers(args.controller_namespace, network)
    to_data = list(args.data_egress)
    api_port = args.app.api.port
    worker_port = args.app.worker.health_port

    def scrape(port: int) -> list:
        if args.scraping is None:
            return []
        return [{"from": [kb.prometheus_from(args.scraping.namespace)], "ports": kb.tcp_ports(port)}]

    def policy(workload: str, *, ingress: list | None = None, egress: list | None = None) -> k8s.networking.v1.NetworkPolicy:
        name = f"{tier}-netpol-{workload.removeprefix('ams-')}"
        return kb.network_policy(name, workload, namespace, kb.selector_labels(workload), opts, ingress=ingress, egress=egress)

    policies = kb.baseline_policies(tier, namespace, opts, network.dns_cidrs)
    web_ingress = [{"from": controller, "ports": kb.tcp_ports(WEB_CONTAINER_PORT)}, *scrape(WEB_METRICS_PORT)]
    policies.append(policy(WEB_NAME, ingress=web_ingress))
    api_ingress = [{"from": controller, "ports": kb.tcp_ports(api_port)}, *scrape(api_port)]
    policies.append(policy(API_NAME, ingress=api_ingress, egress=to_data))
    policies.append(policy(WORKER_NAME, ingress=scrape(worker_port), egress=to_data))
    policies.append(policy(MIGRATE_NAME, egress=to_data))
    if args.delivery.istio_sidecars:
        # Sidecars fetch their configuration from istiod and serve merged metrics on 15020.
        to_istiod = [{"to": [kb.from_namespace(ISTIO_NAMESPACE)], "ports": kb.tcp_ports(ISTIOD_XDS_PORT)}]
        policies.append(
            kb.network_policy(
                f"{tier}-netpol-istio",
                "allow-istio-sidecars",
                namespace,
                None,
                opts,
                ingress=scrape(ISTIO_METRICS_PORT) or None,
                egress=to_istiod,
            )
        )
    return policies
