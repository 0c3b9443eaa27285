"""Restore is configuration (issue 23): `ams:data.postgres.clusters.<name>.restore` starts a cluster from a server's
backups (CloudNativePG `bootstrap.recovery` from an `externalClusters` entry read through the Barman Cloud plugin,
plugin-barman-cloud hack/examples/cluster-restore-archive.yaml) beside the running one, `ams:data.postgres.serving`
moves the app to it, and removing the old one from `clusters` is a deliberate step that prod's protection stops.
What cannot work is refused with its key.
"""

from __future__ import annotations

import pytest

from components.settings import SettingsError
from tests.conftest import stack_config, with_overrides
from tests.netpol import Cluster, Endpoint
from tests.test_conformance import data_dir, read_json, validate_resource
from tools import render as render_cli
from tools import runner, update_plan

RESTORED = {"restore": {"fromServer": "ams-db", "targetTime": "2026-12-01T10:00:00Z"}}
BESIDE = {"ams:data.postgres.clusters": {"ams-db": {}, "ams-db-2": RESTORED}}
SERVING = {**BESIDE, "ams:data.postgres.serving": "ams-db-2"}
AFTER = {"ams:data.postgres.clusters": {"ams-db-2": RESTORED}, "ams:data.postgres.serving": "ams-db-2"}
OLD_CLUSTER_OBJECTS = {
    ("Cluster", "ams-db"),
    ("Pooler", "ams-db-pooler-rw"),
    ("ScheduledBackup", "ams-db-daily"),
    ("Secret", "ams-db-app"),
}


def render(stack: str, overrides: dict) -> runner.Render:
    return runner.run(stack, with_overrides(stack_config(stack), overrides))


def changes(before: runner.Render, after: runner.Render) -> list[update_plan.Step]:
    """What `render --compare` prints: the engine's steps from one render to the next, without the unchanged."""
    # The stack's provider updates Secrets in place (Pulumi.yaml kubernetes:enableSecretMutable, components/platform/cluster.py).
    records = (render_cli.resource_records(before), render_cli.resource_records(after))
    steps = update_plan.plan(*records, secret_mutable=True)
    return [step for step in steps if step.op != "same"]


def kind_and_name(render: runner.Render, urn: str) -> tuple[str, str]:
    [resource] = [r for r in render.resources if r.urn == urn]
    return resource.type.rsplit(":", 1)[-1], resource.inputs["metadata"]["name"]


def refusal(stack: str, overrides: dict) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        render(stack, overrides)
    return raised.value.problems


def test_the_restored_cluster_starts_from_the_backups_and_archives_under_its_own_name():
    cluster = render("staging", BESIDE).get("Cluster", "ams-db-2")["spec"]
    assert cluster["bootstrap"] == {
        "recovery": {
            "source": "origin",
            "database": "ams",
            "owner": "ams",
            "secret": {"name": "ams-db-2-app"},
            "recoveryTarget": {"targetTime": "2026-12-01T10:00:00Z"},
        }
    }
    assert cluster["externalClusters"] == [
        {
            "name": "origin",
            "plugin": {
                "name": "barman-cloud.cloudnative-pg.io",
                "parameters": {"barmanObjectName": "ams-backups", "serverName": "ams-db"},
            },
        }
    ]
    # No serverName: the plugin archives under the cluster's own name, ams-db-2, never into ams-db's archive.
    assert cluster["plugins"] == [
        {"name": "barman-cloud.cloudnative-pg.io", "isWALArchiver": True, "parameters": {"barmanObjectName": "ams-backups"}}
    ]


def test_the_running_cluster_is_untouched_and_the_restored_one_has_its_own_pooler_backup_and_monitors():
    plain = render("staging", {})
    beside = render("staging", BESIDE)
    assert beside.get("Cluster", "ams-db") == plain.get("Cluster", "ams-db")
    assert beside.get("Pooler", "ams-db-2-pooler-rw")["spec"]["cluster"] == {"name": "ams-db-2"}
    assert beside.get("ScheduledBackup", "ams-db-2-daily")["spec"]["cluster"] == {"name": "ams-db-2"}
    assert beside.get("PodMonitor", "ams-db-2")["spec"]["selector"]["matchLabels"] == {
        "cnpg.io/cluster": "ams-db-2",
        "cnpg.io/podRole": "instance",
    }
    assert beside.get("PodMonitor", "ams-db-2-pooler-rw")["spec"]["selector"]["matchLabels"] == {
        "cnpg.io/poolerName": "ams-db-2-pooler-rw"
    }
    assert beside.get("Secret", "ams-db-2-app")["type"] == "kubernetes.io/basic-auth"


