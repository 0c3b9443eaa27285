"""schema/stack.schema.json: generated from the settings models, current, and what every stack file follows."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tests.conftest import PROJECT_DIR, STACK_FILES, VARIANTS, with_overrides
from tools import schema

FIRST_LINE = "# yaml-language-server: $schema=./schema/stack.schema.json"


def validator() -> jsonschema.Draft202012Validator:
    document = json.loads(schema.SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def stack_file(stack: str) -> dict:
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())


def errors(document: dict) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(document))


def test_the_committed_schema_is_what_the_models_generate():
    assert schema.SCHEMA_FILE.read_text() == schema.render(), "run python -m tools.schema"
    result = subprocess.run([sys.executable, "-m", "tools.schema", "--check"], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_check_fails_on_a_stale_schema(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "stack.schema.json"
    stale.write_text(schema.render().replace('"ams:app"', '"ams:application"'))
    monkeypatch.setattr(schema, "SCHEMA_FILE", stale)
    assert schema.main(["--check"]) == 1
    assert "is stale: run python -m tools.schema" in capsys.readouterr().err
    monkeypatch.setattr(schema, "SCHEMA_FILE", tmp_path / "missing.json")
    assert schema.main(["--check"]) == 1


@pytest.mark.parametrize("stack", STACK_FILES)
def test_every_stack_file_names_and_follows_the_schema(stack):
    assert (PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text().splitlines()[0] == FIRST_LINE
    assert errors(stack_file(stack)) == []


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_the_other_modes_and_strategies_follow_it_too(name):
    stack, overrides = VARIANTS[name]
    assert errors({"config": with_overrides(stack_file(stack)["config"], overrides)}) == []


def test_keys_of_other_namespaces_and_secrets_as_the_cli_reads_them():
    config = {
        **stack_file("prod")["config"],
        "kubernetes:enableSecretMutable": True,
        "aws:region": "eu-west-1",
        "aws:config:profile": "ops",
        "ams:jwtAccessSecret": {"secure": "v1:AAAA"},
        "environment": "prod",  # a key without a namespace is the project's
    }
    assert errors({"config": config}) == []


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"ams:aplication": {"api": {}}}, "config: 'ams:aplication' does not match any of the regexes"),
        ({"ams:app.api.replica": 3}, "config/ams:app/api: Additional properties are not allowed ('replica' was unexpected)"),
        ({"ams:app.api.resources.requests.gpu": 1}, "config/ams:app/api/resources/requests: Additional properties"),
        ({"ams:ingress.hosts": ["a.suresoft.com"]}, "config/ams:ingress: Additional properties are not allowed ('hosts'"),
        ({"ams:access.quotas.ops": {}}, "config/ams:access/quotas: 'ops' is not one of"),
        ({"ams:app.api.minReplicas": "three"}, "config/ams:app/api/minReplicas: 'three' is not of type 'integer'"),
        ({"ams:delivery.images.api": "ghcr.io/suresoft/ams-api:latest"}, "config/ams:delivery/images/api: 'ghcr.io/suresoft"),
        ({"ams:jwtAccessSecret": "not-encrypted"}, "config/ams:jwtAccessSecret: 'not-encrypted' is not of type 'object'"),
        ({"environmnet": "dev"}, "config: 'environmnet' does not match any of the regexes"),
    ],
)
def test_a_typo_or_a_wrong_value_does_not(overrides, error):
    found = errors({"config": with_overrides(stack_file("prod")["config"], overrides)})
    assert len(found) == 1 and found[0].startswith(error), found
