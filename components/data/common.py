"""What the data tier's components share: object names, ports and pod labels, and the builders of their Secrets,
StatefulSets, Services and PodMonitors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from .. import k8s as kb
from ..secret_store import SecretSource, Value, placeholder
from .settings import FIRST_CLUSTER, DataSettings

REDIS = "ams-redis"
S3 = "ams-s3"
S3_CREDENTIALS = f"{S3}-credentials"
POSTGRES_PORT = 5432
REDIS_PORT = 6379
REDIS_EXPORTER_PORT = 9121
S3_PORTS = {"seaweedfs": 8333, "minio": 9000}
HTTPS = 443
HTTP = 80
# CloudNativePG's instance manager serves its status on 8000 and metrics on 9187, PgBouncer's on 9127
# (cloudnative-pg pkg/specs/pods.go, pkg/management/pgbouncer/config/config.go).
CNPG_STATUS_PORT = 8000
CNPG_METRICS_PORT = 9187
PGBOUNCER_METRICS_PORT = 9127

# CloudNativePG labels every pod of a cluster `cnpg.io/cluster: <name>`, its instances `cnpg.io/podRole: instance`, its
# PgBouncer pods `cnpg.io/podRole: pooler` and its Jobs `cnpg.io/jobRole` (cloudnative-pg v1.30.0
# pkg/utils/labels_annotations.go, pkg/specs/pods.go, pkg/specs/pgbouncer/deployments.go, pkg/specs/jobs.go).
# The data namespace holds only the stack's clusters, so the NetworkPolicies select by role: a restored cluster
# beside the running one is covered without a policy changing while it starts.
DB_PODS = {"cnpg.io/podRole": "instance"}
POOLER_PODS = {"cnpg.io/podRole": "pooler"}
# Every pod of a database: its instances, its PgBouncer pods and the initdb, join and recovery Jobs.
DATABASE_POD_SELECTOR = {"matchExpressions": [{"key": "cnpg.io/cluster", "operator": "Exists"}]}
# The names the first cluster gave the data namespace's policies: they cover every cluster, and keep their names.
DB_POLICY = FIRST_CLUSTER
POOLER_POLICY = f"{FIRST_CLUSTER}-pooler-rw"


def pooler_name(cluster: str) -> str:
    """The Pooler (and its Service) of a cluster: PgBouncer in front of its primary."""
    return f"{cluster}-pooler-rw"


def instance_pods(cluster: str) -> dict:
    return {"cnpg.io/cluster": cluster, "cnpg.io/podRole": "instance"}


def pooler_pods(cluster: str) -> dict:
    return {"cnpg.io/poolerName": pooler_name(cluster)}


@dataclass(frozen=True)
class Monitoring:
    """The stack runs Prometheus: the components make PodMonitors, after the releases that install their CRD."""

    releases: Sequence[pulumi.Resource]  # kube-prometheus-stack's


def flat_layout_aliases(opts: pulumi.ResourceOptions | None) -> list[pulumi.Alias]:
    """The aliases of a resource that moved from the DataTier into one of its child components.

    The stacks were deployed when every resource of the data tier was the DataTier's own child. A resource's URN
    names its parents' types, so under a new parent it has a new URN, and the engine would create it anew and
    delete the old one: a replaced database, Redis or object storage. Naming the old parent (the DataTier, which
    now holds the component) lets the engine match each one to its state (pulumi/pulumi
    pkg/resource/deploy/step_generator.go, aliases), so nothing is replaced or deleted.
    """
    if opts is None or opts.parent is None:
        return []
    return [pulumi.Alias(parent=opts.parent)]


def host(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.svc.cluster.local"


def to_object_storage(mode: str, storage_namespace: str) -> dict:
    """An egress rule to the object storage: the engine's pods in their namespace, or HTTPS anywhere."""
    port = S3_PORTS.get(mode)
    if port is None:
        return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": kb.tcp_ports(HTTPS)}
    engine = kb.from_namespace(storage_namespace, kb.selector_labels(S3))
    return {"to": [engine], "ports": kb.tcp_ports(port)}


def to_restore_source(source: DataSettings.Postgres.RestoreSource) -> dict | None:
    """The egress rule to another stack's backups: its in-cluster engine's pods, or HTTPS anywhere; None without one."""
    if not source.endpoint:
        return None
    url = urlsplit(source.endpoint)
    port = url.port
    if port is None:
        port = HTTPS if url.scheme == "https" else HTTP
    if not source.storage_namespace:
        return {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": kb.tcp_ports(port)}
    engine = kb.from_namespace(source.storage_namespace, kb.selector_labels(S3))
    return {"to": [engine], "ports": kb.tcp_ports(port)}


def with_password(before: str, password: pulumi.Input[str] | None, remote_key: str, after: str) -> Value:
    """A value with a password inside (a URL, a config line): a secret Output, or an ExternalSecret template."""
    generated = None
    if password is not None:
        generated = pulumi.Output.concat(before, password, after)
    return Value(generated, template=before + placeholder(remote_key) + after, uses=(remote_key,))


def data_secret(
    source: SecretSource,
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    values: dict[str, Value],
    opts: pulumi.ResourceOptions,
    external_secrets: Sequence[pulumi.Resource],
    type_: str = "Opaque",
) -> pulumi.Resource:
    """One Secret of the data tier, generated or synced from Vault."""
    # An ExternalSecret needs the operator's CRDs; a plain Secret waits for nothing.
    if source.external:
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(external_secrets)))
    return source.secret(resource_name, name, namespace, values, opts, type_=type_, component="data")


