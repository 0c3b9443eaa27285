"""Run the Pulumi program offline, under the Python SDK's mock engine.

The program (``__main__.py``) runs exactly as ``pulumi up`` would run it, but every resource
registration is answered by a recording mock instead of a provider. What was registered, with its
inputs, becomes the render: Kubernetes objects, other resources, and the stack outputs, with the secret
material in secrets replaced by a placeholder (`sanitize`). Tests, the benchmark and ``python -m tools.render`` all
use this.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import binascii
import contextvars
import gc
import hashlib
import json
import logging
import runpy
import sys
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import resource as pulumi_resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.proto import source_pb2
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from tools import project_config, provider_checks
from tools.simulated_cluster import SimulatedCluster
from tools.urns import make_urn

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "ams"
SECRET = "<secret>"
UNKNOWN = "<unknown>"
# What the mock "generates" for random resources; tests assert it never appears in a render.
MOCK_RANDOM_PREFIX = "mock-random-value-"
# Every value the mock generated in this process: the secret material that `sanitize` masks inside secrets. Values are
# derived from the resource's name, so one generated in an earlier run is the same secret wherever it appears.
GENERATED: set[str] = set()


@dataclass
class Registration:
    """One registered resource: what the program asked the engine for."""

    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    inputs: dict
    protect: bool = False
    retain_on_delete: bool = False
    # The URNs the engine waits for before creating this resource: explicit depends_on (components
    # expanded to their children) and the resources whose Outputs feed its inputs.
    dependencies: list = field(default_factory=list)
    # Resource options that change what the engine does on update, replace and delete.
    ignore_changes: list = field(default_factory=list)
    replace_on_changes: list = field(default_factory=list)
    delete_before_replace: bool | None = None
    custom_timeouts: dict = field(default_factory=dict)
    aliases: list = field(default_factory=list)
    additional_secret_outputs: list = field(default_factory=list)
    # The URN of the explicit provider the resource uses; "" for the package's default provider.
    provider: str = ""

    @property
    def is_kubernetes_object(self) -> bool:
        """An object the program creates; `...Patch` resources change fields of objects made elsewhere, so
        they are in resources.json but not in manifests.yaml."""
        return (
            self.type.startswith("kubernetes:")
            and not self.type.endswith("Patch")
            and "apiVersion" in self.inputs
            and "kind" in self.inputs
        )


@dataclass
class Render:
    stack: str
    resources: list[Registration]
    outputs: dict
    warnings: list[str] = field(default_factory=list)

    @property
    def objects(self) -> list[dict]:
        """The Kubernetes objects, in a stable order: kind rank, then namespace, kind and name."""
        found = [r.inputs for r in self.resources if r.is_kubernetes_object]
        return sorted(found, key=_object_sort_key)

    def of_kind(self, kind: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict:
        matches = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        if len(matches) != 1:
            raise KeyError(f"{kind}/{name}: found {len(matches)}")
        return matches[0]

    def by_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_token]


# The CLI's refusal of a project or stack file, before the program runs (exit 2 in `tools.render`).
ConfigError = project_config.ProjectConfigError


# The SDK gives each executor thread an event loop of its own and never closes it; left open, they
# print "Invalid file descriptor" errors while the interpreter shuts down. Close them at exit.
_THREAD_LOOPS: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


@atexit.register
def _close_thread_loops() -> None:
    for loop in list(_THREAD_LOOPS):
        if not loop.is_running() and not loop.is_closed():
            loop.close()


class _RecordingMocks(pulumi_mocks.Mocks):
    def __init__(self, cluster: SimulatedCluster, preview: bool = False) -> None:
        self.inputs_by_id: dict[str, dict] = {}
        self.cluster = cluster
        self.preview = preview

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        if args.resource_id:  # a read of an existing object (`Resource.get`)
            return args.resource_id, self.cluster.read(args.typ, args.resource_id)
        # What the provider refuses at preview fails the render (tools/provider_checks.py).
        provider_checks.check(args.typ, args.name, args.inputs)
        # Derived from the type and name, not the registration order: resources that become ready together register
        # in whichever order the event loop picks, and an ID other inputs reference must not change with it.
        digest = hashlib.sha256(f"{args.typ}::{args.name}".encode()).hexdigest()[:8]
        resource_id = f"{args.name}-id-{digest}"
        while resource_id in self.inputs_by_id:  # the same type and name under another parent
            resource_id += "-again"
        self.inputs_by_id[resource_id] = args.inputs
        state = dict(args.inputs)
        if args.typ.startswith("random:"):
            generated = f"{MOCK_RANDOM_PREFIX}{args.name}"
            GENERATED.add(generated)
            state["result"] = generated
        if args.typ == "docker:index/image:Image":
            # What a push would report: the repository with a (here: derived) content digest. Without a push, the
            # local image ID (pulumi/pulumi-docker provider/image.go, `dockerBuild`). A preview builds only with
            # buildOnPreview (provider/provider.go `canPreview`); otherwise the digest stays unknown until `up`.
            if self.preview and not args.inputs.get("buildOnPreview"):
                state.pop("repoDigest", None)
                return resource_id, state
            digest = f"sha256:{hashlib.sha256(args.inputs['imageName'].encode()).hexdigest()}"
            repository = args.inputs["imageName"].rsplit(":", 1)[0]
            state["repoDigest"] = digest if args.inputs.get("skipPush") else f"{repository}@{digest}"
        if args.typ == "docker:index/remoteImage:RemoteImage":
            # The pulled image's ID; offline, derived from the reference.
            state["imageId"] = f"sha256:{hashlib.sha256(args.inputs['name'].encode()).hexdigest()}"
        if args.typ == "docker:index/container:Container" and args.inputs.get("attach"):
            state["exitCode"] = 0  # a one-shot that succeeded
        return resource_id, state

    def call(self, args: pulumi_mocks.MockCallArgs):
        # The program invokes nothing (prod's digests come from a record in the repository): an invoke answers empty,
        # so a lookup that came back shows as a missing value (tests/test_pins.py counts the calls).
        return {}


class DuplicateURNError(Exception):
    """Two resources registered with one URN: the engine fails the whole update."""


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: _RecordingMocks, registrations: list) -> None:
        super().__init__(mocks)
        self.recording_mocks = mocks
        self.registrations: list[Registration] = registrations
        self.urns: set[str] = set()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine's URNs, not the SDK mock's (which keeps only the parent's last type, and the root stack's).
        return make_urn(pulumi.get_stack(), pulumi.get_project(), type_, name, parent)

    def RegisterResource(self, request):  # noqa: N802 - the engine's RPC name
        response = super().RegisterResource(request)
        # The engine refuses a second resource with the same URN (pulumi/pulumi pkg/resource/deploy/step_generator.go,
        # diag.GetDuplicateResourceURNError); the SDK's mock monitor does not check, so this does.
        if response.urn in self.urns:
            raise DuplicateURNError(f"Duplicate resource URN '{response.urn}'; try giving it a unique name")
        self.urns.add(response.urn)
        _THREAD_LOOPS.add(_ensure_event_loop())
        if request.type != "pulumi:pulumi:Stack":
            self.registrations.append(
                Registration(
                    urn=response.urn,
                    type=request.type,
                    name=request.name,
                    parent=request.parent,
                    custom=bool(request.custom),
                    inputs=self.recording_mocks.inputs_by_id[response.id],
                    protect=bool(request.protect),
                    retain_on_delete=bool(request.retainOnDelete),
                    dependencies=sorted(request.dependencies),
                    ignore_changes=sorted(request.ignoreChanges),
                    replace_on_changes=sorted(request.replaceOnChanges),
                    delete_before_replace=request.deleteBeforeReplace if request.deleteBeforeReplaceDefined else None,
                    custom_timeouts=_timeouts(request.customTimeouts),
                    aliases=sorted(_alias(a) for a in request.aliases),
                    additional_secret_outputs=sorted(request.additionalSecretOutputs),
                    provider=request.provider.rsplit("::", 1)[0] if request.provider else "",
                )
            )
        return response


def _timeouts(timeouts) -> dict:
    return {k: getattr(timeouts, k) for k in ("create", "update", "delete") if getattr(timeouts, k)}


def _alias(alias) -> str:
    """An alias as the URN or the fields it names (the engine computes the rest from this resource)."""
    if alias.HasField("urn"):
        return alias.urn
    spec = alias.spec
    fields = {"name": spec.name, "type": spec.type, "stack": spec.stack, "project": spec.project}
    if spec.HasField("parentUrn"):
        fields["parent"] = spec.parentUrn
    elif spec.noParent:
        fields["parent"] = "(none)"
    return json.dumps({k: v for k, v in fields.items() if v}, sort_keys=True)


def stack_name_of(stack_file: Path) -> str:
    name = stack_file.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return name[len("Pulumi.") :].rsplit(".", 1)[0]
    return stack_file.stem


def read_stack_file(stack_file: Path) -> dict:
    """A stack file's ``config:`` mapping as written (keys not yet namespaced, ``secure:`` still mappings)."""
    return project_config.read_stack_document(stack_file)


