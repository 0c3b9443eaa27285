"""Properties every rendered object of every stack must have (DESIGN.md section 6, rung 2)."""

from __future__ import annotations

import json

import yaml

from components.validation import image_problem, parse_quantity
from tools import runner

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet")
CLUSTER_SCOPED = ("Namespace", "ClusterRole", "ClusterRoleBinding", "ClusterIssuer", "GatewayClass", "CustomResourceDefinition")


def pod_specs(rendered: runner.Render):
    for obj in rendered.objects:
        if obj["kind"] in WORKLOAD_KINDS:
            spec = obj["spec"]
            if obj["kind"] == "CronJob":
                spec = spec["jobTemplate"]["spec"]
            yield obj, spec["template"]["spec"]


def containers(rendered: runner.Render):
    for obj, pod in pod_specs(rendered):
        for container in pod.get("initContainers", []) + pod["containers"]:
            yield obj, pod, container


def test_every_stack_renders_workloads(rendered):
    kinds = {o["kind"] for o in rendered.objects}
    assert {"Namespace", "Deployment", "Service", "NetworkPolicy"} <= kinds


EXCEPTION = "ams.suresoft.com/pod-security-exception"


def exempt(obj: dict, rendered: runner.Render) -> bool:
    """Node-level collectors in the monitoring namespace may run as root, with a written reason."""
    meta = obj["metadata"]
    return bool(meta.get("annotations", {}).get(EXCEPTION)) and meta["namespace"] == rendered.outputs["namespaces"]["monitoring"]


def test_pods_run_restricted(rendered):
    for obj, pod in pod_specs(rendered):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        context = pod["securityContext"]
        assert context["seccompProfile"]["type"] == "RuntimeDefault", where
        if exempt(obj, rendered):
            continue
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] >= 10000, where
        assert pod["automountServiceAccountToken"] is False, where
        assert pod["serviceAccountName"] not in ("", "default"), where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(key), where


def test_exceptions_are_only_node_collectors(rendered):
    exempted = [o["metadata"]["name"] for o, _pod in pod_specs(rendered) if exempt(o, rendered)]
    assert exempted == (["ams-log-shipper"] if rendered.stack != "dev" else [])


def test_containers_run_restricted(rendered):
    for obj, _pod, container in containers(rendered):
        where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
        context = container["securityContext"]
        if not exempt(obj, rendered):
            assert context["runAsNonRoot"] is True and context["runAsUser"] >= 10000, where
        assert context["allowPrivilegeEscalation"] is False, where
        assert context["readOnlyRootFilesystem"] is True, where
        assert context["capabilities"]["drop"] == ["ALL"], where
        assert not context["capabilities"].get("add"), where
        assert context.get("privileged") is not True, where


def test_containers_have_requests_within_limits(rendered):
    for obj, _pod, container in containers(rendered):
        where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            request, limit = resources["requests"][kind], resources["limits"][kind]
            assert parse_quantity(request) <= parse_quantity(limit), where


def test_long_running_containers_have_probes(rendered):
    for obj, _pod, container in containers(rendered):
        if obj["kind"] in LONG_RUNNING:
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            assert "livenessProbe" in container and "readinessProbe" in container, where


def test_images_are_pinned(rendered):
    for obj, _pod, container in containers(rendered):
        assert image_problem(container["image"]) is None, f"{obj['metadata']['name']}: {container['image']}"


def test_objects_carry_standard_labels_and_namespaces(rendered):
    for obj in rendered.objects:
        meta = obj["metadata"]
        where = f"{obj['kind']}/{meta['name']}"
        assert meta["labels"]["app.kubernetes.io/part-of"] == "ams", where
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "pulumi", where
        if obj["kind"] not in CLUSTER_SCOPED:
            assert meta.get("namespace") not in (None, "", "default"), where
    for obj, _pod in pod_specs(rendered):
        template_labels = (obj["spec"].get("template") or {}).get("metadata", {}).get("labels", {})
        assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(template_labels), obj["metadata"]["name"]


def test_secrets_reach_containers_only_by_reference(rendered):
    sensitive = ("SECRET", "PASSWORD", "TOKEN", "DATABASE_URL", "REDIS_URL", "KEY")
    for obj, _pod, container in containers(rendered):
        for env in container.get("env", []):
            if any(word in env["name"] for word in sensitive):
                assert "value" not in env and "secretKeyRef" in env["valueFrom"], f"{obj['metadata']['name']}: {env['name']}"


# The keys of each Secret whose whole value is generated, so that the render shows nothing but the placeholder; the
# other keys hold generated values inside text (connection URLs, configuration files) or are not secret (user names).
GENERATED_WHOLE = {
    "ams-connection": {"s3-access-key-id", "s3-secret-access-key"},
    "ams-jwt": {"jwt-access-secret", "jwt-refresh-secret"},
    "ams-db-app": {"password"},
    "ams-redis": {"password"},
    "ams-s3-credentials": {"ACCESS_KEY_ID", "ACCESS_SECRET_KEY"},
    "ams-grafana-admin": {"admin-password"},
    "ams-alertmanager": set(),
}


def test_no_plain_text_secret_anywhere(rendered):
    """The mock's generated secret values must be redacted from manifests, resources and outputs."""
    texts = [
        yaml.safe_dump_all(rendered.objects),
        json.dumps([r.inputs for r in rendered.resources]),
        json.dumps(rendered.outputs),
    ]
    for text in texts:
        assert runner.MOCK_RANDOM_PREFIX not in text
    for secret in rendered.of_kind("Secret"):
        name = secret["metadata"]["name"]
        values = {**secret.get("stringData", {}), **secret.get("data", {})}
        whole = {key for key, value in values.items() if value == runner.SECRET}
        assert values and whole == GENERATED_WHOLE[name] & set(values), name


def test_namespaces_enforce_pod_security(rendered):
    tiers = [ns for ns in rendered.of_kind("Namespace") if ns["metadata"]["labels"]["ams.suresoft.com/tier"] != "operators"]
    enforce = {
        ns["metadata"]["labels"]["ams.suresoft.com/tier"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in tiers
    }
    # The operators' namespaces, made by the program before their releases (components/operator_namespace.py).
    operators = {
        ns["metadata"]["name"]: ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for ns in rendered.of_kind("Namespace")
        if ns["metadata"]["labels"]["ams.suresoft.com/tier"] == "operators"
    }
    assert operators == dict.fromkeys(("cert-manager", "cnpg-system", "envoy-gateway-system"), "restricted")
    in_cluster_storage = {"storage": "restricted"} if "storage" in rendered.outputs["namespaces"] else {}
    # `privileged` only where the node collectors run: with monitoring on.
    monitoring = (
        "privileged" if any(d["metadata"]["name"] == "ams-log-shipper" for d in rendered.of_kind("DaemonSet")) else "restricted"
    )
    assert enforce == {"app": "restricted", "data": "restricted", "monitoring": monitoring, **in_cluster_storage}
    for ns in rendered.of_kind("Namespace"):
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"


def test_multi_replica_workloads_have_disruption_budgets(rendered):
    budgets = {
        pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] for pdb in rendered.of_kind("PodDisruptionBudget")
    }
    for deployment in rendered.of_kind("Deployment"):
        if deployment["spec"]["replicas"] >= 2:
            assert deployment["metadata"]["name"] in budgets


def test_prod_protects_data(stack, rendered):
    data_namespace = next(r for r in rendered.resources if r.name == "ns-data")
    assert data_namespace.protect is (stack == "prod")
    # Everywhere a rename or a destroy leaves the data namespace (and its volumes) behind.
    assert data_namespace.retain_on_delete is True
