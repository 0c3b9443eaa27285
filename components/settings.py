"""Typed, validated stack settings: pydantic models of the `ams:` configuration. ``load()`` merges the stack's ``ams:``
keys over the environment's defaults (``environments.yaml``) and validates them as one immutable ``StackSettings``; every
problem is raised at once as ``SettingsError`` (one ``ams:<key path>: <message>`` each), before any resource is registered.
"""

import difflib
import ipaddress
import json
import os
import re
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
import pydantic
import yaml
from pulumi.runtime import config as runtime_config
from pydantic import AfterValidator, BeforeValidator, Field, ValidationError, ValidationInfo, WithJsonSchema, field_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "ams"
ENVIRONMENTS = ("dev", "staging", "prod")
PROJECT_DIR = Path(__file__).resolve().parent.parent
_DEFAULTS: dict[str, Any] = yaml.safe_load((Path(__file__).parent / "environments.yaml").read_text())
REPLACED = (("access", "groups"), ("access", "bindings"))  # maps a stack file replaces instead of merging into
OBJECT_KEYS = ("namespaces", "app", "data", "delivery", "ingress", "network", "monitoring", "access", "secrets")
SECRET_KEYS = ("jwtAccessSecret", "jwtRefreshSecret", "alertReceiverUrl", "registryPassword")
SCALAR_KEYS = ("environment",)  # with the objects and the secrets: every ams: key; anything else is a typo
DEFAULT_CONTROLLER_NAMESPACE = {"ingress": "ingress-nginx", "gateway": "envoy-gateway-system"}
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.storage", "pods")
RESERVED_CONNECTIONS = 10  # PostgreSQL's connections for superusers, replication and monitoring, outside the pools
_QUANTITY = r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$"
_SUFFIX = {"": 1, "m": Decimal("0.001"), **{s: Decimal(10) ** (3 * i) for i, s in enumerate("kMGTPE", 1)}}
_SUFFIX |= {f"{s}i": Decimal(2) ** (10 * i) for i, s in enumerate("KMGTPE", 1)}
_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_NAME = r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"  # name[:tag][@digest]: a registry port
_TAG, _DIGEST = r"[\w][\w.-]{0,127}", r"sha256:[a-f0-9]{64}"
_IMAGE = re.compile(rf"^(?P<name>{_NAME})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$", re.ASCII)
_EXPECTED: dict[str, str] = {}  # pattern -> what a value must be, for the message when it does not match
_PINNED = rf"^{_NAME}(:(?!latest(@|$)){_TAG}(@{_DIGEST})?|@{_DIGEST})$"  # for the JSON Schema (an ECMA regex)


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``250m``, ``512Mi``, ``1.5``); ValueError if it does not parse."""
    match = re.match(_QUANTITY, text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    return Decimal(number + suffix) if suffix[:1] in ("e", "E") else Decimal(number) * _SUFFIX[suffix]


def image_problem(ref: str) -> str | None:
    """Why an image reference is not acceptable, or None when it is pinned."""
    match = _IMAGE.match(ref)
    if not match:
        return f"not an image reference, got {ref!r}"
    if match.group("tag") == "latest":
        return f"must not use the 'latest' tag, got {ref!r}"
    return None if match.group("tag") or match.group("digest") else f"must be pinned with a tag or digest, got {ref!r}"


class ProblemsError(ValueError):
    """``ProblemsError(problems, errors)``: a model's ``{key below it ("" for itself): message}``, and its fields' errors."""


class Model(pydantic.BaseModel):
    """Immutable; camelCase keys; unknown keys reported with every other problem. A model's cross-field rules: ``rules()``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _validate(cls, data: Any, handler) -> Any:
        # Unknown keys are taken out (extra="forbid" never sees them) so that the fields and the rules report theirs too.
        known = sorted(field.alias for field in cls.model_fields.values())
        message = f"unknown key (known keys: {', '.join(known)})"
        unknown = {key: message for key in data if key not in known} if type(data) is dict else {}
        try:
            model = handler({key: value for key, value in data.items() if key not in unknown} if unknown else data)
        except ValidationError as error:
            raise (ProblemsError(unknown, error.errors()) if unknown else error) from None
        if problems := {key: message for key, message in {**unknown, **getattr(model, "rules", dict)()}.items() if message}:
            raise ProblemsError(problems, [])
        return model


