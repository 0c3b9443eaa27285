"""The Pulumi CLI's project-config rules, applied to a stack file before the program runs.

`pulumi preview` and `pulumi up` refuse a stack before its program starts when ``Pulumi.yaml`` and
``Pulumi.<stack>.yaml`` break these rules, so the offline runner applies them first. Each rule below
mirrors pulumi/pulumi (read at pkg/v3.259.0-14, commit 1b5949891b3c):

- ``sdk/go/common/workspace/project.json``: a ``config:`` entry is a scalar or list (shorthand) or a
  declaration with only ``type`` (string, integer, boolean, array, object), ``items``, ``description``,
  ``secret``, ``default`` and ``value``; ``items`` needs ``type``, an ``array`` needs ``items``.
- ``sdk/go/common/workspace/project.go``: ``RewriteShorthandConfigValues`` (a project key's shorthand is
  its default, another namespace's is its value); ``Project.Validate`` (not both default and value, a
  typed default must match its type, another namespace's key has only a value);
  ``ValidateConfigValue`` (integer accepts whole numbers and numeric strings, boolean "true"/"false").
- ``sdk/go/common/workspace/loaders.go``: ``LoadProject``/``LoadProjectStackBytes`` read both files with
  gopkg.in/yaml.v3 (tools/stack_yaml.py); an empty file is an empty config, the top level is a mapping, keys
  without a namespace get the project's (``stackConfigNamespacedWithProject``: two spellings of one key are
  refused, see ``namespaced``), ``checkForEmptyConfig`` (a null value warns and counts as "").
- ``sdk/go/common/workspace/project.go``: ``ProjectStack.Environment``, the stack file's top-level
  ``environment:``, imports Pulumi ESC environments, which the offline runner cannot open (``read_stack_document``).
- ``sdk/go/common/resource/config/key.go``: ``ParseKey`` (``<namespace>:<name>``).
- ``pkg/workspace/config.go``: ``mergeConfig`` / ``ValidateStackConfigAndApplyProjectConfig``: a
  project key without default or value must be set by the stack (one error listing all of them);
  defaults fill the rest; each typed key's value must have its type and, if ``secret``, be ``secure:``.

The CLI stops at its first type error; this module reports every one, each in the CLI's wording.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tools import stack_yaml

TYPES = ("string", "integer", "boolean", "array", "object")
DECLARATION_ATTRIBUTES = ("type", "items", "description", "secret", "default", "value")


class ProjectConfigError(Exception):
    """The CLI would refuse the project or the stack before running the program."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Declaration:
    """One key of ``Pulumi.yaml``'s ``config:``, after the CLI's shorthand rewrite."""

    type: str | None = None
    items: dict | None = None
    description: str = ""
    secret: bool = False
    default: Any = None
    value: Any = None

    @property
    def has_default(self) -> bool:
        return self.default is not None

    @property
    def has_value(self) -> bool:
        return self.value is not None

    @property
    def full_type(self) -> str:
        """The CLI's ``InferFullTypeName``: ``array<integer>`` for typed arrays."""
        return _full_type(self.type or "", self.items)


@dataclass(frozen=True)
class Project:
    name: str
    config: dict[str, Declaration]


@dataclass(frozen=True)
class Secure:
    """A ``secure:`` value: ciphertext only the stack's secrets provider can decrypt."""

    ciphertext: str


@dataclass(frozen=True)
class StackConfig:
    """A stack file's config as the engine hands it to the program: every key namespaced."""

    values: dict[str, Any]
    warnings: list[str]


def load_project(path: Path) -> Project:
    document = _read_yaml(path)
    if not isinstance(document, dict):
        raise ProjectConfigError([f"{path.name}: the top level must be a mapping, got {_kind(document)}"])
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectConfigError([f"{path.name}: project is missing a non-empty string 'name' attribute"])
    raw_config = document.get("config") or {}
    if not isinstance(raw_config, dict):
        raise ProjectConfigError([f"{path.name}: config must be a mapping of keys to declarations"])
    problems: list[str] = []
    config = {}
    for key, raw in raw_config.items():
        declaration = _declaration(name, str(key), raw, problems)
        if declaration is not None:
            config[str(key)] = declaration
    if problems:
        raise ProjectConfigError([f"{path.name}: {p}" for p in problems])
    return Project(name=name, config=config)


