"""The `pulumi config set|rm` commands of README.md and of every page under docs/ are executable documentation.

Every such command is applied to a copy of its stack's file with the CLI's semantics, and the result must render;
a new page under docs/ is read without being listed here. The semantics, from pulumi/pulumi (pkg/v3.259.0):
- pkg/cmd/pulumi/config/io.go `parseConfigKey`: a key without `:` belongs to the project; with `--path`
  only the part before the first `.` or `[` is the config key, the rest a path inside its value.
- sdk/go/common/resource/config/map.go `Map.Set`/`Map.Remove`: without `--path` the key is literal
  (`ams:delivery.strategy` is a key of its own, which the program refuses as unknown); with it, the
  value is set or removed inside the object, creating maps and lists on the way.
- sdk/go/common/resource/config/object.go `coerce`: under `--path`, "true"/"false" become booleans and
  integers numbers (not with a leading 0); a top-level value is always a string.
- pkg/cmd/pulumi/config/config.go `configSetCmd.Run`: `--secret` stores the value encrypted (`secure:`).
"""

from __future__ import annotations

import copy
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PROJECT_DIR, stack_config
from tools import runner

PLACEHOLDERS = {
    "<current>": "1.0.0",
    "<new>": "1.1.0",
    "<sha>": "0123abc",
    "<dev|staging|prod>": "prod",
    "<uid>": "6f1c2d3e-0000-4000-8000-00000000a001",  # a kube-system UID, as kubectl prints it
    "<serving>": "6",  # the api replicas the serving color runs (docs/releasing.md), within prod's maxReplicas
}
_SEGMENT = re.compile(r'\.?([A-Za-z0-9_\-$]+)|\[(\d+)\]|\["((?:[^"\\]|\\.)*)"\]')


@dataclass
class Command:
    verb: str  # set | rm
    key: str
    value: str | None
    path: bool
    secret: bool
    line: str
    stack: str | None = None  # named with --stack; otherwise the selected stack


def parse_path(text: str) -> list:
    """resource.ParsePropertyPathStrict: `a.b[0]["c.d"]` -> ["a", "b", 0, "c.d"]."""
    segments, position = [], 0
    while position < len(text):
        match = _SEGMENT.match(text, position)
        if not match or (position == 0 and text.startswith(".")):
            raise ValueError(f"invalid config key path {text!r} at {position}")
        name, index, quoted = match.groups()
        segments.append(int(index) if index is not None else (name if name is not None else quoted))
        position = match.end()
    return segments


def coerce(value: str):
    if value in ("true", "false"):
        return value == "true"
    if re.fullmatch(r"-?[1-9]\d*|0", value):
        return int(value)
    return value


def apply(config: dict, command: Command) -> None:
    key = command.key if ":" in command.key.split(".", 1)[0].split("[", 1)[0] else f"ams:{command.key}"
    if not command.path:
        if command.verb == "rm":
            config.pop(key, None)
        else:
            config[key] = {"secure": "v1:readme"} if command.secret else command.value
        return
    namespace, _, name = key.partition(":")
    segments = parse_path(name)
    top = f"{namespace}:{segments[0]}"
    value = {"secure": "v1:readme"} if command.secret else command.value
    if len(segments) == 1:
        if command.verb == "rm":
            config.pop(top, None)
        else:
            config[top] = value
        return
    if command.verb == "set" and not command.secret:
        value = coerce(value)
    if command.verb == "rm" and top not in config:
        return
    if not isinstance(config.get(top), (dict, list)):
        config[top] = [] if isinstance(segments[1], int) else {}
    node = config[top]
    for segment, following in zip(segments[1:-1], segments[2:], strict=True):
        if isinstance(node, list) and segment == len(node):
            node.append(None)
        if command.verb == "rm" and (segment not in node if isinstance(node, dict) else segment >= len(node)):
            return
        if not isinstance(node[segment] if isinstance(node, list) else node.get(segment), (dict, list)):
            node[segment] = [] if isinstance(following, int) else {}
        node = node[segment]
    last = segments[-1]
    if command.verb == "rm":
        if isinstance(node, dict):
            node.pop(last, None)
        elif last < len(node):
            del node[last]
    elif isinstance(node, list) and last == len(node):
        node.append(value)
    else:
        node[last] = value


def parse_command(line: str) -> Command:
    words = shlex.split(line)
    verb = words[2]
    stack = None
    if "--stack" in words:
        position = words.index("--stack")
        stack = words[position + 1]
        del words[position : position + 2]
    flags = {w for w in words[3:] if w.startswith("--")}
    unsupported = flags - {"--path", "--secret"}
    assert not unsupported, f"documented command uses flags this test does not model: {unsupported}: {line}"
    args = [w for w in words[3:] if not w.startswith("--")]
    value = args[1] if len(args) > 1 else None
    if value is not None:
        for placeholder, example in PLACEHOLDERS.items():
            value = value.replace(placeholder, example)
        value = re.sub(r"\$\(.*\)", "0123456789abcdef", value)
    return Command(verb, args[0], value, "--path" in flags, "--secret" in flags, line, stack)


