"""The GitHub Actions workflows: schema-valid, and they run what docs/delivery-pipeline.md promises.

PyYAML reads the key `on` as the boolean True (YAML 1.1), so triggers are looked up under both.
Job-level `if:` expressions are evaluated by a small evaluator for the subset the workflows use
(`==`, `!=`, `&&`, `||`, `!`, parentheses, quoted strings, context names), so the tests check which
jobs an event really starts, not only what the text says.
"""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import PROJECT_DIR, STACK_FILES, STACKS, stack_config, tool

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.y*ml"))
DEPLOY_WORKFLOW = "$/.github/workflows/deploy.yml"
# owner/repo[/path]@vN[.N[.N]] or @<40-hex commit>


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict) -> dict:
    found = workflow.get("on", workflow.get(True))
    return {found: None} if isinstance(found, str) else found


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def action_steps(job: dict, action: str) -> list[dict]:
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def run_text(job: dict) -> str:
    return "\n".join(s.get("run", "") for s in steps(job))


def all_uses(workflow: dict) -> list[str]:
    refs = []
    for job in workflow["jobs"].values():
        refs += [job["uses"]] if "uses" in job else []
        refs += [s["uses"] for s in steps(job) if "uses" in s]
    return refs


# --- a tiny evaluator for job-level `if:` ---------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(\|\||&&|==|!=|\(|\)|!)|'([^']*)'|([A-Za-z_][\w.-]*))")
_OPERATORS = {"||": " or ", "&&": " and ", "!": " not "}


def evaluate(expression: str, context: dict) -> bool:
    """Evaluate a GitHub expression of the supported subset; unknown context names are null."""
    text = expression.strip().removeprefix("${{").removesuffix("}}").strip()
    python, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        assert match and match.end() > pos, f"unsupported expression syntax at {text[pos:]!r}"
        operator, string, name = match.groups()
        if operator:
            python.append(_OPERATORS.get(operator, operator))
        elif string is not None:
            python.append(repr(string))
        else:
            python.append({"true": "True", "false": "False", "null": "None"}.get(name, repr(context.get(name))))
        pos = match.end()
    return bool(eval("".join(python), {"__builtins__": {}}))  # only literals, operators and names


def started_jobs(workflow: dict, context: dict) -> set[str]:
    return {name for name, job in workflow["jobs"].items() if "if" not in job or evaluate(str(job["if"]), context)}


def test_the_evaluator_follows_github_semantics():
    context = {"github.event_name": "push", "inputs.stack": None}
    assert evaluate("github.event_name == 'push' || (github.event_name == 'x' && inputs.stack == 'dev')", context)
    assert not evaluate("${{ github.event_name != 'push' }}", context)
    assert evaluate("!(inputs.stack == 'dev')", context)


# --- every workflow -------------------------------------------------------------------------------


def test_the_workflows_exist():
    expected = {"pull-request.yml", "deploy.yml", "release.yml", "promote.yml", "drift.yml"}
    assert {p.name for p in WORKFLOW_FILES} >= expected


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_passes_the_github_workflows_schema(path):
    checker = tool("check-jsonschema", PROJECT_DIR / ".venv" / "bin" / "check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_version(path):
    for ref in all_uses(yaml.safe_load(path.read_text())):
        if ref.startswith("$/"):
            continue  # this repository, as checked out for the run (GitHub's self-repository syntax)
        # A tag can be moved to other code; only a full commit SHA pins what runs with the deploy secrets.
        assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{ref}: pin to a full commit SHA"
    for line in path.read_text().splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), f"{line.strip()}: add the version as a comment"


# Every job that may write, and what: anything else reads. A reusable workflow's caller grants the ceiling ("can be
# only downgraded (not elevated) by the called workflow": GitHub docs, Reusing workflow configurations), so
# release.yml's calls carry deploy.yml's record job's `contents: write`, and deploy.yml's deploy job reads only.
WRITES = {
    ("pull-request.yml", "preview"): {"pull-requests"},  # its comment
    ("release.yml", "dev"): {"contents"},  # ceilings of the deploy.yml calls
    ("release.yml", "staging"): {"contents"},
    ("release.yml", "prod"): {"contents"},
    ("deploy.yml", "record"): {"contents"},  # moves deployed/<stack>
    ("promote.yml", "promote"): {"contents", "pull-requests"},  # pushes a branch, opens a pull request
}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflows_grant_read_only_contents_by_default(path):
    workflow = yaml.safe_load(path.read_text())
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes == WRITES.get((path.name, name), set()), f"{path.name}:{name} asks for {writes}"


