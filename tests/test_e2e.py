"""The end-to-end workflow (.github/workflows/e2e.yml), checked where it cannot run.

It needs Docker, kind and the Pulumi CLI, which GitHub's runners have and our machines do not. So this module checks
what can be checked without them: the workflow's schema, triggers, secrets and time budget; that every file and
script it runs exists; that every `pulumi` and `kubectl` command in it and its scripts is well-formed and names
objects the offline render of the e2e stack has; that the e2e stack file passes the whole-stack and policy checks the
other stacks pass; that the stand-in images build from hadolint-clean Dockerfiles and serve every path the program's
probes and PodMonitors use (run here with node when it is installed); and that docs/e2e.md gives the same budget.
What none of this proves (the real API server, the charts' pods starting, the engine's awaits): docs/e2e.md.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests import test_policy, test_stacks
from tests.conftest import PROJECT_DIR, render_stack, stack_config, tool
from tests.test_readme_commands import apply, parse_command
from tests.test_workflows import WORKFLOW_FILES, secrets_read, started_jobs, steps, triggers
from tools import runner

WORKFLOW = PROJECT_DIR / ".github" / "workflows" / "e2e.yml"
SCRIPTS = PROJECT_DIR / "scripts" / "e2e"
STANDIN = PROJECT_DIR / "docker" / "standin"
DOCKERFILES = {"api": STANDIN / "api" / "Dockerfile", "web": STANDIN / "web" / "Dockerfile"}
DOCS = PROJECT_DIR / "docs" / "e2e.md"
STACK = "e2e"
BUDGET_MINUTES = 30  # the bound for a run on a hosted runner


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def job() -> dict:
    (only,) = workflow()["jobs"].values()
    return only


def script_texts() -> dict[str, str]:
    """The workflow's run blocks and every script under scripts/e2e, by where they come from."""
    texts = {f"e2e.yml: {s.get('name') or s.get('uses')}": s["run"] for s in steps(job()) if "run" in s}
    texts |= {f"scripts/e2e/{path.name}": path.read_text() for path in sorted(SCRIPTS.glob("*.sh"))}
    return texts


_HEREDOC = re.compile(r"<<-?'?(\w+)'?([^\n]*)\n.*?\n\1\n", flags=re.S)
_KEYWORDS = {"if", "then", "else", "do", "!", "time"}
_REDIRECTIONS = {">", ">>", ">&", "<", "&>"}


def substitutions(line: str) -> tuple[str, list[str]]:
    """The line with each `$(...)` replaced by a placeholder word, and the texts of those substitutions."""
    outer, inner, position, quote = [], [], 0, ""
    while position < len(line):
        char = line[position]
        if quote != "'" and line.startswith("$(", position):
            depth, end = 1, position + 2
            while depth and end < len(line):
                depth += {"(": 1, ")": -1}.get(line[end], 0)
                end += 1
            inner.append(line[position + 2 : end - 1])
            outer.append("SUBSTITUTION")
            position = end
            continue
        if char in "'\"" and quote in ("", char):
            quote = "" if quote else char
        outer.append(char)
        position += 1
    return "".join(outer), inner


def command_lines(text: str) -> list[list[str]]:
    """Each simple command of a shell text as words: heredoc bodies dropped, continuations joined, split at `;`, `&&`,
    `||`, `|` and command substitutions, leading NAME=value assignments and keywords dropped. Quoting that does not
    close fails here, as it would in bash."""
    pending = re.sub(r"\\\n\s*", " ", _HEREDOC.sub(lambda m: m.group(2) + "\n", text)).splitlines()
    found = []
    while pending:
        line, inner = substitutions(pending.pop(0))
        pending += inner
        if not line.strip() or line.strip().startswith("#"):
            continue
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        current: list[str] = []
        tokens = iter([*lexer, ";"])
        for token in tokens:
            if token in _REDIRECTIONS:  # `2>&1`, `>file`, `</dev/null`: the fd number and the target are no words
                current = current[:-1] if current and current[-1].isdigit() else current
                next(tokens)
            elif set(token) <= set(";&|()"):
                if current:
                    found.append(current)
                current = []
            elif current or not (token in _KEYWORDS or re.fullmatch(r"[A-Za-z_]\w*=.*", token)):
                current.append(token)
    return found