def not_above(lows: dict, highs: dict, low: str, high: str) -> dict:  # {low.<key>: message} for quantities above highs'
    above = {k: parse_quantity(v) > parse_quantity(highs[k]) and f"({highs[k]}), got {v}" for k, v in lows.items() if k in highs}
    return {f"{low}.{k}": message and f"must be <= {high}.{k} {message}" for k, message in above.items()}


def via(path: str) -> property:  # a read-only attribute that reads a nested setting: the flat names the components use
    return property(attrgetter(path))


def _raise(message: str | None) -> None:
    if message:
        raise ValueError(message)


def refuse(problem) -> AfterValidator:  # refuse a value for which problem(value) is a message
    return AfterValidator(lambda value: _raise(problem(value)) or value)


def matching(pattern: str, expected: str, **constraints) -> Any:  # a string; otherwise "must be <expected>, got '...'"
    _EXPECTED[pattern] = expected
    return Annotated[str, Field(strict=True, pattern=pattern, **constraints)]


def list_of(item: Any, what: str, **constraints) -> Any:  # a YAML list, kept as a tuple
    wrong = BeforeValidator(lambda v: _raise(not isinstance(v, list) and f"must be a list of {what}, got {describe(v)}") or v)
    return Annotated[tuple[item, ...], wrong, Field(**constraints)]


def _cidr_problem(value: str) -> str | None:
    try:
        return ipaddress.ip_network(value, strict=True) and None
    except ValueError:
        return f"must be a CIDR range like 10.20.0.0/16, got {value!r}"


def _as_text(value: Any) -> Any:  # a quantity as written; a YAML number becomes its text
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _raise(not isinstance(value, str) and f"must be a Kubernetes quantity, got {describe(value)}") or value


Bool, Int, Str = Annotated[bool, Field(strict=True)], Annotated[int, Field(strict=True)], Annotated[str, Field(strict=True)]
NonEmpty, Port = Annotated[str, Field(strict=True, min_length=1)], Annotated[Int, Field(ge=1, le=65535)]
Quantity = Annotated[matching(_QUANTITY, "a Kubernetes quantity such as 250m or 512Mi"), BeforeValidator(_as_text)]
Quantity = Annotated[Quantity, WithJsonSchema({"type": ["string", "number"], "pattern": _QUANTITY})]
Image = Annotated[NonEmpty, refuse(image_problem), WithJsonSchema({"type": "string", "pattern": _PINNED})]
OptionalImage = Annotated[
    Str, refuse(lambda v: v and image_problem(v)), WithJsonSchema({"type": "string", "pattern": f"^$|{_PINNED}"})
]
ProjectFile = Annotated[
    Str, refuse(lambda p: p and not (PROJECT_DIR / p).is_file() and f"no such file (relative to the project): {p}")
]
DnsLabel = matching(f"^{_LABEL}$", "a DNS label (lowercase, digits, '-'; 63 at most)")
OptionalDnsLabel = matching(f"^({_LABEL})?$", "a DNS label (lowercase, digits, '-'; 63 at most)")  # "" for a default
DnsName = matching(rf"^{_LABEL}(\.{_LABEL})*$", "a DNS name", max_length=253)
HttpsUrl = matching(r"^(https://\S+)?$", "an https:// URL")  # "" when unused
Cidrs = list_of(Annotated[Str, refuse(_cidr_problem)], "CIDR ranges")
Strs = list_of(NonEmpty, "strings")
SortedDict = AfterValidator(lambda value: dict(sorted(value.items())))


