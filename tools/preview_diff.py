"""python -m tools.preview_diff OLD_DIR NEW_DIR: an offline ``pulumi preview --diff`` between two renders.

Each directory holds a ``resources.json`` written by ``python -m tools.render``. The old render stands in
for the stack's last deployed state (its inputs for the live objects), the new one for the program's
next run. For every resource this decides what the engine and the providers would plan: create, update,
replace, delete or same, with the changed input paths and why a change replaces.

    python -m tools.preview_diff /tmp/a /tmp/b --stack prod      # provider flags from the stack's config
    python -m tools.preview_diff /tmp/a /tmp/b --secret-mutable

Exit status 1 when the plan holds a step Pulumi would refuse (a protected resource replaced or deleted) or one
the API server would (an object created under a name a deleted resource still holds), 2 when
the engine would fail before planning (two resources claiming one old resource through aliases).

Sources, read at these commits (paths are inside each repository):

* pulumi/pulumi-kubernetes 94977969d64112b04e19945818a7d5d5f38f631d
  - ``provider/pkg/provider/diff.go``: ``forceNewProperties`` and the ``forceNew`` kind table (FORCE_NEW here).
  - ``provider/pkg/provider/provider.go``: ``Diff`` (identity fields always replace; Patch resources only those;
    the detailed diff from a JSON merge patch, ``convertPatchToDiff``; deleting ``metadata`` replaces; ignored
    paths dropped from the detailed diff; delete-before-replace when the new object keeps its user-given name
    and namespace).
  - ``provider/pkg/openapi/match.go``: ``PatchPropertiesChanged`` (a replace-only path matches a change when the
    JSONPath is found in the patch slice of that change).
  - ``provider/pkg/provider/helm_release.go``: ``helmReleaseProvider.Diff`` (``.name`` and ``.namespace`` replace;
    never delete-before-replace; ``checksum`` and ``resourceNames`` dropped from the old inputs).
  - ``provider/pkg/clients/clients.go``: ``IsSecret``, ``IsConfigMap``, ``IsImmutable`` (``immutable: true``
    keeps data replace-only even when mutability is enabled).
* pulumi/pulumi 1b5949891b3cefcb9974752b24a5ecef0acc86c8
  - ``pkg/resource/deploy/step_generator.go``: ``processIgnoreChanges`` (ignored paths reset to the old values
    before the diff), ``applyReplaceOnChanges``, ``getOldResource``/``generateAliases``/``collapseAliasToUrn``/
    ``inheritedChildAlias`` (URN first, then aliases; children inherit a parent's alias), the protect check on
    replace (refused only when old *and* new are protected: unprotecting and replacing in one update is allowed),
    the ``deleteBeforeReplace`` option overriding the provider either way; components diff by input equality.
  - ``pkg/resource/deploy/step.go``: ``DeleteStep.Apply`` refuses to delete a resource whose old state is protected.
  - ``sdk/go/common/resource/properties_path.go``: ``ParsePropertyPath``, ``Contains`` (``*`` wildcard), ``Reset``.
  - ``pkg/resource/deploy/step_generator.go`` (v3.259.0) ``providerChanged``: a changed provider reference asks the
    new provider's ``DiffConfig`` (old provider's inputs against the new one's) and replaces only if it says so.
* pulumi/pulumi-kubernetes v4.32.0 ``provider/pkg/provider/provider.go`` ``DiffConfig``: replaces when
  ``clusterIdentifier`` changes, when ``kubeconfig``, ``context`` or ``cluster`` is unknown, or when both sides
  name a kubeconfig whose active cluster differs (PROVIDER_CLUSTER_KEYS here); anything else is a diff.
* hashicorp/terraform-provider-random ad788e233bb42be5ecad3ba8f43de0d9d9dc7185 (what pulumi/pulumi-random
  f64d8726a4f5edf2c675e03a53cdf740fb542f47 bridges; its ``provider/resources.go`` sets no delete-before-replace):
  ``internal/provider/resource_password.go`` and ``resource_string.go``: every input attribute carries a
  RequiresReplace plan modifier (``keepers``: RequiresReplaceIfValuesNotNull, ``override_special``: replace unless
  "" becomes null), so no input change keeps the generated result.

URNs are the mock engine's (``pulumi.runtime.mocks.MockMonitor.make_urn``, used by tools/runner.py):
``urn:pulumi:<stack>::<project>::<parent type>$<type>::<name>`` where the parent type is the last ``$``-segment
of the third ``::`` field of the parent URN. An alias spec resolves to that URN first and, where it differs, to
the one with the parent's whole third field (the real engine chains every ancestor's type, though it also
leaves out the root stack's).

What an offline diff cannot see: secret values (both renders hold "<secret>", so a changed secret value is
no diff; an added or removed key is), the live objects (the old inputs stand in for them, so drift and
server-side defaults are invisible), the cluster's namespace scoping (a short list of cluster-scoped kinds
stands in for discovery), the provider's normalization of inputs, the readiness behind
``pulumi.com/replaceUnready``, and the dependents a delete-before-replace would also replace.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# The random resources whose every input is replace-only (terraform-provider-random, see the module docstring).
RANDOM_REPLACE_ONLY = ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString")
CITE_K8S = "pulumi-kubernetes provider/pkg/provider/diff.go forceNew"
CITE_HELM = "pulumi-kubernetes provider/pkg/provider/helm_release.go Diff"
CITE_RANDOM = "terraform-provider-random RequiresReplace on every input"

KUBERNETES_PROVIDER = "pulumi:providers:kubernetes"
PROVIDER_CLUSTER_KEYS = ("kubeconfig", "context", "cluster")
CITE_PROVIDER = "pulumi step_generator.go providerChanged, pulumi-kubernetes provider.go DiffConfig"
UNKNOWN = "<unknown>"

OPS = ("create", "update", "replace", "delete", "same")
SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}
CHANGE_SYMBOLS = {"add": "+", "delete": "-", "update": "~"}


class PlanError(ValueError):
    """What makes the engine fail the preview before any step: conflicting alias claims."""


@dataclass(frozen=True)
class Step:
    urn: str
    type: str
    op: str  # create | update | replace | delete | same
    paths: tuple[str, ...] = ()  # changed input paths after ignoreChanges: spec.template.metadata.annotations["a.b/c"]
    reasons: tuple[str, ...] = ()  # why a replace: the replace-only path that changed and the rule that says so
    protected: bool = False  # the old resource has protect=True
    refused: bool = False  # Pulumi refuses this step: a protected resource replaced or deleted
    name: str = ""
    old_urn: str = ""  # the URN of the old resource this one was matched to (differs when matched by an alias)
    delete_before_replace: bool = False
    retain_on_delete: bool = False  # a delete (or replaced old object) that the engine only drops from the state
    changes: tuple[tuple[str, str], ...] = ()  # (path, "add" | "delete" | "update"), in the order of `paths`


# --------------------------------------------------------------------------------------------------------------
# The pulumi-kubernetes kind table (diff.go at 94977969d64112b04e19945818a7d5d5f38f631d), JSONPath as written there.


def _label_selector(prefix: str) -> list[str]:
    return [
        f"{prefix}.matchExpressions",
        f"{prefix}.matchExpressions.key",
        f"{prefix}.matchExpressions.operator",
        f"{prefix}.matchExpressions.values",
        f"{prefix}.matchLabels",
    ]


def _container_fields(*prefixes: str) -> list[str]:
    fields = [
        "args",
        "command",
        "env",
        "env.value",
        "image",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "ports",
        "readinessProbe",
        "resources",
        "securityContext",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    ]
    return [f"{prefix}.{field}" for prefix in prefixes for field in fields]


_STATEFUL_SET = [
    ".spec.podManagementPolicy",
    ".spec.revisionHistoryLimit",
    ".spec.selector",
    ".spec.serviceName",
    ".spec.volumeClaimTemplates",
    *_label_selector(".spec.selector"),
]
_DAEMON_SET = [".spec.selector", *_label_selector(".spec.selector")]
_DEPLOYMENT = [".spec.selector", *_label_selector(".spec.selector")]
_JOB = [".spec.completions", ".spec.parallelism", ".spec.selector", ".spec.template", *_label_selector(".spec.selector")]
_ROLE_BINDING = [".roleRef"]
_CORE = {
    "v1": {
        "PersistentVolume": [
            f".spec.{source}"
            for source in (
                "awsElasticBlockStore",
                "azureDisk",
                "azureFile",
                "cephfs",
                "cinder",
                "csi",
                "fc",
                "flexVolume",
                "flocker",
                "gcePersistentDisk",
                "glusterfs",
                "hostPath",
                "iscsi",
                "local",
                "nfs",
                "photonPersistentDisk",
                "portworxVolume",
                "quobyte",
                "rbd",
                "scaleIO",
                "storageos",
                "vsphereVolume",
            )
        ],
        "PersistentVolumeClaim": [
            ".spec.accessModes",
            ".spec.selector",
            ".spec.storageClassName",
            ".spec.volumeName",
            *_label_selector(".spec.selector"),
        ],
        "Pod": [
            f".spec.{field}"
            for field in (
                "affinity",
                "automountServiceAccountToken",
                "dnsConfig",
                "dnsPolicy",
                "enableServiceLinks",
                "hostAliases",
                "hostIPC",
                "hostNetwork",
                "hostPID",
                "hostname",
                "imagePullSecrets",
                "nodeName",
                "nodeSelector",
                "overhead",
                "preemptionPolicy",
                "priority",
                "priorityClassName",
                "readinessGates",
                "restartPolicy",
                "runtimeClassName",
                "schedulerName",
                "securityContext",
                "serviceAccount",
                "serviceAccountName",
                "shareProcessNamespace",
                "subdomain",
                "terminationGracePeriodSeconds",
                "volumes",
            )
        ]
        + _container_fields(".spec.containers[*]", ".spec.initContainers[*]"),
        "ResourceQuota": [".spec.scopes"],
        "Secret": [".type"],
        "Service": [".spec.clusterIP"],
    }
}
# group -> version -> kind -> replace-only JSONPaths. A kind absent here replaces only on .metadata.name/.namespace.
FORCE_NEW: dict[str, dict[str, dict[str, list[str]]]] = {
    "apps": {
        # .spec.selector replaces a Deployment/DaemonSet only after v1beta1.
        "v1beta1": {"StatefulSet": _STATEFUL_SET},
        "v1beta2": {"DaemonSet": _DAEMON_SET, "Deployment": _DEPLOYMENT, "StatefulSet": _STATEFUL_SET},
        "v1": {"DaemonSet": _DAEMON_SET, "Deployment": _DEPLOYMENT, "StatefulSet": _STATEFUL_SET},
    },
    "core": _CORE,
    "": _CORE,
    # Only policy/v1beta1: a policy/v1 PodDisruptionBudget is updated in place.
    "policy": {"v1beta1": {"PodDisruptionBudget": [".spec"]}},
    "rbac.authorization.k8s.io": {
        version: {"ClusterRoleBinding": _ROLE_BINDING, "RoleBinding": _ROLE_BINDING} for version in ("v1alpha1", "v1beta1", "v1")
    },
    "storage.k8s.io": {"v1": {"StorageClass": [".parameters", ".provisioner"]}},
    "batch": {version: {"Job": _JOB} for version in ("v1beta1", "v1", "v2alpha1")},
}
METADATA_FORCE_NEW = [".metadata.name", ".metadata.namespace"]
SECRET_DATA = [".type", ".stringData", ".data"]
CONFIGMAP_DATA = [".binaryData", ".data"]

# Stand-in for the provider's discovery of namespaced kinds: these lose a namespace, the rest default to "default".
CLUSTER_SCOPED_KINDS = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterSecretStore",
        "CSIDriver",
        "CSINode",
        "CustomResourceDefinition",
        "GatewayClass",
        "IngressClass",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
        "VolumeAttachment",
    }
)


def force_new_paths(obj: dict, *, secret_mutable: bool = False, configmap_mutable: bool = False) -> list[str]:
    """``forceNewProperties``: the replace-only JSONPaths of a Kubernetes object (its new inputs)."""
    group, version = _group_version(obj.get("apiVersion", ""))
    kind = obj.get("kind", "")
    paths = list(METADATA_FORCE_NEW)
    versions = FORCE_NEW.get(group)
    if versions is None or version not in versions:
        return paths
    kinds = versions[version]
    immutable = obj.get("immutable") is True
    if group in ("", "core") and kind == "Secret" and (not secret_mutable or immutable):
        paths += SECRET_DATA
    elif kind in kinds:
        paths += kinds[kind]
    elif group in ("", "core") and kind == "ConfigMap" and (not configmap_mutable or immutable):
        paths += CONFIGMAP_DATA
    return paths


def _group_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


# --------------------------------------------------------------------------------------------------------------
# Property paths: the engine's syntax (ParsePropertyPath), printed the way the Kubernetes provider prints them.

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
                key, end = [], end + 1
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


def _contains(prefix: tuple, path: tuple) -> bool:
    """PropertyPath.Contains: ``prefix`` equals the start of ``path``; "*" matches any one element."""
    if len(path) < len(prefix):
        return False
    return all(p == "*" or p == q for p, q in zip(prefix, path, strict=False))


# --------------------------------------------------------------------------------------------------------------
# Value comparison and the detailed diff (convertPatchToDiff on a JSON merge patch of old -> new inputs).


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
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
        elif not _equal(before, value):
            patch[key] = value
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


@dataclass(frozen=True)
class _Change:
    path: tuple
    kind: str  # add | delete | update
    value: Any  # the patch value at `path` (None for a delete): what the replace-only JSONPaths are matched against


def detailed_diff(old: dict, new: dict) -> list[_Change]:
    """The provider's detailed diff of two input maps, one entry per changed leaf (or added/removed subtree)."""
    changes: list[_Change] = []
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
        if _equal(value, old):
            return
        kind = "update"
    out.append(_Change(path, kind, value))


