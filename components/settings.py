"""Typed, validated stack settings: pydantic models of the `ams:` configuration. ``load()`` merges the stack's ``ams:``
keys over the environment's defaults (``environments.yaml``) and validates them as one immutable ``StackSettings``; every
problem is raised at once as ``SettingsError`` (one ``ams:<key path>: <message>`` each), before any resource is registered.
Each tier's models live in its folder; this module composes them with the settings several tiers share.
"""

import difflib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
import pydantic
import yaml
from pulumi.runtime import config as runtime_config
from pydantic import Field, ValidationError, WithJsonSchema

from .app.settings import AppSettings, DeliverySettings
from .data.settings import DataSettings
from .edge.settings import EdgeSettings
from .local.settings import LocalSettings, refused_keys
from .monitoring.settings import MonitoringSettings
from .platform.settings import AccessSettings, ClusterSettings
from .validation import Cidrs, DnsLabel, HttpsUrl, Model, NonEmpty, Port, Resources, list_of, problem_lines

NAMESPACE = "ams"
ENVIRONMENTS = ("local", "dev", "staging", "prod")
# libyaml's loader where PyYAML has it (its wheels do): the pure-Python one was a tenth of a render.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DEFAULTS: dict[str, Any] = yaml.load((Path(__file__).parent / "environments.yaml").read_text(), Loader=_YAML_LOADER)
REPLACED = (("access", "groups"), ("access", "bindings"))  # maps a stack file replaces instead of merging into
OBJECT_KEYS = (
    "cluster",
    "namespaces",
    "app",
    "data",
    "delivery",
    "ingress",
    "network",
    "monitoring",
    "access",
    "secrets",
    "local",
)
SECRET_KEYS = ("jwtAccessSecret", "jwtRefreshSecret", "alertReceiverUrl", "registryPassword")
SCALAR_KEYS = ("environment",)  # with the objects and the secrets: every ams: key; anything else is a typo


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


WHOLE_INTERNET = ("0.0.0.0/0", "::/0")


class NetworkSettings(Model):  # what NetworkPolicies assume of the cluster: addresses differ per cluster
    class ApiServer(Model):
        # Its endpoints' addresses and ports after the `kubernetes` Service is resolved (`kubectl get endpointslices`).
        # Empty: read from that EndpointSlice at every deploy (components/platform/cluster.py).
        cidrs: Cidrs
        ports: list_of(Port, "ports (1-65535)", min_length=1)

    api_server: ApiServer
    dns_cidrs: Cidrs  # extra DNS resolvers, e.g. NodeLocal DNSCache's link-local address (169.254.20.10/32)
    node_cidrs: Cidrs  # the nodes' addresses: Prometheus scrapes kubelets and node-exporter (host network) there
    ingress_controller_host_network: bool  # the controller has node addresses: admit nodeCidrs to the edge ports


class SecretsSettings(Model):
    class Vault(Model):
        server: HttpsUrl
        path: str
        role: str
        auth_mount: NonEmpty
        key_prefix: NonEmpty

    class OperatorSizes(Model):  # External Secrets' containers (deploy/charts/external-secrets values.yaml)
        controller: Resources
        webhook: Resources
        cert_controller: Resources

    mode: Literal["generated", "externalSecrets"]
    install_operator: bool
    operator_resources: OperatorSizes
    vault: Vault

    @property
    def external(self) -> bool:
        return self.mode == "externalSecrets"

    def rules(self):
        unset = self.external and "must be set when mode is externalSecrets"
        return {f"vault.{key}": not getattr(self.vault, key) and unset for key in ("server", "path", "role")}


# A secret: encrypted in the stack file ({secure: ...}), a secret Output (or None when unset) in the program.
Secret = Annotated[pulumi.Output | None, WithJsonSchema({"type": "object", "properties": {"secure": {"type": "string"}}})]