def test_to_the_latest_point_when_no_time_is_given():
    latest = {"ams:data.postgres.clusters": {"ams-db": {}, "ams-db-2": {"restore": {"fromServer": "ams-db"}}}}
    cluster = render("staging", latest).get("Cluster", "ams-db-2")["spec"]
    assert "recoveryTarget" not in cluster["bootstrap"]["recovery"]


@pytest.mark.parametrize(("kind", "name"), [("Cluster", "ams-db-2"), ("Pooler", "ams-db-2-pooler-rw")])
def test_the_restored_cluster_matches_its_crd_schema(kind, name):
    resource = render("staging", BESIDE).get(kind, name)
    schema = read_json(data_dir() / "crds" / f"postgresql.cnpg.io_{kind}_v1.json")["schema"]
    assert validate_resource(resource, schema) == []


def test_without_clusters_set_the_stack_runs_one_empty_cluster_named_ams_db():
    cluster = render("staging", {}).get("Cluster", "ams-db")["spec"]
    assert list(cluster["bootstrap"]) == ["initdb"] and "externalClusters" not in cluster
    assert cluster["plugins"][0]["parameters"] == {"barmanObjectName": "ams-backups"}


def test_step_1_in_prod_creates_the_restored_cluster_and_changes_nothing_else():
    steps = changes(render("prod", {}), render("prod", BESIDE))
    assert {step.op for step in steps} == {"create"}
    assert {step.name for step in steps} == {
        "ams-data-db-2",
        "ams-data-db-2-pooler",
        "ams-data-db-2-app",
        "ams-data-db-2-scheduled-backup",
        "ams-data-db-2-monitor",
        "ams-data-db-2-pooler-monitor",
    }


def test_step_2_moves_the_app_to_the_restored_cluster_and_migrates_it():
    beside = render("prod", BESIDE)
    serving = render("prod", SERVING)
    steps = changes(beside, serving)
    assert {step.op for step in steps} <= {"update", "replace"}
    assert not update_plan.refusals(steps)
    connection = serving.get("Secret", "ams-connection")["stringData"]
    assert "@ams-db-2-pooler-rw.ams-data.svc.cluster.local:5432/ams" in connection["database-url"]
    assert "@ams-db-2-rw.ams-data.svc.cluster.local:5432/ams" in connection["database-direct-url"]
    migrations = {step.name for step in steps if step.type == "kubernetes:batch/v1:Job"}
    assert migrations == {"ams-db-migrate"}, "the restored database is migrated before the app starts on it"
    assert serving.outputs["databaseHost"] == "ams-db-2-rw.ams-data.svc.cluster.local"


def test_step_3_in_prod_is_refused_while_the_old_cluster_is_protected():
    serving = render("prod", SERVING)
    steps = changes(serving, render("prod", AFTER))
    assert {step.op for step in steps} == {"delete"}
    refused = {kind_and_name(serving, step.urn) for step in steps if step.refused and step.retain_on_delete}
    assert refused == OLD_CLUSTER_OBJECTS
    deleted = {kind_and_name(serving, step.urn) for step in steps if not step.refused}
    assert deleted == {("PodMonitor", "ams-db"), ("PodMonitor", "ams-db-pooler-rw")}


def test_step_3_in_staging_deletes_the_old_cluster_and_nothing_else():
    serving = render("staging", SERVING)
    steps = changes(serving, render("staging", AFTER))
    assert {step.op for step in steps} == {"delete"}
    deleted = {kind_and_name(serving, step.urn) for step in steps}
    assert deleted == OLD_CLUSTER_OBJECTS | {("PodMonitor", "ams-db"), ("PodMonitor", "ams-db-pooler-rw")}
    assert not any(step.refused or step.retain_on_delete for step in steps)


def test_a_later_up_with_the_restore_still_set_changes_nothing_and_removing_it_would():
    """The bootstrap runs once, at the Cluster's creation: with the setting left in place the next `up` plans nothing,
    while taking it out would rewrite the running Cluster's bootstrap, which is why the docs say to leave it."""
    assert changes(render("prod", AFTER), render("prod", AFTER)) == []
    unset = {"ams:data.postgres.clusters": {"ams-db-2": {}}, "ams:data.postgres.serving": "ams-db-2"}
    [step] = changes(render("prod", AFTER), render("prod", unset))
    assert step.name == "ams-data-db-2" and step.op == "update"
    assert any(path.startswith("spec.bootstrap") for path in step.paths)


# --- the restored cluster's flows, over the rendered NetworkPolicies ------------------------------------------------


def pod(name: str, namespace: str, labels: dict, ports: dict | None = None) -> Endpoint:
    return Endpoint(name, namespace, labels, {port: (number, "TCP") for port, number in (ports or {}).items()})