def _patch_slice(path: tuple, value: Any) -> Any:
    """makePatchSlice: the value at `path`, wrapped in maps and one-element lists along the path."""
    for element in reversed(path):
        value = [value] if isinstance(element, int) else {element: value}
    return value


def _jsonpath_found(node: Any, jsonpath: str) -> bool:
    """Whether client-go's JSONPath ``{<jsonpath>}`` finds something in `node` (PatchPropertiesChanged)."""
    return _found(node, parse_path(jsonpath))


def _found(node: Any, elements: tuple) -> bool:
    if not elements:
        return True
    head, rest = elements[0], elements[1:]
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
    head, rest = path[0], path[1:]
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


# --------------------------------------------------------------------------------------------------------------
# URNs and aliases (the mock engine's URN format; the engine's alias resolution).


def _urn_fields(urn: str) -> tuple[str, str, str, str]:
    """(stack, project, qualified type, name) of ``urn:pulumi:<stack>::<project>::<qualified type>::<name>``."""
    head, project, qualified_type, name = urn.split("::", 3)
    return head.removeprefix("urn:pulumi:"), project, qualified_type, name


def make_urn(stack: str, project: str, type_: str, name: str, parent: str = "", *, chained: bool = False) -> str:
    """The URN the mock engine gives a resource (pulumi.runtime.mocks.MockMonitor.make_urn).

    With ``chained``, the parent's whole qualified type (the third ``::`` field of its URN) prefixes the
    type instead of its last ``$``-segment, as the real engine chains the types of the ancestors.
    """
    if parent:
        parent_type = _urn_fields(parent)[2]
        type_ = (parent_type if chained else parent_type.split("$")[-1]) + "$" + type_
    return "urn:pulumi:" + "::".join([stack, project, type_, name])


