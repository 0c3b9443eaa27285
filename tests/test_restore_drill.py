"""The weekly restore drill (issue 23 part 3): `Pulumi.drill.yaml` restores staging's backups into a throwaway stack on
staging's cluster, and `.github/workflows/restore-drill.yml` runs it. Offline: the drill stack renders against the
CRD schemas; its database reads staging's archive and writes only its own; the NetworkPolicies of both stacks let the
drill's database pods reach staging's object storage and nothing else of the drill does; the two stacks claim no
object twice; and every name the workflow uses is one the renders have. (actionlint, zizmor and the workflow schema
run over every workflow in tests/test_workflows.py.)
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests import test_policy
from tests.conftest import PROJECT_DIR, render_stack, stack_config, with_overrides
from tests.netpol import Cluster, Endpoint
from tests.test_cluster_fidelity import claims
from tests.test_conformance import data_dir, read_json, validate_resource
from tools import render as render_cli
from tools import runner, update_plan

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "restore-drill.yml"


@pytest.fixture(scope="module")
def drill() -> runner.Render:
    return runner.run("drill", stack_config("drill"))


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def steps_by_name(workflow: dict) -> dict[str, dict]:
    return {step["name"]: step for step in workflow["jobs"]["drill"]["steps"] if "name" in step}


def object_store(render: runner.Render, name: str) -> dict:
    return render.get("ObjectStore", name)


def test_the_drill_reads_stagings_archive_and_writes_only_its_own(drill):
    staging = render_stack("staging")
    source = object_store(drill, "ams-restore-source")["spec"]
    stagings = object_store(staging, "ams-backups")["spec"]["configuration"]
    assert source["configuration"]["endpointURL"] == stagings["endpointURL"]
    assert source["configuration"]["destinationPath"] == stagings["destinationPath"]
    # The plugin prunes a store only by its retentionPolicy (plugin-barman-cloud v0.8.0 retention.go `maintenance`).
    assert "retentionPolicy" not in source
    cluster = drill.get("Cluster", "ams-db")["spec"]
    [origin] = cluster["externalClusters"]
    assert origin["plugin"]["parameters"] == {"barmanObjectName": "ams-restore-source", "serverName": "ams-db"}
    assert cluster["bootstrap"]["recovery"]["source"] == origin["name"]
    [archiver] = cluster["plugins"]
    assert archiver["isWALArchiver"] and archiver["parameters"]["barmanObjectName"] == "ams-backups"
    own = object_store(drill, "ams-backups")["spec"]["configuration"]
    assert own["endpointURL"] != stagings["endpointURL"], "the drill archives into its own store, not staging's"


@pytest.mark.parametrize(
    ("kind", "crd"), [("Cluster", "postgresql.cnpg.io_Cluster_v1"), ("ObjectStore", "barmancloud.cnpg.io_ObjectStore_v1")]
)
def test_the_drills_database_objects_match_their_crd_schemas(drill, kind, crd):
    schema = read_json(data_dir() / "crds" / f"{crd}.json")["schema"]
    for resource in drill.of_kind(kind):
        assert validate_resource(resource, schema) == [], resource["metadata"]["name"]


def test_the_drill_is_a_guest_on_stagings_cluster(drill):
    """Operators, issuers, the controller and Prometheus are staging's; the drill claims no object staging has."""
    staging = render_stack("staging")
    assert claims(staging) & claims(drill) == set()
    # Its certificate comes from one of staging's issuers that needs no DNS: nothing resolves the drill's host.
    issuers = {issuer["metadata"]["name"] for issuer in staging.of_kind("ClusterIssuer")}
    assert drill.outputs["tlsIssuer"] == "selfsigned" and "selfsigned" in issuers
    assert drill.outputs["namespaces"]["data"] == "ams-drill-data"


# --- flows across the two stacks -------------------------------------------------------------------------------------


def cluster_labels(namespaces: set[str]) -> dict[str, dict]:
    return {name: {"kubernetes.io/metadata.name": name} for name in namespaces}


def pod(name: str, namespace: str, labels: dict) -> Endpoint:
    return Endpoint(name, namespace, labels, {})


def test_the_drills_database_reaches_stagings_backups_and_nothing_else_of_the_drill_does(drill):
    """Egress is the drill's policies, ingress staging's: both must allow. Labels as CloudNativePG sets them
    (cloudnative-pg v1.30.0 pkg/specs/pods.go; pkg/specs/jobs.go "full-recovery")."""
    staging = render_stack("staging")
    policies = [*drill.of_kind("NetworkPolicy"), *staging.of_kind("NetworkPolicy")]
    namespaces = {*drill.outputs["namespaces"].values(), *staging.outputs["namespaces"].values()}
    cluster = Cluster(policies, cluster_labels(namespaces))
    data = drill.outputs["namespaces"]["data"]
    restored = {"cnpg.io/cluster": "ams-db", "cnpg.io/instanceName": "ams-db-1"}
    recovery = pod("full-recovery", data, {**restored, "cnpg.io/jobRole": "full-recovery"})
    instance = pod("instance", data, {**restored, "cnpg.io/podRole": "instance"})
    s3 = staging.get("StatefulSet", "ams-s3")
    engine = Endpoint("s3", s3["metadata"]["namespace"], s3["spec"]["template"]["metadata"]["labels"], {"s3": (8333, "TCP")})
    assert cluster.allows(recovery, engine, 8333)
    assert cluster.allows(instance, engine, 8333)
    api = drill.get("Deployment", "ams-api")["spec"]["template"]["metadata"]["labels"]
    assert not cluster.allows(pod("api", drill.outputs["namespaces"]["app"], api), engine, 8333)
    # Without staging's backupReaders, its engine refuses the drill.
    closed = runner.run("staging", with_overrides(stack_config("staging"), {"ams:data.objectStorage.backupReaders": []}))
    without_readers = Cluster([*drill.of_kind("NetworkPolicy"), *closed.of_kind("NetworkPolicy")], cluster_labels(namespaces))
    assert not without_readers.allows(recovery, engine, 8333)


