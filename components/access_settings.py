"""Settings of access and secrets: `ams:access` (RBAC, quotas, limit ranges) and `ams:secrets`."""

from __future__ import annotations

from dataclasses import dataclass

from .validation import Node, parse_quantity

ROLES = ("view", "edit", "admin")
TIERS = ("app", "data", "monitoring", "storage")
QUOTA_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "requests.storage", "pods")
SECRET_MODES = ("generated", "externalSecrets")


@dataclass(frozen=True)
class Quota:
    hard: dict  # ResourceQuota spec.hard, quantities as written
    default_request: dict  # LimitRange defaults for containers that set none
    default_limit: dict


@dataclass(frozen=True)
class AccessSettings:
    groups: dict  # alias (developers, qa, operations) -> identity-provider group name
    bindings: dict  # alias -> ClusterRole (view, edit, admin), bound in every AMS namespace
    quotas: dict  # tier -> Quota


@dataclass(frozen=True)
class Vault:
    server: str
    path: str
    role: str
    auth_mount: str
    key_prefix: str


@dataclass(frozen=True)
class SecretsSettings:
    mode: str
    install_operator: bool
    vault: Vault

    @property
    def external(self) -> bool:
        return self.mode == "externalSecrets"


def parse_access(node: Node) -> AccessSettings:
    groups_node, bindings_node, quotas_node = node.child("groups"), node.child("bindings"), node.child("quotas")
    groups = {alias: groups_node.string(alias) for alias in sorted(groups_node.value)}
    bindings = {}
    for alias in sorted(bindings_node.value):
        role = bindings_node.string(alias, choices=ROLES)
        if alias not in groups:
            bindings_node.problems.add(bindings_node.key(alias), f"names no group in access.groups ({', '.join(groups)})")
        bindings[alias] = role
    quotas = {tier: _quota(quotas_node.child(tier)) for tier in TIERS}
    for child in (groups_node, bindings_node, quotas_node, node):
        child.close()
    return AccessSettings(groups=groups, bindings=bindings, quotas=quotas)


def _quantities(node: Node, keys) -> dict:
    """The keys set (in the stack or its defaults) out of `keys`; anything else is left for close() to report."""
    present = [key for key in keys if key in node.value or key in node.defaults]
    values = {key: node.quantity(key) for key in present}
    return {key: value for key, value in values.items() if value}


def _quota(node: Node) -> Quota:
    hard_node, request_node, limit_node = node.child("hard"), node.child("defaultRequest"), node.child("defaultLimit")
    hard = _quantities(hard_node, QUOTA_KEYS)
    default_request = _quantities(request_node, ("cpu", "memory"))
    default_limit = _quantities(limit_node, ("cpu", "memory"))
    for kind in ("cpu", "memory"):
        request, limit = default_request.get(kind), default_limit.get(kind)
        if request and limit and parse_quantity(request) > parse_quantity(limit):
            request_node.problems.add(request_node.key(kind), f"must be <= defaultLimit.{kind} ({limit}), got {request}")
    for child in (hard_node, request_node, limit_node, node):
        child.close()
    return Quota(hard=hard, default_request=default_request, default_limit=default_limit)


def parse_secrets(node: Node) -> SecretsSettings:
    mode = node.string("mode", choices=SECRET_MODES)
    vault = node.child("vault")
    external = mode == "externalSecrets"
    server = vault.string("server", optional=not external)
    if external and server and not server.startswith("https://"):
        vault.problems.add(vault.key("server"), f"must be an https:// URL, got {server!r}")
    result = SecretsSettings(
        mode=mode,
        install_operator=node.boolean("installOperator"),
        vault=Vault(
            server=server,
            path=vault.string("path", optional=not external),
            role=vault.string("role", optional=not external),
            auth_mount=vault.string("authMount"),
            key_prefix=vault.string("keyPrefix"),
        ),
    )
    vault.close()
    node.close()
    return result
