"""The Pulumi CLI's project-config rules, as the offline runner applies them before the program runs.

Each case mirrors a rule of pulumi/pulumi (pkg/v3.259.0, see tools/project_config.py for the functions):
missing keys from pkg/workspace/config.go `mergeConfig` (its tests `TestStackConfigErrorsWhenMissing...`),
types from sdk/go/common/workspace/project.go `ValidateConfigValue` (`TestStackConfigIntegerTypeIsCorrectlyValidated`),
secrets from `validateStackConfigValue` (`TestStackConfigSecretIsCorrectlyValidated`), declarations from
`Project.Validate` and project.json, stack files from sdk/go/common/workspace/loaders.go, and both files read with
gopkg.in/yaml.v3 as the CLI reads them (tools/stack_yaml.py: go-yaml/yaml v3 decode.go and resolve.go).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR, STACK_FILES, stack_config
from tools import project_config, runner, stack_yaml

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


DELIVERY = "  ams:delivery: {images: {api: ghcr.io/suresoft/ams-api:1.0.0, web: ghcr.io/suresoft/ams-web:1.0.0}}\n"


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
        # yaml.v3 refuses a key twice in a mapping; PyYAML kept the last one and rendered (see the tests below).
        (
            f"config:\n  ams:environment: dev\n  ams:monitoring: {{enabled: true}}\n{DELIVERY}  ams:monitoring: {{}}\n",
            'cannot read {file}: line 5: mapping key "ams:monitoring" already defined at line 3',
        ),
        (
            f"config:\n  ams:environment: dev\n{DELIVERY}  ams:monitoring:\n    enabled: true\n    enabled: false\n",
            'cannot read {file}: line 6: mapping key "enabled" already defined at line 5',
        ),
        # yaml.v3 reads `no`/`on` as strings, which the program's strict booleans refuse, naming the key path.
        (
            f"config:\n  ams:environment: dev\n{DELIVERY}  ams:monitoring: {{enabled: no}}\n",
            "ams:monitoring.enabled: must be true or false, got string 'no'",
        ),
        (
            f"config:\n  ams:environment: dev\n{DELIVERY}  ams:secrets: {{installOperator: On}}\n",
            "ams:secrets.installOperator: must be true or false, got string 'On'",
        ),
        # One key spelled twice: the CLI takes either at random (Go map order); see test_one_key_spelled_twice.
        (
            f"config:\n  environment: prod\n  ams:environment: dev\n{DELIVERY}",
            "configuration key 'ams:environment' is set twice, as 'environment' and as 'ams:environment': "
            "the Pulumi CLI takes either one at random on each run; set it once",
        ),
        (
            f"environment: [ams/dev]\nconfig:\n  ams:environment: dev\n{DELIVERY}",
            "{file}: top-level 'environment:' imports Pulumi ESC environments, which the offline render cannot open",
        ),
    ],
)
def test_render_refuses_bad_stack_files_with_one_error_and_exit_2(tmp_path, text, message):
    stack_file = tmp_path / "Pulumi.bad.yaml"
    stack_file.write_text(text)
    result = render("--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    message = message.format(file=stack_file)
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


# What gopkg.in/yaml.v3 (the CLI's reader) makes of a plain scalar where PyYAML's SafeLoader (YAML 1.1) differs, and a
# few where both agree. go-yaml/yaml v3 resolve.go `resolve`; the CLI's re-marshal in loaders.go turns a whole float
# below 1e6 into an int; timestamps reach the program as Go's time.Time.String() (resource/config/object.go).
SCALARS = [
    # text, PyYAML SafeLoader, yaml.v3 as the CLI hands it on
    *[(word, word.lower() in ("yes", "on"), word) for word in ("yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON")],
    *[(word, word.lower() == "on", word) for word in ("off", "Off", "OFF")],
    ("y", "y", "y"),
    ("n", "n", "n"),
    ("true", True, True),
    ("True", True, True),
    ("FALSE", False, False),
    ("tRUE", "tRUE", "tRUE"),
    ("0755", 493, 493),  # yaml.v3 keeps YAML 1.1's octal
    ("0o755", "0o755", 493),
    ("0x1F", 31, 31),
    ("1_000", 1000, 1000),
    ("1:30", 90, "1:30"),  # sexagesimal: YAML 1.1 only
    ("12:30:00", 45000, "12:30:00"),
    ("1e3", "1e3", 1000),
    ("2.5e3", "2.5e3", 2500),
    ("1.5", 1.5, 1.5),
    ("3.0", 3.0, 3),
    ("08", "08", 8),
    ("~", None, None),
    ("null", None, None),
    ("=", "ConstructorError", "="),
    ("2024-01-01", "date", "2024-01-01 00:00:00 +0000 UTC"),
    ("2024-02-30", "ValueError", "2024-02-30"),
    ("2001-12-14T21:59:43.10Z", "datetime", "2001-12-14 21:59:43.1 +0000 UTC"),
]


@pytest.mark.parametrize("text, pyyaml, cli", SCALARS, ids=[row[0] for row in SCALARS])
def test_plain_scalars_resolve_as_yaml_v3_resolves_them(text, pyyaml, cli):
    try:
        safe = yaml.safe_load(f"key: {text}\n")["key"]
    except (yaml.YAMLError, ValueError) as exc:
        safe = type(exc).__name__
    assert (type(safe).__name__ if pyyaml in ("date", "datetime") else safe) == pyyaml
    assert stack_yaml.load(f"key: {text}\n") == {"key": cli}
    assert type(stack_yaml.load(f"key: {text}\n")["key"]) is type(cli)
    assert stack_yaml.load(f"key: '{text}'\n") == {"key": text}  # quoted: a string in both
    assert stack_yaml.load(f"{text}: value\n") == {cli: "value"}  # keys resolve alike (`yes:` is the key "yes")


@pytest.mark.parametrize(
    "text, problems",
    [
        ("a: 1\nb: 2\na: 3\n", ['line 3: mapping key "a" already defined at line 1']),
        ("a: 1\n'a': 2\n", ['line 2: mapping key "a" already defined at line 1']),  # the text, not the style
        ("yes: 1\n'yes': 2\n", ['line 2: mapping key "yes" already defined at line 1']),
        ("x:\n  - {p: 1, p: 2}\n", ['line 2: mapping key "p" already defined at line 2']),
        (
            "a: 1\na: 2\na: 3\n",
            [
                'line 2: mapping key "a" already defined at line 1',
                'line 3: mapping key "a" already defined at line 1',
                'line 3: mapping key "a" already defined at line 2',
            ],
        ),
        # A mapping with a duplicate is not looked into (decode.go returns before decoding its values).
        ("a: {p: 1, p: 2}\na: 3\n", ['line 2: mapping key "a" already defined at line 1']),
    ],
)
def test_a_key_twice_in_a_mapping_is_refused_in_yaml_v3_words(text, problems):
    with pytest.raises(stack_yaml.DuplicateKeyError) as raised:
        stack_yaml.load(text)
    assert raised.value.problems == problems
    yaml.safe_load(text)  # PyYAML keeps the last value: why the runner rendered such a file


def test_pyyaml_read_the_defects_as_a_clean_stack(tmp_path):
    """What the runner did before it read stack files with yaml.v3's rules: `enabled: no` was the boolean false and a
    duplicate key kept its last value, so both rendered; `pulumi up` refused both (the first with yaml.v3's
    "already defined", the second with the program's own boolean check, the CLI handing it the string "no")."""
    text = f"config:\n  ams:environment: dev\n{DELIVERY}  ams:monitoring: {{enabled: no}}\n  ams:monitoring: {{enabled: no}}\n"
    assert yaml.safe_load(text)["config"]["ams:monitoring"] == {"enabled": False}
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(text)
    with pytest.raises(project_config.ProjectConfigError) as raised:
        runner.read_stack_file(stack_file)
    assert raised.value.problems == [f'cannot read {stack_file}: line 5: mapping key "ams:monitoring" already defined at line 4']
    stack_file.write_text(text.rsplit("  ams:monitoring", 1)[0])
    assert runner.read_stack_file(stack_file)["ams:monitoring"] == {"enabled": "no"}


@pytest.mark.parametrize("other", ["environment", "test:config:environment"])
def test_one_key_spelled_twice_is_refused(tmp_path, other):
    """Issue 22 said a stack file with both `environment:` and `ams:environment` "reads differently from run to run"
    in the CLI. The source says which `environment:` does: under `config:` it is `ams:environment` spelled without the
    namespace, and loaders.go `stackConfigNamespacedWithProject` writes both into one Go map key while ranging over a
    Go map, so either value wins at random on each run (`ams:config:environment`, the old form, likewise in config.Map's
    `UnmarshalYAML`, resource/config/map.go). The runner refuses the pair. A top-level `environment:` is something
    else, `ProjectStack.Environment` (workspace/project.go): Pulumi ESC environments, whose `pulumiConfig` the CLI
    merges under the stack's config with the stack's own values winning (pkg/workspace/config.go `mergeConfig`), no
    randomness, but opened from Pulumi Cloud only (another backend refuses the stack, config_env.go
    `errBackendNoEnvironments`); the offline render cannot open them, so it refuses that too (the render table)."""
    problems = refusal(tmp_path, "environment: {type: string, default: ''}\n", {other: "prod", "test:environment": "dev"})
    assert problems == [
        f"configuration key 'test:environment' is set twice, as '{other}' and as 'test:environment': "
        "the Pulumi CLI takes either one at random on each run; set it once"
    ]
    assert apply(tmp_path, "environment: {type: string, default: ''}\n", {other: "prod"}) == {"test:environment": "prod"}


@pytest.mark.parametrize("environment", ["[]", "null", ""])
def test_a_top_level_environment_importing_nothing_is_read(tmp_path, environment):
    """ProjectStack.Environment.Definition() is empty for these, so the CLI opens no ESC environment."""
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(f"environment: {environment}\nconfig:\n  ams:environment: dev\n")
    assert runner.read_stack_file(stack_file) == {"ams:environment": "dev"}


@pytest.mark.parametrize(
    "declarations, message",
    [
        ("a: 1\na: 2", 'line 5: mapping key "a" already defined at line 4'),
        ("a: {type: string, secret: yes}", "config.a: description must be a string and secret a boolean"),
    ],
)
def test_the_project_file_is_read_with_yaml_v3_too(tmp_path, declarations, message):
    """LoadProject reads Pulumi.yaml with the same marshaler as the stack files (loaders.go marshallerForPath)."""
    with pytest.raises(project_config.ProjectConfigError) as raised:
        project_config.load_project(project(tmp_path, declarations))
    assert len(raised.value.problems) == 1 and message in raised.value.problems[0], raised.value.problems
