"""Prod runs what staging ran green: the branch deployed/<stack>, the weekly promotion pull request, the drift check.

The workflows' shell steps are run here by bash as GitHub runs a `run:` without `shell:` (`bash -e {0}`: GitHub docs,
Workflow syntax for GitHub Actions, defaults.run.shell), with stand-ins for `gh` and `pulumi` that record their
arguments, and with real git repositories where a step uses git.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from scripts import promote_images
from tests.conftest import PROJECT_DIR, STACK_FILES, STACKS
from tests.test_workflows import _crons, load, run_text, steps, triggers

SHA = "0123456789abcdef0123456789abcdef01234567"
GH = """#!/bin/sh
echo "$*" >> "$GH_CALLS"
case "$*" in
  "api repos/"*"/git/ref/heads/"*)
    if [ -z "$GH_REF_SHA" ]; then echo "gh: Not Found (HTTP 404)" >&2; exit 1; fi
    case "$*" in *--jq*) echo "$GH_REF_SHA" ;; esac ;;
  "pr list"*) [ -z "$GH_OPEN_PR" ] || echo "$GH_OPEN_PR" ;;
esac
exit 0
"""


def step(job: dict, name: str) -> dict:
    (found,) = [s for s in steps(job) if s.get("name") == name]
    return found


def run_step(script: str, tmp_path: Path, cwd: Path | None = None, **env: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The step's script under `bash -e`, with a stand-in gh; returns the result and what it wrote where."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "gh").write_text(GH)
    (bin_dir / "gh").chmod(0o755)
    files = {name: tmp_path / name for name in ("gh-calls", "output", "summary", "env")}
    for path in files.values():
        path.write_text("")
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    base = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GH_CALLS": str(files["gh-calls"]),
        "GITHUB_OUTPUT": str(files["output"]),
        "GITHUB_STEP_SUMMARY": str(files["summary"]),
        "GITHUB_ENV": str(files["env"]),
        "GITHUB_REPOSITORY": "suresoft/ams",
        "GITHUB_SHA": "f" * 40,
        "RUNNER_TEMP": str(tmp_path / "runner-temp"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-c", script],
        env={**base, **env},
        cwd=cwd or tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result, {name: path.read_text() for name, path in files.items()}


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cwd), "PATH": "/usr/bin:/bin"}
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main"]
    return subprocess.run(["git", *identity, *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


# --- prod deploys the commit at deployed/staging --------------------------------------------------------------------


def _deploy() -> dict:
    return load("deploy.yml")["jobs"]["deploy"]


def _source() -> dict:
    return load("deploy.yml")["jobs"]["source"]


def test_prod_deploys_deployed_staging_and_the_other_stacks_their_own_commit():
    """The commit is chosen in a job of its own, before the deploy job asks prod's reviewers and takes the lock:
    they approve a named commit, and a refusal stops the run before the update starts."""
    jobs = load("release.yml")["jobs"]
    assert jobs["prod"]["with"]["source-ref"] == "deployed/staging"
    assert "source-ref" not in jobs["dev"]["with"] and "source-ref" not in jobs["staging"]["with"]
    source, deploy = _source(), _deploy()
    assert "environment" not in source and source["permissions"] == {"contents": "read"}
    assert steps(source)[0]["name"] == "Choose the commit"
    assert deploy["needs"] == "source"
    (checkout,) = [s for s in steps(deploy) if s.get("uses", "").startswith("actions/checkout@")]
    assert steps(deploy).index(checkout) == 0 and checkout["with"]["ref"] == "${{ needs.source.outputs.commit }}"
    assert deploy["outputs"]["commit"] == "${{ needs.source.outputs.commit }}"


@pytest.mark.parametrize(
    "stack, source_ref, ref_sha, deployed",
    [
        ("prod", "deployed/staging", SHA, SHA),  # the branch's commit
        ("prod", "deployed/staging", "", None),  # no such branch: refused
        ("prod", "deployed/staging", "not-a-sha", None),
        ("prod", "", SHA, None),  # prod without deployed/staging: refused
        ("prod", "main", SHA, None),
        ("staging", "", "", "f" * 40),  # the caller's commit, no lookup
        ("dev", "", "", "f" * 40),
    ],
)
def test_the_commit_a_stack_is_updated_to(stack, source_ref, ref_sha, deployed, tmp_path):
    """Prod's update refuses to start without deployed/staging: the step fails before the checkout, with an error
    annotation, and names no commit."""
    script = step(_source(), "Choose the commit")["run"]
    result, written = run_step(script, tmp_path, STACK=stack, SOURCE_REF=source_ref, GH_REF_SHA=ref_sha)
    if deployed is None:
        assert result.returncode != 0
        assert "::error::" in result.stdout
        assert f"refusing to update {stack}" in result.stdout or "prod deploys only" in result.stdout
        assert "commit=" not in written["output"]
    else:
        assert result.returncode == 0, result.stdout + result.stderr
        assert written["output"] == f"commit={deployed}\n"
        assert ("git/ref/heads/deployed/staging" in written["gh-calls"]) == bool(source_ref)


def test_a_commit_that_is_not_on_main_is_refused(tmp_path):
    """deployed/staging can be pushed by anyone who can push a branch; what prod runs must have been merged."""
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "--quiet")
    git(origin, "commit", "--quiet", "--allow-empty", "-m", "on main")
    merged = git(origin, "rev-parse", "HEAD").strip()
    git(origin, "switch", "--quiet", "--create", "feature")
    git(origin, "commit", "--quiet", "--allow-empty", "-m", "never reviewed")
    stray = git(origin, "rev-parse", "HEAD").strip()
    git(origin, "switch", "--quiet", "main")
    git(tmp_path, "clone", "--quiet", str(origin), "checkout")
    check = step(_source(), "The commit is on main")
    assert check["if"] == "inputs.source-ref != ''"
    for commit, allowed in ((merged, True), (stray, False)):
        result, _ = run_step(
            check["run"], tmp_path, cwd=tmp_path / "checkout", COMMIT=commit, STACK="prod", SOURCE_REF="deployed/staging"
        )
        assert (result.returncode == 0) == allowed, result.stdout + result.stderr


# --- deploy.yml records deployed/<stack> ----------------------------------------------------------------------------


def test_the_record_runs_after_the_update_and_the_smoke_test():
    record = load("deploy.yml")["jobs"]["record"]
    assert record["needs"] == "deploy" and "if" not in record, "only after the whole deploy job, smoke test included"
    assert record["permissions"] == {"contents": "write"}
    assert [s for s in steps(_deploy()) if "curl" in s.get("run", "")], "the smoke test is in the deploy job"
    assert record["steps"][0]["env"]["COMMIT"] == "${{ needs.deploy.outputs.commit }}"


@pytest.mark.parametrize("exists", [True, False])
def test_the_record_moves_or_creates_the_branch(exists, tmp_path):
    """Update a reference (PATCH, force: a re-run of an older commit is what runs) or Create a reference (POST)."""
    script = load("deploy.yml")["jobs"]["record"]["steps"][0]["run"]
    result, written = run_step(script, tmp_path, STACK="staging", COMMIT=SHA, GH_REF_SHA=SHA if exists else "")
    assert result.returncode == 0, result.stdout + result.stderr
    calls = written["gh-calls"].splitlines()
    api = "api --method {} repos/suresoft/ams/git/refs{} --silent"
    if exists:
        assert calls[1] == api.format("PATCH", f"/heads/deployed/staging -f sha={SHA} -F force=true")
    else:
        assert calls[1] == api.format("POST", f" -f ref=refs/heads/deployed/staging -f sha={SHA}")
    assert len(calls) == 2


def test_the_record_refuses_a_missing_commit(tmp_path):
    script = load("deploy.yml")["jobs"]["record"]["steps"][0]["run"]
    result, written = run_step(script, tmp_path, STACK="staging", COMMIT="")
    assert result.returncode != 0 and written["gh-calls"] == ""


# --- the weekly promotion -------------------------------------------------------------------------------------------


def _minute_of_week(cron: str) -> int:
    minute, hour, _, _, day_of_week = cron.split()
    return (int(day_of_week) * 24 + int(hour)) * 60 + int(minute)


def test_the_promotion_opens_weekly_a_working_day_before_prods_release():
    (schedule,) = triggers(load("promote.yml"))["schedule"]
    assert "workflow_dispatch" in triggers(load("promote.yml"))
    week = 7 * 24 * 60
    lead = (_minute_of_week(_crons()["weekly"]) - _minute_of_week(schedule["cron"])) % week
    assert 24 * 60 <= lead <= 4 * 24 * 60, "reviewers get at least a day, and the promotion is of this week"


def test_the_promotion_starts_from_deployed_staging_and_checks_before_it_opens_a_pull_request():
    job = load("promote.yml")["jobs"]["promote"]
    (checkout,) = [s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "deployed/staging" and checkout["with"]["persist-credentials"] is False
    names = [s.get("name") for s in steps(job)]
    order = ("Copy staging's images into Pulumi.prod.yaml", "Check the recorded digests", "Open the pull request")
    copy, check, pull = (names.index(name) for name in order)
    assert copy < check < pull
    assert "scripts/promote_images.py --from staging --to prod" in steps(job)[copy]["run"]
    assert "if [ -f scripts/refresh_digests.py ]" in steps(job)[check]["run"]
    assert "refresh_digests.py --check" in steps(job)[check]["run"]
    assert steps(job)[pull]["env"]["GH_TOKEN"] == "${{ github.token }}"


def test_the_promotion_stops_while_prod_would_lack_a_digest(tmp_path):
    """The committed record holds no digest yet (nothing could be resolved offline): the check fails, naming the
    command that records them, and the pull request is not opened."""
    script = step(load("promote.yml")["jobs"]["promote"], "Check the recorded digests")["run"]
    record = yaml.safe_load((PROJECT_DIR / "components/platform/image-digests.yaml").read_text())["digests"]
    if all(record.values()):
        pytest.skip("every digest is recorded now")
    result, _ = run_step(script, tmp_path, cwd=PROJECT_DIR)
    assert result.returncode != 0
    assert "refresh_digests.py --write" in result.stdout


def _promotion_checkout(tmp_path: Path, staging_api: str) -> tuple[Path, Path, str]:
    """A bare origin with main, a clone at deployed/staging as promote.yml checks it out, the copy step run."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    seed = tmp_path / "seed"
    seed.mkdir()
    git(seed, "init", "--quiet")
    for stack in STACK_FILES:
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", seed)
    staging = seed / "Pulumi.staging.yaml"
    staging.write_text(staging.read_text().replace("ghcr.io/suresoft/ams-api:1.0.0", staging_api))
    git(seed, "add", ".")
    git(seed, "commit", "--quiet", "-m", "staging runs it")
    git(seed, "branch", "deployed/staging")
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(origin))
    git(tmp_path, "clone", "--quiet", "--branch", "deployed/staging", str(origin), str(work))
    commit = git(work, "rev-parse", "HEAD").strip()
    git(work, "checkout", "--quiet", "--detach", commit)
    (tmp_path / "runner-temp").mkdir()  # what the copy step leaves for the pull request's body
    (tmp_path / "runner-temp" / "images.txt").write_text("\n".join(promote_images.promote(work, "staging", "prod")))
    return origin, work, commit


