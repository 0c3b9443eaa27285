"""The three namespaces, labelled for Pod Security Admission."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..settings import Namespaces


@dataclass(frozen=True)
class CreatedNamespaces:
    app: k8s.core.v1.Namespace
    data: k8s.core.v1.Namespace
    monitoring: k8s.core.v1.Namespace
    storage: k8s.core.v1.Namespace | None  # only with in-cluster object storage

    def names(self) -> dict:
        """tier -> namespace name Output, for the namespaces this stack creates."""
        tiers = {"app": self.app, "data": self.data, "monitoring": self.monitoring, "storage": self.storage}
        return {tier: ns.metadata.name for tier, ns in tiers.items() if ns is not None}


def create_namespaces(
    names: Namespaces, *, istio_sidecars: bool, in_cluster_storage: bool, monitoring_enabled: bool
) -> CreatedNamespaces:
    """The tiers' namespaces; the storage one only where the object storage runs in the cluster."""

    def namespace(tier: str, name: str, enforce: str, extra_labels: dict | None = None, **opts) -> k8s.core.v1.Namespace:
        labels = {**kb.part_of_labels(), "ams.suresoft.com/tier": tier, **kb.pod_security_labels(enforce), **(extra_labels or {})}
        return k8s.core.v1.Namespace(f"ns-{tier}", metadata={"name": name, "labels": labels}, opts=pulumi.ResourceOptions(**opts))

    # Sidecars stay within `restricted` only with the Istio CNI agent (no istio-init container).
    mesh = {"istio-injection": "enabled"} if istio_sidecars else None
    return CreatedNamespaces(
        app=namespace("app", names.app, "restricted", mesh),
        # Deleting a namespace deletes its volumes. Prod protects every namespace (components/protection.py);
        # everywhere the data namespace outlives a rename or a destroy, and with it Redis's volume. PostgreSQL's
        # do not outlive its Cluster, their owner (cloudnative-pg pkg/reconciler/persistentvolumeclaim/build.go).
        data=namespace("data", names.data, "restricted", retain_on_delete=True),
        # Node-level collectors (node exporter, log shipper) need host paths and host networking,
        # which no stricter level admits; audit/warn stay at restricted to flag everything else. Without
        # monitoring nothing there needs it.
        monitoring=namespace("monitoring", names.monitoring, "privileged" if monitoring_enabled else "restricted"),
        # The object storage holds the app's objects and, outside prod, the database's backups: a namespace of
        # its own keeps them out of the failure domain they protect (a lost or renamed data namespace).
        storage=namespace("storage", names.storage, "restricted", retain_on_delete=True) if in_cluster_storage else None,
    )