def test_the_jobs_that_write_run_no_code_of_a_pull_request():
    """No job that writes runs on a pull request, and the record job, the one write a deploy makes, checks out
    nothing and uses no action: its steps are the `gh api` calls that move one branch."""
    for path in WORKFLOW_FILES:
        if "pull_request" in triggers(yaml.safe_load(path.read_text())) or "pull_request_target" in triggers(
            yaml.safe_load(path.read_text())
        ):
            assert {job for file, job in WRITES if file == path.name} <= {"preview"}
    record = load("deploy.yml")["jobs"]["record"]
    assert all("uses" not in step for step in steps(record)) and "gh api" in run_text(record)
    assert load("deploy.yml")["jobs"]["deploy"]["permissions"] == {"contents": "read"}


def test_no_step_hides_a_failure_in_a_pipe():
    """A `run:` without `shell:` runs as `bash -e {0}`, without pipefail (GitHub docs, Workflow syntax for GitHub
    Actions: defaults.run.shell), so `command | tee` succeeds when the command fails. Such a step names its shell."""
    for path in WORKFLOW_FILES:
        for job in yaml.safe_load(path.read_text())["jobs"].values():
            for step in steps(job):
                if "shell" not in step:
                    assert not re.search(r"(?<!\|)\|(?!\|)", step.get("run", "")), f"{path.name}: {step.get('name')}"


# --- which job can see which secret ---------------------------------------------------------------

DEPLOY_ENVIRONMENTS = set(STACKS)
PREVIEW_ENVIRONMENTS = {f"{stack}-preview" for stack in STACKS}  # pull requests' previews
DRIFT_ENVIRONMENTS = {f"{stack}-drift" for stack in STACKS}  # drift.yml, main only
DRILL_ENVIRONMENTS = {"restore-drill"}  # restore-drill.yml, main only: the drill stack's token, staging's cluster
# Where each secret is kept: environment secrets, which "a job also cannot access ... until all the environment
# protection rules pass", and only a job that references the environment (GitHub docs, Deployments and environments:
# Environment secrets). No repository secret: one is readable by any workflow any branch of this repository runs.
SECRET_HOMES = {
    "PULUMI_ACCESS_TOKEN": DEPLOY_ENVIRONMENTS | DRILL_ENVIRONMENTS,  # the deploy token: updates its stack
    "PULUMI_PREVIEW_TOKEN": PREVIEW_ENVIRONMENTS | DRIFT_ENVIRONMENTS,  # read access to its stack: previews only
    "KUBECONFIG": DEPLOY_ENVIRONMENTS | PREVIEW_ENVIRONMENTS | DRIFT_ENVIRONMENTS | DRILL_ENVIRONMENTS,
}
_SECRET = re.compile(r"secrets\.([A-Za-z_]\w*)")


def _strings(node):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def secrets_read(job: dict) -> set[str]:
    """Every `secrets.NAME` a job's YAML names (a step's env or with, a `secrets:` passed to a called workflow)."""
    return {name for text in _strings(job) for name in _SECRET.findall(text)} - {"GITHUB_TOKEN"}


def _stacks_callers_pass(workflow_file: str) -> set[str]:
    return {
        job["with"]["stack"]
        for path in WORKFLOW_FILES
        for job in yaml.safe_load(path.read_text())["jobs"].values()
        if job.get("uses") == f"$/.github/workflows/{workflow_file}"
    }


def environments(workflow_file: str, job: dict) -> set[str]:
    """The GitHub environments a job can run in: `matrix.stack` over its matrix, `inputs.stack` over what callers pass."""
    environment = job.get("environment")
    if environment is None:
        return set()
    name = environment["name"] if isinstance(environment, dict) else environment
    expression = re.search(r"\$\{\{\s*([\w.]+)\s*\}\}", name)
    if not expression:
        return {name}
    values = {
        "matrix.stack": job.get("strategy", {}).get("matrix", {}).get("stack", []),
        "inputs.stack": _stacks_callers_pass(workflow_file),
    }[expression.group(1)]
    return {name.replace(expression.group(0), value) for value in values}


def test_every_secret_is_read_only_in_the_environments_that_keep_it():
    """The deploy token only in jobs whose environment is dev, staging or prod; the preview token only in the
    `-preview` and `-drift` environments. A job outside them (a caller passing a repository secret on) fails."""
    read = set()
    for path in WORKFLOW_FILES:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            for secret in secrets_read(job):
                where = environments(path.name, job)
                assert secret in SECRET_HOMES, f"{path.name}:{name} reads {secret}, kept nowhere this test knows"
                assert where and where <= SECRET_HOMES[secret], f"{path.name}:{name} reads {secret} in {where or '-'}"
                read.add((path.name, name, secret))
    assert {
        ("deploy.yml", "deploy", "PULUMI_ACCESS_TOKEN"),
        ("pull-request.yml", "preview", "PULUMI_PREVIEW_TOKEN"),
        ("drift.yml", "drift", "PULUMI_PREVIEW_TOKEN"),
    } <= read
    assert environments("deploy.yml", load("deploy.yml")["jobs"]["deploy"]) == DEPLOY_ENVIRONMENTS