def test_the_promotion_pull_request_changes_prods_images_and_nothing_else(tmp_path):
    origin, work, commit = _promotion_checkout(tmp_path, "ghcr.io/suresoft/ams-api:1.2.0")
    script = step(load("promote.yml")["jobs"]["promote"], "Open the pull request")["run"]
    result, written = run_step(script, tmp_path, cwd=work, COMMIT=commit, GH_TOKEN="t")
    assert result.returncode == 0, result.stdout + result.stderr
    branch = f"promote/staging-{commit[:12]}"
    pushed = git(origin, "rev-parse", branch).strip()
    assert git(origin, "rev-parse", f"{pushed}^").strip() == commit, "one commit on top of what staging runs"
    assert git(origin, "diff", "--name-only", commit, pushed).split() == ["Pulumi.prod.yaml"]
    assert "+      api: ghcr.io/suresoft/ams-api:1.2.0" in git(origin, "diff", commit, pushed)
    calls = written["gh-calls"].splitlines()
    assert calls[0] == "auth setup-git"
    assert calls[-1].startswith(f"pr create --base main --head {branch} --title ")
    body = (tmp_path / "runner-temp" / "body.md").read_text()
    assert commit in body and "close and reopen" in body
    assert "api: ghcr.io/suresoft/ams-api:1.0.0 -> ghcr.io/suresoft/ams-api:1.2.0" in body


