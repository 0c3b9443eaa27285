"""Resolve image tags to their registry digests and record them (components/platform/image-digests.yaml).

    .venv/bin/python scripts/refresh_digests.py            # print what each tag resolves to; change nothing
    .venv/bin/python scripts/refresh_digests.py --write    # record the digests not yet resolved (null)
    .venv/bin/python scripts/refresh_digests.py --write --all   # resolve every tag again (a tag was pushed again)
    .venv/bin/python scripts/refresh_digests.py --check    # exit 1 while any image has no digest recorded
    .venv/bin/python scripts/refresh_digests.py --write --add ghcr.io/suresoft/ams-api:1.1.0   # record a new image

Runs where the registries are reachable (the pipeline); prod itself never looks a digest up. A digest is what the
registry answers for the tag's manifest (for a multi-platform image, its index): the `Docker-Content-Digest` header
of `GET /v2/<repository>/manifests/<tag>`, after the anonymous bearer-token exchange the registry's 401 challenge
asks for (the OCI distribution spec, "Pulling manifests"; Docker's token authentication,
docs.docker.com/registry/spec/auth/token). Docker Hub images live on registry-1.docker.io, one-component names under
`library/` (distribution/reference normalize.go). Registries on localhost are spoken to over plain HTTP, as Docker
does for them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from components.platform.digests import DIGEST, RECORD, load_record  # noqa: E402

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
DOCKER_HUB = "registry-1.docker.io"
CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class ResolveError(Exception):
    """The registry did not give a digest for the tag."""


def split_reference(image: str) -> tuple[str, str, str]:
    """(registry host, repository, tag) of `<repo>:<tag>`, with Docker Hub's defaults filled in."""
    name, _, tag = image.rpartition(":")
    first, slash, rest = name.partition("/")
    has_host = slash and ("." in first or ":" in first or first == "localhost")
    if has_host and first not in ("docker.io", "index.docker.io"):
        return first, rest, tag
    if has_host:  # Docker Hub named by its host, as the charts name their images (distribution/reference normalize.go)
        name = rest
    if "/" not in name:
        return DOCKER_HUB, f"library/{name}", tag
    return DOCKER_HUB, name, tag


def challenge(header: str) -> dict[str, str]:
    """The parameters of a `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` challenge."""
    scheme, _, params = header.partition(" ")
    if scheme.lower() != "bearer":
        raise ResolveError(f"the registry asks for {scheme} authentication, which this script does not speak")
    return dict(CHALLENGE_PARAM.findall(params))


def _scheme(host: str) -> str:
    if host.split(":")[0] in ("localhost", "127.0.0.1"):
        return "http"
    return "https"


def _anonymous_token(params: dict[str, str]) -> str:
    query = urllib.parse.urlencode({key: value for key, value in params.items() if key in ("service", "scope")})
    with urllib.request.urlopen(f"{params['realm']}?{query}", timeout=30) as response:
        answer = json.load(response)
    return answer.get("token") or answer.get("access_token") or ""


def resolve(image: str) -> str:
    """The digest the registry gives for the image's tag now."""
    host, repository, tag = split_reference(image)
    url = f"{_scheme(host)}://{host}/v2/{repository}/manifests/{tag}"
    headers = {"Accept": MANIFEST_TYPES}
    for _ in range(2):
        request = urllib.request.Request(url, headers=headers, method="HEAD")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                digest = response.headers.get("Docker-Content-Digest", "")
                if not DIGEST.fullmatch(digest):
                    raise ResolveError(f"{image}: the registry answered no sha256 digest ({digest!r})")
                return digest
        except urllib.error.HTTPError as error:
            if error.code != 401 or "Authorization" in headers:
                raise ResolveError(f"{image}: {url} answered {error.code}") from error
            token = _anonymous_token(challenge(error.headers.get("WWW-Authenticate", "")))
            headers["Authorization"] = f"Bearer {token}"
    raise ResolveError(f"{image}: no digest from {url}")


def write_record(path: Path, digests: dict[str, str | None]) -> None:
    """The record with its comment header kept and the digests replaced."""
    text = path.read_text()
    header = text[: text.index("digests:")]
    body = yaml.safe_dump({"digests": dict(sorted(digests.items()))}, default_flow_style=False)
    path.write_text(header + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", type=Path, default=RECORD)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="record the digests that are not resolved yet")
    mode.add_argument("--check", action="store_true", help="exit 1 while an image has no digest recorded")
    parser.add_argument("--all", action="store_true", help="with --write: resolve every tag again")
    parser.add_argument("--add", nargs="+", default=[], metavar="IMAGE", help="images (<repo>:<tag>) to record too")
    args = parser.parse_args(argv)
    record = load_record(args.record)
    for image in args.add:
        record.setdefault(image, None)
    unresolved = sorted(image for image, digest in record.items() if not digest)
    if args.check:
        for image in unresolved:
            print(f"error: {image}: no digest recorded in {args.record.name}; run scripts/refresh_digests.py --write")
        return 1 if unresolved else 0
    wanted = sorted(record) if args.all else unresolved
    failed = 0
    for image in wanted:
        try:
            digest = resolve(image)
        except (ResolveError, urllib.error.URLError, OSError) as error:
            print(f"error: {error}", file=sys.stderr)
            failed += 1
            continue
        before = record[image]
        record[image] = digest
        change = "" if before in (None, digest) else f" (was {before})"
        print(f"{image} {digest}{change}")
    if args.write:
        write_record(args.record, record)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
