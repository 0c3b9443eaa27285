"""DataTier built alone, from hand-made arguments (no app tier: its client pods are just labels here)."""

from __future__ import annotations

from components.data.tier import DataTier, DataTierArgs
from components.operator_namespace import ClusterNetwork, OperatorPlacement
from tests.components import build, settings_of

CLIENT = {"app.kubernetes.io/name": "reporting-job"}


def data_tier(stack: str, **changes) -> DataTierArgs:
    settings = settings_of(stack)
    args = {
        "data": settings.data,
        "secrets": settings.secrets,
        "network": settings.network,
        "api_server_cidrs": ["198.51.100.7/32"],
        "operators": OperatorPlacement(
            network=ClusterNetwork(["198.51.100.7/32"], (443,)), quota=settings.access.quotas["operators"]
        ),
        "names": settings.namespaces,
        "client_pods": [CLIENT],
        "scrape_namespace": None,
        "hard_spread": False,
        "namespace": settings.namespaces.data,
        "storage_namespace": settings.namespaces.storage,
        "app_namespace": settings.namespaces.app,
        **changes,
    }
    return DataTierArgs(**args)


def test_data_tier_alone_admits_exactly_the_clients_it_is_given():
    render, data = build(lambda: DataTier("d", data_tier("staging")))
    peers = [peer for rule in render.get("NetworkPolicy", "ams-redis")["spec"]["ingress"] for peer in rule["from"]]
    assert [p["podSelector"]["matchLabels"] for p in peers] == [CLIENT]
    assert render.get("Cluster", "ams-db")["spec"]["affinity"]["podAntiAffinityType"] == "preferred"
    assert data.connections.database_url.name == "ams-connection"
    # Without a Prometheus namespace: no monitors, no scrape rules.
    assert render.of_kind("PodMonitor") == []
    assert all(rule["ports"][0]["port"] != 9187 for rule in render.get("NetworkPolicy", "ams-db")["spec"]["ingress"])


def test_data_tier_alone_scrapes_when_given_a_prometheus_namespace():
    render, _ = build(lambda: DataTier("d", data_tier("staging", scrape_namespace="metrics", hard_spread=True)))
    monitors = {(m["metadata"]["namespace"], m["metadata"]["name"]) for m in render.of_kind("PodMonitor")}
    data = [("ams-staging-data", name) for name in ("ams-db", "ams-db-pooler-rw", "ams-redis")]
    # The operator's PodMonitor is the program's (the chart's would make the release wait for monitoring's CRDs).
    assert monitors == {*data, ("cnpg-system", "cloudnative-pg")}
    assert render.get("Cluster", "ams-db")["spec"]["affinity"]["podAntiAffinityType"] == "required"


def test_data_tier_alone_with_external_storage_runs_no_engine():
    render, data = build(lambda: DataTier("d", data_tier("prod", storage_namespace=None)))
    assert [s["metadata"]["name"] for s in render.of_kind("StatefulSet")] == ["ams-redis"]
    assert data.connections.s3_endpoint.startswith("https://")