def read_stack_document(path: Path) -> dict:
    """The raw ``config:`` mapping of a stack file, keys as written."""
    document = _read_yaml(path)
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ProjectConfigError([f"{path}: the top level must be a mapping with a 'config:' key, got {_kind(document)}"])
    if document.get("environment") not in (None, []):
        # ProjectStack.Environment (sdk/go/common/workspace/project.go): Pulumi ESC environments, whose pulumiConfig the
        # CLI merges under this file's config (pkg/workspace/config.go mergeConfig: this file's values win), opened
        # from Pulumi Cloud (pkg/cmd/pulumi/config/io.go openStackEnv; another backend refuses the stack,
        # errBackendNoEnvironments). None of it can be read offline, so the render would not be what `pulumi up` does.
        raise ProjectConfigError(
            [
                f"{path}: top-level 'environment:' imports Pulumi ESC environments, which the offline render cannot open; "
                "their pulumiConfig would change this stack's config (set those keys under 'config:' instead)"
            ]
        )
    config = document.get("config")
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ProjectConfigError([f"{path}: 'config' must be a mapping of keys to values, got {_kind(config)}"])
    return config


def namespaced(project: Project, config: dict) -> StackConfig:
    """Keys as the engine sees them: namespaced, parsed by ``ParseKey``; null values warned about."""
    problems = []
    warnings = []
    values = {}
    spelled: dict[str, str] = {}
    for key, value in config.items():
        key = str(key)
        full_key = key if ":" in key else f"{project.name}:{key}"
        if full_key.count(":") != 1 and not _is_compat_key(full_key):
            problems.append(
                f"could not parse {full_key} as a configuration key "
                "(configuration keys should be of the form `<namespace>:<name>`)"
            )
            continue
        full_key = _compat_key(full_key)
        if full_key in spelled:
            # `environment` and `ams:environment` (or `ams:config:environment`) are one key, which the CLI fills from a
            # Go map's iteration, random on every run: loaders.go stackConfigNamespacedWithProject (and config.Map's
            # UnmarshalYAML in sdk/go/common/resource/config/map.go for the `:config:` form).
            problems.append(
                f"configuration key '{full_key}' is set twice, as '{spelled[full_key]}' and as '{key}': "
                "the Pulumi CLI takes either one at random on each run; set it once"
            )
            continue
        spelled[full_key] = key
        if value is None:
            warnings.append(
                f'No value for configuration key "{key}". This is currently treated as an empty string `""`, '
                'but will be treated as `null` in a future version of pulumi. Set the value to `""` to avoid this warning.'
            )
            value = ""
        values[full_key] = _decode(value)
    if problems:
        raise ProjectConfigError(problems)
    return StackConfig(values=values, warnings=warnings)