def engine_config(values: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Encode namespaced config the way the engine hands it to a program.

    Scalars become strings, structured values JSON, and ``secure:`` values (which only the stack's
    secrets provider could decrypt) become a placeholder marked secret.
    """
    encoded = {}
    secret_keys = []

    def unwrap(value: Any, key: str) -> Any:
        if isinstance(value, project_config.Secure):
            secret_keys.append(key)
            return SECRET
        if isinstance(value, dict):
            return {k: unwrap(v, key) for k, v in value.items()}
        if isinstance(value, list):
            return [unwrap(v, key) for v in value]
        return value

    for key, raw in values.items():
        value = unwrap(raw, key)
        if isinstance(value, (dict, list)):
            encoded[key] = json.dumps(value)
        elif isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        else:
            encoded[key] = str(value)
    return encoded, sorted(set(secret_keys))


def cli_config(stack: str, config: dict, project_file: Path = PROJECT_DIR / "Pulumi.yaml") -> tuple[dict[str, Any], list[str]]:
    """What the CLI does with a stack file's config before the program runs: namespace the keys, refuse
    what the project's declarations refuse, fill in their defaults. Returns the config and the warnings."""
    project = project_config.load_project(project_file)
    stack_config = project_config.namespaced(project, config)
    return project_config.apply(stack, project, stack_config), stack_config.warnings


def run(
    stack: str,
    config: dict,
    program: Path = PROJECT_DIR / "__main__.py",
    registered: list | None = None,
    *,
    cli_rules: bool = True,
    cluster: SimulatedCluster | None = None,
    preview: bool = False,
) -> Render:
    """Run the program for one stack under mocks; exceptions from the program propagate.

    ``config`` is a stack file's ``config:`` mapping. With ``cli_rules`` (the default) the CLI's
    project-config rules apply first and may raise ConfigError; without them the program sees the
    config as written, as under ``pulumi up --skip-config-validation`` (no defaults filled in).
    ``registered``, if given, receives every registration as it happens, so a caller can see what
    was registered even when the program fails. ``preview`` runs it as ``pulumi preview`` does: outputs a provider
    computes only when it acts are unknown.
    """
    if cli_rules:
        values, warnings = cli_config(stack, config)
    else:
        values = project_config.namespaced(project_config.load_project(PROJECT_DIR / "Pulumi.yaml"), config).values
        warnings = []
    body = lambda: runpy.run_path(str(program), run_name="__main__")  # noqa: E731 - the program, as Pulumi runs it
    if str(program.parent) not in sys.path:
        sys.path.insert(0, str(program.parent))
    reached = cluster or SimulatedCluster.recorded_by(values)
    return contextvars.copy_context().run(_run, stack, values, warnings, body, registered, reached, preview)


def run_components(build: Callable[[], None], stack: str = "test", config: dict | None = None) -> Render:
    """Run a function that builds components (a test's hand-made arguments) under the same mocks, with the
    CLI's view of a stack file's ``config:`` when given (none otherwise)."""
    values = cli_config(stack, config)[0] if config is not None else {}
    return contextvars.copy_context().run(_run, stack, values, [], build, None, SimulatedCluster())


def run_stack_file(stack_file: Path) -> Render:
    return run(stack_name_of(stack_file), read_stack_file(stack_file))


class _WarningLog(logging.Handler):
    """Collects what the program logs as warnings (``pulumi.log.warn``), as the CLI would print them."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record.getMessage())


def _run(
    stack: str,
    values: dict,
    warnings: list[str],
    body: Callable[[], Any],
    registered: list | None,
    cluster: SimulatedCluster,
    preview: bool = False,
) -> Render:
    encoded, secret_keys = engine_config(values)
    set_all_config(encoded, secret_keys)
    pulumi_settings.ROOT.set(None)
    monitor = _RecordingMonitor(_RecordingMocks(cluster, preview), registered if registered is not None else [])
    logger = logging.getLogger(f"ams.render.{stack}")
    logger.propagate = False
    logger.handlers = [_WarningLog(warnings := list(warnings))]
    mocks = monitor.recording_mocks
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, logger=logger, monitor=monitor)
    # The SDK walks the Python stack at every registration to tell the engine where the resource was declared; the
    # mock monitor drops that, and the walk was a quarter of a render (issue 21), so it is skipped here.
    collect_stack_trace = pulumi_resource._get_stack_trace
    pulumi_resource._get_stack_trace = source_pb2.StackTrace
    # A run allocates many short-lived objects in cycles (Outputs, futures, tasks); the cyclic collector's passes
    # over them were a third of a render. A render is short, so the collector waits until it is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        _sync_await(run_pulumi_func(body))
    finally:
        pulumi_resource._get_stack_trace = collect_stack_trace
        if collecting:
            gc.enable()

    root = pulumi_settings.get_root_resource()
    outputs = {name: _resolve(value) for name, value in sorted(root.outputs.items())}
    resources = [_redacted(r) for r in sorted(monitor.registrations, key=lambda r: r.urn)]
    return Render(stack=stack, resources=resources, outputs=outputs, warnings=warnings)


def _resolve(value: Any) -> Any:
    output = pulumi.Output.from_input(value)
    secret = _sync_await(output.is_secret())
    return sanitize(_sync_await(output.future(with_unknowns=True)), secret=secret)


def _redacted(registration: Registration) -> Registration:
    registration.inputs = sanitize(registration.inputs)
    return registration


def sanitize(value: Any, secret: bool = False) -> Any:
    """Replace unknowns by a placeholder, resources by their URN, integral floats by ints, and inside a secret every
    piece of secret material by SECRET.

    Offline, the runner knows all the secret material a program can hold: what its mock generated (GENERATED) and the
    stack's secret config, which the program already reads as SECRET (engine_config). Inside a secret only that
    material is masked, so a connection string keeps its user, host, port and database, a generated config file its
    other lines, and a Docker container's `envs` and `uploads` (secret as a whole as soon as one value in them is: the
    SDK resolves an input list as one Output) their names, plain values, paths and modes. A secret that is nothing but
    generated material is SECRET; one that still holds material in another form is SECRET whole (_masked_text).
    """
    if isinstance(value, str):  # the most common value, so checked first
        if value == rpc.UNKNOWN:
            return UNKNOWN
        if secret:
            return _masked_text(value)
        return value
    if isinstance(value, dict):
        signature = value.get(rpc._special_sig_key)
        if signature == rpc._special_secret_sig:
            return sanitize(value.get("value"), secret=True)
        if signature == rpc._special_resource_sig:
            return value.get("urn", UNKNOWN)
        return {k: sanitize(v, secret) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v, secret) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_name", UNKNOWN)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return UNKNOWN


def _masked_text(text: str) -> str:
    """A secret string with each generated value in it replaced by SECRET (the longest first, so that a value that
    begins another is not masked inside it). SECRET whole when material is still there after that: a generated value
    the mock did not record, or the whole string as base64 of text that holds one (a Kubernetes Secret's `data`, a
    Docker upload's `contentBase64`)."""
    shown = text
    for material in _longest_first(frozenset(GENERATED)):
        shown = shown.replace(material, SECRET)
    if MOCK_RANDOM_PREFIX in shown:
        return SECRET
    if MOCK_RANDOM_PREFIX in _base64_decoded(shown):
        return SECRET
    return shown


@cache
def _longest_first(materials: frozenset[str]) -> list[str]:
    return sorted(materials, key=len, reverse=True)


def _base64_decoded(text: str) -> str:
    """The text `text` encodes as base64, or "" when it is not base64 of UTF-8 text."""
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


_KIND_RANK = {
    kind: rank
    for rank, kind in enumerate(
        [
            "Namespace",
            "CustomResourceDefinition",
            "ClusterRole",
            "ClusterRoleBinding",
            "ResourceQuota",
            "LimitRange",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Secret",
            "ConfigMap",
            "PersistentVolumeClaim",
            "Service",
        ]
    )
}


def _object_sort_key(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return (_KIND_RANK.get(obj["kind"], len(_KIND_RANK)), meta.get("namespace") or "", obj["kind"], meta.get("name") or "")
