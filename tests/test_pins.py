"""Every pin is recorded in PINS.md with the upstream release it was checked against, and none is a known hole."""

from __future__ import annotations

import re

import pytest
import yaml

from components import secret_store
from components.data import operators as data_operators
from components.edge import certificates, ingress
from components.monitoring import tier as monitoring_tier
from tests.conftest import PROJECT_DIR

CHARTS = [
    certificates.CERT_MANAGER_CHART,
    data_operators.CNPG_CHART,
    data_operators.BARMAN_CHART,
    secret_store.ESO_CHART,
    ingress.ENVOY_GATEWAY_CHART,
    monitoring_tier.KPS_CHART,
    monitoring_tier.LOKI_CHART,
]


def environment_images() -> set[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, str) and key.lower().endswith("image") and value:
                    found.add(value)
                if key == "images" and isinstance(value, dict):  # ams:local.images, ams:delivery.images
                    found.update(image for image in value.values() if isinstance(image, str) and image)
                walk(value)

    walk(yaml.safe_load((PROJECT_DIR / "components" / "environments.yaml").read_text()))
    return found


def dockerfile_images() -> set[str]:
    return {
        match.group(1)
        for path in (PROJECT_DIR / "docker").glob("*/Dockerfile")
        for match in re.finditer(r"^FROM\s+(\S+)", path.read_text(), flags=re.M)
    }


def pins_table() -> dict[str, list[str]]:
    rows = {}
    for line in (PROJECT_DIR / "PINS.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 4:
            rows[cells[0]] = cells
    return rows


def test_every_pin_is_recorded_with_what_it_was_checked_against():
    rows = pins_table()
    wanted = {f"`{image}`" for image in environment_images() | dockerfile_images()}
    wanted |= {f"`{chart.name.rsplit('/', 1)[-1]}` chart `{chart.version}`" for chart in CHARTS}
    assert wanted - set(rows) == set(), "pins missing from PINS.md"
    assert set(rows) - wanted == set(), "PINS.md lists pins the program no longer uses"
    for pin, (_, where, checked, _notes) in rows.items():
        assert where and re.search(r"\d{4}-\d{2}-\d{2}|conformance data", checked), pin


def version(tag: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.match(r"v?(\d+(?:\.\d+)*)", tag).group(1).split("."))


@pytest.mark.parametrize(
    "image, rule",
    [
        ("ghcr.io/cloudnative-pg/postgresql", "a minimal or standard image (the bare MM.m tag is the deprecated system image)"),
        ("redis", ">= 7.4.6 (CVE-2025-49844)"),
        ("node", "an LTS line past 20 (end of life 2026-04-30)"),
    ],
)
def test_no_pin_carries_a_known_hole(image, rule):
    refs = [ref for ref in environment_images() | dockerfile_images() if ref.rsplit(":", 1)[0] == image]
    assert refs, image
    for ref in refs:
        tag = ref.rsplit(":", 1)[1]
        if image.endswith("postgresql"):
            assert re.fullmatch(r"\d+\.\d+(-\d{12})?-(minimal|standard)-(trixie|bookworm)", tag), (ref, rule)
        elif image == "redis":
            assert version(tag) >= (7, 4, 6), (ref, rule)
        else:
            assert version(tag)[0] >= 22 and version(tag)[0] % 2 == 0, (ref, rule)


def test_prod_runs_every_image_by_digest_and_needs_no_tag_skip():
    """components/platform/digests.py: prod runs every image by the digest recorded for its tag."""
    from tests.conftest import render_stack

    prod = render_stack("prod")
    images = [
        container["image"]
        for obj in prod.objects
        if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
        for container in obj["spec"]["template"]["spec"]["containers"]
    ]
    images.append(prod.get("Cluster", "ams-db")["spec"]["imageName"])
    assert images and all(re.fullmatch(r"[^@\s]+:[^@\s]+@sha256:[0-9a-f]{64}", image) for image in images), images
    assert "CKV_K8S_43" not in str([o["metadata"].get("annotations", {}) for o in prod.objects])
    assert "@sha256:" not in str(render_stack("staging").get("Deployment", "ams-api")["spec"])


def test_prod_makes_no_registry_lookup_and_takes_its_digests_from_the_record(monkeypatch):
    """No invoke at all (pulumi-docker's getRegistryImage asked the registry on every preview and up): the digests
    are the record's, so a registry outage cannot fail a prod preview and a rollback brings back its own digests."""
    from tests.conftest import TEST_DIGESTS, stack_config
    from tools import runner

    invoked: list[str] = []
    call = runner._RecordingMocks.call

    def recording(self, args):
        invoked.append(args.token)
        return call(self, args)

    monkeypatch.setattr(runner._RecordingMocks, "call", recording)
    prod = runner.run("prod", stack_config("prod"))
    assert invoked == []
    api = prod.get("Deployment", "ams-api")["spec"]["template"]["spec"]["containers"][0]["image"]
    # The test record's digest for the api's tag (tests/data/image-digests.test.yaml), written out.
    assert api == "ghcr.io/suresoft/ams-api:1.0.0@sha256:df4ba7f3eef7b03a36969ddaeb5fa08e7e8de57e8d21f37d4a7a85b02d3048e3"
    assert "ghcr.io/suresoft/ams-api:1.0.0: sha256:df4ba7f3eef7b03a" in TEST_DIGESTS.read_text()


def test_the_transformation_pins_every_workload_kind_the_policy_checks():
    """The mandatory policy refuses a tag-only image in every workload kind it knows (policy/ams_policies.py
    POD_SPEC_PATHS): a kind the transformation skipped would fail every prod preview that has one."""
    from components.platform import digests
    from policy import ams_policies

    assert set(ams_policies.WORKLOAD_TYPES) == digests.POD_TEMPLATE_TYPES
