"""The policy pack (policy/): every real stack passes every policy, and each policy rejects a crafted bad resource.

The policies are called directly through their `validate`, with argument objects built from the
installed pulumi_policy's own classes (ResourceValidationArgs, StackValidationArgs, PolicyResource,
PolicyResourceOptions), and with props wrapped by pulumi_policy's `unknown_checking_proxy`, the same
read-only Mapping/Sequence proxies the analyzer hands to policies. policy/__main__.py is never
imported: building the PolicyPack starts a server that never returns. One test runs the pack in a
subprocess exactly as the Pulumi CLI does and talks to it over the analyzer's gRPC protocol.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import ams_policies as ap
from tests.conftest import STACKS, render_stack

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"


# --- building the policy arguments ----------------------------------------------------------------


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def resource_args(reg, config: dict | None = None) -> ResourceValidationArgs:
    """A runner Registration (or anything with urn, type, name, inputs, protect) as the analyzer passes it."""
    props = unknown_checking_proxy(copy.deepcopy(reg.inputs))
    return ResourceValidationArgs(reg.type, props, reg.urn, reg.name, _opts(reg.protect), None, config)


def stack_args(regs) -> StackValidationArgs:
    resources = [
        PolicyResource(
            r.type, unknown_checking_proxy(copy.deepcopy(r.inputs)), r.urn, r.name, _opts(r.protect), None, None, [], {}
        )
        for r in regs
    ]
    return StackValidationArgs(resources)


def violations(policy, target, config: dict | None = None) -> list[str]:
    """Messages `policy` reports for one resource (resource policy) or a list of resources (stack policy)."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, StackValidationPolicy):
        result = policy.validate(stack_args(target), report)
    else:
        result = policy.validate(resource_args(target, config), report)
    assert result is None, "policies are synchronous"
    return found


class Reg:
    """A crafted resource with the attributes the helpers read from a runner Registration."""

    def __init__(self, type_: str, inputs: dict, *, stack: str = "prod", name: str | None = None, protect: bool = False):
        self.type = type_
        self.inputs = inputs
        self.name = name or inputs.get("metadata", {}).get("name", "crafted")
        self.urn = f"urn:pulumi:{stack}::ams::{type_}::{self.name}"
        self.protect = protect


def real(stack: str, type_: str, name: str):
    matches = [r for r in render_stack(stack).resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, f"{stack}: {type_} {name}: found {len(matches)}"
    return matches[0]


def crafted(stack: str, type_: str, name: str, mutate=None, **kwargs) -> Reg:
    """A copy of a real resource, changed by `mutate(inputs)`."""
    source = real(stack, type_, name)
    inputs = copy.deepcopy(source.inputs)
    if mutate:
        mutate(inputs)
    kwargs.setdefault("protect", source.protect)
    return Reg(type_, inputs, stack=stack, name=source.name, **kwargs)


def api_container(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]["containers"][0]


def api_security(inputs: dict) -> dict:
    return api_container(inputs)["securityContext"]


def api_pod(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]


def k8s_object(kind: str, name: str, namespace: str, api_version: str = "v1", **fields) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}, **fields}


def api_deployment(mutate=None, stack: str = "prod") -> Reg:
    return crafted(stack, ap.DEPLOYMENT, "ams-api", mutate)