def commands(program: str) -> list[tuple[str, list[str]]]:
    """Every command of the workflow and the scripts that runs `program`, with where it is."""
    return [(where, words) for where, text in script_texts().items() for words in command_lines(text) if words[0] == program]


def assignments(path: Path) -> dict[str, str]:
    """NAME=value lines of a script (its constants), comments dropped."""
    pairs = re.findall(r'^([A-Z_]+)="?([^"\s]+)"?', path.read_text(), flags=re.M)
    return {name: value for name, value in pairs if "$" not in value}


# --- the workflow ----------------------------------------------------------------------------------------------------


def test_the_workflow_is_one_the_workflow_tests_check():
    """Schema, pinned actions, read-only permissions, pipes with a shell, zizmor: tests/test_workflows.py runs them on
    every file it lists, and this one is among them."""
    assert WORKFLOW in WORKFLOW_FILES


def test_the_workflow_passes_the_github_workflows_schema_and_a_broken_copy_does_not(tmp_path):
    checker = tool("check-jsonschema", PROJECT_DIR / ".venv" / "bin" / "check-jsonschema")

    def check(path: Path) -> int:
        command = [checker, "--builtin-schema", "vendor.github-workflows", str(path)]
        return subprocess.run(command, capture_output=True, text=True, check=False).returncode

    broken = tmp_path / "e2e.yml"
    broken.write_text(WORKFLOW.read_text().replace("timeout-minutes: 9", "timeout-minutes: nine"))
    assert check(WORKFLOW) == 0
    assert check(broken) != 0


def test_it_runs_on_pull_requests_from_this_repository_pushes_to_main_and_by_hand():
    on = triggers(workflow())
    assert on["pull_request"]["branches"] == ["main"] and on["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in on
    ours = {"github.event_name": "pull_request", "github.event.pull_request.head.repo.full_name": "suresoft/ams"}
    ours["github.repository"] = "suresoft/ams"
    fork = ours | {"github.event.pull_request.head.repo.full_name": "someone/ams"}
    assert started_jobs(workflow(), ours) == {"e2e"}
    assert started_jobs(workflow(), fork) == set()
    assert started_jobs(workflow(), {"github.event_name": "push"}) == {"e2e"}


def test_no_secret_and_no_pulumi_cloud_token():
    """State in a file backend, secrets under a passphrase made in the run and masked in the log."""
    assert secrets_read(job()) == set()
    text = WORKFLOW.read_text()
    assert "PULUMI_ACCESS_TOKEN" not in text and "secrets." not in text
    (login,) = [s["run"] for s in steps(job()) if "pulumi login" in s.get("run", "")]
    assert 'pulumi login "file://$RUNNER_TEMP/' in login
    assert 'passphrase="$(openssl rand -hex 32)"' in login and 'echo "::add-mask::$passphrase"' in login
    assert "--secrets-provider passphrase" in login


def test_the_cli_is_the_pinned_one_installed_by_the_action():
    (install,) = [s for s in steps(job()) if s.get("uses", "").startswith("pulumi/actions@")]
    assert install["with"] == {"pulumi-version": "3.272.0"}, "no command: the action only installs the CLI"


def test_every_step_has_a_budget_and_they_sum_to_under_30_minutes():
    budgets = [step.get("timeout-minutes") for step in steps(job())]
    assert all(isinstance(minutes, int) and minutes >= 1 for minutes in budgets), budgets
    assert sum(budgets) < BUDGET_MINUTES
    assert sum(budgets) <= job()["timeout-minutes"] < BUDGET_MINUTES


def test_diagnostics_and_teardown_run_whatever_happened_and_last():
    names = [step.get("name") or step["uses"].split("@")[0] for step in steps(job())]
    always = [name for step, name in zip(steps(job()), names, strict=True) if step.get("if") == "always()"]
    assert names[-3:] == always, "the last three steps, and only they, run after a failure"
    assert always[1] == "actions/upload-artifact"
    (upload,) = [s for s in steps(job()) if s.get("uses", "").startswith("actions/upload-artifact@")]
    (collect,) = [s for s in steps(job()) if "collect.sh" in s.get("run", "")]
    assert upload["with"]["path"] == "${{ runner.temp }}/e2e" and '"$RUNNER_TEMP/e2e"' in collect["run"]
    assert "teardown.sh" in steps(job())[-1]["run"]
    teardown = (SCRIPTS / "teardown.sh").read_text()
    assert "pulumi destroy" in teardown and "kind delete cluster" in teardown
    collect_script = (SCRIPTS / "collect.sh").read_text()
    assert "get events -A" in collect_script and "--previous" in collect_script


def test_the_cli_logs_are_kept():
    """Every step that runs the CLI tees its output into the directory the artifact uploads."""
    for step in steps(job()):
        run = step.get("run", "")
        if re.search(r"pulumi (up|preview)|scripts/e2e/(checks|day2)\.sh", run):
            assert '| tee "$RUNNER_TEMP/e2e/logs/' in run and step.get("shell") == "bash", step.get("name")


# --- every file, script and stack it names exists --------------------------------------------------------------------


def test_every_file_it_names_exists():
    named = set()
    for text in [WORKFLOW.read_text(), *script_texts().values()]:
        named |= set(re.findall(r"\b((?:scripts|docker)/[\w./-]*\w)", text))
    assert {"scripts/e2e/cluster.sh", "scripts/e2e/checks.sh", "scripts/setup.sh"} <= named
    for path in named:
        target = PROJECT_DIR / path
        assert target.exists(), path
        if path.endswith(".sh"):
            assert target.stat().st_mode & 0o111, f"{path} is not executable"
    for name in DOCKERFILES:  # images.sh builds docker/standin/$name/Dockerfile
        assert DOCKERFILES[name].is_file()
    assert job()["env"]["AMS_E2E_STACK"] == STACK and (PROJECT_DIR / f"Pulumi.{STACK}.yaml").is_file()


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.sh")), ids=lambda p: p.name)
def test_scripts_parse_and_stop_on_errors(path):
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True, check=False).returncode == 0
    expected = "set -uo pipefail" if path.name in ("collect.sh", "teardown.sh") else "set -euo pipefail"
    assert expected in path.read_text()


