"""The policy pack (policy/): its files, every real stack passing every policy, and the pack as the CLI runs it.
Each policy's rejection of a crafted bad resource: tests/test_policy_rejections.py; the argument objects both
build: tests/policy_args.py.

The policies are called directly through their `validate`, with argument objects built from the
installed pulumi_policy's own classes (ResourceValidationArgs, StackValidationArgs, PolicyResource,
PolicyResourceOptions), and with props wrapped by pulumi_policy's `unknown_checking_proxy`, the same
read-only Mapping/Sequence proxies the analyzer hands to policies. policy/__main__.py is never
imported: building the PolicyPack starts a server that never returns. One test runs the pack in a
subprocess exactly as the Pulumi CLI does and talks to it over the analyzer's gRPC protocol.
"""

from __future__ import annotations

import ast
import subprocess
import sys

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

from policy import ams_policies as ap
from tests.conftest import STACKS, render_stack
from tests.policy_args import POLICY_DIR, api_container, api_deployment, crafted, one, real, violations

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


def test_the_packs_release_digest_fields_are_the_programs():
    """The pack keeps the charts' digest fields of components/platform/chart_images.py (it is deployed on its own)."""
    from components.platform import chart_images

    program = {
        chart: tuple((entry.path, entry.form) for entry in table.images) for chart, table in chart_images.CHART_IMAGES.items()
    }
    assert program == ap.RELEASE_DIGEST_FIELDS