def _alias_urns(alias: str, resource: dict, old_urn_of: dict[str, str]) -> list[str]:
    """collapseAliasToUrn: an alias URN as is; a spec's missing fields taken from the resource itself.

    A spec gives the mock engine's URN first, then (if it differs) the one with the parent's chained type.
    """
    if not alias.lstrip().startswith("{"):
        return [alias]
    spec = json.loads(alias)
    stack, project, _, _ = _urn_fields(resource["urn"])
    if "parent" in spec:
        parent = "" if spec["parent"] == "(none)" else old_urn_of.get(spec["parent"], spec["parent"])
    else:
        parent = resource.get("parent") or ""
    fields = (spec.get("stack") or stack, spec.get("project") or project, spec.get("type") or resource["type"])
    name = spec.get("name") or resource["name"]
    return list(dict.fromkeys(make_urn(*fields, name, parent, chained=chained) for chained in (False, True)))


def _candidate_aliases(resource: dict, by_urn: dict[str, dict], old_urn_of: dict[str, str]) -> list[str]:
    """generateAliases: the resource's own aliases, then those inherited from an aliased parent."""
    found: list[str] = []
    own = [urn for alias in resource.get("aliases") or [] for urn in _alias_urns(alias, resource, old_urn_of)]
    found += own
    parent = resource.get("parent") or ""
    if parent in old_urn_of and parent in by_urn:
        parent_old = old_urn_of[parent]
        parent_name = by_urn[parent]["name"]
        stack, project, _, _ = _urn_fields(resource["urn"])
        for child_type, child_name in [(resource["type"], resource["name"])] + [
            (_urn_fields(u)[2].split("$")[-1], _urn_fields(u)[3]) for u in own
        ]:
            name = child_name
            if child_name.startswith(parent_name):
                name = _urn_fields(parent_old)[3] + child_name[len(parent_name) :]
            found.append(make_urn(stack, project, child_type, name, parent_old))
    return list(dict.fromkeys(found))


