"""Prod's Helm releases run their images by the record's digests where the chart has a digest field (issue 22 part 1;
components/platform/chart_images.py), rendered with a real helm (tools/helm.py, the `chart_objects` fixture).

With the tests' record (invented digests: the SHA-256 of each reference's text), every container and init container of
every chart pod in prod is `…@sha256:<64 hex>` except the documented exceptions below; staging's releases run by tag;
prod refuses, with one `error:` line, while a chart image has no digest in the record.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

from components import k8s as kb
from components.data.operators import BARMAN_CHART, CNPG_CHART
from components.edge.certificates import CERT_MANAGER_CHART
from components.monitoring.tier import KPS_CHART, LOKI_CHART
from components.platform import chart_images, digests
from tests.conftest import PROJECT_DIR
from tools import helm

TEST_RECORD = PROJECT_DIR / "tests/data/image-digests.test.yaml"
BY_DIGEST = re.compile(r"(?P<repo>[^@]+)@(?P<digest>sha256:[0-9a-f]{64})")

# What runs by tag in prod's chart pods, and why (docs/what-runs-where.md, chart_images.BY_TAG).
PROD_BY_TAG = {
    "ghcr.io/cloudnative-pg/cloudnative-pg",  # no digest field
    "ghcr.io/cloudnative-pg/plugin-barman-cloud",  # no digest field
    "docker.io/envoyproxy/gateway",  # no digest field (the controller and the certgen Job)
    "registry.k8s.io/kubectl",  # kube-prometheus-stack's CRD upgrade Job: the tag follows the cluster's version
    "docker.io/busybox",  # the same Job's init container: its digest applies only with kubectl's
}
# The charts whose digest fields prod sets, and how many fields each.
PROD_PINNED_CHARTS = {"cert-manager": 5, "kube-prometheus-stack": 9, "loki": 3}


def repository(image: str) -> str:
    """`repo[:tag][@digest]` -> `repo` (a port in the registry host is not a tag)."""
    name = image.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]


def chart_pod_images(results) -> list[tuple[str, str, str]]:
    """(release, container, image) of every container and init container of every chart pod."""
    return [
        (release.resource, f"{pod.kind}/{pod.name}/{container.get('name')}", container.get("image") or "")
        for release, objects in results
        if isinstance(objects, list)
        for pod in helm.pod_specs(objects)
        for key in ("initContainers", "containers")
        for container in pod.spec.get(key) or []
    ]


def test_prods_chart_pods_run_by_digest_but_the_documented_exceptions(chart_objects):
    images = chart_pod_images(chart_objects["prod"])
    assert len(images) >= 20
    by_tag = {repository(image) for _release, _container, image in images if not BY_DIGEST.fullmatch(image)}
    assert by_tag == PROD_BY_TAG
    assert set(chart_images.BY_TAG) >= PROD_BY_TAG


def test_each_digest_is_the_records_for_its_chart_image(chart_objects):
    """The digest a pod runs by is the one the record holds for the table's reference of that repository."""
    record = digests.load_record(TEST_RECORD)
    recorded = {repository(entry.image): record[entry.image] for c in chart_images.CHART_IMAGES.values() for entry in c.images}
    pinned = [BY_DIGEST.fullmatch(image) for _r, _c, image in chart_pod_images(chart_objects["prod"])]
    wrong = [m.group(0) for m in pinned if m and recorded.get(repository(m.group("repo"))) != m.group("digest")]
    assert wrong == []
    assert sum(1 for m in pinned if m) >= 15


def test_cert_managers_acme_solver_runs_by_digest(chart_objects):
    [(_release, objects)] = [(r, o) for r, o in chart_objects["prod"] if r.chart_dir_name == "cert-manager"]
    flags = [
        arg
        for obj in objects
        for container in helm.get_path(obj, "spec", "template", "spec", "containers") or []
        for arg in container.get("args") or []
        if arg.startswith("--acme-http01-solver-image=")
    ]
    assert len(flags) == 1 and BY_DIGEST.fullmatch(flags[0].split("=", 1)[1])


def test_staging_releases_run_by_tag(chart_objects):
    images = chart_pod_images(chart_objects["staging"])
    assert images and [image for _r, _c, image in images if "@" in image] == []


def test_the_table_covers_the_charts_and_pins_the_program_installs():
    pins = {chart.name.rsplit("/", 1)[-1]: chart.version for chart in (CERT_MANAGER_CHART, KPS_CHART, LOKI_CHART)}
    assert {name: table.version for name, table in chart_images.CHART_IMAGES.items()} == pins
    assert {name: len(table.images) for name, table in chart_images.CHART_IMAGES.items()} == PROD_PINNED_CHARTS
    # The charts without a digest field pin none.
    assert CNPG_CHART.name not in chart_images.CHART_IMAGES and BARMAN_CHART.name not in chart_images.CHART_IMAGES


def test_both_records_list_every_chart_image():
    images = chart_images.chart_images(chart_images.CHART_IMAGES)
    assert len(images) == 17
    committed = digests.load_record(digests.RECORD)
    assert {image: committed[image] for image in images} == dict.fromkeys(images)
    assert set(digests.load_record(TEST_RECORD)) >= images


def test_digest_values_are_nested_in_each_charts_form():
    """A `sha` field that the template prefixes with `@sha256:` gets the hex digits, a `digest` field the whole digest."""
    values = chart_images.digest_values("kube-prometheus-stack", digests.load_record(TEST_RECORD))
    assert values["alertmanager"] == {
        "alertmanagerSpec": {"image": {"sha": "f5b73ba6cc5ddc535296a704992dda681cfb69773c48f577c0b78333b5707e2b"}}
    }
    assert values["prometheus-node-exporter"] == {
        "image": {"digest": "sha256:7a6070c27a4775a90b1e3a7372209289e93c577f20b449bf869ff825390fb8dc"}
    }
    merged = kb.merged_values({"alertmanager": {"alertmanagerSpec": {"configSecret": "x"}}}, values)
    assert merged["alertmanager"]["alertmanagerSpec"] == {"configSecret": "x", **values["alertmanager"]["alertmanagerSpec"]}
    assert chart_images.digest_values("cloudnative-pg", {}) == {}


@pytest.mark.parametrize("dropped", ["quay.io/prometheus/alertmanager:v0.34.0"])
def test_prod_with_a_chart_image_unrecorded_stops_with_one_error_line(tmp_path, dropped):
    record = digests.load_record(TEST_RECORD)
    del record[dropped]
    lacking = tmp_path / "image-digests.yaml"
    lacking.write_text(yaml.safe_dump({"digests": record}))
    env = {**os.environ, "AMS_IMAGE_DIGESTS": str(lacking)}
    command = [sys.executable, "-m", "tools.render", "--stack", "prod", "--out", str(tmp_path / "out")]
    result = subprocess.run(command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: image digests: prod runs 1 image(s) without a digest in image-digests.yaml ({dropped}): ")
    assert "run scripts/refresh_digests.py --write" in line
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()
