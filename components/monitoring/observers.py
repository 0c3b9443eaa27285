"""The way in for the people who run the stack: port-forwarding to Prometheus, Alertmanager and Grafana, and nothing else.

The monitoring namespace grants at most `view` (components/platform/access.py): its chart ServiceAccounts read every
Secret, so `edit` there would be cluster-wide. `view` can neither port-forward nor read Grafana's admin Secret. This Role
grants `pods/portforward` on exactly the three pods by name, which their StatefulSets keep fixed (prometheus-operator
pkg/prometheus/server/statefulset.go and pkg/alertmanager/statefulset.go name them `prometheus-<name>-<ordinal>` and
`alertmanager-<name>-<ordinal>`; Grafana runs as a StatefulSet, `useStatefulSet`, for the same reason). A port-forward
connects to 127.0.0.1 inside the pod's own network namespace, through the kubelet and the container runtime's streaming
server (kubernetes/kubernetes pkg/kubelet/server/streaming/server.go; issues 72488 and 72597), not through the pod
network: the NetworkPolicies that keep every other pod away from Grafana stay in force, and Grafana shows its dashboards
to anonymous viewers, who can only be Prometheus (its one admitted peer) and those port-forwarders.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb

OBSERVED_PODS = ("prometheus-kps-prometheus-0", "alertmanager-kps-alertmanager-0", "kube-prometheus-stack-grafana-0")
ROLE_NAME = "ams-observe"


def observer_access(resource_name: str, namespace, groups: Sequence[str], opts: pulumi.ResourceOptions) -> None:
    """The Role and, when any group is given, its RoleBinding to the identity provider's groups."""
    if not groups:
        return
    pods = list(OBSERVED_PODS)
    role = k8s.rbac.v1.Role(
        f"{resource_name}-observe",
        metadata=kb.metadata(ROLE_NAME, namespace, "monitoring"),
        rules=[
            # kubectl port-forward pod/NAME reads the pod, then opens the portforward subresource.
            {"apiGroups": [""], "resources": ["pods"], "resourceNames": pods, "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods/portforward"], "resourceNames": pods, "verbs": ["create"]},
        ],
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{resource_name}-observe-binding",
        metadata=kb.metadata(ROLE_NAME, namespace, "monitoring"),
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
        subjects=[{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": group} for group in groups],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
    )
