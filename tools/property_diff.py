"""Property paths, the JSON merge patch and the detailed diff of two input maps, and ignoreChanges.

Sources, read at these commits (paths are inside each repository):

* pulumi/pulumi 1b5949891b3cefcb9974752b24a5ecef0acc86c8
  - ``sdk/go/common/resource/properties_path.go``: ``ParsePropertyPath``, ``Contains`` (``*`` wildcard), ``Reset``.
  - ``pkg/resource/deploy/step_generator.go``: ``processIgnoreChanges`` (ignored paths reset to the old values
    before the diff).
* pulumi/pulumi-kubernetes 94977969d64112b04e19945818a7d5d5f38f631d
  - ``provider/pkg/provider/provider.go``: ``Diff`` (the detailed diff from a JSON merge patch,
    ``convertPatchToDiff``).
  - ``provider/pkg/openapi/match.go``: ``PatchPropertiesChanged`` (a replace-only path matches a change when the
    JSONPath is found in the patch slice of that change).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# --------------------------------------------------------------------------------------------------------------
# Property paths: the engine's syntax (ParsePropertyPath), printed the way the Kubernetes provider prints them.

# An absent key, as opposed to a key holding null (None): only the first is no change.
_MISSING = object()


def parse_path(path: str) -> tuple[str | int, ...]:
    """``a.b[0]["c.d"]`` -> ("a", "b", 0, "c.d"); ``[*]`` and ``.*`` become "*" (matches any key or index)."""
    elements: list[str | int] = []
    i = 0
    if path.startswith("."):
        i = 1
    while i < len(path):
        char = path[i]
        if char == ".":
            i += 1
            continue
        if char == "[":
            end = i + 1
            if end < len(path) and path[end] == '"':
                key = []
                end += 1
                while end < len(path) and path[end] != '"':
                    if path[end] == "\\" and end + 1 < len(path) and path[end + 1] == '"':
                        end += 1
                    key.append(path[end])
                    end += 1
                if end + 1 >= len(path) or path[end + 1] != "]":
                    raise ValueError(f"invalid property path {path!r}: unterminated quoted key")
                elements.append("".join(key))
                i = end + 2
                continue
            close = path.find("]", i)
            if close < 0:
                raise ValueError(f"invalid property path {path!r}: missing ]")
            token = path[i + 1 : close]
            if token == "*":
                elements.append("*")
            elif token.isdigit():
                elements.append(int(token))
            else:
                raise ValueError(f"invalid property path {path!r}: bad index {token!r}")
            i = close + 1
            continue
        end = i
        while end < len(path) and path[end] not in ".[":
            end += 1
        elements.append(path[i:end])
        i = end
    return tuple(elements)


def format_path(path: Iterable[str | int]) -> str:
    """As convertPatchToDiff prints it: dotted keys, ``[0]`` indices, ``["k"]`` for keys holding . " [ ]."""
    text = ""
    for element in path:
        if isinstance(element, int):
            text += f"[{element}]"
        elif any(c in element for c in '."[]'):
            escaped = element.replace('"', '\\"')
            text += f'["{escaped}"]'
        else:
            text = f"{text}.{element}" if text else element
    return text


def path_contains(prefix: tuple, path: tuple) -> bool:
    """PropertyPath.Contains: ``prefix`` equals the start of ``path``; "*" matches any one element."""
    if len(path) < len(prefix):
        return False
    return all(p == "*" or p == q for p, q in zip(prefix, path, strict=False))


# --------------------------------------------------------------------------------------------------------------
# Value comparison and the detailed diff (convertPatchToDiff on a JSON merge patch of old -> new inputs).


def values_equal(a: Any, b: Any) -> bool:
    """Equality of JSON values: Python's == holds True == 1, which JSON does not; 1 == 1.0 as a JSON number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _merge_patch(old: dict, new: dict) -> dict:
    """RFC 7386 merge patch from old to new (evanphx/json-patch CreateMergePatch): lists replaced whole."""
    patch: dict = {}
    for key, value in new.items():
        if key not in old:
            if value is not None:
                patch[key] = value
            continue
        before = old[key]
        if isinstance(before, dict) and isinstance(value, dict):
            sub = _merge_patch(before, value)
            if sub:
                patch[key] = sub
        elif not values_equal(before, value):
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


@dataclass(frozen=True)
class Change:
    path: tuple
    kind: str  # add | delete | update
    value: Any  # the patch value at `path` (None for a delete): what the replace-only JSONPaths are matched against


def detailed_diff(old: dict, new: dict) -> list[Change]:
    """The provider's detailed diff of two input maps, one entry per changed leaf (or added/removed subtree)."""
    changes: list[Change] = []
    patch = _merge_patch(old, new)
    if patch:
        _diff_map((), patch, old, new, old, False, changes)
    return sorted(changes, key=lambda c: _sort_key(c.path))


def _sort_key(path: tuple) -> tuple:
    return tuple((0, e, "") if isinstance(e, int) else (1, 0, e) for e in path)