# --- the pulumi commands: subcommands and flags of the pinned CLI --------------------------------------------------

# Read at pulumi/pulumi v3.259.0 (the newest source here; the CLI is 3.272.0): pkg/cmd/pulumi/operations/up.go,
# preview.go, destroy.go; stack/stack_select.go, stack/stack_output.go; config/config.go (`config set`);
# auth/login.go; global flags in pulumi.go. Positional arguments: a stack output's name, config key and value, a URL.
PULUMI_FLAGS = {
    ("up",): {"--stack", "--yes", "--policy-pack", "--diff", "--expect-no-changes", "--skip-preview"},
    ("preview",): {"--stack", "--policy-pack", "--diff", "--expect-no-changes", "--refresh"},
    ("destroy",): {"--stack", "--yes", "--remove"},
    ("stack", "select"): {"--stack", "--create", "--secrets-provider"},
    ("stack", "output"): {"--stack", "--json", "--show-secrets"},
    ("stack",): {"--stack"},
    ("config", "set"): {"--stack", "--path", "--secret"},
    ("login",): set(),
}
PULUMI_POSITIONALS = {("stack", "output"): 1, ("config", "set"): 2, ("login",): 1}


def _subcommand(words: list[str]) -> tuple[str, ...]:
    for length in (2, 1):
        if tuple(words[1 : 1 + length]) in PULUMI_FLAGS:
            return tuple(words[1 : 1 + length])
    raise AssertionError(f"unknown pulumi subcommand: {' '.join(words)}")


def _flags_and_positionals(rest: list[str]) -> tuple[set[str], list[str]]:
    flags, positionals, words = set(), [], iter(w for w in rest if not re.match(r"\d?>", w))
    for word in words:
        if word.startswith("--"):
            flags.add(word.split("=")[0])
            if "=" not in word and word in PULUMI_VALUED:
                next(words)
        else:
            positionals.append(word)
    return flags, positionals


PULUMI_VALUED = {"--stack", "--policy-pack", "--secrets-provider"}


def test_every_pulumi_command_is_one_the_pinned_cli_accepts():
    found = commands("pulumi")
    assert {("up",), ("preview",), ("destroy",), ("login",), ("config", "set")} <= {_subcommand(w) for _, w in found}
    for where, words in found:
        sub = _subcommand(words)
        rest = words[1 + len(sub) :]
        flags, positionals = _flags_and_positionals(rest)
        assert flags <= PULUMI_FLAGS[sub], f"{where}: {' '.join(words)}: {flags - PULUMI_FLAGS[sub]}"
        assert len(positionals) <= PULUMI_POSITIONALS.get(sub, 0), f"{where}: {' '.join(words)}: {positionals}"
        if sub != ("login",):
            assert "--stack" in flags, f"{where}: name the stack: {' '.join(words)}"
        if sub in {("up",), ("preview",)}:
            assert rest[rest.index("--policy-pack") + 1] == "policy", f"{where}: every preview and up runs the policy pack"