def node_collector(namespace: str, annotations: dict | None) -> Reg:
    """A DaemonSet that needs host access, like a node exporter."""
    template = copy.deepcopy(real("prod", ap.DEPLOYMENT, "ams-api").inputs["spec"]["template"])
    template["spec"].update(hostNetwork=True, hostPID=True)
    template["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0, "runAsNonRoot": False}
    metadata = {"name": "node-exporter", "namespace": namespace, "annotations": annotations or {}}
    return Reg(ap.DAEMONSET, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": {"template": template}})


def one(messages: list[str], *fragments: str) -> str:
    """The single message containing every fragment (fails with all messages shown otherwise)."""
    matching = [m for m in messages if all(f in m for f in fragments)]
    assert len(matching) == 1, f"want one message with {fragments}, got {messages}"
    return matching[0]


# --- the pack itself ------------------------------------------------------------------------------


def test_pack_lists_the_eight_policies_once():
    names = [p.name for p in ap.POLICIES]
    assert names == [
        "restricted-security-context",
        "resource-requests-and-limits",
        "probes-on-long-running-containers",
        "pinned-images",
        "prod-images-by-digest",
        "no-plain-text-secret-env",
        "pod-disruption-budgets",
        "prod-data-protected",
    ]
    assert all(isinstance(p, ResourceValidationPolicy) for p in ap.RESOURCE_POLICIES)
    assert all(isinstance(p, StackValidationPolicy) for p in ap.STACK_POLICIES)


def test_pack_entry_point_builds_the_mandatory_pack_from_the_module():
    """Read policy/__main__.py as source (importing it would start the analyzer server)."""
    tree = ast.parse((POLICY_DIR / "__main__.py").read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "PolicyPack"]
    assert len(calls) == 1
    kwargs = {k.arg: k.value for k in calls[0].keywords}
    assert ast.literal_eval(kwargs["name"]) == "ams-guardrails"
    assert ast.unparse(kwargs["enforcement_level"]) == f"EnforcementLevel.{EnforcementLevel.MANDATORY.name}"
    assert ast.unparse(kwargs["policies"]) == "POLICIES"
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "ams_policies"]
    assert [a.name for a in imports[0].names] == ["POLICIES"]


def test_pack_project_files():
    project = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == "python"
    assert project["description"]
    requirements = (POLICY_DIR / "requirements.txt").read_text().split()
    assert "pulumi-policy>=1.13,<2" in requirements
    assert "pulumi>=3.200,<4" in requirements


# --- (a) every real stack passes every policy -----------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_of_every_stack_passes_the_resource_policies(stack):
    resources = render_stack(stack).resources
    workloads = [r for r in resources if r.type in ap.WORKLOAD_TYPES]
    assert len(workloads) >= 4, "the policies must have workloads to check"
    found = {
        f"{policy.name}: {message}" for reg in resources for policy in ap.RESOURCE_POLICIES for message in violations(policy, reg)
    }
    assert not found


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_passes_the_stack_policies(stack):
    resources = render_stack(stack).resources
    found = {f"{policy.name}: {message}" for policy in ap.STACK_POLICIES for message in violations(policy, resources)}
    assert not found


# --- (b) each policy rejects a crafted bad resource -----------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda o: api_security(o).update(readOnlyRootFilesystem=False),
            "readOnlyRootFilesystem must be true",
        ),
        (
            lambda o: api_security(o).update(allowPrivilegeEscalation=True),
            "allowPrivilegeEscalation must be false",
        ),
        (lambda o: api_security(o).update(privileged=True), "privileged must not be true"),
        (
            lambda o: api_security(o)["capabilities"].update(drop=["NET_RAW"]),
            "capabilities.drop must contain ALL",
        ),
        (lambda o: api_security(o).update(runAsNonRoot=False), "runAsNonRoot must be true"),
        (lambda o: api_security(o).update(runAsUser=0), "runAsUser must not be 0"),
        (lambda o: api_security(o).update(seccompProfile={"type": "Unconfined"}), "seccompProfile.type"),
    ],
    ids=["read-write-root", "privilege-escalation", "privileged", "capabilities", "root-override", "uid-0", "unconfined"],
)
def test_restricted_security_context_rejects_a_weakened_container(mutate, expected):
    message = one(violations(ap.restricted_security_context, api_deployment(mutate)), expected)
    assert message.startswith('Deployment ams/ams-api, container "api": ')


def test_restricted_security_context_needs_pod_level_settings_when_containers_leave_them_out():
    def strip(o):
        del api_pod(o)["securityContext"]
        for key in ("runAsNonRoot", "seccompProfile"):
            del api_security(o)[key]

    messages = violations(ap.restricted_security_context, api_deployment(strip))
    one(messages, 'container "api"', "runAsNonRoot must be true")
    one(messages, 'container "api"', "seccompProfile.type must be RuntimeDefault")


@pytest.mark.parametrize("field", ["hostNetwork", "hostPID", "hostIPC"])
def test_restricted_security_context_rejects_host_namespaces(field):
    message = one(
        violations(ap.restricted_security_context, api_deployment(lambda o: api_pod(o).update({field: True}))),
        field,
    )
    assert message == f"Deployment ams/ams-api: {field} must not be true"


