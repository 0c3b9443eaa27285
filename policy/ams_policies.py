"""The AMS guardrails as Pulumi policies (CrossGuard).

Every policy is a module-level object, so tests import this module and call each policy's
``validate`` directly; only ``policy/__main__.py`` builds the ``PolicyPack`` (which starts a gRPC
server and never returns).

What the policies read: ``args.props`` is the Kubernetes object as the program passed it
(camelCase, ``metadata``/``spec``), wrapped by the engine in read-only ``Mapping``/``Sequence``
proxies, so the code below uses ``Mapping`` access only and never ``isinstance(..., dict)``.

Resource policies run before each resource is created or updated. Stack policies
(``pod-disruption-budgets``, ``prod-data-protected``) see the whole stack, which the engine offers
only after ``pulumi up`` has applied it; ``pulumi preview`` on every pull request runs them before
anything changes.

Pod security exception: node-level collectors (node exporter, log shipper) need host access that the
restricted profile forbids. A workload is exempt from ``restricted-security-context`` only if BOTH
  * its ``metadata.namespace`` is a monitoring namespace (policy config ``monitoringNamespaces``,
    default: the monitoring namespace of every environment in components/environments.yaml), and
  * it carries the annotation ``ams.suresoft.com/pod-security-exception: <reason>`` with a
    non-empty reason, on the workload or on its pod template.
Every other policy still applies to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import (
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
STATEFULSET = "kubernetes:apps/v1:StatefulSet"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NAMESPACE = "kubernetes:core/v1:Namespace"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
CNPG_CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
CNPG_POOLER = "kubernetes:postgresql.cnpg.io/v1:Pooler"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"

# Where each workload type keeps its pod spec.
POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    DEPLOYMENT: ("spec", "template", "spec"),
    STATEFULSET: ("spec", "template", "spec"),
    DAEMONSET: ("spec", "template", "spec"),
    JOB: ("spec", "template", "spec"),
    CRONJOB: ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_TYPES = tuple(POD_SPEC_PATHS)
LONG_RUNNING_TYPES = (DEPLOYMENT, STATEFULSET, DAEMONSET)

TIER_LABEL = "ams.suresoft.com/tier"
EXCEPTION_ANNOTATION = "ams.suresoft.com/pod-security-exception"
DEFAULT_MONITORING_NAMESPACES = ("ams-monitoring", "ams-dev-monitoring", "ams-staging-monitoring")
# Pod Security "restricted" accepts RuntimeDefault and Localhost (a stricter, node-local profile).
ALLOWED_SECCOMP = ("RuntimeDefault", "Localhost")
SECRET_ENV_MARKERS = ("SECRET", "PASSWORD", "TOKEN", "KEY", "DATABASE_URL", "REDIS_URL")
PROD_STACK = "prod"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


# --- shared helpers -------------------------------------------------------------------------------


def get_path(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...``, or None where a step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def describe(resource_type: str, props: Mapping) -> str:
    """``Deployment ams/ams-api``: the kind and namespaced name, for violation messages."""
    kind = props.get("kind") or resource_type.rsplit(":", 1)[-1]
    namespace = get_path(props, "metadata", "namespace")
    name = get_path(props, "metadata", "name") or "<unnamed>"
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


def pod_spec(resource_type: str, props: Mapping) -> Mapping | None:
    path = POD_SPEC_PATHS.get(resource_type)
    spec = get_path(props, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def workload_containers(args: ResourceValidationArgs, *, init: bool = True) -> Iterator[tuple[str, Mapping]]:
    """(where, container) for every container (and init container) of a workload resource."""
    pod = pod_spec(args.resource_type, args.props)
    if pod is None:
        return
    what = describe(args.resource_type, args.props)
    groups = (("containers", "container"), ("initContainers", "init container")) if init else (("containers", "container"),)
    for field, label in groups:
        for container in pod.get(field) or ():
            yield f'{what}, {label} "{container.get("name", "?")}"', container


def stack_name(urn: str) -> str:
    """The stack of a URN ``urn:pulumi:<stack>::<project>::<type>::<name>``."""
    return urn.split("::", 1)[0].rsplit(":", 1)[-1]


# --- restricted-security-context ------------------------------------------------------------------


def _monitoring_namespaces(args: ResourceValidationArgs) -> tuple[str, ...]:
    configured = (args.get_config() or {}).get("monitoringNamespaces")
    return tuple(configured) if configured else DEFAULT_MONITORING_NAMESPACES


def _exception_reason(resource_type: str, props: Mapping) -> str | None:
    """The exception annotation on the workload or on its pod template (charts often set only one)."""
    template = POD_SPEC_PATHS[resource_type][:-1]
    for found in (get_path(props, "metadata", "annotations"), get_path(props, *template, "metadata", "annotations")):
        if found and EXCEPTION_ANNOTATION in found:
            return str(found[EXCEPTION_ANNOTATION] or "")
    return None


def _pod_security_exempt(args: ResourceValidationArgs, report: ReportViolation) -> bool:
    reason = _exception_reason(args.resource_type, args.props)
    if reason is None:
        return False
    what = describe(args.resource_type, args.props)
    if not reason.strip():
        report(f"{what}: annotation {EXCEPTION_ANNOTATION} needs a non-empty reason")
        return False
    namespace = get_path(args.props, "metadata", "namespace")
    allowed = _monitoring_namespaces(args)
    if namespace in allowed:
        return True
    report(f"{what}: annotation {EXCEPTION_ANNOTATION} is honoured only in a monitoring namespace ({', '.join(allowed)})")
    return False


def container_security_problems(pod_sc: Mapping, sc: Mapping) -> Iterator[str]:
    """What keeps one container from the restricted profile; container settings override the pod's."""
    if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
        yield "runAsNonRoot must be true (pod or container securityContext)"
    if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
        yield "runAsUser must not be 0"
    seccomp = get_path(sc, "seccompProfile", "type") or get_path(pod_sc, "seccompProfile", "type")
    if seccomp not in ALLOWED_SECCOMP:
        yield f"seccompProfile.type must be RuntimeDefault or Localhost (pod or container securityContext), got {seccomp}"
    if sc.get("allowPrivilegeEscalation") is not False:
        yield "allowPrivilegeEscalation must be false"
    if "ALL" not in (get_path(sc, "capabilities", "drop") or ()):
        yield "capabilities.drop must contain ALL"
    if sc.get("readOnlyRootFilesystem") is not True:
        yield "readOnlyRootFilesystem must be true"
    if sc.get("privileged") is True:
        yield "privileged must not be true"


