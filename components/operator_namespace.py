"""An operator's namespace, made by the program before the operator's release: Pod Security `restricted`, closed by
default, and open for exactly what the operator's pods need.

Helm's `create_namespace` makes a namespace with no labels and no policies, where every chart pod could run as
anything and reach anything. Each component that installs an operator (cert-manager, CloudNativePG and its Barman
Cloud plugin, Envoy Gateway, External Secrets) describes its pods' flows here; the release waits for the namespace
and its policies, since the namespace is an input of the release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from . import k8s as kb


@dataclass(frozen=True)
class ClusterNetwork:
    """What an operator namespace's policies name by address: the API server and extra DNS resolvers."""

    api_server_cidrs: pulumi.Input[list]
    api_server_ports: tuple[int, ...]
    dns_cidrs: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperatorPlacement:
    """What every operator namespace of a stack shares: the addresses its policies name, its quota and limits
    (ams:access.quotas.operators: `hard`, `default_request`, `default_limit`), and where Prometheus runs (None: nowhere)."""

    network: ClusterNetwork
    quota: object
    prometheus_namespace: str | None = None


@dataclass(frozen=True)
class PodFlows:
    """The flows of one group of an operator's pods, beyond DNS (every pod) and the API server (`api_server`)."""

    name: str  # the policy's name
    pods: dict  # a podSelector
    api_server: bool = True  # the pods call the API server (every controller and webhook does)
    webhook_ports: tuple[int, ...] = ()  # the API server calls these (admission webhooks, conversion)
    metrics_ports: tuple[int, ...] = ()  # Prometheus scrapes these, when there is a Prometheus
    ingress: list = field(default_factory=list)  # further NetworkPolicy ingress rules
    egress: list = field(default_factory=list)  # further NetworkPolicy egress rules


@dataclass(frozen=True)
class OperatorNamespaceArgs:
    namespace: str
    placement: OperatorPlacement
    flows: Sequence[PodFlows]


class OperatorNamespace(pulumi.ComponentResource):
    """A namespace for one operator's release: `restricted`, default deny, DNS, and each pod group's flows.

    Needs: the namespace's name, what the stack's operator namespaces share (OperatorPlacement) and the operator's flows.
    """

    name: pulumi.Output[str]  # the namespace's name, known once it and its policies exist: the release's namespace input

    def __init__(self, name: str, args: OperatorNamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:OperatorNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {**kb.part_of_labels(), "ams.suresoft.com/tier": "operators", **kb.pod_security_labels("restricted")}
        namespace = k8s.core.v1.Namespace(name, metadata={"name": args.namespace, "labels": labels}, opts=child)
        policy_opts = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        placement = args.placement
        policies = kb.baseline_policies(name, args.namespace, policy_opts, placement.network.dns_cidrs)
        for flows in args.flows:
            policies.append(self._policy(name, args, flows, policy_opts))
        # A pod created before its namespace's quota and limits would be admitted against neither: the release waits.
        limits = kb.quota_and_limits(name, args.namespace, placement.quota, policy_opts)
        prerequisites = [policy.id for policy in [*policies, *limits]]
        self.name = pulumi.Output.all(namespace.metadata, *prerequisites).apply(lambda _: args.namespace)
        self.register_outputs({"name": self.name})

    @staticmethod
    def _policy(name: str, args: OperatorNamespaceArgs, flows: PodFlows, opts: pulumi.ResourceOptions) -> pulumi.Resource:
        network = args.placement.network
        prometheus_namespace = args.placement.prometheus_namespace
        ingress = list(flows.ingress)
        if flows.webhook_ports:
            ingress.append({"from": kb.ip_blocks(network.api_server_cidrs), "ports": kb.tcp_ports(*flows.webhook_ports)})
        if flows.metrics_ports and prometheus_namespace:
            ingress.append({"from": [kb.prometheus_from(prometheus_namespace)], "ports": kb.tcp_ports(*flows.metrics_ports)})
        egress = list(flows.egress)
        if flows.api_server:
            egress.append(kb.api_server_egress(network.api_server_cidrs, network.api_server_ports))
        rules = {"ingress": ingress or None, "egress": egress or None}
        return kb.network_policy(
            f"{name}-netpol-{flows.name}", flows.name, args.namespace, None, opts, selector={"matchLabels": flows.pods}, **rules
        )


def internet(*ports: int) -> dict:
    """An egress rule to any address on these ports: for what is truly outside the cluster (ACME, Vault, S3)."""
    return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}], "ports": kb.tcp_ports(*ports)}