def test_restricted_security_context_checks_init_containers_and_cronjobs():
    def add_init(o):
        init = copy.deepcopy(api_container(o))
        init.update(name="wait", securityContext={})
        api_pod(o)["initContainers"] = [init]

    one(violations(ap.restricted_security_context, api_deployment(add_init)), 'init container "wait"', "readOnlyRootFilesystem")

    job = real("prod", ap.JOB, "ams-db-migrate").inputs
    bad_job = copy.deepcopy(job)
    bad_job["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "ams-report", "namespace": "ams"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": bad_job["spec"]}},
    }
    one(
        violations(ap.restricted_security_context, Reg(ap.CRONJOB, cronjob)),
        'CronJob ams/ams-report, container "migrate"',
        "readOnlyRootFilesystem",
    )


def test_monitoring_node_collector_with_a_reason_is_exempt():
    reason = {ap.EXCEPTION_ANNOTATION: "node exporter reads host /proc and /sys on the host network"}
    assert violations(ap.restricted_security_context, node_collector("ams-monitoring", reason)) == []
    # Exempt from the security context only: the other policies still apply.
    assert violations(ap.pinned_images, node_collector("ams-monitoring", reason)) == []
    # Charts often let you annotate only the pod template: that counts too.
    on_template = node_collector("ams-monitoring", None)
    on_template.inputs["spec"]["template"]["metadata"]["annotations"] = reason
    assert violations(ap.restricted_security_context, on_template) == []
    # The namespace list comes from the policy config when set.
    custom = {"monitoringNamespaces": ["observability"]}
    assert violations(ap.restricted_security_context, node_collector("observability", reason), config=custom) == []
    assert violations(ap.restricted_security_context, node_collector("ams-monitoring", reason), config=custom)


@pytest.mark.parametrize(
    ("namespace", "annotations", "expected"),
    [
        ("ams-monitoring", None, "hostNetwork must not be true"),
        ("ams-monitoring", {ap.EXCEPTION_ANNOTATION: "  "}, "needs a non-empty reason"),
        ("ams", {ap.EXCEPTION_ANNOTATION: "node exporter"}, "honoured only in a monitoring namespace"),
    ],
    ids=["no-annotation", "empty-reason", "outside-monitoring"],
)
def test_pod_security_exception_needs_the_monitoring_namespace_and_a_reason(namespace, annotations, expected):
    messages = violations(ap.restricted_security_context, node_collector(namespace, annotations))
    one(messages, f"DaemonSet {namespace}/node-exporter", expected)
    one(messages, 'container "api"', "runAsNonRoot must be true")


@pytest.mark.parametrize(
    ("remove", "expected"),
    [(("limits", "memory"), "limits.memory"), (("requests", "cpu"), "requests.cpu"), (("limits",), "limits.cpu, limits.memory")],
)
def test_requests_and_limits_rejects_a_container_without_them(remove, expected):
    def drop(o):
        node = api_container(o)["resources"]
        for key in remove[:-1]:
            node = node[key]
        del node[remove[-1]]

    message = one(violations(ap.resource_requests_and_limits, api_deployment(drop)), expected)
    assert message == f'Deployment ams/ams-api, container "api": missing resources {expected}'


@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_probes_rejects_a_long_running_container_without_one(probe):
    message = one(violations(ap.probes_on_long_running_containers, api_deployment(lambda o: api_container(o).pop(probe))), probe)
    assert message == f'Deployment ams/ams-api, container "api": missing {probe}'


def test_probes_do_not_apply_to_run_to_completion_jobs():
    job = real("prod", ap.JOB, "ams-db-migrate")
    assert "livenessProbe" not in job.inputs["spec"]["template"]["spec"]["containers"][0]
    assert violations(ap.probes_on_long_running_containers, job) == []
    statefulset = api_deployment(lambda o: api_container(o).pop("readinessProbe"))
    statefulset.type = ap.STATEFULSET
    statefulset.inputs["kind"] = "StatefulSet"
    one(violations(ap.probes_on_long_running_containers, statefulset), "StatefulSet ams/ams-api", "readinessProbe")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("ghcr.io/suresoft/ams-api:latest", "mutable tag latest"),
        ("ghcr.io/suresoft/ams-api", "no tag or digest"),
        ("registry.local:5000/ams-api", "no tag or digest"),
        ("ghcr.io/suresoft/ams-api@sha256:abc", "malformed digest"),
    ],
)
def test_pinned_images_rejects_unpinned_images(image, expected):
    message = one(violations(ap.pinned_images, api_deployment(lambda o: api_container(o).update(image=image))), expected)
    assert message.startswith('Deployment ams/ams-api, container "api": image ')