def test_no_pull_request_when_prod_already_runs_stagings_images(tmp_path):
    origin, work, commit = _promotion_checkout(tmp_path, "ghcr.io/suresoft/ams-api:1.0.0")
    script = step(load("promote.yml")["jobs"]["promote"], "Open the pull request")["run"]
    result, written = run_step(script, tmp_path, cwd=work, COMMIT=commit, GH_TOKEN="t")
    assert result.returncode == 0 and "nothing to promote" in result.stdout
    assert written["gh-calls"] == "" and "promote/" not in git(origin, "branch", "--list")


def test_an_open_promotion_is_updated_not_opened_twice(tmp_path):
    origin, work, commit = _promotion_checkout(tmp_path, "ghcr.io/suresoft/ams-api:1.2.0")
    script = step(load("promote.yml")["jobs"]["promote"], "Open the pull request")["run"]
    url = "https://github.com/suresoft/ams/pull/7"
    result, written = run_step(script, tmp_path, cwd=work, COMMIT=commit, GH_TOKEN="t", GH_OPEN_PR=url)
    assert result.returncode == 0 and url in result.stdout
    assert not any(call.startswith("pr create") for call in written["gh-calls"].splitlines())


# --- scripts/promote_images.py ----------------------------------------------------------------------------------------


@pytest.fixture
def stack_files(tmp_path) -> Path:
    for stack in STACK_FILES:
        shutil.copy(PROJECT_DIR / f"Pulumi.{stack}.yaml", tmp_path)
    return tmp_path