def test_jobs_that_run_pull_request_code_never_reach_the_deploy_token():
    """Every job of a workflow a pull request starts runs the pull request's code (or could, once it edits the
    workflow): none names the deploy token, a deploy environment, or the workflow that has both."""
    checked = 0
    for path in WORKFLOW_FILES:
        workflow = yaml.safe_load(path.read_text())
        if not {"pull_request", "pull_request_target"} & set(triggers(workflow)):
            continue
        for name, job in workflow["jobs"].items():
            assert "PULUMI_ACCESS_TOKEN" not in secrets_read(job), f"{path.name}:{name}"
            assert not environments(path.name, job) & DEPLOY_ENVIRONMENTS, f"{path.name}:{name}"
            assert job.get("uses") != DEPLOY_WORKFLOW, f"{path.name}:{name}"
            checked += 1
    assert checked >= 3


def test_no_workflow_passes_secrets_on():
    """deploy.yml declares no secret input, so no caller can hand it a repository secret; and no job passes any."""
    assert "secrets" not in triggers(load("deploy.yml"))["workflow_call"]
    for path in WORKFLOW_FILES:
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            assert "secrets" not in job, f"{path.name}:{name}"


def test_previews_and_drift_get_preview_credentials_from_environments_of_their_own():
    preview = load("pull-request.yml")["jobs"]["preview"]
    drift = load("drift.yml")["jobs"]["drift"]
    assert environments("pull-request.yml", preview) == PREVIEW_ENVIRONMENTS
    assert environments("drift.yml", drift) == DRIFT_ENVIRONMENTS
    for job in (preview, drift):
        assert secrets_read(job) == {"PULUMI_PREVIEW_TOKEN", "KUBECONFIG"}
        # Environment secrets and required reviewers, without a deployment record (GitHub docs, Deploying with GitHub
        # Actions: Using environments without deployments: "Required reviewers still apply").
        assert job["environment"]["deployment"] is False


# --- pull requests --------------------------------------------------------------------------------


def test_pull_requests_to_main_run_the_tests():
    workflow = load("pull-request.yml")
    assert triggers(workflow)["pull_request"]["branches"] == ["main"]
    assert "pull_request.number" in workflow["concurrency"]["group"]
    test = workflow["jobs"]["test"]
    assert action_steps(test, "actions/setup-python")[0]["with"]["python-version"] == "3.11"
    assert "apt-get install" in run_text(test) and "prometheus" in run_text(test)
    assert "scripts/test.sh" in run_text(test)


def test_pull_requests_render_every_stack_as_an_artifact():
    render = load("pull-request.yml")["jobs"]["render"]
    assert render["strategy"]["matrix"]["stack"] == list(STACK_FILES), "every committed stack file, local too"
    assert "tools.render" in run_text(render)
    upload = action_steps(render, "actions/upload-artifact")
    assert len(upload) == 1 and "matrix.stack" in upload[0]["with"]["path"]


