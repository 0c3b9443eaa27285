"""What each provider's Diff says about one resource: its changed inputs, which of them replace, and whether the
replacement deletes first.

Sources, read at these commits (paths are inside each repository):

* pulumi/pulumi-kubernetes 94977969d64112b04e19945818a7d5d5f38f631d
  - ``provider/pkg/provider/provider.go``: ``Diff`` (identity fields always replace; Patch resources only those;
    deleting ``metadata`` replaces; ignored paths dropped from the detailed diff; delete-before-replace when the
    new object keeps its user-given name and namespace).
  - ``provider/pkg/provider/helm_release.go``: ``helmReleaseProvider.Diff`` (never delete-before-replace).
* pulumi/pulumi 1b5949891b3cefcb9974752b24a5ecef0acc86c8
  - ``pkg/resource/deploy/step_generator.go``: ``applyReplaceOnChanges``; components diff by input equality.
  - ``pkg/resource/deploy/step_generator.go`` (v3.259.0) ``providerChanged``: a changed provider reference asks the
    new provider's ``DiffConfig`` (old provider's inputs against the new one's) and replaces only if it says so.

The rules themselves (forceNew tables, the Helm and random rules, DiffConfig's keys) are in tools/replace_rules.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from tools.property_diff import (
    Change,
    apply_ignore_changes,
    detailed_diff,
    jsonpath_found,
    parse_path,
    patch_slice,
    path_contains,
    values_equal,
)
from tools.replace_rules import (
    CITE_HELM,
    CITE_K8S,
    CITE_PROVIDER,
    CITE_RANDOM,
    HELM_RELEASE,
    HELM_RELEASE_COMPUTED_INPUTS,
    HELM_RELEASE_FORCE_NEW,
    METADATA_FORCE_NEW,
    PROVIDER_CLUSTER_KEYS,
    RANDOM_REPLACE_ONLY,
    force_new_paths,
)

# How tools/runner.py records a value unknown until the update (not imported: runner needs the Pulumi SDK).
UNKNOWN = "<unknown>"

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


@dataclass
class ResourceDiff:
    """One resource's detailed diff and what of it replaces, as the provider reports it to the engine."""

    changes: list[Change]
    replaces: dict[tuple, str]  # changed path -> the reason it replaces
    delete_before_replace: bool = False


def is_kubernetes_object(resource: dict) -> bool:
    """A Kubernetes API object: a ``kubernetes:`` resource whose inputs name an apiVersion and a kind."""
    inputs = resource.get("inputs") or {}
    return resource["type"].startswith("kubernetes:") and "apiVersion" in inputs and "kind" in inputs


def canonical_namespace(obj: dict) -> dict:
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


def _kubernetes_diff(old_r: dict, new_r: dict, new_inputs: dict, secret_mutable: bool, configmap_mutable: bool) -> ResourceDiff:
    old_obj = canonical_namespace(old_r["inputs"])
    new_obj = canonical_namespace(new_inputs)
    kind = new_obj.get("kind", "")
    if new_r["type"].rsplit(":", 1)[-1] == kind + "Patch":
        rules = list(METADATA_FORCE_NEW)  # Patch resources: everything else is patched in place
    else:
        rules = force_new_paths(new_obj, secret_mutable=secret_mutable, configmap_mutable=configmap_mutable)
    changes = detailed_diff(old_obj, new_obj)
    # The provider drops from its detailed diff what an ignoreChanges path contains (Reset may have left some).
    ignored = [parse_path(p) for p in new_r.get("ignoreChanges") or []]
    changes = [c for c in changes if not any(path_contains(i, c.path) for i in ignored)]
    described = f"{new_obj.get('apiVersion', '')} {kind}"
    replaces: dict[tuple, str] = {}
    for change in changes:
        slice_ = patch_slice(change.path, change.value)
        rule = next((r for r in rules if jsonpath_found(slice_, r)), None)
        if rule is not None:
            replaces[change.path] = f"{rule} is replace-only for {described}{_rule_note(rule, kind)} [{CITE_K8S}]"
        elif change.path == ("metadata",) and change.kind == "delete":
            replaces[change.path] = f"deleting .metadata replaces {described} [pulumi-kubernetes provider.go Diff]"
    dbr = False
    if replaces:
        new_meta = new_obj.get("metadata") or {}
        old_meta = old_obj.get("metadata") or {}
        autonamed = str((new_meta.get("annotations") or {}).get("pulumi.com/autonamed", "")).lower() == "true"
        dbr = (
            bool(new_meta.get("name"))
            and not autonamed
            and new_meta.get("name") == old_meta.get("name")
            and new_meta.get("namespace") == old_meta.get("namespace")
        )
    return ResourceDiff(changes, replaces, dbr)