def match(old: list[dict], new: list[dict]) -> dict[str, str]:
    """new URN -> old URN for every new resource that has an old one: its own URN first, then its aliases."""
    old_by_urn = {r["urn"]: r for r in old}
    new_by_urn = {r["urn"]: r for r in new}
    matched: dict[str, str] = {}  # new urn -> old urn
    old_urn_of: dict[str, str] = {}  # new urn -> old urn, for the resources matched through an alias
    claimed: dict[str, str] = {}  # old urn -> the new urn that aliased it
    done: set[str] = set()

    def resolve(resource: dict, visiting: frozenset = frozenset()) -> None:
        urn = resource["urn"]
        if urn in done or urn in visiting:
            return
        parent = resource.get("parent") or ""
        if parent in new_by_urn:
            resolve(new_by_urn[parent], visiting | {urn})
        done.add(urn)
        if urn in old_by_urn:
            matched[urn] = urn
            return
        for candidate in _candidate_aliases(resource, new_by_urn, old_urn_of):
            if candidate not in old_by_urn:
                continue
            if candidate in new_by_urn:
                raise PlanError(f"{urn} aliases {candidate}, which is also registered by this program")
            if candidate in claimed:
                raise PlanError(f"{urn} aliases {candidate}, which {claimed[candidate]} already aliases")
            claimed[candidate] = urn
            matched[urn] = old_urn_of[urn] = candidate
            return

    for resource in new:
        resolve(resource)
    return matched