def test_the_restored_cluster_reaches_the_backups_and_the_app_reaches_it():
    """Labels as CloudNativePG sets them (cloudnative-pg v1.30.0 pkg/specs/pods.go, pkg/specs/jobs.go jobRoleFullRecovery
    "full-recovery", pkg/specs/pgbouncer/deployments.go)."""
    beside = render("staging", BESIDE)
    namespaces = beside.outputs["namespaces"]
    policies = beside.of_kind("NetworkPolicy")
    cluster = Cluster(policies, {name: {"kubernetes.io/metadata.name": name} for name in namespaces.values()})
    restored = {"cnpg.io/cluster": "ams-db-2", "cnpg.io/instanceName": "ams-db-2-1"}
    instance = pod("instance", namespaces["data"], {**restored, "cnpg.io/podRole": "instance"}, {"postgresql": 5432})
    recovery = pod("full-recovery", namespaces["data"], {**restored, "cnpg.io/jobRole": "full-recovery"})
    pooler = pod(
        "pooler",
        namespaces["data"],
        {"cnpg.io/cluster": "ams-db-2", "cnpg.io/podRole": "pooler", "cnpg.io/poolerName": "ams-db-2-pooler-rw"},
        {"pgbouncer": 5432},
    )
    s3_labels = beside.get("StatefulSet", "ams-s3")["spec"]["template"]["metadata"]["labels"]
    s3 = pod("s3", namespaces["storage"], s3_labels, {"s3": 8333})
    api_labels = beside.get("Deployment", "ams-api")["spec"]["template"]["metadata"]["labels"]
    api = pod("api", namespaces["app"], api_labels)
    assert cluster.allows(recovery, s3, 8333)
    assert cluster.allows(instance, s3, 8333)
    assert cluster.allows(pooler, instance, 5432)
    assert cluster.allows(api, pooler, 5432)
    stranger = pod("stranger", namespaces["app"], {"app.kubernetes.io/name": "stranger"})
    assert not cluster.allows(stranger, pooler, 5432)


# --- refusals -----------------------------------------------------------------------------------------------------


def beside_with(restore: dict) -> dict:
    return {"ams:data.postgres.clusters": {"ams-db": {}, "ams-db-2": {"restore": restore}}}


@pytest.mark.parametrize(
    ("stack", "overrides", "expected"),
    [
        (
            "staging",
            beside_with({"fromServer": "ams-db", "targetTime": "yesterday"}),
            "ams:data.postgres.clusters.ams-db-2.restore.targetTime: must be an RFC 3339 time such as "
            "2026-12-01T10:00:00Z, got 'yesterday'",
        ),
        (
            "staging",
            beside_with({"fromServer": "ams-db", "targetTime": "2026-12-01T10:00:00"}),
            "ams:data.postgres.clusters.ams-db-2.restore.targetTime: needs its UTC offset (e.g. 2026-12-01T10:00:00Z), "
            "got '2026-12-01T10:00:00'",
        ),
        (
            "staging",
            beside_with({"targetTime": "2026-12-01T10:00:00Z"}),
            "ams:data.postgres.clusters.ams-db-2.restore.targetTime: needs restore.fromServer",
        ),
        (
            "staging",
            {"ams:data.postgres.clusters": {"ams-db": {"restore": {"fromServer": "ams-db"}}}},
            "ams:data.postgres.clusters.ams-db.restore.fromServer: cluster ams-db would archive its WAL into the archive "
            "it restores from (ams-backups/ams-db), which the Barman Cloud plugin refuses: restore into a cluster of "
            "another name",
        ),
        (
            "dev",
            beside_with({"fromServer": "ams-db"}),
            "ams:data.postgres.clusters.ams-db-2.restore.fromServer: needs ams:data.postgres.backup.enabled: true (the "
            "restore reads the backups through the Barman Cloud plugin, which backup.enabled installs)",
        ),
        (
            "staging",
            {"ams:data.postgres.clusters": {"ams-db-2": {"restore": {"fromServer": "ams-db"}}}},
            "ams:data.postgres.serving: names 'ams-db', which is not one of clusters (ams-db-2)",
        ),
        (
            "staging",
            {"ams:data.postgres.clusters": {"ams-db": {}, "2nd": {}}},
            "ams:data.postgres.clusters.2nd: as a name, must be a DNS-1035 label of at most 50 characters, got '2nd'",
        ),
    ],
    ids=["time-unparsable", "time-without-offset", "time-without-source", "own-archive", "no-backups", "serving", "name"],
)
def test_what_cannot_work_is_refused_with_its_key(stack, overrides, expected):
    assert expected in refusal(stack, overrides)


def test_restoring_from_another_store_may_keep_the_name():
    restore = {"fromServer": "ams-db", "objectStore": "old-backups"}
    drill = render("staging", {"ams:data.postgres.clusters": {"ams-db": {"restore": restore}}})
    spec = drill.get("Cluster", "ams-db")["spec"]
    assert spec["externalClusters"][0]["plugin"]["parameters"] == {"barmanObjectName": "old-backups", "serverName": "ams-db"}
