"""Readers that turn raw stack configuration into checked values.

Every reader records problems instead of raising, so one run reports every mistake in a stack file
at once, each with the full key path (``ams:app.api.maxReplicas``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

_MISSING = object()

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_SUFFIX = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# name[:tag][@sha256:digest]; the registry part may carry a port.
_IMAGE = re.compile(
    r"^(?P<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``250m``, ``512Mi``, ``1.5``); ValueError if it does not parse."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        if suffix[:1] in ("e", "E"):
            return Decimal(number + suffix)
        return Decimal(number) * _SUFFIX[suffix]
    except InvalidOperation as exc:  # pragma: no cover - the regex already rules this out
        raise ValueError(f"not a Kubernetes quantity: {text!r}") from exc


def is_dns_label(text: str) -> bool:
    return bool(_DNS_LABEL.match(text))


def is_dns_name(text: str) -> bool:
    """A lowercase RFC 1123 host name: dot-separated labels, 253 characters at most."""
    return len(text) <= 253 and all(is_dns_label(label) for label in text.split("."))


def image_problem(ref: str) -> str | None:
    """Why an image reference is not acceptable, or None when it is pinned."""
    match = _IMAGE.match(ref)
    if not match:
        return f"not an image reference, got {ref!r}"
    tag, digest = match.group("tag"), match.group("digest")
    if tag == "latest":
        return f"must not use the 'latest' tag, got {ref!r}"
    if not tag and not digest:
        return f"must be pinned with a tag or digest, got {ref!r}"
    return None


class Problems(list):
    """The problems found so far, each a line ``<key path>: <what is wrong>``."""

    def add(self, path: str, message: str) -> None:
        self.append(f"{path}: {message}")


class Node:
    """One configuration object being read: the stack's values over the environment's defaults.

    Keys that are read are remembered; ``close`` reports every other key as unknown, so a typo in a
    stack file is an error instead of a silently ignored setting.
    """

    def __init__(self, value: Any, defaults: dict, path: str, problems: Problems):
        self.path = path
        self.problems = problems
        self.defaults = defaults
        self._read: set[str] = set()
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.add(path, f"must be an object, got {_type_name(value)}")
            value = {}
        self.value = value

    def key(self, key: str) -> str:
        return f"{self.path}.{key}"

    def raw(self, key: str) -> Any:
        self._read.add(key)
        value = self.value.get(key, _MISSING)
        return self.defaults.get(key) if value is _MISSING else value

    def child(self, key: str) -> Node:
        return Node(self.raw(key), self.defaults.get(key) or {}, self.key(key), self.problems)

    def integer(self, key: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self.raw(key)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self.key(key), f"must be an integer, got {_type_name(value)}")
            return minimum if minimum is not None else 0
        if minimum is not None and value < minimum:
            self.problems.add(self.key(key), f"must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            self.problems.add(self.key(key), f"must be <= {maximum}, got {value}")
        return value

    def port(self, key: str) -> int:
        return self.integer(key, minimum=1, maximum=65535)

    def percent(self, key: str) -> int:
        return self.integer(key, minimum=1, maximum=100)

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if not isinstance(value, bool):
            self.problems.add(self.key(key), f"must be true or false, got {_type_name(value)}")
            return False
        return value

    def string(self, key: str, *, choices: Iterable[str] | None = None, optional: bool = False) -> str:
        value = self.raw(key)
        if value in (None, "") and optional:
            return ""
        if not isinstance(value, str) or not value:
            self.problems.add(self.key(key), f"must be a non-empty string, got {_type_name(value)}")
            return ""
        if choices is not None and value not in choices:
            self.problems.add(self.key(key), f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def str_list(self, key: str) -> tuple[str, ...]:
        value = self.raw(key)
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.problems.add(self.key(key), f"must be a list of strings, got {_type_name(value)}")
            return ()
        return tuple(value)

    def dns_label(self, key: str) -> str:
        value = self.string(key)
        if value and not is_dns_label(value):
            self.problems.add(self.key(key), f"must be a DNS label (lowercase, digits, '-'; 63 at most), got {value!r}")
        return value

    def dns_name(self, key: str) -> str:
        value = self.string(key)
        if value and not is_dns_name(value):
            self.problems.add(self.key(key), f"must be a DNS name, got {value!r}")
        return value

    def image(self, key: str) -> str:
        value = self.string(key)
        problem = image_problem(value) if value else None
        if problem:
            self.problems.add(self.key(key), problem)
        return value

    def quantity(self, key: str) -> str | None:
        """The quantity as written, or None (with a problem recorded) when it does not parse."""
        value = self.raw(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            self.problems.add(self.key(key), f"must be a Kubernetes quantity, got {_type_name(value)}")
            return None
        try:
            parse_quantity(value)
        except ValueError:
            self.problems.add(self.key(key), f"must be a Kubernetes quantity such as 250m or 512Mi, got {value!r}")
            return None
        return value

    def close(self) -> None:
        for key in sorted(set(self.value) - self._read):
            known = ", ".join(sorted(self._read))
            self.problems.add(self.key(key), f"unknown key (known keys: {known})")


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    def as_k8s(self) -> dict:
        return {
            "requests": {"cpu": self.cpu_request, "memory": self.memory_request},
            "limits": {"cpu": self.cpu_limit, "memory": self.memory_limit},
        }


def read_resources(node: Node) -> Resources:
    """`{requests: {cpu, memory}, limits: {cpu, memory}}`, each a quantity, requests <= limits."""
    requests, limits = node.child("requests"), node.child("limits")
    values = {}
    for kind in ("cpu", "memory"):
        request, limit = requests.quantity(kind), limits.quantity(kind)
        if request and limit and parse_quantity(request) > parse_quantity(limit):
            node.problems.add(requests.key(kind), f"must be <= limits.{kind} ({limit}), got {request}")
        values[kind] = (request or "", limit or "")
    for child in (requests, limits, node):
        child.close()
    return Resources(
        cpu_request=values["cpu"][0],
        memory_request=values["memory"][0],
        cpu_limit=values["cpu"][1],
        memory_limit=values["memory"][1],
    )