# --------------------------------------------------------------------------------------------------------------
# Per-provider diffs.


@dataclass
class _Diff:
    changes: list[_Change]
    replaces: dict[tuple, str]  # changed path -> the reason it replaces
    delete_before_replace: bool = False


def _is_kubernetes_object(resource: dict) -> bool:
    inputs = resource.get("inputs") or {}
    return resource["type"].startswith("kubernetes:") and "apiVersion" in inputs and "kind" in inputs


def _canonical_namespace(obj: dict) -> dict:
    """The provider sets a namespaced kind's empty namespace to "default" and clears a cluster-scoped one's."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        return obj
    obj = {**obj, "metadata": dict(metadata)}
    if obj.get("kind") in CLUSTER_SCOPED_KINDS:
        obj["metadata"].pop("namespace", None)
    elif not obj["metadata"].get("namespace"):
        obj["metadata"]["namespace"] = "default"
    return obj


def _kubernetes_diff(old_r: dict, new_r: dict, new_inputs: dict, secret_mutable: bool, configmap_mutable: bool) -> _Diff:
    old_obj, new_obj = _canonical_namespace(old_r["inputs"]), _canonical_namespace(new_inputs)
    kind = new_obj.get("kind", "")
    if new_r["type"].rsplit(":", 1)[-1] == kind + "Patch":
        rules = list(METADATA_FORCE_NEW)  # Patch resources: everything else is patched in place
    else:
        rules = force_new_paths(new_obj, secret_mutable=secret_mutable, configmap_mutable=configmap_mutable)
    changes = detailed_diff(old_obj, new_obj)
    # The provider drops from its detailed diff what an ignoreChanges path contains (Reset may have left some).
    ignored = [parse_path(p) for p in new_r.get("ignoreChanges") or []]
    changes = [c for c in changes if not any(_contains(i, c.path) for i in ignored)]
    described = f"{new_obj.get('apiVersion', '')} {kind}"
    replaces: dict[tuple, str] = {}
    for change in changes:
        slice_ = _patch_slice(change.path, change.value)
        rule = next((r for r in rules if _jsonpath_found(slice_, r)), None)
        if rule is not None:
            replaces[change.path] = f"{rule} is replace-only for {described}{_rule_note(rule, kind)} [{CITE_K8S}]"
        elif change.path == ("metadata",) and change.kind == "delete":
            replaces[change.path] = f"deleting .metadata replaces {described} [pulumi-kubernetes provider.go Diff]"
    dbr = False
    if replaces:
        new_meta, old_meta = new_obj.get("metadata") or {}, old_obj.get("metadata") or {}
        autonamed = str((new_meta.get("annotations") or {}).get("pulumi.com/autonamed", "")).lower() == "true"
        dbr = (
            bool(new_meta.get("name"))
            and not autonamed
            and new_meta.get("name") == old_meta.get("name")
            and new_meta.get("namespace") == old_meta.get("namespace")
        )
    return _Diff(changes, replaces, dbr)


def _rule_note(rule: str, kind: str) -> str:
    if rule in (".data", ".stringData") and kind == "Secret":
        return " unless kubernetes:enableSecretMutable (off here, or the Secret is immutable)"
    if rule in (".data", ".binaryData") and kind == "ConfigMap":
        return " unless kubernetes:enableConfigMapMutable (off here, or the ConfigMap is immutable)"
    return ""


def _helm_diff(old_r: dict, new_inputs: dict) -> _Diff:
    old_inputs = {k: v for k, v in old_r["inputs"].items() if k not in ("checksum", "resourceNames")}
    changes = detailed_diff(old_inputs, new_inputs)
    replaces = {}
    for change in changes:
        slice_ = _patch_slice(change.path, change.value)
        rule = next((r for r in (".name", ".namespace") if _jsonpath_found(slice_, r)), None)
        if rule is not None:
            replaces[change.path] = f"{rule} is replace-only for a Helm Release [{CITE_HELM}]"
    return _Diff(changes, replaces, False)


def _random_diff(old_r: dict, new_r: dict, new_inputs: dict) -> _Diff:
    changes = detailed_diff(old_r["inputs"], new_inputs)
    replaces = {}
    for change in changes:
        top = change.path[0]
        if top == "overrideSpecial" and change.kind == "delete" and old_r["inputs"].get("overrideSpecial") == "":
            continue  # RequiresReplaceUnlessEmptyStringToNull
        replaces[change.path] = f"{top} is replace-only for {new_r['type'].rsplit(':', 1)[-1]} [{CITE_RANDOM}]"
    return _Diff(changes, replaces, False)


def _resource_diff(old_r: dict, new_r: dict, secret_mutable: bool, configmap_mutable: bool) -> _Diff:
    new_inputs = apply_ignore_changes(old_r.get("inputs") or {}, new_r.get("inputs") or {}, new_r.get("ignoreChanges") or [])
    if not new_r.get("custom", True):
        # A component has no provider: its inputs either equal (same) or not (update); it is never replaced.
        changes = [] if _equal(old_r.get("inputs") or {}, new_inputs) else detailed_diff(old_r.get("inputs") or {}, new_inputs)
        return _Diff(changes, {})
    if new_r["type"] == HELM_RELEASE:
        diff = _helm_diff(old_r, new_inputs)
    elif _is_kubernetes_object(new_r):
        diff = _kubernetes_diff(old_r, new_r, new_inputs, secret_mutable, configmap_mutable)
    elif new_r["type"] in RANDOM_REPLACE_ONLY:
        diff = _random_diff(old_r, new_r, new_inputs)
    else:
        diff = _Diff(detailed_diff(old_r.get("inputs") or {}, new_inputs), {})
    # applyReplaceOnChanges: a change under a replaceOnChanges path replaces, whatever the provider said.
    for option in new_r.get("replaceOnChanges") or []:
        prefix = parse_path(option)
        for change in diff.changes:
            if change.path not in diff.replaces and _contains(prefix, change.path):
                diff.replaces[change.path] = f"{option} is listed in the resource's replaceOnChanges option"
    return diff


def provider_replacement(old_r: dict, new_r: dict, old_by_urn: dict, new_by_urn: dict) -> str | None:
    """Why moving a resource to another provider replaces it, or None when the engine keeps it (CITE_PROVIDER).

    "" is the package's default provider, configured from the stack's `kubernetes:` keys, which a render does not
    hold: its inputs count as empty, so it names no kubeconfig and no cluster identifier.
    """
    old_ref = old_r.get("provider") or ""
    new_ref = new_r.get("provider") or ""
    if old_ref == new_ref:
        return None
    old_config = (old_by_urn.get(old_ref) or {}).get("inputs") or {}
    new_config = (new_by_urn.get(new_ref) or {}).get("inputs") or {}
    for key in PROVIDER_CLUSTER_KEYS:
        if new_config.get(key) == UNKNOWN:
            return f"the new provider's {key} is unknown until the update, so DiffConfig replaces [{CITE_PROVIDER}]"
    old_identifier = old_config.get("clusterIdentifier")
    new_identifier = new_config.get("clusterIdentifier")
    if old_identifier and new_identifier and old_identifier != new_identifier:
        return f"the provider's clusterIdentifier changed [{CITE_PROVIDER}]"
    both_kubeconfigs = old_config.get("kubeconfig") and new_config.get("kubeconfig")
    if both_kubeconfigs and any(old_config.get(key) != new_config.get(key) for key in PROVIDER_CLUSTER_KEYS):
        return f"the provider may now reach another cluster (its kubeconfig or context changed) [{CITE_PROVIDER}]"
    return None


# --------------------------------------------------------------------------------------------------------------
# The plan.


def plan(old: list[dict], new: list[dict], *, secret_mutable: bool = False, configmap_mutable: bool = False) -> list[Step]:
    """The steps `pulumi preview` would show going from the `old` render to the `new` one.

    New resources in their order (create, update, replace or same), then the old resources nothing
    claimed, in reverse order (delete). ``secret_mutable``/``configmap_mutable`` are the Kubernetes
    provider's ``enableSecretMutable``/``enableConfigMapMutable`` settings.
    """
    old_by_urn = {r["urn"]: r for r in old}
    new_by_urn = {r["urn"]: r for r in new}
    matched = match(old, new)
    steps: list[Step] = []
    for resource in new:
        old_urn = matched.get(resource["urn"])
        if old_urn is None:
            steps.append(Step(urn=resource["urn"], type=resource["type"], op="create", name=resource["name"]))
            continue
        old_resource = old_by_urn[old_urn]
        moved = provider_replacement(old_resource, resource, old_by_urn, new_by_urn)
        steps.append(_update_step(old_resource, resource, secret_mutable, configmap_mutable, moved))
    claimed = set(matched.values())
    for resource in reversed(old):
        if resource["urn"] in claimed:
            continue
        protected = bool(resource.get("protect"))
        steps.append(
            Step(
                urn=resource["urn"],
                type=resource["type"],
                op="delete",
                protected=protected,
                refused=protected,
                name=resource["name"],
                old_urn=resource["urn"],
                retain_on_delete=bool(resource.get("retainOnDelete")),
            )
        )
    return steps


def _update_step(old_r: dict, new_r: dict, secret_mutable: bool, configmap_mutable: bool, moved: str | None = None) -> Step:
    diff = _resource_diff(old_r, new_r, secret_mutable, configmap_mutable)
    if moved:
        # step_generator.go diff(): a replacing provider change is a replace on the "provider" key.
        diff.changes.append(_Change(("provider",), "update", None))
        diff.replaces[("provider",)] = moved
    protected = bool(old_r.get("protect"))
    common = {
        "urn": new_r["urn"],
        "type": new_r["type"],
        "name": new_r["name"],
        "protected": protected,
        "old_urn": old_r["urn"],
        "paths": tuple(format_path(c.path) for c in diff.changes),
        "changes": tuple((format_path(c.path), c.kind) for c in diff.changes),
    }
    if not diff.changes:
        return Step(op="same", **common)
    if not diff.replaces:
        return Step(op="update", **common)
    reasons = [f"{format_path(path)}: {why}" for path, why in diff.replaces.items()]
    dbr = diff.delete_before_replace
    if new_r.get("deleteBeforeReplace") is not None:
        dbr = bool(new_r["deleteBeforeReplace"])
        reasons.append(f"delete-before-replace: set to {dbr} by the resource's deleteBeforeReplace option")
    elif dbr:
        name = (new_r.get("inputs") or {}).get("metadata", {}).get("name")
        reasons.append(f"delete-before-replace: the provider must reuse the fixed name {name!r} in the same namespace")
    return Step(
        op="replace",
        reasons=tuple(reasons),
        refused=protected and bool(new_r.get("protect")),
        delete_before_replace=dbr,
        retain_on_delete=bool(old_r.get("retainOnDelete")),
        **common,
    )


def _identity(resource: dict) -> tuple | None:
    """A Kubernetes object's identity on the API server: group, kind, namespace and name (None when not one)."""
    if not _is_kubernetes_object(resource):
        return None
    obj = _canonical_namespace(resource["inputs"])
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata.get("name"), str):
        return None
    return (_group_version(obj["apiVersion"])[0], obj["kind"], metadata.get("namespace"), metadata["name"])


