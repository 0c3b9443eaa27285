"""DataPolicies: the data namespace's NetworkPolicies, default deny and then the flows the database, PgBouncer
and Redis need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from .. import k8s as kb
from ..settings import NetworkSettings
from .common import (
    CNPG_METRICS_PORT,
    CNPG_STATUS_PORT,
    DB_PODS,
    DB_POLICY,
    PGBOUNCER_METRICS_PORT,
    POOLER_PODS,
    POOLER_POLICY,
    POSTGRES_PORT,
    REDIS,
    REDIS_EXPORTER_PORT,
    REDIS_PORT,
    flat_layout_aliases,
)


@dataclass(frozen=True)
class DataPoliciesArgs:
    network: NetworkSettings
    # The API server's addresses (Cluster.api_server_cidrs), which the database's pods call.
    api_server_cidrs: pulumi.Input[list]
    namespace: pulumi.Input[str]
    # Where CloudNativePG's operator runs (ams:data.operators.namespace): it asks each instance's status port.
    operators_namespace: str
    # Policy peers for the app's pods that connect to the database and Redis.
    clients: Sequence[dict]
    # The egress rule to the object storage, where the database sends its backups and WAL.
    object_storage: dict
    # Where Prometheus runs; None without monitoring (no scrape rules).
    scrape_namespace: str | None
    # The egress rule to another stack's backups that a restore reads (common.to_restore_source); None without one.
    restore_source: dict | None = None


class DataPolicies(pulumi.ComponentResource):
    """Default deny, then the flows CloudNativePG, PgBouncer and Redis need.

    Pod labels and ports are CloudNativePG's (cloudnative-pg v1.30 pkg/specs/pods.go, jobs.go,
    pgbouncer/deployments.go); tests/data/flows.yaml lists every flow with its source.

    Needs: the network settings, the API server's addresses, the client peers, the object storage egress rule and
    Prometheus's namespace (or None). Gives: the policies, which the namespace's pods and clients wait for.
    """

    # Every policy of the data namespace: a pod started before them races them.
    policies: list

    def __init__(self, name: str, args: DataPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:DataPolicies", name, None, opts)
        self._name = name
        self._args = args
        # These were the DataTier's own children: see flat_layout_aliases.
        self._child = pulumi.ResourceOptions(parent=self, aliases=flat_layout_aliases(opts))
        self.policies = kb.baseline_policies(name, args.namespace, self._child, args.network.dns_cidrs)
        clients = list(args.clients)
        operator = kb.from_namespace(args.operators_namespace)
        db = {"podSelector": {"matchLabels": DB_PODS}}
        pooler = {"podSelector": {"matchLabels": POOLER_PODS}}
        join_jobs = {"podSelector": {"matchLabels": {"cnpg.io/jobRole": "join"}}}
        api_server = kb.api_server_egress(args.api_server_cidrs, args.network.api_server.ports)
        backups = [args.object_storage]
        if args.restore_source is not None:
            backups.append(args.restore_source)

        self._policy(
            "db",
            DB_POLICY,
            DB_PODS,
            ingress=[
                # Replication, and the primary's isolation check on every instance's status port
                # (cloudnative-pg pkg/management/postgres/webserver/probes/pinger.go), both ways.
                {"from": [db], "ports": kb.tcp_ports(POSTGRES_PORT, CNPG_STATUS_PORT)},
                {"from": [pooler, join_jobs, *clients], "ports": kb.tcp_ports(POSTGRES_PORT)},
                # The operator asks each instance's status port; it never opens SQL sessions.
                {"from": [operator], "ports": kb.tcp_ports(CNPG_STATUS_PORT)},
                *self._scrape(CNPG_METRICS_PORT),
            ],
            egress=[
                {"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT, CNPG_STATUS_PORT)},
                api_server,
                *backups,
            ],
        )
        # initdb and join Jobs carry cnpg.io/jobRole, not podRole: instance (cloudnative-pg pkg/specs/jobs.go).
        # Both talk to the API; join copies the primary with pg_basebackup.
        self._policy(
            "db-jobs",
            f"{DB_POLICY}-jobs",
            None,
            selector={"matchExpressions": [{"key": "cnpg.io/jobRole", "operator": "Exists"}]},
            egress=[{"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT)}, api_server, *backups],
        )
        self._policy(
            "db-pooler",
            POOLER_POLICY,
            POOLER_PODS,
            ingress=[{"from": clients, "ports": kb.tcp_ports(POSTGRES_PORT)}, *self._scrape(PGBOUNCER_METRICS_PORT)],
            egress=[{"to": [db], "ports": kb.tcp_ports(POSTGRES_PORT)}, api_server],
        )
        self._policy(
            "redis",
            REDIS,
            kb.selector_labels(REDIS),
            ingress=[{"from": clients, "ports": kb.tcp_ports(REDIS_PORT)}, *self._scrape(REDIS_EXPORTER_PORT)],
        )
        self.register_outputs({})

    def _scrape(self, *ports: int) -> list:
        """Prometheus's ingress rule to these ports; none without monitoring."""
        if self._args.scrape_namespace is None:
            return []
        return [{"from": [kb.prometheus_from(self._args.scrape_namespace)], "ports": kb.tcp_ports(*ports)}]

    def _policy(self, suffix: str, name: str, pods: dict | None, **rules) -> None:
        resource_name = f"{self._name}-netpol-{suffix}"
        self.policies.append(kb.network_policy(resource_name, name, self._args.namespace, pods, self._child, **rules))
