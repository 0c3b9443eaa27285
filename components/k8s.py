"""Shared builders for Kubernetes objects, as plain camelCase dicts (the objects' own shape).

Every workload in the program takes its labels, security contexts, probes and network-policy
pieces from here, so the restricted Pod Security profile is written once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "ams"
# A UID/GID outside the range that images and hosts hand out to real users (checkov CKV_K8S_40).
RUN_AS = 10001
NAME_LABEL = "app.kubernetes.io/name"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class SecretKeyRef:
    """One key of one Kubernetes Secret, the only way secret values reach a container."""

    name: str
    key: str


@dataclass(frozen=True)
class ConnectionRefs:
    """Where the app finds each connection detail: a Secret key, or a plain (non-secret) value."""

    database_url: SecretKeyRef  # through PgBouncer
    database_read_url: SecretKeyRef  # the read replicas
    database_direct_url: SecretKeyRef  # the primary, for migrations
    redis_url: SecretKeyRef
    s3_access_key_id: SecretKeyRef
    s3_secret_access_key: SecretKeyRef
    s3_endpoint: str
    s3_bucket: str
    s3_region: str


@dataclass(frozen=True)
class Chart:
    """A pinned Helm chart: its name (or an oci:// reference), version and repository ("" for OCI).

    ``timeout`` is how long an install or upgrade may take before Helm gives up and, the release being
    atomic, rolls back: Helm's default, 300 s (pulumi-kubernetes provider/pkg/provider/helm_release.go
    `defaultTimeoutSeconds`), is too short for charts that provision volumes or run hook Jobs.
    """

    name: str
    version: str
    repo: str = ""
    release: str = ""  # the release name; the chart's name when empty
    timeout: int = 300


# Releases Helm keeps per chart: enough to roll back a few upgrades, without unbounded Secrets
# (maxHistory is unlimited unless set: pulumi-kubernetes helm_release.go).
HELM_MAX_HISTORY = 10


def helm_release(resource_name: str, chart: Chart, namespace, opts: pulumi.ResourceOptions, values: dict | None = None):
    """One Helm release, atomic (a failed install or upgrade rolls back). A namespace given as an Output is the
    program's own (an OperatorNamespace, which waits for its policies); a plain name is created by Helm if missing."""
    return k8s.helm.v3.Release(
        resource_name,
        name=chart.release or chart.name.rsplit("/", 1)[-1],
        chart=chart.name,
        version=chart.version,
        repository_opts={"repo": chart.repo} if chart.repo else None,
        namespace=namespace,
        create_namespace=not isinstance(namespace, pulumi.Output),
        atomic=True,
        timeout=chart.timeout,
        max_history=HELM_MAX_HISTORY,
        values=values or {},
        opts=opts,
    )


# Pod templates carry a digest of what their pods read from Secrets and ConfigMaps: a change of those
# changes the template, so the workload rolls (Kubernetes restarts nothing when a Secret changes).
CONFIG_HASH_ANNOTATION = "ams.suresoft.com/config-hash"


def content_hash(*parts: pulumi.Input) -> pulumi.Output[str]:
    """A short SHA-256 of the parts (secret or not). The digest of high-entropy secrets reveals nothing of
    them, so it is unsecreted: the render and `pulumi preview` show when it changes."""
    digest = pulumi.Output.all(*parts).apply(
        lambda values: hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]
    )
    return pulumi.Output.unsecret(digest)


def pod_template(labels: dict, config_hash: pulumi.Input[str] | None, spec: dict) -> dict:
    template: dict = {"metadata": {"labels": labels}, "spec": spec}
    if config_hash is not None:
        template["metadata"]["annotations"] = {CONFIG_HASH_ANNOTATION: config_hash}
    return template


def sized_volume(volume, size_key: str, class_key: str, **extra) -> dict:
    """A volume setting (size, storage_class) in the shape a chart or CRD wants; no class key for the default class."""
    return {**extra, size_key: volume.size, **({class_key: volume.storage_class} if volume.storage_class else {})}


def claim_spec(volume) -> dict:
    """A ReadWriteOnce PersistentVolumeClaim spec of a volume setting (size, storage_class)."""
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": volume.size}}}
    return {**spec, **({"storageClassName": volume.storage_class} if volume.storage_class else {})}


def selector_labels(name: str) -> dict:
    """The immutable subset of labels that Deployments, Services and policies select on."""
    return {NAME_LABEL: name, "app.kubernetes.io/part-of": PART_OF}


def pod_security_labels(enforce: str) -> dict:
    """Enforce `enforce`; always audit and warn at `restricted` so any exception stays visible."""
    return {
        "pod-security.kubernetes.io/enforce": enforce,
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/warn": "restricted",
    }


def part_of_labels() -> dict:
    return {"app.kubernetes.io/part-of": PART_OF, "app.kubernetes.io/managed-by": "pulumi"}


def labels(name: str, component: str) -> dict:
    return {**selector_labels(name), **part_of_labels(), "app.kubernetes.io/component": component}


def metadata(name: str, namespace, component: str, annotations: dict | None = None) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": labels(name, component)}
    if annotations:
        meta["annotations"] = annotations
    return meta