def name_conflicts(old: list[dict], new: list[dict], steps: Iterable[Step]) -> list[str]:
    """Objects the update would create under a name that a resource it deletes still holds: the engine deletes
    removed resources last (pulumi/pulumi pkg/resource/deploy/deployment_executor.go `performPostSteps` runs
    step_generator.go `GenerateDeletes` after the program has registered everything), and the
    provider creates with a plain Create (pulumi-kubernetes provider/pkg/await/await.go `Creation`, without
    `upsertExistingObjects`), so the API server answers AlreadyExists. (A replace keeping its own old name is
    delete-first: only another resource's deleted object conflicts.)"""
    by_urn = {r["urn"]: r for r in [*old, *new]}
    deleted = {}
    for step in steps:
        if step.op == "delete" and (identity := _identity(by_urn[step.old_urn])) is not None:
            deleted[identity] = step.old_urn
    conflicts = []
    for step in steps:
        if step.op in ("create", "replace") and (identity := _identity(by_urn[step.urn])) in deleted:
            conflicts.append(f"{step.urn}: {identity[1]} {identity[3]!r} is still held by {deleted[identity]}")
    return conflicts


def survivors_of_destroy(old: list[dict]) -> dict[tuple, str]:
    """What `pulumi destroy` of the `old` render leaves in the cluster: the objects of resources retained on delete
    (pulumi/pulumi pkg/resource/deploy/step.go DeleteStep.Apply: `retainOnDelete` skips the provider's Delete). The
    state forgets them; the API server does not."""
    return {identity: r["urn"] for r in old if r.get("retainOnDelete") and (identity := _identity(r)) is not None}


