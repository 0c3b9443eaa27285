"""What a provider refuses at `pulumi preview`, before anything is created: the offline runner's mock applies it
(tools/runner.py `_RecordingMocks.new_resource`), so that a render fails where a preview would.

docker:index/container:Container is pulumi-docker's bridge of kreuzwerker/terraform-provider-docker. Its schema
(internal/provider/resource_docker_container.go, v4.5.0) validates these inputs with the functions of
internal/provider/validators.go; modeled here are those of the fields this program sets, and their neighbours:

- `restart`: validateStringMatchesPattern(`^(no|on-failure|always|unless-stopped)$`)
- `healthcheck.interval`, `.timeout`, `.start_period`, `.start_interval`: validateDurationGeq0, Go's
  time.ParseDuration (golang/go src/time/format.go) and not negative: a number needs its unit ("5" is refused, "0"
  alone is not); `healthcheck.retries`: validateIntegerGeqThan(0)
- `upload.permissions`: validateStringMatchesPattern(`^0[0-7]{3}$`)
- `volumes.host_path`: validateDockerContainerPath (an absolute path)

Go's duration overflow (more than about 292 years) is not modeled. A value unknown at preview is not validated
(hashicorp/terraform-plugin-sdk helper/schema/schema.go `schemaMap.validate`: "If the value is unknown then we can't
validate it yet").

How the failure reads, as the CLI prints it:
- the SDK gives each diagnostic the attribute's path, cut at a set (`schemaMap.validateType`: "indexing into sets is not
  representable"), so an upload's or a volume's path is `uploads` or `volumes`;
- the bridge joins the validator's summary and detail with ". " and appends "Examine values at '<name>.<path>'."
  with Pulumi's property names and no index into a one-item list (pulumi/pulumi-terraform-bridge
  pkg/tfbridge/adapt_check_failures.go `parseCheckError`, pkg/tfbridge/check_failures.go `NewCheckFailure`,
  `CheckFailurePath.ListElement`);
- the engine reports a failure without a property as "<type> resource '<name>' has a problem: <reason>"
  (pulumi/pulumi pkg/resource/deploy/step_generator.go `issueCheckFailures`, sdk/go/common/diag/errors.go
  `GetResourceInvalidError`) and the preview fails.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from pulumi.runtime import rpc

CONTAINER = "docker:index/container:Container"
# The schema's patterns as the messages quote them, and as Python matches them: Go's `$` matches only at the end of the
# text, Python's also before a final newline, so these match the whole value instead.
RESTART_PATTERN = "^(no|on-failure|always|unless-stopped)$"
_RESTART = re.compile("no|on-failure|always|unless-stopped")
PERMISSIONS_PATTERN = "^0[0-7]{3}$"
_PERMISSIONS = re.compile("0[0-7]{3}")
HEALTHCHECK_DURATIONS = ("interval", "timeout", "startPeriod", "startInterval")
# time.ParseDuration: an optional sign, then one or more numbers (digits, a point, digits; a digit on either side)
# each with a unit. "µs" is U+00B5, "μs" U+03BC: Go accepts both.
_DURATION_PART = r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(rf"(?:{_DURATION_PART})+")
_ABSOLUTE_PATH = re.compile(r"^[a-zA-Z]:[\\/]|^/")


class ProviderCheckError(Exception):
    """A provider refused a resource's inputs at Check: the engine's error, and the preview stops."""


def check(type_token: str, name: str, inputs: dict) -> None:
    """Raise ProviderCheckError with the engine's message for each input the provider would refuse."""
    if type_token != CONTAINER:
        return
    reasons = [f"{reason}. Examine values at '{name}.{path}'." for path, reason in container_problems(inputs)]
    if reasons:
        raise ProviderCheckError("\n".join(f"{type_token} resource '{name}' has a problem: {reason}" for reason in reasons))


def container_problems(inputs: dict) -> Iterator[tuple[str, str]]:
    """(path, reason) for each refused input of a docker:index/container:Container, the reason as the bridge words it:
    the validator's summary, ". ", its detail (the same text in every validator here)."""
    restart = _revealed(inputs.get("restart"))
    if _known_string(restart) and not _RESTART.fullmatch(restart):
        yield "restart", _twice(f"'{restart}' doesn't match the pattern '{RESTART_PATTERN}'")
    healthcheck = _revealed(inputs.get("healthcheck"))
    if isinstance(healthcheck, dict):
        for key in HEALTHCHECK_DURATIONS:
            value = _revealed(healthcheck.get(key))
            if _known_string(value):
                for problem in _duration_problems(value):
                    yield f"healthcheck.{key}", _twice(problem)
        retries = _revealed(healthcheck.get("retries"))
        if isinstance(retries, (int, float)) and retries < 0:
            yield "healthcheck.retries", _twice(f"'{int(retries)}' cannot be lower than 0")
    for upload in _items(inputs.get("uploads")):
        permissions = _revealed(upload.get("permissions"))
        if _known_string(permissions) and not _PERMISSIONS.fullmatch(permissions):
            yield "uploads", _twice(f"'{permissions}' doesn't match the pattern '{PERMISSIONS_PATTERN}'")
    for volume in _items(inputs.get("volumes")):
        host_path = _revealed(volume.get("hostPath"))
        if _known_string(host_path) and not _ABSOLUTE_PATH.search(host_path):
            yield "volumes", _twice(f"'{host_path}' must be an absolute path")


def _duration_problems(value: str) -> list[str]:
    """validateDurationGeq0's summaries for `value`: not a Go duration, or a negative one."""
    unsigned = value[1:] if value[:1] in ("-", "+") else value
    if unsigned == "0":  # time.ParseDuration's special case: zero needs no unit
        return []
    if not _DURATION.fullmatch(unsigned):
        return [f"'{value}' is not a valid duration"]
    # Any non-zero number makes the duration non-zero.
    nonzero = any(float(number) > 0 for number, _unit in re.findall(_DURATION_PART, unsigned))
    if value.startswith("-") and nonzero:
        return [f"'{value}' duration must not be negative"]
    return []


def _twice(summary: str) -> str:
    """The validators set Detail to their Summary; the bridge joins both."""
    return f"{summary}. {summary}"


def _revealed(value: Any) -> Any:
    """The value inside a secret: the provider validates what the secret holds."""
    if isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig:
        return _revealed(value.get("value"))
    return value


def _known_string(value: Any) -> bool:
    return isinstance(value, str) and value != rpc.UNKNOWN


def _items(value: Any) -> list[dict]:
    found = _revealed(value)
    if not isinstance(found, list):
        return []
    return [_revealed(item) for item in found if isinstance(_revealed(item), dict)]