def _get(mapping: Any, key: str) -> Any:
    return mapping[key] if isinstance(mapping, dict) and key in mapping else _MISSING


def _diff_map(path: tuple, patch: dict, old: dict, new_in: Any, old_in: Any, in_array: bool, out: list) -> None:
    for key, value in patch.items():
        _diff_value((*path, key), value, _get(old, key), _get(new_in, key), _get(old_in, key), in_array, out)
    if in_array:
        # Inside arrays the "patch" is the whole new element: what it lacks was deleted.
        for key, value in old.items():
            if key not in patch:
                _diff_value((*path, key), None, value, _get(new_in, key), _get(old_in, key), in_array, out)


def _diff_array(path: tuple, patch: list, old: list, new_in: Any, old_in: Any, out: list) -> None:
    def at(items: Any, i: int) -> Any:
        return items[i] if isinstance(items, list) and i < len(items) else None

    common = min(len(patch), len(old))
    for i in range(common):
        _diff_value((*path, i), patch[i], old[i], at(new_in, i), at(old_in, i), True, out)
    for i in range(common, len(patch)):
        _diff_value((*path, i), patch[i], _MISSING, at(new_in, i), at(old_in, i), True, out)
    for i in range(common, len(old)):
        _diff_value((*path, i), None, old[i], at(new_in, i), at(old_in, i), True, out)


def _diff_value(path: tuple, value: Any, old: Any, new_in: Any, old_in: Any, in_array: bool, out: list) -> None:
    if new_in is _MISSING and (value is not None or old_in is _MISSING):
        return
    if value is None:
        if old is _MISSING or old is None:
            return
        kind = "delete"
    elif old is _MISSING:
        kind = "add"
    elif isinstance(value, dict):
        if isinstance(old, dict):
            _diff_map(path, value, old, new_in, old_in, in_array, out)
            return
        kind = "update"
    elif isinstance(value, list):
        if isinstance(old, list):
            _diff_array(path, value, old, new_in, old_in, out)
            return
        kind = "update"
    else:
        if values_equal(value, old):
            return
        kind = "update"
    out.append(Change(path, kind, value))


def patch_slice(path: tuple, value: Any) -> Any:
    """makePatchSlice: the value at `path`, wrapped in maps and one-element lists along the path."""
    for element in reversed(path):
        value = [value] if isinstance(element, int) else {element: value}
    return value


def jsonpath_found(node: Any, jsonpath: str) -> bool:
    """Whether client-go's JSONPath ``{<jsonpath>}`` finds something in `node` (PatchPropertiesChanged)."""
    return _found(node, parse_path(jsonpath))


def _found(node: Any, elements: tuple) -> bool:
    if not elements:
        return True
    head = elements[0]
    rest = elements[1:]
    if head == "*":
        return isinstance(node, list) and any(_found(item, rest) for item in node)
    if isinstance(node, dict) and head in node:
        return _found(node[head], rest)
    return False


# --------------------------------------------------------------------------------------------------------------
# ignoreChanges: the engine's PropertyPath.Reset of each ignored path in the new inputs to the old value.


def apply_ignore_changes(old: dict, new: dict, ignore_changes: Iterable[str]) -> dict:
    """A copy of `new` with every ignored path reset to its value in `old` (removed where old has none)."""
    result = copy.deepcopy(new)
    for ignored in ignore_changes:
        path = parse_path(ignored)
        if path:
            _reset(path, old, result)
    return result


def _reset(path: tuple, old: Any, new: Any) -> bool:
    head = path[0]
    rest = path[1:]
    if isinstance(head, int):
        if not isinstance(old, list) or not isinstance(new, list):
            return not isinstance(old, list) and not isinstance(new, list)
        if head >= len(old) or head >= len(new):
            return not rest and head >= len(old) and head >= len(new)
        if not rest:
            new[head] = copy.deepcopy(old[head])
            return True
        return _reset(rest, old[head], new[head])
    if head == "*":
        if not rest:
            if isinstance(new, dict):
                if isinstance(old, dict):
                    new.clear()
                    new.update(copy.deepcopy(old))
                return True
            if isinstance(new, list):
                if isinstance(old, list):
                    for i in range(min(len(old), len(new))):
                        new[i] = copy.deepcopy(old[i])
                    return len(old) == len(new)
                return True
            return False
        if isinstance(old, dict) and isinstance(new, dict):
            return all(k in new and _reset(rest, old[k], new[k]) for k in old)
        if isinstance(old, list) and isinstance(new, list):
            ok = all(_reset(rest, old[i], new[i]) for i in range(min(len(old), len(new))))
            return ok and len(old) == len(new)
        return False
    if not rest:
        if isinstance(old, dict) and head in old:
            if not isinstance(new, dict):
                return False
            new[head] = copy.deepcopy(old[head])
        elif isinstance(new, dict):
            new.pop(head, None)
        return True
    if not isinstance(old, dict) or not isinstance(new, dict):
        return not isinstance(old, dict) and not isinstance(new, dict)
    if head in old and head not in new:
        return False
    if head not in old and head not in new:
        return True
    return _reset(rest, old.get(head), new[head])
