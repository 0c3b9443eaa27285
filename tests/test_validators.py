"""External validators on the rendered manifests of every stack (DESIGN.md section 6, rung 3)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.conftest import CHECKOV, RENDERS, finish_checkov, session_directory, tool

KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")


@cache
def kubernetes_validate():
    """kubernetes-validate's own validation (`utils.validate`, what its CLI runs per object), in this process: the CLI
    re-reads the version's schema files from disk for every object, which made it most of this file's time, so the
    reads are cached here. Objects whose kind it has no schema for are skipped, as the CLI only warns about them."""
    try:
        from kubernetes_validate import utils
    except ImportError:
        tool("kubernetes-validate")  # fails in CI, skips elsewhere
        raise
    utils.schema_contents = cache(utils.schema_contents)
    return utils


def strict_problems(objects: list[dict], version: str) -> list[str]:
    utils = kubernetes_validate()
    problems = []
    for obj in objects:
        try:
            utils.validate(obj, version, strict=True)
        except utils.SchemaNotFoundError:
            continue
        except utils.ValidationError as error:
            path = ".".join(str(item) for item in error.path)
            problems.append(f"{utils.kn(obj)}: {path}: {error.message}")
    return problems


def manifests(directory: Path) -> list[dict]:
    text = (directory / "manifests.yaml").read_text()
    return [obj for obj in yaml.load_all(text, Loader=yaml.CSafeLoader) if obj]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("stack", RENDERS)
def test_kubernetes_validate_strict(render_dirs, stack, version):
    assert strict_problems(manifests(render_dirs[stack]), version) == []


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_strict_validation_finds_a_field_the_api_does_not_have(version):
    """The in-process validation is the strict one: an unknown field is an error, a wrong type too."""
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labelz": {}}, "data": {"a": "b"}}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "y"}, "spec": {"ports": [{"port": "http"}]}}
    [unknown_field, wrong_type] = strict_problems([config_map, service], version)
    assert unknown_field.startswith("configmap/x: metadata: Additional properties are not allowed ('labelz'")
    assert wrong_type.startswith("service/y: spec.ports.0.port: 'http' is not of type 'integer'")


@pytest.fixture(scope="session")
def checkov_results(render_dirs, tmp_path_factory) -> dict[str, dict[str, list]]:
    """Each render's passed, failed and skipped checks, by the render's name, from the one checkov run over every
    render that tests/conftest.py `start_checkov` started in the background (its start-up is most of a run)."""
    tool("checkov", CHECKOV)
    work = session_directory(tmp_path_factory) / "checkov"
    report = json.loads(finish_checkov(work).read_text())
    reports = report if isinstance(report, list) else [report]
    by_render = {name: {"passed_checks": [], "failed_checks": [], "skipped_checks": []} for name in render_dirs}
    for part in reports:
        for outcome, checks in part.get("results", {}).items():
            for check in checks if outcome in ("passed_checks", "failed_checks", "skipped_checks") else []:
                by_render[Path(check["file_abs_path"]).stem][outcome].append(check)
    return by_render


@pytest.mark.parametrize("stack", RENDERS)
def test_checkov_finds_nothing(checkov_results, stack):
    results = checkov_results[stack]
    assert [(c["check_id"], c["resource"]) for c in results["failed_checks"]] == []
    assert len(results["passed_checks"]) > 100
    # A suppression needs its reason (`checkov:skip=<id>:<reason>`); checkov reports it in the check's result. Under
    # --quiet the report held no skipped checks at all, so this is checked on the full report.
    assert results["skipped_checks"], "the renders hold suppressions with reasons: the report must list them"
    for skipped in results["skipped_checks"]:
        assert skipped["check_result"].get("suppress_comment"), f"{skipped['check_id']} skipped without a reason"