def _rule_note(rule: str, kind: str) -> str:
    if rule in (".data", ".stringData") and kind == "Secret":
        return " unless kubernetes:enableSecretMutable (off here, or the Secret is immutable)"
    if rule in (".data", ".binaryData") and kind == "ConfigMap":
        return " unless kubernetes:enableConfigMapMutable (off here, or the ConfigMap is immutable)"
    return ""


def _helm_diff(old_r: dict, new_inputs: dict) -> ResourceDiff:
    old_inputs = {k: v for k, v in old_r["inputs"].items() if k not in HELM_RELEASE_COMPUTED_INPUTS}
    changes = detailed_diff(old_inputs, new_inputs)
    replaces = {}
    for change in changes:
        slice_ = patch_slice(change.path, change.value)
        rule = next((r for r in HELM_RELEASE_FORCE_NEW if jsonpath_found(slice_, r)), None)
        if rule is not None:
            replaces[change.path] = f"{rule} is replace-only for a Helm Release [{CITE_HELM}]"
    return ResourceDiff(changes, replaces, False)


def _random_diff(old_r: dict, new_r: dict, new_inputs: dict) -> ResourceDiff:
    changes = detailed_diff(old_r["inputs"], new_inputs)
    replaces = {}
    for change in changes:
        top = change.path[0]
        if top == "overrideSpecial" and change.kind == "delete" and old_r["inputs"].get("overrideSpecial") == "":
            continue  # RequiresReplaceUnlessEmptyStringToNull
        replaces[change.path] = f"{top} is replace-only for {new_r['type'].rsplit(':', 1)[-1]} [{CITE_RANDOM}]"
    return ResourceDiff(changes, replaces, False)


def resource_diff(old_r: dict, new_r: dict, secret_mutable: bool, configmap_mutable: bool) -> ResourceDiff:
    """The diff of one resource matched to an old one: ignoreChanges applied, then its provider's rules, then
    the resource's replaceOnChanges option."""
    old_inputs = old_r.get("inputs") or {}
    new_inputs = apply_ignore_changes(old_inputs, new_r.get("inputs") or {}, new_r.get("ignoreChanges") or [])
    if not new_r.get("custom", True):
        # A component has no provider: its inputs either equal (same) or not (update); it is never replaced.
        if values_equal(old_inputs, new_inputs):
            return ResourceDiff([], {})
        return ResourceDiff(detailed_diff(old_inputs, new_inputs), {})
    if new_r["type"] == HELM_RELEASE:
        diff = _helm_diff(old_r, new_inputs)
    elif is_kubernetes_object(new_r):
        diff = _kubernetes_diff(old_r, new_r, new_inputs, secret_mutable, configmap_mutable)
    elif new_r["type"] in RANDOM_REPLACE_ONLY:
        diff = _random_diff(old_r, new_r, new_inputs)
    else:
        diff = ResourceDiff(detailed_diff(old_inputs, new_inputs), {})
    # applyReplaceOnChanges: a change under a replaceOnChanges path replaces, whatever the provider said.
    for option in new_r.get("replaceOnChanges") or []:
        prefix = parse_path(option)
        for change in diff.changes:
            if change.path not in diff.replaces and path_contains(prefix, change.path):
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
    both_kubeconfigs = bool(old_config.get("kubeconfig")) and bool(new_config.get("kubeconfig"))
    if both_kubeconfigs and any(old_config.get(key) != new_config.get(key) for key in PROVIDER_CLUSTER_KEYS):
        return f"the provider may now reach another cluster (its kubeconfig or context changed) [{CITE_PROVIDER}]"
    return None
