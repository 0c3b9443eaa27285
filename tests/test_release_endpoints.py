"""A Service's selector moves only once the pods it will select are ready: no release step leaves it without endpoints.

pulumi-kubernetes finishes a Deployment's create or update only when its rollout is complete and its pods are
available (provider/pkg/await/deployment.go), and the engine starts a resource only after every resource it
depends on has finished (pulumi/pulumi pkg/resource/deploy/step_executor.go). So a Service that depends on each
Deployment its selector picks is changed, when a strategy change or a blue/green flip moves its selector, only once
those pods serve; without the dependency the Service is updated as soon as the namespace exists, while the new
color's Deployment still waits for its migration Job, and the Service has no ready endpoint in between (an outage;
its own await, service.go, then waits for endpoints that are not there yet).

Checked on every render (the three stacks and the variants: blue/green, canary, ingress mode) and on each step of
the release procedures (rolling to blue/green, a flip, blue/green back to rolling).
"""

from __future__ import annotations

import pytest

from tests.conftest import RENDERS, stack_config, with_overrides
from tools import render as render_cli
from tools import runner

BLUE_GREEN = {
    "ams:delivery.strategy": "blueGreen",
    "ams:delivery.colors": {
        "blue": {"api": "ghcr.io/suresoft/ams-api:1.0.0", "web": "ghcr.io/suresoft/ams-web:1.0.0"},
        "green": {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"},
    },
}
# Each step of the Releasing procedures, as the stack file reads after it.
RELEASE_STEPS = {
    "rolling": {},
    "blue/green, blue active": {**BLUE_GREEN, "ams:delivery.activeColor": "blue"},
    "blue/green, flipped to green": {**BLUE_GREEN, "ams:delivery.activeColor": "green"},
    "canary": {
        "ams:delivery.strategy": "canary",
        "ams:delivery.canary": {"api": "ghcr.io/suresoft/ams-api:1.1.0", "web": "ghcr.io/suresoft/ams-web:1.1.0"},
    },
}


def template_labels(obj: dict) -> dict:
    return obj["spec"]["template"]["metadata"]["labels"]


def closure(urn: str, dependencies: dict[str, list[str]]) -> set[str]:
    """Everything `urn` waits for, directly or through what it waits for."""
    found: set[str] = set()
    frontier = [urn]
    while frontier:
        for dependency in dependencies.get(frontier.pop(), []):
            if dependency not in found:
                found.add(dependency)
                frontier.append(dependency)
    return found


def services_moving_before_their_pods(records: list[dict]) -> list[str]:
    """Each Service that can change before a Deployment its selector picks is ready, with that Deployment."""
    dependencies = {r["urn"]: r["dependencies"] for r in records}
    objects = [(r["urn"], r["inputs"]) for r in records if r["type"].startswith("kubernetes:") and r["custom"]]
    deployments = [(urn, obj) for urn, obj in objects if obj.get("kind") == "Deployment"]
    problems = []
    for urn, service in objects:
        if service.get("kind") != "Service" or not (service.get("spec") or {}).get("selector"):
            continue
        selector = service["spec"]["selector"]
        namespace = service["metadata"].get("namespace")
        waits_for = closure(urn, dependencies)
        for deployment_urn, deployment in deployments:
            if deployment["metadata"].get("namespace") != namespace:
                continue
            if selector.items() <= template_labels(deployment).items() and deployment_urn not in waits_for:
                problems.append(f"{service['metadata']['name']} -> {deployment['metadata']['name']}")
    return sorted(problems)


@pytest.mark.parametrize("render", RENDERS)
def test_every_service_waits_for_the_deployments_it_selects(records, render):
    assert services_moving_before_their_pods(records[render]) == []


@pytest.mark.parametrize("step", sorted(RELEASE_STEPS))
def test_each_release_step_moves_selectors_only_to_ready_pods(step):
    rendered = runner.run("prod", with_overrides(stack_config("prod"), RELEASE_STEPS[step]))
    records = render_cli.resource_records(rendered)
    assert services_moving_before_their_pods(records) == []
    selected = [r for r in records if r["inputs"].get("kind") == "Service" and r["name"].endswith("api-service")]
    assert selected, "the api Service is rendered"


def test_the_check_sees_a_service_that_moves_first():
    """The check itself: a Service that selects a Deployment without depending on it is reported."""
    deployment = {
        "urn": "urn:d",
        "type": "kubernetes:apps/v1:Deployment",
        "custom": True,
        "dependencies": [],
        "inputs": {
            "kind": "Deployment",
            "metadata": {"name": "ams-api-green", "namespace": "ams"},
            "spec": {"template": {"metadata": {"labels": {"app": "api", "color": "green"}}}},
        },
    }
    service = {
        "urn": "urn:s",
        "type": "kubernetes:core/v1:Service",
        "custom": True,
        "dependencies": [],
        "inputs": {
            "kind": "Service",
            "metadata": {"name": "ams-api", "namespace": "ams"},
            "spec": {"selector": {"color": "green"}},
        },
    }
    assert services_moving_before_their_pods([deployment, service]) == ["ams-api -> ams-api-green"]
    service["dependencies"] = ["urn:d"]
    assert services_moving_before_their_pods([deployment, service]) == []
