"""Chart admission: every pod of every stack and variant, the Helm releases' with the program's own, admitted in its namespace
as the API server admits it: LimitRange defaults and bounds, the quota's required requests and limits, and ResourceQuota
totals at the install and rollout peak (DESIGN.md section 6, rung 7; issue 20 part 6).

The releases are rendered by tools/helm.py (Helm v3 from requirements-helm.txt, the vendored chart sources in
`../shared/conformance/charts`, cached per session: test_charts.py's renders are reused), the rules are tools/admission.py's
(its docstring cites kubernetes/kubernetes for each: pkg/apis/core/v1/defaults.go, plugin/pkg/admission/limitranger/
admission.go, pkg/apis/core/validation/validation.go, pkg/quota/v1/evaluator/core/pods.go). Checked per render:

1. LimitRange admission: a container without a request or limit gets its namespace's LimitRange `defaultRequest`/`default`;
   a container outside a LimitRange's bounds, or whose request is above its limit once defaulted, is refused.
2. Quota admission: where a ResourceQuota sets cpu or memory requests or limits, every container carries them once defaulted.
3. Quota totals: in each namespace with a ResourceQuota, every pod at its configured replicas (DaemonSets on the stack's
   documented node count, tools/footprint.py `nodes_for`), plus the largest Deployment's rolling-update surge (maxSurge,
   default 25 % rounded up), plus the Jobs an install or upgrade runs (Helm hooks, the migration Job), and every claim's
   storage (StatefulSet and operator claim templates times replicas) fit `spec.hard`.
4. Each namespace pods run in has a LimitRange and a ResourceQuota: the program's namespaces and the namespaces its
   releases' pods run in (the operators' namespaces: ams:access.quotas.operators).
Each check goes red on a planted defect (the `planted` tests). The footprint the render prints counts the same pods
(tools/footprint.py `per_namespace_with_charts`, `of_render`).

Without helm or the charts these tests skip with the reason; under CI=true or AMS_REQUIRE_CONFORMANCE_DATA=1 they fail.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal

import pytest

from tests.conftest import PROJECT_DIR, RENDERS, VARIANTS, render_stack
from tools import admission, footprint, helm, workloads

GI = Decimal(1 << 30)
MI = Decimal(1 << 20)


def stack_of(name: str) -> str:
    return VARIANTS[name][0] if name in VARIANTS else name


def admit(records: list[dict], releases, *, nodes: int, program: list[dict] | None = None) -> admission.Admission:
    failed = [f"{release.resource}: {objects}" for release, objects in releases if isinstance(objects, helm.HelmError)]
    assert failed == [], "a release does not render (tests/test_charts.py says why)"
    objects = helm.program_objects(records) if program is None else program
    return admission.admit_render(objects, [(release.resource, objects) for release, objects in releases], nodes=nodes)


@pytest.fixture(scope="session")
def admitted(records, chart_objects) -> dict[str, admission.Admission]:
    return {name: admit(records[name], chart_objects[name], nodes=footprint.nodes_for(stack_of(name))) for name in RENDERS}


def usage_table(result: admission.Admission) -> str:
    """Each quota'd namespace: every hard key with the peak's parts and the hard limit."""
    lines = []
    for namespace, used in result.usages.items():
        for quota in result.quotas[namespace]:
            for key, hard in sorted((quota["spec"].get("hard") or {}).items()):
                total = admission.show(key, used.total(key))
                lines.append(f"{namespace}: {key} {total} of hard {hard} ({used.breakdown(key)})")
    return "\n".join(lines)


# --- 1. LimitRange admission ----------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_limit_ranges_admit_every_pod(admitted, name):
    """Every pod (chart, operator-made and the program's) in its namespace: LimitRange defaults applied, no bound broken,
    no request above its limit once defaulted."""
    result = admitted[name]
    for namespace, limit_ranges in sorted(result.limit_ranges.items()):
        defaulted = [w.label for w, _pod in result.workloads if w.namespace == namespace and _defaulted(w.spec)]
        names = ", ".join(lr["metadata"]["name"] for lr in limit_ranges)
        print(f"{name}: {namespace}: LimitRange {names} sizes containers of {len(defaulted)} workloads: {'; '.join(defaulted)}")
    print("\n".join(result.limit_range_refusals))
    assert result.limit_range_refusals == []


def _defaulted(spec: dict) -> bool:
    return any(helm.unsized(c) for c in helm.containers(spec))


# --- 2. quota admission ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_quotas_admit_every_pod(admitted, name):
    """Where a quota sets cpu or memory requests or limits, every container of every pod carries them once defaulted."""
    result = admitted[name]
    print("\n".join(result.quota_refusals))
    assert result.quota_refusals == []


# --- 3. quota totals ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RENDERS)
def test_quotas_hold_the_install_and_rollout_peak(admitted, name):
    """Pods at their replicas + the largest rolling-update surge + the install Jobs, and every claim, fit each `hard`."""
    result = admitted[name]
    print(usage_table(result))
    unevaluated = [
        problem for quotas in result.quotas.values() for quota in quotas for problem in admission.unevaluated_keys(quota)
    ]
    assert unevaluated == [], "tools/admission.py does not evaluate these: extend it"
    excess = result.excess()
    assert excess == [], "\n".join([*excess, "", usage_table(result)])


# --- 4. every namespace with pods has both --------------------------------------------------------


def lacking(result: admission.Admission, namespaces: set[str]) -> list[str]:
    return [
        f"{namespace}: no {kind}"
        for namespace in sorted(namespaces)
        for kind, found in (("LimitRange", result.limit_ranges), ("ResourceQuota", result.quotas))
        if namespace not in found
    ]


@pytest.mark.parametrize("name", RENDERS)
def test_namespaces_the_program_runs_its_pods_in_have_a_limit_range_and_a_quota(admitted, records, name):
    result = admitted[name]
    created = {o["metadata"]["name"] for o in helm.program_objects(records[name]) if o["kind"] == "Namespace"}
    ours = {w.namespace for w, _pod in result.workloads if w.source == "program"}
    assert ours <= created and lacking(result, ours) == []
    unevaluated = [
        p for limit_ranges in result.limit_ranges.values() for p in admission.unevaluated_limit_range_items(limit_ranges)
    ]
    assert unevaluated == [], "tools/admission.py does not evaluate these LimitRange items: extend it"


@pytest.mark.parametrize("name", RENDERS)
def test_namespaces_the_releases_run_pods_in_have_a_limit_range_and_a_quota(admitted, name):
    """Every namespace a release's pods (or the pods its operator makes) run in, so that they are sized and counted."""
    result = admitted[name]
    theirs = {w.namespace for w, _pod in result.workloads if w.source != "program"}
    found = lacking(result, theirs)
    print("\n".join(found))
    assert found == []


# --- planted defects: each check goes red ---------------------------------------------------------


def _with_hard(objects: list[dict], namespace: str, hard: dict) -> list[dict]:
    planted = copy.deepcopy(objects)
    for obj in planted:
        if obj["kind"] == "ResourceQuota" and obj["metadata"]["namespace"] == namespace:
            obj["spec"]["hard"] |= hard
    return planted


def test_planted_a_tiny_quota_fails_naming_the_namespace_the_totals_and_the_hard_limits(records, chart_objects):
    program = helm.program_objects(records["prod"])
    monitoring = next(
        o["metadata"]["name"] for o in program if o["kind"] == "Namespace" and "monitoring" in o["metadata"]["name"]
    )
    tiny = {"requests.memory": "1Gi", "limits.cpu": "2", "pods": "5", "requests.storage": "10Gi"}
    planted = _with_hard(program, monitoring, tiny)
    result = admit(records["prod"], chart_objects["prod"], nodes=footprint.nodes_for("prod"), program=planted)
    excess = result.excess()
    assert [line.split(":")[1].split()[0] for line in excess] == ["limits.cpu", "pods", "requests.memory", "requests.storage"]
    pods = next(line for line in excess if line.startswith(f"{monitoring}: pods "))
    # 10 nodes x (node exporter, Loki canary, log shipper) + 6 single pods, 1 surge pod, 3 install Jobs (kube-prometheus-stack).
    assert re.fullmatch(
        rf"{monitoring}: pods 40 exceeds the ResourceQuota ams-quota's hard 5: pods at their replicas 36 \+ surge 1 "
        r"\(1 more of Deployment [\w-]+\) \+ install Jobs 3",
        pods,
    ), pods
    memory = next(line for line in excess if "requests.memory" in line)
    assert re.fullmatch(rf"{monitoring}: requests.memory [\d.]+Gi exceeds the ResourceQuota ams-quota's hard 1Gi: .+", memory)
    # Restored, the same render holds.
    assert admit(records["prod"], chart_objects["prod"], nodes=footprint.nodes_for("prod")).excess() == []


def test_planted_a_chart_request_above_the_default_limit_is_refused(records, helm_bin, charts):
    """Grafana asks for 1Gi of memory and sets no limit: the monitoring LimitRange's 512Mi default limit is below it."""
    releases = [(release, helm.render_release(release, helm.api_versions(records["prod"]), helm=helm_bin, charts=charts))
                for release in helm.releases(records["prod"])]  # fmt: skip
    index = next(i for i, (r, _o) in enumerate(releases) if r.chart_dir_name == "kube-prometheus-stack")
    stack = releases[index][0]
    values = stack.values
    values["grafana"]["resources"] = {"requests": {"cpu": "100m", "memory": "1Gi"}}
    planted = stack.with_values(values)
    releases[index] = (planted, helm.render_release(planted, helm.api_versions(records["prod"]), helm=helm_bin, charts=charts))
    refused = admit(records["prod"], releases, nodes=10).limit_range_refusals
    assert len(refused) == 1 and re.fullmatch(
        r"ams-monitoring-kube-prometheus-stack: StatefulSet [\w-]+/[\w-]+grafana: container grafana: memory request 1Gi is "
        r"above its limit 512Mi",
        refused[0],
    ), refused


def test_without_limit_ranges_the_quota_still_admits_every_pod_and_refuses_a_planted_unsized_one(records, chart_objects):
    """Every container, the program's and the charts', carries its own requests and limits, so the quotas admit every
    pod even with no LimitRange to default them; a chart container planted without them is refused, named."""
    program = [o for o in helm.program_objects(records["prod"]) if o["kind"] != "LimitRange"]
    result = admit(records["prod"], chart_objects["prod"], nodes=10, program=program)
    assert result.limit_range_refusals == [] and result.quota_refusals == []
    planted = copy.deepcopy(chart_objects["prod"])
    for _release, objects in planted:
        for obj in objects:
            if obj.get("kind") == "StatefulSet" and obj["metadata"]["name"] == "kube-prometheus-stack-grafana":
                grafana = next(c for c in obj["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana")
                grafana.pop("resources")
    refused = admit(records["prod"], planted, nodes=10, program=program).quota_refusals
    where = "ams-monitoring-kube-prometheus-stack: StatefulSet ams-monitoring/kube-prometheus-stack-grafana"
    assert refused == [
        f"{where}: must specify {key} for: grafana (ResourceQuota ams-quota)"
        for key in ("limits.cpu", "limits.memory", "requests.cpu", "requests.memory")
    ]


def test_planted_a_limit_range_maximum_refuses_the_containers_above_it(records, chart_objects):
    program = copy.deepcopy(helm.program_objects(records["prod"]))
    for obj in program:
        if obj["kind"] == "LimitRange" and obj["metadata"]["namespace"] == "ams-monitoring":
            obj["spec"]["limits"][0]["max"] = {"memory": "2Gi"}
    refused = admit(records["prod"], chart_objects["prod"], nodes=10, program=program).limit_range_refusals
    # Prometheus and Loki have 4Gi limits.
    assert sorted(line.split(": ")[1] for line in refused) == [
        "Prometheus ams-monitoring/kps-prometheus",
        "StatefulSet ams-monitoring/loki",
    ]
    assert all("maximum memory per Container is 2Gi" in line for line in refused)


# --- the rules, on small pods ---------------------------------------------------------------------

LIMIT_RANGE = {
    "kind": "LimitRange",
    "metadata": {"name": "lr", "namespace": "n"},
    "spec": {
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "500m", "memory": "512Mi"},
                "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
            }
        ]
    },
}


