"""The Docker provider's input validation in the offline runner (tools/provider_checks.py): a value the provider
refuses at preview fails the render with the engine's message, and the local stack's values pass."""

from __future__ import annotations

import subprocess
import sys

import pytest
from pulumi.runtime import rpc

from tests.conftest import PROJECT_DIR, stack_config
from tools import provider_checks, runner

# The provider refuses a duration without a unit: the engine's whole message, as `pulumi preview` prints it.
UNITLESS_INTERVAL = """
import pulumi_docker as docker
from tools import runner
runner.run_components(lambda: docker.Container("probe", image="registry.example/app:1.0",
    healthcheck={"tests": ["CMD", "true"], "interval": "5", "timeout": "3s"}))
"""
UNITLESS_MESSAGE = (
    "docker:index/container:Container resource 'probe' has a problem: '5' is not a valid duration. "
    "'5' is not a valid duration. Examine values at 'probe.healthcheck.interval'."
)


def test_a_health_check_interval_without_a_unit_fails_the_render():
    """In a process of its own: the failure surfaces from a pending registration, which would outlive this test."""
    result = subprocess.run([sys.executable, "-c", UNITLESS_INTERVAL], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert result.returncode != 0
    assert UNITLESS_MESSAGE in result.stderr


def test_the_local_stack_passes_the_providers_checks():
    """Rendered as committed (with whatever checkouts are beside the project, so the bind mounts are checked too)."""
    rendered = runner.run("local", stack_config("local"))
    checks = {c.inputs["name"]: c.inputs.get("healthcheck") for c in rendered.by_type(provider_checks.CONTAINER)}
    service_check = {"interval": "5s", "timeout": "3s", "startPeriod": "10s", "retries": 10}
    for name in ("ams-local-postgres", "ams-local-redis", "ams-local-s3", "ams-local-api", "ams-local-worker"):
        assert {key: checks[name][key] for key in service_check} == service_check, name


def twice(summary: str) -> str:
    return f"{summary}. {summary}"


@pytest.mark.parametrize("duration", ["5s", "0", "-0s", "+1m", "1m30s", "500ms", "1.5h", ".5s", "5.s", "10us", "2µs"])
def test_go_durations_pass(duration):
    inputs = {"healthcheck": {"interval": duration, "timeout": duration, "startPeriod": duration}}
    assert list(provider_checks.container_problems(inputs)) == []


@pytest.mark.parametrize(
    ("duration", "summary"),
    [
        ("5", "'5' is not a valid duration"),
        ("", "'' is not a valid duration"),
        ("10sec", "'10sec' is not a valid duration"),
        ("5 s", "'5 s' is not a valid duration"),
        ("1h30", "'1h30' is not a valid duration"),
        (".s", "'.s' is not a valid duration"),
        ("-1s", "'-1s' duration must not be negative"),
    ],
)
def test_durations_the_provider_refuses(duration, summary):
    for key in ("interval", "timeout", "startPeriod", "startInterval"):
        problems = list(provider_checks.container_problems({"healthcheck": {key: duration}}))
        assert problems == [(f"healthcheck.{key}", twice(summary))], key


def test_other_validated_container_inputs():
    secret = rpc._special_secret_sig
    inputs = {
        "restart": "sometimes",
        "healthcheck": {"retries": -1},
        # Secret as a whole, as the SDK sends a list with a secret in it: the provider still sees each file.
        "uploads": {rpc._special_sig_key: secret, "value": [{"file": "/etc/x", "permissions": "644"}]},
        "volumes": [{"hostPath": "relative/dir", "containerPath": "/app"}, {"hostPath": "/abs", "containerPath": "/b"}],
    }
    assert list(provider_checks.container_problems(inputs)) == [
        ("restart", twice("'sometimes' doesn't match the pattern '^(no|on-failure|always|unless-stopped)$'")),
        ("healthcheck.retries", twice("'-1' cannot be lower than 0")),
        ("uploads", twice("'644' doesn't match the pattern '^0[0-7]{3}$'")),
        ("volumes", twice("'relative/dir' must be an absolute path")),
    ]
    # Go's `$` does not match before a final newline.
    assert list(provider_checks.container_problems({"restart": "no\n"})) == [
        ("restart", twice("'no\n' doesn't match the pattern '^(no|on-failure|always|unless-stopped)$'"))
    ]


def test_values_unknown_at_preview_are_not_checked():
    inputs = {"restart": rpc.UNKNOWN, "healthcheck": {"interval": rpc.UNKNOWN}, "volumes": [{"hostPath": rpc.UNKNOWN}]}
    assert list(provider_checks.container_problems(inputs)) == []


def test_the_message_names_each_problem_as_the_engine_does():
    with pytest.raises(provider_checks.ProviderCheckError) as raised:
        provider_checks.check(provider_checks.CONTAINER, "web", {"restart": "never", "healthcheck": {"timeout": "3"}})
    assert str(raised.value).splitlines() == [
        "docker:index/container:Container resource 'web' has a problem: 'never' doesn't match the pattern "
        "'^(no|on-failure|always|unless-stopped)$'. 'never' doesn't match the pattern "
        "'^(no|on-failure|always|unless-stopped)$'. Examine values at 'web.restart'.",
        "docker:index/container:Container resource 'web' has a problem: '3' is not a valid duration. "
        "'3' is not a valid duration. Examine values at 'web.healthcheck.timeout'.",
    ]
    # Other types are not checked here.
    provider_checks.check("docker:index/network:Network", "net", {"restart": "never"})
