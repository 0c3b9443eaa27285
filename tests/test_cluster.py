"""The stack knows its cluster: one explicit provider for the context the stack names, used only on the cluster the
stack recorded, and the API server's addresses as that cluster publishes them.

Upstream rules relied on (read at pulumi/pulumi v3.259.0 and pulumi/pulumi-kubernetes v4.32.0):
- pkg/resource/deploy/step_generator.go ``providerChanged``: a resource whose provider reference changes is
  replaced only when the new provider's ``DiffConfig`` says so.
- provider/pkg/provider/provider.go ``DiffConfig``: replaces when ``kubeconfig``, ``context`` or ``cluster`` is unknown,
  when ``clusterIdentifier`` changes, or when both sides' kubeconfigs resolve to different clusters.
- A read (``Resource.get``) runs in previews too, so the check happens before any change is planned.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT_DIR, STACKS, render_stack, stack_config, with_overrides
from tools import render as render_cli
from tools import runner, update_plan

RECORDED = "6f1c2d3e-0000-4000-8000-00000000a001"  # test data: a UID "recorded" by the stack
OTHER = "6f1c2d3e-0000-4000-8000-00000000b002"  # test data: the UID of another cluster
PROVIDER = "pulumi:providers:kubernetes"


def cluster_provider(rendered: runner.Render) -> runner.Registration:
    (provider,) = [r for r in rendered.by_type(PROVIDER) if r.name == "ams-cluster"]
    return provider


@pytest.mark.parametrize("stack", STACKS)
def test_every_kubernetes_resource_goes_through_the_stacks_own_provider(stack):
    rendered = render_stack(stack)
    provider = cluster_provider(rendered)
    assert provider.inputs["context"] == f"ams-{stack}"
    # What Pulumi.yaml's kubernetes:enableSecretMutable gave the default provider (the SDK sends it as JSON).
    assert provider.inputs["enableSecretMutable"] == "true"
    kubernetes = [r for r in rendered.resources if r.type.startswith("kubernetes:")]
    assert kubernetes
    on_default = [r.urn for r in kubernetes if r.provider == ""]
    assert on_default == [], "resources that would follow the kubeconfig's current context"
    others = {r.provider for r in kubernetes} - {provider.urn}
    assert others == set()


def test_staging_and_prod_refuse_to_run_without_naming_their_cluster(tmp_path):
    for stack in ("staging", "prod"):
        stack_file = tmp_path / f"Pulumi.{stack}.yaml"
        stack_file.write_text(yaml.safe_dump({"config": with_overrides(stack_config(stack), {"ams:cluster": None})}))
        result = subprocess.run(
            [sys.executable, "-m", "tools.render", "--stack-file", str(stack_file), "--out", str(tmp_path / "out")],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"error: ams:cluster.context: required in {stack}: name the stack's cluster "
            "(pulumi config set --path ams:cluster.context <kubeconfig context>)"
        ]
        assert not (tmp_path / "out").exists()
    # dev may use the current context.
    runner.run("dev", with_overrides(stack_config("dev"), {"ams:cluster": None}))


WRONG_CLUSTER = f"""
from components.platform.cluster import WrongClusterError
from tests.conftest import stack_config, with_overrides
from tools import runner
registered = []
config = with_overrides(stack_config("prod"), {{"ams:cluster.uid": "{RECORDED}"}})
try:
    runner.run("prod", config, registered=registered, cluster=runner.SimulatedCluster(kube_system_uid="{OTHER}"))
except WrongClusterError as error:
    print("refused:", error)
