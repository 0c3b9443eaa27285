"""Conformance of the render with the upstream APIs it targets: CRD schemas and Helm chart values.

Reference data (vendored upstream CRD schemas and chart data; see its SOURCES.md) lives in
`../shared/conformance/data` next to the project, or in the directory named by AMS_CONFORMANCE_DATA.
Without it the tests skip; in CI (CI=true) they fail, as a missing validator does (conftest `tool()`).

1. Custom resources are checked as the API server checks them against a structural schema: type,
   x-kubernetes-int-or-string, nullable, required, enum, pattern, bounds, lengths, item and field
   counts, list-type uniqueness, anyOf/oneOf/allOf/not, embedded resources. A field the schema does
   not declare (the object holding it has no such property, no additionalProperties and no
   x-kubernetes-preserve-unknown-fields) is an error: the API server silently prunes undeclared
   fields (Kubernetes structural schema pruning), so what the program meant to set never arrives.
   As in the API server, preserve-unknown-fields keeps the unknown fields of its own object only;
   declared nested objects still prune. Fields the CRD marks deprecated (x-deprecated) are reported.
   Not evaluated: CEL rules (x-kubernetes-validations) and `format`.
2. Every key of a Helm release's values must be one the chart knows: in its values.yaml, declared
   in values.schema.json, or read by a template (template_refs.json); below a free-form map (a `{}`
   default, a map schema, a key a template reads whole, a pod-level map such as podAnnotations)
   anything goes. Helm ignores values the chart does not read, so a misspelt or invented key is
   silently dropped. Subchart sections are also checked against the subchart's data. Keys the data
   types further are checked against that type: a controller config struct (unknown and deprecated
   fields) or a CRD field the chart copies from values (as in 1). The values merged over the chart
   defaults must also satisfy values.schema.json, as `helm install` requires.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import PROJECT_DIR, RENDERS

BUILTIN_GROUPS = {"", "apps", "batch", "policy", "autoscaling", "extensions"} | {
    f"{prefix}.k8s.io"
    for prefix in ("networking", "rbac.authorization", "storage", "scheduling", "coordination", "node", "discovery", "events")
    + ("admissionregistration", "apiextensions", "apiregistration", "certificates", "authentication", "authorization")
    + ("flowcontrol.apiserver", "resource")
}
# Pod-level maps handed to Kubernetes whole: once the key itself is known, its content is not the chart's business.
FREE_FORM = {"annotations", "labels", "podAnnotations", "podLabels", "nodeSelector", "resources", "securityContext"}
FREE_FORM |= {"podSecurityContext", "containerSecurityContext", "affinity", "tolerations", "extraEnv", "extraEnvFrom"}
IS_TYPE = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
}


def data_dir() -> Path:
    path = Path(os.environ.get("AMS_CONFORMANCE_DATA") or PROJECT_DIR.parent / "shared/conformance/data")
    if (path / "index.json").is_file():
        return path
    # The data is reference material beside the project, not in it: .ci/run (which has it) requires it; elsewhere,
    # a GitHub runner for one, the conformance checks skip with this reason.
    if os.environ.get("AMS_REQUIRE_CONFORMANCE_DATA"):
        pytest.fail(f"conformance data not found at {path} (set AMS_CONFORMANCE_DATA)")
    pytest.skip(f"conformance data not found at {path} (set AMS_CONFORMANCE_DATA)")


@cache
def read_json(path: Path):
    return json.loads(path.read_text())


def charts_dir() -> Path:
    """The vendored chart sources beside the conformance data (shared/conformance/charts, or AMS_CONFORMANCE_CHARTS)."""
    return Path(os.environ.get("AMS_CONFORMANCE_CHARTS") or data_dir().parent / "charts")


@cache
def chart_crd_schema(group: str, kind: str, version: str) -> dict | None:
    """The openAPIV3Schema of a CRD that a vendored chart ships in its `crds` folder, named `<group>_<plural>.yaml`
    (controller-gen's naming), for the kinds the conformance data does not list (Envoy Gateway's EnvoyProxy)."""
    for path in sorted(charts_dir().glob(f"*/**/crds/**/{group}_*.yaml")):
        for document in yaml.load_all(path.read_text(), Loader=yaml.CSafeLoader):
            spec = document.get("spec", {}) if isinstance(document, dict) else {}
            if document.get("kind") != "CustomResourceDefinition" or spec.get("names", {}).get("kind") != kind:
                continue
            for served in spec["versions"]:
                if served["name"] == version:
                    return served["schema"]["openAPIV3Schema"]
    return None


def closest(name: str, candidates) -> str:
    return next(iter(difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0)), "none")


def jpath(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][\w-]*", key) else f'{path}["{key}"]'


# ---------------------------------------------------------------- structural schema validation


def validate(value, schema: dict, path: str, problems: list[str], prune: bool = True) -> None:
    """Append `path: problem` for every way `value` fails `schema`. prune=False inside anyOf/oneOf/allOf/not:
    their branches constrain values but never declare fields."""
    if value is None:
        if prune and not schema.get("nullable"):
            problems.append(f"{path}: null, but the field is not nullable (the API server drops it)")
        return
    if prune and schema.get("x-deprecated"):
        problems.append(f"{path}: deprecated field: {schema['x-deprecated']}")
    kind = schema.get("type")
    if schema.get("x-kubernetes-int-or-string") and not (isinstance(value, str) or IS_TYPE["integer"](value)):
        problems.append(f"{path}: expected an integer or a string, got {type(value).__name__} {value!r}")
        return
    if not schema.get("x-kubernetes-int-or-string") and kind in IS_TYPE and not IS_TYPE[kind](value):
        problems.append(f"{path}: expected {kind}, got {type(value).__name__} {value!r}")
        return
    if "enum" in schema and not any(type(value) is type(e) and value == e for e in schema["enum"]):
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            problems.append(f"{path}: length {len(value)} outside [{schema.get('minLength')}, {schema.get('maxLength')}]")
    if IS_TYPE["number"](value):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and (value < low or schema.get("exclusiveMinimum") and value == low):
            problems.append(f"{path}: {value} is below the minimum {low}")
        if high is not None and (value > high or schema.get("exclusiveMaximum") and value == high):
            problems.append(f"{path}: {value} is above the maximum {high}")
    if isinstance(value, list):
        validate_list(value, schema, path, problems, prune)
    if isinstance(value, dict):
        validate_object(value, schema, path, problems, prune)
    for branch in schema.get("allOf", []):
        validate(value, branch, path, problems, prune=False)
    failures = [branch_problems(value, branch, path) for branch in schema.get("anyOf", [])]
    if failures and all(failures):
        problems.append(f"{path}: matches none of anyOf: {'; '.join(f[0] for f in failures)}")
    if "oneOf" in schema and sum(not branch_problems(value, branch, path) for branch in schema["oneOf"]) != 1:
        problems.append(f"{path}: must match exactly one of the {len(schema['oneOf'])} oneOf branches")
    if "not" in schema and not branch_problems(value, schema["not"], path):
        problems.append(f"{path}: matches the schema under `not`")
    # x-kubernetes-validations (CEL) are skipped: evaluating them needs a CEL interpreter.


def branch_problems(value, schema: dict, path: str) -> list[str]:
    problems: list[str] = []
    validate(value, schema, path, problems, prune=False)
    return problems


def validate_list(value: list, schema: dict, path: str, problems: list[str], prune: bool) -> None:
    if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
        problems.append(f"{path}: {len(value)} items, outside [{schema.get('minItems')}, {schema.get('maxItems')}]")
    for index, item in enumerate(value):
        validate(item, schema.get("items", {}), jpath(path, index), problems, prune)
    list_type, map_keys = schema.get("x-kubernetes-list-type"), schema.get("x-kubernetes-list-map-keys", [])
    if list_type in ("set", "map"):
        keys = [json.dumps(v if list_type == "set" else [v.get(k) for k in map_keys], sort_keys=True) for v in value]
        if duplicates := sorted({k for k in keys if keys.count(k) > 1}):
            problems.append(f"{path}: duplicate entries in a list-type={list_type}: {', '.join(duplicates)}")


def validate_object(value: dict, schema: dict, path: str, problems: list[str], prune: bool) -> None:
    properties, required = dict(schema.get("properties", {})), list(schema.get("required", []))
    if schema.get("x-kubernetes-embedded-resource"):
        properties |= {"apiVersion": {"type": "string"}, "kind": {"type": "string"}}
        properties["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        required += ["apiVersion", "kind"]
    for name in required:
        if name not in value:
            problems.append(f"{jpath(path, name)}: required field is missing")
    if not schema.get("minProperties", 0) <= len(value) <= schema.get("maxProperties", len(value)):
        problems.append(f"{path}: {len(value)} fields, outside [{schema.get('minProperties')}, {schema.get('maxProperties')}]")
    extra = schema.get("additionalProperties")
    for key, item in value.items():
        if key in properties:
            validate(item, properties[key], jpath(path, key), problems, prune)
        elif isinstance(extra, dict):
            validate(item, extra, jpath(path, key), problems, prune)
        elif prune and extra is not True and not schema.get("x-kubernetes-preserve-unknown-fields"):
            problems.append(f"{jpath(path, key)}: unknown field, pruned by the API server (closest: {closest(key, properties)})")


def validate_resource(obj: dict, schema: dict) -> list[str]:
    """`<Kind>/<name>: <path>: <problem>` lines. The API server handles apiVersion, kind and metadata itself:
    of metadata only its being an object is checked."""
    top = dict(schema, properties=schema.get("properties", {}) | {"apiVersion": {"type": "string"}, "kind": {"type": "string"}})
    top["properties"]["metadata"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    problems: list[str] = []
    validate(obj, top, "", problems)
    return [f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}: {problem}" for problem in problems]


@pytest.mark.parametrize("render", RENDERS)
def test_custom_resources_match_their_crd_schemas(render_dirs, render):
    data = data_dir()
    index = read_json(data / "index.json")["crds"]
    problems = []
    for obj in yaml.load_all((render_dirs[render] / "manifests.yaml").read_text(), Loader=yaml.CSafeLoader):
        group, _, version = (obj or {}).get("apiVersion", "").rpartition("/")
        if not obj or group in BUILTIN_GROUPS:
            continue
        kind, name = obj["kind"], obj["metadata"].get("name")
        file = data / "crds" / f"{group}_{kind}_{version}.json"
        served = [v["name"] for v in index.get(f"{group}/{kind}", {}).get("versions", []) if v.get("served")]
        if served and version not in served:
            problems.append(f"{kind}/{name}: {group}/{version} is not served by the CRD (served: {served})")
        elif file.is_file():
            problems += validate_resource(obj, read_json(file)["schema"])
        elif chart_crd_schema(group, kind, version):
            problems += validate_resource(obj, chart_crd_schema(group, kind, version))
        else:
            problems.append(f"{kind}/{name}: no schema {file.relative_to(data)} in the conformance data or the charts' CRDs")
    assert not problems, f"{len(problems)} problem(s) in {render}:\n" + "\n".join(problems)


def test_structural_validator_catches_pruned_wrong_type_missing_and_enum_and_accepts_int_or_string():
    schema = {
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "required": ["mode"],
                "properties": {
                    "mode": {"type": "string", "enum": ["Fast", "Safe"]},
                    "replicas": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                },
            }
        },
    }
    good = {"apiVersion": "x.io/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"mode": "Fast", "port": "http"}}
    assert validate_resource(good, schema) == []
    assert validate_resource(good | {"spec": {"mode": "Safe", "port": 80, "extra": {"any": {"thing": 1}}}}, schema) == []
    bad = good | {"spec": {"mode": "Quick", "replicas": 1.5, "port": True, "prot": 1}}
    assert validate_resource(bad, schema) == [
        "K/a: .spec.mode: 'Quick' is not one of ['Fast', 'Safe']",
        "K/a: .spec.replicas: expected integer, got float 1.5",
        "K/a: .spec.port: expected an integer or a string, got bool True",
        "K/a: .spec.prot: unknown field, pruned by the API server (closest: port)",
    ]
    assert validate_resource(good | {"spec": {"port": 1}}, schema) == ["K/a: .spec.mode: required field is missing"]


# ---------------------------------------------------------------- Helm values


@dataclass
class Key:
    """What a chart knows of one key path: `free` (anything below goes), `known` (its keys are checked),
    `typed` (checked against a config struct's fields) or `crd` (checked against a CRD field's schema)."""

    kind: str
    default: object = None
    schema: dict | None = None
    target: dict | None = None


@dataclass
class Chart:
    name: str
    values: dict
    schema: dict | None = None
    refs: set[str] = field(default_factory=set)  # value paths the templates read
    typed: dict = field(default_factory=dict)  # value path -> config struct {kind, fields: {name: {deprecated}}}
    typed_crd: dict = field(default_factory=dict)  # value path -> {crd, version, field} it is copied into
    subcharts: dict[str, Chart] = field(default_factory=dict)
    crds: Path | None = None

    @classmethod
    def load(cls, directory: Path, meta: dict, crds: Path) -> Chart:
        schema = directory / "values.schema.json"
        subcharts = {n: (directory / "subcharts" / n, m) for n, m in meta.get("subcharts", {}).items()}
        return cls(
            meta["chart"],
            yaml.safe_load((directory / "values.yaml").read_text()) or {},
            read_json(schema) if schema.is_file() else None,
            set(read_json(directory / "template_refs.json")),
            {key: read_json(directory / file) for key, file in meta.get("typed", {}).items()},
            meta.get("typedCrd", {}),
            {n: cls.load(d, m, crds) for n, (d, m) in subcharts.items() if d.is_dir()},
            crds,
        )

    def default(self, path: tuple) -> tuple[object, bool]:
        node = self.values
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None, False
            node = node[key]
        return node, True

    def resolve(self, node):
        while isinstance(node, dict) and node.get("$ref", "").startswith("#/"):
            target = self.schema
            for part in node["$ref"][2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            node = target
        return node

    def schema_at(self, path: tuple) -> dict | None:
        node = self.resolve(self.schema)
        for key in path:
            if node is None:
                return None
            declared = {k: v for s in (node, *node.get("allOf", [])) for k, v in self.resolve(s).get("properties", {}).items()}
            patterns = [s for p, s in node.get("patternProperties", {}).items() if re.search(p, key)]
            extra = node.get("additionalProperties")
            node = self.resolve(declared.get(key) or next(iter(patterns), None) or (extra if isinstance(extra, dict) else None))
        return node

    def lookup(self, path: tuple) -> Key | None:
        own = self.own_lookup(path)
        sub = self.subcharts.get(path[0])
        if (own is None or own.kind == "known") and sub is not None and len(path) > 1:
            return sub.lookup(path[1:]) or own
        return own

    def own_lookup(self, path: tuple) -> Key | None:
        dotted = ".".join(path)
        default, found = self.default(path)
        if dotted in self.typed_crd:
            return Key("crd", target=self.typed_crd[dotted])
        if dotted in self.typed:
            return Key("typed", target=self.typed[dotted])
        node = self.schema_at(path) if self.schema else None
        if found and default in ({}, None) or node is not None and is_map_schema(node):
            return Key("free")  # an empty or null default gives no structure to check against
        if dotted in self.refs and not (found and isinstance(default, dict) and default):
            return Key("free")  # a template reads the key whole and the defaults do not describe its structure
        if len(path) == 1 and dotted in self.refs and not dotted.isidentifier():
            return Key("free")  # only `index` reads it: by Helm convention a subchart's section, whose data is not vendored
        if found or node is not None or dotted in self.refs or any(r.startswith(dotted + ".") for r in self.refs):
            return Key("free") if path[-1] in FREE_FORM else Key("known", default, node)
        return None

    def siblings(self, parent: tuple) -> set[str]:
        default, _ = self.default(parent)
        names = set(default) if isinstance(default, dict) else set()
        prefix = "".join(f"{key}." for key in parent)
        names |= {ref[len(prefix) :].split(".")[0] for ref in self.refs if ref.startswith(prefix)}
        node = self.schema_at(parent) if self.schema else None
        names |= set(node.get("properties", {})) if node else set()
        if parent and parent[0] in self.subcharts:
            names |= self.subcharts[parent[0]].siblings(parent[1:])
        return names


def is_map_schema(node: dict) -> bool:
    """additionalProperties: true next to listed properties is only JSON Schema's default, not a free-form map."""
    extra = node.get("additionalProperties")
    free = isinstance(extra, dict) or extra is True and not node.get("properties")
    return free or bool(node.get("x-kubernetes-preserve-unknown-fields"))