class Volume(Model):
    size: Annotated[Quantity, refuse(lambda v: parse_quantity(v) <= 0 and f"must be larger than 0, got {v}")]
    storage_class: Str  # "" means the cluster's default StorageClass

    def sized(self, size_key: str, class_key: str, **extra) -> dict:
        """`{size_key: size, class_key: class}` in the shape a chart or CRD wants; no class key for the default."""
        return {**extra, size_key: self.size, **({class_key: self.storage_class} if self.storage_class else {})}

    def claim_spec(self) -> dict:  # a ReadWriteOnce PersistentVolumeClaim spec
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.size}}}
        return {**spec, **({"storageClassName": self.storage_class} if self.storage_class else {})}


class Resources(Model):
    class CpuMemory(Model):
        cpu: Quantity
        memory: Quantity

    requests: CpuMemory
    limits: CpuMemory
    as_k8s = pydantic.BaseModel.model_dump
    cpu_request, memory_request = via("requests.cpu"), via("requests.memory")
    cpu_limit, memory_limit = via("limits.cpu"), via("limits.memory")

    def rules(self):
        return not_above(self.requests.model_dump(), self.limits.model_dump(), "requests", "limits")


class SettingsError(pulumi.RunError):
    """Invalid stack configuration; ``problems`` holds one ``<key path>: <reason>`` line each."""

    def __init__(self, problems: list[str]):
        self.problems = sorted(problems)
        super().__init__("invalid stack configuration:\n" + "\n".join(f"  {p}" for p in self.problems))


class Namespaces(Model):
    app: DnsLabel
    data: DnsLabel
    monitoring: DnsLabel
    storage: DnsLabel  # the in-cluster object storage, apart from the database it backs up (unused with external storage)

    def rules(self):
        names = [self.app, self.data, self.monitoring, self.storage]
        return {"": len(set(names)) != len(names) and f"app, data, monitoring and storage must differ, got {names}"}


class Autoscaling(Model):
    min_replicas: Annotated[Int, Field(ge=1)]
    max_replicas: Annotated[Int, Field(ge=1)]
    target_cpu: Annotated[Int, Field(ge=1, le=100, alias="targetCpuUtilization")]
    target_memory: Annotated[Int, Field(ge=1, le=100, alias="targetMemoryUtilization")]
    scaling = property(lambda self: self)

    def rules(self):
        wrong = self.max_replicas < self.min_replicas
        return {"maxReplicas": wrong and f"must be >= minReplicas ({self.min_replicas}), got {self.max_replicas}"}


class AppSettings(Model):
    class Api(Autoscaling):
        port: Port
        resources: Resources

    class Web(Model):
        replicas: Annotated[Int, Field(ge=1)]
        resources: Resources

    class Worker(Autoscaling):
        command: Strs
        health_port: Port
        resources: Resources

    class Migration(Model):
        command: Strs
        timeout_seconds: Annotated[Int, Field(ge=30, le=86400)]
        resources: Resources

    api: Api
    web: Web
    worker: Worker
    migration: Migration