def upserts(resource: dict, by_urn: dict[str, dict]) -> bool:
    """Whether the resource's provider applies a create over an existing object (pulumi-kubernetes 4.29+
    `upsertExistingObjects`: provider/pkg/await/await.go Creation patches instead of creating; the SDK sends it as JSON)."""
    provider = by_urn.get(resource.get("provider") or "") or {}
    return (provider.get("inputs") or {}).get("upsertExistingObjects") == "true"


def already_existing(survivors: dict[tuple, str], new: list[dict], steps: Iterable[Step]) -> list[str]:
    """The creates that meet an object a destroy left behind: AlreadyExists, unless the provider upserts."""
    by_urn = {r["urn"]: r for r in new}
    conflicts = []
    for step in steps:
        if step.op != "create":
            continue
        resource = by_urn[step.urn]
        identity = _identity(resource)
        if identity in survivors and not upserts(resource, by_urn):
            conflicts.append(
                f"{step.urn}: {identity[1]} {identity[3]!r} survived the destroy ({survivors[identity]} is retained)"
            )
    return conflicts


def refusals(steps: Iterable[Step]) -> list[Step]:
    """The steps Pulumi refuses: protected resources it would replace or delete."""
    return [s for s in steps if s.refused]


def load(directory: Path) -> list[dict]:
    """The resources of a render directory (its resources.json)."""
    return json.loads((Path(directory) / "resources.json").read_text())