@pytest.mark.parametrize(
    "image",
    ["ghcr.io/suresoft/ams-api:1.0.1", "registry.local:5000/ams-api:1.0.1", "ghcr.io/suresoft/ams-api@sha256:" + "a" * 64],
)
def test_pinned_images_accepts_tags_and_digests(image):
    assert violations(ap.pinned_images, api_deployment(lambda o: api_container(o).update(image=image))) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"name": "JWT_ACCESS_SECRET", "value": "abc"}, "env JWT_ACCESS_SECRET has a plain-text value"),
        ({"name": "DATABASE_URL", "value": "postgresql://ams:pw@db/ams"}, "env DATABASE_URL has a plain-text value"),
        (
            {"name": "S3_ACCESS_KEY", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            "must come from valueFrom.secretKeyRef",
        ),
    ],
)
def test_no_plain_text_secret_env_rejects_plain_values(entry, expected):
    message = one(
        violations(ap.no_plain_text_secret_env, api_deployment(lambda o: api_container(o)["env"].append(entry))), expected
    )
    assert message.startswith('Deployment ams/ams-api, container "api": ')


def test_no_plain_text_secret_env_allows_ordinary_values():
    entry = {"name": "LOG_LEVEL", "value": "info"}
    assert violations(ap.no_plain_text_secret_env, api_deployment(lambda o: api_container(o)["env"].append(entry))) == []


def _prod_without(type_: str, name: str):
    return [r for r in render_stack("prod").resources if not (r.type == type_ and r.name == name)]


def test_pod_disruption_budgets_rejects_a_multi_replica_deployment_without_one():
    assert real("prod", ap.DEPLOYMENT, "ams-api").inputs["spec"]["replicas"] >= 2
    message = one(violations(ap.pod_disruption_budgets, _prod_without(ap.PDB, "ams-api-pdb")), "ams-api")
    assert message == "Deployment ams/ams-api: 3 replicas but no PodDisruptionBudget in its namespace selects its pods"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o["metadata"].update(namespace="ams-data"),
        lambda o: o["spec"]["selector"]["matchLabels"].update({"app.kubernetes.io/name": "ams-web"}),
        lambda o: o["spec"]["selector"].update(matchLabels={}),
    ],
    ids=["other-namespace", "selects-other-pods", "empty-selector"],
)
def test_pod_disruption_budgets_needs_a_matching_pdb(mutate):
    resources = _prod_without(ap.PDB, "ams-api-pdb") + [crafted("prod", ap.PDB, "ams-api-pdb", mutate)]
    one(violations(ap.pod_disruption_budgets, resources), "Deployment ams/ams-api")


def test_pod_disruption_budgets_ignore_single_replica_workloads():
    dev = render_stack("dev").resources
    assert real("dev", ap.DEPLOYMENT, "ams-api").inputs["spec"]["replicas"] == 1
    assert not [r for r in dev if r.type == ap.PDB and r.name == "ams-api-pdb"]
    assert violations(ap.pod_disruption_budgets, dev) == []


def test_prod_data_protected_rejects_an_unprotected_data_namespace():
    unprotected = crafted("prod", ap.NAMESPACE, "ns-data", protect=False)
    message = one(violations(ap.prod_data_protected, [*_prod_without(ap.NAMESPACE, "ns-data"), unprotected]), "ams-data")
    assert message == "Namespace ams-data: prod data must be protected (ResourceOptions(protect=True))"


def test_prod_data_protected_rejects_unprotected_data_workloads_and_claims():
    statefulset = crafted("prod", ap.DEPLOYMENT, "ams-api", lambda o: o.update(kind="StatefulSet"))
    statefulset.type = ap.STATEFULSET
    statefulset.inputs["metadata"].update(name="crafted-cache", namespace="ams-data")
    crafted_data = [
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-claim", "ams-data")),
        Reg(ap.CNPG_CLUSTER, k8s_object("Cluster", "crafted-db", "ams-data", "postgresql.cnpg.io/v1")),
        statefulset,
    ]
    messages = violations(ap.prod_data_protected, [*render_stack("prod").resources, *crafted_data])
    assert len(messages) == 3
    one(messages, "PersistentVolumeClaim ams-data/crafted-claim: prod data must be protected")
    one(messages, "Cluster ams-data/crafted-db: prod data must be protected")
    one(messages, "StatefulSet ams-data/crafted-cache: prod data must be protected")
    # Protected data passes; a claim outside the data namespace is not this policy's data.
    fine = [
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-kept", "ams-data"), protect=True),
        Reg(ap.PVC, k8s_object("PersistentVolumeClaim", "crafted-scratch", "ams-monitoring")),
    ]
    assert violations(ap.prod_data_protected, [*render_stack("prod").resources, *fine]) == []
    # Cluster is data wherever it lives.
    elsewhere = Reg(ap.CNPG_CLUSTER, k8s_object("Cluster", "crafted-db", "ams", "postgresql.cnpg.io/v1"))
    one(violations(ap.prod_data_protected, [*render_stack("prod").resources, elsewhere]), "Cluster ams/crafted-db")


