"""Access: who may do what in each AMS namespace (the seed's Access column), and how much it may use.

Groups from the identity provider are bound to Kubernetes' built-in view/edit/admin ClusterRoles
per namespace; every namespace gets a ResourceQuota and a LimitRange sized from settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from .settings import AccessSettings

# At most `view` there: the monitoring namespace admits privileged pods (the node collectors), and its charts'
# ServiceAccounts read every Secret of the cluster (kube-prometheus-stack's operator, Grafana's sidecar). `edit` can
# run a pod under any ServiceAccount of its namespace (Kubernetes RBAC, "User-facing roles"): cluster-wide secrets
# and node root for whoever has it.
VIEW_ONLY_TIERS = ("monitoring",)


@dataclass(frozen=True)
class AccessArgs:
    access: AccessSettings
    namespaces: dict  # tier (app, data, monitoring) -> namespace name Output


class Access(pulumi.ComponentResource):
    """RoleBindings of the identity provider's groups per namespace, and a ResourceQuota and LimitRange each.

    Needs: the access settings and the namespaces (tier -> name) the stack creates.
    """

    def __init__(self, name: str, args: AccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("ams:index:Access", name, None, opts)
        access = args.access
        child = pulumi.ResourceOptions(parent=self)
        for tier, namespace in args.namespaces.items():
            for alias, granted in access.bindings.items():
                role = "view" if tier in VIEW_ONLY_TIERS else granted
                k8s.rbac.v1.RoleBinding(
                    f"{name}-{tier}-{alias}",
                    metadata={"name": f"ams-{alias}-{role}", "namespace": namespace, "labels": kb.part_of_labels()},
                    role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                    subjects=[{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": access.groups[alias]}],
                    opts=child,
                )
            kb.quota_and_limits(f"{name}-{tier}", namespace, access.quotas[tier], child)
        self.register_outputs({})