def test_pull_requests_preview_every_stack_with_a_comment():
    preview = load("pull-request.yml")["jobs"]["preview"]
    assert "test" in ([preview["needs"]] if isinstance(preview["needs"], str) else preview["needs"])
    assert preview["strategy"]["matrix"]["stack"] == list(STACKS)
    assert preview["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "matrix.stack" in preview["environment"]["name"], "secrets come from a GitHub environment per stack"
    (pulumi,) = action_steps(preview, "pulumi/actions")
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "${{ matrix.stack }}"
    assert pulumi["with"]["comment-on-pr"] is True
    assert pulumi["with"]["github-token"] == "${{ secrets.GITHUB_TOKEN }}"
    # The CLI logs in with PULUMI_ACCESS_TOKEN; a preview gets the read-only token of its `-preview` environment.
    assert pulumi["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_PREVIEW_TOKEN }}"
    assert pulumi["with"]["policyPacks"] == "policy"
    _writes_a_private_kubeconfig(preview)


def _writes_a_private_kubeconfig(job: dict) -> None:
    (step,) = [s for s in steps(job) if "KUBECONFIG" in s.get("run", "")]
    assert "umask 077" in step["run"] and "$RUNNER_TEMP" in step["run"]
    assert "secrets.KUBECONFIG" in str(step["env"]), "the secret reaches the shell as an env var, not inline"
    assert "secrets." not in step["run"]


# --- releases -------------------------------------------------------------------------------------


def _release_context(event: str, **extra) -> dict:
    return {"github.event_name": event, "github.ref": "refs/heads/main", **extra}


def _crons() -> dict[str, str]:
    """'daily' and 'weekly' crons of release.yml."""
    found = {}
    for entry in triggers(load("release.yml"))["schedule"]:
        minute, hour, day_of_month, month, day_of_week = entry["cron"].split()
        assert day_of_month == "*" and month == "*"
        found["daily" if day_of_week == "*" else "weekly"] = entry["cron"]
    assert set(found) == {"daily", "weekly"}
    return found


def _deployed(context: dict) -> set[str]:
    workflow = load("release.yml")
    return {workflow["jobs"][name]["with"]["stack"] for name in started_jobs(workflow, context)}


def test_every_release_job_calls_the_deploy_workflow():
    for job in load("release.yml")["jobs"].values():
        assert job["uses"] == DEPLOY_WORKFLOW
        # No secret is passed, `secrets: inherit` least of all: deploy.yml's job reads its stack's environment.
        assert "secrets" not in job
        assert job["with"]["stack"] in STACKS


def test_pushes_to_main_deploy_dev():
    assert triggers(load("release.yml"))["push"]["branches"] == ["main"]
    assert _deployed(_release_context("push")) == {"dev"}


def test_staging_is_on_a_daily_schedule():
    assert _deployed(_release_context("schedule", **{"github.event.schedule": _crons()["daily"]})) == {"staging"}


def test_prod_is_on_a_weekly_schedule():
    assert _deployed(_release_context("schedule", **{"github.event.schedule": _crons()["weekly"]})) == {"prod"}


def test_any_stack_can_be_deployed_by_hand():
    dispatch = triggers(load("release.yml"))["workflow_dispatch"]["inputs"]["stack"]
    assert dispatch["type"] == "choice" and dispatch["options"] == list(STACKS)
    for stack in STACKS:
        assert _deployed(_release_context("workflow_dispatch", **{"inputs.stack": stack})) == {stack}
    # staging and prod only from main
    other_branch = {"github.event_name": "workflow_dispatch", "github.ref": "refs/heads/feature", "inputs.stack": "prod"}
    assert _deployed(other_branch) == set()


# --- the deploy workflow --------------------------------------------------------------------------


def _deploy_job() -> dict:
    workflow = load("deploy.yml")
    assert triggers(workflow)["workflow_call"]["inputs"]["stack"]["required"] is True
    assert set(workflow["jobs"]) == {"source", "deploy", "record"}
    return workflow["jobs"]["deploy"]


def test_deploy_holds_a_per_stack_lock_and_never_cancels_an_update():
    concurrency = _deploy_job()["concurrency"]
    assert concurrency["group"] == "pulumi-${{ inputs.stack }}"
    assert concurrency["cancel-in-progress"] is False


def test_deploy_uses_the_stacks_github_environment():
    environment = _deploy_job()["environment"]
    name = environment["name"] if isinstance(environment, dict) else environment
    assert name == "${{ inputs.stack }}"


def test_deploy_runs_pulumi_up_for_the_stack():
    job = _deploy_job()
    run = run_text(job)
    assert "scripts/setup.sh" in run
    (up,) = action_steps(job, "pulumi/actions")
    assert up["with"]["command"] == "up"
    assert up["with"]["stack-name"] == "${{ inputs.stack }}"
    assert up["with"]["policyPacks"] == "policy"
    assert up["env"]["PULUMI_ACCESS_TOKEN"] == "${{ secrets.PULUMI_ACCESS_TOKEN }}"  # the stack environment's
    assert up["with"]["message"].endswith("${{ needs.source.outputs.commit }}"), "the commit deployed, not the caller's"
    _writes_a_private_kubeconfig(job)


def test_deploy_smoke_tests_the_url_output():
    job = _deploy_job()
    (up,) = action_steps(job, "pulumi/actions")
    index = steps(job).index(up)
    (smoke,) = [s for s in steps(job)[index + 1 :] if "curl" in s.get("run", "")]
    assert smoke["env"]["URL"] == f"${{{{ steps.{up['id']}.outputs.url }}}}"
    for flag in ("--fail", "--retry 10", "--retry-delay 15", "--retry-all-errors"):
        assert flag in smoke["run"]
    assert "$URL$HEALTH_PATH" in smoke["run"]
    health = triggers(load("deploy.yml"))["workflow_call"]["inputs"]["health-path"]
    assert health["default"] == "/api/health"


@pytest.mark.parametrize("stack", STACKS)
def test_the_smoke_test_checks_the_certificate_chain_only_where_a_public_trust_store_has_it(stack, tmp_path):
    """The smoke step's script, run by bash with a stand-in curl and the stack's rendered outputs: dev's
    self-signed certificate and Let's Encrypt's staging chain fail curl's verification (no public root), so
    only prod's letsencrypt-prod certificate is verified; every stack is still fetched at both paths."""
    from tests.conftest import render_stack

    (smoke,) = [s for s in steps(_deploy_job()) if "curl" in s.get("run", "")]
    outputs = render_stack(stack).outputs
    calls = tmp_path / "calls"
    (tmp_path / "curl").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (tmp_path / "curl").chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "STACK": stack, "HEALTH_PATH": "/api/health"}
    env |= {"URL": outputs["url"], "ISSUER": outputs["tlsIssuer"]}
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", smoke["run"]], env=env, text=True)
    assert result.returncode == 0
    fetched = calls.read_text().splitlines()
    assert [line.split()[-1] for line in fetched] == [f"{outputs['url']}/api/health", f"{outputs['url']}/"]
    trusted = outputs["tlsIssuer"] == "letsencrypt-prod"
    assert trusted == (stack == "prod") and all(("--insecure" in line) != trusted for line in fetched)


def test_staging_deploys_from_a_runner_inside_its_allowed_networks():
    """Staging admits only ams:ingress.allowSourceRanges, which GitHub's hosted runners are not in."""
    staging = load("release.yml")["jobs"]["staging"]
    assert staging["with"]["runner"] == "${{ vars.AMS_STAGING_RUNNER || 'ubuntu-latest' }}"
    assert _deploy_job()["runs-on"] == "${{ inputs.runner }}"
    assert stack_config("staging")["ams:ingress"]["allowSourceRanges"]


def test_zizmor_finds_nothing():
    """zizmor (PyPI `zizmor`) offline, regular persona, every finding of low severity or above fails: unpinned
    actions (`unpinned-uses`), `secrets: inherit` (`secrets-inherit`), template injection, excessive
    permissions, credential persistence... Exit codes 11-14 mean findings (zizmor docs/usage.md)."""
    zizmor = tool("zizmor", PROJECT_DIR / ".venv" / "bin" / "zizmor")
    result = subprocess.run(
        [zizmor, "--offline", "--persona", "regular", "--min-severity", "low", "--format", "plain", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pulumi_cli_version_is_pinned_to_the_rules_the_runner_mirrors():
    """The CLI is the release of the Python SDK the lock installs (the engine and the SDK the tests exercise move
    together). tools/project_config.py mirrors its project-config rules as read at pulumi/pulumi v3.259.0, the
    newest source available here; they have been stable since typed project config arrived (3.187)."""
    for path in WORKFLOW_FILES:
        text = path.read_text()
        for step in re.findall(r"uses: pulumi/actions@[^\n]*\n\s+with:\n((?:\s+[\w-]+:.*\n)+)", text):
            assert "pulumi-version: 3.272.0" in step, path.name


def test_the_locked_sdk_is_not_newer_than_the_pinned_cli():
    """An SDK newer than the engine may use features the engine does not have; the other way round is supported."""
    sdk = re.search(r"^pulumi==(\S+) ", (PROJECT_DIR / "requirements.txt").read_text(), flags=re.M).group(1)
    clis = {m for path in WORKFLOW_FILES for m in re.findall(r"pulumi-version: (\S+)", path.read_text())}
    assert len(clis) == 1

    def parts(version: str) -> tuple[int, ...]:
        return tuple(int(p) for p in version.split("."))

    assert parts(sdk) <= parts(clis.pop())


def test_the_pipeline_page_names_every_workflow_and_its_schedule():
    """docs/delivery-pipeline.md: one row per workflow file, each schedule at the time its cron says."""
    section = (PROJECT_DIR / "docs" / "delivery-pipeline.md").read_text()
    names = ["daily", "Sundays", "Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays"]
    days = dict(zip("*0123456", names, strict=True))
    for path in WORKFLOW_FILES:
        assert f"`{path.name}`" in section, path.name
        for entry in triggers(yaml.safe_load(path.read_text())).get("schedule") or []:
            minute, hour, _, _, day_of_week = entry["cron"].split()
            assert f"{days[day_of_week]} {int(hour):02d}:{int(minute):02d} UTC" in section, (path.name, entry["cron"])