def test_the_second_run_must_plan_nothing():
    previews = [words for _, words in commands("pulumi") if _subcommand(words) == ("preview",)]
    assert previews and all("--expect-no-changes" in words for words in previews)
    names = [step.get("name", "") for step in steps(job())]
    assert names.index("pulumi up") < names.index("pulumi preview --expect-no-changes")


# --- the kubectl commands: verbs, flags, and the objects they name ---------------------------------------------------

# kubernetes/kubectl pkg/cmd/<verb>/<verb>.go (and the global -n/--namespace and --context of pkg/cmd/cmd.go).
KUBECTL_FLAGS = {
    "get": {"-o", "-A", "--sort-by"},
    "describe": set(),
    "logs": {"--all-containers", "--prefix", "--previous", "-c"},
    "wait": {"--for", "--timeout", "-l", "--all"},
    "exec": {"-c"},
    "apply": {"--server-side", "-f"},
    "patch": {"--type", "-p"},
    "rollout status": {"--timeout"},
    "port-forward": set(),
    "run": {"--image", "--restart", "--command"},
    "delete": {"--wait"},
}
KUBECTL_GLOBAL = {"-n", "--context"}


def test_every_kubectl_command_uses_a_verb_and_flags_kubectl_has():
    found = commands("kubectl")
    assert len(found) >= 15
    for where, words in found:
        words = words[: words.index("--")] if "--" in words else words  # after `--`: the command exec runs
        at = next(i for i, w in enumerate(words[1:], 1) if not w.startswith("-") and words[i - 1] not in KUBECTL_GLOBAL)
        verb = " ".join(words[at : at + 2]) if words[at] == "rollout" else words[at]
        assert verb in KUBECTL_FLAGS, f"{where}: {' '.join(words)}"
        flags = {w.split("=")[0] for w in words if w.startswith("-")}
        assert flags <= KUBECTL_FLAGS[verb] | KUBECTL_GLOBAL, f"{where}: {' '.join(words)}: {flags}"


