"""Every input the program gives a provider is one the provider declares.

The offline runner's mocks accept any property name; the real providers do not. The Terraform-bridged ones
(docker, random) check inputs against the resource schema and fail the update on an unexpected field
(pulumi/pulumi-terraform-bridge#28: "The bridge correctly errors on unexpected fields/types"), and a
misspelled key in a Helm Release's or a Kubernetes object's nested arguments is either refused or dropped.
The provider schemas at our pinned versions ship inside their Python SDKs as typed input classes
(`@pulumi.input_type`, wire names in `@pulumi.getter(name=...)`), so each registered input, at every depth,
is checked against them; `ignoreChanges`/`replaceOnChanges` must name an input and `additionalSecretOutputs`
an output. Custom resources of CRDs have no SDK class: test_conformance checks them against their CRDs.

Reads `pulumi._types` (pulumi/pulumi sdk/python/lib/pulumi/_types.py: `input_type_types`, `unwrap_type`,
`resource_types`), the SDK's own reflection of those classes; requirements.txt pins the SDK.
"""

from __future__ import annotations

import collections.abc as abc
import importlib
import json
import typing

import pulumi_docker
import pytest
from pulumi import _types

from tests.conftest import RENDERS, render_stack
from tools import render as render_cli

SEQUENCES = (list, abc.Sequence, typing.Sequence)
MAPPINGS = (dict, abc.Mapping, typing.Mapping)


def resource_class(type_token: str) -> type | None:
    """`docker:index/container:Container` -> pulumi_docker.Container; Kubernetes' own groups map to SDK modules
    (`networking.k8s.io/v1` -> pulumi_kubernetes.networking.v1). None for a CRD's kind, which has no class."""
    package, module, name = type_token.split(":")
    if package == "kubernetes":
        group, _, version = module.partition("/")
        if "." in group and not group.endswith(".k8s.io") and group != "helm.sh":
            return None  # a CRD's group (networking.istio.io), never the built-in module of its first word
        module = f"pulumi_kubernetes.{group.split('.')[0]}.{version}"
    else:
        module = f"pulumi_{package}"
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None
    return found if found is not None and hasattr(importlib.import_module(module), f"{name}Args") else None


def args_class(type_token: str) -> type:
    cls = resource_class(type_token)
    return getattr(importlib.import_module(cls.__module__.rsplit(".", 1)[0]), f"{cls.__name__}Args")


def undeclared(value, typ, path: str) -> list[str]:
    """`path.key` for every key of `value`, at any depth, that its input type does not declare."""
    typ = _types.unwrap_type(typ)
    if _types.is_input_type(typ):
        if not isinstance(value, dict):
            return []
        declared = _types.input_type_types(typ)
        return [
            problem
            for key, item in value.items()
            for problem in (
                undeclared(item, declared[key], f"{path}.{key}")
                if key in declared
                else [f"{path}.{key}: {typ.__name__} has no such input"]
            )
        ]
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in SEQUENCES and isinstance(value, list):
        return [p for i, item in enumerate(value) for p in undeclared(item, args[0], f"{path}[{i}]")]
    if origin in MAPPINGS and isinstance(value, dict) and len(args) == 2:
        return [p for key, item in value.items() for p in undeclared(item, args[1], f"{path}.{key}")]
    return []


def path_problem(path: str, typ) -> str | None:
    """Why a property path (`spec.replicas`) names no input of `typ`, or None."""
    for key in path.split("."):
        typ = _types.unwrap_type(typ)
        if typing.get_origin(typ) in MAPPINGS:
            return None  # a free-form map (labels, a Helm Release's values): any key is the user's
        if not _types.is_input_type(typ) or key not in _types.input_type_types(typ):
            return f"{key!r} is not an input of {getattr(typ, '__name__', typ)}"
        typ = _types.input_type_types(typ)[key]
    return None


def registrations(render: str, render_dirs) -> list[dict]:
    if render == "local":  # on Docker: not among the cluster renders written to disk
        return render_cli.resource_records(render_stack("local"))
    return json.loads((render_dirs[render] / "resources.json").read_text())


@pytest.fixture(params=("local", *RENDERS))
def checked(request, render_dirs) -> list[dict]:
    return [r for r in registrations(request.param, render_dirs) if r["custom"] and resource_class(r["type"])]


def test_every_input_is_declared_by_its_provider(checked):
    problems = [p for r in checked for p in undeclared(r["inputs"], args_class(r["type"]), f"{r['type']}::{r['name']}")]
    assert problems == []


def test_resource_options_name_properties_the_resource_has(checked):
    problems = []
    for r in checked:
        for option in ("ignoreChanges", "replaceOnChanges"):
            problems += [
                f"{r['name']} {option}: {why}" for path in r[option] if (why := path_problem(path, args_class(r["type"])))
            ]
        outputs = _types.resource_types(resource_class(r["type"]))
        problems += [
            f"{r['name']} additionalSecretOutputs: no output {o!r}" for o in r["additionalSecretOutputs"] if o not in outputs
        ]
    assert problems == []


def test_the_check_sees_every_provider_the_program_uses(render_dirs):
    """Not vacuous: each provider's resources are found and checked, and a misspelled key at depth is caught."""
    types = {r["type"] for render in ("local", "prod") for r in registrations(render, render_dirs) if resource_class(r["type"])}
    assert {"docker:index/container:Container", "random:index/randomPassword:RandomPassword"} <= types
    assert {"kubernetes:helm.sh/v3:Release", "kubernetes:apps/v1:Deployment"} <= types
    container = {"healthcheck": {"intervall": "5s"}, "volumes": [{"volumeName": "data", "containerpath": "/data"}]}
    assert undeclared(container, pulumi_docker.ContainerArgs, "c") == [
        "c.healthcheck.intervall: ContainerHealthcheckArgs has no such input",
        "c.volumes[0].containerpath: ContainerVolumeArgs has no such input",
    ]
    release = args_class("kubernetes:helm.sh/v3:Release")
    assert undeclared({"repositoryOpts": {"url": "https://charts"}, "values": {"any": {"key": 1}}}, release, "r") == [
        "r.repositoryOpts.url: RepositoryOptsArgs has no such input"
    ]
    assert (
        path_problem("spec.replica", args_class("kubernetes:apps/v1:Deployment"))
        == "'replica' is not an input of DeploymentSpecArgs"
    )