def _name_of(step: Step) -> str:
    return step.name or _urn_fields(step.urn)[3]


def render_plan(steps: Iterable[Step]) -> str:
    """The plan as ``pulumi preview --diff`` shows it, in short: changed resources, their paths, a summary."""
    steps = list(steps)
    lines: list[str] = []
    for step in steps:
        if step.op == "same":
            continue
        flags = []
        if step.delete_before_replace:
            flags.append("[delete-before-replace]")
        if step.old_urn and step.old_urn != step.urn:
            flags.append(f"[aliased from {step.old_urn}]")
        if step.retain_on_delete and step.op in ("delete", "replace"):
            flags.append("[retain]")
        if step.refused:
            flags.append("[protected: refused]")
        lines.append(" ".join([f"{SYMBOLS[step.op]:>2}", step.type, _name_of(step), step.op, *flags]))
        kinds = dict(step.changes)
        for path in step.paths:
            lines.append(f"      {CHANGE_SYMBOLS.get(kinds.get(path, 'update'), '~')} {path}")
        for reason in step.reasons:
            lines.append(f"      reason: {reason}")
    counts = {op: sum(1 for s in steps if s.op == op) for op in OPS}
    summary = (
        f"Resources: + {counts['create']} to create, ~ {counts['update']} to update, +- {counts['replace']} to replace, "
        f"- {counts['delete']} to delete, {counts['same']} unchanged"
    )
    refused = refusals(steps)
    if refused:
        summary += f"; {len(refused)} refused (protected)"
    if lines:
        lines.append("")
    lines.append(summary)
    return "\n".join(lines)


def provider_flags(stack_file: Path) -> dict[str, bool]:
    """The Kubernetes provider's mutability settings as the CLI resolves a stack's config (project defaults too)."""
    from tools import runner  # the Pulumi SDK is only needed here

    values, _ = runner.cli_config(runner.stack_name_of(stack_file), runner.read_stack_file(stack_file))

    def flag(key: str) -> bool:
        value = values.get(key, False)
        return value if isinstance(value, bool) else str(value).lower() == "true"

    return {
        "secret_mutable": flag("kubernetes:enableSecretMutable"),
        "configmap_mutable": flag("kubernetes:enableConfigMapMutable"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.preview_diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, help="render directory standing for the deployed state")
    parser.add_argument("new", type=Path, help="render directory of the program's next run")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--stack", help="read the provider settings from Pulumi.<stack>.yaml and Pulumi.yaml")
    source.add_argument("--stack-file", type=Path, help="read the provider settings from this stack file")
    parser.add_argument("--secret-mutable", action="store_true", help="kubernetes:enableSecretMutable")
    parser.add_argument("--configmap-mutable", action="store_true", help="kubernetes:enableConfigMapMutable")
    args = parser.parse_args(argv)
    flags = {"secret_mutable": args.secret_mutable, "configmap_mutable": args.configmap_mutable}
    stack_file = args.stack_file
    if args.stack:
        stack_file = Path(__file__).resolve().parent.parent / f"Pulumi.{args.stack}.yaml"
    if stack_file is not None:
        found = provider_flags(stack_file)
        flags = {k: v or found[k] for k, v in flags.items()}
    try:
        steps = plan(load(args.old), load(args.new), **flags)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render_plan(steps))
    conflicts = name_conflicts(load(args.old), load(args.new), steps)
    for conflict in conflicts:
        print(f"error: would fail with AlreadyExists: {conflict}", file=sys.stderr)
    return 1 if refusals(steps) or conflicts else 0


if __name__ == "__main__":
    sys.exit(main())