def check_keys(chart: Chart, values: dict, path: tuple = ()) -> list[str]:
    """Every key path of `values` the chart does not know, with the closest real key at that level."""
    problems = []
    for key, value in values.items():
        here = (*path, key)
        where, known = "values." + ".".join(here), chart.lookup(here)
        if known is None:
            suggestion = ".".join([*path, closest(key, chart.siblings(path))])
            problems.append(f"{where}: chart {chart.name} has no such value; Helm ignores it (closest: {suggestion})")
        elif known.kind == "crd":
            schema = read_json(chart.crds / f"{known.target['crd'].replace('/', '_')}_{known.target['version']}.json")["schema"]
            for part in known.target["field"].split("."):
                schema = schema["properties"][part]
            validate(value, schema, where, problems)
        elif known.kind == "typed" and isinstance(value, dict):
            struct, fields = known.target["kind"], known.target["fields"]
            for name in value:
                if name not in fields:
                    problems.append(f"{where}.{name}: not a field of {struct} (closest: {closest(name, fields)})")
                elif fields[name].get("deprecated"):
                    problems.append(f"{where}.{name}: deprecated field of {struct}: {fields[name]['deprecated']}")
        elif known.kind == "known":
            if known.schema is not None and known.schema.get("deprecated") is True:
                problems.append(f"{where}: deprecated in the chart's values.schema.json")
            if isinstance(value, dict):
                problems += check_keys(chart, value, here)
            elif (
                isinstance(value, list)
                and isinstance(known.default, list)
                and known.default
                and all(isinstance(item, dict) for item in known.default)
            ):
                item_keys = {k for item in known.default for k in item}  # a list of maps whose structure the defaults show
                for i, item in enumerate(value):
                    for k in sorted(set(item) - item_keys) if isinstance(item, dict) else []:
                        problems.append(f"{where}[{i}].{k}: not a key of the chart's items (closest: {closest(k, item_keys)})")
    return problems