print("registered:", sorted(r.type for r in registered if r.type.startswith(("kubernetes:", "{PROVIDER}"))))
"""


def test_a_stack_refuses_a_cluster_other_than_the_one_it_recorded():
    """In a process of its own: the refusal surfaces from a pending registration, which would outlive this test."""
    result = subprocess.run([sys.executable, "-c", WRONG_CLUSTER], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"refused: ams:cluster.uid: kubeconfig context 'ams-prod' reached the cluster with kube-system UID {OTHER}, "
        f"but the stack deploys to {RECORDED}: nothing was changed. Point the context at the stack's cluster."
    ), result.stderr
    # The deploying provider's context waits for the check, so nothing but the probe was registered.
    assert lines[1] == f"registered: ['{PROVIDER}']"


def test_the_recorded_cluster_deploys_and_an_unrecorded_one_says_how_to_record_it():
    recorded = runner.run("prod", with_overrides(stack_config("prod"), {"ams:cluster.uid": RECORDED}))
    assert recorded.outputs["cluster"]["uid"] == RECORDED
    assert not [w for w in recorded.warnings if "ams:cluster.uid" in w]
    unrecorded = render_stack("prod")
    (warning,) = [w for w in unrecorded.warnings if "ams:cluster.uid" in w]
    reached = unrecorded.outputs["cluster"]["uid"]
    assert f"pulumi config set --path ams:cluster.uid {reached}" in warning


def test_the_policies_name_the_api_server_the_cluster_publishes():
    cluster = runner.SimulatedCluster(api_server_addresses=("198.51.100.12", "198.51.100.11"))
    rendered = runner.run("prod", stack_config("prod"), cluster=cluster)
    assert rendered.outputs["cluster"]["apiServerCidrs"] == ["198.51.100.11/32", "198.51.100.12/32"]
    pooler = rendered.get("NetworkPolicy", "ams-db-pooler-rw")["spec"]["egress"]
    api_server = [rule for rule in pooler if any("ipBlock" in peer for peer in rule["to"])]
    assert [[peer["ipBlock"]["cidr"] for peer in rule["to"]] for rule in api_server] == [["198.51.100.11/32", "198.51.100.12/32"]]
    # Set in the stack, the addresses are used as they are and nothing is read.
    pinned = runner.run("prod", with_overrides(stack_config("prod"), {"ams:network.apiServer.cidrs": ["10.0.0.0/28"]}))
    assert pinned.outputs["cluster"]["apiServerCidrs"] == ["10.0.0.0/28"]


def before_the_explicit_provider(records: list[dict]) -> list[dict]:
    """The same stack as it was deployed before it had its own provider: every resource on the default one."""
    cluster_urns = {r["urn"] for r in records if r["type"] == "ams:index:Cluster" or r["parent"].endswith("::ams-cluster")}
    old = [copy.deepcopy(r) for r in records if r["urn"] not in cluster_urns]
    for record in old:
        record["provider"] = ""
    return old


def test_moving_every_resource_onto_the_explicit_provider_replaces_nothing():
    new = render_cli.resource_records(render_stack("prod"))
    steps = update_plan.plan(before_the_explicit_provider(new), new, secret_mutable=True)
    assert [s.name for s in steps if s.op in ("replace", "delete")] == []
    assert {s.type for s in steps if s.op == "create"} == {"ams:index:Cluster", PROVIDER}
    moved = [s for s in steps if s.op == "same" and s.type.startswith("kubernetes:")]
    assert len(moved) > 90


def test_a_provider_whose_context_is_unknown_would_replace_everything_it_serves():
    new = render_cli.resource_records(render_stack("prod"))
    old = before_the_explicit_provider(new)
    planted = copy.deepcopy(new)
    for record in planted:
        if record["type"] == PROVIDER and record["name"] == "ams-cluster":
            record["inputs"]["context"] = runner.UNKNOWN
    steps = update_plan.plan(old, planted, secret_mutable=True)
    replaced = [s for s in steps if s.op == "replace"]
    assert len(replaced) > 90
    assert all("DiffConfig replaces" in s.reasons[0] for s in replaced)


def test_a_destroyed_dev_comes_back_with_one_up(tmp_path):
    """Outside prod `pulumi destroy` retains the data and storage namespaces (retainOnDelete); the state forgets them, the
    cluster keeps them, and since pulumi-kubernetes 4.29 a plain create of an existing object fails with AlreadyExists
    (provider/pkg/await/await.go Creation). The stack's provider upserts, so the next `pulumi up` takes them over."""
    before = tmp_path / "dev-before"
    render_cli.write(render_stack("dev"), before)
    result = subprocess.run(
        [sys.executable, "-m", "tools.render", "--stack", "dev", "--compare", str(before), "--after-destroy"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "(2 retained objects left in the cluster)" in result.stdout
    assert "error:" not in result.stderr


def test_without_upserts_the_retained_namespaces_would_stop_the_next_up():
    records = render_cli.resource_records(render_stack("dev"))
    survivors = update_plan.survivors_of_destroy(records)
    assert sorted(identity[3] for identity in survivors) == ["ams-dev-data", "ams-dev-storage"]
    planted = copy.deepcopy(records)
    for record in planted:
        if record["type"] == PROVIDER and record["name"] == "ams-cluster":
            record["inputs"].pop("upsertExistingObjects")
    steps = update_plan.plan([], planted)
    conflicts = update_plan.already_existing(survivors, planted, steps)
    assert [conflict.split(": ", 1)[1].split(" survived")[0] for conflict in conflicts] == [
        "Namespace 'ams-dev-data'",
        "Namespace 'ams-dev-storage'",
    ]


NOT_EXPANDABLE = """
from components.platform.cluster import StorageClassError
from tests.conftest import stack_config
from tools import runner
registered = []
cluster = runner.SimulatedCluster(storage_classes=(("ssd", False),))
try:
    runner.run("prod", stack_config("prod"), registered=registered, cluster=cluster)
except StorageClassError as error:
    print("refused:", error)
print("registered:", sorted(r.type for r in registered if r.type.startswith("kubernetes:")))
"""


def test_a_storage_class_that_cannot_expand_is_refused_before_anything_changes():
    """Prod's volumes name the class `ssd`; the stack grows volumes in place (PersistentVolumeClaimPatch, CloudNativePG's
    resize), which only a class with allowVolumeExpansion permits. In a process of its own, as above."""
    result = subprocess.run([sys.executable, "-c", NOT_EXPANDABLE], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120)
    lines = result.stdout.splitlines()
    assert lines[0].startswith("refused: StorageClass 'ssd' does not allow volume expansion"), result.stderr
    assert lines[1] == "registered: []"
