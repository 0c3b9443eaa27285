"""Argument objects for the policy pack's policies, built from pulumi_policy's own classes, and hand-made
resources for them (tests/test_policy.py, tests/test_policy_rejections.py)."""

from __future__ import annotations

import copy
from pathlib import Path

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policy import ams_policies as ap
from tests.conftest import render_stack

POLICY_DIR = Path(__file__).resolve().parent.parent / "policy"


# --- building the policy arguments ----------------------------------------------------------------


def _opts(protect: bool) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def resource_args(reg, config: dict | None = None) -> ResourceValidationArgs:
    """A runner Registration (or anything with urn, type, name, inputs, protect) as the analyzer passes it."""
    props = unknown_checking_proxy(copy.deepcopy(reg.inputs))
    return ResourceValidationArgs(reg.type, props, reg.urn, reg.name, _opts(reg.protect), None, config)


def stack_args(regs) -> StackValidationArgs:
    resources = [
        PolicyResource(
            r.type, unknown_checking_proxy(copy.deepcopy(r.inputs)), r.urn, r.name, _opts(r.protect), None, None, [], {}
        )
        for r in regs
    ]
    return StackValidationArgs(resources)


def violations(policy, target, config: dict | None = None) -> list[str]:
    """Messages `policy` reports for one resource (resource policy) or a list of resources (stack policy)."""
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, StackValidationPolicy):
        result = policy.validate(stack_args(target), report)
    else:
        result = policy.validate(resource_args(target, config), report)
    assert result is None, "policies are synchronous"
    return found


class Reg:
    """A crafted resource with the attributes the helpers read from a runner Registration."""

    def __init__(self, type_: str, inputs: dict, *, stack: str = "prod", name: str | None = None, protect: bool = False):
        self.type = type_
        self.inputs = inputs
        self.name = name or inputs.get("metadata", {}).get("name", "crafted")
        self.urn = f"urn:pulumi:{stack}::ams::{type_}::{self.name}"
        self.protect = protect


def real(stack: str, type_: str, name: str):
    matches = [r for r in render_stack(stack).resources if r.type == type_ and r.name == name]
    assert len(matches) == 1, f"{stack}: {type_} {name}: found {len(matches)}"
    return matches[0]


def crafted(stack: str, type_: str, name: str, mutate=None, **kwargs) -> Reg:
    """A copy of a real resource, changed by `mutate(inputs)`."""
    source = real(stack, type_, name)
    inputs = copy.deepcopy(source.inputs)
    if mutate:
        mutate(inputs)
    kwargs.setdefault("protect", source.protect)
    return Reg(type_, inputs, stack=stack, name=source.name, **kwargs)


def api_container(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]["containers"][0]


def api_security(inputs: dict) -> dict:
    return api_container(inputs)["securityContext"]


def api_pod(inputs: dict) -> dict:
    return inputs["spec"]["template"]["spec"]


def k8s_object(kind: str, name: str, namespace: str, api_version: str = "v1", **fields) -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": namespace}, **fields}


def api_deployment(mutate=None, stack: str = "prod") -> Reg:
    return crafted(stack, ap.DEPLOYMENT, "ams-api", mutate)


def node_collector(namespace: str, annotations: dict | None) -> Reg:
    """A DaemonSet that needs host access, like a node exporter."""
    template = copy.deepcopy(real("prod", ap.DEPLOYMENT, "ams-api").inputs["spec"]["template"])
    template["spec"].update(hostNetwork=True, hostPID=True)
    template["spec"]["containers"][0]["securityContext"] = {"runAsUser": 0, "runAsNonRoot": False}
    metadata = {"name": "node-exporter", "namespace": namespace, "annotations": annotations or {}}
    return Reg(ap.DAEMONSET, {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": metadata, "spec": {"template": template}})


def one(messages: list[str], *fragments: str) -> str:
    """The single message containing every fragment (fails with all messages shown otherwise)."""
    matching = [m for m in messages if all(f in m for f in fragments)]
    assert len(matching) == 1, f"want one message with {fragments}, got {messages}"
    return matching[0]