def _set_staging_images(directory: Path, api: str, web: str) -> None:
    path = directory / "Pulumi.staging.yaml"
    text = re.sub(r"(\n\s+api: )\S+", rf"\g<1>{api}", path.read_text(), count=1)
    path.write_text(re.sub(r"(\n\s+web: )\S+", rf"\g<1>{web}", text, count=1))


def test_the_copy_changes_only_the_image_lines(stack_files):
    api, web = "ghcr.io/suresoft/ams-api:1.2.0", "ghcr.io/suresoft/ams-web@sha256:" + "a" * 64
    _set_staging_images(stack_files, api, web)
    before = (stack_files / "Pulumi.prod.yaml").read_text().splitlines()
    changes = promote_images.promote(stack_files, "staging", "prod")
    after = (stack_files / "Pulumi.prod.yaml").read_text().splitlines()
    assert changes == [f"api: ghcr.io/suresoft/ams-api:1.0.0 -> {api}", f"web: ghcr.io/suresoft/ams-web:1.0.0 -> {web}"]
    assert len(before) == len(after)
    assert [(b, a) for b, a in zip(before, after, strict=True) if b != a] == [
        ("      api: ghcr.io/suresoft/ams-api:1.0.0", f"      api: {api}"),
        ("      web: ghcr.io/suresoft/ams-web:1.0.0", f"      web: {web}"),
    ]
    config = yaml.safe_load("\n".join(after))["config"]
    assert config["ams:delivery"] == {"strategy": "rolling", "images": {"api": api, "web": web}}


def test_what_follows_the_images_stays(stack_files):
    """Pulumi.staging.yaml has settings after its images (ams:ingress): copied into, it keeps them line for line."""
    dev = stack_files / "Pulumi.dev.yaml"
    dev.write_text(dev.read_text().replace("ams-api:1.0.0", "ams-api:1.3.0"))
    before = (stack_files / "Pulumi.staging.yaml").read_text()
    promote_images.promote(stack_files, "dev", "staging")
    after = (stack_files / "Pulumi.staging.yaml").read_text()
    assert after == before.replace("ams-api:1.0.0", "ams-api:1.3.0")
    assert before.index("ams:delivery") < before.index("ams:ingress"), "the case this test is about"


def test_a_target_without_images_gets_them_under_delivery(stack_files):
    path = stack_files / "Pulumi.prod.yaml"
    path.write_text(re.sub(r"    images:\n(      .*\n)+", "", path.read_text()))
    promote_images.promote(stack_files, "staging", "prod")
    staging = yaml.safe_load((stack_files / "Pulumi.staging.yaml").read_text())["config"]["ams:delivery"]["images"]
    assert yaml.safe_load(path.read_text())["config"]["ams:delivery"] == {"strategy": "rolling", "images": staging}


def test_nothing_changes_when_the_images_are_the_same(stack_files):
    text = (stack_files / "Pulumi.prod.yaml").read_text()
    assert all("unchanged" in line for line in promote_images.promote(stack_files, "staging", "prod"))
    assert (stack_files / "Pulumi.prod.yaml").read_text() == text


