"""A small evaluator of networking.k8s.io/v1 NetworkPolicy semantics, for the flow matrix tests.

Semantics (kubernetes/api networking/v1/types.go, and the "Network Policies" concept page):
- A pod is isolated for a direction only when some policy in its namespace selects it (`podSelector`) and
  lists that direction in `policyTypes` (absent: Ingress, plus Egress when the policy has `egress`).
  A connection needs both ends: the source's egress and the destination's ingress.
- An isolated direction allows what the union of the selecting policies' rules allows. A rule with no
  peers (`to`/`from` absent or empty) matches every peer; with no `ports` every port.
- A peer with `podSelector` only: pods of the policy's namespace; `namespaceSelector` only: every pod of
  the matching namespaces; both: the matching pods of the matching namespaces; `ipBlock`: addresses in
  `cidr` and not in `except`. Whether `ipBlock` matches pod IPs is left to the CNI, so here it matches
  only endpoints that are not pods (the API server, node addresses, the internet).
- A port is a number or a name (resolved against the destination pod's container ports), `protocol`
  defaults to TCP, `endPort` makes a range. Selectors take `matchLabels` and `matchExpressions`
  (In, NotIn, Exists, DoesNotExist); an empty selector matches everything.
- Pods on the host network are not subject to NetworkPolicy in common CNIs; they are endpoints with an IP.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    name: str
    namespace: str | None = None  # None: not a pod (an IP endpoint)
    labels: dict = field(default_factory=dict)
    ports: dict = field(default_factory=dict)  # container port name -> (number, protocol)
    ip: str | None = None  # for non-pod endpoints and host-network pods

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None and self.ip is None


def selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression["key"], expression["operator"], expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


class Cluster:
    """The rendered policies plus the namespaces' labels: answers whether a connection is allowed."""

    def __init__(self, policies: list[dict], namespace_labels: dict[str, dict]):
        self.policies = policies
        self.namespace_labels = namespace_labels

    def _namespace_labels(self, namespace: str) -> dict:
        return {"kubernetes.io/metadata.name": namespace, **self.namespace_labels.get(namespace, {})}

    @staticmethod
    def _types(policy: dict) -> list[str]:
        spec = policy["spec"]
        if "policyTypes" in spec:
            return spec["policyTypes"]
        return ["Ingress", *(["Egress"] if "egress" in spec else [])]

    def _selecting(self, pod: Endpoint, direction: str) -> list[dict]:
        if not pod.is_pod:
            return []
        return [
            p
            for p in self.policies
            if p["metadata"]["namespace"] == pod.namespace
            and direction in self._types(p)
            and selects(p["spec"].get("podSelector", {}), pod.labels)
        ]

    def _peer_matches(self, peer: dict, policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if other.is_pod or other.ip is None:
                return False
            address = ipaddress.ip_address(other.ip)
            block = peer["ipBlock"]
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(address in ipaddress.ip_network(cidr) for cidr in block.get("except") or [])
        if not other.is_pod:
            return False
        if "namespaceSelector" in peer:
            if not selects(peer["namespaceSelector"], self._namespace_labels(other.namespace)):
                return False
        elif other.namespace != policy_namespace:
            return False
        return "podSelector" not in peer or selects(peer["podSelector"], other.labels)

    @staticmethod
    def _port_matches(rule_ports: list | None, destination: Endpoint, port: int, protocol: str) -> bool:
        if not rule_ports:
            return True
        for entry in rule_ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            wanted = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):
                named = destination.ports.get(wanted)
                if named and named == (port, protocol):
                    return True
                continue
            if wanted <= port <= entry.get("endPort", wanted):
                return True
        return False

    def _allowed(self, pod: Endpoint, other: Endpoint, destination: Endpoint, port: int, protocol: str, direction: str) -> bool:
        selecting = self._selecting(pod, direction)
        if not selecting:
            return True
        rules_key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in selecting:
            for rule in policy["spec"].get(rules_key) or []:
                peers = rule.get(peers_key) or []
                if peers and not any(self._peer_matches(p, policy["metadata"]["namespace"], other) for p in peers):
                    continue
                if self._port_matches(rule.get("ports"), destination, port, protocol):
                    return True
        return False

    def allows(self, source: Endpoint, destination: Endpoint, port: int | str, protocol: str = "TCP") -> bool:
        if isinstance(port, str):
            port, protocol = destination.ports[port]
        egress = self._allowed(source, destination, destination, port, protocol, "Egress")
        ingress = self._allowed(destination, source, destination, port, protocol, "Ingress")
        return egress and ingress
