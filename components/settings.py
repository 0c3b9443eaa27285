"""Typed, validated stack settings.

``load()`` reads every ``ams:`` key of the stack, merges it over the environment's defaults
(``environments.yaml``) and returns one immutable ``StackSettings``. Any problem (wrong type,
out of range, unparsable quantity, unpinned image, unknown key) is collected; all of them are
raised together as ``SettingsError`` before a single resource is registered.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config

from .access_settings import AccessSettings, SecretsSettings, parse_access, parse_secrets
from .data_settings import DataSettings, parse_data
from .delivery_settings import DeliverySettings, parse_delivery
from .edge_settings import EdgeSettings, parse_edge
from .monitoring_settings import MonitoringSettings, parse_monitoring
from .network_settings import NetworkSettings, parse_network
from .validation import Node, Problems, Resources, read_resources

NAMESPACE = "ams"
ENVIRONMENTS = ("dev", "staging", "prod")
_DEFAULTS: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "environments.yaml").read_text())

# Top-level structured keys and the secret scalars; anything else under ams: is a typo.
OBJECT_KEYS = ("namespaces", "app", "data", "delivery", "ingress", "network", "monitoring", "access", "secrets")
SECRET_KEYS = ("jwtAccessSecret", "jwtRefreshSecret", "alertReceiverUrl", "registryPassword")
SCALAR_KEYS = ("environment",)


class SettingsError(pulumi.RunError):
    """Invalid stack configuration; ``problems`` holds one ``<key path>: <reason>`` line each."""

    def __init__(self, problems: list[str]):
        self.problems = sorted(problems)
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    target_cpu: int
    target_memory: int


@dataclass(frozen=True)
class ApiSettings:
    image: str
    port: int
    scaling: Autoscaling
    resources: Resources


@dataclass(frozen=True)
class WebSettings:
    image: str
    replicas: int
    resources: Resources


@dataclass(frozen=True)
class WorkerSettings:
    command: tuple[str, ...]
    health_port: int
    scaling: Autoscaling
    resources: Resources


@dataclass(frozen=True)
class MigrationSettings:
    command: tuple[str, ...]
    timeout_seconds: int
    resources: Resources


@dataclass(frozen=True)
class AppSettings:
    api: ApiSettings
    web: WebSettings
    worker: WorkerSettings
    migration: MigrationSettings


@dataclass(frozen=True)
class Namespaces:
    app: str
    data: str
    monitoring: str
    # The in-cluster object storage, apart from the database it backs up (not used with external storage).
    storage: str


@dataclass(frozen=True)
class StackSettings:
    stack: str
    environment: str
    namespaces: Namespaces
    app: AppSettings
    data: DataSettings
    monitoring: MonitoringSettings
    access: AccessSettings
    secrets: SecretsSettings
    delivery: DeliverySettings
    edge: EdgeSettings
    network: NetworkSettings
    jwt_access_secret: pulumi.Output[str] | None
    jwt_refresh_secret: pulumi.Output[str] | None
    alert_receiver_url: pulumi.Output[str] | None
    registry_password: pulumi.Output[str] | None

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def monitoring_enabled(self) -> bool:
        return self.monitoring.enabled

    @property
    def ingress_controller_namespace(self) -> str:
        return self.edge.controller_namespace


def load() -> StackSettings:
    """Read and validate the current stack's configuration; raise SettingsError listing every problem."""
    problems = Problems()
    stack = pulumi.get_stack()
    raw = _raw_config(problems)

    # Pulumi.yaml declares environment with the default "": the stack's name decides.
    environment = raw.get("environment") or stack
    if environment not in ENVIRONMENTS:
        if raw.get("environment"):
            problems.add(f"{NAMESPACE}:environment", f"must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
        else:
            problems.add(
                f"{NAMESPACE}:environment",
                f"not set, so it defaults to the stack name {stack!r}, which is not one of {', '.join(ENVIRONMENTS)}: "
                f"set it (pulumi config set {NAMESPACE}:environment <{'|'.join(ENVIRONMENTS)}>)",
            )
        raise SettingsError(problems)
    if stack in ENVIRONMENTS and environment != stack:
        # The environment decides sizes and whether prod's protection applies: the prod stack turned into
        # staging would drop protect from every database and credential in one update.
        problems.add(
            f"{NAMESPACE}:environment",
            f"the stack {stack!r} is the {stack} environment, got {environment!r}; to run another environment, "
            "create a stack of its own (README: Day 2, changing ams:environment)",
        )
        raise SettingsError(problems)
    defaults = _DEFAULTS[environment]

    def section(key: str) -> Node:
        return Node(raw.get(key), defaults.get(key, {}), f"{NAMESPACE}:{key}", problems)

    namespaces = _namespaces(section("namespaces"))
    delivery = parse_delivery(section("delivery"))
    app = _app(section("app"), delivery)
    data = parse_data(section("data"))
    edge = parse_edge(section("ingress"))
    network = parse_network(section("network"))
    monitoring = parse_monitoring(section("monitoring"))
    access = parse_access(section("access"))
    secrets = parse_secrets(section("secrets"))

    if monitoring.receiver != "none" and "alertReceiverUrl" not in raw:
        problems.add(
            f"{NAMESPACE}:alertReceiverUrl",
            f"required when ams:monitoring.alerting.receiver is {monitoring.receiver} (pulumi config set --secret)",
        )
    if delivery.build.enabled and "registryPassword" not in raw:
        problems.add(
            f"{NAMESPACE}:registryPassword", "required when ams:delivery.build.enabled is true (pulumi config set --secret)"
        )
    if problems:
        raise SettingsError(problems)
    config = pulumi.Config(NAMESPACE)

    def secret(key: str) -> pulumi.Output[str] | None:
        return config.require_secret(key) if key in raw else None

    return StackSettings(
        stack=stack,
        environment=environment,
        namespaces=namespaces,
        app=app,
        data=data,
        monitoring=monitoring,
        access=access,
        secrets=secrets,
        delivery=delivery,
        edge=edge,
        network=network,
        jwt_access_secret=secret("jwtAccessSecret"),
        jwt_refresh_secret=secret("jwtRefreshSecret"),
        alert_receiver_url=secret("alertReceiverUrl"),
        registry_password=secret("registryPassword"),
    )


def _raw_config(problems: Problems) -> dict[str, Any]:
    """Every ams: key of the stack, structured values decoded; unknown top-level keys reported.

    Pulumi.yaml gives every optional key a default (the CLI requires a key declared without one):
    "" for the scalars and {} for the objects, so an empty value means "not set".
    """
    known = set(OBJECT_KEYS) | set(SECRET_KEYS) | set(SCALAR_KEYS)
    everything = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    for full_key, value in sorted(everything.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            _warn_if_misplaced(namespace, key, known)
            continue
        if key not in known:
            problems.add(full_key, f"unknown key (known keys: {', '.join(sorted(known))})")
            continue
        if key in OBJECT_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.add(full_key, "must be an object, got a string")
                continue
        if value in ("", {}):
            continue
        if key in SECRET_KEYS and not runtime_config.is_config_secret(full_key):
            # Pulumi.yaml cannot mark an optional key `secret: true` (the CLI then refuses its default), so the
            # program refuses a plaintext value itself.
            problems.add(full_key, f"must be encrypted: set it with pulumi config set --secret {full_key}")
            continue
        raw[key] = value
    return raw


def _warn_if_misplaced(namespace: str, key: str, known: set[str]) -> None:
    """A key in a namespace that looks like a typo of ams: the engine passes it on and nothing reads it."""
    top = key.split(".", 1)[0]
    if top in known and difflib.SequenceMatcher(None, namespace, NAMESPACE).ratio() >= 0.6:
        pulumi.log.warn(f"configuration key '{namespace}:{key}' is not read by this program; did you mean '{NAMESPACE}:{key}'?")


def _namespaces(node: Node) -> Namespaces:
    result = Namespaces(
        app=node.dns_label("app"),
        data=node.dns_label("data"),
        monitoring=node.dns_label("monitoring"),
        storage=node.dns_label("storage"),
    )
    names = [result.app, result.data, result.monitoring, result.storage]
    if len(set(names)) != len(names):
        node.problems.add(node.path, f"app, data, monitoring and storage must differ, got {names}")
    node.close()
    return result


def _app(node: Node, delivery: DeliverySettings) -> AppSettings:
    api_image, web_image = delivery.images.api, delivery.images.web

    api = node.child("api")
    api_settings = ApiSettings(
        image=api_image, port=api.port("port"), scaling=_autoscaling(api), resources=read_resources(api.child("resources"))
    )
    api.close()

    web = node.child("web")
    web_settings = WebSettings(
        image=web_image, replicas=web.integer("replicas", minimum=1), resources=read_resources(web.child("resources"))
    )
    web.close()

    worker = node.child("worker")
    worker_settings = WorkerSettings(
        command=worker.str_list("command"),
        health_port=worker.port("healthPort"),
        scaling=_autoscaling(worker),
        resources=read_resources(worker.child("resources")),
    )
    worker.close()

    migration = node.child("migration")
    migration_settings = MigrationSettings(
        command=migration.str_list("command"),
        timeout_seconds=migration.integer("timeoutSeconds", minimum=30, maximum=86400),
        resources=read_resources(migration.child("resources")),
    )
    migration.close()

    node.close()
    return AppSettings(
        api=api_settings,
        web=web_settings,
        worker=worker_settings,
        migration=migration_settings,
    )


def _autoscaling(node: Node) -> Autoscaling:
    minimum = node.integer("minReplicas", minimum=1)
    maximum = node.integer("maxReplicas", minimum=1)
    if maximum < minimum:
        node.problems.add(node.key("maxReplicas"), f"must be >= minReplicas ({minimum}), got {maximum}")
    return Autoscaling(
        min_replicas=minimum,
        max_replicas=maximum,
        target_cpu=node.percent("targetCpuUtilization"),
        target_memory=node.percent("targetMemoryUtilization"),
    )