def coalesce(defaults, values):
    """Helm's merge of user values over chart defaults: maps merge, null deletes, anything else replaces."""
    if not (isinstance(defaults, dict) and isinstance(values, dict)):
        return values
    merged = dict(defaults)
    for key, value in values.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = coalesce(defaults.get(key), value)
    return merged


def schema_violations(chart: Chart, values: dict) -> list[str]:
    if chart.schema is None:
        return []
    validator = jsonschema.validators.validator_for(chart.schema)(chart.schema)
    errors = validator.iter_errors(coalesce(chart.values, values))
    return sorted(f"values.{'.'.join(map(str, e.absolute_path))}: {e.message[:200]} (values.schema.json)" for e in errors)


@pytest.mark.parametrize("render", RENDERS)
def test_helm_values_are_known_to_their_charts(render_dirs, render):
    data = data_dir()
    problems = []
    for resource in json.loads((render_dirs[render] / "resources.json").read_text()):
        if resource["type"] != "kubernetes:helm.sh/v3:Release":
            continue
        ref, values = resource["inputs"]["chart"], resource["inputs"].get("values") or {}
        meta = data / "charts" / ref.rstrip("/").rsplit("/", 1)[-1] / "chart.json"
        if not meta.is_file():
            problems.append(f"{resource['name']} ({ref}): no chart data {meta.parent.relative_to(data)} in the conformance data")
            continue
        chart = Chart.load(meta.parent, read_json(meta), data / "crds")
        problems += [f"{resource['name']} ({ref}): {p}" for p in check_keys(chart, values) + schema_violations(chart, values)]
    assert not problems, f"{len(problems)} problem(s) in {render}:\n" + "\n".join(problems)


def test_values_checker_names_the_closest_real_key_at_depth_two():
    chart = Chart(
        "demo",
        {"server": {"replicas": 1, "persistence": {"enabled": False}, "podAnnotations": {}}, "extra": {}},
        {"type": "object", "properties": {"server": {"type": "object", "properties": {"replicas": {"type": "integer"}}}}},
        {"server.resources", "server.persistence.size"},
    )
    good = {"server": {"replicas": 2, "resources": {"limits": {"cpu": 1}}, "podAnnotations": {"a": "b"}}, "extra": {"x": 1}}
    assert check_keys(chart, good) == []
    assert check_keys(chart, {"server": {"replica": 2, "persistence": {"size": "1Gi"}}}) == [
        "values.server.replica: chart demo has no such value; Helm ignores it (closest: server.replicas)"
    ]
    assert schema_violations(chart, {"server": {"replicas": "two"}}) == [
        "values.server.replicas: 'two' is not of type 'integer' (values.schema.json)"
    ]
