"""``Pulumi.yaml`` and ``Pulumi.<stack>.yaml`` read as the Pulumi CLI reads them: with gopkg.in/yaml.v3, not YAML 1.1.

The CLI loads both files with ``encoding.YAML`` (pulumi/pulumi sdk/go/common/encoding/marshal.go, ``yaml.Unmarshal``
of gopkg.in/yaml.v3) in ``LoadProjectBytes`` and ``LoadProjectStackBytes`` (sdk/go/common/workspace/loaders.go).
PyYAML's SafeLoader implements YAML 1.1, so a file can mean something else offline. ``Loader`` is SafeLoader (libyaml's
where PyYAML has it) with what yaml.v3 does differently (go-yaml/yaml branch v3, commit f6f7691b1fde):

- A key twice in one mapping: yaml.v3 refuses the file, ``line N: mapping key "k" already defined at line M``
  (decode.go ``d.mapping``; ``uniqueKeys`` is on by default in ``newDecoder``); PyYAML keeps the last value.
  Every mapping is checked, and one with a duplicate is not looked into, as yaml.v3 does; ``DuplicateKeyError``.
- Plain scalars resolve as resolve.go ``resolve`` does:
  - booleans are only ``true``/``True``/``TRUE``/``false``/``False``/``FALSE``: ``yes``, ``no``, ``on``, ``off`` (any
    case) are strings (``y``/``n`` are strings in both);
  - integers are Go's ``strconv.ParseInt(s, 0, 64)`` (or ``ParseUint``) after dropping ``_``: ``0o17`` is 15
    (a string to PyYAML), ``0755`` is 493 in both (yaml.v3 keeps YAML 1.1 octals), sexagesimal ``1:30`` is a string
    (90 to PyYAML), and a number past 64 bits is a float;
  - floats match ``yamlStyleFloat``: ``1e3`` and ``1.0e3`` are floats (strings to PyYAML, which wants a dot and a signed
    exponent), and so is ``08`` (a string to PyYAML); the CLI encodes the document again and decodes that
    (loaders.go, util/yamlutil/encode.go), so a whole float below 1e6 reaches the program as an int (``3.0`` is 3);
  - timestamps (its four ``allowedTimestampFormats``) become Go ``time.Time`` values, which the CLI hands the program
    as ``time.Time.String()`` text after that round trip (resource/config/object.go ``unmarshalObject``):
    ``2024-01-01`` is ``2024-01-01 00:00:00 +0000 UTC`` (a ``datetime.date`` to PyYAML). Modelled for a machine whose
    local zone is UTC: Go prints another offset as ``-0500 -0500``, or the local zone's name where it has that offset;
  - ``=`` is a string (PyYAML's ``!!value`` tag, which SafeLoader cannot construct).
  Null (``~``, ``null``, empty), ``.inf``/``.nan`` and the ``<<`` merge key are the same in both.

Not modelled: explicit tags yaml.v3 refuses (``!!bool yes``), keys that are not strings (the CLI's
``SimplifyMarshalledValue`` refuses them; PyYAML keys them by their value), and a second document after ``---``
(yaml.v3 reads the first only; PyYAML refuses the file).
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

_BASE = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the pure-Python one was a tenth of a render

_TAG = "tag:yaml.org,2002:"
_BOOL = _TAG + "bool"
_NULL = _TAG + "null"
_FLOAT = _TAG + "float"
_INT = _TAG + "int"
_STR = _TAG + "str"
_TIMESTAMP = _TAG + "timestamp"

# resolve.go resolveMapList: the words looked up before anything is parsed.
_WORDS = {
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), _BOOL),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), _NULL),
    **dict.fromkeys((".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), _FLOAT),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), _FLOAT),
    "<<": _TAG + "merge",
}
# What strconv.ParseInt/ParseUint(s, 0, 64) accept (Go's base prefixes; a leading 0 is octal), underscores dropped.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")  # resolve.go yamlStyleFloat
# allowedTimestampFormats: 2006-1-2T15:4:5.999999999Z07:00 (T or t), 2006-1-2 15:4:5.999999999, 2006-1-2.
_GO_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"
    r"(?:[Tt]([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]+))?(Z|[-+][0-9]{2}:[0-9]{2})|"
    r" ([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:[.,]([0-9]+))?)?"
)


class DuplicateKeyError(yaml.YAMLError):
    """yaml.v3's refusal of a mapping with a key twice: one ``line N: mapping key ... already defined`` each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _go_int(text: str) -> int | None:
    match = _GO_INT.fullmatch(text)
    if match is None:
        return None
    sign, digits = match.groups()
    value = int(digits, 8) if digits[0] == "0" and digits[1:2].isdigit() else int(digits, 0)  # 0755: octal to Go
    value = -value if sign == "-" else value
    return value if -(2**63) <= value < 2**64 else None  # ParseInt's int64, else ParseUint's uint64


