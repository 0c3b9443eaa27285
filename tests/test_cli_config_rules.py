"""The Pulumi CLI's project-config rules, as the offline runner applies them before the program runs.

Each case mirrors a rule of pulumi/pulumi (pkg/v3.259.0, see tools/project_config.py for the functions):
missing keys from pkg/workspace/config.go `mergeConfig` (its tests `TestStackConfigErrorsWhenMissing...`),
types from sdk/go/common/workspace/project.go `ValidateConfigValue` (`TestStackConfigIntegerTypeIsCorrectlyValidated`),
secrets from `validateStackConfigValue` (`TestStackConfigSecretIsCorrectlyValidated`), declarations from
`Project.Validate` and project.json, stack files from sdk/go/common/workspace/loaders.go.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR, STACK_FILES, stack_config
from tools import project_config, runner

SECURE = {"secure": "v1:AAAAAAAAAAAAAAAA:BBBBBBBB"}


def project(tmp_path: Path, config_yaml: str) -> Path:
    path = tmp_path / "Pulumi.yaml"
    path.write_text("name: test\nruntime: python\nconfig:\n" + textwrap.indent(textwrap.dedent(config_yaml), "  "))
    return path


def apply(tmp_path: Path, config_yaml: str, stack: dict, name: str = "dev") -> dict:
    return runner.cli_config(name, stack, project(tmp_path, config_yaml))[0]


def refusal(tmp_path: Path, config_yaml: str, stack: dict, name: str = "dev") -> list[str]:
    with pytest.raises(project_config.ProjectConfigError) as raised:
        apply(tmp_path, config_yaml, stack, name)
    return raised.value.problems


@pytest.mark.parametrize("stack", STACK_FILES)
def test_every_committed_stack_passes_the_cli_rules(stack):
    values, warnings = runner.cli_config(stack, stack_config(stack))
    assert warnings == []
    # The CLI hands the program every declared key: the stack's value, or the project's default.
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    assert {key if ":" in key else f"ams:{key}" for key in declared} <= set(values)
    # Project-level provider configuration reaches every stack (a non-project key's shorthand is its value).
    assert values["kubernetes:enableSecretMutable"] is True


def test_a_declared_key_without_default_is_required(tmp_path):
    """The defect this guards: Pulumi.yaml declared 13 keys without defaults, so every stack was refused."""
    declarations = """
    values: {description: no default}
    another: {type: string}
    hello: {type: object}
    world: {type: integer, default: 3}
    """
    assert refusal(tmp_path, declarations, {}, "dev") == [
        "Stack 'dev' is missing configuration values 'another', 'hello' and 'values'"
    ]
    assert refusal(tmp_path, declarations, {"test:hello": {"a": 1}, "another": "x"}) == [
        "Stack 'dev' is missing configuration value 'values'"
    ]


def test_the_real_project_file_required_keys_before_the_fix(tmp_path):
    """Pulumi.yaml as it was: every key described, none with a default. The runner now refuses that."""
    old = tmp_path / "Pulumi.yaml"
    old.write_text("name: ams\nruntime: python\nconfig:\n  app:\n    description: sizing\n  environment:\n    type: string\n")
    with pytest.raises(project_config.ProjectConfigError) as raised:
        runner.cli_config("dev", stack_config("dev"), old)
    assert raised.value.problems == ["Stack 'dev' is missing configuration value 'app'"]


def test_defaults_and_values_fill_in_what_the_stack_leaves_out(tmp_path):
    declarations = """
    size: t3.micro
    count: {type: integer, default: 2}
    tags: {type: object, default: {}}
    aws:region: us-west-1
    region: {value: eu-west-1}
    """
    values = apply(tmp_path, declarations, {"test:count": 5})
    assert values == {
        "test:size": "t3.micro",
        "test:count": 5,
        "test:tags": {},
        "aws:region": "us-west-1",
        "test:region": "eu-west-1",
    }


@pytest.mark.parametrize(
    "type_yaml, value, ok",
    [
        ("integer", 3, True),
        ("integer", "3", True),
        ("integer", 3.0, True),
        ("integer", "three", False),
        ("integer", 3.5, False),
        ("integer", True, False),
        ("boolean", True, True),
        ("boolean", "false", True),
        ("boolean", "yes", False),
        ("string", "x", True),
        ("string", 3, True),  # a scalar reaches the check as its text
        ("string", {"a": 1}, False),
        ("object", {"a": 1}, True),
        ("object", "big", False),
        ("object", [1], False),
        ("array, items: {type: integer}", [1, 2.0, "3"], True),
        ("array, items: {type: integer}", [1, "x"], False),
        ("array, items: {type: string}", "a,b", False),
    ],
)
def test_typed_keys_are_checked(tmp_path, type_yaml, value, ok):
    declarations = f"key: {{type: {type_yaml}}}\n"
    if ok:
        assert apply(tmp_path, declarations, {"key": value})["test:key"] == value
    else:
        type_name = type_yaml.replace(", items: {type: ", "<").replace("}", ">")
        assert refusal(tmp_path, declarations, {"key": value}) == [
            f"Stack 'dev' with configuration key 'key' must be of type '{type_name}'"
        ]


def test_every_type_error_is_listed(tmp_path):
    """The CLI stops at the first; listing all of them costs nothing and saves a round trip."""
    problems = refusal(tmp_path, "a: {type: integer}\nb: {type: object}\n", {"a": "x", "b": "y"})
    assert problems == [
        "Stack 'dev' with configuration key 'a' must be of type 'integer'",
        "Stack 'dev' with configuration key 'b' must be of type 'object'",
    ]


def test_a_secret_key_must_be_secure(tmp_path):
    declarations = "token: {type: string, secret: true}\n"
    assert refusal(tmp_path, declarations, {"token": "plain"}) == [
        "Stack 'dev' with configuration key 'token' must be encrypted as it's secret"
    ]
    assert apply(tmp_path, declarations, {"token": SECURE})["test:token"] == project_config.Secure(SECURE["secure"])


def test_a_secret_key_with_a_default_is_refused_when_the_stack_leaves_it_out(tmp_path):
    """Why Pulumi.yaml does not mark the optional secrets `secret: true`: the default is plaintext."""
    assert refusal(tmp_path, 'token: {type: string, secret: true, default: ""}\n', {}) == [
        "Stack 'dev' with configuration key 'token' must be encrypted as it's secret"
    ]


@pytest.mark.parametrize(
    "declarations, message",
    [
        ("a: {default: 1, value: 2}", "project config 'a' cannot have both a 'default' and 'value' attribute"),
        ("a: {type: array}", "The configuration key 'a' declares an array but does not specify the underlying type"),
        ("a: {type: integer, default: x}", "The default value specified for configuration key 'a' is not of the expected"),
        ("a: {type: map}", "config.a.type: must be one of string, integer, boolean, array, object"),
        ("a: {typ: string}", "config.a: 'typ' not allowed; did you mean 'type'?"),
        ("aws:region: {type: string, value: x}", "Configuration key 'aws:region' is not namespaced by the project"),
        ("aws:region: {default: x}", "should not define a default value"),
        ("aws:region: {description: x}", "Configuration key 'aws:region' is namespaced and must provide an attribute 'value'"),
        ("a: 1.5", "config.a: must be a string, integer, boolean, array or a declaration"),
    ],
)
def test_bad_declarations_are_refused(tmp_path, declarations, message):
    with pytest.raises(project_config.ProjectConfigError) as raised:
        project_config.load_project(project(tmp_path, declarations))
    assert len(raised.value.problems) == 1 and message in raised.value.problems[0], raised.value.problems


def test_stack_keys_without_namespace_belong_to_the_project(tmp_path):
    assert apply(tmp_path, "a: {type: integer}\n", {"a": 1, "aws:config:region": "x"}) == {"test:a": 1, "aws:region": "x"}


def test_an_unparsable_key_is_refused(tmp_path):
    assert refusal(tmp_path, "a: 1\n", {"test:a:b": 1}) == [
        "could not parse test:a:b as a configuration key (configuration keys should be of the form `<namespace>:<name>`)"
    ]


def test_a_null_value_warns_and_counts_as_empty(tmp_path):
    values, warnings = runner.cli_config("dev", {"a": None}, project(tmp_path, "a: {type: string}\n"))
    assert values == {"test:a": ""}
    assert len(warnings) == 1 and warnings[0].startswith('No value for configuration key "a"')


def render(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tools.render", *args], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("just a string\n", "the top level must be a mapping with a 'config:' key, got a string"),
        ("- config\n- ams:environment\n", "the top level must be a mapping with a 'config:' key, got a list"),
        ("config: [1, 2]\n", "'config' must be a mapping of keys to values, got a list"),
        ("config:\n  ams:app: big\n", "Stack 'bad' with configuration key 'app' must be of type 'object'"),
        (
            "config:\n  ams:delivery: {images: {api: ghcr.io/suresoft/ams-api:1.0.0, web: ghcr.io/suresoft/ams-web:1.0.0}}\n"
            "  ams:environment: dev\n  ams:jwtAccessSecret: not-encrypted\n",
            "ams:jwtAccessSecret: must be encrypted: set it with pulumi config set --secret ams:jwtAccessSecret",
        ),
        ("config: {}\n", "ams:environment: not set, so it defaults to the stack name 'bad'"),
        ("", "ams:environment: not set, so it defaults to the stack name 'bad'"),
    ],
)
def test_render_refuses_bad_stack_files_with_one_error_and_exit_2(tmp_path, text, message):
    stack_file = tmp_path / "Pulumi.bad.yaml"
    stack_file.write_text(text)
    result = render("--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_render_refuses_an_out_path_that_is_a_file(tmp_path):
    (tmp_path / "taken").write_text("keep me")
    for out in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        result = render("--stack", "dev", "--out", str(out))
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [f"error: --out {out}: {tmp_path / 'taken'} exists and is not a directory"]
    assert (tmp_path / "taken").read_text() == "keep me"


def test_a_namespace_typo_warns_with_the_intended_key(tmp_path):
    stack_file = tmp_path / "Pulumi.dev.yaml"
    config = {**stack_config("dev"), "asm:environment": "prod", "aws:region": "eu-west-1"}
    # With the cluster's UID recorded, the typo is the only warning (an unrecorded UID warns too).
    config["ams:cluster"] = {"context": "ams-dev", "uid": runner.SimulatedCluster().kube_system_uid}
    stack_file.write_text(yaml.safe_dump({"config": config}))
    result = render("--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines() == [
        "warning: configuration key 'asm:environment' is not read by this program; did you mean 'ams:environment'?"
    ]
