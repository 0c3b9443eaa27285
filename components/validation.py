"""The settings models' shared parts: the base model (frozen, strict, unknown keys refused, camelCase keys, one error
line per problem), constrained types (quantities, pinned images, DNS names, CIDRs, ports) and the volume and resources models.
Each tier's models live in its folder (`components/<tier>/settings.py`); `components/settings.py` composes them.
"""

import ipaddress
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pydantic
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, WithJsonSchema
from pydantic.alias_generators import to_camel

PROJECT_DIR = Path(__file__).resolve().parent.parent  # settings' paths (init SQL, checkouts) are relative to it
DOCKERFILES = {component: PROJECT_DIR / "docker" / component / "Dockerfile" for component in ("api", "web")}
_QUANTITY = r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_SUFFIX = {"": 1, "m": Decimal("0.001"), **{s: Decimal(10) ** (3 * i) for i, s in enumerate("kMGTPE", 1)}}
_SUFFIX |= {f"{s}i": Decimal(2) ** (10 * i) for i, s in enumerate("KMGTPE", 1)}
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"  # name[:tag][@digest]: a registry port
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
_IMAGE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$", re.ASCII)
_EXPECTED: dict[str, str] = {}  # pattern -> what a value must be, for the message when it does not match
_PINNED = rf"^{_NAME}(:(?!latest(@|$)){_TAG}(@{_DIGEST})?|@{_DIGEST})$"  # for the JSON Schema (an ECMA regex)


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``250m``, ``512Mi``, ``1.5``); ValueError if it does not parse."""
    match = re.match(_QUANTITY, text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number = match.group(1)
    suffix = match.group(2) or ""
    return Decimal(number + suffix) if suffix[:1] in ("e", "E") else Decimal(number) * _SUFFIX[suffix]


def image_problem(ref: str) -> str | None:
    """Why an image reference is not acceptable, or None when it is pinned."""
    match = _IMAGE.match(ref)
    if not match:
        return f"not an image reference, got {ref!r}"
    if match.group("tag") == "latest":
        return f"must not use the 'latest' tag, got {ref!r}"
    return None if match.group("tag") or match.group("digest") else f"must be pinned with a tag or digest, got {ref!r}"


class Model(pydantic.BaseModel):
    """Immutable, strict, camelCase keys. A model's cross-field rules: ``rules()``, ``{key below it ("" for itself):
    message, or a false value where the rule holds}``. Unknown keys, fields' errors and rules are reported together."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", strict=True, alias_generator=to_camel)

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _every_problem(cls, data: Any, handler) -> Any:
        # Unknown keys are set aside (extra="forbid" would stop there) so that the fields and the rules report theirs too.
        known = sorted(field.alias for field in cls.model_fields.values())
        unknown = [key for key in data if key not in known] if type(data) is dict else []
        problems = {key: f"unknown key (known keys: {', '.join(known)})" for key in unknown}
        errors = []
        try:
            model = handler({key: value for key, value in data.items() if key not in unknown} if unknown else data)
            problems |= getattr(model, "rules", dict)()
        except ValidationError as error:
            errors = error.errors()  # with the full key paths of nested models' problems
        # A ValidationError raised in a validator is merged into the outer one below this model's key path
        # (pydantic/pydantic-core src/validators/function.rs, convert_err); errors() round-trips through it.
        errors += [_value_error(key, message) for key, message in problems.items() if message]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return model


def _value_error(key: str, message: str) -> dict:
    loc = tuple(filter(None, key.split(".")))
    return {"type": "value_error", "loc": loc, "input": None, "ctx": {"error": ValueError(message)}}


def not_above(lows: dict, highs: dict, low: str, high: str) -> dict:  # {low.<key>: message} for quantities above highs'
    above = {k: parse_quantity(v) > parse_quantity(highs[k]) and f"({highs[k]}), got {v}" for k, v in lows.items() if k in highs}
    return {f"{low}.{k}": message and f"must be <= {high}.{k} {message}" for k, message in above.items()}


def refuse_if(message: str | None) -> None:
    """Raise the validation error `message` names; nothing when it is empty or None."""
    if message:
        raise ValueError(message)


def refuse(problem) -> AfterValidator:
    """A validator that refuses a value for which `problem(value)` is a message, and keeps any other."""

    def check(value: Any) -> Any:
        refuse_if(problem(value))
        return value

    return AfterValidator(check)


def matching(pattern: str, expected: str, **constraints) -> Any:  # a string; otherwise "must be <expected>, got '...'"
    _EXPECTED[pattern] = expected
    return Annotated[str, Field(pattern=pattern, **constraints)]


def list_of(item: Any, what: str, **constraints) -> Any:
    """A YAML list of `item`, kept as a tuple; anything else is refused as not a list of `what`."""

    def as_tuple(value: Any) -> tuple:
        if not isinstance(value, list):
            raise ValueError(f"must be a list of {what}, got {describe(value)}")
        return tuple(value)

    return Annotated[tuple[item, ...], BeforeValidator(as_tuple), Field(**constraints)]