def _go_time(text: str) -> str | None:
    """time.Time.String() of what yaml.v3's parseTimestamp makes of ``text``, or None where it parses no time."""
    match = _GO_TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    year, month, day, *clock = match.groups()
    hour, minute, second, fraction, zone = clock[:5] if clock[0] is not None else (*clock[5:], None)
    hour, minute, second = (int(part or 0) for part in (hour, minute, second))
    leap = int(year) % 4 == 0 and (int(year) % 100 != 0 or int(year) % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= days[int(month) - 1] and hour < 24 and minute < 60 and second < 60):
        return None  # time.Parse: "day out of range" and the like
    nanos = (fraction or "")[:9].ljust(9, "0").rstrip("0")
    offset = "+0000 UTC" if zone in (None, "Z", "+00:00", "-00:00") else f"{zone.replace(':', '')} {zone.replace(':', '')}"
    return f"{year}-{int(month):02}-{int(day):02} {hour:02}:{minute:02}:{second:02}{'.' + nanos if nanos else ''} {offset}"


def resolve_plain(text: str) -> str:
    """The tag yaml.v3's ``resolve`` gives a plain (unquoted, untagged) scalar."""
    if text in _WORDS:
        return _WORDS[text]
    hint = text[:1]
    if hint == ".":
        return _FLOAT if _GO_FLOAT.fullmatch(text) else _STR  # strconv.ParseFloat
    if hint and hint in "+-0123456789":
        if _go_time(text) is not None:
            return _TIMESTAMP
        plain = text.replace("_", "")
        if _go_int(plain) is not None:
            return _INT
        if _GO_FLOAT.fullmatch(plain):
            return _FLOAT
    return _STR


def duplicate_keys(node: yaml.Node) -> list[str]:
    """decode.go ``d.mapping``: a key whose kind and text an earlier key of the same mapping has (so ``a`` and ``"a"``
    collide), in yaml.v3's order and words; a mapping with one is not looked into."""
    if isinstance(node, yaml.SequenceNode):
        return [problem for item in node.value for problem in duplicate_keys(item)]
    if not isinstance(node, yaml.MappingNode):
        return []
    keys = [(type(key), key.value if isinstance(key, yaml.ScalarNode) else "", key.start_mark.line + 1) for key, _ in node.value]
    problems = [
        f"line {line}: mapping key {json.dumps(text, ensure_ascii=False)} already defined at line {first_line}"
        for i, (kind, text, first_line) in enumerate(keys)
        for later_kind, later_text, line in keys[i + 1 :]
        if (later_kind, later_text) == (kind, text)
    ]
    return problems or [problem for pair in node.value for child in pair for problem in duplicate_keys(child)]


class Loader(_BASE):
    """SafeLoader resolving and refusing as gopkg.in/yaml.v3 does (see the module's docstring)."""

    def resolve(self, kind, value, implicit):
        if kind is yaml.ScalarNode and implicit[0]:
            return resolve_plain(value)
        return super().resolve(kind, value, implicit)

    def construct_document(self, node):
        problems = duplicate_keys(node)
        if problems:
            raise DuplicateKeyError(problems)
        return super().construct_document(node)

    def construct_go_int(self, node) -> int:
        return _go_int(self.construct_scalar(node).replace("_", ""))

    def construct_go_float(self, node) -> float | int:
        # LoadProjectStackBytes and LoadProjectBytes encode the document again (util/yamlutil/encode.go) and decode
        # that: strconv.FormatFloat(f, 'g', -1, 64) writes a whole float below 1e6 without a dot ("3"), an int then.
        value = self.construct_yaml_float(node)
        return int(value) if value.is_integer() and abs(value) < 1e6 else value

    def construct_go_time(self, node) -> str:
        return _go_time(self.construct_scalar(node))


Loader.add_constructor(_INT, Loader.construct_go_int)
Loader.add_constructor(_FLOAT, Loader.construct_go_float)
Loader.add_constructor(_TIMESTAMP, Loader.construct_go_time)


def load(text: str) -> Any:
    """One stack or project file's document, as yaml.v3 decodes it into ``any``."""
    return yaml.load(text, Loader=Loader)