def container(name: str = "c", **resources) -> dict:
    return {"name": name, "resources": resources} if resources else {"name": name}


def test_a_container_without_sizes_gets_the_defaults():
    pod, refused = admission.admit({"containers": [container()], "initContainers": [container("init")]}, [LIMIT_RANGE])
    expected = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
    assert refused == [] and [c["resources"] for c in helm.containers(pod)] == [expected, expected]


def test_a_limit_without_a_request_is_the_request_before_the_limit_range_defaults():
    pod, refused = admission.admit({"containers": [container(limits={"memory": "128Mi"})]}, [LIMIT_RANGE])
    assert refused == []
    assert pod["containers"][0]["resources"] == {
        "requests": {"memory": "128Mi", "cpu": "50m"},
        "limits": {"memory": "128Mi", "cpu": "500m"},
    }


def test_a_request_above_the_default_limit_is_refused():
    _pod, refused = admission.admit({"containers": [container(requests={"memory": "1Gi", "cpu": "1"})]}, [LIMIT_RANGE])
    assert refused == [
        "container c: cpu request 1 is above its limit 500m",
        "container c: memory request 1Gi is above its limit 512Mi",
    ]
    _pod, refused = admission.admit({"containers": [container(requests={"memory": "1Gi"}, limits={"memory": "512Mi"})]})
    assert refused == ["container c: memory request 1Gi is above its limit 512Mi"], "validation holds without a LimitRange"