def documentation_files() -> list[Path]:
    """README.md and every Markdown page under docs/, in a stable order."""
    return [PROJECT_DIR / "README.md", *sorted((PROJECT_DIR / "docs").glob("*.md"))]


def page_name(path: Path) -> str:
    return str(path.relative_to(PROJECT_DIR))


CONTINUED = "# continued"


def scripts_of(text: str) -> list[tuple[str, list]]:
    """Each shell block of a page, and each inline `pulumi config ...` span, as (stack, steps).

    A step is a Command or "up": where the page runs `pulumi up` or `pulumi preview`, or commits a release
    (`git commit`: each is one pull request, which CI deploys, in docs/releasing.md). A block whose first line is
    `# continued` goes on from the block before it (a procedure with prose between its steps): its steps run after
    that block's, on the same stack.
    """
    scripts = []
    stack, steps = "prod", []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        if not block.startswith(CONTINUED):
            stack, steps = "prod", []
        for raw_line in block.splitlines():
            line = raw_line.split(" #", 1)[0].strip()
            for part in (p.strip() for p in line.split("&&")):
                if match := re.match(r"pulumi stack (?:select|init) (\w+)", part):
                    stack = match.group(1)
                elif re.match(r"pulumi config (set|rm) ", part):
                    steps.append(parse_command(part))
                elif re.match(r"pulumi (up|preview)\b|git commit\b", part):
                    steps.append("up")
        if any(isinstance(s, Command) for s in steps):
            scripts.append((stack, list(steps)))
    outside_blocks = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`(pulumi config (?:set|rm) [^`]+)`", outside_blocks):
        if len([w for w in shlex.split(span)[3:] if not w.startswith("--")]) >= 1:
            command = parse_command(span)
            scripts.append((command.stack or "prod", [command]))
    return scripts


def documented_scripts() -> list[tuple[str, str, list]]:
    """(page, stack, steps) of every page documentation_files() lists."""
    return [(page_name(path), *script) for path in documentation_files() for script in scripts_of(path.read_text())]


SCRIPTS = documented_scripts()


def commands_in(page: str) -> list[Command]:
    return [s for name, _, steps in SCRIPTS if name == page for s in steps if isinstance(s, Command)]


def test_the_documentation_has_config_commands_to_check():
    """The counts are what the pages hold today (README 4, releasing 28, first deploy 2, local development 2, network
    assumptions 1: 37 before the restore and procedure pages add theirs): a parser that stopped reading a page's blocks,
    or a page that lost its procedures, goes red here."""
    commands = [s for _, _, steps in SCRIPTS for s in steps if isinstance(s, Command)]
    assert len(commands) >= 37, commands
    assert len(commands_in("README.md")) >= 4
    assert len(commands_in("docs/releasing.md")) >= 28
    assert len(commands_in("docs/first-deploy.md")) >= 2
    assert len(commands_in("docs/local-development.md")) >= 2
    dotted_without_path = [c.line for c in commands if not c.path and re.search(r"[.\[]", c.key)]
    assert dotted_without_path == [], "these store a literal dotted key; add --path"


def test_every_page_under_docs_is_read():
    pages = {page_name(path) for path in documentation_files()}
    assert {"README.md", "docs/releasing.md", "docs/day-2.md", "docs/restore.md"} <= pages


@pytest.mark.parametrize("page, stack, steps", SCRIPTS, ids=[f"{p}-{s}-{i}" for i, (p, s, _) in enumerate(SCRIPTS)])
def test_documented_config_commands_render(page, stack, steps):
    config = copy.deepcopy(stack_config(stack))
    for step in [*steps, "up"]:
        if step == "up":
            runner.run(stack, config)
        else:
            apply(config, step)


def test_the_cli_semantics_this_test_models():
    config: dict = {"ams:delivery": {"strategy": "rolling"}}
    apply(config, parse_command("pulumi config set ams:delivery.strategy blueGreen"))
    assert config["ams:delivery.strategy"] == "blueGreen" and config["ams:delivery"] == {"strategy": "rolling"}
    apply(config, parse_command("pulumi config set --path ams:delivery.canaryWeight 10"))
    apply(config, parse_command("pulumi config set --path 'ams:delivery.colors.green.api' x:1"))
    apply(config, parse_command("pulumi config set --path 'ams:ingress.allowSourceRanges[0]' 10.0.0.0/8"))
    apply(config, parse_command("pulumi config set --path ams:app.api.flag true"))
    apply(config, parse_command("pulumi config set --path ams:app.api.code 0123"))
    assert config["ams:delivery"] == {"strategy": "rolling", "canaryWeight": 10, "colors": {"green": {"api": "x:1"}}}
    assert config["ams:ingress"] == {"allowSourceRanges": ["10.0.0.0/8"]}
    assert config["ams:app"] == {"api": {"flag": True, "code": "0123"}}
    apply(config, parse_command("pulumi config set --secret ams:jwtAccessSecret x"))
    assert config["ams:jwtAccessSecret"] == {"secure": "v1:readme"}
    apply(config, parse_command("pulumi config rm --path 'ams:delivery.colors.green'"))
    assert config["ams:delivery"]["colors"] == {}
    assert parse_path('a.b[0]["c.d"]') == ["a", "b", 0, "c.d"]


# --- the policy pack, and no release by hand -------------------------------------------------------------------------

# The local stack runs on a developer's own Docker engine: CI neither previews nor updates it, and the policy pack's
# rules are about the cluster stacks' Kubernetes objects. Every other `pulumi up` or `pulumi preview` the documentation gives
# runs the policy pack, as CI's previews and updates do (pull-request.yml, deploy.yml: `policyPacks: policy`).
EXEMPT_STACKS = {"local"}


def cli_runs(text: str) -> list[tuple[str | None, str]]:
    """(stack, command) of every `pulumi up` or `pulumi preview` in the text's shell blocks. The stack is the one
    `--stack` names, else the block's last `pulumi stack select|init`, else None; continued lines are joined."""
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
        stack = None
        for raw_line in block.replace("\\\n", " ").splitlines():
            line = raw_line.split(" #", 1)[0].strip()
            for part in (p.strip() for p in re.split(r"&&|\|\||;", line)):
                if match := re.match(r"pulumi stack (?:select|init) (\S+)", part):
                    stack = match.group(1)
                elif re.match(r"pulumi (up|preview)\b", part):
                    words = shlex.split(part)
                    named = words[words.index("--stack") + 1] if "--stack" in words else stack
                    found.append((named, part))
    return found


def without_policy_pack(runs: list[tuple[str | None, str]]) -> list[str]:
    return [command for stack, command in runs if stack not in EXEMPT_STACKS and "--policy-pack policy" not in command]


@pytest.mark.parametrize("path", documentation_files(), ids=page_name)
def test_every_documented_preview_and_update_runs_the_policy_pack(path):
    assert without_policy_pack(cli_runs(path.read_text())) == [], page_name(path)


def test_the_documentation_has_previews_and_updates_to_check():
    runs = [run for path in documentation_files() for run in cli_runs(path.read_text())]
    assert len([stack for stack, _ in runs if stack not in EXEMPT_STACKS]) >= 3, runs


def test_the_policy_pack_rule():
    sample = """```sh
