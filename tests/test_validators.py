"""External validators on the rendered manifests of every stack (DESIGN.md section 6, rung 3)."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import PROJECT_DIR, RENDERS, tool


@pytest.mark.parametrize("version", ["1.35.0", "1.37.0"])
@pytest.mark.parametrize("stack", RENDERS)
def test_kubernetes_validate_strict(render_dirs, stack, version):
    validator = tool("kubernetes-validate", PROJECT_DIR / ".venv/bin/kubernetes-validate")
    manifests = render_dirs[stack] / "manifests.yaml"
    result = subprocess.run(
        [validator, "--strict", "--quiet", "-k", version, str(manifests)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("stack", RENDERS)
def test_checkov_finds_nothing(render_dirs, stack):
    checkov = tool("checkov", PROJECT_DIR / ".venv-checkov/bin/checkov")
    result = subprocess.run(
        [
            checkov,
            "--framework",
            "kubernetes",
            "--skip-download",
            "--quiet",
            "-o",
            "json",
            "-f",
            str(render_dirs[stack] / "manifests.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [(c["check_id"], c["resource"]) for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert failed == []
    summary = [r["summary"] for r in reports]
    assert sum(s["passed"] for s in summary) > 100
    for r in reports:
        for skipped in r.get("results", {}).get("skipped_checks", []):
            assert skipped.get("suppress_comment"), f"{skipped['check_id']} skipped without a reason"