class StackSettings(Model):  # the `ams:` keys Pulumi.yaml declares, over the environment's defaults
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    environment: Literal[ENVIRONMENTS]
    cluster: ClusterSettings
    namespaces: Namespaces
    app: AppSettings
    data: DataSettings
    delivery: DeliverySettings
    edge: Annotated[EdgeSettings, Field(alias="ingress")]
    network: NetworkSettings
    monitoring: MonitoringSettings
    access: AccessSettings
    secrets: SecretsSettings
    local: LocalSettings | None = None  # the local environment's alone (refused_keys)
    jwt_access_secret: Secret = None
    jwt_refresh_secret: Secret = None
    alert_receiver_url: Secret = None
    registry_password: Secret = None

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def rules(self):
        receiver = self.monitoring.alerting.receiver
        how = "(pulumi config set --secret)"
        alert = receiver != "none" and self.alert_receiver_url is None and f"ams:monitoring.alerting.receiver is {receiver}"
        registry = self.delivery.build.enabled and self.registry_password is None and "ams:delivery.build.enabled is true"
        rules = {"alertReceiverUrl": alert, "registryPassword": registry}
        problems = {key: when and f"required when {when} {how}" for key, when in rules.items()}
        problems.update(self._cluster_rules())
        # An empty `from` admits every source: a host-network controller is admitted by the nodes' addresses.
        if self.network.ingress_controller_host_network and not self.network.node_cidrs:
            problems["network.nodeCidrs"] = "must list the nodes' subnets when ingressControllerHostNetwork is true"
        return problems

    def _cluster_rules(self) -> dict:
        """Staging and prod name their cluster and its API server's addresses: the ambient kubeconfig context would
        deploy wherever a laptop points, and 0.0.0.0/0 would make every host "the API server" to the policies."""
        if self.environment not in ("staging", "prod"):
            return {}
        problems = {}
        if not self.cluster.context:
            record = "pulumi config set --path ams:cluster.context <kubeconfig context>"
            problems["cluster.context"] = f"required in {self.environment}: name the stack's cluster ({record})"
        whole_internet = [cidr for cidr in self.network.api_server.cidrs if cidr in WHOLE_INTERNET]
        if whole_internet:
            instead = "leave it empty to read the addresses from the cluster's `kubernetes` EndpointSlice"
            problems["network.apiServer.cidrs"] = f"must not hold {', '.join(whole_internet)} in {self.environment}: {instead}"
        every_node = [cidr for cidr in self.network.node_cidrs if cidr in WHOLE_INTERNET]
        if every_node:
            instead = "record the nodes' subnets"
            problems["network.nodeCidrs"] = f"must not hold {', '.join(every_node)} in {self.environment}: {instead}"
        return problems


def load() -> StackSettings:
    """Read and validate the current stack's configuration; raise SettingsError listing every problem."""
    problems: list[str] = []
    stack = pulumi.get_stack()
    raw = _raw_config(problems)
    environment = raw.get("environment") or stack
    choices = ", ".join(ENVIRONMENTS)
    key = f"{NAMESPACE}:environment"
    if environment not in ENVIRONMENTS:  # Pulumi.yaml declares the default "": the stack's name decides
        unset = f"not set, so it defaults to the stack name {stack!r}, which is not one of {choices}: set it"
        how = f"(pulumi config set {key} <{'|'.join(ENVIRONMENTS)}>)"
        wrong = f"must be one of {choices}, got {environment!r}" if raw.get("environment") else f"{unset} {how}"
        raise SettingsError([*problems, f"{key}: {wrong}"])
    if stack in ENVIRONMENTS and environment != stack:
        # The environment decides sizes and prod's protection: prod turned staging would unprotect every database.
        other = "to run another environment, create a stack of its own (docs/day-2.md: Day 2, changing ams:environment)"
        raise SettingsError([*problems, f"{key}: the stack {stack!r} is the {stack} environment, got {environment!r}; {other}"])
    refused = refused_keys(raw, environment)
    problems += [f"{NAMESPACE}:{path}: {reason}" for path, reason in refused.items()]
    raw = {key: value for key, value in raw.items() if key not in refused}  # `ams:local` elsewhere: said once
    secrets = {key: pulumi.Config(NAMESPACE).require_secret(key) if key in raw else None for key in SECRET_KEYS}
    try:
        settings = StackSettings.model_validate(merge(_DEFAULTS[environment], {**raw, **secrets, "environment": environment}))
    except ValidationError as error:
        problems += problem_lines(error.errors(), f"{NAMESPACE}:")
    if problems:
        raise SettingsError(problems)
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