def test_the_kubectl_flags_exist_in_the_installed_kubectl():
    """The table above against a real kubectl's help, when one is installed (the pinned 1.37 runs only on GitHub)."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed here: the written table above is still checked")
    for verb, flags in KUBECTL_FLAGS.items():
        help_text = subprocess.run([kubectl, *verb.split(), "--help"], capture_output=True, text=True, check=True).stdout
        for flag in flags:
            assert re.search(rf"(^|[\s,]){re.escape(flag)}[=\s,:]", help_text, flags=re.M), f"kubectl {verb} {flag}"


@pytest.fixture(scope="module")
def rendered() -> runner.Render:
    return render_stack(STACK)


def test_the_names_the_checks_use_are_in_the_render(rendered):
    names = assignments(SCRIPTS / "checks.sh")
    app, data = rendered.outputs["namespaces"]["app"], rendered.outputs["namespaces"]["data"]
    gateway = rendered.get("Gateway", "ams-gateway")
    https = next(listener for listener in gateway["spec"]["listeners"] if listener["protocol"] == "HTTPS")
    assert gateway["metadata"]["namespace"] == app
    assert https["tls"]["certificateRefs"] == [{"kind": "Secret", "name": names["TLS_SECRET"]}]
    api = rendered.get("Deployment", names["API_DEPLOYMENT"])
    assert api["metadata"]["namespace"] == app and "api" in [c["name"] for c in api["spec"]["template"]["spec"]["containers"]]
    assert rendered.get("Cluster", names["DB_CLUSTER"])["metadata"]["namespace"] == data
    pooler = rendered.get("Pooler", names["POOLER"])
    assert pooler["metadata"]["namespace"] == data and pooler["spec"]["cluster"]["name"] == names["DB_CLUSTER"]
    key, value = names["MIGRATION_SELECTOR"].split("=")
    (migration,) = [job for job in rendered.of_kind("Job") if job["metadata"]["labels"].get(key) == value]
    assert migration["metadata"]["namespace"] == app
    assert migration["spec"]["template"]["spec"]["containers"][0]["command"] == ["npx", "prisma", "migrate", "deploy"]
    connection = rendered.get("Secret", "ams-connection")["stringData"]["database-url"]
    assert f"@{names['POOLER']}.{data}.svc.cluster.local:5432/" in connection, "the outsider probes the api's address"
    assert 'nc -z -w 5 "$POOLER.$DATA_NS.svc.cluster.local" 5432' in (SCRIPTS / "checks.sh").read_text()
    shipper = rendered.get("DaemonSet", "ams-log-shipper")
    env = {e["name"]: e.get("value") for e in shipper["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["LOKI_HOST"].split(".")[0] == names["LOKI_SERVICE"] and env["LOKI_PORT"] == "3100"
    assert "svc/loki" not in (SCRIPTS / "checks.sh").read_text() and "13100:3100" in (SCRIPTS / "checks.sh").read_text()


def test_the_prometheus_service_is_the_charts(rendered, charts):
    """kube-prometheus-stack names it `<fullname>-prometheus` (templates/prometheus/service.yaml) on port 9090, and
    the program sets the fullname (fullnameOverride)."""
    names = assignments(SCRIPTS / "checks.sh")
    (release,) = [r for r in rendered.resources if r.inputs.get("chart") == "kube-prometheus-stack"]
    template = (charts / "kube-prometheus-stack" / "templates" / "prometheus" / "service.yaml").read_text()
    assert 'name: {{ template "kube-prometheus-stack.fullname" . }}-prometheus' in template
    assert names["PROMETHEUS_SERVICE"] == f"{release.inputs['values']['fullnameOverride']}-prometheus"
    assert 'service/$PROMETHEUS_SERVICE" 19090:9090' in (SCRIPTS / "checks.sh").read_text()


def test_the_day2_change_renders_and_changes_what_its_checks_expect():
    """day2.sh's `pulumi config set` commands applied with the CLI's semantics (tests/test_readme_commands.py)."""
    text = (SCRIPTS / "day2.sh").read_text()
    values = assignments(SCRIPTS / "day2.sh")
    config = stack_config(STACK)
    sets = [words for where, words in commands("pulumi") if where.endswith("day2.sh") and words[1:3] == ["config", "set"]]
    assert len(sets) == 2
    for words in sets:
        line = " ".join(values.get(w.strip('$"{}'), w) if w.startswith("$") and "STACK" not in w else w for w in words)
        apply(config, parse_command(line.replace('"$STACK"', STACK).replace("$STACK", STACK)))
    after = runner.run(STACK, config)
    web = after.get("Deployment", "ams-web")
    api = after.get("Deployment", "ams-api")["spec"]["template"]["spec"]["containers"][0]
    before = render_stack(STACK).get("Deployment", "ams-web")
    assert web["spec"]["replicas"] == int(values["WEB_REPLICAS"]) != before["spec"]["replicas"]
    assert api["resources"]["limits"]["memory"] == values["API_MEMORY_LIMIT"]
    assert "rollout status deployment/ams-web" in text and "rollout status deployment/ams-api" in text


# --- the e2e stack passes what every stack passes ------------------------------------------------------------------

STACK_CHECKS = [
    test_stacks.test_every_stack_renders_workloads,
    test_stacks.test_pods_run_restricted,
    test_stacks.test_exceptions_are_only_node_collectors,
    test_stacks.test_containers_run_restricted,
    test_stacks.test_containers_have_requests_within_limits,
    test_stacks.test_long_running_containers_have_probes,
    test_stacks.test_images_are_pinned,
    test_stacks.test_objects_carry_standard_labels_and_namespaces,
    test_stacks.test_secrets_reach_containers_only_by_reference,
    test_stacks.test_no_plain_text_secret_anywhere,
    test_stacks.test_namespaces_enforce_pod_security,
    test_stacks.test_multi_replica_workloads_have_disruption_budgets,
]


@pytest.mark.parametrize("check", STACK_CHECKS, ids=lambda f: f.__name__)
def test_the_e2e_stack_passes_the_whole_stack_checks(check, rendered):
    check(rendered)


def test_the_e2e_stack_is_dev_sized_for_kind(rendered):
    config = stack_config(STACK)
    assert config["ams:environment"] == "dev"
    assert config["ams:cluster"]["context"] == f"kind-{job()['env']['AMS_E2E_CLUSTER']}"
    assert rendered.outputs["entry"]["serviceType"] == "NodePort"
    assert rendered.get("Cluster", "ams-db")["spec"]["instances"] == 1
    assert any(r.inputs.get("chart") == "kube-prometheus-stack" for r in rendered.resources), "monitoring on"
    test_stacks.test_prod_protects_data(STACK, rendered)


def test_the_e2e_stack_passes_the_policy_pack():
    test_policy.test_every_resource_of_every_stack_passes_the_resource_policies(STACK)
    test_policy.test_every_stack_passes_the_stack_policies(STACK)


# --- docs/e2e.md ---------------------------------------------------------------------------------------------------


def test_the_docs_give_the_budget_of_every_step():
    text = DOCS.read_text()
    table = text[text.index("| Step | Budget (minutes) |") :].split("\n\n")[0].splitlines()[2:]
    rows = [[cell.strip() for cell in row.strip("|").split("|")] for row in table]
    assert [int(minutes) for _, minutes, _ in rows] == [step["timeout-minutes"] for step in steps(job())]
    for (name, _, _), step in zip(rows, steps(job()), strict=True):
        assert "name" not in step or name == step["name"], (name, step.get("name"))
    total = sum(step["timeout-minutes"] for step in steps(job()))
    assert f"they sum to {total} minutes" in text


def test_the_laptop_steps_are_the_workflows():
    text = DOCS.read_text()
    block = text[text.index("## The same steps on a laptop") :]
    block = block[block.index("```sh") : block.index("```", block.index("```sh") + 1)]
    for step in steps(job()):
        for line in step.get("run", "").splitlines():
            line = line.split(" 2>&1")[0].strip().replace('"$AMS_E2E_STACK"', STACK)
            if line.startswith(("pulumi up", "pulumi preview", "pulumi stack select", "scripts/e2e/")):
                assert line.split(' "$RUNNER_TEMP')[0] in block, line
    for script in sorted(SCRIPTS.glob("*.sh")):
        assert f"scripts/e2e/{script.name}" in block
    for section in ("## What it does not prove", "## What the checks prove"):
        assert section in text


def test_the_tools_it_installs_are_pinned_and_recorded_in_pins():
    pins = (PROJECT_DIR / "PINS.md").read_text()
    section = pins[pins.index("## The end-to-end workflow's tools") :]
    cluster = assignments(SCRIPTS / "cluster.sh")
    versions = {"kind": job()["env"]["KIND_VERSION"], "kubectl": job()["env"]["KUBECTL_VERSION"]}
    versions |= {"Calico": cluster["CALICO_VERSION"], "registry": cluster["REGISTRY_IMAGE"].split(":")[1]}
    versions["busybox"] = assignments(SCRIPTS / "checks.sh")["OUTSIDER_IMAGE"].split(":")[1]
    for tool_name, version in versions.items():
        assert re.fullmatch(r"v?\d+\.\d+\.\d+(-[a-z]+)?", version), f"{tool_name} {version}: pin a release"
        assert f"| {tool_name} {version}" in section, tool_name


def test_the_namespaces_and_outputs_the_checks_read_are_the_stacks(rendered):
    """Every `-n` of checks.sh and day2.sh is a variable read from the stack's outputs, at a path the outputs have."""
    checks = (SCRIPTS / "checks.sh").read_text()
    read = dict(re.findall(r'^(\w+)="\$\(output ([\w ]+)\)', checks, flags=re.M))
    for variable, path in read.items():
        value = rendered.outputs
        for key in path.split():
            value = value[key]
        assert value not in ("", None), variable
    assert re.search(r'namespaces --json .*\["app"\]', (SCRIPTS / "day2.sh").read_text())
    for where, words in commands("kubectl"):
        if where.endswith(("checks.sh", "day2.sh")) and "-n" in words:
            namespace = words[words.index("-n") + 1]
            if namespace == "default":  # the outsider pod only, in a namespace the stack does not make
                assert any("$OUTSIDER" in word for word in words), f"{where}: {' '.join(words)}"
                assert "default" not in rendered.outputs["namespaces"].values()
                continue
            assert namespace.strip("$") in read, f"{where}: {' '.join(words)}"
