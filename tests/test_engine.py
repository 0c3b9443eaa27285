"""What the engine and the Kubernetes provider do with the render: update rules, awaits, first-deploy order.

Every check reads `resources.json` as `python -m tools.render` writes it (dependencies and resource options
included) for every stack and variant, and applies a rule from data, never per resource name.

Upstream rules relied on (pulumi/pulumi-kubernetes at 94977969d641, v4.32.0+27; we pin 4.34.2):
- provider/pkg/await/await.go `ssaUpdate`/`handleSSAIgnoreFields`: with `ignoreChanges: [spec.replicas]` a
  field the HPA controller owns through the scale subresource is dropped from the server-side apply patch;
  without it the update conflicts (pulumi-kubernetes issues 2491, 2569), and with force it resets the count.
- provider/pkg/await/job.go: a Job is awaited until Complete, `DefaultJobTimeoutMins = 10` unless
  `customTimeouts` says otherwise; provider/pkg/provider/provider.go `Diff`: `pulumi.com/replaceUnready`
  replaces a Job that is not Complete on the next update.
- provider/pkg/metadata/overrides.go `ReadyCondition`: custom resources are not awaited unless
  `pulumi.com/waitFor` says what to wait for (`condition=Ready`: await/condition/kubectl.go).
- provider/pkg/provider/helm_release.go: a Release waits for its resources (`skipAwait` false) and installs the
  chart's CRDs on install (`skipCrds` false), so depending on a Release means its CRDs and webhooks exist.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from tests.conftest import PROJECT_DIR, RENDERS

# The chart that installs each API group's CRDs, in the versions we pin (helper research, cited):
CRD_CHARTS = {
    # cert-manager/cert-manager deploy/charts/cert-manager/templates/crd-*.yaml (crds.enabled)
    "cert-manager.io": "cert-manager",
    "acme.cert-manager.io": "cert-manager",
    # cloudnative-pg/charts charts/cloudnative-pg/templates/crds/crds.yaml (crds.create)
    "postgresql.cnpg.io": "cloudnative-pg",
    # cloudnative-pg/charts charts/plugin-barman-cloud/templates/crds/crds.yaml
    "barmancloud.cnpg.io": "plugin-barman-cloud",
    # external-secrets/external-secrets deploy/charts/external-secrets/templates/crds/ (installCRDs)
    "external-secrets.io": "external-secrets",
    # prometheus-community/helm-charts charts/kube-prometheus-stack/charts/crds/crds/ (crds.enabled)
    "monitoring.coreos.com": "kube-prometheus-stack",
    # envoyproxy/gateway charts/gateway-helm/charts/crds/crds/ (Gateway API v1.5.1 and Envoy Gateway's own)
    "gateway.networking.k8s.io": "gateway-helm",
    "gateway.envoyproxy.io": "gateway-helm",
}
# Groups no release of ours installs: docs/first-deploy.md names them as prerequisites.
PREREQUISITE_GROUPS = {"networking.istio.io": "Istio"}

# Chart values that make a release render (or, for cert-manager, watch at start-up) another operator's kinds.
FOREIGN_KINDS = [
    # cloudnative-pg/charts charts/cloudnative-pg/templates/podmonitor.yaml
    ("cloudnative-pg", "monitoring.podMonitorEnabled", "monitoring.coreos.com"),
    # cert-manager deploy/charts/cert-manager/templates/servicemonitor.yaml, podmonitor.yaml
    ("cert-manager", "prometheus.servicemonitor.enabled", "monitoring.coreos.com"),
    ("cert-manager", "prometheus.podmonitor.enabled", "monitoring.coreos.com"),
    # cert-manager pkg/controller/context.go buildClients: without the Gateway API CRDs the controller exits
    ("cert-manager", "config.enableGatewayAPI", "gateway.networking.k8s.io"),
    ("cert-manager", "config.gatewayAPI.enabled", "gateway.networking.k8s.io"),
    # cloudnative-pg/charts charts/plugin-barman-cloud/templates/certificate-issuer.yaml: always an Issuer
    ("plugin-barman-cloud", None, "cert-manager.io"),
    # external-secrets deploy/charts/external-secrets/templates/servicemonitor.yaml, webhook-certificate.yaml
    ("external-secrets", "serviceMonitor.enabled", "monitoring.coreos.com"),
    ("external-secrets", "webhook.certManager.enabled", "cert-manager.io"),
    # grafana-community/helm-charts charts/loki/templates/monitoring/servicemonitor.yaml, rules/
    ("loki", "monitoring.serviceMonitor.enabled", "monitoring.coreos.com"),
    ("loki", "monitoring.rules.enabled", "monitoring.coreos.com"),
    # prometheus-community/helm-charts charts/kube-prometheus-stack/templates/prometheus-operator/certmanager.yaml
    ("kube-prometheus-stack", "prometheusOperator.admissionWebhooks.certManager.enabled", "cert-manager.io"),
]

# Objects pods reference that the program does not create, and where docs/first-deploy.md tells people to create them.
CREATED_OUTSIDE = {
    ("Secret", "ams-s3-external"): 'kubectl -n "$ns" create secret generic ams-s3-external',
}
POD_TEMPLATE_PATHS = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# Custom resources that name Secrets and ConfigMaps the operator reads when it acts on them.
CUSTOM_REFERENCES = {
    "Cluster": [
        ("Secret", "spec.bootstrap.initdb.secret.name"),
        ("ConfigMap", "spec.bootstrap.initdb.postInitApplicationSQLRefs.configMapRefs[].name"),
    ],
    "ObjectStore": [
        ("Secret", "spec.configuration.s3Credentials.accessKeyId.name"),
        ("Secret", "spec.configuration.s3Credentials.secretAccessKey.name"),
    ],
}


@cache
def resources(render: str, base) -> tuple[dict, ...]:
    return tuple(json.loads((base / "resources.json").read_text()))


@pytest.fixture(params=RENDERS)
def graph(request, render_dirs) -> Graph:
    return Graph(resources(request.param, render_dirs[request.param]))


class Graph:
    def __init__(self, registered: tuple[dict, ...]):
        self.resources = registered
        self.by_urn = {r["urn"]: r for r in registered}

    @cache  # noqa: B019 - one Graph per render, kept for the test session
    def waits_for(self, urn: str) -> frozenset[str]:
        """Every URN the engine creates before this one: dependencies, transitively."""
        seen: set[str] = set()
        pending = list(self.by_urn[urn]["dependencies"])
        while pending:
            current = pending.pop()
            if current not in seen:
                seen.add(current)
                pending.extend(self.by_urn.get(current, {}).get("dependencies", []))
        return frozenset(seen)

    def objects(self, kind: str | None = None) -> list[dict]:
        return [
            r
            for r in self.resources
            if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and (kind is None or r["inputs"]["kind"] == kind)
        ]

    def releases(self) -> dict[str, dict]:
        return {
            r["inputs"]["chart"].rsplit("/", 1)[-1]: r for r in self.resources if r["type"] == "kubernetes:helm.sh/v3:Release"
        }

    def creators(self, kind: str, name: str, namespace: str | None) -> list[dict]:
        found = []
        for r in self.objects():
            obj, meta = r["inputs"], r["inputs"].get("metadata", {})
            if obj["kind"] == kind and meta.get("name") == name and meta.get("namespace") == namespace:
                found.append(r)
            if kind == "Secret" and obj["kind"] == "ExternalSecret" and meta.get("namespace") == namespace:
                target = obj["spec"].get("target", {}).get("name") or meta.get("name")
                if target == name:
                    found.append(r)
        return found


def group_of(registration: dict) -> str:
    return registration["inputs"]["apiVersion"].rsplit("/", 1)[0] if "/" in registration["inputs"]["apiVersion"] else ""


def nested(value, path: str):
    """Values at a dotted path; `[]` walks every item of a list."""
    values = [value]
    for part in path.split("."):
        step = []
        for v in values:
            key = part.removesuffix("[]")
            item = v.get(key) if isinstance(v, dict) else None
            if item is None:
                continue
            step.extend(item if part.endswith("[]") and isinstance(item, list) else [item])
        values = step
    return values


def pod_references(pod: dict) -> set[tuple[str, str]]:
    refs = set()
    if pod.get("serviceAccountName"):
        refs.add(("ServiceAccount", pod["serviceAccountName"]))
    for secret in pod.get("imagePullSecrets", []):
        refs.add(("Secret", secret["name"]))
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for env in container.get("env", []):
            source = env.get("valueFrom", {})
            for kind, key in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                if key in source and not source[key].get("optional"):
                    refs.add((kind, source[key]["name"]))
        for env_from in container.get("envFrom", []):
            for kind, key in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                if key in env_from and not env_from[key].get("optional"):
                    refs.add((kind, env_from[key]["name"]))
    for volume in pod.get("volumes", []):
        sources = [volume, *volume.get("projected", {}).get("sources", [])]
        for source in sources:
            if "secret" in source and not source["secret"].get("optional"):
                refs.add(("Secret", source["secret"].get("secretName") or source["secret"].get("name")))
            if "configMap" in source and not source["configMap"].get("optional"):
                refs.add(("ConfigMap", source["configMap"]["name"]))
    return refs


def selects(selector: dict | None, labels: dict) -> bool:
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {
            "In": labels.get(key) in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def seconds(duration: str) -> int:
    """A Go duration as customTimeouts takes it: 1h30m, 45m, 900s."""
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, f"not a duration: {duration!r}"
    hours, minutes, secs = (int(p or 0) for p in parts.groups())
    return hours * 3600 + minutes * 60 + secs


# --- update semantics --------------------------------------------------------------------------------


def test_hpa_managed_deployments_leave_replicas_to_the_hpa(graph):
    targets = {
        (h["inputs"]["metadata"]["namespace"], h["inputs"]["spec"]["scaleTargetRef"]["name"]): h["inputs"]["spec"]["minReplicas"]
        for h in graph.objects("HorizontalPodAutoscaler")
    }
    assert targets, "every render autoscales api and worker"
    for deployment in graph.objects("Deployment"):
        meta = deployment["inputs"]["metadata"]
        key = (meta["namespace"], meta["name"])
        if key in targets:
            assert "spec.replicas" in deployment["ignoreChanges"], f"{meta['name']}: the HPA owns spec.replicas"
            assert deployment["inputs"]["spec"]["replicas"] == targets[key], f"{meta['name']}: starts at minReplicas"
        else:
            assert "spec.replicas" not in deployment["ignoreChanges"], f"{meta['name']}: no HPA, Pulumi owns replicas"


def test_jobs_are_replaced_when_unfinished_and_awaited_long_enough(graph):
    jobs = graph.objects("Job")
    assert jobs
    for job in jobs:
        meta, spec = job["inputs"]["metadata"], job["inputs"]["spec"]
        assert meta.get("annotations", {}).get("pulumi.com/replaceUnready") == "true", meta["name"]
        deadline = spec["activeDeadlineSeconds"]
        for operation in ("create", "update"):
            assert seconds(job["customTimeouts"].get(operation, "")) >= deadline, (meta["name"], operation)


def test_database_clusters_report_ready_to_what_waits_for_them(graph):
    for cluster in [r for r in graph.objects("Cluster") if group_of(r) == "postgresql.cnpg.io"]:
        # cloudnative-pg/cloudnative-pg api/v1/cluster_types.go: ConditionClusterReady = "Ready"
        assert cluster["inputs"]["metadata"]["annotations"]["pulumi.com/waitFor"] == "condition=Ready"
        assert seconds(cluster["customTimeouts"]["create"]) >= 20 * 60


# --- first deploy: what waits for what ---------------------------------------------------------------


def test_custom_resources_wait_for_the_release_that_installs_their_crd(graph):
    releases = graph.releases()
    checked = 0
    for resource in graph.objects():
        group = group_of(resource)
        if "." not in group or group.endswith(".k8s.io") and group != "gateway.networking.k8s.io":
            continue  # built-in API groups
        assert group in CRD_CHARTS or group in PREREQUISITE_GROUPS, f"unknown API group {group}: add its chart"
        chart = CRD_CHARTS.get(group)
        if chart in releases:
            checked += 1
            assert releases[chart]["urn"] in graph.waits_for(resource["urn"]), f"{resource['urn']} before {chart}"
    assert checked > 0


def test_charts_wait_for_the_operators_whose_kinds_they_render(graph):
    releases = graph.releases()
    for chart, path, group in FOREIGN_KINDS:
        release = releases.get(chart)
        if release is None or (path is not None and nested(release["inputs"].get("values", {}), path) != [True]):
            continue
        provider = releases.get(CRD_CHARTS[group])
        if provider is None:
            page = (PROJECT_DIR / "docs" / "first-deploy.md").read_text()
            assert group in page, f"{chart} needs {group} CRDs that this stack does not install; docs/first-deploy.md must say so"
        else:
            assert provider["urn"] in graph.waits_for(release["urn"]), f"{chart} ({path}) before {CRD_CHARTS[group]}"


def test_everything_a_pod_references_is_created_before_it(graph):
    page = (PROJECT_DIR / "docs" / "first-deploy.md").read_text()
    checked = 0
    for workload in graph.objects():
        obj = workload["inputs"]
        namespace = obj["metadata"].get("namespace")
        refs: set[tuple[str, str]] = set()
        if obj["kind"] in POD_TEMPLATE_PATHS:
            pod = obj
            for key in POD_TEMPLATE_PATHS[obj["kind"]]:
                pod = pod[key]
            refs = pod_references(pod)
        for kind, path in CUSTOM_REFERENCES.get(obj["kind"], []):
            refs |= {(kind, name) for name in nested(obj, path)}
        for kind, name in sorted(refs):
            if (kind, name) == ("ServiceAccount", "default"):
                continue  # the service account controller creates it in every namespace
            if (kind, name) in CREATED_OUTSIDE:
                assert CREATED_OUTSIDE[(kind, name)] in page
                continue
            creators = graph.creators(kind, name, namespace)
            assert creators, f"{obj['kind']}/{obj['metadata']['name']} uses {kind}/{name}, which nothing creates"
            assert any(c["urn"] in graph.waits_for(workload["urn"]) for c in creators), (
                f"{obj['kind']}/{obj['metadata']['name']} does not wait for {kind}/{name}"
            )
            checked += 1
    assert checked > 0


def test_the_migration_job_waits_for_the_database_and_its_network_path(graph):
    """The migration connects to the primary (`ams-db-rw`, the direct URL), not through the Pooler: it waits for the
    Cluster, and the api and the worker, which connect through the Pooler, wait for that too."""
    poolers = [r for r in graph.objects() if group_of(r) == "postgresql.cnpg.io" and r["inputs"]["kind"] == "Pooler"]
    for workload in graph.objects("Deployment"):
        if workload["inputs"]["metadata"]["labels"].get("app.kubernetes.io/component") in ("api", "worker"):
            waits = graph.waits_for(workload["urn"])
            assert all(pooler["urn"] in waits for pooler in poolers), f"{workload['name']} before the Pooler"
    clusters = [r for r in graph.objects() if group_of(r) == "postgresql.cnpg.io" and r["inputs"]["kind"] == "Cluster"]
    policies = graph.objects("NetworkPolicy")
    migrations = [
        j for j in graph.objects("Job") if j["inputs"]["metadata"]["labels"].get("app.kubernetes.io/component") == "migration"
    ]
    assert migrations and clusters
    for job in migrations:
        waits = graph.waits_for(job["urn"])
        namespace = job["inputs"]["metadata"]["namespace"]
        labels = job["inputs"]["spec"]["template"]["metadata"]["labels"]
        for database in clusters:
            assert database["urn"] in waits, f"{job['name']} before {database['name']}"
        for policy in policies:
            spec, policy_ns = policy["inputs"]["spec"], policy["inputs"]["metadata"]["namespace"]
            applies = policy_ns == namespace and selects(spec["podSelector"], labels)
            admits = any(
                selects(peer.get("podSelector"), labels)
                and (
                    policy_ns == namespace
                    if "namespaceSelector" not in peer
                    else selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": namespace})
                )
                for rule in spec.get("ingress", [])
                for peer in rule.get("from", [])
            )
            if applies or admits:
                assert policy["urn"] in waits, f"{job['name']} before NetworkPolicy {policy['name']}"


def test_moved_resources_alias_their_old_place(render_dirs):
    """The Envoy Gateway release and GatewayClass moved from the Ingress component into GatewayController;
    without an alias naming the old parent the engine would delete and recreate the controller."""
    graph = Graph(resources("prod", render_dirs["prod"]))
    # The mock monitor writes the root stack's type into its children's URNs; the engine leaves it out
    # (pulumi/pulumi pkg/resource/deploy/step_generator.go: a root-stack parent counts as no parent).
    ingress = next(r["urn"] for r in graph.resources if r["type"] == "ams:index:Ingress").replace("pulumi:pulumi:Stack$", "")
    children = [r for r in graph.resources if graph.by_urn.get(r["parent"], {}).get("type") == "ams:index:GatewayController"]
    # Its operator namespace is new (no old place); the release and the class moved.
    moved = [r for r in children if r["type"] != "ams:index:OperatorNamespace"]
    assert {r["type"] for r in moved} == {"kubernetes:helm.sh/v3:Release", "kubernetes:gateway.networking.k8s.io/v1:GatewayClass"}
    for resource in moved:
        assert json.dumps({"parent": ingress}) in resource["aliases"], resource["urn"]


DUPLICATE_NAMES = """
import pulumi_random as random
from tools import runner
runner.run_components(lambda: [random.RandomPassword("same", length=8), random.RandomPassword("same", length=8)])
"""


def test_the_runner_refuses_a_duplicate_urn_as_the_engine_does():
    """pulumi/pulumi pkg/resource/deploy/step_generator.go fails the update on a second resource with one URN
    (diag.GetDuplicateResourceURNError); the SDK's mock monitor accepts it, so the runner checks. In a process of its
    own: the failure surfaces from a pending registration, which would outlive this test."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", DUPLICATE_NAMES], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode != 0
    assert re.search(r"Duplicate resource URN 'urn:pulumi:test::ams::\S*RandomPassword::same'; try giving", result.stderr)