def _cidr_problem(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return f"must be a CIDR range like 10.20.0.0/16, got {value!r}"
    return None


def _as_text(value: Any) -> Any:  # a quantity as written; a YAML number becomes its text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ValueError(f"must be a Kubernetes quantity, got {describe(value)}")
    return value


NonEmpty = Annotated[str, Field(min_length=1)]
Port = Annotated[int, Field(ge=1, le=65535)]
# Written as text or as a YAML number (the JSON Schema says both); validated as text.
Quantity = Annotated[
    matching(_QUANTITY, "a Kubernetes quantity such as 250m or 512Mi"),
    BeforeValidator(_as_text),
    WithJsonSchema({"type": ["string", "number"], "pattern": _QUANTITY}),
]
Image = Annotated[NonEmpty, refuse(image_problem), WithJsonSchema({"type": "string", "pattern": _PINNED})]
OptionalImage = Annotated[
    str, refuse(lambda v: v and image_problem(v)), WithJsonSchema({"type": "string", "pattern": f"^$|{_PINNED}"})
]
ProjectFile = Annotated[
    str, refuse(lambda p: p and not (PROJECT_DIR / p).is_file() and f"no such file (relative to the project): {p}")
]
DnsLabel = matching(f"^{_LABEL}$", "a DNS label (lowercase, digits, '-'; 63 at most)")
OptionalDnsLabel = matching(f"^({_LABEL})?$", "a DNS label (lowercase, digits, '-'; 63 at most)")  # "" for a default
DnsName = matching(rf"^{_LABEL}(\.{_LABEL})*$", "a DNS name", max_length=253)
HttpsUrl = matching(r"^(https://\S+)?$", "an https:// URL")  # "" when unused
Cidrs = list_of(Annotated[str, refuse(_cidr_problem)], "CIDR ranges")
Strs = list_of(NonEmpty, "strings")
SortedDict = AfterValidator(lambda value: dict(sorted(value.items())))


class Volume(Model):
    size: Annotated[Quantity, refuse(lambda v: parse_quantity(v) <= 0 and f"must be larger than 0, got {v}")]
    storage_class: str  # "" means the cluster's default StorageClass (k8s.sized_volume, k8s.claim_spec)


class Resources(Model):
    class CpuMemory(Model):
        cpu: Quantity
        memory: Quantity

    requests: CpuMemory
    limits: CpuMemory
    as_k8s = pydantic.BaseModel.model_dump

    def rules(self):
        return not_above(self.requests.model_dump(), self.limits.model_dump(), "requests", "limits")


def describe(value: Any) -> str:
    """A wrong value in a message: ``string 'x'``, ``number 5``, ``boolean true``, ``a list``, ``nothing``..."""
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value))
    shown = json.dumps(value) if isinstance(value, bool) else repr(value)
    return f"{kind} {shown}" if kind else {list: "a list", dict: "an object", type(None): "nothing"}.get(type(value), "a value")


_MESSAGES = {
    "int_type": "must be an integer, got {got}",
    "bool_type": "must be true or false, got {got}",
    "string_type": "must be a string, got {got}",
    "string_too_short": "must be a non-empty string, got {got}",
    "string_too_long": "must be {max_length} characters at most",
    "string_pattern_mismatch": "must be {expected}, got {shown}",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "literal_error": "must be one of {choices}, got {shown}",
    "model_type": "must be an object, got {got}",
    "dict_type": "must be an object, got {got}",
    "too_short": "must list at least one entry",
    "missing": "must be set: it has no default",
    "value_error": "{error}",
}


def problem_lines(errors: list[dict], prefix: str) -> list[str]:
    """``<prefix><key path>: <message>`` for each of pydantic's errors (``ValidationError.errors()``)."""
    lines = []
    unknown = ()  # below an unknown key of a map, nothing is reported
    for err in errors:
        path = [str(part) for part in err["loc"] if not isinstance(part, int)]
        item = "".join(f" (item {part + 1})" for part in err["loc"][-1:] if isinstance(part, int))
        ctx = err.get("ctx", {})
        value = err["input"]
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        shown = repr(value) if isinstance(value, str) else describe(value)
        fields = {**ctx, "got": describe(value), "shown": shown, "input": value, "choices": ", ".join(choices)}
        fields["expected"] = _EXPECTED.get(ctx.get("pattern"))
        message = _MESSAGES[err["type"]].format_map(fields) if err["type"] in _MESSAGES else err["msg"]
        if path[-1:] == ["[key]"]:
            # A map's key: one of a fixed set (an unknown key), or any name of a pattern (a name that breaks it).
            path = path[:-1]
            unknown += (f"{prefix}{'.'.join(path)}.",)
            message = f"as a name, {message}"
            if choices:
                message = f"unknown key (known keys: {', '.join(sorted(choices))})"
        lines.append(f"{prefix}{'.'.join(path)}: {message}{item}")
    return [line for line in lines if not line.startswith(unknown)]