class DataSettings(Model):
    class Postgres(Model):
        class Pooler(Model):
            instances: Annotated[Int, Field(ge=1)]
            max_client_connections: Annotated[Int, Field(ge=1, le=100000)]
            default_pool_size: Annotated[Int, Field(ge=1)]
            pool_mode: Literal["session", "transaction"]

        class Backup(Model):
            enabled: Bool
            schedule: matching(r"^\s*\S+(\s+\S+){5}\s*$", "a six-field cron expression (seconds first)")  # CloudNativePG's
            retention: matching(r"^[0-9]+[dwm]$", "a number followed by d, w or m (e.g. 30d)")

        instances: Annotated[Int, Field(ge=1, le=9)]
        image: Image
        storage: Volume
        resources: Resources
        max_connections: Annotated[Int, Field(ge=20, le=10000)]
        init_sql_file: ProjectFile
        pooler: Pooler
        pooler_resources: Resources
        backup: Backup
        init_sql = property(lambda self: (PROJECT_DIR / self.init_sql_file).read_text() if self.init_sql_file else "")

        def rules(self):
            n, size, budget = self.pooler.instances, self.pooler.default_pool_size, self.max_connections - RESERVED_CONNECTIONS
            message = f"instances x defaultPoolSize ({n} x {size} = {n * size}) must be <= postgres.maxConnections"
            return {"pooler.defaultPoolSize": n * size > budget and f"{message} - {RESERVED_CONNECTIONS} ({budget})"}

    class Redis(Model):
        image: Image
        exporter_image: Image
        storage: Volume
        resources: Resources
        exporter_resources: Resources

    class ObjectStorage(Model):
        class External(Model):
            endpoint: HttpsUrl
            region: NonEmpty
            credentials_secret: Str  # a Secret with access-key-id and secret-access-key, in the app and data namespaces

        mode: Literal["seaweedfs", "minio", "external"]
        image: Image
        storage: Volume
        resources: Resources
        app_bucket: DnsLabel
        backup_bucket: DnsLabel
        bucket_job_image: Image
        external: External

        def rules(self):
            unset = self.mode == "external" and "must be set when mode is external"
            rules = {f"external.{key}": not value and unset for key, value in self.external.model_dump(by_alias=True).items()}
            return {**rules, "backupBucket": self.app_bucket == self.backup_bucket and "must differ from appBucket"}

    class Operators(Model):
        namespace: DnsLabel
        install_cnpg: Bool
        install_barman_plugin: Bool

    postgres: Postgres
    redis: Redis
    object_storage: ObjectStorage
    operators: Operators


class DeliverySettings(Model):
    class ImagePair(Model):
        api: Image
        web: Image

    class Canary(Model):
        api: OptionalImage  # "" unless the strategy is canary
        web: OptionalImage
        replicas: Annotated[Int, Field(ge=1)]

    class Build(Model):
        enabled: Bool
        registry: NonEmpty
        api_context: NonEmpty
        web_context: NonEmpty
        tag: Str
        username: Str
        platform: NonEmpty

        @field_validator("tag")
        @classmethod
        def _commit(cls, tag: str, info: ValidationInfo) -> str:
            tag = tag or (os.environ.get("GITHUB_SHA", "")[:12] if info.data.get("enabled") else "")  # CI passes the commit
            _raise(info.data.get("enabled") and not tag and "must be set (or GITHUB_SHA exported) when builds are enabled")
            return _raise(tag == "latest" and "must not be 'latest': tag images with the commit") or tag

    strategy: Literal["rolling", "blueGreen", "canary"]
    images: ImagePair  # rolling, the canary's stable track, and the worker in every strategy
    active_color: Literal["blue", "green"]
    colors: Annotated[dict[Literal["blue", "green"], ImagePair], SortedDict]  # the colors that run (blueGreen)
    canary_weight: Annotated[Int, Field(ge=0, le=100)]
    canary: Canary
    istio_sidecars: Bool  # inject Istio sidecars into the app namespace (needs the Istio CNI agent)
    build: Build
    canary_replicas = via("canary.replicas")

    def rules(self):
        active, unset = self.active_color, self.strategy == "canary" and "must be set with the canary strategy"
        missing = self.strategy == "blueGreen" and active not in self.colors and f"must be set: it is the activeColor ({active})"
        canary = {f"canary.{key}": not getattr(self.canary, key) and unset for key in ("api", "web")}
        return {f"colors.{active}": missing, **canary}


