"""`python -m tools.render`: files, plan, determinism, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT_DIR


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )


def test_render_writes_files_and_prints_the_plan(tmp_path):
    result = render("--stack", "prod", "--out", str(tmp_path / "a"))
    assert result.returncode == 0, result.stderr
    # The committed prod stack has not recorded its cluster's UID nor its nodes' subnets (first-deploy steps): two warnings.
    uid = "00000000-0000-4000-8000-000000000000"  # what the offline runner's simulated cluster answers
    assert result.stderr.splitlines() == [
        "warning: ams:network.nodeCidrs is empty: Prometheus cannot scrape the kubelets and node exporters until the "
        "nodes' subnets are recorded (docs/network-assumptions.md)",
        f"warning: ams:cluster.uid is not recorded: kubeconfig context 'ams-prod' reached the cluster with kube-system "
        f"UID {uid}; record it (pulumi config set --path ams:cluster.uid {uid})",
    ]
    objects = list(yaml.safe_load_all((tmp_path / "a" / "manifests.yaml").read_text()))
    assert {o["kind"] for o in objects} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "Namespace"}
    resources = json.loads((tmp_path / "a" / "resources.json").read_text())
    assert {"ams:index:AppTier", "random:index/randomPassword:RandomPassword"} <= {r["type"] for r in resources}
    outputs = json.loads((tmp_path / "a" / "outputs.json").read_text())
    assert outputs["apiService"] == "ams-api-service.ams.svc.cluster.local:4000"

    plan = result.stdout
    assert "kubernetes:apps/v1:Deployment" in plan and "ams (AppTier)" in plan and "apiService" in plan
    footprint = plan[plan.index("Footprint per namespace") :].splitlines()
    ams_row = next(line.split() for line in footprint if line.split()[:1] == ["ams"])
    # 3 api (250m) + 3 web (100m + 10m metrics sidecar) + 2 worker (250m) = 1580m requested; 8 pods.
    assert ams_row[1:3] == ["8", "1580m"]
    assert footprint[-1].split()[0] == "total"


@pytest.mark.parametrize("stack", ["staging", "local"])
def test_rerun_is_byte_identical(tmp_path, stack):
    """The local stack's containers reference each other's IDs, so the mock's IDs must not depend on the order in
    which resources that become ready together register (it once did: tools/runner.py)."""
    for out in ("a", "b"):
        assert render("--stack", stack, "--out", str(tmp_path / out)).returncode == 0
    for name in ("manifests.yaml", "resources.json", "outputs.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_bad_config_exits_2_without_traceback(tmp_path):
    stack_file = tmp_path / "Pulumi.bad.yaml"
    stack_file.write_text("config:\n  ams:environment: dev\n  ams:app:\n    api: {minReplicas: 0}\n  ams:typo: 1\n")
    result = render("--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "error: ams:app.api.minReplicas: must be >= 1, got 0"
    assert any(line.startswith("error: ams:typo: unknown key") for line in lines)
    assert any(line.startswith("error: ams:delivery.images.api: must be a non-empty string") for line in lines)
    assert all(line.startswith("error: ") for line in lines)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_input_a_provider_refuses_exits_4_with_its_error_line(tmp_path, monkeypatch, capsys):
    """The refusal itself is modelled and tested in tests/test_provider_checks.py; here, how the command reports it."""
    from tools import provider_checks, render, runner

    def refused(stack_file):
        raise provider_checks.ProviderCheckError("docker:index/container:Container resource 'x' has a problem: bad")

    monkeypatch.setattr(runner, "run_stack_file", refused)
    assert render.main(["--stack", "local", "--out", str(tmp_path / "out")]) == 4
    assert capsys.readouterr().err == "error: docker:index/container:Container resource 'x' has a problem: bad\n"
    assert not (tmp_path / "out").exists()


def test_unreadable_stack_file_exits_2(tmp_path):
    result = render("--stack-file", str(tmp_path / "Pulumi.missing.yaml"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and result.stderr.startswith("error: cannot read")


def render_here(capsys, *args: str) -> tuple[int, str]:
    """The render command in this process (the subprocess tests above cover it as a command): status and stdout."""
    from tools import render as render_cli

    status = render_cli.main(list(args))
    return status, capsys.readouterr().out


def test_compare_prints_the_preview_and_refuses_protected_replacements(tmp_path, capsys):
    assert render_here(capsys, "--stack", "prod", "--out", str(tmp_path / "before"))[0] == 0
    stack_file = tmp_path / "Pulumi.prod.yaml"
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    config["config"]["ams:data"]["postgres"]["instances"] = 4
    stack_file.write_text(yaml.safe_dump(config))
    status, grown = render_here(
        capsys, "--stack-file", str(stack_file), "--out", str(tmp_path / "grown"), "--compare", str(tmp_path / "before")
    )
    assert status == 0
    assert "~ kubernetes:postgresql.cnpg.io/v1:Cluster" in grown and "spec.instances" in grown
    config["config"]["ams:namespaces"]["data"] = "ams-data-2"
    stack_file.write_text(yaml.safe_dump(config))
    status, renamed = render_here(
        capsys, "--stack-file", str(stack_file), "--out", str(tmp_path / "renamed"), "--compare", str(tmp_path / "before")
    )
    assert status == 3
    assert "[protected: refused]" in renamed