def validate_restricted_security_context(args: ResourceValidationArgs, report: ReportViolation) -> None:
    pod = pod_spec(args.resource_type, args.props)
    if pod is None or _pod_security_exempt(args, report):
        return
    what = describe(args.resource_type, args.props)
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field) is True:
            report(f"{what}: {field} must not be true")
    pod_sc = pod.get("securityContext") or {}
    for where, container in workload_containers(args):
        for problem in container_security_problems(pod_sc, container.get("securityContext") or {}):
            report(f"{where}: {problem}")


# --- resource-requests-and-limits -----------------------------------------------------------------


def validate_requests_and_limits(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in workload_containers(args):
        resources = container.get("resources") or {}
        wanted = [(kind, name) for kind in ("requests", "limits") for name in ("cpu", "memory")]
        missing = [f"{kind}.{name}" for kind, name in wanted if not get_path(resources, kind, name)]
        if missing:
            report(f"{where}: missing resources {', '.join(missing)}")


# --- probes-on-long-running-containers ------------------------------------------------------------


def validate_probes(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in LONG_RUNNING_TYPES:
        return
    for where, container in workload_containers(args, init=False):
        missing = [probe for probe in ("livenessProbe", "readinessProbe") if not container.get(probe)]
        if missing:
            report(f"{where}: missing {' and '.join(missing)}")


# --- pinned-images --------------------------------------------------------------------------------


def image_problem(image: Any) -> str | None:
    """Why an image reference is not pinned, or None: a tag other than `latest`, or a sha256 digest."""
    if not image:
        return "has no image"
    if "@" in image:
        digest = image.split("@", 1)[1]
        return None if _DIGEST.fullmatch(digest) else f"image {image} has a malformed digest (want sha256:<64 hex>)"
    last = image.rsplit("/", 1)[-1]  # a registry port (host:5000/app) is not a tag
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    if not tag:
        return f"image {image} has no tag or digest"
    if tag == "latest":
        return f"image {image} uses the mutable tag latest"
    return None


def validate_pinned_images(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in workload_containers(args):
        problem = image_problem(container.get("image"))
        if problem:
            report(f"{where}: {problem}")


# --- prod-images-by-digest ------------------------------------------------------------------------


# The digest fields of the charts whose images prod pins by digest, and their form ("digest": sha256:<hex>; "hex": the
# hex digits, the template adds `@sha256:`). The program's table with the image references is
# components/platform/chart_images.py (the pack is deployed on its own, so it keeps the paths; tests/test_policy.py
# checks the two agree); the charts without a digest field are listed there, not here.
RELEASE_DIGEST_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "cert-manager": (
        ("image.digest", "digest"),
        ("webhook.image.digest", "digest"),
        ("cainjector.image.digest", "digest"),
        ("startupapicheck.image.digest", "digest"),
        ("acmesolver.image.digest", "digest"),
    ),
    "kube-prometheus-stack": (
        ("prometheus.prometheusSpec.image.sha", "hex"),
        ("alertmanager.alertmanagerSpec.image.sha", "hex"),
        ("prometheusOperator.image.sha", "hex"),
        ("prometheusOperator.prometheusConfigReloader.image.sha", "hex"),
        ("prometheusOperator.admissionWebhooks.patch.image.sha", "hex"),
        ("grafana.image.sha", "hex"),
        ("grafana.sidecar.image.sha", "hex"),
        ("kube-state-metrics.image.sha", "digest"),
        ("prometheus-node-exporter.image.digest", "digest"),
    ),
    "loki": (("loki.image.digest", "digest"), ("lokiCanary.image.digest", "digest"), ("sidecar.image.sha", "hex")),
}
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def validate_prod_images_by_digest(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """In prod a tag is not enough: a re-pushed tag would change production without a diff."""
    if stack_name(args.urn) != PROD_STACK:
        return
    images = [(where, container.get("image")) for where, container in workload_containers(args)]
    if args.resource_type == CNPG_CLUSTER:
        images.append((f"{describe(args.resource_type, args.props)}, imageName", get_path(args.props, "spec", "imageName")))
    if args.resource_type == CNPG_POOLER:
        # PgBouncer's pods: the image in the Pooler's pod template (without one, the operator picks its default by tag).
        containers = get_path(args.props, "spec", "template", "spec", "containers") or []
        where = describe(args.resource_type, args.props)
        images += [(f"{where}, container {c.get('name')!r}", c.get("image")) for c in containers if isinstance(c, Mapping)]
    for where, image in images:
        if not (isinstance(image, str) and "@" in image and _DIGEST.fullmatch(image.split("@", 1)[1])):
            report(f"{where}: image {image} must be pinned by digest in prod (<repo>:<tag>@sha256:<digest>)")
    if args.resource_type == HELM_RELEASE:
        chart = str(args.props.get("chart") or "").rsplit("/", 1)[-1]
        values = args.props.get("values") or {}
        for path, form in RELEASE_DIGEST_FIELDS.get(chart, ()):
            value = get_path(values, *path.split("."))
            wanted = _DIGEST if form == "digest" else _HEX_DIGEST
            if not (isinstance(value, str) and wanted.fullmatch(value)):
                shape = "sha256:<64 hex digits>" if form == "digest" else "<64 hex digits>"
                release = args.props.get("name") or args.name
                report(f"Release {release} ({chart}): values.{path} must be {shape} in prod, got {value!r}")


# --- no-plain-text-secret-env ---------------------------------------------------------------------


def validate_no_plain_text_secret_env(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for where, container in workload_containers(args):
        for entry in container.get("env") or ():
            name = str(entry.get("name", ""))
            if not any(marker in name.upper() for marker in SECRET_ENV_MARKERS):
                continue
            if "value" in entry:
                report(f"{where}: env {name} has a plain-text value; use valueFrom.secretKeyRef")
            elif not get_path(entry, "valueFrom", "secretKeyRef"):
                report(f"{where}: env {name} must come from valueFrom.secretKeyRef")


# --- pod-disruption-budgets (stack) ---------------------------------------------------------------


def _pdb_selectors(args: StackValidationArgs) -> list[tuple[Any, dict]]:
    found = []
    for resource in args.resources:
        if resource.resource_type == PDB:
            labels = get_path(resource.props, "spec", "selector", "matchLabels") or {}
            found.append((get_path(resource.props, "metadata", "namespace"), dict(labels)))
    return found


def validate_pod_disruption_budgets(args: StackValidationArgs, report: ReportViolation) -> None:
    selectors = _pdb_selectors(args)
    for resource in args.resources:
        if resource.resource_type not in (DEPLOYMENT, STATEFULSET):
            continue
        replicas = get_path(resource.props, "spec", "replicas")
        replicas = 1 if replicas is None else replicas
        if replicas < 2:
            continue
        namespace = get_path(resource.props, "metadata", "namespace")
        labels = dict(get_path(resource.props, "spec", "template", "metadata", "labels") or {})
        # A non-empty matchLabels that is a subset of the pod labels selects these pods.
        if not any(ns == namespace and sel and sel.items() <= labels.items() for ns, sel in selectors):
            what = describe(resource.resource_type, resource.props)
            report(f"{what}: {replicas:g} replicas but no PodDisruptionBudget in its namespace selects its pods", resource.urn)


# --- prod-data-protected (stack) ------------------------------------------------------------------


def _is_data_namespace(resource) -> bool:
    return resource.resource_type == NAMESPACE and get_path(resource.props, "metadata", "labels", TIER_LABEL) == "data"


def _holds_data(resource, data_namespaces: set) -> bool:
    if _is_data_namespace(resource) or resource.resource_type == CNPG_CLUSTER:
        return True
    in_data_namespace = get_path(resource.props, "metadata", "namespace") in data_namespaces
    return resource.resource_type in (PVC, STATEFULSET) and in_data_namespace


def validate_prod_data_protected(args: StackValidationArgs, report: ReportViolation) -> None:
    if not args.resources or stack_name(args.resources[0].urn) != PROD_STACK:
        return
    data_namespaces = {get_path(r.props, "metadata", "name") for r in args.resources if _is_data_namespace(r)}
    for resource in args.resources:
        if _holds_data(resource, data_namespaces) and not resource.opts.protect:
            what = describe(resource.resource_type, resource.props)
            report(f"{what}: prod data must be protected (ResourceOptions(protect=True))", resource.urn)


# --- the policies ---------------------------------------------------------------------------------

restricted_security_context = ResourceValidationPolicy(
    name="restricted-security-context",
    description=(
        "Workloads meet Pod Security 'restricted': runAsNonRoot, seccomp RuntimeDefault, no privilege escalation, "
        "all capabilities dropped, read-only root filesystem, not privileged, no host namespaces. Exception: "
        f"monitoring-namespace workloads annotated {EXCEPTION_ANNOTATION} with a reason."
    ),
    validate=validate_restricted_security_context,
    config_schema=PolicyConfigSchema(
        properties={
            "monitoringNamespaces": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(DEFAULT_MONITORING_NAMESPACES),
                "description": f"Namespaces where the {EXCEPTION_ANNOTATION} annotation is honoured.",
            }
        }
    ),
)

resource_requests_and_limits = ResourceValidationPolicy(
    name="resource-requests-and-limits",
    description="Every container sets cpu and memory requests and limits.",
    validate=validate_requests_and_limits,
)

probes_on_long_running_containers = ResourceValidationPolicy(
    name="probes-on-long-running-containers",
    description="Every container of a Deployment, StatefulSet or DaemonSet has a liveness and a readiness probe.",
    validate=validate_probes,
)

pinned_images = ResourceValidationPolicy(
    name="pinned-images",
    description="Every container image is pinned by a tag other than latest or by a sha256 digest.",
    validate=validate_pinned_images,
)

prod_images_by_digest = ResourceValidationPolicy(
    name="prod-images-by-digest",
    description=(
        "In prod every container image and the PostgreSQL operand run by sha256 digest, and the Helm releases set their "
        "charts' digest fields."
    ),
    validate=validate_prod_images_by_digest,
)

no_plain_text_secret_env = ResourceValidationPolicy(
    name="no-plain-text-secret-env",
    description=f"Env vars named like a secret ({', '.join(SECRET_ENV_MARKERS)}) come from valueFrom.secretKeyRef, never value.",
    validate=validate_no_plain_text_secret_env,
)

pod_disruption_budgets = StackValidationPolicy(
    name="pod-disruption-budgets",
    description="Every Deployment or StatefulSet with 2+ replicas has a PodDisruptionBudget in its namespace selecting its pods.",
    validate=validate_pod_disruption_budgets,
)

prod_data_protected = StackValidationPolicy(
    name="prod-data-protected",
    description=(
        "In the prod stack the data namespace, CloudNativePG Clusters, and PersistentVolumeClaims and StatefulSets in the "
        "data namespace are protected (protect=True)."
    ),
    validate=validate_prod_data_protected,
)

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    restricted_security_context,
    resource_requests_and_limits,
    probes_on_long_running_containers,
    pinned_images,
    prod_images_by_digest,
    no_plain_text_secret_env,
]
STACK_POLICIES: list[StackValidationPolicy] = [pod_disruption_budgets, prod_data_protected]
POLICIES = [*RESOURCE_POLICIES, *STACK_POLICIES]
