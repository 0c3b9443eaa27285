"""scripts/bucket_at.py: the copy commands that bring a versioned bucket back to the database's restored point."""

from __future__ import annotations

import io
import json
import shlex

import pytest

from scripts import bucket_at


def version(key: str, version_id: str, modified: str, latest: bool) -> dict:
    return {"Key": key, "VersionId": version_id, "LastModified": modified, "IsLatest": latest}


LISTING = {
    "Versions": [
        version("a.png", "a1", "2026-11-20T08:00:00.000Z", False),
        version("a.png", "a2", "2026-11-20T10:00:00.000Z", True),
        version("b.png", "b1", "2026-11-20T08:00:00.000Z", True),
        version("c.png", "c1", "2026-11-20T08:00:00.000Z", False),
        version("d.png", "d1", "2026-11-20T10:00:00.000Z", True),
        version("e.png", "e1", "2026-11-20T08:00:00.000Z", False),
        version("e.png", "e2", "2026-11-20T10:00:00.000Z", True),
        version("dir/my file.png", "f+1", "2026-11-20T08:00:00.000Z", False),
        version("dir/my file.png", "f2", "2026-11-20T09:30:00.000Z", True),
    ],
    "DeleteMarkers": [
        version("c.png", "c2", "2026-11-20T10:00:00.000Z", True),
        version("e.png", "e-del", "2026-11-20T08:30:00.000Z", False),
    ],
}


def test_each_key_gets_the_version_current_at_the_point():
    commands, created_after = bucket_at.plan(LISTING, "assets", bucket_at.datetime.fromisoformat("2026-11-20T09:00:00+00:00"))
    sources = {shlex.split(c)[6]: shlex.split(c)[8] for c in commands}
    assert sources == {
        "a.png": "assets/a.png?versionId=a1",  # overwritten after the point
        "c.png": "assets/c.png?versionId=c1",  # deleted after the point
        "dir/my file.png": "assets/dir/my%20file.png?versionId=f%2B1",  # URL-encoded, as CopyObject wants
    }
    # b.png did not change; d.png did not exist at the point, e.png had been deleted by then.
    assert created_after == ["d.png", "e.png"]


def test_the_command_line_prints_the_plan_and_refuses_a_time_without_offset(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(LISTING)))
    assert bucket_at.main(["--bucket", "assets", "--at", "2026-11-20T09:00:00Z"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "# created after 2026-11-20T09:00:00Z, left as it is: d.png"
    assert len([line for line in lines if line.startswith("aws s3api copy-object --bucket assets ")]) == 3
    with pytest.raises(SystemExit):
        bucket_at.main(["--bucket", "assets", "--at", "2026-11-20T09:00:00"])
