"""The configuration table (docs/configuration.md) and the settings models name the same settings."""

from __future__ import annotations

import re
from types import UnionType
from typing import Annotated, get_args, get_origin

from pydantic import BaseModel

from components.settings import NAMESPACE, StackSettings
from tests.conftest import PROJECT_DIR


def model_paths(model: type[BaseModel] = StackSettings, prefix: str = "") -> dict[str, bool]:
    """Every key path of the models (stack-file spelling, ``app.api.minReplicas``) -> whether it is a setting (a leaf).

    A map with free keys and scalar values (``access.groups``, ``ingress.annotations``) is one setting; a map whose
    values are models expands into its keys: each of a ``Literal`` key type (``access.quotas.storage.hard``).
    """
    paths: dict[str, bool] = {}
    for field in model.model_fields.values():
        path, annotation = f"{prefix}{field.alias}", field.annotation
        while get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
        if get_origin(annotation) is UnionType and type(None) in get_args(annotation):  # `ams:local`: one environment's
            (annotation,) = [arg for arg in get_args(annotation) if arg is not type(None)]
        value = get_args(annotation)[1] if get_origin(annotation) is dict else annotation
        while get_origin(value) is Annotated:
            value = get_args(value)[0]
        if not (isinstance(value, type) and issubclass(value, BaseModel)):
            paths[path] = True
            continue
        paths[path] = False
        keys = get_args(get_args(annotation)[0]) if get_origin(annotation) is dict else (None,)
        assert keys, f"{path}: a map of models needs Literal keys to be listed"
        for key in keys:
            if key is not None:
                paths[f"{path}.{key}"] = False
            paths |= model_paths(value, f"{path}.{key}." if key is not None else f"{path}.")
    return paths


def table_keys() -> list[str]:
    """The key column of the configuration table (docs/configuration.md), one entry per key it names (`ams:` stripped).

    The rule for reading a row's first cell:
    - every backticked item is a key; the first is a full path (`ams:app.api.minReplicas`), and so is any other that
      starts with `ams:`; the others (`maxReplicas`, `.storageClass`) replace the last segment of the row's first key;
    - `{a,b}` and `<a,b>` stand for each of their alternatives; `<name>` without a comma for any one key
      (`access.quotas.<tier>.defaultRequest`), and at the end for the entries of a map (`access.groups.<alias>`);
    - a key names that setting and, when it is an object, every setting below it; a trailing `...` says so.
    """
    table = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    keys = []
    for line in table.splitlines():
        if not line.startswith(f"| `{NAMESPACE}:"):
            continue
        items = re.findall(r"`([^`]+)`", line.split("|")[1])
        first = items[0].removeprefix(f"{NAMESPACE}:").removesuffix("...")
        base = first.rsplit(".", 1)[0] + "." if "." in first else ""
        for item in items:
            keys.append(item.removeprefix(f"{NAMESPACE}:") if item.startswith(f"{NAMESPACE}:") else base + item.lstrip("."))
    return keys


def compiled(key: str, below: bool = True) -> re.Pattern:
    """A documented key as a regular expression over model key paths (the rule of `table_keys`), with what lies below it."""
    key = re.sub(r"\.<[^,>]+>$", "", key.removesuffix("..."))
    parts = []
    for segment in re.split(r"\.(?![^{<]*[}>])", key):
        alternatives = re.fullmatch(r"[{<]([^}>]+)[}>]", segment)
        if alternatives and "," not in alternatives[1] and segment.startswith("<"):
            parts.append(r"[^.]+")
        elif alternatives:
            parts.append("(" + "|".join(re.escape(a) for a in alternatives[1].split(",")) + ")")
        else:
            parts.append(re.sub(r"\\\{([^}]+)\\\}", lambda m: "(" + "|".join(m[1].split(",")) + ")", re.escape(segment)))
    return re.compile(r"\.".join(parts) + (r"(\..+)?" if below else ""))


def test_the_table_reading_rule():
    assert compiled("app.api.resources.{requests,limits}.{cpu,memory}").fullmatch("app.api.resources.limits.cpu")
    assert compiled("access.quotas.<tier>.defaultRequest").fullmatch("access.quotas.storage.defaultRequest")
    assert compiled("access.quotas.<app,data>.hard").fullmatch("access.quotas.data.hard")
    assert not compiled("access.quotas.<app,data>.hard").fullmatch("access.quotas.storage.hard")
    assert compiled("access.groups.<alias>").fullmatch("access.groups")
    assert compiled("data.redis.storage...").fullmatch("data.redis.storage.size")
    assert "app.api.maxReplicas" in table_keys() and "data.postgres.storage.storageClass" in table_keys()


def test_every_setting_is_in_the_readme_table_and_every_table_key_is_a_setting():
    """Each setting of the models is named by a key of the configuration table, read by the rule of `table_keys`: the row's first
    key is a full path, `maxReplicas` / `.storageClass` are its siblings, `{a,b}` and `<a,b>` alternatives, `<name>` any
    key (or, last, a map's entries), and a key covers what lies below it (`...`). Each table key names a model path."""
    paths, keys = model_paths(), table_keys()
    patterns = {key: compiled(key) for key in keys}
    undocumented = [path for path, leaf in paths.items() if leaf and not any(p.fullmatch(path) for p in patterns.values())]
    assert undocumented == [], "settings missing from docs/configuration.md"
    unknown = [key for key in keys if not any(compiled(key, below=False).fullmatch(path) for path in paths)]
    assert unknown == [], "documented keys the models do not have"