@pytest.mark.parametrize(
    "prod_delivery",
    ["  ams:delivery: {strategy: rolling, images: {api: a:1, web: w:1}}\n", "  ams:delivery:\n    images: {api: a:1}\n"],
)
def test_a_layout_the_script_cannot_edit_is_left_alone(stack_files, prod_delivery, capsys):
    path = stack_files / "Pulumi.prod.yaml"
    text = re.sub(r"  ams:delivery:\n(    .*\n)+", prod_delivery, path.read_text())
    path.write_text(text)
    assert promote_images.main(["--dir", str(stack_files)]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert path.read_text() == text


def test_a_stack_file_the_cli_would_refuse_is_not_promoted(stack_files, capsys):
    """The Pulumi CLI refuses a key twice in one mapping (gopkg.in/yaml.v3, tools/stack_yaml.py); PyYAML would take
    the last one, so promoting from such a file would promote what staging never ran."""
    path = stack_files / "Pulumi.staging.yaml"
    path.write_text(path.read_text().replace("      web: ", "      api: ghcr.io/suresoft/ams-api:9.9.9\n      web: "))
    prod = (stack_files / "Pulumi.prod.yaml").read_text()
    assert promote_images.main(["--dir", str(stack_files)]) == 1
    assert "already defined" in capsys.readouterr().err
    assert (stack_files / "Pulumi.prod.yaml").read_text() == prod


def test_staging_without_images_is_refused(stack_files):
    path = stack_files / "Pulumi.staging.yaml"
    path.write_text(re.sub(r"    images:\n(      .*\n)+", "", path.read_text()))
    with pytest.raises(promote_images.PromotionError, match="images"):
        promote_images.promote(stack_files, "staging", "prod")


# --- drift ------------------------------------------------------------------------------------------------------------

PULUMI = """#!/bin/sh
echo "$*" > "$PULUMI_ARGS"
printf '%s\\n' "$PULUMI_SAYS"
exit "$PULUMI_EXIT"
"""


def test_drift_is_checked_daily_for_every_stack_from_what_it_last_deployed():
    workflow = load("drift.yml")
    (schedule,) = triggers(workflow)["schedule"]
    assert schedule["cron"].split()[2:] == ["*", "*", "*"] and "workflow_dispatch" in triggers(workflow)
    job = workflow["jobs"]["drift"]
    assert job["strategy"]["matrix"]["stack"] == list(STACKS) and job["strategy"]["fail-fast"] is False
    (checkout,) = [s for s in steps(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["ref"] == "deployed/${{ matrix.stack }}"
    assert "KUBECONFIG" in run_text(job)


@pytest.mark.parametrize("drifted", [True, False])
def test_drift_fails_visibly_with_the_diff_in_the_summary(drifted, tmp_path):
    """The CLI runs with --refresh --expect-no-changes --diff and the policy pack; on drift (the CLI exits non-zero
    with "no changes were expected but changes were proposed") the step fails, annotates the run, and the summary
    holds the diff."""
    job = load("drift.yml")["jobs"]["drift"]
    check = step(job, "pulumi preview --refresh --expect-no-changes")
    assert check["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_TOKEN }}"
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git(checkout, "init", "--quiet")
    git(checkout, "commit", "--quiet", "--allow-empty", "-m", "deployed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(PULUMI)
    (bin_dir / "pulumi").chmod(0o755)
    says = "~ kubernetes:apps/v1:Deployment ams-api update\nerror: no changes were expected but changes were proposed"
    result, written = run_step(
        check["run"],
        tmp_path,
        cwd=checkout,
        STACK="prod",
        PULUMI_ARGS=str(tmp_path / "args"),
        PULUMI_SAYS=says if drifted else "Resources: 312 unchanged",
        PULUMI_EXIT="255" if drifted else "0",
    )
    args = (tmp_path / "args").read_text().split()
    assert args[:3] == ["preview", "--stack", "prod"]
    assert {"--refresh", "--expect-no-changes", "--diff", "--non-interactive"} <= set(args)
    assert args[args.index("--policy-pack") + 1] == "policy"
    commit = git(checkout, "rev-parse", "HEAD").strip()
    if drifted:
        assert result.returncode == 255
        assert "::error title=drift in prod::" in result.stdout
        assert f"### prod: drift from deployed/prod ({commit})" in written["summary"]
        assert "~ kubernetes:apps/v1:Deployment ams-api update" in written["summary"]
    else:
        assert result.returncode == 0 and "::error" not in result.stdout
        assert f"### prod: no drift from deployed/prod ({commit})" in written["summary"]
    assert "```diff" in written["summary"]