def test_prod_data_protected_applies_to_prod_only():
    dev = render_stack("dev").resources
    assert not real("dev", ap.NAMESPACE, "ns-data").protect
    assert violations(ap.prod_data_protected, dev) == []


def test_stack_name_comes_from_the_urn():
    assert ap.stack_name("urn:pulumi:prod::ams::kubernetes:core/v1:Namespace::ns-data") == "prod"
    assert ap.stack_name("urn:pulumi:staging::ams::ams:index:AppTier$kubernetes:apps/v1:Deployment::ams-api") == "staging"


# --- the pack as Pulumi runs it -------------------------------------------------------------------


@pytest.fixture
def analyzer():
    """policy/ served the way the Pulumi CLI runs a Python pack (`python -m pulumi.policy <engine> <dir>`),
    in a subprocess: it prints its gRPC port and serves until killed."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pulumi.policy", "127.0.0.1:1", "policy"],
        cwd=POLICY_DIR.parent,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = process.stdout.readline().strip()
        assert port.isdigit(), f"the pack did not start: {port!r}"
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_pack_reports_violations_through_the_analyzer_protocol(analyzer):
    def request(reg, protect=False):
        properties = json_format.ParseDict(reg.inputs, struct_pb2.Struct())
        options = analyzer_pb2.AnalyzerResourceOptions(protect=protect)
        return dict(type=reg.type, properties=properties, urn=reg.urn, name=reg.name, options=options)

    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "ams-guardrails"
    assert [p.name for p in info.policies] == [p.name for p in ap.POLICIES]

    good = real("prod", ap.DEPLOYMENT, "ams-api")
    assert not analyzer.Analyze(analyzer_pb2.AnalyzeRequest(**request(good)), timeout=30).diagnostics
    bad = api_deployment(lambda o: api_container(o).update(image="ghcr.io/suresoft/ams-api:latest"))
    diagnostics = analyzer.Analyze(analyzer_pb2.AnalyzeRequest(**request(bad)), timeout=30).diagnostics
    # `latest` is unpinned everywhere, and in prod not a digest either.
    assert sorted(d.policyName for d in diagnostics) == ["pinned-images", "prod-images-by-digest"]
    (diagnostic,) = [d for d in diagnostics if d.policyName == "pinned-images"]
    assert 'Deployment ams/ams-api, container "api": image ghcr.io/suresoft/ams-api:latest' in diagnostic.message

    resources = [
        analyzer_pb2.AnalyzerResource(**request(r, protect=r.protect and r.name != "ns-data"))
        for r in render_stack("prod").resources
    ]
    (diagnostic,) = analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), timeout=30).diagnostics
    assert diagnostic.policyName == "prod-data-protected"
    assert "Namespace ams-data: prod data must be protected" in diagnostic.message


def test_prod_images_by_digest_rejects_a_tag_only_image_in_prod():
    tagged = api_deployment(lambda o: api_container(o).update(image="ghcr.io/suresoft/ams-api:1.0.1"))
    assert one(violations(ap.prod_images_by_digest, tagged), "must be pinned by digest in prod").startswith(
        'Deployment ams/ams-api, container "api": image ghcr.io/suresoft/ams-api:1.0.1'
    )
    cluster = crafted("prod", ap.CNPG_CLUSTER, "ams-data-db", lambda o: o["spec"].update(imageName="ghcr.io/x/postgresql:17"))
    one(violations(ap.prod_images_by_digest, cluster), "imageName", "must be pinned by digest")


def test_prod_images_by_digest_accepts_what_prod_renders_and_ignores_other_stacks():
    assert violations(ap.prod_images_by_digest, api_deployment(lambda o: None)) == []
    staging = crafted("staging", ap.DEPLOYMENT, "ams-api")
    assert "@sha256:" not in staging.inputs["spec"]["template"]["spec"]["containers"][0]["image"]
    assert violations(ap.prod_images_by_digest, staging) == []