def pod_monitor(
    resource_name: str,
    name: str,
    namespace: pulumi.Input[str],
    pods: dict,
    monitoring: Monitoring,
    opts: pulumi.ResourceOptions,
) -> pulumi.Resource:
    """A PodMonitor for the pods' port named `metrics`; it waits for the release that installs its CRD."""
    return k8s.apiextensions.CustomResource(
        resource_name,
        api_version="monitoring.coreos.com/v1",
        kind="PodMonitor",
        metadata=kb.metadata(name, namespace, "monitoring"),
        spec={"selector": {"matchLabels": pods}, "podMetricsEndpoints": [{"port": "metrics"}]},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(monitoring.releases))),
    )


def service_account(prefix: str, name: str, namespace: pulumi.Input[str], component: str, opts: pulumi.ResourceOptions):
    return kb.service_account(f"{prefix}-{name.removeprefix('ams-')}-sa", name, namespace, component, opts)


def service(
    prefix: str,
    name: str,
    namespace: pulumi.Input[str],
    component: str,
    ports: list,
    opts: pulumi.ResourceOptions,
    *,
    workload: str | None = None,
    headless: bool = False,
) -> pulumi.Resource:
    """A ClusterIP Service for the workload `name` (or `workload`), or its headless Service."""
    selected = name
    if workload is not None:
        selected = workload
    spec: dict = {"selector": kb.selector_labels(selected)}
    if headless:
        spec["clusterIP"] = "None"
        spec["publishNotReadyAddresses"] = True
    else:
        spec["ports"] = [{"name": port_name, "protocol": "TCP", "port": port, "targetPort": port} for port_name, port in ports]
        spec["type"] = "ClusterIP"
    return k8s.core.v1.Service(
        f"{prefix}-{name.removeprefix('ams-')}-service",
        metadata=kb.metadata(name, namespace, component),
        spec=spec,
        opts=opts,
    )


@dataclass(frozen=True)
class StatefulWorkload:
    """One single-replica StatefulSet with its volume claim: Redis, or the object storage engine."""

    name: str
    component: str
    namespace: pulumi.Input[str]
    containers: list
    volumes: list  # besides the scratch volume every pod has
    volume: object  # the data volume's settings (size, storage_class)
    images: Sequence[str]  # for checkov's image skips
    config_hash: pulumi.Input[str]
    # The component's Secrets in this namespace by name: the pods wait for those their containers and volumes name.
    secrets: dict[str, pulumi.Resource]
    # What else the pods read (ConfigMaps) and their namespace's NetworkPolicies: the pods start after them.
    needs: Sequence[pulumi.Resource]
    policies: Sequence[pulumi.Resource]


def stateful_set(prefix: str, workload: StatefulWorkload, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The StatefulSet, its ServiceAccount and headless Service, and the patch that resizes its claim."""
    name = workload.name
    account = service_account(prefix, name, workload.namespace, workload.component, opts)
    read = kb.secret_names(workload.containers, workload.volumes)
    secrets = [secret for secret_name, secret in workload.secrets.items() if secret_name in read]
    pod = kb.pod_spec(name, workload.containers)
    pod["volumes"] += workload.volumes
    skips = kb.image_skips(*workload.images)
    if any("env" in c and any("valueFrom" in e for e in c["env"]) for c in workload.containers):
        skips.update(kb.SECRET_ENV_SKIP)
    service(prefix, f"{name}-headless", workload.namespace, workload.component, [], opts, workload=name, headless=True)
    resource = f"{prefix}-{name.removeprefix('ams-')}"
    statefulset = k8s.apps.v1.StatefulSet(
        resource,
        metadata=kb.metadata(name, workload.namespace, workload.component, kb.checkov_skips(skips)),
        spec={
            "replicas": 1,
            "serviceName": f"{name}-headless",
            "selector": {"matchLabels": kb.selector_labels(name)},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": kb.pod_template(kb.labels(name, workload.component), workload.config_hash, pod),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": kb.claim_spec(workload.volume)}],
        },
        # volumeClaimTemplates are replace-only (pulumi-kubernetes provider/pkg/provider/diff.go; the API
        # server refuses to change them): the template sizes the claim once, the patch below resizes it.
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                depends_on=[account, *workload.needs, *secrets, *workload.policies], ignore_changes=["spec.volumeClaimTemplates"]
            ),
        ),
    )
    # A resize is an in-place update of the claim the StatefulSet made (data-<name>-0), where the
    # StorageClass allows expansion; the StatefulSet controller owns the field, so the patch forces it.
    k8s.core.v1.PersistentVolumeClaimPatch(
        f"{resource}-data-size",
        metadata={
            "name": f"data-{name}-0",
            "namespace": workload.namespace,
            "labels": kb.part_of_labels(),
            "annotations": {"pulumi.com/patchForce": "true"},
        },
        spec={"resources": {"requests": {"storage": workload.volume.size}}},
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[statefulset])),
    )
    return statefulset