def service_account(resource_name: str, name: str, namespace, component: str, opts: pulumi.ResourceOptions):
    """A workload's own ServiceAccount, its token not mounted: none of these pods calls the Kubernetes API."""
    return k8s.core.v1.ServiceAccount(
        resource_name, metadata=metadata(name, namespace, component), automount_service_account_token=False, opts=opts
    )


def pod_security_context() -> dict:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict:
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, port: int, *, initial_delay: int, period: int, timeout: int = 3, failures: int = 3) -> dict:
    return {
        "httpGet": {"path": path, "port": port},
        "initialDelaySeconds": initial_delay,
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


SCRATCH_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
SCRATCH_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def env_from_secret(variable: str, ref: SecretKeyRef) -> dict:
    return {"name": variable, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def container(
    name: str,
    image: str,
    resources: dict,
    *,
    env: Iterable[dict] = (),
    ports: Iterable[tuple[str, int]] = (),
    command: Iterable[str] | None = None,
    liveness: dict | None = None,
    readiness: dict | None = None,
    lifecycle: dict | None = None,
) -> dict:
    """A container with the restricted security context, a writable /tmp and everything else read-only."""
    spec = {
        "name": name,
        "image": image,
        # Tags can be moved in a registry; Always makes the kubelet resolve them at every start.
        "imagePullPolicy": "Always",
        "securityContext": container_security_context(),
        "resources": resources,
        "volumeMounts": [SCRATCH_MOUNT],
    }
    if command:
        spec["command"] = list(command)
    if env:
        spec["env"] = list(env)
    if ports:
        spec["ports"] = [{"name": port_name, "containerPort": port, "protocol": "TCP"} for port_name, port in ports]
    if liveness:
        spec["livenessProbe"] = liveness
    if readiness:
        spec["readinessProbe"] = readiness
    if lifecycle:
        spec["lifecycle"] = lifecycle
    return spec


# For a container behind a Service: its endpoint is removed while it is sent SIGTERM, not before, so kube-proxy and
# the edge still route new requests to it for a moment; it keeps serving them for a few seconds first (Kubernetes
# "Termination of Pods"; the kubelet's own sleep action, KEP-3960, needs no sleep binary in the image).
DRAIN_FIRST = {"preStop": {"sleep": {"seconds": 5}}}


def pod_spec(service_account: str, containers: list[dict], *, restart_policy: str | None = None) -> dict:
    spec = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "securityContext": pod_security_context(),
        "containers": containers,
        "volumes": [SCRATCH_VOLUME],
    }
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    return spec


def topology_spread(pod_labels: dict, *, hard: bool) -> list[dict]:
    """Spread replicas over nodes (hard in prod) and, where nodes carry zone labels, over zones."""
    selector = {"matchLabels": pod_labels}
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule" if hard else "ScheduleAnyway",
            # Tainted nodes (control plane) would otherwise count as empty domains and block scheduling.
            "nodeTaintsPolicy": "Honor",
            "labelSelector": selector,
        },
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        },
    ]


def checkov_skips(reasons: dict[str, str]) -> dict:
    """checkov's in-manifest skip annotations; every skip carries its reason."""
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(sorted(reasons.items()), 1)}


def image_skips(*images) -> dict[str, str]:
    """CKV_K8S_43 wants digests; tag-pinned images are allowed by our settings, so say so where they are used.

    Images that are Outputs come from the Images component, which always pins them by digest.
    """
    if all(not isinstance(image, str) or "@sha256:" in image for image in images):
        return {}
    return {"CKV_K8S_43": "image pinned by an immutable release tag from stack settings; set a digest to pin by content"}


SECRET_ENV_SKIP = {
    "CKV_K8S_35": "the app reads DATABASE_URL, REDIS_URL and JWT secrets from its environment; they come only "
    "from secretKeyRef, never as plain values",
}


JOB_PROBE_SKIPS = {
    "CKV_K8S_8": "a run-to-completion Job has no liveness endpoint; activeDeadlineSeconds bounds it",
    "CKV_K8S_9": "a run-to-completion Job takes no traffic, so there is nothing to be ready for",
}


# --- NetworkPolicy pieces -------------------------------------------------------------------------


def from_namespace(namespace, pod_labels: dict | None = None) -> dict:
    peer = {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: namespace}}}
    if pod_labels:
        peer["podSelector"] = {"matchLabels": pod_labels}
    return peer


def from_pods(name: str) -> dict:
    return {"podSelector": {"matchLabels": selector_labels(name)}}


def tcp_ports(*ports: int) -> list[dict]:
    return [{"protocol": "TCP", "port": port} for port in ports]


# CoreDNS keeps kube-dns's label (kubernetes/kubernetes cluster/addons/dns/coredns/coredns.yaml.base).
KUBE_DNS = from_namespace("kube-system", {"k8s-app": "kube-dns"})
# prometheus-operator labels every Prometheus pod it creates with its name
# (prometheus-operator pkg/prometheus/server/operator.go): scrapes come from these pods only.
PROMETHEUS_PODS = {"app.kubernetes.io/name": "prometheus"}