def test_limit_range_items_default_as_the_api_server_stores_them():
    item = {"type": "Container", "max": {"memory": "1Gi"}, "min": {"cpu": "10m"}}
    [(name, stored)] = admission.limit_range_items([{"metadata": {"name": "x"}, "spec": {"limits": [item]}}])
    assert name == "x" and stored["default"] == {"memory": "1Gi"}
    assert stored["defaultRequest"] == {"memory": "1Gi", "cpu": "10m"}


def test_limit_range_bounds_and_ratio():
    limit_range = {"metadata": {"name": "b"}, "spec": {"limits": [
        {"type": "Container", "min": {"cpu": "10m"}, "max": {"memory": "256Mi"}, "maxLimitRequestRatio": {"memory": "2"}},
        {"type": "Pod", "max": {"cpu": "1"}},
    ]}}  # fmt: skip
    small = container(requests={"cpu": "5m", "memory": "64Mi"}, limits={"cpu": "600m", "memory": "512Mi"})
    big = container("big", requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "600m", "memory": "256Mi"})
    _pod, refused = admission.admit({"containers": [small, big]}, [limit_range])
    assert refused == [
        "container c: minimum cpu per Container is 10m, request 5m, limit 600m (LimitRange b)",
        "container c: maximum memory per Container is 256Mi, request 64Mi, limit 512Mi (LimitRange b)",
        "container c: memory max limit to request ratio per Container is 2, got 8.00 (LimitRange b)",
        "pod: maximum cpu per Pod is 1, request 105m, limit 1200m (LimitRange b)",
    ]