class EdgeSettings(Model):
    mode: Literal["ingress", "gateway"]
    class_name: DnsLabel
    controller_namespace: OptionalDnsLabel  # "": the mode's (DEFAULT_CONTROLLER_NAMESPACE)
    host: DnsName
    tls_secret: DnsLabel
    issuer: Literal["letsencrypt-prod", "letsencrypt-staging", "selfsigned"]
    acme_email: matching(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", "an email address")
    create_issuers: Bool
    rate_limit_rps: Annotated[Int, Field(ge=1, le=100000)]
    body_size: matching(r"^[0-9]+[km]?$", "a size like 50m or 512k")  # nginx: a number, k or m
    allow_source_ranges: Cidrs
    annotations: dict[str, Str]
    install_cert_manager: Bool
    install_controller: Bool
    url = property(lambda self: f"https://{self.host}")

    @field_validator("controller_namespace")
    @classmethod
    def _by_mode(cls, value: str, info: ValidationInfo) -> str:
        return value or DEFAULT_CONTROLLER_NAMESPACE.get(info.data.get("mode"), "")

    def rules(self):
        only_gateway = "only gateway mode installs a controller (ingress-nginx was retired in March 2026); "
        wrong = self.mode == "ingress" and self.install_controller
        return {"installController": wrong and f"{only_gateway}bring a maintained Ingress controller, or use mode: gateway"}


class NetworkSettings(Model):  # what NetworkPolicies assume of the cluster: addresses differ per cluster
    class ApiServer(Model):
        # Its endpoints' addresses and ports after the `kubernetes` Service is resolved (`kubectl get endpointslices`).
        cidrs: Annotated[Cidrs, Field(min_length=1)]
        ports: list_of(Port, "ports (1-65535)", min_length=1)

    api_server: ApiServer
    dns_cidrs: Cidrs  # extra DNS resolvers, e.g. NodeLocal DNSCache's link-local address (169.254.20.10/32)
    node_cidrs: Cidrs  # the nodes' addresses: Prometheus scrapes kubelets and node-exporter (host network) there
    ingress_controller_host_network: Bool  # the controller has node addresses: admit nodeCidrs to the edge ports
    api_server_cidrs, api_server_ports = via("api_server.cidrs"), via("api_server.ports")


class MonitoringSettings(Model):
    class Workload(Model):
        resources: Resources

    class Prometheus(Workload):
        retention: matching(r"^0*[1-9][0-9]*[hdw]$", "a duration like 15d or 168h")  # Prometheus-style: h, d or w
        storage: Volume

    class Loki(Prometheus):
        canary_resources: Resources

    class Grafana(Model):
        storage: Volume

    class Alerting(Model):
        receiver: Literal["none", "webhook", "slack"]
        slack_channel: Str

    class ImageWorkload(Workload):
        image: Image

    enabled: Bool
    prometheus: Prometheus
    loki: Loki
    grafana: Grafana
    alerting: Alerting
    node_exporter: Workload
    log_shipper: ImageWorkload
    web_exporter: ImageWorkload
    prometheus_retention, prometheus_storage = (
        via("prometheus.retention"),
        via("prometheus.storage"),
    )  # the components' flat names
    prometheus_resources, grafana_storage = via("prometheus.resources"), via("grafana.storage")
    loki_retention, loki_storage, loki_resources = via("loki.retention"), via("loki.storage"), via("loki.resources")
    loki_canary_resources, node_exporter_resources = via("loki.canary_resources"), via("node_exporter.resources")
    receiver, slack_channel = via("alerting.receiver"), via("alerting.slack_channel")
    log_shipper_image, log_shipper_resources = via("log_shipper.image"), via("log_shipper.resources")
    web_exporter_image, web_exporter_resources = via("web_exporter.image"), via("web_exporter.resources")

    def rules(self):
        wrong = self.receiver == "slack" and not self.slack_channel.startswith("#")
        return {"alerting.slackChannel": wrong and f"must name a channel like #ams-alerts, got {self.slack_channel!r}"}


class AccessSettings(Model):
    class Quota(Model):
        # ResourceQuota spec.hard: quantities as written, in QUOTA_KEYS order.
        hard: Annotated[dict[Literal[QUOTA_KEYS], Quantity], AfterValidator(lambda d: {k: d[k] for k in QUOTA_KEYS if k in d})]
        default_request: dict[Literal["cpu", "memory"], Quantity]  # LimitRange defaults for containers that set none
        default_limit: dict[Literal["cpu", "memory"], Quantity]

        def rules(self):
            return not_above(self.default_request, self.default_limit, "defaultRequest", "defaultLimit")

    groups: Annotated[dict[str, NonEmpty], SortedDict]  # alias -> identity-provider group; replaces the default (REPLACED)
    bindings: Annotated[dict[str, Literal["view", "edit", "admin"]], SortedDict]  # alias -> ClusterRole, in every namespace
    quotas: dict[Literal["app", "data", "monitoring", "storage"], Quota]

    def rules(self):
        message = f"names no group in access.groups ({', '.join(self.groups)})"
        return {f"bindings.{alias}": alias not in self.groups and message for alias in self.bindings}


class SecretsSettings(Model):
    class Vault(Model):
        server: HttpsUrl
        path: Str
        role: Str
        auth_mount: NonEmpty
        key_prefix: NonEmpty

    mode: Literal["generated", "externalSecrets"]
    install_operator: Bool
    vault: Vault
    external = property(lambda self: self.mode == "externalSecrets")

    def rules(self):
        unset = self.external and "must be set when mode is externalSecrets"
        return {f"vault.{key}": not getattr(self.vault, key) and unset for key in ("server", "path", "role")}


# A secret: encrypted in the stack file ({secure: ...}), a secret Output (or None when unset) in the program.
Secret = Annotated[pulumi.Output | None, WithJsonSchema({"type": "object", "properties": {"secure": {"type": "string"}}})]


class StackSettings(Model):  # the `ams:` keys Pulumi.yaml declares, over the environment's defaults
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    environment: Literal[ENVIRONMENTS]
    namespaces: Namespaces
    app: AppSettings
    data: DataSettings
    delivery: DeliverySettings
    edge: Annotated[EdgeSettings, Field(alias="ingress")]
    network: NetworkSettings
    monitoring: MonitoringSettings
    access: AccessSettings
    secrets: SecretsSettings
    jwt_access_secret: Secret = None
    jwt_refresh_secret: Secret = None
    alert_receiver_url: Secret = None
    registry_password: Secret = None
    _stack: str = pydantic.PrivateAttr("")
    stack, is_prod = via("_stack"), property(lambda self: self.environment == "prod")
    monitoring_enabled, ingress_controller_namespace = via("monitoring.enabled"), via("edge.controller_namespace")

    def rules(self):
        receiver, how = self.monitoring.receiver, "(pulumi config set --secret)"
        alert = receiver != "none" and self.alert_receiver_url is None and f"ams:monitoring.alerting.receiver is {receiver}"
        registry = self.delivery.build.enabled and self.registry_password is None and "ams:delivery.build.enabled is true"
        rules = {"alertReceiverUrl": alert, "registryPassword": registry}
        return {key: when and f"required when {when} {how}" for key, when in rules.items()}


def load() -> StackSettings:
    """Read and validate the current stack's configuration; raise SettingsError listing every problem."""
    problems: list[str] = []
    stack, raw = pulumi.get_stack(), _raw_config(problems)
    environment, choices, key = raw.get("environment") or stack, ", ".join(ENVIRONMENTS), f"{NAMESPACE}:environment"
    if environment not in ENVIRONMENTS:  # Pulumi.yaml declares the default "": the stack's name decides
        unset = f"not set, so it defaults to the stack name {stack!r}, which is not one of {choices}: set it"
        how = f"(pulumi config set {key} <{'|'.join(ENVIRONMENTS)}>)"
        wrong = f"must be one of {choices}, got {environment!r}" if raw.get("environment") else f"{unset} {how}"
        raise SettingsError([*problems, f"{key}: {wrong}"])
    if stack in ENVIRONMENTS and environment != stack:
        # The environment decides sizes and prod's protection: prod turned staging would unprotect every database.
        other = "to run another environment, create a stack of its own (README: Day 2, changing ams:environment)"
        raise SettingsError([*problems, f"{key}: the stack {stack!r} is the {stack} environment, got {environment!r}; {other}"])
    secrets = {key: pulumi.Config(NAMESPACE).require_secret(key) if key in raw else None for key in SECRET_KEYS}
    try:
        settings = StackSettings.model_validate(merge(_DEFAULTS[environment], {**raw, **secrets, "environment": environment}))
    except ValidationError as error:
        problems += problem_lines(error.errors(), f"{NAMESPACE}:")
    if problems:
        raise SettingsError(problems)
    settings._stack = stack
    return settings


def merge(default: Any, value: Any, path: tuple[str, ...] = ()) -> Any:
    """A stack's value over the environment's default: objects merge key by key (a null keeps the default)."""
    if isinstance(default, dict) and (value is None or isinstance(value, dict) and path not in REPLACED):
        return {**default, **{key: merge(default.get(key), item, (*path, key)) for key, item in (value or {}).items()}}
    return value


def _raw_config(problems: list[str]) -> dict[str, Any]:
    """Every ams: key of the stack, objects decoded, plaintext secrets refused, typos of ams: warned about. Pulumi.yaml
    gives every optional key a default (the CLI requires the others): "" or {}, so an empty value means "not set"."""
    raw: dict[str, Any] = {}
    for full_key, value in sorted({**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:  # the engine passes a key of another namespace on, and nothing reads it
            typo = difflib.SequenceMatcher(None, namespace, NAMESPACE).ratio() >= 0.6
            if typo and key.split(".", 1)[0] in (*OBJECT_KEYS, *SECRET_KEYS, *SCALAR_KEYS):
                pulumi.log.warn(f"configuration key '{full_key}' is not read by this program; did you mean '{NAMESPACE}:{key}'?")
            continue
        if key in OBJECT_KEYS and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append(f"{full_key}: must be an object, got a string")
                continue
        if value in ("", {}):
            continue
        if key in SECRET_KEYS and not runtime_config.is_config_secret(full_key):
            # Pulumi.yaml cannot mark an optional key `secret: true` (the CLI refuses its default): the program checks.
            problems.append(f"{full_key}: must be encrypted: set it with pulumi config set --secret {full_key}")
            continue
        raw[key] = value
    return raw


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


def problem_lines(errors: list[dict], prefix: str, keys: tuple = ()) -> list[str]:
    """``<prefix><key path>: <message>`` for each of pydantic's errors (``ValidationError.errors()``)."""
    lines, unknown = [], ()  # below an unknown key of a map, nothing is reported
    for err in errors:
        path = [*keys, *(str(part) for part in err["loc"] if not isinstance(part, int))]
        item = "".join(f" (item {part + 1})" for part in err["loc"][-1:] if isinstance(part, int))
        ctx, value = err.get("ctx", {}), err["input"]
        if isinstance(ctx.get("error"), ProblemsError):
            found, nested = ctx["error"].args
            lines += [f"{prefix}{'.'.join(filter(None, [*path, k]))}: {m}" for k, m in found.items()]
            lines += problem_lines(nested, prefix, tuple(path))
            continue
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        shown = repr(value) if isinstance(value, str) else describe(value)
        fields = {**ctx, "got": describe(value), "shown": shown, "input": value, "choices": ", ".join(choices)}
        fields["expected"] = _EXPECTED.get(ctx.get("pattern"))
        message = _MESSAGES[err["type"]].format_map(fields) if err["type"] in _MESSAGES else err["msg"]
        if path[-1:] == ["[key]"]:
            path, message = path[:-1], f"unknown key (known keys: {', '.join(sorted(choices))})"
            unknown += (f"{prefix}{'.'.join(path)}.",)
        lines.append(f"{prefix}{'.'.join(path)}: {message}{item}")
    return [line for line in lines if not line.startswith(unknown)]


def describe(value: Any) -> str:
    """A wrong value in a message: ``string 'x'``, ``number 5``, ``boolean true``, ``a list``, ``nothing``..."""
    kind = {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value))
    shown = json.dumps(value) if isinstance(value, bool) else repr(value)
    return f"{kind} {shown}" if kind else {list: "a list", dict: "an object", type(None): "nothing"}.get(type(value), "a value")
