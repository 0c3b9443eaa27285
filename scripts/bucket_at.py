"""Bring a versioned bucket's objects back to a point in time, to match a database restored to that point.

Reads what `aws s3api list-object-versions --bucket <bucket> --output json` prints (its `Versions` and `DeleteMarkers`,
every page: the CLI follows the pagination itself) on stdin, and prints the `aws s3api copy-object` commands that make
each key's current object the version that was current at `--at`. Nothing is run: review, then run the output.

- A key changed or deleted after the point gets its version of that time copied over the current one (CopyObject
  takes `<bucket>/<url-encoded key>?versionId=<id>`, AWS S3 API reference, CopyObject `x-amz-copy-source`); the newer
  versions stay in the bucket's history.
- A key created after the point is listed, not deleted: the restored rows do not name it, so it is a harmless leftover.
- A key unchanged since the point needs nothing.

    aws s3api list-object-versions --bucket suresoft-ams-assets --output json \\
      | python scripts/bucket_at.py --bucket suresoft-ams-assets --at 2026-11-20T09:00:00Z
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote


@dataclass(frozen=True)
class Entry:
    key: str
    version_id: str
    modified: datetime
    latest: bool
    deleted: bool  # a delete marker


def entries(listing: dict) -> list[Entry]:
    found = []
    for kind, deleted in (("Versions", False), ("DeleteMarkers", True)):
        for item in listing.get(kind) or []:
            modified = datetime.fromisoformat(item["LastModified"].replace("Z", "+00:00"))
            found.append(Entry(item["Key"], item["VersionId"], modified, item["IsLatest"], deleted))
    return found


def plan(listing: dict, bucket: str, at: datetime) -> tuple[list[str], list[str]]:
    """The copy commands, and the keys created after the point (left alone)."""
    by_key: dict[str, list[Entry]] = {}
    for entry in entries(listing):
        by_key.setdefault(entry.key, []).append(entry)
    commands = []
    created_after = []
    for key in sorted(by_key):
        history = sorted(by_key[key], key=lambda entry: entry.modified)
        then = [entry for entry in history if entry.modified <= at]
        if not then or then[-1].deleted:
            if any(not entry.deleted for entry in history if entry.modified > at):
                created_after.append(key)
            continue
        wanted = then[-1]
        if wanted.latest:
            continue
        source = f"{bucket}/{quote(key, safe='/')}?versionId={quote(wanted.version_id, safe='')}"
        words = ["aws", "s3api", "copy-object", "--bucket", bucket, "--key", key, "--copy-source", source]
        commands.append(shlex.join(words))
    return commands, created_after


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--at", required=True, help="RFC 3339 with its offset, as ams:data.postgres...restore.targetTime")
    args = parser.parse_args(argv)
    at = datetime.fromisoformat(args.at.replace("Z", "+00:00"))
    if at.tzinfo is None:
        parser.error(f"--at needs its UTC offset (e.g. 2026-11-20T09:00:00Z), got {args.at!r}")
    commands, created_after = plan(json.load(sys.stdin), args.bucket, at)
    for key in created_after:
        print(f"# created after {args.at}, left as it is: {key}")
    for command in commands:
        print(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())
