"""The NetworkPolicy evaluator behind the flow matrix implements the semantics it claims (tests/netpol.py)."""

from __future__ import annotations

import pytest

from tests.netpol import Cluster, Endpoint


def policy(namespace: str, pods: dict, *, ingress=None, egress=None, types=None) -> dict:
    spec: dict = {"podSelector": pods}
    if ingress is not None:
        spec["ingress"] = ingress
    if egress is not None:
        spec["egress"] = egress
    if types is not None:
        spec["policyTypes"] = types
    return {"metadata": {"namespace": namespace}, "spec": spec}


WEB = Endpoint("web", "app", {"app": "web"}, {"http": (8080, "TCP")})
API = Endpoint("api", "app", {"app": "api", "tier": "backend"}, {"http": (4000, "TCP")})
DB = Endpoint("db", "data", {"role": "db"}, {"pg": (5432, "TCP")})
OTHER = Endpoint("other", "default", {"app": "api"}, {})
APISERVER = Endpoint("apiserver", ip="10.0.0.1")
INTERNET = Endpoint("internet", ip="203.0.113.9")
DENY_ALL = [policy("app", {}, ingress=[], egress=[], types=["Ingress", "Egress"])]


def test_unselected_pods_are_open_in_both_directions():
    assert Cluster([], {}).allows(WEB, API, 4000)
    assert Cluster(DENY_ALL, {}).allows(OTHER, DB, 5432)


def test_a_policy_isolates_only_the_directions_it_lists():
    ingress_only = [policy("app", {}, ingress=[])]  # policyTypes absent: Ingress only
    cluster = Cluster(ingress_only, {})
    assert not cluster.allows(WEB, API, 4000)  # API's ingress is isolated
    assert cluster.allows(API, DB, 5432)  # egress untouched


def test_both_ends_must_allow():
    egress_open = policy("app", {"matchLabels": {"app": "web"}}, egress=[{}], types=["Egress"])
    cluster = Cluster([*DENY_ALL, egress_open], {})
    assert not cluster.allows(WEB, API, 4000)  # web may send, api may not receive
    api_in = policy(
        "app", {"matchLabels": {"app": "api"}}, ingress=[{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}]
    )
    assert Cluster([*DENY_ALL, egress_open, api_in], {}).allows(WEB, API, 4000)


@pytest.mark.parametrize(
    "peer, source, allowed",
    [
        ({"podSelector": {"matchLabels": {"app": "web"}}}, WEB, True),
        ({"podSelector": {"matchLabels": {"app": "api"}}}, OTHER, False),  # same labels, other namespace
        ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}}, OTHER, True),
        ({"namespaceSelector": {"matchLabels": {"team": "x"}}, "podSelector": {"matchLabels": {"app": "api"}}}, OTHER, True),
        ({"namespaceSelector": {"matchLabels": {"team": "y"}}, "podSelector": {"matchLabels": {"app": "api"}}}, OTHER, False),
        ({"namespaceSelector": {}}, OTHER, True),
        ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "x"]}]}}, WEB, True),
        ({"podSelector": {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}}, WEB, False),
        ({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "Exists"}]}}, WEB, False),
        ({"podSelector": {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}, WEB, True),
        ({"ipBlock": {"cidr": "0.0.0.0/0"}}, WEB, False),  # ipBlock does not match pods here
    ],
)
def test_peers(peer, source, allowed):
    api_in = policy("app", {"matchLabels": {"app": "api"}}, ingress=[{"from": [peer]}])
    cluster = Cluster([api_in], {"default": {"team": "x"}})
    assert cluster.allows(source, API, 4000) is allowed


@pytest.mark.parametrize(
    "ports, port, protocol, allowed",
    [
        ([{"port": 4000}], 4000, "TCP", True),
        ([{"port": 4000}], 4000, "UDP", False),
        ([{"protocol": "UDP", "port": 53}], 53, "UDP", True),
        ([{"port": "http"}], 4000, "TCP", True),  # named port of the destination
        ([{"port": "http"}], 8080, "TCP", False),
        ([{"port": 4000, "endPort": 4010}], 4005, "TCP", True),
        ([{"port": 4000, "endPort": 4010}], 4011, "TCP", False),
        ([{"protocol": "TCP"}], 1234, "TCP", True),
        (None, 1234, "UDP", True),
    ],
)
def test_ports(ports, port, protocol, allowed):
    rule: dict = {"from": [{"podSelector": {}}]}
    if ports is not None:
        rule["ports"] = ports
    cluster = Cluster([policy("app", {"matchLabels": {"app": "api"}}, ingress=[rule])], {})
    assert cluster.allows(WEB, API, port, protocol) is allowed


def test_ip_blocks_with_exceptions():
    egress = policy(
        "app",
        {"matchLabels": {"app": "api"}},
        egress=[{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}], "ports": [{"port": 443}]}],
        types=["Egress"],
    )
    cluster = Cluster([egress], {})
    assert cluster.allows(API, INTERNET, 443)
    assert not cluster.allows(API, APISERVER, 443)
    assert not cluster.allows(API, INTERNET, 80)