def test_the_quota_requires_what_its_hard_names():
    pod = {"containers": [container(requests={"cpu": "10m", "memory": "32Mi"})], "initContainers": [container("init")]}
    assert admission.quota_refusals(pod, {"requests.cpu": "1", "limits.memory": "1Gi", "pods": "10"}) == [
        "must specify limits.memory for: c, init",
        "must specify requests.cpu for: init",
    ]
    admitted, _refused = admission.admit(pod, [LIMIT_RANGE])
    assert admission.quota_refusals(admitted, {"requests.cpu": "1", "limits.memory": "1Gi"}) == []


def test_a_pod_is_charged_by_the_sidecar_formula():
    """KEP 753: max(sum of containers and sidecars, each init container plus the sidecars started before it)."""
    pod = {
        "initContainers": [
            container("first", requests={"memory": "100Mi"}),
            container("sidecar", requests={"memory": "50Mi"}) | {"restartPolicy": "Always"},
            container("migrate", requests={"memory": "400Mi"}),
        ],
        "containers": [container("app", requests={"memory": "200Mi"})],
    }
    assert admission.pod_resources(pod)["requests.memory"] == 450 * MI  # migrate + sidecar > app + sidecar
    pod["initContainers"][2]["resources"]["requests"]["memory"] = "100Mi"
    assert admission.pod_resources(pod)["requests.memory"] == 250 * MI  # app + sidecar
    pod["resources"] = {"requests": {"memory": "1Gi"}}
    assert admission.pod_resources(pod)["requests.memory"] == GI  # pod-level resources win