pulumi up --stack local
pulumi stack select local
pulumi up --refresh
pulumi stack select prod
pulumi preview && pulumi up --stack local
pulumi up --stack dev --policy-pack policy \\
  --target urn
```
```sh
pulumi up
```
"""
    runs = cli_runs(sample)
    assert [stack for stack, _ in runs] == ["local", "local", "prod", "local", "dev", None]
    assert without_policy_pack(runs) == ["pulumi preview", "pulumi up"]


def test_releases_are_pull_requests_not_a_pulumi_up_by_hand():
    """docs/releasing.md gives no `pulumi up` (a hand release skips the reviewers and the next scheduled run reverts
    it): its procedures edit stack files and commit, one pull request per step."""
    section = (PROJECT_DIR / "docs" / "releasing.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) >= 2
    assert not any(re.search(r"\bpulumi (up|preview)\b", block) for block in blocks)
    assert all("git commit" in block for block in blocks)
    assert "pull request" in section


def test_a_continued_block_goes_on_from_the_one_before():
    sample = """```sh
pulumi stack select staging
pulumi config set --path 'ams:data.postgres.clusters.ams-db-2.restore.fromServer' ams-db
```
Prose.
```sh
# continued
pulumi config set --path 'ams:data.postgres.serving' ams-db-2
```
```sh
pulumi config set --path 'ams:data.postgres.serving' ams-db
```
"""
    first, second, third = scripts_of(sample)
    assert first[0] == second[0] == "staging" and third[0] == "prod"
    assert [step.key for step in second[1]] == [
        "ams:data.postgres.clusters.ams-db-2.restore.fromServer",
        "ams:data.postgres.serving",
    ]
    assert [step.key for step in third[1]] == ["ams:data.postgres.serving"]
