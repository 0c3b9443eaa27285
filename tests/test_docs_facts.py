"""Statements of the reference pages under docs/ that the offline render decides, checked against it."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PROJECT_DIR, render_stack

DOCS = PROJECT_DIR / "docs"


def secret_names(stack: str) -> set[str]:
    return {s["metadata"]["name"] for s in render_stack(stack).of_kind("Secret")}


@pytest.mark.parametrize("stack, has_engine_keys", [("dev", True), ("staging", True), ("prod", False)])
def test_only_in_cluster_storage_has_s3_credentials_and_the_secrets_page_says_so(stack, has_engine_keys):
    """Prod's object storage is external (ams:data.objectStorage.mode: external): its keys are the hand-made
    `ams-s3-external`, not a Secret of the program."""
    assert ("ams-s3-credentials" in secret_names(stack)) is has_engine_keys
    page = (DOCS / "secrets-and-access.md").read_text()
    assert "with\nin-cluster object storage, in dev and staging, `ams-s3-credentials`" in page
    assert "it\nhas no `ams-s3-credentials`" in page


def test_prod_protects_and_retains_every_namespace_as_the_workloads_page_says():
    namespaces = [r for r in render_stack("prod").resources if r.type == "kubernetes:core/v1:Namespace"]
    assert len(namespaces) >= 3 and all(r.protect and r.retain_on_delete for r in namespaces)
    page = " ".join((DOCS / "what-runs-where.md").read_text().split())
    assert "In prod every namespace of the stack (app, data, monitoring, and the operators') is `protect`ed" in page


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_elsewhere_only_the_data_and_storage_namespaces_are_retained(stack):
    namespaces = [r for r in render_stack(stack).resources if r.type == "kubernetes:core/v1:Namespace"]
    assert not any(r.protect for r in namespaces)
    assert sorted(r.name for r in namespaces if r.retain_on_delete) == ["ns-data", "ns-storage"]


def test_a_blue_green_flip_raises_the_api_minimum_first():
    """The idle color's api sits at its HPA minimum (each color's HPA has minReplicas = ams:app.api.minReplicas), so
    the procedure raises the minimum before the flip and sets it back after the old color is retired."""
    block = re.search(r"```sh\n(pulumi stack select prod\npulumi config set --path ams:delivery.strategy blueGreen.*?)```",
                      (DOCS / "releasing.md").read_text(), flags=re.S).group(1)  # fmt: skip
    lines = block.splitlines()
    raise_minimum = next(i for i, line in enumerate(lines) if "ams:app.api.minReplicas <serving>" in line)
    flip = next(i for i, line in enumerate(lines) if "activeColor green" in line)
    retire = next(i for i, line in enumerate(lines) if "retire blue" in line)
    back = next(i for i, line in enumerate(lines) if "ams:app.api.minReplicas 3" in line)
    assert raise_minimum < flip < retire < back
    prod_minimum = render_stack("prod").get("HorizontalPodAutoscaler", "ams-api")["spec"]["minReplicas"]
    assert prod_minimum == 3