@pytest.mark.parametrize(
    "strategy, replicas, surge",
    [
        (None, 1, 1),
        (None, 3, 1),
        (None, 5, 2),
        ({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}, 3, 0),
        ({"rollingUpdate": {"maxSurge": 2}}, 3, 2),
        ({"rollingUpdate": {"maxSurge": "50%"}}, 3, 2),
        ({"type": "Recreate"}, 3, 0),
    ],
)
def test_rolling_update_surge(strategy, replicas, surge):
    deployment = {"kind": "Deployment", "metadata": {"name": "d", "namespace": "n"},
                  "spec": {"replicas": replicas, "template": {"spec": {"containers": [container()]}}}}  # fmt: skip
    if strategy is not None:
        deployment["spec"]["strategy"] = strategy
    [workload] = workloads.workloads([deployment], nodes=3)
    assert (workload.replicas, workload.surge) == (replicas, surge)


def test_workloads_count_daemon_sets_per_node_jobs_at_install_and_hpa_minimums():
    template = {"spec": {"containers": [container(requests={"cpu": "10m"})]}}
    objects = [
        {"kind": "DaemonSet", "metadata": {"name": "ds", "namespace": "n"}, "spec": {"template": template}},
        {"kind": "Job", "metadata": {"name": "j", "namespace": "n"}, "spec": {"parallelism": 2, "template": template}},
        {"kind": "Deployment", "metadata": {"name": "api", "namespace": "n"}, "spec": {"template": template}},
        {"kind": "HorizontalPodAutoscaler", "metadata": {"name": "api", "namespace": "n"},
         "spec": {"scaleTargetRef": {"name": "api"}, "minReplicas": 3}},
    ]  # fmt: skip
    found = {w.kind: w for w in workloads.workloads(objects, nodes=7)}
    assert (found["DaemonSet"].replicas, found["DaemonSet"].surge, found["DaemonSet"].during) == (7, 0, "always")
    assert (found["Job"].replicas, found["Job"].during) == (2, "install")
    assert (found["Deployment"].replicas, found["Deployment"].surge) == (3, 1)
    admitted = [(w, w.spec) for w in found.values()]
    used = admission.usage("n", admitted, [])
    # 7 + 3 steady, 1 surge, 2 Job pods; CPU: 10 x 10m + 1 x 10m + 2 x 10m
    assert (used.total("pods"), used.total("requests.cpu")) == (13, Decimal("0.13"))


def test_cloudnative_pg_instances_carry_the_barman_plugin_sidecar():
    cluster = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "db", "namespace": "n"},
        "spec": {
            "instances": 3,
            "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
            "plugins": [{"name": "barman-cloud.cloudnative-pg.io", "parameters": {"barmanObjectName": "store"}}],
            "storage": {"size": "10Gi"},
        },
    }
    store = {"kind": "ObjectStore", "metadata": {"name": "store", "namespace": "n"},
             "spec": {"instanceSidecarConfiguration": {"resources": {"requests": {"memory": "128Mi"}}}}}  # fmt: skip
    [workload] = workloads.workloads([cluster], nodes=3, context=[store])
    assert workload.replicas == 3
    assert [c["name"] for c in helm.containers(workload.spec)] == ["bootstrap-controller", "plugin-barman-cloud", "postgres"]
    assert admission.pod_resources(workload.spec)["requests.memory"] == GI + 128 * MI
    assert workloads.claims([cluster]) == [workloads.Claim("program", "n", "db storage", 3, 10 * GI)]


