"""The log shipper: Fluent Bit on every Linux node, tailing every container's log file and sending it to Loki."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from .settings import MonitoringSettings

LOG_SHIPPER = "ams-log-shipper"
FLUENT_BIT_CONFIG = Path(__file__).parent / "fluent-bit.conf"
FLUENT_BIT_PORT = 2020
# The one pod that runs as root (policy/ams_policies.py admits it by this annotation, with its reason).
POD_SECURITY_EXCEPTION = "ams.suresoft.com/pod-security-exception"


@dataclass(frozen=True)
class LogShipper:
    settings: MonitoringSettings.ImageWorkload
    namespace: pulumi.Input[str]
    stack: str  # names its ClusterRole and host path, which two stacks on one cluster must not share
    loki_host: str
    loki_port: int


def log_shipper(name: str, args: LogShipper, loki: pulumi.Resource, opts: pulumi.ResourceOptions) -> None:
    """The DaemonSet, its config, ServiceAccount and read-only ClusterRole (children of `opts`' parent); the DaemonSet
    waits for Loki, where it sends the logs."""
    config = k8s.core.v1.ConfigMap(
        f"{name}-log-shipper-config",
        metadata=kb.metadata(LOG_SHIPPER, args.namespace, "logging"),
        data={"fluent-bit.conf": FLUENT_BIT_CONFIG.read_text()},
        opts=opts,
    )
    account = k8s.core.v1.ServiceAccount(
        f"{name}-log-shipper-sa", metadata=kb.metadata(LOG_SHIPPER, args.namespace, "logging"), opts=opts
    )
    # The kubernetes filter reads pod and namespace metadata to label each log line.
    k8s.rbac.v1.ClusterRole(
        f"{name}-log-shipper-role",
        metadata={"name": f"{LOG_SHIPPER}-{args.stack}", "labels": kb.part_of_labels()},
        rules=[{"apiGroups": [""], "resources": ["pods", "namespaces"], "verbs": ["get", "list", "watch"]}],
        opts=opts,
    )
    binding = k8s.rbac.v1.ClusterRoleBinding(
        f"{name}-log-shipper-binding",
        metadata={"name": f"{LOG_SHIPPER}-{args.stack}", "labels": kb.part_of_labels()},
        role_ref={
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": f"{LOG_SHIPPER}-{args.stack}",
        },
        subjects=[{"kind": "ServiceAccount", "name": LOG_SHIPPER, "namespace": args.namespace}],
        opts=opts,
    )
    container = kb.container(
        "fluent-bit",
        args.settings.image,
        args.settings.resources.as_k8s(),
        command=["/fluent-bit/bin/fluent-bit", "-c", "/fluent-bit/etc/fluent-bit.conf"],
        env=[{"name": "LOKI_HOST", "value": args.loki_host}, {"name": "LOKI_PORT", "value": str(args.loki_port)}],
        ports=[("http", FLUENT_BIT_PORT)],
        liveness=kb.http_probe("/", FLUENT_BIT_PORT, initial_delay=10, period=20),
        readiness=kb.http_probe("/api/v1/health", FLUENT_BIT_PORT, initial_delay=5, period=10),
    )
    # Container log files on the node belong to root (mode 0640): only root can read them. No
    # capability is needed for that, so all stay dropped; the root filesystem stays read-only.
    container["securityContext"].update({"runAsNonRoot": False, "runAsUser": 0, "runAsGroup": 0})
    container["volumeMounts"] += [
        {"name": "varlog", "mountPath": "/var/log", "readOnly": True},
        {"name": "state", "mountPath": "/var/lib/fluent-bit"},
        {"name": "config", "mountPath": "/fluent-bit/etc", "readOnly": True},
    ]
    pod = kb.pod_spec(LOG_SHIPPER, [container])
    pod["automountServiceAccountToken"] = True
    pod["securityContext"] = {"seccompProfile": {"type": "RuntimeDefault"}}
    pod["tolerations"] = [{"operator": "Exists"}]  # every node, control plane included
    pod["nodeSelector"] = {"kubernetes.io/os": "linux"}  # but a Windows node: the image and its paths are Linux's
    pod["volumes"] += [
        {"name": "varlog", "hostPath": {"path": "/var/log", "type": "Directory"}},
        {"name": "state", "hostPath": {"path": f"/var/lib/fluent-bit/{args.stack}", "type": "DirectoryOrCreate"}},
        {"name": "config", "configMap": {"name": LOG_SHIPPER}},
    ]
    reason = "reads root-owned container log files from the node's /var/log"
    skips = {
        **kb.image_skips(args.settings.image),
        "CKV_K8S_23": f"root is required: {reason}",
        "CKV_K8S_40": f"UID 0 is required: {reason}",
        "CKV_K8S_38": "the kubernetes filter reads pod metadata from the API (read-only ClusterRole)",
    }
    annotations = {**kb.checkov_skips(skips), POD_SECURITY_EXCEPTION: reason}
    k8s.apps.v1.DaemonSet(
        f"{name}-log-shipper",
        metadata=kb.metadata(LOG_SHIPPER, args.namespace, "logging", annotations),
        spec={
            "selector": {"matchLabels": kb.selector_labels(LOG_SHIPPER)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": kb.pod_template(kb.labels(LOG_SHIPPER, "logging"), kb.content_hash(FLUENT_BIT_CONFIG.read_text()), pod),
        },
        # Its pods read the config, and the API through the binding, from their first start.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[loki, config, account, binding])),
    )