def ip_blocks(cidrs: pulumi.Input) -> pulumi.Input[list]:
    """Peers by address. The API server's addresses are read from the cluster at deploy time: an Output."""
    if isinstance(cidrs, pulumi.Output):
        return cidrs.apply(ip_blocks)
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def dns_egress(extra_cidrs=()) -> dict:
    """kube-dns's pods, and resolvers elsewhere (NodeLocal DNSCache) when a cluster has them."""
    return {
        "to": [KUBE_DNS, *ip_blocks(extra_cidrs)],
        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
    }


def api_server_egress(cidrs, ports) -> dict:
    """To the Kubernetes API: an address, not a pod, so an ipBlock (ams:network.apiServer)."""
    return {"to": ip_blocks(cidrs), "ports": tcp_ports(*ports)}


def edge_peers(controller_namespace: str, network) -> list[dict]:
    """The ingress controller's pods; with a host-network controller, the nodes' addresses instead."""
    if network.ingress_controller_host_network:
        return ip_blocks(network.node_cidrs)
    return [from_namespace(controller_namespace)]


def prometheus_from(monitoring_namespace) -> dict:
    return from_namespace(monitoring_namespace, PROMETHEUS_PODS)


def network_policy(
    resource_name: str,
    name: str,
    namespace,
    pod_labels: dict | None,
    opts: pulumi.ResourceOptions,
    *,
    ingress: list | None = None,
    egress: list | None = None,
    selector: dict | None = None,
) -> k8s.networking.v1.NetworkPolicy:
    """A NetworkPolicy for the pods with ``pod_labels`` (None: every pod in the namespace), or ``selector``.

    Policies add up: a direction that a policy lists but leaves empty is denied unless another
    policy allows it, which is how a namespace's ``default-deny`` closes what the others do not open.
    """
    spec: dict = {"podSelector": selector or ({"matchLabels": pod_labels} if pod_labels else {})}
    spec["policyTypes"] = [kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return k8s.networking.v1.NetworkPolicy(
        resource_name,
        metadata={"name": name, "namespace": namespace, "labels": part_of_labels()},
        spec=spec,
        opts=opts,
    )


def quota_and_limits(prefix: str, namespace, quota, opts: pulumi.ResourceOptions) -> list[pulumi.Resource]:
    """A namespace's ResourceQuota (`quota.hard`) and LimitRange. A quota on requests rejects pods without them
    (kubernetes pkg/quota/v1/evaluator/core/pods.go): the LimitRange's defaults fill in for containers that set none."""
    limits = {"type": "Container", "defaultRequest": quota.default_request, "default": quota.default_limit}
    return [
        k8s.core.v1.ResourceQuota(
            f"{prefix}-quota",
            metadata={"name": "ams-quota", "namespace": namespace, "labels": part_of_labels()},
            spec={"hard": quota.hard},
            opts=opts,
        ),
        k8s.core.v1.LimitRange(
            f"{prefix}-limits",
            metadata={"name": "ams-limits", "namespace": namespace, "labels": part_of_labels()},
            spec={"limits": [limits]},
            opts=opts,
        ),
    ]


def baseline_policies(
    prefix: str, namespace, opts: pulumi.ResourceOptions, dns_cidrs=()
) -> list[k8s.networking.v1.NetworkPolicy]:
    """Every namespace starts closed: deny all traffic, then allow DNS lookups."""
    return [
        network_policy(f"{prefix}-netpol-default-deny", "default-deny", namespace, None, opts, ingress=[], egress=[]),
        network_policy(f"{prefix}-netpol-allow-dns", "allow-dns", namespace, None, opts, egress=[dns_egress(dns_cidrs)]),
    ]


def secret_names(containers: list[dict], volumes: list[dict]) -> set[str]:
    """The Secrets that containers read through env and volumes mount: what their pods wait for."""
    names = {
        env["valueFrom"]["secretKeyRef"]["name"]
        for container in containers
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }
    return names | {volume["secret"]["secretName"] for volume in volumes if "secret" in volume}


def job_await_options(active_deadline_seconds: int) -> dict:
    """Metadata annotations and resource options that make Pulumi's Job await match the Job itself.

    pulumi-kubernetes (provider/pkg/await/job.go) waits 10 minutes for a Job unless `customTimeouts` says
    otherwise, and keeps a failed Job on later runs unless `pulumi.com/replaceUnready` asks it to replace an
    unfinished one (provider/pkg/provider/provider.go `Diff`). Both follow the Job's own deadline here.
    """
    timeout = f"{active_deadline_seconds + JOB_START_MARGIN_SECONDS}s"
    return {
        "annotations": {"pulumi.com/replaceUnready": "true"},
        "custom_timeouts": pulumi.CustomTimeouts(create=timeout, update=timeout),
    }


# Scheduling and image pulls before a Job's pod starts count against Pulumi's timeout, not the Job's deadline.
JOB_START_MARGIN_SECONDS = 300


def merged_values(values: dict, overlay: Mapping) -> dict:
    """`values` with `overlay` merged in, mappings key by key (neither is changed)."""
    result = dict(values)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged_values(result[key], value)
        else:
            result[key] = value
    return result
