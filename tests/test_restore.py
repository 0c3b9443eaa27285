"""Restore is configuration (issue 23 part 1): `ams:data.postgres.restore` starts the Cluster from another server's
backups (CloudNativePG `bootstrap.recovery` from an `externalClusters` entry read through the Barman Cloud plugin,
plugin-barman-cloud hack/examples/cluster-restore-archive.yaml) and archives its own WAL under another server name;
what cannot work is refused with its key.

Not yet built: a restored cluster beside the running one under its own name, and the app's connections moving to it
by a setting (the cluster's name `ams-db` is still fixed in the code), the drill, and the object storage's side.
"""

from __future__ import annotations

import pytest

from components.settings import SettingsError
from tests.conftest import stack_config, with_overrides
from tests.test_conformance import data_dir, read_json, validate_resource
from tools import render as render_cli
from tools import runner, update_plan

RESTORE = {
    "ams:data.postgres.restore": {
        "fromServer": "ams-db",
        "targetTime": "2026-12-01T10:00:00Z",
        "serverName": "ams-db-restored",
    }
}


def restored(stack: str = "staging", overrides: dict | None = None) -> runner.Render:
    return runner.run(stack, with_overrides(stack_config(stack), {**RESTORE, **(overrides or {})}))


def refusal(stack: str, restore: dict) -> list[str]:
    with pytest.raises(SettingsError) as raised:
        runner.run(stack, with_overrides(stack_config(stack), {"ams:data.postgres.restore": restore}))
    return raised.value.problems


def test_the_cluster_starts_from_the_backups_and_archives_under_a_new_server_name():
    cluster = restored().get("Cluster", "ams-db")["spec"]
    assert cluster["bootstrap"] == {
        "recovery": {
            "source": "origin",
            "database": "ams",
            "owner": "ams",
            "secret": {"name": "ams-db-app"},
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
    assert cluster["plugins"] == [
        {
            "name": "barman-cloud.cloudnative-pg.io",
            "isWALArchiver": True,
            "parameters": {"barmanObjectName": "ams-backups", "serverName": "ams-db-restored"},
        }
    ]


def test_to_the_latest_point_when_no_time_is_given():
    cluster = restored(overrides={"ams:data.postgres.restore.targetTime": ""}).get("Cluster", "ams-db")["spec"]
    assert "recoveryTarget" not in cluster["bootstrap"]["recovery"]


def test_the_restored_cluster_matches_its_crd_schema():
    cluster = restored().get("Cluster", "ams-db")
    schema = read_json(data_dir() / "crds" / "postgresql.cnpg.io_Cluster_v1.json")["schema"]
    assert validate_resource(cluster, schema) == []


def test_without_the_setting_the_cluster_is_initialised_empty_and_archives_under_its_name():
    cluster = runner.run("staging", stack_config("staging")).get("Cluster", "ams-db")["spec"]
    assert list(cluster["bootstrap"]) == ["initdb"] and "externalClusters" not in cluster
    assert cluster["plugins"][0]["parameters"] == {"barmanObjectName": "ams-backups"}


def test_a_later_up_with_the_setting_still_there_changes_nothing():
    """The bootstrap runs once, at the Cluster's creation; the next `up` renders the same Cluster."""
    first = render_cli.resource_records(restored())
    again = render_cli.resource_records(restored())
    steps = update_plan.plan(first, again)
    assert [step for step in steps if step.op != "same"] == []


@pytest.mark.parametrize(
    ("stack", "restore", "expected"),
    [
        (
            "staging",
            {"fromServer": "ams-db", "targetTime": "yesterday", "serverName": "ams-db-2"},
            "ams:data.postgres.restore.targetTime: must be an RFC 3339 time such as 2026-12-01T10:00:00Z, got 'yesterday'",
        ),
        (
            "staging",
            {"fromServer": "ams-db", "targetTime": "2026-12-01T10:00:00", "serverName": "ams-db-2"},
            "ams:data.postgres.restore.targetTime: needs its UTC offset (e.g. 2026-12-01T10:00:00Z), got '2026-12-01T10:00:00'",
        ),
        (
            "staging",
            {"fromServer": "ams-db"},
            "ams:data.postgres.restore.serverName: the cluster would archive its WAL into the archive it restores from "
            "(ams-backups/ams-db), which the Barman Cloud plugin refuses: name another server",
        ),
        (
            "dev",
            {"fromServer": "ams-db", "serverName": "ams-db-2"},
            "ams:data.postgres.restore.fromServer: needs ams:data.postgres.backup.enabled: true (the restore reads the "
            "backups through the Barman Cloud plugin, which backup.enabled installs)",
        ),
    ],
    ids=["time-unparsable", "time-without-offset", "own-archive", "no-backups"],
)
def test_what_cannot_work_is_refused_with_its_key(stack, restore, expected):
    assert expected in refusal(stack, restore)


def test_restoring_from_another_store_may_keep_the_server_name():
    cluster = restored(overrides={"ams:data.postgres.restore": {"fromServer": "ams-db", "objectStore": "old-backups"}})
    spec = cluster.get("Cluster", "ams-db")["spec"]
    assert spec["externalClusters"][0]["plugin"]["parameters"] == {"barmanObjectName": "old-backups", "serverName": "ams-db"}
