"""Istio routing for canary releases: a DestinationRule with version subsets and a VirtualService.

Requests with header `canary: "true"` go to the canary; the rest split by weight (the seed: 90/10).
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb

ISTIO_API = "networking.istio.io/v1"
HEADER = "canary"


def virtual_service_http(host: str, weight: int) -> list[dict]:
    return [
        {
            "name": "canary-by-header",
            "match": [{"headers": {HEADER: {"exact": "true"}}}],
            "route": [{"destination": {"host": host, "subset": "canary"}}],
        },
        {
            "name": "weighted",
            "route": [
                {"destination": {"host": host, "subset": "stable"}, "weight": 100 - weight},
                {"destination": {"host": host, "subset": "canary"}, "weight": weight},
            ],
        },
    ]


def istio_routing(
    resource_name: str, workload: str, service: str, namespace, weight: int, track_label: str, opts: pulumi.ResourceOptions
) -> None:
    def custom(suffix: str, kind: str, spec: dict) -> None:
        k8s.apiextensions.CustomResource(
            f"{resource_name}-{suffix}",
            api_version=ISTIO_API,
            kind=kind,
            metadata=kb.metadata(workload, namespace, "delivery"),
            spec=spec,
            opts=opts,
        )

    subsets = [{"name": track, "labels": {track_label: track}} for track in ("stable", "canary")]
    custom("destination-rule", "DestinationRule", {"host": service, "subsets": subsets})
    custom("virtual-service", "VirtualService", {"hosts": [service], "http": virtual_service_http(service, weight)})