def apply(stack: str, project: Project, stack_config: StackConfig) -> dict[str, Any]:
    """``ValidateStackConfigAndApplyProjectConfig``: the config the program receives, or the CLI's refusal."""
    merged = dict(stack_config.values)
    missing = []
    for key in sorted(project.config):
        declaration = project.config[key]
        full_key = _full_key(project.name, key)
        if full_key in merged:
            continue
        if not declaration.has_value and not declaration.has_default and full_key.startswith(f"{project.name}:"):
            missing.append(key)
        elif declaration.has_value or declaration.has_default:
            # createConfigValue: scalars become strings, anything else JSON; default wins over value.
            merged[full_key] = declaration.default if declaration.has_default else declaration.value
    if missing:
        noun = "value" if len(missing) == 1 else "values"
        raise ProjectConfigError([f"Stack '{stack}' is missing configuration {noun} {_and_list(missing)}"])

    problems = []
    for key in sorted(project.config):
        declaration = project.config[key]
        full_key = _full_key(project.name, key)
        if declaration.type is None or full_key not in merged:
            continue
        value = merged[full_key]
        if declaration.secret and not isinstance(value, Secure):
            problems.append(f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret")
        elif not _stack_value_matches(declaration, value):
            problems.append(f"Stack '{stack}' with configuration key '{key}' must be of type '{declaration.full_type}'")
    if problems:
        raise ProjectConfigError(problems)
    return merged


def _declaration(project_name: str, key: str, raw: Any, problems: list[str]) -> Declaration | None:
    where = f"config.{key}"
    project_key = ":" not in key or key.startswith(f"{project_name}:")
    if isinstance(raw, (str, int, list)) and not isinstance(raw, float):
        # RewriteShorthandConfigValues (bool is an int here, as it is a primitive there).
        return Declaration(default=raw) if project_key else Declaration(value=raw)
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a string, integer, boolean, array or a declaration, got {_kind(raw)}")
        return None
    unknown = [a for a in raw if a not in DECLARATION_ATTRIBUTES]
    for attribute in unknown:
        close = difflib.get_close_matches(str(attribute), DECLARATION_ATTRIBUTES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; the allowed attributes are {', '.join(DECLARATION_ATTRIBUTES)}"
        problems.append(f"{where}: '{attribute}' not allowed{hint}")
    if unknown:
        return None
    declaration = Declaration(
        type=raw.get("type"),
        items=raw.get("items"),
        description=raw.get("description") or "",
        secret=bool(raw.get("secret", False)),
        default=raw.get("default"),
        value=raw.get("value"),
    )
    before = len(problems)
    if declaration.type is not None and declaration.type not in TYPES:
        problems.append(f"{where}.type: must be one of {', '.join(TYPES)}, got {declaration.type!r}")
    if declaration.items is not None:
        _check_items(declaration.items, f"{where}.items", problems)
    if not isinstance(raw.get("description", ""), str) or not isinstance(raw.get("secret", False), bool):
        problems.append(f"{where}: description must be a string and secret a boolean")
    if declaration.has_default and declaration.has_value:
        problems.append(f"project config '{key}' cannot have both a 'default' and 'value' attribute")
    if len(problems) > before:
        return None
    if project_key:
        if declaration.type == "array" and declaration.items is None:
            problems.append(
                f"The configuration key '{key}' declares an array "
                "but does not specify the underlying type via the 'items' attribute"
            )
        elif declaration.type is not None and declaration.has_default and not _matches_default(declaration):
            problems.append(
                f"The default value specified for configuration key '{key}' is not of the expected type '{declaration.full_type}'"
            )
    elif declaration.type is not None:
        problems.append(f"Configuration key '{key}' is not namespaced by the project and should not define a type")
    elif declaration.has_default:
        problems.append(f"Configuration key '{key}' is not namespaced by the project and should not define a default value")
    elif not declaration.has_value:
        problems.append(f"Configuration key '{key}' is namespaced and must provide an attribute 'value'")
    return declaration


def _matches_default(declaration: Declaration) -> bool:
    return _matches(declaration.type or "", declaration.items, declaration.default)


def _check_items(items: Any, where: str, problems: list[str]) -> None:
    if not isinstance(items, dict) or "type" not in items:
        problems.append(f"{where}: must be a mapping with a 'type'")
        return
    item_type = items["type"]
    if isinstance(item_type, dict):
        _check_items(item_type, f"{where}.type", problems)
    elif item_type not in TYPES:
        problems.append(f"{where}.type: must be one of {', '.join(TYPES)}, got {item_type!r}")
    if item_type == "array" and "items" not in items:
        problems.append(f"{where}: an array needs 'items'")
    if "items" in items:
        _check_items(items["items"], f"{where}.items", problems)


def _stack_value_matches(declaration: Declaration, value: Any) -> bool:
    if isinstance(value, Secure):
        # Offline there is no secrets provider: a secure value is a string whose content is unknown,
        # so only a type a string can never satisfy (object, array) is refused.
        return declaration.type not in ("object", "array")
    # validateStackConfigValue: an object value is its decoded JSON, a scalar its text.
    content = _plain(value) if isinstance(value, (dict, list)) else _scalar_text(value)
    return _matches(declaration.type or "", declaration.items, content)


def _matches(type_name: str, items: dict | None, value: Any) -> bool:
    """ValidateConfigValue."""
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        if isinstance(value, str):
            try:
                int(value, 10)
            except ValueError:
                return False
            return value.strip() == value and "_" not in value
        return False
    if type_name == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if type_name == "object":
        return isinstance(value, dict)
    if not isinstance(value, list) or items is None:
        return False
    return all(_matches(items["type"], items.get("items"), item) for item in value)


def _full_type(type_name: str, items: dict | None) -> str:
    if items is not None:
        return f"array<{_full_type(items['type'], items.get('items'))}>"
    return type_name


def _scalar_text(value: Any) -> str:
    """A YAML scalar as the CLI stores it: its JSON text (true, 3), strings as they are."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value) if isinstance(value, (bool, int, float)) else str(value)


def _decode(value: Any) -> Any:
    """Turn ``{secure: ...}`` mappings, at any depth, into Secure values."""
    if isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str):
        return Secure(value["secure"])
    if isinstance(value, dict):
        return {str(k): _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Secure):
        return "<secure>"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _full_key(project_name: str, key: str) -> str:
    return key if ":" in key else f"{project_name}:{key}"


def _is_compat_key(key: str) -> bool:
    parts = key.split(":")
    return len(parts) == 3 and parts[1] == "config" and all(parts)


def _compat_key(key: str) -> str:
    """``<namespace>:config:<name>``, an old form ParseKey still accepts, means ``<namespace>:<name>``."""
    return key.replace(":config:", ":", 1) if _is_compat_key(key) else key


def _and_list(keys: list[str]) -> str:
    """formatMissingKeys: 'a', 'b' and 'c'."""
    quoted = [f"'{k}'" for k in sorted(keys)]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"


def _read_yaml(path: Path) -> Any:
    """The file as the CLI's gopkg.in/yaml.v3 decodes it (tools/stack_yaml.py), or its refusal."""
    try:
        return stack_yaml.load(path.read_text())
    except stack_yaml.DuplicateKeyError as exc:
        raise ProjectConfigError([f"cannot read {path}: {problem}" for problem in exc.problems]) from exc
    except (OSError, yaml.YAMLError) as exc:
        raise ProjectConfigError([f"cannot read {path}: {exc}"]) from exc


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)