# --- the footprint the render prints --------------------------------------------------------------


def test_documented_node_counts_are_the_docs():
    page = (PROJECT_DIR / "docs" / "secrets-and-access.md").read_text()
    for stack, nodes in footprint.DOCUMENTED_NODES.items():
        assert f"up to {nodes} nodes in {stack}" in page
    assert footprint.nodes_for("dev") == footprint.DEFAULT_NODES == 3


def test_footprint_counts_what_the_releases_deploy(records, chart_objects):
    program = helm.program_objects(records["prod"])
    chart_objects = [o for _release, objects in chart_objects["prod"] for o in objects]
    with_charts = footprint.per_namespace_with_charts(program, chart_objects, nodes=10)
    alone = footprint.per_namespace(program)
    for namespace, fp in [*with_charts.items(), ("total", footprint.total(with_charts))]:
        print(f"{namespace:<24}{fp.pods:>5}{footprint.cpu(fp.cpu_request):>9}{footprint.cpu(fp.cpu_limit):>9}"
              f"{footprint.memory(fp.memory_request):>9}{footprint.memory(fp.memory_limit):>9}{footprint.memory(fp.storage):>9}"
              f"  sized by the LimitRange: {len(fp.defaulted)}, unsized: {len(fp.unsized)}")  # fmt: skip
    monitoring = with_charts["ams-monitoring"]
    # 10 nodes x (node exporter, Loki canary, log shipper) + Prometheus, Alertmanager, Grafana, kube-state-metrics, the
    # operator, Loki; Jobs are not part of the footprint.
    assert monitoring.pods == 36 and alone["ams-monitoring"].pods == 1
    # Grafana's claim, and one per replica of Prometheus's and Loki's claim templates.
    claimed = [c for c in workloads.claims(chart_objects) if c.namespace == "ams-monitoring"]
    assert {c.name: c.count for c in claimed} == {
        "storage-kube-prometheus-stack-grafana": 1,
        "Prometheus kps-prometheus": 1,
        "storage-loki": 1,
    }
    assert monitoring.storage == alone["ams-monitoring"].storage + sum(c.count * c.size for c in claimed)
    assert {"cert-manager", "cnpg-system", "envoy-gateway-system"} <= set(with_charts)
    assert with_charts["envoy-gateway-system"].pods == 1 + 2, "the Envoy Gateway controller and prod's two proxies"
    assert with_charts["ams-data"].memory_request > alone["ams-data"].memory_request, "the Barman plugin's sidecars"
    # Every container is sized by the program (issue 20 part 4): none left to a LimitRange's defaults, none unsized.
    assert [(ns, fp.defaulted, fp.unsized) for ns, fp in with_charts.items() if fp.defaulted or fp.unsized] == []


def test_per_namespace_still_counts_the_program_alone():
    program = render_stack("prod").objects
    fp = footprint.per_namespace(program)["ams-monitoring"]
    assert fp.pods == 1 and fp.defaulted == [] and fp.unsized == []


def test_of_render_renders_the_releases_or_names_those_left_out(helm_bin, charts, monkeypatch):
    render = render_stack("prod")
    per_ns, left_out = footprint.of_render(render, helm_bin=helm_bin, charts=charts)
    assert left_out == [] and per_ns["ams-monitoring"].pods == 36
    monkeypatch.setattr(helm, "find_helm", lambda: None)
    per_ns, left_out = footprint.of_render(render)
    assert len(left_out) == len(helm.releases(render)) and all("helm is not installed" in line for line in left_out)
    assert per_ns["ams-monitoring"].pods == 10, "the log shipper on each of prod's 10 nodes"