# --- the workflow --------------------------------------------------------------------------------------------------


def test_the_drill_runs_weekly_and_by_hand_in_an_environment_of_its_own(workflow):
    triggers = workflow.get("on", workflow.get(True))
    [schedule] = triggers["schedule"]
    minute, hour, day_of_month, month, day_of_week = schedule["cron"].split()
    assert (day_of_month, month) == ("*", "*") and day_of_week.isdigit(), "once a week"
    assert "workflow_dispatch" in triggers and "pull_request" not in triggers
    job = workflow["jobs"]["drill"]
    assert job["environment"]["name"] == "restore-drill"
    assert job["timeout-minutes"] <= 90


def test_the_stack_is_destroyed_whatever_happened(workflow, drill):
    steps = steps_by_name(workflow)
    destroy = steps["Destroy the drill stack"]
    assert destroy["if"] == "always()"
    assert 'pulumi destroy --stack "$STACK" --yes' in destroy["run"]
    assert 'pulumi stack rm "$STACK" --yes --force' in destroy["run"]
    deleted = re.search(r"kubectl delete namespace ([\w\- ]+?) --", destroy["run"]).group(1).split()
    assert set(deleted) == set(drill.outputs["namespaces"].values())
    assert steps["Report the recovery point"]["if"] == "always()"


def test_the_names_the_workflow_uses_are_the_renders(workflow, drill):
    staging = render_stack("staging")
    env = workflow["jobs"]["drill"]["env"]
    assert env["STACK"] == "drill" and (PROJECT_DIR / "Pulumi.drill.yaml").exists()
    assert env["SOURCE_NAMESPACE"] == staging.outputs["namespaces"]["data"]
    assert env["DATA_NAMESPACE"] == drill.outputs["namespaces"]["data"]
    copy = steps_by_name(workflow)["Copy staging's backup credentials to the drill"]["run"]
    # The Secret it reads is the one staging's ObjectStore reads, under the keys it reads.
    credentials = object_store(staging, "ams-backups")["spec"]["configuration"]["s3Credentials"]
    assert f"get secret {credentials['accessKeyId']['name']} " in copy
    assert f".data.{credentials['accessKeyId']['key']}" in copy
    assert f".data.{credentials['secretAccessKey']['key']}" in copy
    # The Secret it writes is the one the drill's restore source reads, under the keys it reads.
    source = object_store(drill, "ams-restore-source")["spec"]["configuration"]["s3Credentials"]
    assert f'name: "{source["accessKeyId"]["name"]}"' in copy
    assert f'"{source["accessKeyId"]["key"]}": ' in copy and f'"{source["secretAccessKey"]["key"]}": ' in copy
    report = steps_by_name(workflow)["Report the recovery point"]["run"]
    assert "objectstores.barmancloud.cnpg.io ams-backups" in report
    assert "cnpg.io/jobRole=full-recovery" in report


def test_the_namespace_the_workflow_makes_first_is_adopted_by_the_stack(workflow, drill):
    """The workflow creates the data namespace before `pulumi up` (to hold the copied keys); the stack's provider
    patches an existing object instead of failing with AlreadyExists only with `upsertExistingObjects`
    (pulumi-kubernetes provider/pkg/await/await.go Creation; tools/update_plan.py `upserts`)."""
    copy = steps_by_name(workflow)["Copy staging's backup credentials to the drill"]["run"]
    assert 'kubectl create namespace "$DATA_NAMESPACE"' in copy
    records = render_cli.resource_records(drill)
    by_urn = {record["urn"]: record for record in records}
    data = drill.outputs["namespaces"]["data"]
    [namespace] = [r for r in records if r["type"] == "kubernetes:core/v1:Namespace" and r["inputs"]["metadata"]["name"] == data]
    assert update_plan.upserts(namespace, by_urn)


def test_the_update_runs_the_policy_pack_and_the_check_reads_the_restored_primary(workflow, drill):
    steps = steps_by_name(workflow)
    assert 'pulumi up --stack "$STACK" --yes --policy-pack policy' in steps["pulumi up (restore)"]["run"]
    check = steps["Check the restored data"]["run"]
    cluster = drill.get("Cluster", "ams-db")
    assert f"cnpg.io/cluster={cluster['metadata']['name']},cnpg.io/instanceRole=primary" in check
    assert f"psql -d {cluster['spec']['bootstrap']['recovery']['database']} " in check
    assert "exit 1" in check


def test_the_drill_stack_passes_the_policy_pack():
    """The workflow's `pulumi up` runs the policy pack: the drill's own namespaces must pass it too."""
    test_policy.test_every_resource_of_every_stack_passes_the_resource_policies("drill")
    test_policy.test_every_stack_passes_the_stack_policies("drill")
