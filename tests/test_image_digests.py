"""Prod's image digests come from a record in the repository (components/platform/digests.py), filled by
scripts/refresh_digests.py where registries are reachable; prod refuses to run an image the record has no digest for,
and never looks one up."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest
import yaml

from components.platform import digests
from scripts import refresh_digests
from tests.components import settings_of
from tests.conftest import PROJECT_DIR, render_stack

# What prod's settings run, written out: the app, PostgreSQL's operand and PgBouncer, Redis and its exporter, the log shipper
# and the web exporter. Not the in-cluster object storage's (prod uses an external S3).
PROD_IMAGES = {
    "ghcr.io/suresoft/ams-api:1.0.0",
    "ghcr.io/suresoft/ams-web:1.0.0",
    "ghcr.io/cloudnative-pg/postgresql:17.11-standard-trixie",
    "ghcr.io/cloudnative-pg/pgbouncer:1.25.1",
    "redis:8.10.1-alpine3.23",
    "oliver006/redis_exporter:v1.88.0",
    "cr.fluentbit.io/fluent/fluent-bit:4.2.8",
    "nginx/nginx-prometheus-exporter:1.5.3",
}
DIGEST_A = "sha256:" + "a" * 64


def test_prods_settings_name_exactly_these_images():
    assert digests.settings_images(settings_of("prod").model_dump(by_alias=True)) == PROD_IMAGES


def test_every_image_a_prod_pod_runs_is_one_its_settings_name():
    """What `unrecorded` checks before anything is registered covers every container the render pins."""
    prod = render_stack("prod")
    running = set()
    for obj in prod.objects:
        spec = obj.get("spec") or {}
        template = (spec.get("template") or {}).get("spec") or {}
        for container in template.get("containers", []) + template.get("initContainers", []):
            # A Pooler's template patch leaves the image to CloudNativePG (PINS.md).
            if "image" in container:
                running.add(container["image"].split("@")[0])
    running.add(prod.get("Cluster", "ams-db")["spec"]["imageName"].split("@")[0])
    assert running <= PROD_IMAGES and len(running) >= 5


def test_the_committed_record_lists_what_prod_runs_and_invents_no_digest():
    record = digests.load_record(digests.RECORD)
    assert set(record) >= PROD_IMAGES
    assert all(digest is None or digests.DIGEST.fullmatch(digest) for digest in record.values())
    assert "TEST DATA" not in digests.RECORD.read_text()


def test_prod_without_recorded_digests_stops_with_one_error_line_naming_the_refresh(tmp_path):
    unresolved = tmp_path / "image-digests.yaml"
    unresolved.write_text(yaml.safe_dump({"digests": {image: None for image in sorted(PROD_IMAGES)}}))
    env = {**os.environ, "AMS_IMAGE_DIGESTS": str(unresolved)}
    command = [sys.executable, "-m", "tools.render", "--stack", "prod", "--out", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    # The 7 the settings name and the 18 of prod's charts (tests/test_chart_digests.py), none of them recorded here.
    assert line.startswith("error: image digests: prod runs 25 image(s) without a digest in image-digests.yaml (")
    assert "run scripts/refresh_digests.py --write where their registries are reachable" in line
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_staging_needs_no_record(tmp_path, monkeypatch):
    from tests.conftest import stack_config
    from tools import runner

    empty = tmp_path / "image-digests.yaml"
    empty.write_text("digests: {}\n")
    monkeypatch.setenv("AMS_IMAGE_DIGESTS", str(empty))
    staging = runner.run("staging", stack_config("staging"))
    assert "@sha256:" not in str(staging.get("Deployment", "ams-api")["spec"])


@pytest.mark.parametrize(
    ("images", "record", "expected"),
    [
        (["a/b:1", "c/d:2"], {"a/b:1": DIGEST_A, "c/d:2": None}, ["c/d:2"]),
        (["a/b:1"], {}, ["a/b:1"]),
        (["a/b:1@" + DIGEST_A], {}, []),  # pinned by the reference itself
    ],
)
def test_unrecorded_names_each_image_without_a_digest(images, record, expected):
    assert digests.unrecorded(images, record) == expected


@pytest.mark.parametrize(
    ("digests_text", "problem"),
    [
        ("a/b:1: sha256:abc", "is not sha256:<64 hex digits>"),
        (f"a/b:1@{DIGEST_A}: {DIGEST_A}", "must be a <repo>:<tag> reference without a digest"),
        (f"a/b: {DIGEST_A}", "must be a <repo>:<tag> reference without a digest"),
    ],
)
def test_a_malformed_record_is_refused(tmp_path, digests_text, problem):
    path = tmp_path / "record.yaml"
    path.write_text(f"digests:\n  {digests_text}\n")
    with pytest.raises(digests.DigestRecordError, match=problem):
        digests.load_record(path)


def test_the_object_storage_and_monitoring_images_count_only_when_they_run():
    settings = {
        "data": {"objectStorage": {"mode": "seaweedfs", "image": "s/w:1"}, "redis": {"image": "r:1"}},
        "monitoring": {"enabled": False, "logShipper": {"image": "f/b:1"}},
        "delivery": {"images": {"api": "x/api:1", "web": "x/web:1"}, "canary": {"api": "", "web": ""}},
    }
    assert digests.settings_images(settings) == {"s/w:1", "r:1", "x/api:1", "x/web:1"}
    settings["data"]["objectStorage"]["mode"] = "external"
    settings["monitoring"]["enabled"] = True
    assert digests.settings_images(settings) == {"r:1", "f/b:1", "x/api:1", "x/web:1"}


# --- the refresh script ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("redis:8.10.1-alpine3.23", ("registry-1.docker.io", "library/redis", "8.10.1-alpine3.23")),
        ("oliver006/redis_exporter:v1.88.0", ("registry-1.docker.io", "oliver006/redis_exporter", "v1.88.0")),
        ("ghcr.io/suresoft/ams-api:1.0.0", ("ghcr.io", "suresoft/ams-api", "1.0.0")),
        ("localhost:5000/team/api:2", ("localhost:5000", "team/api", "2")),
        ("docker.io/busybox:1.38.0", ("registry-1.docker.io", "library/busybox", "1.38.0")),
        ("docker.io/grafana/loki:3.7.6", ("registry-1.docker.io", "grafana/loki", "3.7.6")),
    ],
)
def test_a_reference_is_split_as_docker_resolves_it(image, expected):
    assert refresh_digests.split_reference(image) == expected


class FakeRegistry(http.server.BaseHTTPRequestHandler):
    """A registry that wants an anonymous bearer token, as ghcr.io and Docker Hub do."""

    digest = "sha256:" + "b" * 64

    def do_HEAD(self):  # noqa: N802 - http.server's naming
        if self.headers.get("Authorization") != "Bearer anonymous-token":
            self.send_response(401)
            realm = f"http://{self.headers['Host']}/token"
            self.send_header("WWW-Authenticate", f'Bearer realm="{realm}",service="fake",scope="repository:team/api:pull"')
            self.end_headers()
            return
        assert self.path == "/v2/team/api/manifests/2.0" and "image.index" in self.headers["Accept"]
        self.send_response(200)
        self.send_header("Docker-Content-Digest", self.digest)
        self.end_headers()

    def do_GET(self):  # noqa: N802
        assert self.path == "/token?service=fake&scope=repository%3Ateam%2Fapi%3Apull", self.path
        body = b'{"token": "anonymous-token"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def registry():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeRegistry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_refresh_records_what_the_registry_answers_and_keeps_the_header(registry, tmp_path, capsys):
    record = tmp_path / "image-digests.yaml"
    record.write_text(f"# header kept\ndigests:\n  {registry}/team/api:2.0: null\n")
    assert refresh_digests.main(["--record", str(record), "--check"]) == 1
    assert "no digest recorded" in capsys.readouterr().out
    assert refresh_digests.main(["--record", str(record), "--write"]) == 0
    assert record.read_text() == f"# header kept\ndigests:\n  {registry}/team/api:2.0: {FakeRegistry.digest}\n"
    assert refresh_digests.main(["--record", str(record), "--check"]) == 0


def test_a_registry_that_gives_no_digest_fails_the_refresh_and_writes_nothing_for_it(registry, tmp_path, monkeypatch):
    monkeypatch.setattr(FakeRegistry, "digest", "not-a-digest")
    record = tmp_path / "image-digests.yaml"
    record.write_text(f"digests:\n  {registry}/team/api:2.0: null\n")
    assert refresh_digests.main(["--record", str(record), "--write"]) == 1
    assert digests.load_record(record) == {f"{registry}/team/api:2.0": None}


def test_a_new_image_is_added_to_the_record_and_resolved(registry, tmp_path):
    """A promotion names images prod has not run yet: `--add` records them, and the refresh resolves them."""
    record = tmp_path / "image-digests.yaml"
    record.write_text("digests: {}\n")
    image = f"{registry}/team/api:2.0"
    assert refresh_digests.main(["--record", str(record), "--write", "--add", image]) == 0
    assert digests.load_record(record) == {image: FakeRegistry.digest}
